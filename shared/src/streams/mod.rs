//! Streams: one module per API stream. Each declares its pagination family, order, checkpoint and
//! overlap ([`StreamSpec`]), and shares one paginator ([`crate::api::Paginator`]) and one checkpoint
//! protocol ([`segment::Segment`]): data is written first, the checkpoint advances after, in one
//! conditional save, and a crashed segment is rewritten under the same object names.

pub mod activities;
pub mod chats;
pub mod dlp;
pub mod failpoints;
pub mod organizations;
pub mod projects;
pub mod segment;
pub mod users;

pub use failpoints::FailPoints;

use crate::api::{ApiClient, ApiError, CallStats};
use crate::store::{ObjectSink, StateStore, StoreError, Table};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a stream is, declared once: used by the engine, the docs and `_ingest`.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub tables: &'static [Table],
    pub family: &'static str,
    pub order: &'static str,
    pub sync: &'static str,
    pub checkpoint: &'static str,
}

pub const STREAMS: [&StreamSpec; 5] =
    [&organizations::SPEC, &users::SPEC, &activities::SPEC, &chats::SPEC, &projects::SPEC];

/// One unit of work: what the scheduler enqueues and a worker runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "stream", rename_all = "snake_case")]
pub enum Job {
    Organizations,
    Users { org_uuid: String },
    Activities,
    Chats,
    Projects,
}

impl Job {
    pub fn stream(&self) -> &'static str {
        match self {
            Job::Organizations => "organizations",
            Job::Users { .. } => "users",
            Job::Activities => "activities",
            Job::Chats => "chats",
            Job::Projects => "projects",
        }
    }

    /// The state key of this job. Filters are part of it: a different filter is a different stream
    /// position, so changing `--org-ids` never reuses (or corrupts) another filter's checkpoint.
    pub fn key(&self, cfg: &SyncConfig) -> String {
        let f = |parts: &[&Vec<String>]| -> String {
            if parts.iter().all(|p| p.is_empty()) {
                String::new()
            } else {
                use sha2::{Digest, Sha256};
                let mut h = Sha256::new();
                for p in parts {
                    let mut v = (*p).clone();
                    v.sort();
                    h.update(v.join(",").as_bytes());
                    h.update(b"|");
                }
                format!("/f-{}", &hex::encode(h.finalize())[..10])
            }
        };
        match self {
            Job::Organizations => "organizations".into(),
            Job::Users { org_uuid } => format!("users/{org_uuid}"),
            Job::Activities => format!("activities{}", f(&[&cfg.org_ids, &cfg.exclude_activity_types])),
            Job::Chats => format!("chats{}", f(&[&cfg.org_ids, &cfg.user_ids, &cfg.project_ids])),
            Job::Projects => format!("projects{}", f(&[&cfg.org_ids, &cfg.user_ids])),
        }
    }
}

/// Settings of a sync, shared by every job.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// First-run start for activities and chats (and project filter); `None` = each stream's default
    /// (activities: 90-day lookback; chats: now, as Monad does).
    pub backfill_start: Option<Timestamp>,
    pub activity_lookback: chrono::Duration,
    /// Re-read this far behind the watermark: late-indexed events land behind newer ones.
    pub activity_overlap: chrono::Duration,
    pub project_overlap: chrono::Duration,
    pub org_ids: Vec<String>,
    pub user_ids: Vec<String>,
    pub project_ids: Vec<String>,
    pub exclude_activity_types: Vec<String>,
    pub activity_page_size: u32,
    pub chat_page_size: u32,
    pub message_page_size: u32,
    pub user_page_size: u32,
    pub project_page_size: u32,
    /// A segment commits (objects written, checkpoint advanced) once this many records are buffered.
    pub max_records_per_segment: usize,
    pub message_concurrency: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            backfill_start: None,
            activity_lookback: chrono::Duration::days(90),
            activity_overlap: chrono::Duration::minutes(10),
            project_overlap: chrono::Duration::minutes(10),
            org_ids: vec![],
            user_ids: vec![],
            project_ids: vec![],
            exclude_activity_types: vec![],
            activity_page_size: 1000,
            chat_page_size: 200,
            message_page_size: 1000,
            user_page_size: 1000,
            project_page_size: 100,
            max_records_per_segment: 20_000,
            message_concurrency: 4,
        }
    }
}

