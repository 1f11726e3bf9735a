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
//!
//! **Self-audit heartbeat.** Every Compliance API request is itself recorded in the feed as a
//! `compliance_api_accessed` activity. The job keeps the `request-id`s of a few of its own listing
//! pages ([`Heartbeat::probe`], at most [`MAX_PROBES`]); when a later page of this or a later walk
//! carries one of them, the row's `actor.api_key_id` is our key, and from then on the newest row of
//! that key is the heartbeat ([`Heartbeat::observe`]). `SelfAuditLagSeconds` = now − that row
//! (before the first match: now − the first probe) is emitted after each walk and alarms when our
//! own access stops being logged (Compliance API logging turned off, rows no longer delivered). It
//! is off when the walk cannot see those rows: `compliance_api_accessed` excluded, or an
//! organization filter (whether our rows carry an organization is not documented).

use super::segment::Segment;
use super::walk::{ItemCtx, Listing, Stream, WalkEnd};
use super::{enrich, str_field, ts_field, Filter, Job, JobContext, JobStats, Scope, StreamSpec, SyncError, SyncMode};
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
    /// Self-audit: our own requests seen in the feed (a few hundred bytes at most).
    #[serde(default, skip_serializing_if = "Heartbeat::is_empty")]
    pub heartbeat: Heartbeat,
}

/// The activity type every Compliance API request is recorded as.
pub const OWN_ACCESS_TYPE: &str = "compliance_api_accessed";

/// Request ids of our own pages kept until the feed shows them (oldest dropped first).
pub const MAX_PROBES: usize = 8;

/// One of our own requests, waiting to be seen in the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub request_id: String,
    pub at: Timestamp,
}

/// What the self-audit knows of our own requests in the feed. Bounded: `MAX_PROBES` probes, one
/// key id, three timestamps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Our requests not yet seen in the feed, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<Probe>,
    /// Our key's id, learned from the `actor.api_key_id` of a row carrying one of our request ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    /// `created_at` of the newest `compliance_api_accessed` row of our key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// When the first probe was taken (the lag's origin until a row of ours is seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Why the heartbeat is off (the walk cannot see our rows); `None` = on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off: Option<String>,
}

impl Heartbeat {
    pub fn is_empty(&self) -> bool {
        *self == Heartbeat::default()
    }

    /// Why the walk of this configuration cannot see our own rows, if it cannot.
    pub fn off_reason(exclude_activity_types: &[String], org_ids: &[String]) -> Option<String> {
        if exclude_activity_types.iter().any(|t| t == OWN_ACCESS_TYPE) {
            Some(format!("{OWN_ACCESS_TYPE} is excluded from the activities walk"))
        } else if !org_ids.is_empty() {
            Some("the activities walk is filtered by organization".into())
        } else {
            None
        }
    }

    /// Remembers one of our requests (a listing page's `request-id`).
    pub fn probe(&mut self, request_id: &str, at: Timestamp) {
        if self.off.is_some() || self.probes.iter().any(|p| p.request_id == request_id) {
            return;
        }
        self.since.get_or_insert(at);
        self.probes.push(Probe { request_id: request_id.to_string(), at });
        if self.probes.len() > MAX_PROBES {
            let excess = self.probes.len() - MAX_PROBES;
            self.probes.drain(..excess);
        }
    }

    /// Looks at one activity of the feed: a `compliance_api_accessed` row carrying one of our
    /// request ids teaches our key id; any row of our key moves `last_seen`. `true` if it was ours.
    pub fn observe(&mut self, a: &Value) -> bool {
        if str_field(a, "type") != Some(OWN_ACCESS_TYPE) {
            return false;
        }
        let key = a.get("actor").and_then(|x| str_field(x, "api_key_id"));
        if let Some(rid) = str_field(a, "request_id") {
            if let Some(i) = self.probes.iter().position(|p| p.request_id == rid) {
                self.probes.remove(i);
                if let Some(k) = key {
                    if self.api_key_id.as_deref() != Some(k) {
                        self.api_key_id = Some(k.to_string());
                    }
                }
            }
        }
        let ours = key.is_some() && key == self.api_key_id.as_deref();
        if ours {
            if let Some(at) = ts_field(a, "created_at") {
                if self.last_seen.is_none_or(|t| at > t) {
                    self.last_seen = Some(at);
                }
            }
        }
        ours
    }

    /// Where the lag is measured from: the newest row of ours, or before the first one the first
    /// probe; `None` when off or when nothing was probed yet.
    pub fn lag_origin(&self) -> Option<Timestamp> {
        if self.off.is_some() {
            return None;
        }
        self.last_seen.or(self.since)
    }
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

