//! Endpoint semantics: routing, parameter rules, filtering, ordering and paging.
//! Handlers are pure functions of the request and the tenant.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::activity_types::KNOWN_ACTIVITY_TYPES;
use super::cursor;
use super::errors::ApiError;
use super::query::{Query, TimeRange};
use crate::synthetic::ids::ts_z;
use crate::synthetic::{ActivityRecord, ChatRecord, MessageRecord, Tenant};

pub const SCOPE_ACTIVITIES: &str = "read:compliance_activities";
pub const SCOPE_ORG_DATA: &str = "read:compliance_org_data";
pub const SCOPE_USER_DATA: &str = "read:compliance_user_data";
pub const SCOPE_DELETE: &str = "delete:compliance_user_data";
pub const SCOPE_AUDIT: &str = "read:org_audit";

/// A recognised endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Activities,
    Organizations,
    Users(String),
    Chats,
    Messages(String),
    FileMeta(String),
    FileContent(String),
    GeneratedFileMeta(String),
    GeneratedFileContent(String),
    ArtifactMeta(String),
    ArtifactContent(String),
    Projects,
    Project(String),
    ProjectAttachments(String),
    ProjectCollaborators(String),
    Document(String),
    DocumentMeta(String),
    LocalSessions,
    LocalSession(String),
    LocalSessionMessages(String),
    RemoteSessions,
    RemoteSessionMessages(String),
    /// Access Transparency log endpoints (`tlog.rs`).
    Tlog(super::tlog::TlogRoute),
    // Directory and configuration (`directory.rs`)
    Roles(String),
    Role(String, String),
    RolePermissions(String, String),
    OrgSettings(String),
    Groups,
    Group(String),
    GroupMembers(String),
    /// Artifacts (`artifacts.rs`): the listing and a version download.
    CodeArtifacts,
    CodeArtifactVersion(String, String),
}

impl Route {
    /// Match a `GET` path; anything else is `None` (→ 404 `Not found`).
    pub fn parse(method: &str, path: &str) -> Option<Route> {
        if method != "GET" {
            return None;
        }
        let rest = path.strip_prefix("/v1/compliance/")?;
        let seg: Vec<&str> = rest.split('/').collect();
        if seg.iter().any(|s| s.is_empty()) {
            return None;
        }
        let s = |x: &str| x.to_string();
        if let Some(r) = super::tlog::TlogRoute::parse(&seg) {
            return Some(Route::Tlog(r));
        }
        Some(match seg.as_slice() {
            ["activities"] => Route::Activities,
            ["organizations"] => Route::Organizations,
            ["organizations", org, "users"] => Route::Users(s(org)),
            ["apps", "chats"] => Route::Chats,
            ["apps", "chats", "files", id] => Route::FileMeta(s(id)),
            ["apps", "chats", "files", id, "content"] => Route::FileContent(s(id)),
            ["apps", "chats", "generated-files", id] => Route::GeneratedFileMeta(s(id)),
            ["apps", "chats", "generated-files", id, "content"] => Route::GeneratedFileContent(s(id)),
            ["apps", "chats", id, "messages"] => Route::Messages(s(id)),
            ["apps", "artifacts", id] => Route::ArtifactMeta(s(id)),
            ["apps", "artifacts", id, "content"] => Route::ArtifactContent(s(id)),
            ["apps", "projects"] => Route::Projects,
            ["apps", "projects", "documents", id] => Route::Document(s(id)),
            ["apps", "projects", "documents", id, "metadata"] => Route::DocumentMeta(s(id)),
            ["apps", "projects", id] => Route::Project(s(id)),
            ["apps", "projects", id, "attachments"] => Route::ProjectAttachments(s(id)),
            ["apps", "projects", id, "collaborators"] => Route::ProjectCollaborators(s(id)),
            ["apps", "sessions", "local"] => Route::LocalSessions,
            ["apps", "sessions", "local", id] => Route::LocalSession(s(id)),
            ["apps", "sessions", "local", id, "messages"] => Route::LocalSessionMessages(s(id)),
            ["apps", "sessions", "remote"] => Route::RemoteSessions,
            ["apps", "sessions", "remote", id, "messages"] => Route::RemoteSessionMessages(s(id)),
            ["organizations", org, "roles"] => Route::Roles(s(org)),
            ["organizations", org, "roles", role] => Route::Role(s(org), s(role)),
            ["organizations", org, "roles", role, "permissions"] => Route::RolePermissions(s(org), s(role)),
            ["organizations", org, "settings"] => Route::OrgSettings(s(org)),
            ["groups"] => Route::Groups,
            ["groups", id] => Route::Group(s(id)),
            ["groups", id, "members"] => Route::GroupMembers(s(id)),
            ["apps", "code", "artifacts"] => Route::CodeArtifacts,
            ["apps", "code", "artifacts", a, "versions", v] => Route::CodeArtifactVersion(s(a), s(v)),
            _ => return None,
        })
    }

