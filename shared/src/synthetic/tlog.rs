//! Access Transparency in the synthetic tenant: `anthropic_access` / `cmek_preserve` events (spec
//! §7.1.1) with `transparency_log_leaf_index`, late-visible ones (visible two business days after
//! `created_at`), the per-organization log they form (leaves in index order, spec §7.17.2), the
//! log's signing key (derived from the tenant seed) and the fault switches the fake log obeys.

use chrono::{DateTime, Duration, SecondsFormat, Timelike, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use super::ids::{self, trunc_micros};
use super::{ActivityRecord, Tenant};
use crate::tlog::note::LogSigner;

/// Fault switches of the fake transparency log (all off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlogFaults {
    /// Serve a forked history: leaf 0 of every log is replaced, so checkpoints and proofs are
    /// consistent with each other but not with any checkpoint served before the switch.
    pub fork: bool,
    /// Inclusion proofs with one bit flipped in their first hash (or one stray hash).
    pub wrong_inclusion: bool,
    /// Checkpoints whose signature does not verify.
    pub bad_signature: bool,
    /// Every transparency-log endpoint answers 404 ("no log yet").
    pub no_log: bool,
}

const DEPARTMENTS: [&str; 3] = ["Trust & Safety", "Safeguards", "Security Engineering"];
const REASONS: [&str; 4] = ["safety_review", "incident_response", "policy_violation_investigation", "csae_report"];

/// The log signing key of a tenant (deterministic from its seed; not Anthropic's key).
pub fn log_signer(seed: u64) -> LogSigner {
    LogSigner::from_seed(format!("compliance-lake synthetic transparency log {seed}").as_bytes())
}

/// `n` business days (Mon–Fri, UTC) before `t`.
pub fn business_days_before(t: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    crate::streams::access_transparency::business_days_before(t, n)
}

