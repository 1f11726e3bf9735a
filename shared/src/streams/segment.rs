//! The commit protocol, shared by every stream: fenced, evidenced, roll-forward.
//!
//! A job's state document names the job's *head*: the last committed manifest. A segment is written
//! in four steps, and the invariants hold at every point a writer can crash or lose a race:
//! 1. **stage**: parts go to `_staging/<job>/<attempt>/…`, named by this writer's attempt id, so
//!    two writers never touch each other's bytes; nothing under a table prefix changes;
//! 2. **manifest**: a manifest naming every part (final key, bytes, records, SHA-256), the requests
//!    that produced them, the checkpoint before and after, and the SHA-256 of the previous manifest
//!    (a hash chain per job) is staged beside the parts;
//! 3. **commit**: one conditional state save (expected version = the one this writer loaded) moves
//!    the checkpoint and the head to the new manifest. A stale or concurrent writer fails here and
//!    deletes its own staging: a loser's parts are never published;
//! 4. **publish**: the parts are copied to their final keys (`<table>/dt=…/<job>-<epoch>-<seq>-<part>`,
//!    fixed by the manifest, so any writer that rolls a commit forward writes the same bytes), then
//!    the manifest to `_manifests/<stream>/dt=…/`, then the staging prefix is removed.
//!
//! So a record is visible under a table prefix only once a committed manifest covers it, and a
//! crash after step 3 is rolled forward by whoever opens the job next ([`Segment::open`]). The
//! published manifest is the marker that publication finished.

use super::marks::{self, MarkWrite};
use super::{JobContext, JobStats, SyncError};
use crate::api::client::RequestRecord;
use crate::store::layout::slug;
use crate::store::{ndjson, ObjectSink, StoreError, Table};
use crate::time::Timestamp;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const MANIFEST_VERSION: u32 = 1;
pub const STAGING_PREFIX: &str = "_staging";
pub const MANIFESTS_PREFIX: &str = "_manifests";
/// Staging attempts older than this, and not named by the job's head, are abandoned (a crashed
/// writer's); S3 also expires `_staging/` by a lifecycle rule.
pub const STAGING_MAX_AGE: chrono::Duration = chrono::Duration::hours(24);
/// Checkpoints larger than this are summarised by digest in manifests.
const MANIFEST_CHECKPOINT_INLINE: usize = 16 * 1024;

/// The job's last committed manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub manifest_key: String,
    pub manifest_sha256: String,
    /// Where its parts and manifest were staged (removed once published).
    pub staging: String,
    /// Mark changes the manifest carries ([`marks`]): re-applied by the next open (roll-forward).
    #[serde(default)]
    pub marks: u64,
}

/// A state object: a larger piece of a job's state (activities' dedup window) kept in the object
/// store, named by the job state, so the state document itself stays small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRef {
    pub key: String,
    pub sha256: String,
    pub bytes: u64,
}

pub const STATE_OBJECTS_PREFIX: &str = "_state";
/// Work handed from one job to others (chats' discovery → the `chat_messages` shards).
pub const WORK_PREFIX: &str = "_work";
/// The `table` of work objects in a manifest (not a lake table: consumers remove them).
pub const WORK_TABLE: &str = "_work";

/// `_work/<stream>/<job>/<epoch>-<seq>/`: the work a commit of a job handed out.
pub fn work_prefix(stream: &str, job: &str, epoch: &str, seq: u64) -> String {
    format!("{WORK_PREFIX}/{stream}/{}/{epoch}-{seq:08}/", slug(job))
}

