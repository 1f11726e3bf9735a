//! `compliance-lake status`: every job's committed position and what it holds in quarantine, read
//! from the state store alone (no API calls).

use crate::store::{StateStore, StoreError};
use crate::streams::segment::JobState;
use crate::time::Timestamp;
use serde::Serialize;
use serde_json::Value;

/// One job as its state document tells it.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub job: String,
    pub stream: String,
    pub last_commit_at: Option<Timestamp>,
    pub last_run_id: Option<String>,
    pub records_written: u64,
    pub head_seq: Option<u64>,
    /// Unfinished walk (a deadline continuation or a crash will resume it).
    pub walk_in_progress: bool,
    pub quarantine: Vec<QuarantineEntry>,
}

/// One quarantined item, as the owning job recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineEntry {
    pub item: String,
    pub endpoint: String,
    pub status: Option<u64>,
    pub error: String,
    pub attempts: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub next_retry: Option<String>,
}

fn is_job_key(key: &str) -> bool {
    crate::streams::specs().any(|s| key == s.name || key.starts_with(&format!("{}/", s.name)))
}

/// The jobs of a state store, sorted by key (per-item marks and bookkeeping documents skipped).
pub async fn collect(state: &dyn StateStore) -> Result<Vec<JobStatus>, StoreError> {
    let mut out = Vec::new();
    for key in state.keys("").await? {
        if !is_job_key(&key) {
            continue;
        }
        let Some(doc) = state.load(&key).await? else { continue };
        let Ok(js) = serde_json::from_value::<JobState>(doc.value) else { continue };
        let stream = key.split('/').next().unwrap_or(&key).to_string();
        let cp = &js.checkpoint;
        let quarantine = cp
            .get("quarantine")
            .or_else(|| cp.get("stream").and_then(|s| s.get("quarantine")))
            .and_then(Value::as_array)
            .into_iter()
            // chat_messages shards also hold content items (artifacts, generated files)
            .chain(cp.get("content_quarantine").and_then(Value::as_array))
            .flat_map(|a| a.iter().map(entry))
            .collect();
        out.push(JobStatus {
            job: key.clone(),
            stream,
            last_commit_at: js.last_commit_at,
            last_run_id: js.last_run_id.clone(),
            records_written: js.records_written,
            head_seq: js.head.as_ref().map(|h| h.seq),
            walk_in_progress: cp.get("walk").is_some_and(|w| !w.is_null()),
            quarantine,
        });
    }
    out.sort_by(|a, b| a.job.cmp(&b.job));
    Ok(out)
}

fn entry(q: &Value) -> QuarantineEntry {
    let s = |k: &str| q.get(k).and_then(Value::as_str).map(str::to_string);
    QuarantineEntry {
        item: s("item").unwrap_or_default(),
        endpoint: s("endpoint").unwrap_or_default(),
        status: q.get("status").and_then(Value::as_u64),
        error: s("error").unwrap_or_default(),
        attempts: q.get("attempts").and_then(Value::as_u64).unwrap_or(0),
        first_seen: s("first_seen"),
        last_seen: s("last_seen"),
        next_retry: s("next_retry"),
    }
}
