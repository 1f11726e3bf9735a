//! Endpoint handlers over a [`ScaleTenant`]: the same parameter rules, limits, errors and
//! response shapes as [`super::routes`] (the validation is shared), but every page is built from
//! index ranges (sort keys are monotonic in the index, cursors become indexes by binary search),
//! so a page costs O(page + log n), never a pass over the tenant.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use super::activity_types::KNOWN_ACTIVITY_TYPES;
use super::cursor;
use super::errors::ApiError;
use super::query::{Query, TimeRange};
use super::routes::{
    activity_params, apply_tool_limits, chat_params, cursor_envelope, message_params, no_document, no_project,
    page_after, token_envelope, Reply, Route,
};
use crate::synthetic::scale::partition;
use crate::synthetic::scale::ScaleChat;
use crate::synthetic::ScaleTenant;

/// Dispatch a recognised route to the scale tenant; `None` for the routes the tenant shell
/// answers through [`routes::handle`] (organizations, held whole; chat files, generated files and
/// artifacts, which a scale tenant does not have: the demo handler's 404s).
pub fn handle(route: &Route, q: &Query, s: &ScaleTenant) -> Option<Result<Reply, ApiError>> {
    // Only the routes a scale tenant generates; every other route (including ones added later)
    // goes to the demo handler over the tenant shell.
    match route {
        Route::Activities
        | Route::Users(_)
        | Route::Chats
        | Route::Messages(_)
        | Route::Projects
        | Route::Project(_)
        | Route::ProjectAttachments(_)
        | Route::ProjectCollaborators(_)
        | Route::Document(_)
        | Route::DocumentMeta(_) => Some(dispatch(route, q, s)),
        _ => None,
    }
}

fn dispatch(route: &Route, q: &Query, s: &ScaleTenant) -> Result<Reply, ApiError> {
    match route {
        Route::Activities => activities(q, s),
        Route::Users(org) => users(q, s, org),
        Route::Chats => chats(q, s),
        Route::Messages(id) => messages(q, s, id),
        Route::Projects => projects(q, s),
        Route::Project(id) => {
            q.check_allowed(&[])?;
            let p = s.project_index(id).ok_or_else(no_project)?;
            Ok(Reply::Json(s.project_detail_json(&s.project(p))))
        }
        Route::ProjectAttachments(id) => {
            let p = s.project_index(id).ok_or_else(no_project)?;
            let pr = s.project(p);
            let items = (0..pr.documents).map(|k| s.attachment_json(&pr, k)).collect();
            token_list(q, &format!("attachments:{id}"), items)
        }
        Route::ProjectCollaborators(id) => {
            let p = s.project_index(id).ok_or_else(no_project)?;
            token_list(q, &format!("collaborators:{id}"), s.collaborators_json(&s.project(p)))
        }
        Route::Document(id) => {
            q.check_allowed(&[])?;
            let (p, k) = s.document_index(id).ok_or_else(no_document)?;
            Ok(Reply::Json(s.document_json(p, k)))
        }
        Route::DocumentMeta(id) => {
            q.check_allowed(&[])?;
            let (p, k) = s.document_index(id).ok_or_else(no_document)?;
            Ok(Reply::Json(s.document_metadata_json(p, k)))
        }
        _ => Err(ApiError::not_found()),
    }
}

/// Scan indices of `[lo, hi)` from `from` (inclusive) upward or downward, collecting up to `limit`
/// that match; `has_more` = one more match exists beyond them.
fn scan(
    lo: usize,
    hi: usize,
    from: Option<usize>,
    up: bool,
    limit: usize,
    ok: impl Fn(usize) -> bool,
) -> (Vec<usize>, bool) {
    let mut out = Vec::new();
    if lo >= hi {
        return (out, false);
    }
    let next = |i: usize| -> Option<usize> {
        if up {
            (i + 1 < hi).then_some(i + 1)
        } else {
            (i > lo).then(|| i - 1)
        }
    };
    let mut cur = match from {
        Some(f) if f >= lo && f < hi => Some(f),
        Some(f) if up && f < lo => Some(lo),
        Some(f) if !up && f >= hi => Some(hi - 1),
        Some(_) => None,
        None => Some(if up { lo } else { hi - 1 }),
    };
    while let Some(i) = cur {
        if ok(i) {
            if out.len() == limit {
                return (out, true);
            }
            out.push(i);
        }
        cur = next(i);
    }
    (out, false)
}