    /// The scope this endpoint needs (`read:org_audit` is always accepted as well).
    pub fn scope(&self) -> &'static str {
        match self {
            Route::Activities | Route::Tlog(_) => SCOPE_ACTIVITIES,
            Route::Organizations
            | Route::Roles(_)
            | Route::Role(..)
            | Route::RolePermissions(..)
            | Route::OrgSettings(_)
            | Route::Groups
            | Route::Group(_) => SCOPE_ORG_DATA,
            _ => SCOPE_USER_DATA,
        }
    }
}

/// A successful response.
#[derive(Debug, Clone)]
pub enum Reply {
    Json(Value),
    File { bytes: Vec<u8>, content_type: String, filename: String },
}

/// Dispatch a recognised route.
pub fn handle(route: &Route, q: &Query, t: &Tenant) -> Result<Reply, ApiError> {
    match route {
        Route::Activities => activities(q, t),
        Route::Tlog(r) => super::tlog::handle(*r, q, t),
        Route::Organizations => organizations(q, t),
        Route::Users(org) => users(q, t, org),
        Route::Chats => chats(q, t),
        Route::Messages(id) => messages(q, t, id),
        Route::FileMeta(id) => {
            q.check_allowed(&[])?;
            t.file_json(id)
                .map(Reply::Json)
                .ok_or_else(|| ApiError::resource_not_found(format!("File not found: {id}")))
        }
        Route::FileContent(id) => {
            q.check_allowed(&[])?;
            let f = t
                .files
                .get(id)
                .filter(|f| !f.deleted)
                .ok_or_else(|| ApiError::resource_not_found(format!("File not found: {id}")))?;
            Ok(Reply::File {
                bytes: f.content.clone(),
                content_type: f.content_type.clone(),
                filename: f.filename.clone(),
            })
        }
        Route::GeneratedFileMeta(id) => {
            q.check_allowed(&[])?;
            t.generated_file_json(id)
                .map(Reply::Json)
                .ok_or_else(|| ApiError::resource_not_found(format!("Generated file not found: '{id}'")))
        }
        Route::GeneratedFileContent(id) => {
            q.check_allowed(&[])?;
            let g = t
                .generated_files
                .get(id)
                .filter(|g| !g.deleted)
                .ok_or_else(|| ApiError::resource_not_found(format!("Generated file content not found: '{id}'")))?;
            Ok(Reply::File {
                bytes: g.content.clone(),
                content_type: g.mime_type.clone(),
                filename: g.filename.clone(),
            })
        }
        Route::ArtifactMeta(id) => {
            q.check_allowed(&[])?;
            t.artifact_json(id)
                .map(Reply::Json)
                .ok_or_else(|| ApiError::resource_not_found(format!("Artifact version not found: '{id}'")))
        }
        Route::ArtifactContent(id) => {
            q.check_allowed(&[])?;
            t.artifact_content_json(id)
                .map(Reply::Json)
                .ok_or_else(|| ApiError::resource_not_found(format!("Artifact version not found: '{id}'")))
        }
        Route::Projects => projects(q, t),
        Route::Project(id) => {
            q.check_allowed(&[])?;
            t.project_detail_json(id).map(Reply::Json).ok_or_else(no_project)
        }
        Route::ProjectAttachments(id) => attachments(q, t, id),
        Route::ProjectCollaborators(id) => collaborators(q, t, id),
        Route::Document(id) => {
            q.check_allowed(&[])?;
            t.document_json(id).map(Reply::Json).ok_or_else(no_document)
        }
        Route::DocumentMeta(id) => {
            q.check_allowed(&[])?;
            t.document_metadata_json(id).map(Reply::Json).ok_or_else(no_document)
        }
        Route::LocalSessions => super::sessions::local_list(q, t),
        Route::LocalSession(id) => super::sessions::local_get(q, t, id),
        Route::LocalSessionMessages(id) => super::sessions::local_messages(q, t, id),
        Route::RemoteSessions => super::sessions::remote_list(q, t),
        Route::RemoteSessionMessages(id) => super::sessions::remote_messages(q, t, id),
        Route::Roles(org) => super::directory::roles(q, t, org),
        Route::Role(org, role) => super::directory::role(q, t, org, role),
        Route::RolePermissions(org, role) => super::directory::role_permissions(q, t, org, role),
        Route::OrgSettings(org) => super::directory::settings(q, t, org),
        Route::Groups => super::directory::groups(q, t),
        Route::Group(id) => super::directory::group(q, t, id),
        Route::GroupMembers(id) => super::directory::group_members(q, t, id),
        Route::CodeArtifacts => super::artifacts::list(q, t),
        Route::CodeArtifactVersion(a, v) => super::artifacts::version(q, t, a, v),
    }
}

