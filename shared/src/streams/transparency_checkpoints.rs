//! `transparency_checkpoints`: per organization, verify Anthropic's Access Transparency log and
//! archive what was verified (spec §7.17, the checklist of §7.17.4).
//!
//! Each run: (1) `GET /keys`, keep only keys whose SHA-256 fingerprint is in the trust anchor
//! ([`crate::tlog::PUBLISHED_LOG_KEYS`] plus `SyncConfig::tlog_trusted_fingerprints`); (2) the
//! latest checkpoint — `GET /checkpoint` on a first run, `GET /consistency?from=<archived size>`
//! later; (3) the origin byte for byte against `axt.anthropic.com/<org uuid>` derived from the job,
//! then the ECDSA P-256 note signature; (4) append-only: smaller → fail, equal → same root, larger →
//! the RFC 6962 consistency proof from the archived checkpoint; (5) for every Access Transparency
//! event of the org on the feed (re-read 7 days behind the newest one, as axt-verify does): rebuild
//! its v1 leaf from the served JSON, `GET /inclusion?leaf_index=`, link the proof's checkpoint to the
//! archived one, walk the audit path; re-read events must keep their index and leaf bytes.
//!
//! Rows: `transparency_checkpoints` (each newly verified checkpoint, note verbatim),
//! `transparency_inclusions` (each verified or not-logged event, once), `transparency_findings`
//! (each failure; the same failure is written again at most once a day while it persists, and every
//! row feeds the `TransparencyFindings` metric the alarm watches). A failed checkpoint is never
//! adopted: the archived one stays the anchor. 404 before any checkpoint = "no log yet", no finding.
//! The walk driver does not fit (no listing of the log itself), so this is a [`StreamDef`].

use super::segment::Segment;
use super::{enrich, Ingest, Job, JobContext, JobOutput, JobStats, Scope, StreamDef, StreamSpec, SyncError, SyncMode};
use crate::api::{paths, ApiError, Family, Paginator};
use crate::store::Table;
use crate::time::Timestamp;
use crate::tlog::merkle::{self, Hash};
use crate::tlog::note::{self, LogKey};
use crate::tlog::{leaf, TlogError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const BASE: &str = "/v1/compliance/transparency_log";

pub const SPEC: StreamSpec = StreamSpec {
    name: "transparency_checkpoints",
    endpoint: "/v1/compliance/transparency_log/checkpoint",
    family: Family::Cursor { items: "data" },
    mode: SyncMode::IncrementalCreated,
    scope: Scope::PerOrg,
    identity: "organization_uuid + tree_size + root_hash (checkpoints); activity_id (inclusions); finding_id + detected day (findings)",
    tables: &[Table::TransparencyCheckpoints, Table::TransparencyInclusions, Table::TransparencyFindings],
    context: &["organization_uuid"],
    dlp: &[],
    filters: &[],
};

/// Feed re-read behind the newest AT event seen (axt-verify's default overlap).
pub const EVENT_OVERLAP_DAYS: i64 = 7;
/// An inclusion proof still missing this long after the event was first seen is a finding.
pub const PENDING_GRACE_HOURS: i64 = 24;
/// A persisting failure is written again after this long.
pub const FINDING_REPEAT_HOURS: i64 = 24;

/// The archived checkpoint the next run must prove it extends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub size: u64,
    /// base64 of the 32-byte root.
    pub root: String,
    pub note: String,
    pub verified_at: Timestamp,
}

impl Anchor {
    fn root_hash(&self) -> Option<Hash> {
        STANDARD.decode(&self.root).ok().and_then(|v| v.try_into().ok())
    }
}

