//! `activities`: the Activity Feed, incremental and exactly once.
//!
//! Walks `order=asc` from `created_at.gte = watermark − overlap` with `after_id` (the default
//! newest-first order would walk into the past from a watermark). Late-indexed events land behind
//! newer ones, so every walk re-reads the overlap window and drops ids already written. The ids of
//! that window (tens of thousands for a busy tenant) are a *state object* committed with the
//! checkpoint ([`super::segment::Segment::set_state_object`]), so the state document stays a few
//! hundred bytes; ids older than the window's floor are pruned. The walk driver saves the position
//! at page boundaries, so a deadline or a crash resumes at the last committed page.
//!
//! The watermark never moves past the walk's start (our clock): one future-dated event cannot make
//! the next walk skip everything before it.

use super::segment::Segment;
use super::walk::{ItemCtx, Listing, Stream, WalkEnd};
use super::{enrich, str_field, ts_field, Filter, Job, JobContext, Scope, StreamSpec, SyncError, SyncMode};
use crate::api::{paths, ApiError, Family};
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const SPEC: StreamSpec = StreamSpec {
    name: "activities",
    endpoint: paths::ACTIVITIES,
    family: Family::Cursor { items: "data" },
    mode: SyncMode::IncrementalCreated,
    scope: Scope::Tenant,
    identity: "id",
    tables: &[Table::Activities],
    context: &[],
    dlp: &[],
    filters: &[Filter::OrgIds, Filter::ExcludeActivityTypes],
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub watermark: Option<Timestamp>,
    /// id → created_at for everything written at or after `watermark − overlap`. Kept in the
    /// `window` state object, not in the checkpoint (read here only from checkpoints of ≤ 0.4).
    #[serde(default, skip_serializing)]
    pub recent: BTreeMap<String, Timestamp>,
    /// The window changed since it was last staged.
    #[serde(skip)]
    pub dirty: bool,
}

/// Name of the state object holding the dedup window.
pub const WINDOW: &str = "window";

/// Where a new walk starts (`created_at.gte`): the overlap window behind the watermark; on a first
/// run the backfill start or the lookback.
pub fn plan_gte(
    cp: &Checkpoint,
    backfill: Option<Timestamp>,
    lookback: chrono::Duration,
    overlap: chrono::Duration,
    now: Timestamp,
) -> Timestamp {
    match cp.watermark {
        Some(wm) => wm.minus(overlap),
        None => backfill.unwrap_or_else(|| now.minus(lookback)),
    }
}

fn query(ctx: &JobContext, gte: Timestamp) -> Vec<(String, String)> {
    let cfg = &ctx.cfg;
    let mut q = vec![
        ("order".to_string(), "asc".to_string()),
        ("limit".to_string(), cfg.activity_page_size.clamp(1, 5000).to_string()),
        ("created_at.gte".to_string(), gte.to_rfc3339()),
    ];
    for o in &cfg.org_ids {
        q.push(("organization_ids[]".into(), o.clone()));
    }
    for t in &cfg.exclude_activity_types {
        q.push(("exclude_activity_types[]".into(), t.clone()));
    }
    q
}

impl Checkpoint {
    /// Records an activity; `false` if it was already written (a re-read inside the overlap). The
    /// watermark follows `created_at` but never past `limit` (the walk's start).
    pub fn admit(&mut self, id: &str, created_at: Timestamp, limit: Timestamp) -> bool {
        if self.recent.contains_key(id) {
            return false;
        }
        self.recent.insert(id.to_string(), created_at);
        self.dirty = true;
        let at = created_at.min(limit);
        if self.watermark.is_none_or(|w| at > w) {
            self.watermark = Some(at);
        }
        true
    }

    /// Forgets ids that no future walk can return (older than `watermark − overlap`).
    pub fn prune(&mut self, overlap: chrono::Duration) {
        if let Some(wm) = self.watermark {
            let floor = wm.minus(overlap);
            let before = self.recent.len();
            self.recent.retain(|_, t| *t >= floor);
            self.dirty |= self.recent.len() != before;
        }
    }
}

pub struct Activities;