/// The work objects of shard `shard` of `n` inside [`work_prefix`] (the count is part of the name:
/// a different shard count never reads another count's work).
pub fn work_shard_prefix(stream: &str, job: &str, epoch: &str, seq: u64, shard: u32, n: u32) -> String {
    format!("{}{shard:04}of{n:04}-", work_prefix(stream, job, epoch, seq))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    #[serde(default)]
    pub checkpoint: Value,
    /// Random id given to this job's state when it was created: part of every final key, so a
    /// state reset can never make a new commit overwrite an old one.
    #[serde(default)]
    pub epoch: Option<String>,
    #[serde(default)]
    pub head: Option<Head>,
    #[serde(default)]
    pub last_commit_at: Option<Timestamp>,
    #[serde(default)]
    pub last_run_id: Option<String>,
    #[serde(default)]
    pub records_written: u64,
    /// Named state objects ([`StateRef`]), committed with the checkpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state_objects: BTreeMap<String, StateRef>,
    /// A segment suspended at an invocation's deadline ([`Segment::suspend`]): a snapshot spans
    /// invocations of one run and still commits once. Only the same run adopts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// What a suspended segment has staged so far (its parts stay in its attempt's staging).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub run_id: String,
    pub attempt: String,
    pub dt: String,
    pub objects: Vec<ManifestObject>,
    /// Next part number per table.
    pub parts: BTreeMap<String, u32>,
    pub range: TimeRange,
    pub records: u64,
    /// The request logs of the suspended invocations (staged JSON, read back by the commit).
    pub request_logs: Vec<String>,
}

/// One object a manifest covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestObject {
    pub key: String,
    pub table: String,
    pub bytes: u64,
    pub records: u64,
    pub sha256: String,
    /// Where it was staged (relative to the store).
    #[serde(default)]
    pub staged: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    pub min: Option<String>,
    pub max: Option<String>,
}

/// The evidence of one committed segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub stream: String,
    pub job: String,
    pub run_id: String,
    pub attempt: String,
    pub epoch: String,
    pub seq: u64,
    pub committed_at: String,
    pub checkpoint_before: Value,
    pub checkpoint_after: Value,
    pub records_time_range: TimeRange,
    pub requests: Vec<RequestRecord>,
    pub objects: Vec<ManifestObject>,
    pub prev_sha256: Option<String>,
    /// Per-item mark changes committed by this segment (applied after the commit; see [`marks`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<MarkWrite>,
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// `<table>/dt=<dt>/<job>-<epoch>-<seq>-<part>.ndjson.gz`: fixed by the manifest.
pub fn final_key(table: Table, dt: &str, job: &str, epoch: &str, seq: u64, part: u32) -> String {
    format!("{}/dt={dt}/{}-{epoch}-{seq:08}-{part:05}.ndjson.gz", table.as_str(), slug(job))
}

pub fn manifest_key(stream: &str, dt: &str, job: &str, epoch: &str, seq: u64) -> String {
    format!("{MANIFESTS_PREFIX}/{stream}/dt={dt}/{}-{epoch}-{seq:08}.json", slug(job))
}

fn staging_root(job: &str) -> String {
    format!("{STAGING_PREFIX}/{}/", slug(job))
}

fn checkpoint_for_manifest(v: &Value) -> Value {
    let raw = serde_json::to_vec(v).unwrap_or_default();
    if raw.len() <= MANIFEST_CHECKPOINT_INLINE {
        v.clone()
    } else {
        serde_json::json!({"sha256": sha256_hex(&raw), "bytes": raw.len()})
    }
}

fn corrupt(key: &str, reason: impl Into<String>) -> SyncError {
    SyncError::Store(StoreError::Corrupt { key: key.to_string(), reason: reason.into() })
}

