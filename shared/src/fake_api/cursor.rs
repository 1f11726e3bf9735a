//! Opaque cursors and page tokens, encoded like the live API (spec §4.1), plus the generic
//! paging helpers shared by the endpoint handlers.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::synthetic::ids::ts_offset;

/// Decode base64 in any of the common alphabets/paddings.
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    for engine in [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD, &STANDARD_NO_PAD] {
        if let Ok(v) = engine.decode(s) {
            return Some(v);
        }
    }
    None
}

fn decode_json(s: &str) -> Option<serde_json::Map<String, Value>> {
    let bytes = b64_decode(s)?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Activities cursor: base64url (no padding) of `{"id": …, "created_at": "…+00:00"}`.
pub fn encode_activity(created_at: DateTime<Utc>, id: &str) -> String {
    let raw = format!("{{\"id\": {}, \"created_at\": {}}}", json_str(id), json_str(&ts_offset(created_at)));
    URL_SAFE_NO_PAD.encode(raw)
}

pub fn decode_activity(s: &str) -> Option<(DateTime<Utc>, String)> {
    let m = decode_json(s)?;
    let id = m.get("id")?.as_str()?.to_string();
    let t = parse_ts(m.get("created_at")?.as_str()?)?;
    Some((t, id))
}

/// True for a raw, well-formed activity id (accepted as a legacy cursor).
pub fn is_activity_id(s: &str) -> bool {
    s.strip_prefix("activity_").is_some_and(|rest| rest.len() >= 10 && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Chats cursor: base64 (padded) of `{"k": "<order_by>", "t": "…+00:00", "id": "<chat uuid>"}`.
pub fn encode_chat(k: &str, t: DateTime<Utc>, uuid: &str) -> String {
    let raw = format!("{{\"k\": {}, \"t\": {}, \"id\": {}}}", json_str(k), json_str(&ts_offset(t)), json_str(uuid));
    STANDARD.encode(raw)
}

/// Returns `(k, t, uuid)`.
pub fn decode_chat(s: &str) -> Option<(String, DateTime<Utc>, String)> {
    let m = decode_json(s)?;
    let k = m.get("k")?.as_str()?.to_string();
    let t = parse_ts(m.get("t")?.as_str()?)?;
    let id = m.get("id")?.as_str()?.to_string();
    Some((k, t, id))
}

/// Messages cursor: base64 (padded) of `{"msg_uuid": "<uuid>"}`.
pub fn encode_message(uuid: &str) -> String {
    STANDARD.encode(format!("{{\"msg_uuid\": {}}}", json_str(uuid)))
}

pub fn decode_message(s: &str) -> Option<String> {
    let m = decode_json(s)?;
    Some(m.get("msg_uuid")?.as_str()?.to_string())
}

/// Page token for the page-token family, bound to a `scope` (endpoint + parent id).
/// `key` is the sort key of the last item returned (keyset paging).
pub fn encode_page(scope: &str, key: &str) -> String {
    STANDARD.encode(format!("page_token:{scope}:{key}"))
}

pub fn decode_page(scope: &str, token: &str) -> Option<String> {
    let bytes = b64_decode(token)?;
    let s = String::from_utf8(bytes).ok()?;
    let rest = s.strip_prefix("page_token:")?;
    let key = rest.strip_prefix(scope)?.strip_prefix(':')?;
    Some(key.to_string())
}

/// Direction-aware cursor paging over `items`, which must be sorted **ascending** by `key`.
///
/// * `after`: items strictly after the cursor in result order, first `limit` of them.
/// * `before`: items strictly before the cursor in result order, the `limit` nearest to it.
///
/// Returns the page (in result order) and `has_more` (more items beyond the page in the
/// direction of travel).
pub fn cursor_page<T, K: Ord>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    desc: bool,
    after: Option<K>,
    before: Option<K>,
    limit: usize,
) -> (Vec<T>, bool) {
    let mut v = items;
    if desc {
        v.reverse();
    }
    // "a comes after c in result order"
    let after_pred = |k: &K, c: &K| if desc { k < c } else { k > c };
    if let Some(c) = after {
        let rest: Vec<T> = v.into_iter().filter(|x| after_pred(&key(x), &c)).collect();
        let has_more = rest.len() > limit;
        let page = rest.into_iter().take(limit).collect();
        (page, has_more)
    } else if let Some(c) = before {
        let mut prefix: Vec<T> = v
            .into_iter()
            .filter(|x| {
                let k = key(x);
                k != c && !after_pred(&k, &c)
            })
            .collect();
        let start = prefix.len().saturating_sub(limit);
        let page = prefix.split_off(start);
        (page, start > 0)
    } else {
        let has_more = v.len() > limit;
        v.truncate(limit);
        (v, has_more)
    }
}

/// Keyset paging for the page-token family: `items` sorted ascending by their string key.
pub fn token_page<T>(items: Vec<(String, T)>, after_key: Option<&str>, limit: usize) -> (Vec<T>, Option<String>) {
    let rest: Vec<(String, T)> = items.into_iter().filter(|(k, _)| after_key.is_none_or(|a| k.as_str() > a)).collect();
    let has_more = rest.len() > limit;
    let mut page = Vec::new();
    let mut last = None;
    for (k, v) in rest.into_iter().take(limit) {
        last = Some(k);
        page.push(v);
    }
    (page, if has_more { last } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let t = Utc::now();
        let t = crate::synthetic::ids::trunc_micros(t);
        let c = encode_activity(t, "activity_01abc");
        assert_eq!(decode_activity(&c), Some((t, "activity_01abc".to_string())));
        let c = encode_chat("updated_at", t, "u-1");
        assert_eq!(decode_chat(&c), Some(("updated_at".into(), t, "u-1".into())));
        assert!(c.ends_with('=') || c.len().is_multiple_of(4));
        assert_eq!(decode_message(&encode_message("m")), Some("m".into()));
        let p = encode_page("orgs", "k|1");
        assert_eq!(decode_page("orgs", &p).as_deref(), Some("k|1"));
        assert_eq!(decode_page("users:x", &p), None);
    }

    #[test]
    fn paging() {
        let items: Vec<u32> = (1..=10).collect();
        let (p, more) = cursor_page(items.clone(), |x| *x, false, None, None, 3);
        assert_eq!((p, more), (vec![1, 2, 3], true));
        let (p, more) = cursor_page(items.clone(), |x| *x, false, Some(8), None, 3);
        assert_eq!((p, more), (vec![9, 10], false));
        let (p, more) = cursor_page(items.clone(), |x| *x, false, None, Some(5), 3);
        assert_eq!((p, more), (vec![2, 3, 4], true));
        let (p, more) = cursor_page(items.clone(), |x| *x, true, None, None, 3);
        assert_eq!((p, more), (vec![10, 9, 8], true));
        let (p, more) = cursor_page(items.clone(), |x| *x, true, Some(8), None, 3);
        assert_eq!((p, more), (vec![7, 6, 5], true));
        let (p, more) = cursor_page(items.clone(), |x| *x, true, None, Some(5), 3);
        assert_eq!((p, more), (vec![8, 7, 6], true));
        let (p, more) = cursor_page(items, |x| *x, true, None, Some(8), 3);
        assert_eq!((p, more), (vec![10, 9], false));
    }
}
