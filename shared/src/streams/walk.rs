//! The walk driver: the one loop every stream runs. A stream ([`Stream`]) says what its listing
//! is and what to do with one listed item; the driver owns the rest:
//! - pagination of the listing (one [`Paginator`]) and of children ([`children`]);
//! - typed checkpoints inside an envelope that also holds the walk position (the query of the walk,
//!   the page position, and the items of the current page already handled), so a commit can happen
//!   between *items*: a resumed walk re-reads that page and skips what it already wrote;
//! - commits every `max_records_per_segment` records or `commit_interval`, and at the end;
//! - the invocation deadline, checked between items: commit, then [`SyncError::Deadline`];
//! - recovery from a rejected cursor (restart the walk from the stream's own dedup floor);
//! - snapshot idempotency per run (a re-delivered snapshot job writes nothing); a snapshot that
//!   reaches the deadline is suspended ([`Segment::suspend`]) and resumed by the run's continuation,
//!   so it spans invocations and still commits once;
//! - provenance ([`Ingest`]).
//!
//! Implementer's contract: `item` may push any number of records and must update the stream's
//! checkpoint so that, if the same item is handed over again in a later walk, it writes nothing
//! twice. The driver guarantees that within a walk an item is handed over once.

use super::segment::Segment;
use super::{Ingest, Job, JobContext, JobOutput, JobStats, StreamSpec, SyncError, SyncMode};
use crate::api::{ApiError, Family, Paginator};
use crate::store::StoreError;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a walk lists: the first request of a walk (later requests add the position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Where to start (a cursor carried across walks, e.g. chats' `after_id`), if anywhere.
    #[serde(default)]
    pub start: Option<String>,
}

/// An unfinished walk, saved with every mid-walk commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkState {
    pub listing: Listing,
    /// The position the current page was fetched from (`None` = the first page).
    pub page_position: Option<String>,
    /// Identities of the current page's items already handled.
    #[serde(default)]
    pub done_in_page: Vec<String>,
    pub started_at: Timestamp,
    pub run_id: String,
}

/// The state document's checkpoint: the stream's own, and the driver's walk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<C> {
    pub stream: C,
    #[serde(default)]
    pub walk: Option<WalkState>,
}

/// How a walk ended, for [`Stream::finish`].
#[derive(Debug, Clone)]
pub struct WalkEnd {
    /// Position after the last page (cursor family: the last `last_id`).
    pub position: Option<String>,
    pub started_at: Timestamp,
    pub items: u64,
}