/// Publishes a committed manifest: parts to their final keys, then the manifest, then removes the
/// staging. Idempotent; safe to run by several writers at once (they copy the same bytes).
pub async fn publish(sink: &dyn ObjectSink, head: &Head) -> Result<(), SyncError> {
    if sink.get(&head.manifest_key).await?.is_some() {
        cleanup_staging(sink, &head.staging).await;
        return Ok(());
    }
    let staged_manifest = format!("{}manifest.json", head.staging);
    let Some(body) = sink.get(&staged_manifest).await? else {
        // Another writer may have finished publishing between our two reads.
        if sink.get(&head.manifest_key).await?.is_some() {
            return Ok(());
        }
        return Err(corrupt(
            &head.manifest_key,
            format!("committed manifest is neither published nor staged at {staged_manifest}; restore it from a backup or reset this job's state"),
        ));
    };
    if sha256_hex(&body) != head.manifest_sha256 {
        return Err(corrupt(&staged_manifest, "staged manifest does not match the committed SHA-256"));
    }
    let m: Manifest = serde_json::from_slice(&body).map_err(|e| corrupt(&staged_manifest, e.to_string()))?;
    for o in &m.objects {
        match sink.copy(&o.staged, &o.key).await {
            Ok(()) => {}
            Err(StoreError::Missing { .. }) if sink.get(&head.manifest_key).await?.is_some() => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    sink.put(&head.manifest_key, body).await?;
    cleanup_staging(sink, &head.staging).await;
    Ok(())
}

async fn cleanup_staging(sink: &dyn ObjectSink, prefix: &str) {
    match sink.list(prefix).await {
        Ok(keys) => {
            for k in keys {
                if let Err(e) = sink.delete(&k).await {
                    tracing::warn!(key = %k, error = %e, "staging cleanup failed; it is retried at the next open");
                }
            }
        }
        Err(e) => tracing::warn!(prefix, error = %e, "staging listing failed"),
    }
}

/// Attempt ids start with their creation time, so abandoned ones can be aged out.
fn new_attempt() -> String {
    format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

fn attempt_age_exceeded(attempt_dir: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    let stamp = attempt_dir.split('-').next().unwrap_or("");
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S")
        .map(|t| now.signed_duration_since(t.and_utc()) > STAGING_MAX_AGE)
        .unwrap_or(false)
}

pub struct Segment<'a> {
    ctx: &'a JobContext,
    stats: &'a JobStats,
    stream: &'static str,
    job_key: String,
    version: Option<u64>,
    state: JobState,
    epoch: String,
    attempt: String,
    dt: String,
    buffers: BTreeMap<Table, Vec<Value>>,
    staged: Vec<ManifestObject>,
    parts: BTreeMap<Table, u32>,
    range: TimeRange,
    written_in_segment: u64,
    /// DLP alerts: the `dlp_findings` rows of this segment, kept only when alerts are on.
    alert_rows: Vec<Value>,
    /// Mark changes staged for the next commit (the latest per key).
    marks: BTreeMap<String, MarkWrite>,
    /// State objects to write with the next commit.
    objects: BTreeMap<String, Value>,
    /// Work for other jobs, by shard, published with the next commit.
    work: BTreeMap<u32, Vec<Value>>,
    work_parts: BTreeMap<u32, u32>,
    work_of: u32,
}

impl<'a> Segment<'a> {
    /// Loads the job's state, rolls a committed-but-unpublished head forward, and returns the segment
    /// and the last committed checkpoint (`Null` on a first run).
    pub async fn open(
        ctx: &'a JobContext,
        stats: &'a JobStats,
        stream: &'static str,
        job_key: String,
        _tables: &'static [Table],
    ) -> Result<(Segment<'a>, Value), SyncError> {
        let (version, state) = match ctx.state.load(&job_key).await? {
            Some(v) => {
                let st: JobState = serde_json::from_value(v.value)
                    .map_err(|e| StoreError::Corrupt { key: job_key.clone(), reason: e.to_string() })?;
                (Some(v.version), st)
            }
            None => (None, JobState::default()),
        };
        if let Some(h) = &state.head {
            publish(ctx.sink.as_ref(), h).await?;
            if h.marks > 0 {
                // roll forward: the head's mark changes may not all have been applied
                let body = ctx
                    .sink
                    .get(&h.manifest_key)
                    .await?
                    .ok_or_else(|| corrupt(&h.manifest_key, "published manifest missing"))?;
                let m: Manifest = serde_json::from_slice(&body).map_err(|e| corrupt(&h.manifest_key, e.to_string()))?;
                marks::apply(ctx.state.as_ref(), &m.marks).await?;
            }
        }
        // a segment suspended by this run is adopted; another run's is abandoned (collected by age)
        let adopt = state.pending.clone().filter(|p| p.run_id == ctx.run_id);
        gc_abandoned_staging(
            ctx.sink.as_ref(),
            &job_key,
            state.head.as_ref(),
            adopt.as_ref().map(|p| p.attempt.as_str()),
        )
        .await;
        gc_state_objects(ctx.sink.as_ref(), &job_key, &state.state_objects).await;
        stats.set_last_commit(state.last_commit_at);
        let epoch = state.epoch.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..6].to_string());
        let cp = state.checkpoint.clone();
        let mut seg = Segment {
            ctx,
            stats,
            stream,
            job_key,
            version,
            state,
            epoch,
            attempt: new_attempt(),
            dt: ctx.now.date_partition(),
            buffers: BTreeMap::new(),
            staged: Vec::new(),
            parts: BTreeMap::new(),
            range: TimeRange::default(),
            written_in_segment: 0,
            alert_rows: Vec::new(),
            marks: BTreeMap::new(),
            objects: BTreeMap::new(),
            work: BTreeMap::new(),
            work_parts: BTreeMap::new(),
            work_of: 1,
        };
        if let Some(p) = adopt {
            tracing::info!(job = %seg.job_key, parts = p.objects.len(), records = p.records, "resuming a suspended segment of this run");
            seg.attempt = p.attempt;
            seg.dt = p.dt;
            seg.parts = p.parts.iter().filter_map(|(t, n)| Table::parse(t).map(|t| (t, *n))).collect();
            seg.staged = p.objects;
            seg.range = p.range;
            seg.written_in_segment = p.records;
        }
        Ok((seg, cp))
    }

    /// Suspends the segment at an invocation's deadline without committing it: what is buffered is
    /// staged, and the state saves `checkpoint` (the walk position) with what this segment has staged
    /// and the requests that produced it, so a continuation of the same run resumes the segment and
    /// commits it once. Records stay invisible until then; the head does not move.
    pub async fn suspend(&mut self, checkpoint: Value) -> Result<(), SyncError> {
        self.write_parts().await?;
        let mut pending = self.state.pending.clone().filter(|p| p.run_id == self.ctx.run_id).unwrap_or_default();
        let log = self.stats.calls.take_log();
        let key = format!("{}requests-{:05}.json", self.staging(), pending.request_logs.len());
        let body = serde_json::to_vec(&log).map_err(|e| SyncError::Encode(e.to_string()))?;
        self.ctx.sink.put(&key, Bytes::from(body)).await?;
        pending.request_logs.push(key);
        pending.run_id = self.ctx.run_id.clone();
        pending.attempt = self.attempt.clone();
        pending.dt = self.dt.clone();
        pending.objects = self.staged.clone();
        pending.parts = self.parts.iter().map(|(t, n)| (t.as_str().to_string(), *n)).collect();
        pending.range = self.range.clone();
        pending.records = self.written_in_segment;
        let mut next = self.state.clone();
        next.checkpoint = checkpoint;
        next.pending = Some(pending);
        let value = serde_json::to_value(&next).map_err(|e| SyncError::Encode(e.to_string()))?;
        self.version = Some(self.ctx.state.save(&self.job_key, self.version, &value).await?);
        self.state = next;
        Ok(())
    }

    /// [`Segment::open`] for a stream with its own checkpoint type (a job run outside the walk
    /// driver): a first run's checkpoint is `C::default()`; one that does not decode is corrupt.
    pub async fn open_typed<C: serde::de::DeserializeOwned + Default>(
        ctx: &'a JobContext,
        stats: &'a JobStats,
        spec: &'static super::StreamSpec,
        job_key: String,
    ) -> Result<(Segment<'a>, C), SyncError> {
        let (seg, raw) = Segment::open(ctx, stats, spec.name, job_key, spec.tables).await?;
        if raw.is_null() {
            return Ok((seg, C::default()));
        }
        let cp = serde_json::from_value(raw).map_err(|e| StoreError::Corrupt {
            key: seg.job_key.clone(),
            reason: format!("checkpoint of {}: {e}", spec.name),
        })?;
        Ok((seg, cp))
    }

    /// The lake this segment writes to.
    pub fn sink(&self) -> &dyn ObjectSink {
        self.ctx.sink.as_ref()
    }

    /// The epoch of this job's state (stamps its marks).
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The sequence number the next commit will have.
    pub fn next_seq(&self) -> u64 {
        self.seq()
    }

    /// The job's committed head, if any.
    pub fn head(&self) -> Option<&Head> {
        self.state.head.as_ref()
    }

    /// Stages a mark change for the next commit (replacing an earlier staged change of that key).
    pub fn stage_mark(&mut self, w: MarkWrite) {
        self.marks.insert(w.key.clone(), w);
    }

    /// A mark change staged in this segment and not yet committed.
    pub fn staged_mark(&self, key: &str) -> Option<&MarkWrite> {
        self.marks.get(key)
    }

    /// The current value of a mark: as staged in this segment (not yet committed), else as
    /// committed in `epoch` (`None`: never written, removed, or another epoch's).
    pub async fn current_mark(&self, key: &str, epoch: &str) -> Result<Option<Value>, StoreError> {
        match self.marks.get(key) {
            Some(w) => Ok(w.value.clone()),
            None => marks::load(self.ctx.state.as_ref(), key, epoch).await,
        }
    }

    /// [`Segment::current_mark`] decoded (`T::default()` when absent); `what` names it in errors.
    pub async fn current_mark_as<T: serde::de::DeserializeOwned + Default>(
        &self,
        key: &str,
        epoch: &str,
        what: &str,
    ) -> Result<T, SyncError> {
        match self.current_mark(key, epoch).await? {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| StoreError::Corrupt { key: key.to_string(), reason: format!("{what}: {e}") }.into()),
            None => Ok(T::default()),
        }
    }

    /// How many mark changes wait for the next commit.
    pub fn staged_marks(&self) -> usize {
        self.marks.len()
    }

    /// The committed (or staged) value of a named state object.
    pub async fn state_object(&self, name: &str) -> Result<Option<Value>, SyncError> {
        if let Some(v) = self.objects.get(name) {
            return Ok(Some(v.clone()));
        }
        let Some(r) = self.state.state_objects.get(name) else { return Ok(None) };
        let body =
            self.ctx.sink.get(&r.key).await?.ok_or_else(|| {
                corrupt(&r.key, "state object named by the job state is missing; reset this job's state")
            })?;
        if sha256_hex(&body) != r.sha256 {
            return Err(corrupt(&r.key, "state object does not match its committed SHA-256"));
        }
        let raw = ndjson::gunzip(&body).map_err(|e| corrupt(&r.key, e.to_string()))?;
        Ok(Some(serde_json::from_slice(&raw).map_err(|e| corrupt(&r.key, e.to_string()))?))
    }

    /// A state object read back as `T` (`what` names it in errors).
    pub async fn load_object<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, SyncError> {
        match self.state_object(name).await? {
            Some(v) => serde_json::from_value(v).map(Some).map_err(|e| SyncError::Encode(format!("{what}: {e}"))),
            None => Ok(None),
        }
    }

    /// Stages `value` as a named state object when `dirty`, and clears the flag.
    pub fn stage_object<T: Serialize>(&mut self, name: &str, value: &T, dirty: &mut bool) -> Result<(), SyncError> {
        if *dirty {
            let v = serde_json::to_value(value).map_err(|e| SyncError::Encode(e.to_string()))?;
            self.set_state_object(name, v);
            *dirty = false;
        }
        Ok(())
    }

    /// Replaces a named state object with the next commit.
    pub fn set_state_object(&mut self, name: &str, value: Value) {
        self.objects.insert(name.to_string(), value);
    }

    pub fn job_key(&self) -> &str {
        &self.job_key
    }

    /// The run that last committed this job (snapshot streams use it to stay idempotent per run).
    pub fn last_run_id(&self) -> Option<&str> {
        self.state.last_run_id.as_deref()
    }

    pub fn push(&mut self, table: Table, record: Value) {
        if let Some(t) = record
            .get("created_at")
            .and_then(Value::as_str)
            .or_else(|| record.get("updated_at").and_then(Value::as_str))
        {
            if self.range.min.as_deref().is_none_or(|m| t < m) {
                self.range.min = Some(t.to_string());
            }
            if self.range.max.as_deref().is_none_or(|m| t > m) {
                self.range.max = Some(t.to_string());
            }
        }
        self.buffers.entry(table).or_default().push(record);
    }

    pub fn buffered(&self) -> usize {
        self.buffers.values().map(Vec::len).sum::<usize>() + self.work.values().map(Vec::len).sum::<usize>()
    }

    /// Hands a work item to shard `shard` of another job; published with the next commit under
    /// [`work_shard_prefix`].
    pub fn push_work(&mut self, shard: u32, item: Value) {
        self.work.entry(shard).or_default().push(item);
    }

    /// Shards of how many the work of this segment is for (set by the stream handing work out).
    pub fn set_work_shards(&mut self, n: u32) {
        self.work_of = n.max(1);
    }

    /// Shards that received work in the segment being built.
    pub fn work_shards(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.work.keys().copied().chain(self.work_parts.keys().copied()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Records pushed in this segment, staged or buffered.
    pub fn pending_records(&self) -> u64 {
        self.written_in_segment + self.buffered() as u64
    }

    /// True when the buffer is big enough that the stream should commit at its next safe point.
    pub fn should_commit(&self) -> bool {
        self.buffered() >= self.ctx.cfg.max_records_per_segment
    }

    fn seq(&self) -> u64 {
        self.state.head.as_ref().map(|h| h.seq).unwrap_or(0) + 1
    }

    fn staging(&self) -> String {
        format!("{}{}/", staging_root(&self.job_key), self.attempt)
    }

    /// Stages buffered records as parts (one per table) without committing anything.
    pub async fn write_parts(&mut self) -> Result<(), SyncError> {
        if self.buffered() == 0 {
            return Ok(());
        }
        let seq = self.seq();
        let staging = self.staging();
        for (shard, items) in std::mem::take(&mut self.work) {
            let part = self.work_parts.entry(shard).or_insert(0);
            let key = format!(
                "{}{:05}.ndjson.gz",
                work_shard_prefix(self.stream, &self.job_key, &self.epoch, seq, shard, self.work_of),
                *part
            );
            let staged = format!("{staging}work-{shard:04}-{:05}.ndjson.gz", *part);
            *part += 1;
            let n = items.len() as u64;
            let body = tokio::task::spawn_blocking(move || ndjson::encode_gz(&items))
                .await
                .map_err(|e| SyncError::Encode(e.to_string()))?
                .map_err(|e| SyncError::Encode(e.to_string()))?;
            let obj = ManifestObject {
                key,
                table: WORK_TABLE.to_string(),
                bytes: body.len() as u64,
                records: n,
                sha256: sha256_hex(&body),
                staged: staged.clone(),
            };
            self.ctx.sink.put(&staged, Bytes::from(body)).await?;
            self.ctx.failpoints.hit("after_stage", self.stream)?;
            self.staged.push(obj);
        }
        let buffers = std::mem::take(&mut self.buffers);
        for (table, records) in buffers {
            if records.is_empty() {
                continue;
            }
            let part = self.parts.entry(table).or_insert(0);
            let key = final_key(table, &self.dt, &self.job_key, &self.epoch, seq, *part);
            let staged = format!("{staging}{}-{:05}.ndjson.gz", table.as_str(), *part);
            *part += 1;
            let n = records.len() as u64;
            if table == Table::DlpFindings && self.ctx.alerts.is_some() {
                self.alert_rows.extend(records.iter().cloned()); // DLP alerts (see commit)
            }
            let body = tokio::task::spawn_blocking(move || ndjson::encode_gz(&records))
                .await
                .map_err(|e| SyncError::Encode(e.to_string()))?
                .map_err(|e| SyncError::Encode(e.to_string()))?;
            let obj = ManifestObject {
                key,
                table: table.as_str().to_string(),
                bytes: body.len() as u64,
                records: n,
                sha256: sha256_hex(&body),
                staged: staged.clone(),
            };
            self.ctx.sink.put(&staged, Bytes::from(body)).await?;
            self.ctx.failpoints.hit("after_stage", self.stream)?;
            self.stats.add_records(table, n);
            self.written_in_segment += n;
            tracing::debug!(job = %self.job_key, key = %staged, records = n, "part staged");
            self.staged.push(obj);
        }
        Ok(())
    }

    /// Makes everything pushed so far durable and visible, advancing the checkpoint to `checkpoint`.
    pub async fn commit(&mut self, checkpoint: Value) -> Result<(), SyncError> {
        self.write_parts().await?;
        if self.staged.is_empty()
            && self.marks.is_empty()
            && self.objects.is_empty()
            && self.state.checkpoint == checkpoint
            && self.version.is_some()
        {
            return Ok(()); // nothing written, nothing moved
        }
        let seq = self.seq();
        let mut state_objects = self.state.state_objects.clone();
        for (name, value) in std::mem::take(&mut self.objects) {
            let raw = serde_json::to_vec(&value).map_err(|e| SyncError::Encode(e.to_string()))?;
            let body = tokio::task::spawn_blocking(move || ndjson::gzip(&raw))
                .await
                .map_err(|e| SyncError::Encode(e.to_string()))?
                .map_err(|e| SyncError::Encode(e.to_string()))?;
            let key =
                format!("{STATE_OBJECTS_PREFIX}/{}/{}-{}.json.gz", slug(&self.job_key), self.attempt, slug(&name));
            let r = StateRef { key: key.clone(), sha256: sha256_hex(&body), bytes: body.len() as u64 };
            self.ctx.sink.put(&key, Bytes::from(body)).await?;
            state_objects.insert(name, r);
        }
        let mark_writes: Vec<MarkWrite> = std::mem::take(&mut self.marks).into_values().collect();
        let mut requests = Vec::new();
        if let Some(p) =
            self.state.pending.as_ref().filter(|p| p.run_id == self.ctx.run_id && p.attempt == self.attempt)
        {
            // the requests of the invocations this segment was suspended in, in order
            for k in &p.request_logs {
                let body = self.ctx.sink.get(k).await?.ok_or_else(|| StoreError::Missing { key: k.clone() })?;
                let log: Vec<RequestRecord> = serde_json::from_slice(&body).map_err(|e| corrupt(k, e.to_string()))?;
                requests.extend(log);
            }
        }
        requests.extend(self.stats.calls.take_log());
        let manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            stream: self.stream.to_string(),
            job: self.job_key.clone(),
            run_id: self.ctx.run_id.clone(),
            attempt: self.attempt.clone(),
            epoch: self.epoch.clone(),
            seq,
            committed_at: Timestamp::now().to_rfc3339(),
            checkpoint_before: checkpoint_for_manifest(&self.state.checkpoint),
            checkpoint_after: checkpoint_for_manifest(&checkpoint),
            records_time_range: std::mem::take(&mut self.range),
            requests,
            objects: std::mem::take(&mut self.staged),
            prev_sha256: self.state.head.as_ref().map(|h| h.manifest_sha256.clone()),
            marks: mark_writes,
        };
        let body = serde_json::to_vec(&manifest).map_err(|e| SyncError::Encode(e.to_string()))?;
        let head = Head {
            seq,
            manifest_key: manifest_key(self.stream, &self.dt, &self.job_key, &self.epoch, seq),
            manifest_sha256: sha256_hex(&body),
            staging: self.staging(),
            marks: manifest.marks.len() as u64,
        };
        self.ctx.sink.put(&format!("{}manifest.json", head.staging), Bytes::from(body)).await?;
        self.ctx.failpoints.hit("after_write", self.stream)?;

        let mut next = self.state.clone();
        next.checkpoint = checkpoint;
        next.epoch = Some(self.epoch.clone());
        next.head = Some(head.clone());
        next.last_commit_at = Some(Timestamp::now());
        next.last_run_id = Some(self.ctx.run_id.clone());
        next.records_written += self.written_in_segment;
        next.pending = None;
        let replaced: Vec<String> = self
            .state
            .state_objects
            .iter()
            .filter(|(n, r)| state_objects.get(*n).is_none_or(|x| x.key != r.key))
            .map(|(_, r)| r.key.clone())
            .collect();
        next.state_objects = state_objects;
        let value = serde_json::to_value(&next).map_err(|e| SyncError::Encode(e.to_string()))?;
        let saved = self.ctx.state.save(&self.job_key, self.version, &value).await;
        // fault tests: the save is applied but its answer is lost (a timeout, or an SDK retry of the
        // conditional put that then finds our own write and reports a conflict)
        let saved = match (saved, self.ctx.failpoints.hit("ambiguous_save", self.stream)) {
            (Ok(v), Err(e)) => {
                tracing::warn!(job = %self.job_key, version = v, "{e}: reporting an applied save as failed");
                Err(StoreError::Backend(format!("{e}: save applied, answer lost")))
            }
            (r, _) => r,
        };
        match saved {
            Ok(v) => self.version = Some(v),
            Err(e) => match self.ctx.state.load(&self.job_key).await {
                // A failed save may still have been applied: a commit is ours if the stored head is
                // this very manifest (its SHA-256 covers this attempt's id and time).
                Ok(Some(d)) if head_is(&d.value, &head) => {
                    tracing::warn!(job = %self.job_key, error = %e, "state save reported a failure but was applied; the commit stands");
                    self.version = Some(d.version);
                }
                Ok(_) => {
                    // Lost the race (or the save failed): our staged parts must never be published.
                    cleanup_staging(self.ctx.sink.as_ref(), &head.staging).await;
                    for (name, r) in &next.state_objects {
                        if self.state.state_objects.get(name) != Some(r) {
                            let _ = self.ctx.sink.delete(&r.key).await;
                        }
                    }
                    return Err(e.into());
                }
                // Unknown whether it was applied: keep the staging (if it is the head, the next open
                // publishes it; if not, the age-based collection removes it).
                Err(read) => {
                    tracing::warn!(job = %self.job_key, error = %e, read_error = %read, "state save failed and could not be checked; staging kept");
                    return Err(e.into());
                }
            },
        }
        self.state = next;
        for k in replaced {
            if let Err(e) = self.ctx.sink.delete(&k).await {
                tracing::warn!(key = %k, error = %e, "superseded state object not removed; the next open collects it");
            }
        }
        // ---- DLP alerts (shared::alerts): after the checkpoint save, with this segment's
        // dlp_findings rows; best effort, never fails the commit. ----
        if let Some(alerts) = &self.ctx.alerts {
            let rows = std::mem::take(&mut self.alert_rows);
            alerts.on_commit(self.stream, &self.job_key, &self.ctx.run_id, &rows).await;
        }
        // ---- end DLP alerts ----
        self.stats.segments.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.ctx.failpoints.hit("after_commit", self.stream)?;
        publish(self.ctx.sink.as_ref(), &head).await?;
        self.ctx.failpoints.hit("after_publish", self.stream)?;
        // Marks after the records they describe are durable; a crash before this is rolled forward.
        marks::apply(self.ctx.state.as_ref(), &manifest.marks).await?;
        self.parts.clear();
        self.work_parts.clear();
        self.written_in_segment = 0;
        self.attempt = new_attempt();
        Ok(())
    }
}

