//! Session endpoints of the fake (spec §7.15, §7.16, §12.15): local and remote session lists
//! (`created_at` desc, `{data, next_page}` without `has_more`, `order`/`order_by` rejected as
//! unknown), transcripts with `tool_use_input_max_bytes` / `tool_result_max_bytes` (default 10 000,
//! −1 = server max, 0 rejected, in-band truncation suffix), page tokens bound to their request and
//! (transcripts) expiring 24 h after the walk's first page, and on a "very large" local session the
//! two large-transcript errors: 400 `transcript_page_read_limit_exceeded` and 429
//! `transcript_read_server_busy` with `retry-after` (answered once per page request).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::errors::ApiError;
use super::query::Query;
use super::routes::Reply;
use crate::synthetic::ids::ts_offset;
use crate::synthetic::sessions::{lock, SessionMessage};
use crate::synthetic::Tenant;

/// Server maximum for `tool_*_max_bytes=-1` (~1 MiB).
const SERVER_MAX_BYTES: i64 = 1024 * 1024;
/// A very large session refuses pages over this many messages.
const LARGE_PAGE_LIMIT: usize = 200;

fn token(scope: &str, key: &str, t0: DateTime<Utc>) -> String {
    let raw = json!({"s": scope, "k": key, "t0": ts_offset(t0)}).to_string();
    format!("page_{}", URL_SAFE_NO_PAD.encode(raw))
}

/// `(key, first page time)` of a token issued for `scope`.
fn untoken(scope: &str, tok: &str) -> Result<(String, DateTime<Utc>), ApiError> {
    let bad = || ApiError::invalid("The page parameter is not a valid cursor for this request.");
    let raw = tok.strip_prefix("page_").ok_or_else(bad)?;
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if v.get("s").and_then(Value::as_str) != Some(scope) {
        return Err(bad());
    }
    let key = v.get("k").and_then(Value::as_str).ok_or_else(bad)?.to_string();
    let t0 = v
        .get("t0")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)?;
    Ok((key, t0))
}

/// Keyset page over items sorted in result order by `key` (descending `created_at|id`).
fn desc_page(mut items: Vec<(String, Value)>, after: Option<&str>, limit: usize) -> (Vec<Value>, Option<String>) {
    items.sort_by(|a, b| b.0.cmp(&a.0));
    let rest: Vec<(String, Value)> = items.into_iter().filter(|(k, _)| after.is_none_or(|a| k.as_str() < a)).collect();
    let more = rest.len() > limit;
    let mut last = None;
    let mut page = Vec::new();
    for (k, v) in rest.into_iter().take(limit) {
        last = Some(k);
        page.push(v);
    }
    (page, if more { last } else { None })
}

fn envelope(data: Vec<Value>, next: Option<String>, session: Option<Value>) -> Value {
    let mut v = json!({"data": data, "next_page": next});
    if let (Some(s), Some(o)) = (session, v.as_object_mut()) {
        o.insert("session".into(), s);
    }
    v
}

fn max_bytes(q: &Query, key: &str) -> Result<i64, ApiError> {
    match q.int(key, -1, Some(2_147_483_647))? {
        None => Ok(10_000),
        Some(0) => Err(ApiError::invalid(format!("{key}: Input should be -1 or greater than 0"))),
        Some(-1) => Ok(SERVER_MAX_BYTES),
        Some(n) => Ok(n.min(SERVER_MAX_BYTES)),
    }
}