/// `created_at` rendering: no fraction when the microseconds are zero, else exactly six digits.
fn created_rendering(t: DateTime<Utc>) -> String {
    if t.nanosecond() == 0 {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

/// `accessed_at` rendering: 0, 3, 6 or 9 digits, the shortest that keeps the nanoseconds.
fn accessed_rendering(t: DateTime<Utc>) -> String {
    let ns = t.nanosecond();
    let f = if ns == 0 {
        SecondsFormat::Secs
    } else if ns.is_multiple_of(1_000_000) {
        SecondsFormat::Millis
    } else if ns.is_multiple_of(1000) {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Nanos
    };
    t.to_rfc3339_opts(f, true)
}

impl Tenant {
    /// The next leaf index of an organization's log.
    fn next_leaf_index(&self, org_uuid: &str) -> u64 {
        self.log_events(org_uuid).len() as u64
    }

    /// The AT events of an organization that have a leaf, in leaf order (visible or not: the log
    /// is written before the feed serves an event).
    pub fn log_events(&self, org_uuid: &str) -> Vec<&ActivityRecord> {
        let mut v: Vec<&ActivityRecord> = self
            .activities
            .iter()
            .filter(|a| a.organization_uuid.as_deref() == Some(org_uuid))
            .filter(|a| a.wire.get("transparency_log_leaf_index").is_some_and(Value::is_u64))
            .collect();
        v.sort_by_key(|a| a.wire.get("transparency_log_leaf_index").and_then(Value::as_u64));
        v
    }

    /// Adds one AT event to the organization at `org_index`; returns its id. `visible = false`
    /// makes it late (revealed by [`Tenant::reveal_hidden_activities`] or the next mutation).
    pub fn add_access_transparency_event(
        &mut self,
        org_index: usize,
        created_at: DateTime<Utc>,
        visible: bool,
    ) -> String {
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.config.seed ^ 0xA7_7A ^ (self.activities.len() as u64).wrapping_mul(0x9E37_79B9),
        );
        let org = &self.orgs[org_index % self.orgs.len()];
        let (org_id, org_uuid) = (org.org_id.clone(), org.uuid.clone());
        let id = ids::tagged_id(&mut rng, "activity_");
        let created_at = trunc_micros(created_at);
        // accessed up to a few minutes before it was recorded, at ms, µs or ns precision
        let accessed = created_at - Duration::milliseconds(rng.gen_range(500..300_000));
        let accessed = match rng.gen_range(0..4) {
            0 => ids::trunc_secs(accessed),
            1 => accessed - Duration::nanoseconds(i64::from(accessed.nanosecond() % 1_000_000)),
            2 => accessed,
            _ => accessed + Duration::nanoseconds(rng.gen_range(1..999)),
        };
        let ty = if rng.gen_bool(0.8) { "anthropic_access" } else { "cmek_preserve" };
        let mut w = Map::new();
        w.insert("id".into(), json!(id));
        w.insert("type".into(), json!(ty));
        w.insert("created_at".into(), json!(created_rendering(created_at)));
        w.insert("accessed_at".into(), json!(accessed_rendering(accessed)));
        w.insert("organization_id".into(), json!(org_id));
        w.insert("organization_uuid".into(), json!(org_uuid));
        w.insert("workspace_id".into(), json!(ids::tagged_id(&mut rng, "wrkspc_")));
        if rng.gen_bool(0.5) {
            w.insert("workspace_uuid".into(), json!(ids::uuid(&mut rng)));
        }
        w.insert("accessor_department".into(), json!(DEPARTMENTS.choose(&mut rng).copied().unwrap_or("Safeguards")));
        w.insert("reason_code".into(), json!(REASONS.choose(&mut rng).copied().unwrap_or("safety_review")));
        w.insert("actor".into(), json!({"type": "anthropic_actor", "email_address": null}));
        if rng.gen_bool(0.6) {
            w.insert("resource_details".into(), json!({"type": "message", "id": ids::tagged_id(&mut rng, "msg_")}));
        }
        w.insert("transparency_log_leaf_index".into(), json!(self.next_leaf_index(&org_uuid)));
        self.insert_activity(ActivityRecord {
            id: id.clone(),
            created_at,
            visible,
            activity_type: ty.to_string(),
            organization_id: Some(org_id),
            organization_uuid: Some(org_uuid),
            actor_user_id: None,
            wire: Value::Object(w),
        });
        id
    }

    /// `per_org` visible AT events in each of the first `orgs` organizations, spread over the
    /// tenant's window; returns their ids.
    pub fn add_access_transparency(&mut self, orgs: usize, per_org: usize) -> Vec<String> {
        let mut out = vec![];
        let (start, end) = (self.config.start, self.now);
        for o in 0..orgs.min(self.orgs.len()) {
            for k in 0..per_org {
                let span = (end - start).num_seconds().max(1);
                let at = start + Duration::seconds(span * (k as i64 + 1) / (per_org as i64 + 1));
                out.push(self.add_access_transparency_event(o, at, true));
            }
        }
        out
    }

    /// One late AT event: recorded two business days before `now`, invisible until revealed.
    pub fn add_late_access_transparency(&mut self, org_index: usize, now: DateTime<Utc>) -> String {
        self.add_access_transparency_event(org_index, business_days_before(now, 2), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::TenantConfig;

    #[test]
    fn events_form_a_log_and_rebuild_as_leaves() {
        let mut t = Tenant::generate(TenantConfig::small());
        let ids = t.add_access_transparency(2, 3);
        assert_eq!(ids.len(), 6);
        let org = t.orgs[0].uuid.clone();
        let log = t.log_events(&org);
        assert_eq!(log.len(), 3);
        for (i, a) in log.iter().enumerate() {
            assert_eq!(a.wire["transparency_log_leaf_index"], i as u64);
            assert!(crate::tlog::leaf::leaf_entry(&a.wire).is_ok());
        }
        let late = t.add_late_access_transparency(0, t.now);
        assert!(!t.activities.iter().find(|a| a.id == late).unwrap().visible);
        assert_eq!(t.log_events(&org).len(), 4, "in the log before the feed serves it");
    }

    #[test]
    fn timestamp_renderings() {
        let t = DateTime::parse_from_rfc3339("2026-11-20T10:00:00.120000Z").unwrap().with_timezone(&Utc);
        assert_eq!(accessed_rendering(t), "2026-11-20T10:00:00.120Z");
        assert_eq!(created_rendering(t), "2026-11-20T10:00:00.120000Z");
        let s = ids::trunc_secs(t);
        assert_eq!(created_rendering(s), "2026-11-20T10:00:00Z");
    }
}
