//! The walk driver: the one loop every stream runs. A stream ([`Stream`]) says what its listing
//! is and what to do with one listed item; the driver owns the rest:
//! - pagination of the listing (one [`Paginator`]) and of children ([`children`]);
//! - typed checkpoints inside an envelope that also holds the walk position (the query of the walk,
//!   the page position, and the items of the current page already handled), so a commit can happen
//!   between *items*: a resumed walk re-reads that page and skips what it already wrote;
//! - commits every `max_records_per_segment` records or `commit_interval`, and at the end;
//! - the invocation deadline, checked between items: commit, then [`SyncError::Deadline`];
//! - recovery from a rejected cursor (restart the walk from the stream's own dedup floor);
//! - snapshot idempotency per run (a re-delivered snapshot job writes nothing);
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

    /// The walk reached its end: final checkpoint changes (watermarks, pruning, cursors).
    fn finish(&self, _ctx: &JobContext, _cp: &mut Self::Checkpoint, _end: &WalkEnd) {}

    /// Output for the engine (organizations: the fan-out list).
    fn output(&self, _cp: &Self::Checkpoint) -> JobOutput {
        JobOutput::default()
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
pub async fn run<S: Stream>(s: &S, ctx: &JobContext, job: &Job, stats: &JobStats) -> Result<JobOutput, SyncError> {
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
    if spec.mode == SyncMode::FullSnapshot && env.walk.is_none() && seg.last_run_id() == Some(ctx.run_id.as_str()) {
        tracing::info!(job = %key, "snapshot of this run already committed; not written again");
        return Ok(s.output(&env.stream));
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
    let mut last_commit = tokio::time::Instant::now();
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
                };
                s.item(&mut w, &mut env.stream, item).await?;
            }
            items += 1;
            walk.done_in_page.push(id);
            let deadline = ctx.past_deadline();
            let snapshot = spec.mode == SyncMode::FullSnapshot;
            if !snapshot && (deadline || seg.should_commit() || last_commit.elapsed() >= ctx.cfg.commit_interval) {
                let cp = encode(&Envelope { stream: env.stream.clone(), walk: Some(walk.clone()) })?;
                seg.commit(cp).await?;
                last_commit = tokio::time::Instant::now();
                if deadline {
                    return Err(SyncError::Deadline);
                }
            } else if snapshot && seg.should_commit() {
                seg.write_parts().await?; // staged only: a snapshot commits once
            }
        }
        walk.page_position = pager.position().map(str::to_string);
        walk.done_in_page.clear();
        if !page_done && spec.mode != SyncMode::FullSnapshot && ctx.past_deadline() {
            seg.commit(encode(&Envelope { stream: env.stream.clone(), walk: Some(walk.clone()) })?).await?;
            return Err(SyncError::Deadline);
        }
    }
    let end = WalkEnd { position: pager.position().map(str::to_string), started_at: walk.started_at, items };
    s.finish(ctx, &mut env.stream, &end);
    seg.commit(encode(&Envelope { stream: env.stream.clone(), walk: None })?).await?;
    Ok(s.output(&env.stream))
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
    mut each: impl FnMut(Value, Option<&str>) -> Result<(), SyncError> + Send,
) -> Result<(Option<String>, ChildEnd), SyncError> {
    let mut pager = Paginator::new(family, path.to_string(), query.clone(), start.clone());
    let mut restarted = false;
    loop {
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
                return Ok((pager.position().map(str::to_string), ChildEnd::Gone));
            }
            Err(e) => return Err(e.into()),
        };
        stats.page();
        for item in page.items {
            each(item, page.request_id.as_deref())?;
        }
    }
    Ok((pager.position().map(str::to_string), ChildEnd::Complete))
}
