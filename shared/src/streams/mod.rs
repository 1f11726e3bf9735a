//! Streams: one file per API stream, each a [`walk::Stream`] that declares what it is
//! ([`StreamSpec`]) and supplies its per-item logic. One walk driver ([`walk::run`]) runs them all
//! over one commit protocol ([`segment::Segment`]). The [`registry`] is the list planning, the CLI's
//! `--streams`, the table list and the docs read: registering a stream is its file plus one line there.

pub mod access_transparency;
pub mod activities;
pub mod artifacts;
pub mod chat_messages;
pub mod chats;
pub mod code_artifacts;
pub mod directory;
pub mod dlp;
pub mod failpoints;
pub mod local_sessions;
pub mod marks;
pub mod organizations;
pub mod project_details;
pub mod projects;
pub mod quarantine;
pub mod remote_sessions;
pub mod segment;
pub mod sessions;
pub mod shards;
pub mod transparency_checkpoints;
pub mod users;
pub mod walk;
pub mod window;

pub use failpoints::FailPoints;

use crate::api::{ApiClient, ApiError, CallStats, Family};
use crate::dlp::SourceKind;
use crate::store::{ObjectSink, StateStore, StoreError, Table};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How a stream stays in step with the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Everything, every run, written as one snapshot per (job, run).
    FullSnapshot,
    /// New records by `created_at` from a watermark, with an overlap window de-duplicated by id.
    IncrementalCreated,
    /// Changed records by `updated_at` (a listing cursor or a watermark), each version once.
    IncrementalUpdated,
}

/// Who runs a stream's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Run by the scheduler before the fan-out (its output is the fan-out list).
    Root,
    /// One job per organization.
    PerOrg,
    /// One job for the whole tenant.
    Tenant,
    /// `SyncConfig::shards` jobs that work what the `parent` stream's job hands out (chats'
    /// discovery → message fetching); selected together with the parent.
    Shards { parent: &'static str },
}

/// Sync settings that change which records a job sees, and so are part of its state key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    OrgIds,
    UserIds,
    ProjectIds,
    ExcludeActivityTypes,
}

/// What a stream is, declared once: read by the driver, planning, the CLI, the docs and `_ingest`.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    pub name: &'static str,
    /// The listing endpoint (`{org_uuid}` where the job is per organization).
    pub endpoint: &'static str,
    pub family: Family,
    pub mode: SyncMode,
    pub scope: Scope,
    /// What makes a record unique in its tables (docs; `verify` uses the same rule).
    pub identity: &'static str,
    pub tables: &'static [Table],
    /// Context fields attached to records that the API object lacks.
    pub context: &'static [&'static str],
    pub dlp: &'static [SourceKind],
    pub filters: &'static [Filter],
}

/// A stream as the engine runs it (object-safe; every [`walk::Stream`] is one).
#[async_trait::async_trait]
pub trait StreamDef: Send + Sync {
    fn spec(&self) -> &'static StreamSpec;
    async fn run(&self, ctx: &JobContext, job: &Job, stats: &JobStats) -> Result<JobOutput, SyncError>;
}

#[async_trait::async_trait]
impl<S: walk::Stream> StreamDef for S {
    fn spec(&self) -> &'static StreamSpec {
        walk::Stream::spec(self)
    }
    async fn run(&self, ctx: &JobContext, job: &Job, stats: &JobStats) -> Result<JobOutput, SyncError> {
        walk::run(self, ctx, job, stats).await
    }
}

/// Every stream, in run and report order. Registering a stream: its file, plus one line here.
pub fn registry() -> &'static [&'static dyn StreamDef] {
    &[
        &organizations::Organizations,
        &users::Users,
        &activities::Activities,
        &chats::Chats,
        &chat_messages::ChatMessages,
        &projects::Projects,
        &project_details::ProjectDetails,
        &local_sessions::STREAM,
        &remote_sessions::STREAM,
        &access_transparency::AccessTransparency,
        &transparency_checkpoints::TransparencyCheckpoints,
        &directory::roles::Roles,
        &directory::groups::Groups,
        &directory::org_settings::OrgSettings,
        &directory::project_collaborators::ProjectCollaborators,
        &code_artifacts::CodeArtifacts,
    ]
}

pub fn specs() -> impl Iterator<Item = &'static StreamSpec> {
    registry().iter().map(|s| s.spec())
}

pub fn find(name: &str) -> Option<&'static dyn StreamDef> {
    registry().iter().copied().find(|s| s.spec().name == name)
}

/// One unit of work: what the scheduler enqueues and a worker runs. On the wire:
/// `{"stream": "users", "org_uuid": "…"}` (`org_uuid` only for per-organization streams;
/// `shard: [k, n]` only for sharded ones).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Job {
    pub stream: &'static str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_uuid: Option<String>,
    /// Shard `k` of `n` (sharded streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<[u32; 2]>,
}

