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
    /// The activities job's self-audit heartbeat (our own requests seen in the feed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_audit: Option<crate::streams::activities::Heartbeat>,
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
        let self_audit = (stream == crate::streams::activities::SPEC.name)
            .then(|| cp.get("stream").and_then(|s| s.get("heartbeat")).cloned())
            .flatten()
            .and_then(|h| serde_json::from_value(h).ok());
        out.push(JobStatus {
            job: key.clone(),
            stream,
            last_commit_at: js.last_commit_at,
            last_run_id: js.last_run_id.clone(),
            records_written: js.records_written,
            head_seq: js.head.as_ref().map(|h| h.seq),
            walk_in_progress: cp.get("walk").is_some_and(|w| !w.is_null()),
            quarantine,
            self_audit,
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

/// The heartbeat of the activities job that committed last (a changed filter starts a new job
/// key; the old job's state stays behind).
pub fn self_audit(jobs: &[JobStatus]) -> Option<&crate::streams::activities::Heartbeat> {
    jobs.iter().filter(|j| j.self_audit.is_some()).max_by_key(|j| j.last_commit_at).and_then(|j| j.self_audit.as_ref())
}

/// The self-audit line of `status`: whether our own requests still show up in the activity feed.
pub fn self_audit_line(jobs: &[JobStatus], now: Timestamp) -> String {
    let Some(hb) = self_audit(jobs) else {
        return "self-audit: no heartbeat yet (the activities job has not walked a page)".into();
    };
    if let Some(why) = &hb.off {
        return format!("self-audit: off ({why})");
    }
    let ago = |t: Timestamp| {
        let m = (now.0 - t.0).num_minutes().max(0);
        if m < 120 {
            format!("{m} min ago")
        } else {
            format!("{:.1} h ago", m as f64 / 60.0)
        }
    };
    match (&hb.api_key_id, hb.last_seen) {
        (Some(k), Some(t)) => format!(
            "self-audit: our key {k}: newest own request in the activity feed at {} ({}); {} probe(s) pending",
            t.to_rfc3339(),
            ago(t),
            hb.probes.len()
        ),
        _ => format!(
            "self-audit: none of our requests seen in the activity feed yet (first probe {}; {} pending)",
            hb.since.map(|t| format!("{} ({})", t.to_rfc3339(), ago(t))).unwrap_or_else(|| "?".into()),
            hb.probes.len()
        ),
    }
}