pub(crate) fn no_project() -> ApiError {
    ApiError::resource_not_found("No project is found with the provided id.")
}

pub(crate) fn no_document() -> ApiError {
    ApiError::resource_not_found("No project document found with the provided id.")
}

pub(crate) fn range_params(field: &str) -> [String; 4] {
    [format!("{field}.gt"), format!("{field}.gte"), format!("{field}.lt"), format!("{field}.lte")]
}

pub(crate) fn allowed<'a>(base: &[&'a str], extra: &'a [String]) -> Vec<&'a str> {
    let mut v: Vec<&str> = base.to_vec();
    v.extend(extra.iter().map(String::as_str));
    v
}

pub(crate) fn one_cursor(q: &Query) -> Result<(Option<&str>, Option<&str>), ApiError> {
    let a = q.get("after_id");
    let b = q.get("before_id");
    if a.is_some() && b.is_some() {
        return Err(ApiError::invalid("Only one of after_id and before_id may be provided."));
    }
    Ok((a, b))
}

pub(crate) fn cursor_envelope(data: Vec<Value>, has_more: bool, first: Option<String>, last: Option<String>) -> Value {
    json!({"data": data, "has_more": has_more, "first_id": first, "last_id": last})
}

pub(crate) fn token_envelope(data: Vec<Value>, next: Option<String>) -> Value {
    json!({"data": data, "has_more": next.is_some(), "next_page": next})
}

pub(crate) fn page_after(q: &Query, scope: &str) -> Result<Option<String>, ApiError> {
    match q.get("page") {
        None => Ok(None),
        Some(tok) => cursor::decode_page(scope, tok)
            .map(Some)
            .ok_or_else(|| ApiError::invalid("The page parameter is not a valid cursor for this request.")),
    }
}

pub(crate) fn org_matches(filter: &[String], org_id: Option<&str>, org_uuid: Option<&str>) -> bool {
    filter.is_empty() || filter.iter().any(|f| Some(f.as_str()) == org_id || Some(f.as_str()) == org_uuid)
}