/// `[lo, hi)` of a monotonic index space restricted to `range`; `lower(t)` = first index ≥ t.
fn window(n: usize, range: &TimeRange, lower: impl Fn(DateTime<Utc>) -> usize) -> (usize, usize) {
    let micro = Duration::microseconds(1);
    let mut lo = 0;
    let mut hi = n;
    if let Some(t) = range.gte {
        lo = lo.max(lower(t));
    }
    if let Some(t) = range.gt {
        lo = lo.max(lower(t + micro));
    }
    if let Some(t) = range.lt {
        hi = hi.min(lower(t));
    }
    if let Some(t) = range.lte {
        hi = hi.min(lower(t + micro));
    }
    (lo, hi.max(lo))
}

/// Walk a cursor-paged, index-ordered list. `le`/`lt` = number of items whose key is ≤ / < the
/// cursor's (in ascending index order). Returns the page in result order and `has_more`.
#[allow(clippy::too_many_arguments)]
fn cursor_walk(
    lo: usize,
    hi: usize,
    desc: bool,
    after: Option<(usize, usize)>,
    before: Option<(usize, usize)>,
    limit: usize,
    ok: impl Fn(usize) -> bool,
) -> (Vec<usize>, bool) {
    match (after, before) {
        // forward in result order, starting next to the cursor
        (Some((le, lt)), _) => {
            if !desc {
                scan(lo, hi, Some(le), true, limit, ok)
            } else if lt > 0 {
                scan(lo, hi, Some(lt - 1), false, limit, ok)
            } else {
                (vec![], false)
            }
        }
        // the `limit` items just before the cursor in result order
        (None, Some((le, lt))) => {
            let (mut page, more) = if desc {
                scan(lo, hi, Some(le), true, limit, ok)
            } else if lt > 0 {
                scan(lo, hi, Some(lt - 1), false, limit, ok)
            } else {
                (vec![], false)
            };
            page.reverse();
            (page, more)
        }
        (None, None) => scan(lo, hi, None, !desc, limit, ok),
    }
}

// ---------------------------------------------------------------- activities

fn activities(q: &Query, s: &ScaleTenant) -> Result<Reply, ApiError> {
    let p = activity_params(q, |ty| KNOWN_ACTIVITY_TYPES.contains(&ty))?;
    let n = s.cfg.activities;
    let locate = |param: &str, v: &str| -> Result<(usize, usize), ApiError> {
        if cursor::is_activity_id(v) {
            let i = s.activity_index(v).ok_or_else(|| {
                ApiError::invalid(format!("Invalid `{param}`. No activity found for `{param}` \"{v}\""))
            })?;
            return Ok((i + 1, i));
        }
        let (t, id) = cursor::decode_activity(v)
            .ok_or_else(|| ApiError::invalid(format!("Invalid activity_id format: '{v}'")))?;
        let lo = s.activity_lower_bound(t);
        let (mut le, mut lt) = (lo, lo);
        if lo < n && s.activity_time(lo) == t {
            let own = s.activity_id(lo);
            le += usize::from(own <= id);
            lt += usize::from(own < id);
        }
        Ok((le, lt))
    };
    let after = p.after.as_deref().map(|v| locate("after_id", v)).transpose()?;
    let before = p.before.as_deref().map(|v| locate("before_id", v)).transpose()?;
    let (lo, hi) = window(n, &p.range, |t| s.activity_lower_bound(t));
    let orgs: Vec<(&str, &str)> = s.orgs.iter().map(|o| (o.org_id.as_str(), o.uuid.as_str())).collect();
    let ok = |i: usize| {
        let (ty, user, org) = s.activity_facts(i);
        let (oid, ouuid) = org.map(|o| (Some(orgs[o].0), Some(orgs[o].1))).unwrap_or((None, None));
        // the actor's id is only built when a filter needs it
        let actor = if p.actors.is_empty() { None } else { user.map(|u| s.user_id(u)) };
        p.matches(ty, actor.as_deref(), oid, ouuid)
    };
    let (page, has_more) = cursor_walk(lo, hi, p.desc, after, before, p.limit, ok);
    let enc = |i: usize| cursor::encode_activity(s.activity_time(i), &s.activity_id(i));
    let first = page.first().map(|i| enc(*i));
    let last = page.last().map(|i| enc(*i));
    let data = page.iter().map(|i| s.activity_json(*i)).collect();
    Ok(Reply::Json(cursor_envelope(data, has_more, first, last)))
}

