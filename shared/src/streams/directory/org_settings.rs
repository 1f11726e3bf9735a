//! `org_settings`: per linked organization, the effective settings (`GET /organizations/{org}/settings`)
//! written verbatim — `settings` rows and the parent's `api_keys` included — plus the
//! `organization_uuid` it was read for; one row per organization per snapshot.
//!
//! 404 means the settings feature is not enabled for this organization (or the parent): a normal
//! state, not an error. No row is written for it (an absent row is what "not readable" looks like in
//! the lake; the checkpoint records `enabled: false` for `compliance-lake status`), and it is logged
//! once, when the organization turns so, not every run.
//!
//! Self-audit: the key list of the last snapshot is kept in the checkpoint (a few entries: the
//! parent's Compliance Access Keys, never a secret — the API returns none). A key that was not in
//! the previous snapshot, one that went from active to inactive, and one that vanished each become a
//! `transparency_findings` row (kinds [`KEY_ADDED`], [`KEY_DEACTIVATED`], [`KEY_REMOVED`]) counted
//! by the `ComplianceKeyChanges` metric. The first snapshot is the baseline: it raises nothing.
//! The key list is the parent's, so each linked organization's job reports the same change (one
//! row per organization, same `api_key_id`).
//! The single object does not fit the walk driver (no listing), so this is a [`StreamDef`].

use super::{interval, paths};
use crate::api::{ApiError, Family};
use crate::store::Table;
use crate::streams::segment::{sha256_hex, Segment};
use crate::streams::walk::snapshot_due;
use crate::streams::{
    enrich, str_field, Ingest, Job, JobContext, JobOutput, JobStats, Scope, StreamDef, StreamSpec, SyncError, SyncMode,
};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const SPEC: StreamSpec = StreamSpec {
    name: "org_settings",
    endpoint: "/v1/compliance/organizations/{org_uuid}/settings",
    family: Family::PageToken,
    mode: SyncMode::FullSnapshot,
    scope: Scope::PerOrg,
    identity: "organization_uuid, per run (key-change findings: finding_id + detected_at)",
    tables: &[Table::OrgSettings, Table::TransparencyFindings],
    context: &["organization_uuid"],
    dlp: &[],
    filters: &[],
};

pub const KEY_ADDED: &str = "compliance_key_added";
pub const KEY_DEACTIVATED: &str = "compliance_key_deactivated";
pub const KEY_REMOVED: &str = "compliance_key_removed";

/// What the self-audit remembers of one Compliance Access Key (no secret exists to remember).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySeen {
    pub name: Option<String>,
    pub is_active: bool,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub created_by_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub snapshot_at: Option<Timestamp>,
    /// `false` while the endpoint answers 404 (settings not enabled); `None` before the first read.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub not_enabled_since: Option<Timestamp>,
    /// Keys of the last snapshot by id (`None` before the first one: the baseline raises nothing).
    #[serde(default)]
    pub keys: Option<BTreeMap<String, KeySeen>>,
}

/// The keys of a settings response by id.
pub fn keys_of(body: &Value) -> BTreeMap<String, KeySeen> {
    let strings = |v: &Value, k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    body.get("api_keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| {
            let id = str_field(k, "id")?.to_string();
            Some((
                id,
                KeySeen {
                    name: str_field(k, "name").map(str::to_string),
                    is_active: k.get("is_active").and_then(Value::as_bool).unwrap_or(false),
                    scopes: strings(k, "scopes"),
                    created_at: str_field(k, "created_at").map(str::to_string),
                    created_by_id: str_field(k, "created_by_id").map(str::to_string),
                },
            ))
        })
        .collect()
}

/// One key change between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    pub kind: &'static str,
    pub key_id: String,
    pub key: KeySeen,
}

/// Pure: what changed in the key list since `prev` (`None`: first snapshot, nothing to report).
pub fn key_changes(prev: Option<&BTreeMap<String, KeySeen>>, now: &BTreeMap<String, KeySeen>) -> Vec<KeyChange> {
    let Some(prev) = prev else { return vec![] };
    let mut out = Vec::new();
    for (id, k) in now {
        match prev.get(id) {
            None => out.push(KeyChange { kind: KEY_ADDED, key_id: id.clone(), key: k.clone() }),
            Some(p) if p.is_active && !k.is_active => {
                out.push(KeyChange { kind: KEY_DEACTIVATED, key_id: id.clone(), key: k.clone() })
            }
            Some(_) => {}
        }
    }
    for (id, k) in prev {
        if !now.contains_key(id) {
            out.push(KeyChange { kind: KEY_REMOVED, key_id: id.clone(), key: k.clone() });
        }
    }
    out
}

/// The `transparency_findings` row of a key change (no secret: keys are metadata only).
pub fn finding_row(org: &str, c: &KeyChange, since: Option<Timestamp>, now: Timestamp) -> Value {
    let fid = sha256_hex(format!("{org}|{}|{}", c.kind, c.key_id).as_bytes())[..24].to_string();
    let (severity, what) = match c.kind {
        KEY_ADDED => ("high", "appeared"),
        KEY_DEACTIVATED => ("medium", "was deactivated"),
        _ => ("medium", "disappeared"),
    };
    let name = c.key.name.as_deref().unwrap_or("(no name)");
    let since = since.map(|t| t.to_rfc3339()).unwrap_or_else(|| "the previous snapshot".into());
    let detail = format!(
        "Compliance Access Key {} ({name:?}, scopes [{}], created {} by {}, active: {}) {what} in the effective settings of organization {org} since the snapshot of {since}; the key list is the parent organization's. Confirm who created or changed it (claude.ai → Organization settings → API).",
        c.key_id,
        c.key.scopes.join(", "),
        c.key.created_at.as_deref().unwrap_or("?"),
        c.key.created_by_id.as_deref().unwrap_or("?"),
        c.key.is_active,
    );
    json!({
        "finding_id": fid,
        "organization_uuid": org,
        "origin": null,
        "kind": c.kind,
        "severity": severity,
        "detail": detail,
        "api_key_id": c.key_id,
        "detected_at": now.to_rfc3339(),
        "created_at": now.to_rfc3339(),
    })
}

