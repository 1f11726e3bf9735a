//! `access_transparency`: the Access Transparency activities (`anthropic_access`, `cmek_preserve`),
//! owned end to end by this stream.
//!
//! These events can become visible up to two business days after their `created_at` (spec §7.1.1),
//! far behind the main feed's 10-minute overlap. Rather than widen the overlap of the whole feed,
//! this stream runs its own per-type reconciliation walk — `activity_types[]` = the two types,
//! `order=asc`, `created_at.gte` = min(newest AT `created_at` seen, previous walk start) minus a
//! lookback of [`LOOKBACK_BUSINESS_DAYS`] business days (and at least [`MIN_LOOKBACK_DAYS`]
//! calendar days) — and drops ids it already wrote (its own dedup window, pruned below the next
//! walk's floor). It writes into the `activities` table, verbatim as served (transparency-log
//! leaves are rebuilt from the served values), so the table keeps holding the whole feed; the
//! `activities` stream skips these two types ([`owned_by_access_transparency`]).

use super::walk::{ItemCtx, Listing, Stream, WalkEnd};
use super::{enrich, str_field, ts_field, Filter, Job, JobContext, Scope, StreamSpec, SyncError, SyncMode};
use crate::api::{paths, ApiError, Family};
use crate::store::Table;
use crate::time::Timestamp;
use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const SPEC: StreamSpec = StreamSpec {
    name: "access_transparency",
    endpoint: paths::ACTIVITIES,
    family: Family::Cursor { items: "data" },
    mode: SyncMode::IncrementalCreated,
    scope: Scope::Tenant,
    identity: "id",
    tables: &[Table::Activities],
    context: &[],
    dlp: &[],
    filters: &[Filter::OrgIds],
};

/// The activity types this stream owns.
pub const TYPES: [&str; 2] = crate::tlog::leaf::AT_TYPES;

/// Business days re-read behind the anchor (the docs' delivery bound is two).
pub const LOOKBACK_BUSINESS_DAYS: u32 = 3;
/// Calendar floor of the lookback (which calendar and holidays define "business days" is not stated).
pub const MIN_LOOKBACK_DAYS: i64 = 4;

/// True for the activity types the `access_transparency` stream owns (the `activities` stream
/// skips them, so each is written once, by the walk whose window covers late arrivals).
pub fn owned_by_access_transparency(activity_type: &str) -> bool {
    TYPES.contains(&activity_type)
}