/// What a stream supplies. One file per stream; registered with one line in [`super::registry`].
#[async_trait]
pub trait Stream: Send + Sync + 'static {
    type Checkpoint: Serialize + DeserializeOwned + Default + Clone + Send + Sync;

    fn spec(&self) -> &'static StreamSpec;

    /// A fresh checkpoint for a first run (default: `Default`).
    fn initial(&self, _ctx: &JobContext) -> Self::Checkpoint {
        Self::Checkpoint::default()
    }

    /// After the checkpoint is loaded: read the parts of the stream's state kept outside it
    /// ([`Segment::state_object`]). Default: none.
    async fn load_state(&self, _seg: &Segment<'_>, _cp: &mut Self::Checkpoint) -> Result<(), SyncError> {
        Ok(())
    }

    /// Before every commit: stage the parts of the state kept outside the checkpoint.
    fn save_state(&self, _seg: &mut Segment<'_>, _cp: &mut Self::Checkpoint) -> Result<(), SyncError> {
        Ok(())
    }

    /// Before the listing is read, once per job run (e.g. retrying quarantined items). Default: nothing.
    async fn before_walk(&self, _w: &mut ItemCtx<'_, '_>, _cp: &mut Self::Checkpoint) -> Result<(), SyncError> {
        Ok(())
    }

    /// After every commit (e.g. waking the jobs this commit handed work to). Default: nothing.
    async fn committed(&self, _ctx: &JobContext, _job: &Job, _cp: &mut Self::Checkpoint) -> Result<(), SyncError> {
        Ok(())
    }

    /// Whether the driver may commit between the items of a page (items with child requests:
    /// chats, projects). Streams of cheap items commit at page boundaries only, which keeps the
    /// walk position free of a page's ids.
    fn commits_within_pages(&self) -> bool {
        true
    }

    /// The listing a new walk starts with, given the committed checkpoint.
    fn listing(&self, ctx: &JobContext, job: &Job, cp: &Self::Checkpoint) -> Listing;

    /// The identity of a listed item inside one page (`None` = malformed: the walk fails).
    fn item_id(&self, item: &Value) -> Option<String> {
        item.get("id").and_then(Value::as_str).map(str::to_string)
    }

    /// Optional look-ahead over a whole listing page before its items are handled one by one (e.g.
    /// fetching children concurrently). One entry per item, in order; handed to [`Stream::item`] as
    /// [`ItemCtx::prefetched`]. Default: none.
    async fn prefetch(
        &self,
        _ctx: &JobContext,
        _stats: &JobStats,
        _cp: &Self::Checkpoint,
        _items: &[Value],
    ) -> Vec<Prefetched> {
        Vec::new()
    }

    /// Handles one listed item: push records into `seg`, update `cp`.
    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Self::Checkpoint, item: Value) -> Result<(), SyncError>;

    /// The listing failed before its first page; return a replacement listing to recover (e.g. an
    /// older API revision without a filter), or `None` to fail.
    fn recover(&self, _cp: &mut Self::Checkpoint, _listing: &Listing, _err: &ApiError) -> Option<Listing> {
        None
    }

    /// A stored position was rejected: restart the walk from `listing` without it. The stream's dedup
    /// state must cover what is re-read (default: restart; override to refuse).
    fn restart(&self, _cp: &mut Self::Checkpoint, listing: &Listing) -> Option<Listing> {
        Some(Listing { start: None, ..listing.clone() })
    }

    /// A listing page was handled (all its items), before any commit at its boundary: the page's
    /// `request-id` (the activities heartbeat probes its own requests with it).
    fn page_seen(&self, _ctx: &JobContext, _stats: &JobStats, _cp: &mut Self::Checkpoint, _request_id: Option<&str>) {}

    /// The walk reached its end: final checkpoint changes (watermarks, pruning, cursors).
    fn finish(&self, _ctx: &JobContext, _cp: &mut Self::Checkpoint, _end: &WalkEnd) {}

    /// Output for the engine (organizations: the fan-out list).
    fn output(&self, _cp: &Self::Checkpoint) -> JobOutput {
        JobOutput::default()
    }

    /// Snapshot streams on their own cadence: a new snapshot is taken only when the last committed
    /// one is at least this old ([`snapshot_due`]); `None` = every run. Default: every run.
    fn min_interval(&self, _ctx: &JobContext) -> Option<chrono::Duration> {
        None
    }
}

/// Slack under a snapshot cadence: a scheduled run a little earlier than the interval still takes
/// the snapshot (a commit lands seconds after its run started, the next run starts on the minute).
pub const CADENCE_SLACK: chrono::Duration = chrono::Duration::minutes(2);

/// Whether a snapshot is due: never taken, no cadence, or the last one at least `interval − slack` old.
pub fn snapshot_due(last_commit: Option<Timestamp>, now: Timestamp, interval: Option<chrono::Duration>) -> bool {
    match (last_commit, interval) {
        (Some(last), Some(iv)) if iv > chrono::Duration::zero() => now.0 - last.0 >= iv - CADENCE_SLACK.min(iv / 2),
        _ => true,
    }
}

/// What a stream's [`Stream::prefetch`] computed for one item.
pub type Prefetched = Option<Box<dyn std::any::Any + Send>>;

/// What [`Stream::item`] works with.
pub struct ItemCtx<'s, 'a> {
    pub ctx: &'a JobContext,
    pub stats: &'a JobStats,
    pub seg: &'s mut Segment<'a>,
    pub job: &'a Job,
    pub job_key: &'a str,
    /// Request id of the listing page the item came from.
    pub request_id: Option<String>,
    /// The page's envelope fields (besides the items).
    pub envelope: &'s serde_json::Map<String, Value>,
    /// This item's share of [`Stream::prefetch`], if any.
    pub prefetched: Prefetched,
    /// When the walk this item belongs to started (a resumed walk keeps its start).
    pub walk_started_at: Timestamp,
}