// ---------------------------------------------------------------- directory

fn page_index(q: &Query, scope: &str) -> Result<Option<usize>, ApiError> {
    match page_after(q, scope)? {
        None => Ok(None),
        Some(k) => k
            .parse::<usize>()
            .map(Some)
            .map_err(|_| ApiError::invalid("The page parameter is not a valid cursor for this request.")),
    }
}

fn page_key(i: usize) -> String {
    format!("{i:010}")
}

fn users(q: &Query, s: &ScaleTenant, org_uuid: &str) -> Result<Reply, ApiError> {
    let o = s.orgs.iter().position(|o| o.uuid == org_uuid).ok_or_else(|| {
        ApiError::resource_not_found(format!(
            "The \"{org_uuid}\" organization does not exist or the requester is not authorized to access it."
        ))
    })?;
    q.check_allowed(&["limit", "page"])?;
    let limit = q.limit(500, 1000)?;
    let scope = format!("users:{org_uuid}");
    let from = page_index(q, &scope)?.map_or(0, |k| k + 1);
    let n = s.org_member_count(o);
    let end = from.saturating_add(limit).min(n);
    let data = (from.min(end)..end).map(|k| s.member_json(o, k)).collect();
    let next = (end < n && end > from).then(|| cursor::encode_page(&scope, &page_key(end - 1)));
    Ok(Reply::Json(token_envelope(data, next)))
}

/// A short, fully materialised page-token list (attachments, collaborators).
fn token_list(q: &Query, scope: &str, items: Vec<Value>) -> Result<Reply, ApiError> {
    q.check_allowed(&["limit", "page"])?;
    let limit = q.limit(20, 100)?;
    let from = page_index(q, scope)?.map_or(0, |k| k + 1);
    let n = items.len();
    let end = from.saturating_add(limit).min(n);
    let data: Vec<Value> = items.into_iter().enumerate().filter(|(i, _)| *i >= from && *i < end).map(|x| x.1).collect();
    let next = (end < n && end > from).then(|| cursor::encode_page(scope, &page_key(end - 1)));
    Ok(Reply::Json(token_envelope(data, next)))
}

// ---------------------------------------------------------------- chats

fn chats(q: &Query, s: &ScaleTenant) -> Result<Reply, ApiError> {
    let p = chat_params(q)?;
    let n = s.cfg.chats;
    let org_ok = |i: usize| {
        let o = &s.orgs[s.user_org(i % s.cfg.users.max(1))];
        p.org_matches(&o.org_id, &o.uuid)
    };
    let cursor_bits = |uuid: &str| ScaleTenant::uuid_key(uuid).unwrap_or(0);
    let (page, has_more): (Vec<usize>, bool) = if !p.user_ids.is_empty() {
        // per-user query: the users' chats (created_at order), a short list
        let users: Vec<usize> = p.user_ids.iter().filter_map(|u| s.user_index(u)).collect();
        let step = s.cfg.users.max(1);
        let mut items: Vec<usize> = users.iter().flat_map(|u| (*u..n).step_by(step)).collect();
        items.sort_unstable();
        items.dedup();
        let items: Vec<usize> = items
            .into_iter()
            .filter(|i| org_ok(*i))
            .filter(|i| {
                let c = s.chat(*i);
                p.created.contains(c.created_at)
                    && (p.projects.is_empty() || c.project.is_some_and(|pi| p.projects.contains(&s.project_id(pi))))
            })
            .collect();
        let key = |i: &usize| s.chat_created_key(*i);
        let ck = |c: &(DateTime<Utc>, String)| (c.0.timestamp_micros(), cursor_bits(&c.1));
        let (after, before) = (p.after.as_ref().map(ck), p.before.as_ref().map(ck));
        cursor::cursor_page(items, key, false, after, before, p.limit)
    } else if p.order_by == "created_at" {
        let (lo, hi) = window(n, &p.created, |t| partition(n, |i| s.chat_created(i) < t));
        let after = p.after.as_ref().map(|(t, u)| {
            let k = (t.timestamp_micros(), cursor_bits(u));
            let le = partition(n, |i| s.chat_created_key(i) <= k);
            (le, le)
        });
        cursor_walk(lo, hi, false, after, None, p.limit, org_ok)
    } else {
        let by = s.chats_by_updated();
        let at = |pos: usize| s.chat_updated_key(by[pos] as usize);
        let (lo, hi) = window(n, &p.updated, |t| partition(n, |pos| at(pos).0 < t.timestamp_micros()));
        let after = p.after.as_ref().map(|(t, u)| {
            let k = (t.timestamp_micros(), cursor_bits(u));
            let le = partition(n, |pos| at(pos) <= k);
            (le, le)
        });
        let (pos, more) = cursor_walk(lo, hi, false, after, None, p.limit, |pos| org_ok(by[pos] as usize));
        (pos.into_iter().map(|x| by[x] as usize).collect(), more)
    };
    let chats: Vec<_> = page.iter().map(|i| s.chat(*i)).collect();
    let enc = |c: &ScaleChat| {
        let t = if p.order_by == "updated_at" { c.updated_at } else { c.created_at };
        cursor::encode_chat(p.order_by, t, &c.uuid)
    };
    let first = chats.first().map(enc);
    let last = chats.last().map(enc);
    let data = chats.iter().map(|c| s.chat_json(c)).collect();
    Ok(Reply::Json(cursor_envelope(data, has_more, first, last)))
}