#[async_trait::async_trait]
impl Stream for Activities {
    type Checkpoint = Checkpoint;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    async fn load_state(&self, seg: &Segment<'_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        if let Some(w) = seg.load_object(WINDOW, "activities window").await? {
            cp.recent = w;
        } else if !cp.recent.is_empty() {
            cp.dirty = true; // an inline window of an older checkpoint moves into the state object
        }
        Ok(())
    }

    fn save_state(&self, seg: &mut Segment<'_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        seg.stage_object(WINDOW, &cp.recent, &mut cp.dirty)?;
        Ok(())
    }

    /// Items are cheap (no child requests): commit at page boundaries only, so the walk position
    /// never lists the ids of a 5,000-item page.
    fn commits_within_pages(&self) -> bool {
        false
    }

    fn listing(&self, ctx: &JobContext, _job: &Job, cp: &Checkpoint) -> Listing {
        let cfg = &ctx.cfg;
        let gte = plan_gte(cp, cfg.backfill_start, cfg.activity_lookback, cfg.activity_overlap, ctx.now);
        Listing { path: SPEC.endpoint.into(), query: query(ctx, gte), start: None }
    }

    /// A rejected cursor: re-walk from the floor the dedup window still covers (never from the old
    /// walk start, whose ids may already be pruned from the window).
    fn restart(&self, cp: &mut Checkpoint, listing: &Listing) -> Option<Listing> {
        let mut l = Listing { start: None, ..listing.clone() };
        if let (Some(floor), Some(lo)) = (cp.recent.values().min().copied(), cp.watermark) {
            let gte = floor.min(lo);
            for (k, v) in l.query.iter_mut() {
                if k == "created_at.gte" {
                    *v = gte.to_rfc3339();
                }
            }
        }
        Some(l)
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, a: Value) -> Result<(), SyncError> {
        let (Some(id), Some(at)) = (str_field(&a, "id"), ts_field(&a, "created_at")) else {
            return Err(ApiError::Malformed {
                path: SPEC.endpoint.into(),
                reason: "activity without id or created_at".into(),
                request_id: w.request_id.clone(),
            }
            .into());
        };
        // Access Transparency types are owned by the `access_transparency` stream (late-visible events)
        if str_field(&a, "type").is_some_and(super::access_transparency::owned_by_access_transparency) {
            return Ok(());
        }
        if cp.admit(id, at, w.ctx.now) {
            let ingest = w.ingest(SPEC.name, SPEC.endpoint, w.request_id.as_deref());
            let rec = enrich(a, &[], &ingest);
            w.seg.push(Table::Activities, rec);
            if cp.recent.len().is_multiple_of(4096) {
                cp.prune(w.ctx.cfg.activity_overlap);
            }
        } else {
            w.stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Checkpoint, _end: &WalkEnd) {
        cp.prune(ctx.cfg.activity_overlap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn plans() {
        let now = ts("2026-11-23T12:00:00Z");
        let d = chrono::Duration::days(90);
        let o = chrono::Duration::minutes(10);
        let first = plan_gte(&Checkpoint::default(), None, d, o, now);
        assert_eq!(first, ts("2026-08-25T12:00:00Z"));
        let bf = plan_gte(&Checkpoint::default(), Some(ts("2026-08-01T00:00:00Z")), d, o, now);
        assert_eq!(bf, ts("2026-08-01T00:00:00Z"));
        let cp = Checkpoint { watermark: Some(ts("2026-11-23T11:00:00Z")), ..Default::default() };
        assert_eq!(plan_gte(&cp, Some(ts("2020-01-01T00:00:00Z")), d, o, now), ts("2026-11-23T10:50:00Z"));
    }

    #[test]
    fn admit_and_prune() {
        let o = chrono::Duration::minutes(10);
        let mut cp = Checkpoint::default();
        let now = ts("2026-11-23T11:00:00Z");
        assert!(cp.admit("a", ts("2026-11-23T10:00:00Z"), now));
        assert!(cp.admit("b", ts("2026-11-23T10:30:00Z"), now));
        assert!(!cp.admit("a", ts("2026-11-23T10:00:00Z"), now));
        // a late arrival behind the watermark is still new
        assert!(cp.admit("late", ts("2026-11-23T10:25:00Z"), now));
        assert_eq!(cp.watermark, Some(ts("2026-11-23T10:30:00Z")));
        cp.prune(o);
        assert_eq!(cp.recent.keys().cloned().collect::<Vec<_>>(), vec!["b".to_string(), "late".to_string()]);
        // a future-dated event is kept (deduplicated) but holds the watermark at the walk start
        assert!(cp.admit("future", ts("2027-01-01T00:00:00Z"), now));
        assert_eq!(cp.watermark, Some(now));
        cp.prune(o);
        assert!(cp.recent.contains_key("future"));
        assert!(!serde_json::to_string(&cp).unwrap().contains("future"), "the window is not in the checkpoint");
    }
}
