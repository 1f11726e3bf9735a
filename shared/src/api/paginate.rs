//! One paginator per pagination family, resumable from a stored position.
//!
//! - Cursor family (activities, chats, chat messages): `after_id` = the previous page's `last_id`;
//!   response `has_more`, `first_id`, `last_id` (null on empty pages).
//! - Page-token family (organizations, users, projects, attachments, …): `page` = `next_page`;
//!   response `has_more` (absent on session endpoints) and `next_page`.
//!
//! Only `has_more` / `next_page` end a walk: pages may be short, even empty, while more follow.
//! The position is taken from the *last* page fetched, never the first (Elastic's PR #21062 bug).

use super::client::{ApiClient, CallStats};
use super::error::ApiError;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `items` is the array field: `data`, or `chat_messages` on the messages endpoint.
    Cursor {
        items: &'static str,
    },
    PageToken,
}

/// One page, with everything else the envelope carried (the chat object on the messages endpoint).
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Value>,
    pub envelope: Map<String, Value>,
    pub request_id: Option<String>,
    /// Where the walk continues from after this page (`None` = nowhere new).
    pub position: Option<String>,
    pub done: bool,
}

/// The pure part: given a decoded response, what are the items, the next position, and are we done?
pub fn interpret(family: Family, mut body: Value, prev: Option<&str>, path: &str) -> Result<Page, ApiError> {
    let malformed = |reason: String| ApiError::Malformed { path: path.to_string(), reason, request_id: None };
    let obj = body.as_object_mut().ok_or_else(|| malformed("not an object".into()))?;
    let items_key = match family {
        Family::Cursor { items } => items,
        Family::PageToken => "data",
    };
    let items = match obj.remove(items_key) {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => return Err(malformed(format!("`{items_key}` is {} not an array", type_name(&other)))),
    };
    let has_more = match obj.get("has_more") {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::Null) | None => None,
        Some(other) => return Err(malformed(format!("`has_more` is {}", type_name(other)))),
    };
    let (position, done) = match family {
        Family::Cursor { .. } => {
            let last = obj.get("last_id").and_then(Value::as_str).map(str::to_string);
            let more = has_more.unwrap_or(false);
            let position = last.clone().or_else(|| prev.map(str::to_string));
            if more && (last.is_none() || last.as_deref() == prev) {
                return Err(malformed("has_more is true but last_id did not move; refusing to loop".into()));
            }
            (position, !more)
        }
        Family::PageToken => {
            let next = obj.get("next_page").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            match (has_more, &next) {
                (Some(true), None) => return Err(malformed("has_more is true but next_page is null".into())),
                (_, Some(n)) if Some(n.as_str()) == prev => {
                    return Err(malformed("next_page repeats the token just used; refusing to loop".into()))
                }
                (Some(false), _) | (None, None) => (None, true),
                _ => (next, false),
            }
        }
    };
    obj.remove("has_more");
    obj.remove("first_id");
    obj.remove("last_id");
    obj.remove("next_page");
    Ok(Page { items, envelope: std::mem::take(obj), request_id: None, position, done })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A resumable walk over one listing.
#[derive(Debug)]
pub struct Paginator {
    family: Family,
    path: String,
    query: Vec<(String, String)>,
    position: Option<String>,
    done: bool,
    pages: u64,
}

impl Paginator {
    /// `start` is a stored position (a cursor or page token) to resume from, or `None` for the first page.
    pub fn new(family: Family, path: impl Into<String>, query: Vec<(String, String)>, start: Option<String>) -> Self {
        Paginator { family, path: path.into(), query, position: start, done: false, pages: 0 }
    }

    pub fn position(&self) -> Option<&str> {
        self.position.as_deref()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn pages(&self) -> u64 {
        self.pages
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query of the next request (for provenance and tests).
    pub fn next_query(&self) -> Vec<(String, String)> {
        let mut q = self.query.clone();
        if let Some(p) = &self.position {
            let key = match self.family {
                Family::Cursor { .. } => "after_id",
                Family::PageToken => "page",
            };
            q.push((key.to_string(), p.clone()));
        }
        q
    }

    /// Fetches the next page, or `None` when the walk is over. A failed request leaves the position
    /// where it was, so the same call can be retried.
    pub async fn next_page(&mut self, client: &ApiClient, stats: &CallStats) -> Result<Option<Page>, ApiError> {
        if self.done {
            return Ok(None);
        }
        let resp = client.get_json(&self.path, &self.next_query(), stats).await?;
        let mut page =
            interpret(self.family, resp.body, self.position.as_deref(), &self.path).map_err(|e| match e {
                ApiError::Malformed { path, reason, .. } => {
                    ApiError::Malformed { path, reason, request_id: resp.request_id.clone() }
                }
                e => e,
            })?;
        page.request_id = resp.request_id;
        self.pages += 1;
        self.done = page.done;
        if page.position.is_some() {
            self.position = page.position.clone();
        }
        Ok(Some(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const C: Family = Family::Cursor { items: "data" };

    #[test]
    fn cursor_short_pages_continue_until_has_more_false() {
        let p =
            interpret(C, json!({"data": [{"id": 1}], "has_more": true, "first_id": "a", "last_id": "b"}), None, "/x")
                .unwrap();
        assert_eq!((p.items.len(), p.position.as_deref(), p.done), (1, Some("b"), false));
        let p =
            interpret(C, json!({"data": [], "has_more": false, "first_id": null, "last_id": null}), Some("b"), "/x")
                .unwrap();
        assert_eq!((p.position.as_deref(), p.done), (Some("b"), true), "empty last page keeps the previous cursor");
    }

    #[test]
    fn cursor_refuses_to_loop() {
        assert!(interpret(C, json!({"data": [], "has_more": true, "last_id": null}), Some("b"), "/x").is_err());
        assert!(interpret(C, json!({"data": [{}], "has_more": true, "last_id": "b"}), Some("b"), "/x").is_err());
    }

    #[test]
    fn messages_envelope_keeps_chat_fields() {
        let f = Family::Cursor { items: "chat_messages" };
        let p = interpret(f, json!({"id": "claude_chat_1", "name": "n", "chat_messages": [{"id": "m"}], "has_more": false, "first_id": "x", "last_id": "y"}), None, "/m").unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.envelope.get("id"), Some(&json!("claude_chat_1")));
        assert!(p.envelope.get("has_more").is_none());
    }

    #[test]
    fn page_token_rules() {
        let f = Family::PageToken;
        let p = interpret(f, json!({"data": [], "has_more": true, "next_page": "t2"}), Some("t1"), "/u").unwrap();
        assert_eq!((p.position.as_deref(), p.done), (Some("t2"), false), "empty page with more to come");
        let p = interpret(f, json!({"data": [{}], "has_more": false, "next_page": null}), None, "/u").unwrap();
        assert!(p.done);
        // sessions: no has_more, next_page decides
        let p = interpret(f, json!({"data": [{}], "next_page": "t3"}), None, "/s").unwrap();
        assert!(!p.done);
        let p = interpret(f, json!({"data": [{}], "next_page": null}), None, "/s").unwrap();
        assert!(p.done);
        assert!(interpret(f, json!({"data": [], "has_more": true, "next_page": null}), None, "/u").is_err());
        assert!(interpret(f, json!({"data": "x"}), None, "/u").is_err());
    }
}