    /// Each listing page's `request-id` is a heartbeat probe (our own request, soon in the feed);
    /// the job's stats carry the heartbeat to `SelfAuditLagSeconds`.
    fn page_seen(&self, ctx: &JobContext, stats: &JobStats, cp: &mut Checkpoint, request_id: Option<&str>) {
        let hb = &mut cp.heartbeat;
        hb.off = Heartbeat::off_reason(&ctx.cfg.exclude_activity_types, &ctx.cfg.org_ids);
        if hb.off.is_some() {
            *hb = Heartbeat { off: hb.off.take(), ..Heartbeat::default() };
        } else if let Some(rid) = request_id {
            hb.probe(rid, Timestamp::now());
        }
        stats.set_self_audit_from(hb.lag_origin());
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
        cp.heartbeat.observe(&a);
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

    fn access(id: &str, key: &str, rid: &str, at: &str) -> Value {
        serde_json::json!({"id": id, "type": OWN_ACCESS_TYPE, "created_at": at, "request_id": rid,
            "actor": {"type": "api_actor", "api_key_id": key, "ip_address": "10.0.0.1", "user_agent": "x"}})
    }

    #[test]
    fn heartbeat_learns_our_key_from_a_probe_and_follows_it() {
        let mut hb = Heartbeat::default();
        assert_eq!(hb.lag_origin(), None, "nothing probed, nothing to measure");
        hb.probe("req_011CabcOurs1", ts("2026-11-23T10:00:00Z"));
        assert_eq!(hb.lag_origin(), Some(ts("2026-11-23T10:00:00Z")), "before any match: the first probe");
        // another tool's rows (another key, unknown request id) teach nothing
        assert!(!hb.observe(&access("activity_1", "apikey_01Other", "req_011Cother", "2026-11-23T10:00:01Z")));
        assert_eq!(hb.api_key_id, None);
        // our request id: our key is learned
        assert!(hb.observe(&access("activity_2", "apikey_01Ours", "req_011CabcOurs1", "2026-11-23T10:00:02Z")));
        assert_eq!(hb.api_key_id.as_deref(), Some("apikey_01Ours"));
        assert!(hb.probes.is_empty());
        // any later row of our key moves last_seen forward, never back; other keys never do
        assert!(hb.observe(&access("activity_3", "apikey_01Ours", "req_011Cnotprobed", "2026-11-23T11:00:00Z")));
        assert!(hb.observe(&access("activity_4", "apikey_01Ours", "req_011Cearlier", "2026-11-23T10:30:00Z")));
        assert!(!hb.observe(&access("activity_5", "apikey_01Other", "req_011Cx", "2026-11-23T12:00:00Z")));
        assert_eq!(hb.last_seen, Some(ts("2026-11-23T11:00:00Z")));
        assert_eq!(hb.lag_origin(), Some(ts("2026-11-23T11:00:00Z")));
        // not an access row
        let other =
            serde_json::json!({"id": "activity_6", "type": "user_signed_in", "created_at": "2026-11-23T13:00:00Z"});
        assert!(!hb.observe(&other));
    }

    #[test]
    fn heartbeat_is_bounded_and_off_when_the_walk_cannot_see_our_rows() {
        let mut hb = Heartbeat::default();
        for i in 0..100 {
            hb.probe(&format!("req_011C{i:020}"), ts("2026-11-23T10:00:00Z"));
        }
        assert_eq!(hb.probes.len(), MAX_PROBES);
        assert_eq!(hb.probes[0].request_id, format!("req_011C{:020}", 100 - MAX_PROBES), "the oldest are dropped");
        assert!(serde_json::to_string(&hb).unwrap().len() < 1024);
        assert!(Heartbeat::off_reason(&[OWN_ACCESS_TYPE.to_string()], &[]).is_some());
        assert!(Heartbeat::off_reason(&[], &["org".to_string()]).is_some());
        assert!(Heartbeat::off_reason(&["user_signed_in".to_string()], &[]).is_none());
        let off = Heartbeat { off: Some("x".into()), since: Some(ts("2026-11-23T10:00:00Z")), ..Heartbeat::default() };
        assert_eq!(off.lag_origin(), None);
        // an old checkpoint without the field reads as an empty heartbeat, and an empty one is not written
        let cp: Checkpoint = serde_json::from_str(r#"{"watermark":"2026-11-23T10:00:00Z"}"#).unwrap();
        assert!(cp.heartbeat.is_empty());
        assert!(!serde_json::to_string(&cp).unwrap().contains("heartbeat"));
    }
}