/// What was verified about one event (re-reads must match it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub leaf_index: Option<u64>,
    /// base64 leaf hash.
    pub leaf_hash: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub leaf_index: u64,
    pub first_seen: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub anchor: Option<Anchor>,
    /// When the log was last seen to grow (alarm on a log that stops growing: not implemented).
    #[serde(default)]
    pub last_growth_at: Option<Timestamp>,
    /// Newest AT event `created_at` read on the feed.
    #[serde(default)]
    pub newest_event: Option<Timestamp>,
    /// Events verified (or recorded as not logged) inside the re-read window.
    #[serde(default)]
    pub events: BTreeMap<String, EventRecord>,
    /// Events with a leaf index whose inclusion could not be proven yet.
    #[serde(default)]
    pub pending: BTreeMap<String, Pending>,
    /// finding id → when it was last written.
    #[serde(default)]
    pub raised: BTreeMap<String, Timestamp>,
}

/// What a run found wrong (one finding row each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: &'static str,
    pub detail: String,
    /// What makes two detections the same failure (hashed into `finding_id`).
    pub subject: String,
    pub activity_id: Option<String>,
    pub leaf_index: Option<u64>,
    pub served_size: Option<u64>,
    pub served_root: Option<String>,
}

impl Failure {
    fn new(kind: &'static str, detail: impl Into<String>, subject: impl Into<String>) -> Self {
        Failure {
            kind,
            detail: detail.into(),
            subject: subject.into(),
            activity_id: None,
            leaf_index: None,
            served_size: None,
            served_root: None,
        }
    }
}

fn note_failure_kind(e: &note::NoteError) -> &'static str {
    use note::NoteError::*;
    match e {
        Malformed(_) | Checkpoint(_) => "malformed_checkpoint",
        WrongOrigin { .. } => "wrong_origin",
        NoTrustedSignature { .. } => "untrusted_signature",
        BadSignature { .. } => "bad_signature",
        Key(_) => "bad_key",
    }
}

struct Run<'r, 'a> {
    ctx: &'a JobContext,
    stats: &'a JobStats,
    seg: &'r mut Segment<'a>,
    job_key: &'r str,
    org: String,
    origin: String,
    failures: Vec<Failure>,
    /// The deadline stopped the event pass (a continuation finishes it).
    deadline: bool,
}

fn is_404(e: &ApiError) -> bool {
    e.status() == Some(404)
}

fn hashes(v: &Value) -> Result<Vec<Hash>, String> {
    let arr = v.get("hashes").and_then(Value::as_array).ok_or("no hashes array")?;
    arr.iter()
        .map(|h| {
            h.as_str()
                .and_then(|s| STANDARD.decode(s).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| "a hash is not base64 of 32 bytes".to_string())
        })
        .collect()
}

impl Run<'_, '_> {
    fn org_query(&self) -> Vec<(String, String)> {
        vec![("organization_id".into(), self.org.clone())]
    }