fn cut(s: &str, max: i64, param: &str) -> Option<String> {
    let max = max.max(0) as usize;
    if s.len() <= max {
        return None;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{}…[truncated; pass {param}=-1 for the server max]", &s[..end]))
}

/// Applies the byte limits to `tool_use.input` and `tool_result` texts (truncated `input` is then
/// invalid JSON, as documented).
fn limit_tools(mut msg: Value, use_max: i64, result_max: i64) -> Value {
    let Some(blocks) = msg.get_mut("content").and_then(Value::as_array_mut) else {
        return msg;
    };
    for b in blocks.iter_mut().filter_map(Value::as_object_mut) {
        match b.get("type").and_then(Value::as_str) {
            Some("tool_use") => {
                if let Some(c) =
                    b.get("input").and_then(Value::as_str).and_then(|s| cut(s, use_max, "tool_use_input_max_bytes"))
                {
                    b.insert("input".into(), json!(c));
                    b.insert("truncated".into(), json!(true));
                }
            }
            Some("tool_result") => {
                let mut any = false;
                for it in b.get_mut("content").and_then(Value::as_array_mut).into_iter().flatten() {
                    let c = it
                        .get("text")
                        .and_then(Value::as_str)
                        .and_then(|s| cut(s, result_max, "tool_result_max_bytes"));
                    if let (Some(c), Some(o)) = (c, it.as_object_mut()) {
                        o.insert("text".into(), json!(c));
                        any = true;
                    }
                }
                if any {
                    b.insert("truncated".into(), json!(true));
                }
            }
            _ => {}
        }
    }
    msg
}

fn org_ok(filter: &[String], org: &str) -> bool {
    filter.is_empty() || filter.iter().any(|f| f == org)
}

/// `GET /apps/sessions/local`.
pub fn local_list(q: &Query, t: &Tenant) -> Result<Reply, ApiError> {
    q.check_allowed(&["created_at.gte", "created_at.lt", "updated_at.gte", "limit", "page"])?;
    let limit = q.limit(100, 500)?;
    let created = q.range("created_at")?;
    let updated = q.range("updated_at")?;
    if let (Some(g), Some(l)) = (created.gte, created.lt) {
        if l <= g {
            return Err(ApiError::invalid("created_at.lt must be strictly after created_at.gte."));
        }
    }
    let scope = "sessions_local";
    // older tokens are accepted, re-evaluated against the current retention boundary
    let after = q.get("page").map(|p| untoken(scope, p)).transpose()?;
    let items: Vec<(String, Value)> = t
        .sessions
        .local
        .iter()
        .filter(|s| created.contains(s.created_at()) && updated.contains(s.updated_at))
        .map(|s| (format!("{}|{}", ts_offset(s.created_at()), s.id), s.wire(true)))
        .collect();
    let (data, next) = desc_page(items, after.as_ref().map(|(k, _)| k.as_str()), limit);
    let t0 = after.map(|(_, t0)| t0).unwrap_or(t.now);
    let mut served = lock(&t.sessions.served);
    served.local_sessions.extend(data.iter().filter_map(|v| v["id"].as_str().map(str::to_string)));
    Ok(Reply::Json(envelope(data, next.map(|k| token(scope, &k, t0)), None)))
}

/// `GET /apps/sessions/local/{id}`.
pub fn local_get(q: &Query, t: &Tenant, id: &str) -> Result<Reply, ApiError> {
    q.check_allowed(&[])?;
    check_id(id, "clls_", "local_session_id")?;
    let s = t.sessions.local_session(id).ok_or_else(|| ApiError::resource_not_found("Local session not found."))?;
    Ok(Reply::Json(s.wire(true)))
}

fn check_id(id: &str, prefix: &str, param: &str) -> Result<(), ApiError> {
    if id.strip_prefix(prefix).is_some_and(|r| r.len() >= 8) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("{param}: Invalid session ID format: '{id}'")))
    }
}

struct Transcript<'a> {
    scope: String,
    messages: &'a [SessionMessage],
    session: Value,
}

