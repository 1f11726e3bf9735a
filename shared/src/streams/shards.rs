//! The consuming side of a fan-out, shared by every sharded stream (`chat_messages` works what
//! `chats` discovers, `project_details` what `projects` discovers).
//!
//! A discovery job publishes, with each commit, one work object per shard
//! (`_work/<parent>/<job>/<epoch>-<seq>/<shard>-…`) listing the tasks it committed. A shard job works
//! the discovery job's commits in order, from its own checkpoint ([`Position`]: the `consumed`
//! commit and the position inside the next), up to the discovery job's head, a batch at a time,
//! committing at the deadline, every `commit_interval` and at the end; it removes the work objects
//! its commits consumed. So N workers fill the budget together, and no job holds the whole tenant.
//!
//! Per-item state (a chat's message position, a project version written) is kept in marks owned
//! by the discovery job ([`Owner`]), so it survives a change of the shard count.

use super::marks;
use super::segment::{self, JobState, Segment};
use super::{Job, JobContext, JobOutput, JobStats, StreamSpec, SyncError};
use crate::store::{ndjson, StoreError};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Where a shard job is in its discovery job's work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Position {
    /// The discovery state (its epoch) the positions below refer to.
    pub source_epoch: Option<String>,
    /// Discovery commits whose tasks for this shard are all handled.
    pub consumed: u64,
    /// Tasks of commit `consumed + 1` already handled.
    pub pos: u64,
}

/// The discovery job that owns the marks of the items a shard handles, and its state's epoch.
pub struct Owner {
    pub job: String,
    pub epoch: String,
}

impl Owner {
    /// The mark key of `item` in the discovery job's namespace.
    pub fn key(&self, item: &str) -> String {
        marks::key(&self.job, item)
    }
}

/// What a shard job's handlers work with.
pub struct Shard<'s, 'a> {
    pub ctx: &'a JobContext,
    pub stats: &'a JobStats,
    pub seg: &'s mut Segment<'a>,
    pub owner: &'s Owner,
}

/// What a sharded stream supplies: how to handle a batch of its tasks.
#[async_trait]
pub trait ShardWork: Send + Sync + 'static {
    type Checkpoint: Serialize + DeserializeOwned + Default + Send + Sync;
    /// One task as the discovery job published it.
    type Task: DeserializeOwned + Send + Sync;
    /// What a run keeps across its batches (e.g. content items already handled).
    type Run: Send;

    fn spec(&self) -> &'static StreamSpec;
    /// The discovery stream whose work this stream does.
    fn parent(&self) -> &'static str;
    /// Tasks handled together.
    fn batch_size(&self) -> usize;
    fn position<'c>(&self, cp: &'c mut Self::Checkpoint) -> &'c mut Position;
    /// Items held in quarantine (the `QuarantinedItems` metric).
    fn quarantined(&self, cp: &Self::Checkpoint) -> usize;
    /// Once per run, before the work: retry what is due. Returns the run's state.
    async fn start(&self, s: &mut Shard<'_, '_>, cp: &mut Self::Checkpoint) -> Result<Self::Run, SyncError>;
    /// Handles a batch of tasks, in order: push records, stage marks, record failures in `cp`.
    async fn batch(
        &self,
        s: &mut Shard<'_, '_>,
        cp: &mut Self::Checkpoint,
        run: &mut Self::Run,
        tasks: &[Self::Task],
    ) -> Result<(), SyncError>;
}

/// Wakes shard jobs of `stream` (the given shards of `SyncConfig::chat_shards`) on the queue. Best
/// effort: a wake-up lost here is covered by the scheduled fan-out, which plans every shard.
pub async fn wake(ctx: &JobContext, stream: &'static str, shards: impl IntoIterator<Item = u32>) {
    let n = ctx.cfg.chat_shards.max(1);
    let jobs: Vec<Job> = shards.into_iter().map(|k| Job::shard(stream, k, n)).collect();
    if let (Some(sp), false) = (&ctx.spawner, jobs.is_empty()) {
        if let Err(e) = sp.spawn(jobs).await {
            tracing::warn!(error = %e, "shard jobs not woken; the next scheduled run picks their work up");
        }
    }
}

fn job_state(doc: serde_json::Value, key: &str) -> Result<JobState, SyncError> {
    serde_json::from_value(doc).map_err(|e| StoreError::Corrupt { key: key.to_string(), reason: e.to_string() }.into())
}

fn set_quarantined<W: ShardWork>(w: &W, stats: &JobStats, cp: &W::Checkpoint) {
    stats.quarantined.store(w.quarantined(cp) as u64, std::sync::atomic::Ordering::Relaxed);
}

