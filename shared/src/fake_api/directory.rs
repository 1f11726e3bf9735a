//! Directory and configuration endpoints (spec §7.4 roles, §7.5 effective settings, §7.6 groups):
//! page-token paging (`{data, has_more, next_page}`, `limit` 500/1000), the documented 404s, and
//! the settings endpoint's single object (404 for an unknown org *and* for a parent whose settings
//! feature is not enabled).

use serde_json::Value;

use super::cursor;
use super::errors::ApiError;
use super::query::Query;
use super::routes::{page_after, token_envelope, Reply};
use crate::synthetic::Tenant;

fn no_org(org: &str) -> ApiError {
    ApiError::resource_not_found(format!(
        "The \"{org}\" organization does not exist or the requester is not authorized to access it."
    ))
}

fn no_role() -> ApiError {
    ApiError::resource_not_found("Role not found.")
}

fn no_group() -> ApiError {
    ApiError::resource_not_found("Group not found.")
}

/// One page of `items` (already in serving order) keyed by position, under the page scope `scope`.
fn paged(q: &Query, scope: &str, items: Vec<Value>, extra: &[&str]) -> Result<Reply, ApiError> {
    let mut allowed = vec!["limit", "page"];
    allowed.extend_from_slice(extra);
    q.check_allowed(&allowed)?;
    let limit = q.limit(500, 1000)?;
    let after = page_after(q, scope)?;
    let keyed: Vec<(String, Value)> = items.into_iter().enumerate().map(|(i, v)| (format!("{i:08}"), v)).collect();
    let (data, next) = cursor::token_page(keyed, after.as_deref(), limit);
    let next = next.map(|k| cursor::encode_page(scope, &k));
    Ok(Reply::Json(token_envelope(data, next)))
}

pub fn roles(q: &Query, t: &Tenant, org: &str) -> Result<Reply, ApiError> {
    let items = t.roles_json(org).ok_or_else(|| no_org(org))?;
    paged(q, &format!("roles:{org}"), items, &[])
}

pub fn role(q: &Query, t: &Tenant, org: &str, role: &str) -> Result<Reply, ApiError> {
    t.org(org).ok_or_else(|| no_org(org))?;
    q.check_allowed(&[])?;
    t.role_json(org, role).map(Reply::Json).ok_or_else(no_role)
}

pub fn role_permissions(q: &Query, t: &Tenant, org: &str, role: &str) -> Result<Reply, ApiError> {
    t.org(org).ok_or_else(|| no_org(org))?;
    let items = t.role_permissions_json(org, role).ok_or_else(no_role)?;
    paged(q, &format!("permissions:{org}:{role}"), items, &[])
}

pub fn settings(q: &Query, t: &Tenant, org: &str) -> Result<Reply, ApiError> {
    q.check_allowed(&[])?;
    t.settings_json(org).map(Reply::Json).ok_or_else(|| {
        ApiError::resource_not_found(format!("organization `{org}` not found in this organization's hierarchy"))
    })
}

pub fn groups(q: &Query, t: &Tenant) -> Result<Reply, ApiError> {
    let prefix = q.get("name_prefix").unwrap_or("").to_string();
    let items: Vec<Value> = t
        .groups_json()
        .into_iter()
        .filter(|g| g.get("name").and_then(Value::as_str).is_some_and(|n| n.starts_with(&prefix)))
        .collect();
    paged(q, &format!("groups:{prefix}"), items, &["name_prefix"])
}

pub fn group(q: &Query, t: &Tenant, id: &str) -> Result<Reply, ApiError> {
    q.check_allowed(&[])?;
    t.group_json(id).map(Reply::Json).ok_or_else(no_group)
}

pub fn group_members(q: &Query, t: &Tenant, id: &str) -> Result<Reply, ApiError> {
    let items = t.group_members_json(id).ok_or_else(no_group)?;
    paged(q, &format!("members:{id}"), items, &[])
}