// ---------------------------------------------------------------- activities

fn activity_cursor(t: &Tenant, param: &str, value: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    if cursor::is_activity_id(value) {
        return t
            .activities
            .iter()
            .find(|a| a.visible && a.id == value)
            .map(|a| (a.created_at, a.id.clone()))
            .ok_or_else(|| {
                ApiError::invalid(format!("Invalid `{param}`. No activity found for `{param}` \"{value}\""))
            });
    }
    cursor::decode_activity(value).ok_or_else(|| ApiError::invalid(format!("Invalid activity_id format: '{value}'")))
}

/// Validated parameters of `GET /activities` (shared with the scale tenant's handler).
pub(crate) struct ActivityParams {
    pub limit: usize,
    pub desc: bool,
    pub types: Vec<String>,
    pub excluded: Vec<String>,
    pub actors: Vec<String>,
    pub orgs: Vec<String>,
    pub range: TimeRange,
    pub after: Option<String>,
    pub before: Option<String>,
}

impl ActivityParams {
    pub fn matches(&self, ty: &str, actor: Option<&str>, org_id: Option<&str>, org_uuid: Option<&str>) -> bool {
        (self.types.is_empty() || self.types.iter().any(|t| t == ty))
            && !self.excluded.iter().any(|t| t == ty)
            && (self.actors.is_empty() || actor.is_some_and(|u| self.actors.iter().any(|a| a == u)))
            && org_matches(&self.orgs, org_id, org_uuid)
    }
}

pub(crate) fn activity_params(q: &Query, known: impl Fn(&str) -> bool) -> Result<ActivityParams, ApiError> {
    let ranges = range_params("created_at");
    q.check_allowed(&allowed(
        &[
            "activity_types[]",
            "exclude_activity_types[]",
            "actor_ids[]",
            "user_ids[]",
            "organization_ids[]",
            "after_id",
            "before_id",
            "limit",
            "order",
        ],
        &ranges,
    ))?;
    let limit = q.limit(100, 5000)?;
    let order = q.choice("order", &["desc", "asc"], "desc")?;
    let types = q.all("activity_types[]");
    let excluded = q.all("exclude_activity_types[]");
    for (param, list) in [("activity_types[]", &types), ("exclude_activity_types[]", &excluded)] {
        if let Some(i) = list.iter().position(|ty| !known(ty)) {
            return Err(ApiError::invalid(format!("{param}.{i}: Input is not one of the permitted values.")));
        }
    }
    if !types.is_empty() && !excluded.is_empty() {
        return Err(ApiError::invalid("activity_types[] and exclude_activity_types[] cannot be combined."));
    }
    let mut actors = q.all("actor_ids[]");
    actors.extend(q.all("user_ids[]"));
    let orgs = q.all("organization_ids[]");
    let range = q.range("created_at")?;
    let (after, before) = one_cursor(q)?;
    Ok(ActivityParams {
        limit,
        desc: order == "desc",
        types,
        excluded,
        actors,
        orgs,
        range,
        after: after.map(str::to_string),
        before: before.map(str::to_string),
    })
}

fn activities(q: &Query, t: &Tenant) -> Result<Reply, ApiError> {
    let tenant_types: BTreeSet<&str> = t.activities.iter().map(|a| a.activity_type.as_str()).collect();
    let known = |ty: &str| KNOWN_ACTIVITY_TYPES.contains(&ty) || tenant_types.contains(ty);
    let p = activity_params(q, known)?;
    let after = p.after.as_deref().map(|c| activity_cursor(t, "after_id", c)).transpose()?;
    let before = p.before.as_deref().map(|c| activity_cursor(t, "before_id", c)).transpose()?;
    let (limit, order) = (p.limit, if p.desc { "desc" } else { "asc" });
    let items: Vec<&ActivityRecord> = t
        .activities
        .iter()
        .filter(|a| a.visible)
        .filter(|a| {
            p.matches(
                &a.activity_type,
                a.actor_user_id.as_deref(),
                a.organization_id.as_deref(),
                a.organization_uuid.as_deref(),
            )
        })
        .filter(|a| p.range.contains(a.created_at))
        .collect();
    let (page, has_more) =
        cursor::cursor_page(items, |a| (a.created_at, a.id.clone()), order == "desc", after, before, limit);
    let first = page.first().map(|a| cursor::encode_activity(a.created_at, &a.id));
    let last = page.last().map(|a| cursor::encode_activity(a.created_at, &a.id));
    let data = page.iter().map(|a| a.wire.clone()).collect();
    Ok(Reply::Json(cursor_envelope(data, has_more, first, last)))
}

