//! `activities`: the Activity Feed, incremental and exactly once.
//!
//! Walks `order=asc` from `created_at.gte = watermark − overlap` with `after_id` (the default
//! newest-first order would walk into the past from a watermark). Late-indexed events land behind
//! newer ones, so every walk re-reads the overlap window and drops ids already written; the ids of
//! that window are part of the checkpoint. Mid-walk commits save the cursor, so a deadline or a
//! crash resumes where the last durable segment ended.

use super::segment::Segment;
use super::{enrich, str_field, ts_field, Ingest, JobContext, JobStats, StreamSpec, SyncError};
use crate::api::{paths, ApiError, Family, Paginator};
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SPEC: StreamSpec = StreamSpec {
    name: "activities",
    endpoint: paths::ACTIVITIES,
    tables: &[Table::Activities],
    family: "cursor (after_id / last_id / has_more)",
    order: "created_at ascending (order=asc), ties by id",
    sync: "incremental from a watermark with an overlap window, de-duplicated by id",
    checkpoint: "watermark (max created_at written), ids inside the overlap window, mid-walk cursor",
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub watermark: Option<Timestamp>,
    #[serde(default)]
    pub walk: Option<Walk>,
    /// id → created_at for everything written at or after `watermark − overlap`.
    #[serde(default)]
    pub recent: BTreeMap<String, Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Walk {
    pub gte: Timestamp,
    pub cursor: Option<String>,
}

/// Where the next walk starts: an unfinished walk resumes; otherwise the overlap window behind the
/// watermark; on a first run the backfill start or the lookback.
pub fn plan_walk(
    cp: &Checkpoint,
    backfill: Option<Timestamp>,
    lookback: chrono::Duration,
    overlap: chrono::Duration,
    now: Timestamp,
) -> Walk {
    if let Some(w) = &cp.walk {
        return w.clone();
    }
    let gte = match cp.watermark {
        Some(wm) => wm.minus(overlap),
        None => backfill.unwrap_or_else(|| now.minus(lookback)),
    };
    Walk { gte, cursor: None }
}

impl Checkpoint {
    /// Records an activity; `false` if it was already written (a re-read inside the overlap).
    pub fn admit(&mut self, id: &str, created_at: Timestamp) -> bool {
        if self.recent.contains_key(id) {
            return false;
        }
        self.recent.insert(id.to_string(), created_at);
        if self.watermark.is_none_or(|w| created_at > w) {
            self.watermark = Some(created_at);
        }
        true
    }

    /// Forgets ids that no future walk can return (older than `watermark − overlap`).
    pub fn prune(&mut self, overlap: chrono::Duration) {
        if let Some(wm) = self.watermark {
            let floor = wm.minus(overlap);
            self.recent.retain(|_, t| *t >= floor);
        }
    }
}

pub async fn run(ctx: &JobContext, stats: &JobStats) -> Result<(), SyncError> {
    let key = super::Job::Activities.key(&ctx.cfg);
    let (mut seg, raw) = Segment::open(ctx, stats, SPEC.name, key.clone(), SPEC.tables).await?;
    let mut cp: Checkpoint = if raw.is_null() {
        Checkpoint::default()
    } else {
        serde_json::from_value(raw)
            .map_err(|e| crate::store::StoreError::Corrupt { key: key.clone(), reason: e.to_string() })?
    };
    let cfg = &ctx.cfg;
    let mut walk = plan_walk(&cp, cfg.backfill_start, cfg.activity_lookback, cfg.activity_overlap, ctx.now);
    let mut query = vec![
        ("order".to_string(), "asc".to_string()),
        ("limit".to_string(), cfg.activity_page_size.clamp(1, 5000).to_string()),
        ("created_at.gte".to_string(), walk.gte.to_rfc3339()),
    ];
    for o in &cfg.org_ids {
        query.push(("organization_ids[]".into(), o.clone()));
    }
    for t in &cfg.exclude_activity_types {
        query.push(("exclude_activity_types[]".into(), t.clone()));
    }
    let mut pager = Paginator::new(Family::Cursor { items: "data" }, SPEC.endpoint, query.clone(), walk.cursor.clone());
    loop {
        let page = match pager.next_page(&ctx.client, &stats.calls).await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e @ ApiError::BadRequest { .. })
                if e.is_invalid_cursor() && pager.position().is_some() && pager.pages() == 0 =>
            {
                // A stored cursor the API no longer accepts: restart the window; dedupe keeps it exact.
                tracing::warn!(job = %key, error = %e, "stored cursor rejected; re-walking from the window start");
                walk.cursor = None;
                pager = Paginator::new(Family::Cursor { items: "data" }, SPEC.endpoint, query.clone(), None);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stats.page();
        let ingest = Ingest::new(ctx, SPEC.name, SPEC.endpoint, &key, page.request_id.as_deref());
        for a in page.items {
            let (Some(id), Some(at)) = (str_field(&a, "id"), ts_field(&a, "created_at")) else {
                return Err(ApiError::Malformed {
                    path: SPEC.endpoint.into(),
                    reason: "activity without id or created_at".into(),
                    request_id: page.request_id.clone(),
                }
                .into());
            };
            if cp.admit(id, at) {
                seg.push(Table::Activities, enrich(a, &[], &ingest));
            } else {
                stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        walk.cursor = pager.position().map(str::to_string);
        if !pager.is_done() && (seg.should_commit() || ctx.past_deadline()) {
            cp.walk = Some(walk.clone());
            cp.prune(cfg.activity_overlap);
            seg.commit(serde_json::to_value(&cp).map_err(|e| SyncError::Encode(e.to_string()))?).await?;
            if ctx.past_deadline() {
                return Err(SyncError::Deadline);
            }
        }
    }
    cp.walk = None;
    cp.prune(cfg.activity_overlap);
    seg.commit(serde_json::to_value(&cp).map_err(|e| SyncError::Encode(e.to_string()))?).await
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
        let first = plan_walk(&Checkpoint::default(), None, d, o, now);
        assert_eq!(first.gte, ts("2026-08-25T12:00:00Z"));
        let bf = plan_walk(&Checkpoint::default(), Some(ts("2026-08-01T00:00:00Z")), d, o, now);
        assert_eq!(bf.gte, ts("2026-08-01T00:00:00Z"));
        let cp = Checkpoint { watermark: Some(ts("2026-11-23T11:00:00Z")), ..Default::default() };
        assert_eq!(plan_walk(&cp, Some(ts("2020-01-01T00:00:00Z")), d, o, now).gte, ts("2026-11-23T10:50:00Z"));
        let mid = Checkpoint { walk: Some(Walk { gte: ts("2026-01-01T00:00:00Z"), cursor: Some("c".into()) }), ..cp };
        assert_eq!(plan_walk(&mid, None, d, o, now).cursor.as_deref(), Some("c"));
    }

    #[test]
    fn admit_and_prune() {
        let o = chrono::Duration::minutes(10);
        let mut cp = Checkpoint::default();
        assert!(cp.admit("a", ts("2026-11-23T10:00:00Z")));
        assert!(cp.admit("b", ts("2026-11-23T10:30:00Z")));
        assert!(!cp.admit("a", ts("2026-11-23T10:00:00Z")));
        // a late arrival behind the watermark is still new
        assert!(cp.admit("late", ts("2026-11-23T10:25:00Z")));
        assert_eq!(cp.watermark, Some(ts("2026-11-23T10:30:00Z")));
        cp.prune(o);
        assert_eq!(cp.recent.keys().cloned().collect::<Vec<_>>(), vec!["b".to_string(), "late".to_string()]);
    }
}