/// Errors of one job, classified so a queue can redeliver what may succeed later.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("encoding output failed: {0}")]
    Encode(String),
    #[error("injected failure at {0} (fail point)")]
    Injected(String),
    #[error("deadline reached; progress saved, continue with a new job")]
    Deadline,
}

impl SyncError {
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::Api(e) => e.is_retryable(),
            SyncError::Store(e) => e.is_retryable(),
            SyncError::Encode(_) => false,
            SyncError::Injected(_) | SyncError::Deadline => true,
        }
    }
}

/// Live counters of one job, read by progress bars and the summary.
#[derive(Debug, Default)]
pub struct JobStats {
    pub calls: CallStats,
    pub pages: AtomicU64,
    pub records: Mutex<BTreeMap<Table, u64>>,
    pub skipped_duplicates: AtomicU64,
    pub segments: AtomicU64,
}

impl JobStats {
    pub fn add_records(&self, t: Table, n: u64) {
        *self.records.lock().unwrap_or_else(|p| p.into_inner()).entry(t).or_default() += n;
    }
    pub fn records(&self) -> BTreeMap<Table, u64> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn total_records(&self) -> u64 {
        self.records().values().sum()
    }
    pub fn page(&self) {
        self.pages.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything a job needs, built once per run.
#[derive(Clone)]
pub struct JobContext {
    pub client: ApiClient,
    pub sink: Arc<dyn ObjectSink>,
    pub state: Arc<dyn StateStore>,
    pub cfg: Arc<SyncConfig>,
    pub run_id: String,
    pub failpoints: FailPoints,
    /// The instant this run treats as "now" (first-run defaults, partition dates).
    pub now: Timestamp,
    /// Stop starting new segments after this (Lambda deadline); `None` = no limit.
    pub deadline: Option<tokio::time::Instant>,
    /// DLP at ingest; `None` switches scanning off.
    pub dlp: Option<Arc<dlp::DlpContext>>,
    /// DLP alerts after each commit (`shared::alerts`); `None` = off.
    pub alerts: Option<Arc<crate::alerts::Alerts>>,
}

impl JobContext {
    pub fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| tokio::time::Instant::now() >= d)
    }
}

/// What a finished job hands back to the engine.
#[derive(Debug, Default)]
pub struct JobOutput {
    /// Organizations listed (only the organizations job fills it; the scheduler fans out on it).
    pub org_uuids: Vec<String>,
}

/// Provenance attached to every record as `_ingest`.
#[derive(Debug, Clone, Serialize)]
pub struct Ingest<'a> {
    pub run_id: &'a str,
    pub fetched_at: String,
    pub stream: &'a str,
    pub endpoint: &'a str,
    pub job: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
}

impl<'a> Ingest<'a> {
    /// Provenance of records fetched now by one request of a job.
    pub fn new(
        ctx: &'a JobContext,
        stream: &'a str,
        endpoint: &'a str,
        job: &'a str,
        request_id: Option<&'a str>,
    ) -> Self {
        Ingest { run_id: &ctx.run_id, fetched_at: Timestamp::now().to_rfc3339(), stream, endpoint, job, request_id }
    }
}

/// Adds context fields (only where the API object does not already have them) and `_ingest`.
pub fn enrich(mut record: Value, context: &[(&str, Value)], ingest: &Ingest<'_>) -> Value {
    if let Value::Object(m) = &mut record {
        for (k, v) in context {
            if !m.contains_key(*k) {
                m.insert((*k).to_string(), v.clone());
            }
        }
        m.insert("_ingest".into(), serde_json::to_value(ingest).unwrap_or(Value::Null));
    }
    record
}

pub fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

pub fn ts_field(v: &Value, k: &str) -> Option<Timestamp> {
    str_field(v, k).and_then(|s| Timestamp::parse(s).ok())
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Runs one job to completion (or deadline).
pub async fn run_job(ctx: &JobContext, job: &Job, stats: &JobStats) -> Result<JobOutput, SyncError> {
    match job {
        Job::Organizations => organizations::run(ctx, stats).await,
        Job::Users { org_uuid } => users::run(ctx, org_uuid, stats).await.map(|_| JobOutput::default()),
        Job::Activities => activities::run(ctx, stats).await.map(|_| JobOutput::default()),
        Job::Chats => chats::run(ctx, stats).await.map(|_| JobOutput::default()),
        Job::Projects => projects::run(ctx, stats).await.map(|_| JobOutput::default()),
    }
}