// ---------------------------------------------------------------- directory

fn organizations(q: &Query, t: &Tenant) -> Result<Reply, ApiError> {
    q.check_allowed(&["limit", "page"])?;
    let limit = q.limit(1000, 1000)?;
    let after = page_after(q, "organizations")?;
    let mut items: Vec<(String, Value)> =
        t.orgs.iter().map(|o| (format!("{}|{}", ts_z(o.created_at), o.uuid), o.wire.clone())).collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (data, next) = cursor::token_page(items, after.as_deref(), limit);
    let next = next.map(|k| cursor::encode_page("organizations", &k));
    Ok(Reply::Json(token_envelope(data, next)))
}

fn users(q: &Query, t: &Tenant, org_uuid: &str) -> Result<Reply, ApiError> {
    let org = t.org(org_uuid).ok_or_else(|| {
        ApiError::resource_not_found(format!(
            "The \"{org_uuid}\" organization does not exist or the requester is not authorized to access it."
        ))
    })?;
    q.check_allowed(&["limit", "page"])?;
    let limit = q.limit(500, 1000)?;
    let scope = format!("users:{org_uuid}");
    let after = page_after(q, &scope)?;
    let mut items: Vec<(String, Value)> =
        org.members.iter().map(|m| (format!("{}|{}", ts_z(m.joined_at), m.user_id), m.wire.clone())).collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (data, next) = cursor::token_page(items, after.as_deref(), limit);
    let next = next.map(|k| cursor::encode_page(&scope, &k));
    Ok(Reply::Json(token_envelope(data, next)))
}

// ---------------------------------------------------------------- chats

/// Validated parameters of `GET /apps/chats` (shared with the scale tenant's handler).
pub(crate) struct ChatParams {
    pub limit: usize,
    pub order_by: &'static str,
    pub user_ids: Vec<String>,
    pub orgs: Vec<String>,
    pub projects: Vec<String>,
    pub created: TimeRange,
    pub updated: TimeRange,
    /// Decoded `(t, chat uuid)` of `after_id` / `before_id`.
    pub after: Option<(DateTime<Utc>, String)>,
    pub before: Option<(DateTime<Utc>, String)>,
}

impl ChatParams {
    pub fn org_matches(&self, org_id: &str, org_uuid: &str) -> bool {
        org_matches(&self.orgs, Some(org_id), Some(org_uuid))
    }
}