pub struct OrgSettings;

#[async_trait::async_trait]
impl StreamDef for OrgSettings {
    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    async fn run(&self, ctx: &JobContext, job: &Job, stats: &JobStats) -> Result<JobOutput, SyncError> {
        let Some(org) = job.org_uuid.clone() else {
            return Err(SyncError::Encode("org_settings runs per organization".into()));
        };
        let key = job.key(&ctx.cfg);
        let (mut seg, mut cp): (Segment<'_>, Checkpoint) = Segment::open_typed(ctx, stats, &SPEC, key.clone()).await?;
        if seg.last_run_id() == Some(ctx.run_id.as_str()) {
            tracing::info!(job = %key, "snapshot of this run already committed; not written again");
            return Ok(JobOutput::default());
        }
        let last = *stats.last_commit_at.lock().unwrap_or_else(|p| p.into_inner());
        if cp.enabled == Some(true) && !snapshot_due(last, ctx.now, interval(ctx)) {
            tracing::info!(job = %key, "settings snapshot taken recently (its cadence is not due); nothing read");
            return Ok(JobOutput::default());
        }
        let path = paths::settings(&org);
        match ctx.client.get_json(&path, &[], &stats.calls).await {
            Ok(r) => {
                stats.page();
                let keys = keys_of(&r.body);
                let changes = key_changes(cp.keys.as_ref(), &keys);
                let ingest = Ingest::new(ctx, SPEC.name, &path, &key, r.request_id.as_deref());
                if cp.enabled == Some(false) {
                    tracing::info!(org = %org, "organization settings readable again");
                }
                let now = Timestamp::now();
                for c in &changes {
                    tracing::warn!(org = %org, kind = c.kind, api_key_id = %c.key_id, "Compliance Access Key change");
                    let row = finding_row(&org, c, cp.snapshot_at, now);
                    seg.push(Table::TransparencyFindings, enrich(row, &[], &ingest));
                }
                let rec = enrich(r.body, &[("organization_uuid", Value::String(org.clone()))], &ingest);
                seg.push(Table::OrgSettings, rec);
                cp.keys = Some(keys);
                cp.enabled = Some(true);
                cp.not_enabled_since = None;
                cp.snapshot_at = Some(ctx.now);
            }
            Err(ApiError::NotFound { message, .. }) => {
                if cp.enabled != Some(false) {
                    tracing::warn!(org = %org, %message, "organization settings are not enabled for this organization (404); no org_settings row until they are");
                    cp.not_enabled_since = Some(ctx.now);
                } else {
                    tracing::debug!(org = %org, "organization settings still not enabled (404)");
                }
                cp.enabled = Some(false);
            }
            Err(e) => return Err(e.into()),
        }
        let value = serde_json::to_value(&cp).map_err(|e| SyncError::Encode(e.to_string()))?;
        seg.commit(value).await?;
        Ok(JobOutput::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(active: bool) -> KeySeen {
        KeySeen { name: Some("k".into()), is_active: active, scopes: vec![], created_at: None, created_by_id: None }
    }

    #[test]
    fn key_changes_between_snapshots() {
        let now: BTreeMap<String, KeySeen> =
            [("a".to_string(), key(true)), ("b".to_string(), key(false)), ("c".to_string(), key(true))].into();
        assert!(key_changes(None, &now).is_empty(), "the first snapshot is the baseline");
        assert!(key_changes(Some(&now), &now).is_empty());
        let prev: BTreeMap<String, KeySeen> =
            [("a".to_string(), key(true)), ("b".to_string(), key(true)), ("d".to_string(), key(true))].into();
        let got: Vec<(&str, String)> = key_changes(Some(&prev), &now).into_iter().map(|c| (c.kind, c.key_id)).collect();
        assert_eq!(got, vec![(KEY_DEACTIVATED, "b".into()), (KEY_ADDED, "c".into()), (KEY_REMOVED, "d".into())]);
        // an inactive key that stays inactive, or comes back active, is no finding
        let again: BTreeMap<String, KeySeen> = [("b".to_string(), key(true))].into();
        let prev2: BTreeMap<String, KeySeen> = [("b".to_string(), key(false))].into();
        assert!(key_changes(Some(&prev2), &again).is_empty());
    }

    #[test]
    fn finding_rows_are_stable_and_carry_no_secret() {
        let c = KeyChange { kind: KEY_ADDED, key_id: "apikey_01x".into(), key: key(true) };
        let t = Timestamp::now();
        let a = finding_row("org-1", &c, None, t);
        let b = finding_row("org-1", &c, Some(t), t);
        assert_eq!(a["finding_id"], b["finding_id"]);
        assert_ne!(a["finding_id"], finding_row("org-2", &c, None, t)["finding_id"]);
        assert!(!a.to_string().contains("sk-ant-"));
    }
}