fn messages(q: &Query, s: &ScaleTenant, chat_id: &str) -> Result<Reply, ApiError> {
    let ci = s
        .chat_index(chat_id)
        .ok_or_else(|| ApiError::resource_not_found(format!("Chat conversation not found: '{chat_id}'")))?;
    let c = s.chat(ci);
    let p = message_params(q)?;
    let locate = |param: &str, v: &str| -> Result<usize, ApiError> {
        cursor::decode_message(v)
            .and_then(|u| (0..c.messages).position(|j| s.message_uuid(ci, j) == u))
            .ok_or_else(|| ApiError::invalid(format!("Invalid pagination cursor for '{param}'")))
    };
    let after = p.after.as_deref().map(|v| locate("after_id", v)).transpose()?;
    let before = p.before.as_deref().map(|v| locate("before_id", v)).transpose()?;
    let items: Vec<usize> = (0..c.messages)
        .filter(|j| {
            let at = s.message_time(&c, *j);
            p.created.contains(at) && p.updated.contains(at)
        })
        .collect();
    let (page, has_more) = cursor::cursor_page(items, |j| *j, p.desc, after, before, p.limit.unwrap_or(usize::MAX));
    let first = page.first().map(|j| cursor::encode_message(&s.message_uuid(ci, *j)));
    let last = page.last().map(|j| cursor::encode_message(&s.message_uuid(ci, *j)));
    let msgs: Vec<Value> =
        page.iter().map(|j| apply_tool_limits(s.message_json(&c, *j), p.use_max, p.result_max)).collect();
    let mut obj: Map<String, Value> = s.chat_json(&c).as_object().cloned().unwrap_or_default();
    obj.insert("chat_messages".into(), Value::Array(msgs));
    obj.insert("has_more".into(), json!(has_more));
    obj.insert("first_id".into(), json!(first));
    obj.insert("last_id".into(), json!(last));
    Ok(Reply::Json(Value::Object(obj)))
}

// ---------------------------------------------------------------- projects