impl ItemCtx<'_, '_> {
    /// Provenance for records fetched now by `endpoint` (`request_id`: the request that returned them).
    pub fn ingest<'b>(&'b self, stream: &'b str, endpoint: &'b str, request_id: Option<&'b str>) -> Ingest<'b> {
        Ingest::new(self.ctx, stream, endpoint, self.job_key, request_id)
    }
}

fn encode<C: Serialize>(env: &Envelope<C>) -> Result<Value, SyncError> {
    serde_json::to_value(env).map_err(|e| SyncError::Encode(e.to_string()))
}

/// Runs one job of a stream to its end, or to the deadline.
///
/// A run's data is complete as of the run's start: a walk resumed from an earlier run (a killed
/// sync, an earlier schedule's continuation chain) started before this run and cannot see what
/// changed since behind its position (listings sorted by creation: projects, sessions), so when it
/// completes, an incremental job walks once more from the watermark it just set.
pub async fn run<S: Stream>(s: &S, ctx: &JobContext, job: &Job, stats: &JobStats) -> Result<JobOutput, SyncError> {
    match walk_once(s, ctx, job, stats).await? {
        (out, WalkOrigin::ThisRun) => Ok(out),
        (_, WalkOrigin::EarlierRun) => {
            tracing::info!(job = %job.key(&ctx.cfg), "walk resumed from an earlier run completed; walking again from its watermark");
            walk_once(s, ctx, job, stats).await.map(|(out, _)| out)
        }
    }
}

/// Whether the walk a job completed was started by this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WalkOrigin {
    ThisRun,
    EarlierRun,
}