pub(crate) fn chat_params(q: &Query) -> Result<ChatParams, ApiError> {
    let c_ranges = range_params("created_at");
    let u_ranges = range_params("updated_at");
    let mut extra = c_ranges.to_vec();
    extra.extend(u_ranges.iter().cloned());
    q.check_allowed(&allowed(
        &["user_ids[]", "organization_ids[]", "project_ids[]", "order_by", "after_id", "before_id", "limit"],
        &extra,
    ))?;
    let limit = q.limit(100, 1000)?;
    let order_by = if q.choice("order_by", &["created_at", "updated_at"], "created_at")? == "updated_at" {
        "updated_at"
    } else {
        "created_at"
    };
    let user_ids = q.all("user_ids[]");
    if user_ids.len() > 10 {
        return Err(ApiError::invalid(format!(
            "user_ids[]: List should have at most 10 items after validation, not {}",
            user_ids.len()
        )));
    }
    let orgs = q.all("organization_ids[]");
    let projects = q.all("project_ids[]");
    let created = q.range("created_at")?;
    let updated = q.range("updated_at")?;
    let org_wide = user_ids.is_empty();
    if !projects.is_empty() && org_wide {
        return Err(ApiError::invalid("project_ids[] requires user_ids[]."));
    }
    if !org_wide && order_by == "updated_at" {
        return Err(ApiError::invalid("order_by=updated_at is only supported on org-wide queries (omit user_ids[])."));
    }
    if !org_wide && !updated.is_empty() {
        return Err(ApiError::invalid(
            "updated_at filters are not supported with user_ids[]; use an org-wide query with order_by=updated_at.",
        ));
    }
    if org_wide && !updated.is_empty() && order_by != "updated_at" {
        return Err(ApiError::invalid("updated_at filters on org-wide queries require order_by=updated_at."));
    }
    if org_wide && !created.is_empty() && order_by != "created_at" {
        return Err(ApiError::invalid("created_at filters on org-wide queries require order_by=created_at."));
    }
    let (after, before) = one_cursor(q)?;
    if before.is_some() && org_wide {
        return Err(ApiError::invalid("before_id is only supported on per-user queries (with user_ids[])."));
    }
    let decode = |param: &str, v: &str| -> Result<(DateTime<Utc>, String), ApiError> {
        match cursor::decode_chat(v) {
            Some((k, ts, uuid)) if k == order_by => Ok((ts, uuid)),
            _ => Err(ApiError::invalid(format!("Invalid pagination cursor for '{param}'"))),
        }
    };
    let after = after.map(|v| decode("after_id", v)).transpose()?;
    let before = before.map(|v| decode("before_id", v)).transpose()?;
    Ok(ChatParams { limit, order_by, user_ids, orgs, projects, created, updated, after, before })
}

fn chats(q: &Query, t: &Tenant) -> Result<Reply, ApiError> {
    let ChatParams { limit, order_by, user_ids, orgs, projects, created, updated, after, before } = chat_params(q)?;
    let key_t = |c: &ChatRecord| {
        if order_by == "updated_at" {
            c.updated_at
        } else {
            c.created_at
        }
    };
    let mut items: Vec<&ChatRecord> = t
        .chats
        .iter()
        .filter(|c| user_ids.is_empty() || c.user_id.as_ref().is_some_and(|u| user_ids.contains(u)))
        .filter(|c| org_matches(&orgs, Some(c.organization_id.as_str()), Some(c.organization_uuid.as_str())))
        .filter(|c| projects.is_empty() || c.project_id.as_ref().is_some_and(|p| projects.contains(p)))
        .filter(|c| created.contains(c.created_at) && updated.contains(c.updated_at))
        .collect();
    items.sort_by(|a, b| (key_t(a), &a.uuid).cmp(&(key_t(b), &b.uuid)));
    let (page, has_more) = cursor::cursor_page(items, |c| (key_t(c), c.uuid.clone()), false, after, before, limit);
    let enc = |c: &&ChatRecord| cursor::encode_chat(order_by, key_t(c), &c.uuid);
    let first = page.first().map(enc);
    let last = page.last().map(enc);
    let data = page.iter().map(|c| c.wire.clone()).collect();
    Ok(Reply::Json(cursor_envelope(data, has_more, first, last)))
}

fn truncate_chars(s: &str, max: i64) -> Option<String> {
    if max < 0 {
        return None;
    }
    let max = max as usize;
    if s.chars().count() <= max {
        return None;
    }
    Some(s.chars().take(max).collect())
}