impl<'de> Deserialize<'de> for Job {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            stream: String,
            #[serde(default)]
            org_uuid: Option<String>,
            #[serde(default)]
            shard: Option<[u32; 2]>,
        }
        let w = Wire::deserialize(d)?;
        if let Some([k, n]) = w.shard {
            if n == 0 || k >= n {
                return Err(serde::de::Error::custom(format!("shard {k} of {n} does not exist")));
            }
        }
        let spec = find(&w.stream).map(|s| s.spec()).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown stream {:?} (this build knows {})", w.stream, names().join(", ")))
        })?;
        Ok(Job { stream: spec.name, org_uuid: w.org_uuid, shard: w.shard })
    }
}

pub fn names() -> Vec<&'static str> {
    specs().map(|s| s.name).collect()
}

impl Job {
    /// A tenant-wide (or root) job of a registered stream.
    pub fn tenant(stream: &'static str) -> Job {
        Job { stream, org_uuid: None, shard: None }
    }

    pub fn per_org(stream: &'static str, org_uuid: impl Into<String>) -> Job {
        Job { stream, org_uuid: Some(org_uuid.into()), shard: None }
    }

    /// Shard `k` of `n` of a sharded stream.
    pub fn shard(stream: &'static str, k: u32, n: u32) -> Job {
        Job { stream, org_uuid: None, shard: Some([k, n]) }
    }

    pub fn organizations() -> Job {
        Job::tenant(organizations::SPEC.name)
    }

    pub fn stream(&self) -> &'static str {
        self.stream
    }

    pub fn spec(&self) -> Option<&'static StreamSpec> {
        find(self.stream).map(|s| s.spec())
    }

    /// The state key of this job. Filters are part of it: a different filter is a different stream
    /// position, so changing `--org-ids` never reuses (or corrupts) another filter's checkpoint.
    pub fn key(&self, cfg: &SyncConfig) -> String {
        let filters = self.spec().map(|s| s.filters).unwrap_or(&[]);
        let parts: Vec<&Vec<String>> = filters
            .iter()
            .map(|f| match f {
                Filter::OrgIds => &cfg.org_ids,
                Filter::UserIds => &cfg.user_ids,
                Filter::ProjectIds => &cfg.project_ids,
                Filter::ExcludeActivityTypes => &cfg.exclude_activity_types,
            })
            .collect();
        let suffix = if parts.iter().all(|p| p.is_empty()) {
            String::new()
        } else {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for p in &parts {
                let mut v = (*p).clone();
                v.sort();
                h.update(v.join(",").as_bytes());
                h.update(b"|");
            }
            format!("/f-{}", &hex::encode(h.finalize())[..10])
        };
        let shard = self.shard.map(|[k, n]| format!("/s{k:03}of{n:03}")).unwrap_or_default();
        match &self.org_uuid {
            Some(o) => format!("{}/{o}{suffix}{shard}", self.stream),
            None => format!("{}{suffix}{shard}", self.stream),
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
    /// Session streams: the window re-read behind the last walk's start (≥ the API's processing delay).
    pub session_overlap: chrono::Duration,
    pub org_ids: Vec<String>,
    pub user_ids: Vec<String>,
    pub project_ids: Vec<String>,
    pub exclude_activity_types: Vec<String>,
    pub activity_page_size: u32,
    pub chat_page_size: u32,
    pub message_page_size: u32,
    pub user_page_size: u32,
    pub project_page_size: u32,
    pub session_page_size: u32,
    /// A segment commits (objects written, checkpoint advanced) once this many records are buffered.
    pub max_records_per_segment: usize,
    /// A walk commits at least this often, so a killed invocation loses less than this of work.
    pub commit_interval: std::time::Duration,
    pub message_concurrency: usize,
    /// Shard jobs each sharded stream is spread over: the message fetching of chats
    /// (`chat_messages`) and the details of projects (`project_details`).
    pub chat_shards: u32,
    /// A quarantined item is retried after this, doubling per attempt (at most 6 h).
    pub quarantine_retry: std::time::Duration,
    /// Access Transparency log keys trusted besides Anthropic's published ones (SHA-256 of the DER
    /// SPKI, hex): an announced rotation before this build knows it, or the fake's key.
    pub tlog_trusted_fingerprints: Vec<String>,
    /// Directory and configuration snapshots (roles, groups, org_settings, project_collaborators):
    /// a new snapshot only when the last is at least this old. `None` = every run (a one-shot sync).
    pub directory_interval: Option<chrono::Duration>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            backfill_start: None,
            activity_lookback: chrono::Duration::days(90),
            activity_overlap: chrono::Duration::minutes(10),
            project_overlap: chrono::Duration::minutes(10),
            session_overlap: chrono::Duration::minutes(10),
            org_ids: vec![],
            user_ids: vec![],
            project_ids: vec![],
            exclude_activity_types: vec![],
            activity_page_size: MAX_ACTIVITY_PAGE_SIZE,
            chat_page_size: 200,
            message_page_size: 1000,
            user_page_size: 1000,
            project_page_size: 100,
            session_page_size: 500,
            max_records_per_segment: 20_000,
            commit_interval: std::time::Duration::from_secs(30),
            message_concurrency: 4,
            chat_shards: 16,
            quarantine_retry: std::time::Duration::from_secs(300),
            tlog_trusted_fingerprints: vec![],
            directory_interval: None,
        }
    }
}

