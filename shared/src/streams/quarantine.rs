//! Quarantine entries, shared by every stream that skips a poisoned item instead of wedging
//! (`chat_messages`: a chat; `project_details`: a project; content objects: an artifact or a
//! generated file): what failed, how, how often, and when it is tried again. Each stream keeps its
//! entries in its own checkpoint (bounded) with what it needs to try again (`payload`); `status`
//! lists them, and the `QuarantinedItems` metric counts them.

use super::SyncError;
use crate::api::ApiError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// One quarantined item. `payload`'s fields are stored beside the common ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry<T> {
    pub item: String,
    pub endpoint: String,
    pub status: Option<u16>,
    pub error: String,
    #[serde(default)]
    pub retryable: bool,
    pub attempts: u32,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub next_retry: Timestamp,
    #[serde(flatten)]
    pub payload: T,
}

/// How an attempt failed, as an entry keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub status: Option<u16>,
    pub error: String,
    pub retryable: bool,
}

impl Failure {
    pub fn api(e: &ApiError) -> Self {
        Failure { status: e.status(), error: short_error(e.to_string()), retryable: e.is_retryable() }
    }

    pub fn sync(e: &SyncError) -> Self {
        match e {
            SyncError::Api(a) => Failure::api(a),
            other => Failure { status: None, error: short_error(other.to_string()), retryable: other.is_retryable() },
        }
    }
}

/// What [`record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Another attempt of an item already held.
    Again,
    /// A new entry.
    New,
    /// A new item, but the quarantine holds `max` entries: nothing recorded (the stream decides:
    /// stop with an operator message, or give the oldest up).
    Full,
}

/// Records a failed attempt of `item`: another attempt of the entry held (its payload replaced by
/// `payload` when `replace(held, new)`), or a new entry while fewer than `max` are held.
#[allow(clippy::too_many_arguments)]
pub fn record<T>(
    list: &mut Vec<Entry<T>>,
    max: usize,
    item: &str,
    endpoint: impl FnOnce() -> String,
    f: Failure,
    base: std::time::Duration,
    payload: T,
    replace: impl FnOnce(&T, &T) -> bool,
) -> Recorded {
    let now = Timestamp::now();
    if let Some(q) = list.iter_mut().find(|q| q.item == item) {
        q.attempts += 1;
        q.last_seen = now;
        q.status = f.status;
        q.error = f.error;
        q.retryable = f.retryable;
        q.next_retry = next_retry(now, q.attempts, base);
        if replace(&q.payload, &payload) {
            q.payload = payload;
        }
        return Recorded::Again;
    }
    if list.len() >= max {
        return Recorded::Full;
    }
    list.push(Entry {
        item: item.to_string(),
        endpoint: endpoint(),
        status: f.status,
        error: f.error,
        retryable: f.retryable,
        attempts: 1,
        first_seen: now,
        last_seen: now,
        next_retry: next_retry(now, 1, base),
        payload,
    });
    Recorded::New
}

/// An error as a quarantine entry keeps it: at most 300 characters.
pub fn short_error(mut s: String) -> String {
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// When a quarantined item is tried again: `base` (default 5 min), doubling per attempt, at most 6 h.
pub fn next_retry(now: Timestamp, attempts: u32, base: std::time::Duration) -> Timestamp {
    let ms = (base.as_millis() as i64).saturating_mul(1i64 << attempts.saturating_sub(1).min(10));
    Timestamp(now.0 + chrono::Duration::milliseconds(ms.min(6 * 3600 * 1000)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct P {
        task: u32,
    }

    #[test]
    fn entries_count_attempts_keep_the_newest_payload_and_are_bounded() {
        let f = |s| Failure { status: Some(s), error: "HTTP".into(), retryable: false };
        let base = std::time::Duration::from_secs(300);
        let mut q: Vec<Entry<P>> = Vec::new();
        let newer = |a: &P, b: &P| b.task > a.task;
        assert_eq!(record(&mut q, 2, "a", || "/a".into(), f(403), base, P { task: 1 }, newer), Recorded::New);
        assert_eq!(record(&mut q, 2, "a", || "/a".into(), f(500), base, P { task: 3 }, newer), Recorded::Again);
        assert_eq!(record(&mut q, 2, "a", || "/a".into(), f(500), base, P { task: 2 }, newer), Recorded::Again);
        assert_eq!((q[0].attempts, q[0].status, q[0].payload.task), (3, Some(500), 3));
        assert_eq!(record(&mut q, 2, "b", || "/b".into(), f(403), base, P { task: 1 }, newer), Recorded::New);
        assert_eq!(record(&mut q, 2, "c", || "/c".into(), f(403), base, P { task: 1 }, newer), Recorded::Full);
        assert_eq!(q.len(), 2);
        // the payload's fields sit beside the common ones (the stored form of earlier versions)
        let v = serde_json::to_value(&q[1]).unwrap();
        assert_eq!(v["task"], json!(1));
        assert_eq!(v["item"], json!("b"));
        let mut old = v.clone();
        old.as_object_mut().unwrap().remove("retryable");
        let back: Entry<P> = serde_json::from_value(old).unwrap();
        assert!(!back.retryable, "entries written without `retryable` read as terminal");
    }

    #[test]
    fn retry_cadence_backs_off_to_six_hours() {
        let now = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
        let mins = |a| (next_retry(now, a, std::time::Duration::from_secs(300)).0 - now.0).num_minutes();
        assert_eq!((mins(1), mins(2), mins(3)), (5, 10, 20));
        assert_eq!(mins(30), 360);
    }
}