/// Apply `tool_use_input_max_chars` / `tool_result_max_chars` to a message.
pub(crate) fn apply_tool_limits(mut msg: Value, use_max: i64, result_max: i64) -> Value {
    let Some(blocks) = msg.get_mut("content").and_then(Value::as_array_mut) else {
        return msg;
    };
    for b in blocks {
        let Some(obj) = b.as_object_mut() else {
            continue;
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("tool_use") => {
                let cut = obj.get("input").and_then(Value::as_str).and_then(|s| truncate_chars(s, use_max));
                if let Some(cut) = cut {
                    obj.insert("input".into(), json!(cut));
                    obj.insert("truncated".into(), json!(true));
                }
            }
            Some("tool_result") => {
                let mut any = false;
                if let Some(items) = obj.get_mut("content").and_then(Value::as_array_mut) {
                    for it in items {
                        let cut = it.get("text").and_then(Value::as_str).and_then(|s| truncate_chars(s, result_max));
                        if let (Some(cut), Some(o)) = (cut, it.as_object_mut()) {
                            o.insert("text".into(), json!(cut));
                            any = true;
                        }
                    }
                }
                if any {
                    obj.insert("truncated".into(), json!(true));
                }
            }
            _ => {}
        }
    }
    msg
}

/// Validated parameters of `GET /apps/chats/{id}/messages` (shared with the scale handler).
pub(crate) struct MessageParams {
    pub limit: Option<usize>,
    pub desc: bool,
    pub created: TimeRange,
    pub updated: TimeRange,
    pub result_max: i64,
    pub use_max: i64,
    pub after: Option<String>,
    pub before: Option<String>,
}

pub(crate) fn message_params(q: &Query) -> Result<MessageParams, ApiError> {
    let c_ranges = range_params("created_at");
    let u_ranges = range_params("updated_at");
    let mut extra = c_ranges.to_vec();
    extra.extend(u_ranges.iter().cloned());
    q.check_allowed(&allowed(
        &["limit", "after_id", "before_id", "order", "tool_result_max_chars", "tool_use_input_max_chars"],
        &extra,
    ))?;
    let limit = q.int("limit", 1, Some(1000))?.map(|n| n as usize);
    let order = q.choice("order", &["asc", "desc"], "asc")?;
    let created = q.range("created_at")?;
    let updated = q.range("updated_at")?;
    let result_max = q.int("tool_result_max_chars", -1, None)?.unwrap_or(10_000);
    let use_max = q.int("tool_use_input_max_chars", -1, None)?.unwrap_or(10_000);
    let (after, before) = one_cursor(q)?;
    Ok(MessageParams {
        limit,
        desc: order == "desc",
        created,
        updated,
        result_max,
        use_max,
        after: after.map(str::to_string),
        before: before.map(str::to_string),
    })
}

fn messages(q: &Query, t: &Tenant, chat_id: &str) -> Result<Reply, ApiError> {
    let chat = t
        .chat(chat_id)
        .ok_or_else(|| ApiError::resource_not_found(format!("Chat conversation not found: '{chat_id}'")))?;
    let p = message_params(q)?;
    let (limit, created, updated, result_max, use_max) = (p.limit, p.created, p.updated, p.result_max, p.use_max);
    let order = if p.desc { "desc" } else { "asc" };
    let (after, before) = (p.after.as_deref(), p.before.as_deref());
    let locate = |param: &str, v: &str| -> Result<usize, ApiError> {
        cursor::decode_message(v)
            .and_then(|u| chat.messages.iter().position(|m| m.uuid == u))
            .ok_or_else(|| ApiError::invalid(format!("Invalid pagination cursor for '{param}'")))
    };
    let after = after.map(|v| locate("after_id", v)).transpose()?;
    let before = before.map(|v| locate("before_id", v)).transpose()?;
    let items: Vec<(usize, &MessageRecord)> = chat
        .messages
        .iter()
        .enumerate()
        .filter(|(_, m)| created.contains(m.created_at) && updated.contains(m.created_at))
        .collect();
    let (page, has_more) =
        cursor::cursor_page(items, |(i, _)| *i, order == "desc", after, before, limit.unwrap_or(usize::MAX));
    let first = page.first().map(|(_, m)| cursor::encode_message(&m.uuid));
    let last = page.last().map(|(_, m)| cursor::encode_message(&m.uuid));
    let msgs: Vec<Value> = page.iter().map(|(_, m)| apply_tool_limits(m.wire.clone(), use_max, result_max)).collect();
    t.content.serve_messages(&msgs);
    let mut obj: Map<String, Value> = chat.wire.as_object().cloned().unwrap_or_default();
    obj.insert("chat_messages".into(), Value::Array(msgs));
    obj.insert("has_more".into(), json!(has_more));
    obj.insert("first_id".into(), json!(first));
    obj.insert("last_id".into(), json!(last));
    Ok(Reply::Json(Value::Object(obj)))
}