// --- issue #9 item 7 (scale branch): the API's documented `limit` maxima and the overlap floor.
/// `GET /activities` `limit` maximum (spec §7.0: 100 / 5000).
pub const MAX_ACTIVITY_PAGE_SIZE: u32 = 5000;
/// `GET /apps/chats`, chat messages, organization users: 1000; projects: 100.
pub const MAX_CHAT_PAGE_SIZE: u32 = 1000;
pub const MAX_MESSAGE_PAGE_SIZE: u32 = 1000;
pub const MAX_USER_PAGE_SIZE: u32 = 1000;
pub const MAX_PROJECT_PAGE_SIZE: u32 = 100;
/// Smallest overlap window accepted: late-indexed events land up to minutes behind newer ones.
pub const MIN_OVERLAP_MINUTES: i64 = 2;

impl SyncConfig {
    /// Each page size clamped to `1..=` its endpoint's documented maximum.
    pub fn with_page_sizes_clamped(mut self) -> Self {
        self.activity_page_size = self.activity_page_size.clamp(1, MAX_ACTIVITY_PAGE_SIZE);
        self.chat_page_size = self.chat_page_size.clamp(1, MAX_CHAT_PAGE_SIZE);
        self.message_page_size = self.message_page_size.clamp(1, MAX_MESSAGE_PAGE_SIZE);
        self.user_page_size = self.user_page_size.clamp(1, MAX_USER_PAGE_SIZE);
        self.project_page_size = self.project_page_size.clamp(1, MAX_PROJECT_PAGE_SIZE);
        self
    }

    /// The operator-set values a deployment must not get wrong: overlap ≥ [`MIN_OVERLAP_MINUTES`].
    pub fn validate(&self) -> Result<(), String> {
        for (what, d) in [("activities", self.activity_overlap), ("projects", self.project_overlap)] {
            if d < chrono::Duration::minutes(MIN_OVERLAP_MINUTES) {
                return Err(format!(
                    "the {what} overlap is {} min; it must be at least {MIN_OVERLAP_MINUTES} min (late-indexed events land behind newer ones and would be missed)",
                    d.num_minutes()
                ));
            }
        }
        Ok(())
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
    /// Items this job holds in quarantine (skipped after failing; retried later): `QuarantinedItems`.
    pub quarantined: AtomicU64,
    /// Files DLP could not read (recorded as `unscanned_file` rows).
    pub unscanned_files: AtomicU64,
    /// When this job last committed (loaded with its state, moved by every commit): `CheckpointLagSeconds`.
    pub last_commit_at: Mutex<Option<Timestamp>>,
    /// The activities heartbeat's origin (our newest own row in the feed): `SelfAuditLagSeconds`.
    pub self_audit_from: Mutex<Option<Timestamp>>,
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
    pub fn set_last_commit(&self, t: Option<Timestamp>) {
        *self.last_commit_at.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    pub fn set_self_audit_from(&self, t: Option<Timestamp>) {
        *self.self_audit_from.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    /// Seconds since our own newest request seen in the activity feed (the self-audit heartbeat);
    /// `None` for other jobs, or when the heartbeat is off.
    pub fn self_audit_lag_secs(&self) -> Option<f64> {
        let t = (*self.self_audit_from.lock().unwrap_or_else(|p| p.into_inner()))?;
        Some((chrono::Utc::now() - t.0).num_milliseconds().max(0) as f64 / 1000.0)
    }

    /// Seconds since the job's newest committed checkpoint (`None`: never committed).
    pub fn checkpoint_lag_secs(&self) -> Option<f64> {
        let t = (*self.last_commit_at.lock().unwrap_or_else(|p| p.into_inner()))?;
        Some((chrono::Utc::now() - t.0).num_milliseconds().max(0) as f64 / 1000.0)
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
    /// Enqueues jobs of this run (a stream handing work to others); `None`: nobody to hand to (the
    /// scheduled fan-out picks the work up).
    pub spawner: Option<Arc<dyn Spawner>>,
}

/// Enqueues further jobs of the running schedule (same run id).
#[async_trait::async_trait]
pub trait Spawner: Send + Sync {
    async fn spawn(&self, jobs: Vec<Job>) -> Result<(), StoreError>;
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
    match find(job.stream) {
        Some(s) => s.run(ctx, job, stats).await,
        None => Err(SyncError::Encode(format!("unknown stream {:?}", job.stream))),
    }
}