fn transcript_page(q: &Query, t: &Tenant, tr: Transcript<'_>, large: bool) -> Result<(Vec<String>, Value), ApiError> {
    q.check_allowed(&["limit", "order", "page", "tool_use_input_max_bytes", "tool_result_max_bytes"])?;
    let limit = q.limit(100, 1000)?;
    let order = q.choice("order", &["asc", "desc"], "asc")?;
    let use_max = max_bytes(q, "tool_use_input_max_bytes")?;
    let result_max = max_bytes(q, "tool_result_max_bytes")?;
    if large && (order == "desc" || limit > LARGE_PAGE_LIMIT) {
        return Err(ApiError {
            error_code: Some("transcript_page_read_limit_exceeded"),
            ..ApiError::invalid("Transcript page too large. Read this session oldest-first with a smaller page.")
        });
    }
    let scope = format!("{}:{order}", tr.scope);
    let after = match q.get("page") {
        None => None,
        Some(p) => {
            let (key, t0) = untoken(&scope, p)?;
            if t.now - t0 > Duration::hours(t.sessions.page_token_ttl_hours) {
                return Err(ApiError::invalid(
                    "The page cursor has expired. Restart the walk without a page parameter; results will reflect the current retention boundary.",
                ));
            }
            let at = tr
                .messages
                .iter()
                .position(|m| m.id == key)
                .ok_or_else(|| ApiError::invalid("The page parameter is not a valid cursor for this request."))?;
            Some((at, t0))
        }
    };
    if large {
        let key = format!("{scope}|{}|{limit}", q.get("page").unwrap_or(""));
        if lock(&t.sessions.served).busy_answered.insert(key) {
            return Err(ApiError {
                error_code: Some("transcript_read_server_busy"),
                ..ApiError::new(429, "rate_limit_error", "The server is busy reading this transcript. Retry after the time indicated by the retry-after header.")
            }
            .with_header("retry-after", t.sessions.busy_retry_after.clone()));
        }
    }
    let mut order_idx: Vec<usize> = (0..tr.messages.len()).collect();
    if order == "desc" {
        order_idx.reverse();
    }
    let start = match after {
        None => 0,
        Some((at, _)) => order_idx.iter().position(|i| *i == at).map(|p| p + 1).unwrap_or(order_idx.len()),
    };
    let page: Vec<usize> = order_idx[start..].iter().take(limit).copied().collect();
    let more = start + page.len() < order_idx.len();
    let t0 = after.map(|(_, t0)| t0).unwrap_or(t.now);
    let next = if more { page.last().map(|i| token(&scope, &tr.messages[*i].id, t0)) } else { None };
    let data: Vec<Value> =
        page.iter().map(|i| limit_tools(tr.messages[*i].wire.clone(), use_max, result_max)).collect();
    let ids: Vec<String> = data.iter().filter_map(|v| v["id"].as_str().map(str::to_string)).collect();
    Ok((ids, envelope(data, next, Some(tr.session))))
}

/// `GET /apps/sessions/local/{id}/messages`.
pub fn local_messages(q: &Query, t: &Tenant, id: &str) -> Result<Reply, ApiError> {
    check_id(id, "clls_", "local_session_id")?;
    let s = t.sessions.local_session(id).ok_or_else(|| ApiError::resource_not_found("Local session not found."))?;
    let tr = Transcript { scope: format!("local_msgs:{id}"), messages: &s.messages, session: s.wire(false) };
    let (ids, body) = transcript_page(q, t, tr, s.very_large)?;
    lock(&t.sessions.served).local_messages.extend(ids);
    Ok(Reply::Json(body))
}

/// `GET /apps/sessions/remote`.
pub fn remote_list(q: &Query, t: &Tenant) -> Result<Reply, ApiError> {
    q.check_allowed(&[
        "created_at.gt",
        "created_at.gte",
        "created_at.lt",
        "created_at.lte",
        "organization_ids[]",
        "user_ids[]",
        "limit",
        "page",
    ])?;
    let limit = q.limit(100, 500)?;
    let created = q.range("created_at")?;
    let orgs = q.all("organization_ids[]");
    if orgs.len() > 500 {
        return Err(ApiError::invalid("organization_ids[]: List should have at most 500 items after validation"));
    }
    let users = q.all("user_ids[]");
    if users.len() > 10 {
        return Err(ApiError::invalid("user_ids[]: List should have at most 10 items after validation"));
    }
    let scope = "sessions_remote";
    let after = q.get("page").map(|p| untoken(scope, p)).transpose()?;
    let items: Vec<(String, Value)> = t
        .sessions
        .remote
        .iter()
        .filter(|s| created.contains(s.created_at) && org_ok(&orgs, &s.organization_uuid))
        .filter(|s| users.is_empty() || s.user.as_ref().is_some_and(|(u, _)| users.contains(u)))
        .map(|s| (format!("{}|{}", ts_offset(s.created_at), s.id), s.wire(true)))
        .collect();
    let (data, next) = desc_page(items, after.as_ref().map(|(k, _)| k.as_str()), limit);
    let t0 = after.map(|(_, t0)| t0).unwrap_or(t.now);
    lock(&t.sessions.served).remote_sessions.extend(data.iter().filter_map(|v| v["id"].as_str().map(str::to_string)));
    Ok(Reply::Json(envelope(data, next.map(|k| token(scope, &k, t0)), None)))
}