// ---------------------------------------------------------------- projects

fn projects(q: &Query, t: &Tenant) -> Result<Reply, ApiError> {
    let c_ranges = range_params("created_at");
    let u_ranges = range_params("updated_at");
    let mut extra = c_ranges.to_vec();
    extra.extend(u_ranges.iter().cloned());
    q.check_allowed(&allowed(&["limit", "page", "organization_ids[]", "user_ids[]"], &extra))?;
    let limit = q.limit(20, 100)?;
    let orgs = q.all("organization_ids[]");
    let users = q.all("user_ids[]");
    let created = q.range("created_at")?;
    let updated = q.range("updated_at")?;
    let after = page_after(q, "projects")?;
    let mut items: Vec<(String, Value)> = t
        .projects
        .iter()
        .filter(|p| org_matches(&orgs, Some(p.organization_id.as_str()), Some(p.organization_uuid.as_str())))
        .filter(|p| users.is_empty() || p.user_id.as_ref().is_some_and(|u| users.contains(u)))
        .filter(|p| created.contains(p.created_at) && updated.contains(p.updated_at))
        .map(|p| (format!("{}|{}", ts_z(p.created_at), p.id), p.wire.clone()))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (data, next) = cursor::token_page(items, after.as_deref(), limit);
    let next = next.map(|k| cursor::encode_page("projects", &k));
    Ok(Reply::Json(token_envelope(data, next)))
}

fn attachments(q: &Query, t: &Tenant, project_id: &str) -> Result<Reply, ApiError> {
    let list = t.project_attachments_json(project_id).ok_or_else(no_project)?;
    q.check_allowed(&["limit", "page"])?;
    let limit = q.limit(20, 100)?;
    let scope = format!("attachments:{project_id}");
    let after = page_after(q, &scope)?;
    let items: Vec<(String, Value)> = list
        .into_iter()
        .map(|v| {
            let k = format!(
                "{}|{}",
                v.get("created_at").and_then(Value::as_str).unwrap_or_default(),
                v.get("id").and_then(Value::as_str).unwrap_or_default()
            );
            (k, v)
        })
        .collect();
    let (data, next) = cursor::token_page(items, after.as_deref(), limit);
    let next = next.map(|k| cursor::encode_page(&scope, &k));
    Ok(Reply::Json(token_envelope(data, next)))
}

fn collaborators(q: &Query, t: &Tenant, project_id: &str) -> Result<Reply, ApiError> {
    let list = t.project_collaborators_json(project_id).ok_or_else(no_project)?;
    q.check_allowed(&["limit", "page"])?;
    let limit = q.limit(20, 100)?;
    let scope = format!("collaborators:{project_id}");
    let after = page_after(q, &scope)?;
    let items: Vec<(String, Value)> = list
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let k = format!("{}|{i:06}", v.get("granted_at").and_then(Value::as_str).unwrap_or_default());
            (k, v)
        })
        .collect();
    let (data, next) = cursor::token_page(items, after.as_deref(), limit);
    let next = next.map(|k| cursor::encode_page(&scope, &k));
    Ok(Reply::Json(token_envelope(data, next)))
}