fn projects(q: &Query, s: &ScaleTenant) -> Result<Reply, ApiError> {
    let mut extra: Vec<String> = Vec::new();
    for f in ["created_at", "updated_at"] {
        for op in ["gt", "gte", "lt", "lte"] {
            extra.push(format!("{f}.{op}"));
        }
    }
    let mut allowed: Vec<&str> = vec!["limit", "page", "organization_ids[]", "user_ids[]"];
    allowed.extend(extra.iter().map(String::as_str));
    q.check_allowed(&allowed)?;
    let limit = q.limit(20, 100)?;
    let orgs = q.all("organization_ids[]");
    let users: Vec<Option<usize>> = q.all("user_ids[]").iter().map(|u| s.user_index(u)).collect();
    let created = q.range("created_at")?;
    let updated = q.range("updated_at")?;
    let n = s.cfg.projects;
    let from = page_index(q, "projects")?.map(|k| k + 1);
    let (lo, hi) = window(n, &created, |t| partition(n, |i| s.project_created(i) < t));
    let ok = |i: usize| {
        let pr = s.project(i);
        let o = &s.orgs[pr.org];
        (orgs.is_empty() || orgs.iter().any(|f| *f == o.org_id || *f == o.uuid))
            && (users.is_empty() || users.contains(&Some(pr.owner)))
            && updated.contains(pr.updated_at)
    };
    let (page, more) = scan(lo, hi, from.or(Some(lo)), true, limit, ok);
    let next = if more { page.last().map(|i| cursor::encode_page("projects", &page_key(*i))) } else { None };
    let data = page.iter().map(|i| s.project_json(&s.project(*i))).collect();
    Ok(Reply::Json(token_envelope(data, next)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::synthetic::{ScaleConfig, Tenant, TenantConfig};

    fn tenant() -> Tenant {
        let end = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
        let knobs = ScaleConfig {
            users: 37,
            chats: 1_500,
            messages_min: 2,
            messages_max: 6,
            message_chars: 0,
            activities: 12_000,
            projects: 45,
        };
        Tenant::generate(TenantConfig::scale(3, knobs).with_window(end - Duration::days(30), end))
    }

    fn get(t: &Tenant, path: &str, query: &str) -> Result<Value, ApiError> {
        let route = Route::parse("GET", path).ok_or_else(ApiError::not_found)?;
        let q = Query::parse(Some(query));
        let s = t.scale.as_deref().ok_or_else(ApiError::not_found)?;
        let reply = match handle(&route, &q, s) {
            Some(r) => r?,
            None => super::super::routes::handle(&route, &q, t)?,
        };
        match reply {
            Reply::Json(v) => Ok(v),
            Reply::File { .. } => Err(ApiError::not_found()),
        }
    }

    fn ids(v: &Value, field: &str) -> Vec<String> {
        v[field]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["id"].as_str().map(String::from)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn activities_walk_both_ways_exactly_once() -> Result<(), ApiError> {
        let t = tenant();
        let want = t.expected().activities;
        for order in ["asc", "desc"] {
            let mut seen = Vec::new();
            let mut q = format!("limit=5000&order={order}");
            loop {
                let v = get(&t, "/v1/compliance/activities", &q)?;
                seen.extend(ids(&v, "data"));
                if v["has_more"] != json!(true) {
                    break;
                }
                let last = v["last_id"].as_str().unwrap_or_default().to_string();
                q = format!("limit=5000&order={order}&after_id={last}");
            }
            let set: BTreeSet<String> = seen.iter().cloned().collect();
            assert_eq!(set.len(), seen.len(), "no duplicates ({order})");
            assert_eq!(set, want, "every activity ({order})");
        }
        // before_id from the middle of an asc walk returns the items just before it
        let v = get(&t, "/v1/compliance/activities", "limit=10&order=asc")?;
        let tenth = v["last_id"].as_str().unwrap_or_default().to_string();
        let back = get(&t, "/v1/compliance/activities", &format!("limit=3&order=asc&before_id={tenth}"))?;
        assert_eq!(ids(&back, "data"), ids(&v, "data")[6..9].to_vec());
        // limit max enforced, unknown params rejected, bad cursors rejected
        assert_eq!(get(&t, "/v1/compliance/activities", "limit=5001").map_err(|e| e.status).err(), Some(400));
        assert_eq!(get(&t, "/v1/compliance/activities", "page=x").map_err(|e| e.status).err(), Some(400));
        assert_eq!(get(&t, "/v1/compliance/activities", "after_id=bogus").map_err(|e| e.status).err(), Some(400));
        // a time window and a type filter
        let mid = t.scale.as_deref().map(|s| s.activity_time(6_000)).unwrap_or_default();
        let q = format!("limit=5000&order=asc&created_at.gte={}&activity_types[]=user_logged_out", ids::ts_z(mid));
        let v = get(&t, "/v1/compliance/activities", &q)?;
        let data = v["data"].as_array().cloned().unwrap_or_default();
        assert!(!data.is_empty());
        assert!(data.iter().all(|a| a["type"] == "user_logged_out"));
        Ok(())
    }

    use crate::synthetic::ids;

    #[test]
    fn chats_by_updated_and_per_user_and_messages() -> Result<(), ApiError> {
        let t = tenant();
        let e = t.expected();
        let mut seen = Vec::new();
        let mut q = "limit=1000&order_by=updated_at".to_string();
        let mut last_updated = String::new();
        loop {
            let v = get(&t, "/v1/compliance/apps/chats", &q)?;
            for c in v["data"].as_array().cloned().unwrap_or_default() {
                let u = c["updated_at"].as_str().unwrap_or_default().to_string();
                assert!(u >= last_updated, "updated_at order");
                last_updated = u;
                seen.push(c["id"].as_str().unwrap_or_default().to_string());
            }
            if v["has_more"] != json!(true) {
                break;
            }
            q = format!("limit=1000&order_by=updated_at&after_id={}", v["last_id"].as_str().unwrap_or_default());
        }
        let set: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!((set.len(), &set), (seen.len(), &e.chats));

        // per-user listing: that user's chats only
        let s = t.scale.as_deref().ok_or_else(ApiError::not_found)?;
        let uid = s.user_id(5);
        let v = get(&t, "/v1/compliance/apps/chats", &format!("user_ids[]={uid}&limit=1000"))?;
        let data = v["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(data.len(), (1_500 - 5_usize).div_ceil(37));
        assert!(data.iter().all(|c| c["user"]["id"] == json!(uid)));
        assert!(get(&t, "/v1/compliance/apps/chats", &format!("user_ids[]={uid}&order_by=updated_at")).is_err());

        // messages, whole and paged
        let mut all = BTreeSet::new();
        for cid in e.chats.iter().take(50) {
            let whole = get(&t, &format!("/v1/compliance/apps/chats/{cid}/messages"), "")?;
            let whole_ids = ids(&whole, "chat_messages");
            let mut paged = Vec::new();
            let mut q = "limit=1".to_string();
            loop {
                let v = get(&t, &format!("/v1/compliance/apps/chats/{cid}/messages"), &q)?;
                paged.extend(ids(&v, "chat_messages"));
                if v["has_more"] != json!(true) {
                    break;
                }
                q = format!("limit=1&after_id={}", v["last_id"].as_str().unwrap_or_default());
            }
            assert_eq!(paged, whole_ids);
            all.extend(whole_ids);
        }
        assert!(all.iter().all(|m| e.chat_messages.contains(m)));
        let missing = get(&t, "/v1/compliance/apps/chats/claude_chat_01LwHSAQJR5WGxgb9tq4KHCQ/messages", "");
        assert_eq!(missing.map_err(|e| e.status).err(), Some(404));
        Ok(())
    }

    #[test]
    fn directory_and_projects_page_tokens() -> Result<(), ApiError> {
        let t = tenant();
        let e = t.expected();
        let orgs = get(&t, "/v1/compliance/organizations", "")?;
        let mut users = BTreeSet::new();
        for o in orgs["data"].as_array().cloned().unwrap_or_default() {
            let uuid = o["uuid"].as_str().unwrap_or_default().to_string();
            let mut q = "limit=5".to_string();
            loop {
                let v = get(&t, &format!("/v1/compliance/organizations/{uuid}/users"), &q)?;
                for id in ids(&v, "data") {
                    assert!(users.insert(format!("{uuid}/{id}")));
                }
                match v["next_page"].as_str() {
                    Some(p) => q = format!("limit=5&page={p}"),
                    None => break,
                }
            }
        }
        assert_eq!(users, e.users);
        let mut projects = BTreeSet::new();
        let mut docs = BTreeSet::new();
        let mut q = "limit=100".to_string();
        assert!(get(&t, "/v1/compliance/apps/projects", "limit=101").is_err());
        loop {
            let v = get(&t, "/v1/compliance/apps/projects", &q)?;
            for id in ids(&v, "data") {
                let d = get(&t, &format!("/v1/compliance/apps/projects/{id}"), "")?;
                assert!(d["description"].is_string());
                let a = get(&t, &format!("/v1/compliance/apps/projects/{id}/attachments"), "")?;
                for doc in ids(&a, "data") {
                    let body = get(&t, &format!("/v1/compliance/apps/projects/documents/{doc}"), "")?;
                    assert!(body["content"].as_str().is_some_and(|c| !c.is_empty()));
                    docs.insert(doc);
                }
                projects.insert(id);
            }
            match v["next_page"].as_str() {
                Some(p) => q = format!("limit=100&page={p}"),
                None => break,
            }
        }
        assert_eq!(projects, e.projects);
        assert_eq!(docs, e.project_documents);
        Ok(())
    }
}