/// Runs one shard job of `w` to the discovery job's head, or to the deadline.
pub async fn run<W: ShardWork>(w: &W, ctx: &JobContext, job: &Job, stats: &JobStats) -> Result<JobOutput, SyncError> {
    let spec = w.spec();
    let Some([shard, n]) = job.shard else {
        return Err(SyncError::Encode(format!("a {} job needs a shard", spec.name)));
    };
    let key = job.key(&ctx.cfg);
    let (mut seg, mut cp): (Segment<'_>, W::Checkpoint) = Segment::open_typed(ctx, stats, spec, key.clone()).await?;
    set_quarantined(w, stats, &cp);
    // the discovery job whose work this shard does (same filters, so the same key suffix)
    let disc = Job { stream: w.parent(), org_uuid: None, shard: None }.key(&ctx.cfg);
    let Some(doc) = ctx.state.load(&disc).await? else {
        return Ok(JobOutput::default()); // nothing discovered yet
    };
    let st = job_state(doc.value, &disc)?;
    let (Some(epoch), Some(mut head)) = (st.epoch, st.head) else { return Ok(JobOutput::default()) };
    // the head's work must be visible before it is read (roll-forward is idempotent)
    segment::publish(ctx.sink.as_ref(), &head).await?;
    if w.position(&mut cp).source_epoch.as_deref() != Some(epoch.as_str()) {
        if w.position(&mut cp).source_epoch.is_some() {
            tracing::info!(job = %key, parent = w.parent(), "the discovery state was reset; this shard starts over with it");
            cp = W::Checkpoint::default();
        }
        *w.position(&mut cp) = Position { source_epoch: Some(epoch.clone()), consumed: 0, pos: 0 };
    }
    let owner = Owner { job: disc.clone(), epoch: epoch.clone() };
    let mut last_commit = tokio::time::Instant::now();
    let mut sh = Shard { ctx, stats, seg: &mut seg, owner: &owner };
    let mut run = w.start(&mut sh, &mut cp).await?;
    set_quarantined(w, stats, &cp);

    let mut consumed_keys: Vec<String> = Vec::new();
    let mut seq = w.position(&mut cp).consumed + 1;
    loop {
        if seq > head.seq {
            // caught up: the discovery job may have committed meanwhile (its wake-up can reach a
            // busy shard and be dropped as a duplicate): read its head again before stopping
            match ctx.state.load(&disc).await? {
                Some(doc) => {
                    let st = job_state(doc.value, &disc)?;
                    match (st.epoch, st.head) {
                        (Some(e), Some(h)) if e == epoch && h.seq > head.seq => {
                            segment::publish(ctx.sink.as_ref(), &h).await?;
                            head = h;
                        }
                        _ => break,
                    }
                }
                None => break,
            }
            continue;
        }
        let prefix = segment::work_shard_prefix(w.parent(), &disc, &epoch, seq, shard, n);
        let keys = ctx.sink.list(&prefix).await?;
        let mut tasks: Vec<W::Task> = Vec::new();
        for k in &keys {
            let body = ctx.sink.get(k).await?.ok_or_else(|| StoreError::Missing { key: k.clone() })?;
            for v in
                ndjson::decode_gz(&body).map_err(|e| StoreError::Corrupt { key: k.clone(), reason: e.to_string() })?
            {
                tasks.push(
                    serde_json::from_value(v)
                        .map_err(|e| StoreError::Corrupt { key: k.clone(), reason: format!("work item: {e}") })?,
                );
            }
        }
        let mut i = (w.position(&mut cp).pos as usize).min(tasks.len());
        while i < tasks.len() {
            let end = (i + w.batch_size().max(1)).min(tasks.len());
            w.batch(&mut sh, &mut cp, &mut run, &tasks[i..end]).await?;
            i = end;
            w.position(&mut cp).pos = i as u64;
            stats.page();
            set_quarantined(w, stats, &cp);
            let deadline = ctx.past_deadline();
            if deadline || sh.seg.should_commit() || last_commit.elapsed() >= ctx.cfg.commit_interval {
                commit(sh.seg, &cp, &mut consumed_keys).await?;
                last_commit = tokio::time::Instant::now();
                if deadline {
                    return Err(SyncError::Deadline);
                }
            }
        }
        let p = w.position(&mut cp);
        p.consumed = seq;
        p.pos = 0;
        consumed_keys.extend(keys);
        seq += 1;
    }
    commit(sh.seg, &cp, &mut consumed_keys).await?;
    set_quarantined(w, stats, &cp);
    Ok(JobOutput::default())
}

/// Commits, then removes the work objects fully consumed by what was committed.
async fn commit<C: Serialize>(seg: &mut Segment<'_>, cp: &C, consumed: &mut Vec<String>) -> Result<(), SyncError> {
    let v = serde_json::to_value(cp).map_err(|e| SyncError::Encode(e.to_string()))?;
    seg.commit(v).await?;
    for k in consumed.drain(..) {
        if let Err(e) = seg.sink().delete(&k).await {
            tracing::warn!(key = %k, error = %e, "consumed work object not removed (the lifecycle rule expires it)");
        }
    }
    Ok(())
}