/// `n` business days (Monday–Friday, UTC) before `t`.
pub fn business_days_before(t: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    let mut d = t;
    let mut left = n;
    while left > 0 {
        d -= Duration::days(1);
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    d
}

/// The earliest `created_at` a walk anchored at `anchor` must re-read.
pub fn lookback_floor(anchor: Timestamp) -> Timestamp {
    let business = business_days_before(anchor.0, LOOKBACK_BUSINESS_DAYS);
    Timestamp(business.min(anchor.0 - Duration::days(MIN_LOOKBACK_DAYS)))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Newest AT `created_at` written.
    pub newest: Option<Timestamp>,
    /// When the last complete walk started.
    pub last_walk_start: Option<Timestamp>,
    /// id → created_at of everything written at or after the next walk's floor.
    #[serde(default)]
    pub written: BTreeMap<String, Timestamp>,
}

impl Checkpoint {
    /// Where the next walk starts; `None` on a first run.
    pub fn anchor(&self) -> Option<Timestamp> {
        match (self.newest, self.last_walk_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Records a written id; `false` if it was already written.
    pub fn admit(&mut self, id: &str, created_at: Timestamp) -> bool {
        if self.written.contains_key(id) {
            return false;
        }
        self.written.insert(id.to_string(), created_at);
        if self.newest.is_none_or(|n| created_at > n) {
            self.newest = Some(created_at);
        }
        true
    }

    /// Forgets ids below the next walk's floor (no future walk returns them).
    pub fn prune(&mut self) {
        if let Some(a) = self.anchor() {
            let floor = lookback_floor(a);
            self.written.retain(|_, t| *t >= floor);
        }
    }
}

fn query(ctx: &JobContext, gte: Timestamp, typed: bool) -> Vec<(String, String)> {
    let mut q = vec![];
    if typed {
        for t in TYPES {
            q.push(("activity_types[]".to_string(), t.to_string()));
        }
    }
    q.push(("order".into(), "asc".into()));
    q.push(("limit".into(), ctx.cfg.activity_page_size.clamp(1, 5000).to_string()));
    q.push(("created_at.gte".into(), gte.to_rfc3339()));
    for o in &ctx.cfg.org_ids {
        q.push(("organization_ids[]".into(), o.clone()));
    }
    q
}

pub struct AccessTransparency;

#[async_trait::async_trait]
impl Stream for AccessTransparency {
    type Checkpoint = Checkpoint;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    fn listing(&self, ctx: &JobContext, _job: &Job, cp: &Checkpoint) -> Listing {
        let cfg = &ctx.cfg;
        let gte = match cp.anchor() {
            Some(a) => lookback_floor(a),
            None => cfg.backfill_start.unwrap_or_else(|| ctx.now.minus(cfg.activity_lookback)),
        };
        Listing { path: SPEC.endpoint.into(), query: query(ctx, gte, true), start: None }
    }

    /// An API revision that rejects the type filter: the same window unfiltered, filtered here.
    fn recover(&self, _cp: &mut Checkpoint, listing: &Listing, err: &ApiError) -> Option<Listing> {
        let rejected = matches!(err, ApiError::BadRequest { message, .. } if message.contains("activity_types"))
            || err.is_unknown_parameter();
        if !rejected || !listing.query.iter().any(|(k, _)| k == "activity_types[]") {
            return None;
        }
        let query = listing.query.iter().filter(|(k, _)| k != "activity_types[]").cloned().collect();
        Some(Listing { query, ..listing.clone() })
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, a: Value) -> Result<(), SyncError> {
        let (Some(id), Some(at), Some(ty)) = (str_field(&a, "id"), ts_field(&a, "created_at"), str_field(&a, "type"))
        else {
            return Err(ApiError::Malformed {
                path: SPEC.endpoint.into(),
                reason: "activity without id, type or created_at".into(),
                request_id: w.request_id.clone(),
            }
            .into());
        };
        if !owned_by_access_transparency(ty) || w.ctx.cfg.exclude_activity_types.iter().any(|x| x == ty) {
            return Ok(());
        }
        if cp.admit(id, at) {
            tracing::info!(activity_id = id, activity_type = ty, created_at = %at.to_rfc3339(), "access transparency event");
            let ingest = w.ingest(SPEC.name, SPEC.endpoint, w.request_id.as_deref());
            w.seg.push(Table::Activities, enrich(a, &[], &ingest));
        } else {
            w.stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    fn finish(&self, _ctx: &JobContext, cp: &mut Checkpoint, end: &WalkEnd) {
        cp.last_walk_start = Some(end.started_at);
        cp.prune();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn business_days_skip_weekends() {
        // Monday 2026-11-23 → two business days back is Thursday 2026-11-19
        assert_eq!(business_days_before(ts("2026-11-23T09:00:00Z").0, 2), ts("2026-11-19T09:00:00Z").0);
        assert_eq!(business_days_before(ts("2026-11-26T09:00:00Z").0, 2), ts("2026-11-24T09:00:00Z").0);
        // the floor is at least 4 calendar days and at least 3 business days back
        assert_eq!(lookback_floor(ts("2026-11-23T09:00:00Z")), ts("2026-11-18T09:00:00Z"));
        assert_eq!(lookback_floor(ts("2026-11-27T09:00:00Z")), ts("2026-11-23T09:00:00Z"));
    }

    #[test]
    fn owns_exactly_the_two_types() {
        assert!(owned_by_access_transparency("anthropic_access"));
        assert!(owned_by_access_transparency("cmek_preserve"));
        assert!(!owned_by_access_transparency("anthropic_access_viewed"));
        assert!(!owned_by_access_transparency("claude_chat_viewed"));
    }

    #[test]
    fn dedup_window_is_bounded_by_the_next_floor() {
        let mut cp = Checkpoint::default();
        assert!(cp.admit("activity_01Old", ts("2026-11-02T10:00:00Z")));
        assert!(cp.admit("activity_01New", ts("2026-11-20T10:00:00Z")));
        assert!(!cp.admit("activity_01New", ts("2026-11-20T10:00:00Z")));
        cp.last_walk_start = Some(ts("2026-11-23T12:00:00Z"));
        cp.prune();
        // anchor = newest (Fri 20th) → floor Mon 16th: the old id is gone, the new one stays
        assert_eq!(cp.written.keys().cloned().collect::<Vec<_>>(), vec!["activity_01New".to_string()]);
    }
}