/// Whether a stored job state names `head` as its head (the commit that wrote `head` was applied).
fn head_is(stored: &Value, head: &Head) -> bool {
    serde_json::from_value::<JobState>(stored.clone())
        .ok()
        .and_then(|st| st.head)
        .is_some_and(|h| h.manifest_sha256 == head.manifest_sha256 && h.staging == head.staging)
}

/// Removes staging attempts of this job that are old enough to be a dead writer's, never the head's
/// nor the suspended segment being resumed.
async fn gc_abandoned_staging(sink: &dyn ObjectSink, job_key: &str, head: Option<&Head>, pending: Option<&str>) {
    let root = staging_root(job_key);
    let Ok(keys) = sink.list(&root).await else { return };
    let now = chrono::Utc::now();
    for k in keys {
        let attempt = k.strip_prefix(&root).and_then(|r| r.split('/').next()).unwrap_or("");
        let is_head = head.is_some_and(|h| h.staging == format!("{root}{attempt}/"));
        if !is_head && pending != Some(attempt) && attempt_age_exceeded(attempt, now) {
            let _ = sink.delete(&k).await;
        }
    }
}

/// Removes this job's state objects that its state does not name and that are old enough not to
/// be an in-flight writer's.
async fn gc_state_objects(sink: &dyn ObjectSink, job_key: &str, named: &BTreeMap<String, StateRef>) {
    let root = format!("{STATE_OBJECTS_PREFIX}/{}/", slug(job_key));
    let Ok(keys) = sink.list(&root).await else { return };
    let now = chrono::Utc::now();
    for k in keys {
        let name = k.strip_prefix(&root).unwrap_or("");
        if !named.values().any(|r| r.key == k) && attempt_age_exceeded(name, now) {
            let _ = sink.delete(&k).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_by_job_epoch_seq_part() {
        assert_eq!(
            final_key(Table::Users, "2026-11-23", "users/91012d09-e48b", "a1b2c3", 7, 2),
            "users/dt=2026-11-23/users-91012d09-e48b-a1b2c3-00000007-00002.ndjson.gz"
        );
        assert_eq!(
            manifest_key("chats", "2026-11-23", "chats", "a1b2c3", 12),
            "_manifests/chats/dt=2026-11-23/chats-a1b2c3-00000012.json"
        );
    }

    #[test]
    fn attempts_age_out() {
        let now = chrono::Utc::now();
        let fresh = new_attempt();
        assert!(!attempt_age_exceeded(&fresh, now));
        assert!(attempt_age_exceeded("20200101T000000-abcd1234", now));
        assert!(!attempt_age_exceeded("garbage", now), "unknown names are never collected");
    }
}