async fn walk_once<S: Stream>(
    s: &S,
    ctx: &JobContext,
    job: &Job,
    stats: &JobStats,
) -> Result<(JobOutput, WalkOrigin), SyncError> {
    let spec = s.spec();
    let key = job.key(&ctx.cfg);
    let (mut seg, raw) = Segment::open(ctx, stats, spec.name, key.clone(), spec.tables).await?;
    let mut env: Envelope<S::Checkpoint> = if raw.is_null() {
        Envelope { stream: s.initial(ctx), walk: None }
    } else {
        match serde_json::from_value::<Envelope<S::Checkpoint>>(raw.clone()) {
            Ok(e) => e,
            // a checkpoint written before the envelope (engine v1): the stream's own fields
            Err(e) => match serde_json::from_value::<S::Checkpoint>(raw) {
                Ok(cp) => {
                    tracing::info!(job = %key, "upgrading a v1 checkpoint");
                    Envelope { stream: cp, walk: None }
                }
                Err(_) => {
                    return Err(StoreError::Corrupt {
                        key: key.clone(),
                        reason: format!("checkpoint of {}: {e}", spec.name),
                    }
                    .into())
                }
            },
        }
    };
    s.load_state(&seg, &mut env.stream).await?;
    if spec.mode == SyncMode::FullSnapshot && env.walk.is_none() && seg.last_run_id() == Some(ctx.run_id.as_str()) {
        tracing::info!(job = %key, "snapshot of this run already committed; not written again");
        return Ok((s.output(&env.stream), WalkOrigin::ThisRun));
    }
    if spec.mode == SyncMode::FullSnapshot && env.walk.is_none() {
        let last = *stats.last_commit_at.lock().unwrap_or_else(|p| p.into_inner());
        if !snapshot_due(last, ctx.now, s.min_interval(ctx)) {
            tracing::info!(job = %key, "snapshot taken recently (its cadence is not due); nothing read");
            return Ok((s.output(&env.stream), WalkOrigin::ThisRun));
        }
    }
    let mut walk = match env.walk.take() {
        Some(w) => {
            tracing::info!(job = %key, done_in_page = w.done_in_page.len(), "resuming an unfinished walk");
            w
        }
        None => WalkState {
            listing: s.listing(ctx, job, &env.stream),
            page_position: None,
            done_in_page: vec![],
            started_at: ctx.now,
            run_id: ctx.run_id.clone(),
        },
    };
    if walk.page_position.is_none() {
        walk.page_position = walk.listing.start.clone();
    }
    // A snapshot is one segment: it must not be resumed by a later run (it would mix two snapshots).
    if spec.mode == SyncMode::FullSnapshot && walk.run_id != ctx.run_id {
        walk = WalkState {
            listing: s.listing(ctx, job, &env.stream),
            page_position: None,
            done_in_page: vec![],
            started_at: ctx.now,
            run_id: ctx.run_id.clone(),
        };
    }
    let family = spec.family;
    let mut pager =
        Paginator::new(family, walk.listing.path.clone(), walk.listing.query.clone(), walk.page_position.clone());
    let no_envelope = serde_json::Map::new();
    {
        let mut w = ItemCtx {
            ctx,
            stats,
            seg: &mut seg,
            job,
            job_key: &key,
            request_id: None,
            envelope: &no_envelope,
            prefetched: None,
            walk_started_at: walk.started_at,
        };
        s.before_walk(&mut w, &mut env.stream).await?;
    }
    let mut last_commit = tokio::time::Instant::now();
    let snapshot = spec.mode == SyncMode::FullSnapshot;
    let within_pages = s.commits_within_pages();
    let mut items = 0u64;
    let mut recovered = false;
    loop {
        let page = match pager.next_page(&ctx.client, &stats.calls).await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // Before the first page only, once: a rejected stored position (restart from the
            // stream's dedup floor) or a rejected query (the stream may offer another one).
            Err(e) if pager.pages() == 0 && !recovered => {
                let rejected_position = e.is_invalid_cursor() && pager.position().is_some();
                let replacement = if rejected_position {
                    s.restart(&mut env.stream, &walk.listing)
                } else {
                    s.recover(&mut env.stream, &walk.listing, &e)
                };
                let Some(l) = replacement else { return Err(e.into()) };
                tracing::warn!(job = %key, error = %e, rejected_position, "listing rejected; re-walking with the stream's replacement");
                recovered = true;
                walk.listing = l;
                walk.page_position = walk.listing.start.clone();
                walk.done_in_page.clear();
                pager = Paginator::new(
                    family,
                    walk.listing.path.clone(),
                    walk.listing.query.clone(),
                    walk.page_position.clone(),
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stats.page();
        let request_id = page.request_id.clone();
        let page_done = page.done;
        let mut pre = s.prefetch(ctx, stats, &env.stream, &page.items).await.into_iter();
        for item in page.items {
            let prefetched = pre.next().flatten();
            let Some(id) = s.item_id(&item) else {
                return Err(ApiError::Malformed {
                    path: walk.listing.path.clone(),
                    reason: format!("{} item without an identity", spec.name),
                    request_id: request_id.clone(),
                }
                .into());
            };
            if walk.done_in_page.contains(&id) {
                continue;
            }
            {
                let mut w = ItemCtx {
                    ctx,
                    stats,
                    seg: &mut seg,
                    job,
                    job_key: &key,
                    request_id: request_id.clone(),
                    envelope: &page.envelope,
                    prefetched,
                    walk_started_at: walk.started_at,
                };
                s.item(&mut w, &mut env.stream, item).await?;
            }
            items += 1;
            walk.done_in_page.push(id);
            if snapshot {
                if ctx.past_deadline() {
                    // a snapshot commits once: suspend it; this run's continuation resumes it
                    seg.suspend(encode(&Envelope { stream: env.stream.clone(), walk: Some(walk.clone()) })?).await?;
                    return Err(SyncError::Deadline);
                }
                if seg.should_commit() {
                    seg.write_parts().await?; // staged only: a snapshot commits once
                }
                continue;
            }
            let deadline = ctx.past_deadline();
            if within_pages && (deadline || seg.should_commit() || last_commit.elapsed() >= ctx.cfg.commit_interval) {
                s.save_state(&mut seg, &mut env.stream)?;
                let cp = encode(&Envelope { stream: env.stream.clone(), walk: Some(walk.clone()) })?;
                seg.commit(cp).await?;
                s.committed(ctx, job, &mut env.stream).await?;
                last_commit = tokio::time::Instant::now();
                if deadline {
                    return Err(SyncError::Deadline);
                }
            }
        }
        s.page_seen(ctx, stats, &mut env.stream, request_id.as_deref());
        walk.page_position = pager.position().map(str::to_string);
        walk.done_in_page.clear();
        if !page_done && snapshot && ctx.past_deadline() {
            seg.suspend(encode(&Envelope { stream: env.stream.clone(), walk: Some(walk.clone()) })?).await?;
            return Err(SyncError::Deadline);
        }
        if !page_done && !snapshot {
            let deadline = ctx.past_deadline();
            let due = !within_pages && (seg.should_commit() || last_commit.elapsed() >= ctx.cfg.commit_interval);
            if deadline || due {
                s.save_state(&mut seg, &mut env.stream)?;
                seg.commit(encode(&Envelope { stream: env.stream.clone(), walk: Some(walk.clone()) })?).await?;
                s.committed(ctx, job, &mut env.stream).await?;
                last_commit = tokio::time::Instant::now();
                if deadline {
                    return Err(SyncError::Deadline);
                }
            }
        }
    }
    let end = WalkEnd { position: pager.position().map(str::to_string), started_at: walk.started_at, items };
    s.finish(ctx, &mut env.stream, &end);
    s.save_state(&mut seg, &mut env.stream)?;
    seg.commit(encode(&Envelope { stream: env.stream.clone(), walk: None })?).await?;
    s.committed(ctx, job, &mut env.stream).await?;
    let origin = if !snapshot && walk.run_id != ctx.run_id { WalkOrigin::EarlierRun } else { WalkOrigin::ThisRun };
    Ok((s.output(&env.stream), origin))
}

/// How a child listing ended.
pub enum ChildEnd {
    Complete,
    /// The parent is gone (404): what was read so far stands.
    Gone,
}

/// Walks a child listing (a chat's messages, a project's attachments) from `start`, handing every
/// item to `each`; returns the position after the last page. A rejected stored position restarts
/// the child from its beginning (the caller's marks skip what was written); a 404 ends it as gone.
pub async fn children(
    ctx: &JobContext,
    stats: &JobStats,
    family: Family,
    path: &str,
    query: Vec<(String, String)>,
    start: Option<String>,
    each: impl FnMut(Value, Option<&str>) -> Result<(), SyncError> + Send,
) -> Result<(Option<String>, ChildEnd), SyncError> {
    children_pages(ctx, stats, family, path, query, start, usize::MAX, each).await.map(|(p, e, _)| (p, e))
}

/// [`children`], reading at most `max_pages` pages; the `bool` says whether more pages follow (read
/// them from the returned position). Bounds what one parent holds in memory.
#[allow(clippy::too_many_arguments)]
pub async fn children_pages(
    ctx: &JobContext,
    stats: &JobStats,
    family: Family,
    path: &str,
    query: Vec<(String, String)>,
    start: Option<String>,
    max_pages: usize,
    mut each: impl FnMut(Value, Option<&str>) -> Result<(), SyncError> + Send,
) -> Result<(Option<String>, ChildEnd, bool), SyncError> {
    let mut pager = Paginator::new(family, path.to_string(), query.clone(), start.clone());
    let mut restarted = false;
    let mut read = 0usize;
    loop {
        if read >= max_pages {
            return Ok((pager.position().map(str::to_string), ChildEnd::Complete, true));
        }
        let page = match pager.next_page(&ctx.client, &stats.calls).await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) if !restarted && e.is_invalid_cursor() && pager.pages() == 0 && pager.position().is_some() => {
                tracing::warn!(
                    path,
                    "stored child position rejected; re-reading from the start, skipping what was written"
                );
                restarted = true;
                pager = Paginator::new(family, path.to_string(), query.clone(), None);
                continue;
            }
            Err(ApiError::NotFound { message, .. }) => {
                tracing::warn!(path, %message, "parent gone before its children were read");
                return Ok((pager.position().map(str::to_string), ChildEnd::Gone, false));
            }
            Err(e) => return Err(e.into()),
        };
        stats.page();
        read += 1;
        for item in page.items {
            each(item, page.request_id.as_deref())?;
        }
    }
    Ok((pager.position().map(str::to_string), ChildEnd::Complete, false))
}