/// `GET /apps/sessions/remote/{id}/messages` (404 while `pending` and once deleted).
pub fn remote_messages(q: &Query, t: &Tenant, id: &str) -> Result<Reply, ApiError> {
    check_id(id, "cse_", "claude_remote_session_id")?;
    let s = t
        .sessions
        .remote_session(id)
        .filter(|s| s.status != "pending")
        .ok_or_else(|| ApiError::resource_not_found("Remote session not found."))?;
    let tr = Transcript { scope: format!("remote_msgs:{id}"), messages: &s.messages, session: s.wire(false) };
    let (ids, body) = transcript_page(q, t, tr, false)?;
    lock(&t.sessions.served).remote_messages.extend(ids);
    Ok(Reply::Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{MutationConfig, TenantConfig};

    fn json(r: Result<Reply, ApiError>) -> Value {
        match r {
            Ok(Reply::Json(v)) => v,
            Ok(_) => panic!("not json"),
            Err(e) => panic!("{} {}", e.status, e.message),
        }
    }

    #[test]
    fn local_list_rejects_order_and_pages_without_has_more() {
        let t = Tenant::generate(TenantConfig::small());
        for bad in ["order=asc", "order_by=updated_at", "created_at.gte=2026-01-01T00:00:00"] {
            let e = local_list(&Query::parse(Some(bad)), &t).expect_err(bad);
            assert_eq!(e.status, 400, "{bad}");
        }
        let mut seen = vec![];
        let mut q = "limit=2".to_string();
        loop {
            let v = json(local_list(&Query::parse(Some(&q)), &t));
            assert!(v.get("has_more").is_none());
            seen.extend(v["data"].as_array().unwrap().iter().map(|s| s["created_at"].as_str().unwrap().to_string()));
            match v["next_page"].as_str() {
                Some(p) => q = format!("limit=2&page={p}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), t.sessions.local.len());
        assert!(seen.windows(2).all(|w| w[0] >= w[1]), "created_at desc");
    }

    #[test]
    fn transcripts_limit_tools_expire_tokens_and_refuse_large_pages() {
        let mut t = Tenant::generate(TenantConfig::small());
        let id = t.sessions.local[0].id.clone();
        let v = json(local_messages(&Query::parse(None), &t, &id));
        let long =
            v["data"].as_array().unwrap().iter().find(|m| m["content"].to_string().contains("tool_use")).unwrap();
        let tu = long["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap();
        assert_eq!(tu["truncated"], true, "20k input cut at the 10 000-byte default");
        assert!(tu["input"].as_str().unwrap().ends_with("for the server max]"));
        let q = "tool_use_input_max_bytes=-1&tool_result_max_bytes=-1";
        let v = json(local_messages(&Query::parse(Some(q)), &t, &id));
        assert!(!v.to_string().contains("[truncated;"));
        assert_eq!(local_messages(&Query::parse(Some("tool_result_max_bytes=0")), &t, &id).err().unwrap().status, 400);
        let v = json(local_messages(&Query::parse(Some("limit=1")), &t, &id));
        let p = v["next_page"].as_str().unwrap().to_string();
        json(local_messages(&Query::parse(Some(&format!("limit=1&page={p}"))), &t, &id));
        let now = t.now;
        t.mutate(&MutationConfig::at(now + Duration::hours(25)));
        if t.sessions.local_session(&id).is_some() {
            let e = local_messages(&Query::parse(Some(&format!("limit=1&page={p}"))), &t, &id).err().unwrap();
            assert!(e.message.contains("expired"), "{}", e.message);
        }
        let big = t.sessions.make_very_large().unwrap();
        let e = local_messages(&Query::parse(Some("order=desc")), &t, &big).err().unwrap();
        assert_eq!((e.status, e.error_code), (400, Some("transcript_page_read_limit_exceeded")));
        let e = local_messages(&Query::parse(Some("limit=100")), &t, &big).err().unwrap();
        assert_eq!((e.status, e.error_code), (429, Some("transcript_read_server_busy")));
        json(local_messages(&Query::parse(Some("limit=100")), &t, &big));
    }
}