    fn ingest<'b>(&'b self, endpoint: &'b str, rid: Option<&'b str>) -> Ingest<'b> {
        Ingest::new(self.ctx, SPEC.name, endpoint, self.job_key, rid)
    }

    /// Step 1: the served keys that the trust anchor lists.
    async fn trusted_keys(&mut self) -> Result<Option<Vec<LogKey>>, SyncError> {
        let path = format!("{BASE}/keys");
        let r = match self.ctx.client.get_json(&path, &self.org_query(), &self.stats.calls).await {
            Ok(r) => r,
            Err(e) if is_404(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut pinned: Vec<String> = crate::tlog::PUBLISHED_LOG_KEYS.iter().map(|(f, _)| f.to_string()).collect();
        pinned.extend(self.ctx.cfg.tlog_trusted_fingerprints.iter().map(|f| f.to_ascii_lowercase()));
        let mut keys = vec![];
        let mut untrusted = vec![];
        for k in r.body.get("log_keys").and_then(Value::as_array).into_iter().flatten() {
            if k.get("algorithm").and_then(Value::as_str) != Some("ecdsa_p256_sha256") {
                continue; // an algorithm we do not support is skipped (spec §7.17.1)
            }
            let Some(der) = k.get("public_key").and_then(Value::as_str).and_then(|s| STANDARD.decode(s).ok()) else {
                continue;
            };
            match LogKey::from_spki_der(&der) {
                Ok(lk) if pinned.contains(&lk.fingerprint_hex()) => keys.push(lk),
                Ok(lk) => untrusted.push(lk.fingerprint_hex()),
                Err(_) => {}
            }
        }
        if keys.is_empty() {
            let f = Failure::new(
                "untrusted_keys",
                format!("GET /keys serves no key whose fingerprint is trusted (served: {})", untrusted.join(", ")),
                untrusted.join(","),
            );
            self.failures.push(f);
        }
        Ok(Some(keys))
    }

    /// Steps 2–5: the latest checkpoint, verified and linked to the anchor; returns the new anchor.
    async fn checkpoint(&mut self, cp: &mut Checkpoint, keys: &[LogKey]) -> Result<(), SyncError> {
        let held = cp.anchor.clone().filter(|a| a.size > 0);
        let (raw, proof, endpoint, rid) = match &held {
            None => {
                let path = format!("{BASE}/checkpoint");
                match self.ctx.client.get_bytes_with_query(&path, &self.org_query(), &self.stats.calls).await {
                    Ok(b) => (b.bytes.to_vec(), vec![], path, b.request_id),
                    Err(e) if is_404(&e) => return self.missing(cp),
                    Err(e) => return Err(e.into()),
                }
            }
            Some(a) => {
                let path = format!("{BASE}/consistency");
                let mut q = self.org_query();
                q.push(("from".into(), a.size.to_string()));
                match self.ctx.client.get_json(&path, &q, &self.stats.calls).await {
                    Ok(r) => {
                        let note = r.body.get("checkpoint").and_then(Value::as_str).unwrap_or("").as_bytes().to_vec();
                        match hashes(&r.body) {
                            Ok(h) => (note, h, path, r.request_id),
                            Err(why) => {
                                self.failures.push(Failure::new(
                                    "malformed_proof",
                                    format!("consistency proof from {}: {why}", a.size),
                                    format!("consistency:{}", a.size),
                                ));
                                return Ok(());
                            }
                        }
                    }
                    Err(e) if is_404(&e) => return self.missing(cp),
                    // a log that can no longer prove it extends what it signed is a failure (§7.17.1)
                    Err(e @ ApiError::BadRequest { .. }) => {
                        self.failures.push(Failure::new(
                            "inconsistent_checkpoint",
                            format!("the log refused a consistency proof from archived size {}: {e}", a.size),
                            format!("refused:{}:{}", a.size, a.root),
                        ));
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let Some((served, _key)) = self.verify_note(&raw, keys) else { return Ok(()) };
        let served_root = STANDARD.encode(served.root);
        if let Some(a) = &held {
            let old = a.root_hash().unwrap_or([0u8; 32]);
            if let Err(e) = merkle::verify_consistency(a.size, served.size, &old, &served.root, &proof) {
                let mut f = Failure::new(
                    "inconsistent_checkpoint",
                    format!(
                        "checkpoint {} ({served_root}) does not extend the archived {} ({}): {e}",
                        served.size, a.size, a.root
                    ),
                    format!("{}:{}:{}:{}", a.size, a.root, served.size, served_root),
                );
                f.served_size = Some(served.size);
                f.served_root = Some(served_root);
                self.failures.push(f);
                return Ok(());
            }
        }
        self.adopt(cp, &raw, &served, &endpoint, rid.as_deref());
        Ok(())
    }

    /// A 404: "no log yet" before any checkpoint was archived, a finding after.
    fn missing(&mut self, cp: &Checkpoint) -> Result<(), SyncError> {
        match &cp.anchor {
            None => tracing::info!(org = %self.org, "no transparency log yet (404)"),
            Some(a) => self.failures.push(Failure::new(
                "log_missing",
                format!("the log answered 404 after checkpoint {} was archived (a log is never deleted)", a.size),
                format!("missing:{}", a.size),
            )),
        }
        Ok(())
    }

    fn verify_note(&mut self, raw: &[u8], keys: &[LogKey]) -> Option<(note::Checkpoint, LogKey)> {
        if keys.is_empty() {
            return None; // already a finding (untrusted_keys)
        }
        match note::verify_checkpoint(raw, &self.origin, keys) {
            Ok(v) => Some(v),
            Err(e) => {
                let subject = crate::streams::segment::sha256_hex(raw);
                self.failures.push(Failure::new(note_failure_kind(&e), TlogError::from(e).to_string(), subject));
                None
            }
        }
    }

    /// Archives a verified checkpoint (when it is new) and makes it the anchor.
    fn adopt(&mut self, cp: &mut Checkpoint, raw: &[u8], c: &note::Checkpoint, endpoint: &str, rid: Option<&str>) {
        let root = STANDARD.encode(c.root);
        let note_text = String::from_utf8_lossy(raw).into_owned();
        let prev = cp.anchor.clone();
        if prev.as_ref().is_some_and(|p| p.size == c.size && p.root == root) {
            return;
        }
        let now = Timestamp::now();
        let row = json!({
            "organization_uuid": self.org,
            "origin": c.origin,
            "tree_size": c.size,
            "root_hash": root,
            "note": note_text,
            "previous_size": prev.as_ref().map(|p| p.size),
            "previous_root_hash": prev.as_ref().map(|p| p.root.clone()),
            "verified_at": now.to_rfc3339(),
            "created_at": now.to_rfc3339(),
        });
        let ingest = self.ingest(endpoint, rid);
        let rec = enrich(row, &[], &ingest);
        self.seg.push(Table::TransparencyCheckpoints, rec);
        if prev.as_ref().is_none_or(|p| c.size > p.size) {
            cp.last_growth_at = Some(now);
        }
        tracing::info!(org = %self.org, tree_size = c.size, root_hash = %root, "transparency checkpoint verified and archived");
        cp.anchor = Some(Anchor { size: c.size, root, note: note_text, verified_at: now });
    }

    /// Step 6–7: the org's AT events on the feed, each proven included (or pending).
    async fn events(&mut self, cp: &mut Checkpoint, keys: &[LogKey]) -> Result<(), SyncError> {
        let cfg = &self.ctx.cfg;
        let gte = match cp.newest_event {
            Some(n) => n.minus(chrono::Duration::days(EVENT_OVERLAP_DAYS)),
            None => cfg.backfill_start.unwrap_or_else(|| self.ctx.now.minus(cfg.activity_lookback)),
        };
        let mut q: Vec<(String, String)> =
            leaf::AT_TYPES.iter().map(|t| ("activity_types[]".to_string(), t.to_string())).collect();
        q.push(("organization_ids[]".into(), self.org.clone()));
        q.push(("order".into(), "asc".into()));
        q.push(("limit".into(), cfg.activity_page_size.clamp(1, 5000).to_string()));
        q.push(("created_at.gte".into(), gte.to_rfc3339()));
        let family = Family::Cursor { items: "data" };
        let mut pager = Paginator::new(family, paths::ACTIVITIES, q.clone(), None);
        let mut served = vec![];
        let mut unfiltered = false;
        loop {
            let page = match pager.next_page(&self.ctx.client, &self.stats.calls).await {
                Ok(Some(p)) => p,
                Ok(None) => break,
                // an API revision that rejects the type filter: the same window, filtered here
                Err(ApiError::BadRequest { message, .. })
                    if !unfiltered && pager.pages() == 0 && message.contains("activity_types") =>
                {
                    unfiltered = true;
                    let q = q.iter().filter(|(k, _)| k != "activity_types[]").cloned().collect();
                    pager = Paginator::new(family, paths::ACTIVITIES, q, None);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            self.stats.page();
            served.extend(page.items);
        }
        for e in served {
            // the invocation deadline (a backfill of many events: one inclusion request each): what
            // is left is newer than `newest_event` and is read again by the continuation
            if self.ctx.past_deadline() {
                self.deadline = true;
                break;
            }
            self.event(cp, keys, e).await?;
            if self.seg.should_commit() {
                self.findings(cp);
                let v = serde_json::to_value(&*cp).map_err(|e| SyncError::Encode(e.to_string()))?;
                self.seg.commit(v).await?;
            }
        }
        // pending events past their grace
        let now = Timestamp::now();
        for (id, p) in &cp.pending {
            if now.0 - p.first_seen.0 > chrono::Duration::hours(PENDING_GRACE_HOURS) {
                let mut f = Failure::new(
                    "inclusion_pending",
                    format!(
                        "no inclusion proof for leaf {} more than {PENDING_GRACE_HOURS} h after the event was served",
                        p.leaf_index
                    ),
                    format!("pending:{id}"),
                );
                f.activity_id = Some(id.clone());
                f.leaf_index = Some(p.leaf_index);
                self.failures.push(f);
            }
        }
        if let Some(n) = cp.newest_event {
            let floor = n.minus(chrono::Duration::days(EVENT_OVERLAP_DAYS));
            cp.events.retain(|_, r| r.created_at >= floor);
        }
        Ok(())
    }

    async fn event(&mut self, cp: &mut Checkpoint, keys: &[LogKey], e: Value) -> Result<(), SyncError> {
        let id = e.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        let ty = e.get("type").and_then(Value::as_str).unwrap_or("");
        if id.is_empty() || !leaf::AT_TYPES.contains(&ty) {
            return Ok(()); // an API that ignored the type filter: other types are not ours
        }
        let Some(created) = super::ts_field(&e, "created_at") else { return Ok(()) };
        if cp.newest_event.is_none_or(|n| created > n) {
            cp.newest_event = Some(created);
        }
        let index = e.get("transparency_log_leaf_index").and_then(Value::as_u64);
        let leaf_hash = match leaf::event_leaf_hash(&e) {
            Ok(h) => h,
            Err(err) => {
                let mut f = Failure::new("unrebuildable_leaf", err.to_string(), format!("leaf:{id}"));
                f.activity_id = Some(id);
                f.leaf_index = index;
                self.failures.push(f);
                return Ok(());
            }
        };
        let leaf_b64 = STANDARD.encode(leaf_hash);
        if let Some(prev) = cp.events.get(&id) {
            if prev.leaf_index != index || prev.leaf_hash != leaf_b64 {
                let mut f = Failure::new(
                    "event_changed",
                    format!(
                        "re-read event differs from the verified record (index {:?} → {index:?}, leaf {} → {leaf_b64})",
                        prev.leaf_index, prev.leaf_hash
                    ),
                    format!("changed:{id}:{index:?}:{leaf_b64}"),
                );
                f.activity_id = Some(id);
                f.leaf_index = index;
                self.failures.push(f);
            }
            return Ok(());
        }
        let Some(index) = index else {
            // served without an index: reported, not failed (spec §7.17.3)
            self.inclusion_row(&id, ty, &e, None, &leaf_b64, None, None, "not_logged");
            cp.events.insert(id, EventRecord { leaf_index: None, leaf_hash: leaf_b64, created_at: created });
            return Ok(());
        };
        if let Some((other, _)) = cp.events.iter().find(|(k, r)| r.leaf_index == Some(index) && **k != id) {
            let mut f = Failure::new(
                "index_reused",
                format!("leaf index {index} was already verified for {other}"),
                format!("reused:{index}:{id}"),
            );
            f.activity_id = Some(id);
            f.leaf_index = Some(index);
            self.failures.push(f);
            return Ok(());
        }
        match self.prove(cp, keys, index, &leaf_hash, &id).await? {
            Some(size) => {
                cp.pending.remove(&id);
                let root = cp.anchor.as_ref().filter(|a| a.size == size).map(|a| a.root.clone());
                self.inclusion_row(&id, ty, &e, Some(index), &leaf_b64, Some(size), root, "verified");
                cp.events.insert(id, EventRecord { leaf_index: Some(index), leaf_hash: leaf_b64, created_at: created });
            }
            None => {
                cp.pending.entry(id).or_insert(Pending { leaf_index: index, first_seen: Timestamp::now() });
            }
        }
        Ok(())
    }

    /// Fetches and checks the inclusion proof of one leaf. `Some(tree size)` = verified, `None` =
    /// pending (no covering checkpoint yet, or one that is not linked yet) or failed (a finding).
    async fn prove(
        &mut self,
        cp: &mut Checkpoint,
        keys: &[LogKey],
        index: u64,
        leaf_hash: &Hash,
        id: &str,
    ) -> Result<Option<u64>, SyncError> {
        let Some(anchor) = cp.anchor.clone() else { return Ok(None) };
        let path = format!("{BASE}/inclusion");
        let mut q = self.org_query();
        q.push(("leaf_index".into(), index.to_string()));
        let r = match self.ctx.client.get_json(&path, &q, &self.stats.calls).await {
            Ok(r) => r,
            Err(e) if is_404(&e) => return Ok(None),
            Err(e @ (ApiError::BadRequest { .. } | ApiError::Forbidden { .. } | ApiError::Unauthorized { .. })) => {
                let mut f = Failure::new(
                    "inclusion_refused",
                    format!("the inclusion proof of a served event was refused: {e}"),
                    format!("refused:{id}"),
                );
                f.activity_id = Some(id.to_string());
                f.leaf_index = Some(index);
                self.failures.push(f);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let fail = |kind: &'static str, detail: String| {
            let mut f = Failure::new(kind, detail, format!("{kind}:{id}:{index}"));
            f.activity_id = Some(id.to_string());
            f.leaf_index = Some(index);
            f
        };
        if r.body.get("leaf_index").and_then(Value::as_u64) != Some(index) {
            self.failures.push(fail(
                "wrong_leaf_index",
                format!("asked for leaf {index}, the proof is for {:?}", r.body.get("leaf_index")),
            ));
            return Ok(None);
        }
        let proof = match hashes(&r.body) {
            Ok(h) => h,
            Err(why) => {
                self.failures.push(fail("malformed_proof", why));
                return Ok(None);
            }
        };
        let raw = r.body.get("checkpoint").and_then(Value::as_str).unwrap_or("").as_bytes().to_vec();
        let Some((c, _)) = self.verify_note(&raw, keys) else { return Ok(None) };
        let anchor_root = anchor.root_hash().unwrap_or([0u8; 32]);
        let root = if c.size == anchor.size {
            if c.root != anchor_root {
                let mut f = fail(
                    "inconsistent_checkpoint",
                    format!(
                        "the inclusion proof's checkpoint of size {} has another root than the archived one",
                        c.size
                    ),
                );
                f.served_size = Some(c.size);
                f.served_root = Some(STANDARD.encode(c.root));
                self.failures.push(f);
                return Ok(None);
            }
            anchor_root
        } else if c.size > anchor.size {
            // link the newer checkpoint into our history first
            let mut cq = self.org_query();
            cq.push(("from".into(), anchor.size.to_string()));
            let cr = match self.ctx.client.get_json(&format!("{BASE}/consistency"), &cq, &self.stats.calls).await {
                Ok(r) => r,
                Err(e) if is_404(&e) => return Ok(None), // pending: asked again next run
                Err(e) => return Err(e.into()),
            };
            let latest = cr.body.get("checkpoint").and_then(Value::as_str).unwrap_or("").as_bytes().to_vec();
            let Some((l, _)) = self.verify_note(&latest, keys) else { return Ok(None) };
            if (l.size, l.root) != (c.size, c.root) {
                return Ok(None); // the log grew again in between: next run
            }
            let cproof = hashes(&cr.body).unwrap_or_default();
            if let Err(e) = merkle::verify_consistency(anchor.size, c.size, &anchor_root, &c.root, &cproof) {
                let mut f = fail(
                    "inconsistent_checkpoint",
                    format!("the inclusion proof's checkpoint does not extend the archived one: {e}"),
                );
                f.served_size = Some(c.size);
                f.served_root = Some(STANDARD.encode(c.root));
                self.failures.push(f);
                return Ok(None);
            }
            self.adopt(cp, &latest, &l, &format!("{BASE}/consistency"), cr.request_id.as_deref());
            c.root
        } else {
            return Ok(None); // an older checkpoint than ours: ask again next run
        };
        match merkle::verify_inclusion(index, c.size, leaf_hash, &proof, &root) {
            Ok(()) => Ok(Some(c.size)),
            Err(e) => {
                let mut f =
                    fail("inclusion_mismatch", format!("the inclusion proof of leaf {index} does not verify: {e}"));
                f.served_size = Some(c.size);
                self.failures.push(f);
                Ok(None)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn inclusion_row(
        &mut self,
        id: &str,
        ty: &str,
        e: &Value,
        index: Option<u64>,
        leaf_hash: &str,
        size: Option<u64>,
        root: Option<String>,
        outcome: &str,
    ) {
        let row = json!({
            "activity_id": id,
            "activity_type": ty,
            "organization_uuid": self.org,
            "created_at": e.get("created_at").cloned().unwrap_or(Value::Null),
            "leaf_index": index,
            "leaf_hash": leaf_hash,
            "checkpoint_size": size,
            "root_hash": root,
            "outcome": outcome,
            "verified_at": Timestamp::now().to_rfc3339(),
        });
        let ingest = self.ingest(paths::ACTIVITIES, None);
        let rec = enrich(row, &[], &ingest);
        self.seg.push(Table::TransparencyInclusions, rec);
    }

    /// Writes the findings of this run (deduplicated per day) into the segment.
    fn findings(&mut self, cp: &mut Checkpoint) {
        let now = Timestamp::now();
        for f in std::mem::take(&mut self.failures) {
            let fid = crate::streams::segment::sha256_hex(format!("{}|{}|{}", self.org, f.kind, f.subject).as_bytes())
                [..24]
                .to_string();
            tracing::error!(org = %self.org, kind = f.kind, finding_id = %fid, detail = %f.detail, "transparency log verification failure");
            if cp.raised.get(&fid).is_some_and(|t| now.0 - t.0 < chrono::Duration::hours(FINDING_REPEAT_HOURS)) {
                continue;
            }
            cp.raised.insert(fid.clone(), now);
            let row = json!({
                "finding_id": fid,
                "organization_uuid": self.org,
                "origin": self.origin,
                "kind": f.kind,
                "severity": "critical",
                "detail": f.detail,
                "activity_id": f.activity_id,
                "leaf_index": f.leaf_index,
                "served_size": f.served_size,
                "served_root_hash": f.served_root,
                "anchor_size": cp.anchor.as_ref().map(|a| a.size),
                "anchor_root_hash": cp.anchor.as_ref().map(|a| a.root.clone()),
                "detected_at": now.to_rfc3339(),
                "created_at": now.to_rfc3339(),
            });
            let ingest = self.ingest(BASE, None);
            let rec = enrich(row, &[], &ingest);
            self.seg.push(Table::TransparencyFindings, rec);
        }
        let horizon = now.minus(chrono::Duration::days(30));
        cp.raised.retain(|_, t| *t >= horizon);
    }
}

pub struct TransparencyCheckpoints;

#[async_trait::async_trait]
impl StreamDef for TransparencyCheckpoints {
    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    async fn run(&self, ctx: &JobContext, job: &Job, stats: &JobStats) -> Result<JobOutput, SyncError> {
        let Some(org) = job.org_uuid.clone() else {
            return Err(SyncError::Encode("transparency_checkpoints runs per organization".into()));
        };
        let key = job.key(&ctx.cfg);
        let (mut seg, mut cp): (Segment<'_>, Checkpoint) = Segment::open_typed(ctx, stats, &SPEC, key.clone()).await?;
        let origin = note::origin_for(&org);
        let mut run = Run { ctx, stats, seg: &mut seg, job_key: &key, org, origin, failures: vec![], deadline: false };
        match run.trusted_keys().await? {
            None => {
                run.missing(&cp)?;
                // indexed events still go pending, and past their grace become findings
                run.events(&mut cp, &[]).await?;
            }
            Some(keys) => {
                run.checkpoint(&mut cp, &keys).await?;
                run.events(&mut cp, &keys).await?;
            }
        }
        run.findings(&mut cp);
        let deadline = run.deadline;
        let value = serde_json::to_value(&cp).map_err(|e| SyncError::Encode(e.to_string()))?;
        seg.commit(value).await?;
        if deadline {
            return Err(SyncError::Deadline);
        }
        Ok(JobOutput::default())
    }
}
