//! `projects` + `project_documents`: list (page-token family, `created_at` ascending) filtered by
//! `updated_at.gte = watermark − overlap`, then the detail of each new project version (so each row
//! carries `description`, `instructions` and counts), then its attachments: text documents are
//! fetched whole into `project_documents`; uploaded files are recorded by metadata. A project
//! version (`id` + `updated_at`) and an attachment are each written once: written attachments are
//! per-item marks ([`super::marks`]), not a set in the checkpoint, so the state does not grow with
//! the tenant. If the API rejects the `updated_at` filter (older revisions), the full list is walked
//! and filtered client-side.
//!
//! A project whose detail or attachments cannot be read (a 403, a persistent 5xx) is quarantined:
//! kept in the checkpoint with its error (bounded), skipped, retried on a slower cadence at the
//! start of later walks, and written exactly once when the fault clears.

use super::dlp::{self, FileScan, Source};
use super::marks::{self, MarkWrite, Stamp};
use super::segment::Segment;
use super::walk::{children, ItemCtx, Listing, Stream, WalkEnd};
use super::{
    enrich, obj, str_field, ts_field, Filter, Ingest, Job, JobContext, Scope, StreamSpec, SyncError, SyncMode,
};
use crate::api::{paths, ApiError, Family};
use crate::dlp::SourceKind;
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const SPEC: StreamSpec = StreamSpec {
    name: "projects",
    endpoint: paths::PROJECTS,
    family: Family::PageToken,
    mode: SyncMode::IncrementalUpdated,
    scope: Scope::Tenant,
    identity: "projects: id + updated_at; project_documents: id",
    tables: &[Table::Projects, Table::ProjectDocuments, Table::DlpFindings],
    context: &["project_id", "organization_uuid"],
    dlp: &[SourceKind::ProjectDescription, SourceKind::ProjectInstruction, SourceKind::ProjectFile],
    filters: &[Filter::OrgIds, Filter::UserIds],
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Start of the last complete walk: the next walk lists `updated_at ≥ watermark − overlap`. Taken
    /// from the walk's start, not from the highest `updated_at` seen: the listing is sorted by
    /// `created_at`, so an edit made during a long walk may sit behind the walk's position.
    pub watermark: Option<Timestamp>,
    /// `id@updated_at` → updated_at, for versions at or after `watermark − overlap`. Kept in the
    /// `window` state object (an edit storm must not grow the state item); read here only from
    /// checkpoints of ≤ 0.4.
    #[serde(default, skip_serializing)]
    pub recent: BTreeMap<String, Timestamp>,
    /// The window changed since it was last staged.
    #[serde(skip)]
    pub dirty: bool,
    /// Attachments written, from checkpoints of ≤ 0.4: moved into marks by the next commit.
    #[serde(default, skip_serializing)]
    pub attachments: BTreeSet<String>,
    #[serde(default)]
    pub server_filter_unsupported: bool,
    /// Projects that could not be read: retried at the start of later walks.
    #[serde(default)]
    pub quarantine: Vec<QuarantinedProject>,
}

/// A project skipped because its detail or attachments failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantinedProject {
    pub item: String,
    pub endpoint: String,
    pub status: Option<u16>,
    pub error: String,
    pub attempts: u32,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub next_retry: Timestamp,
    /// The listed row (what is written when it succeeds).
    pub listed: Value,
}

/// Most projects kept in quarantine before the job stops with an operator message (each entry
/// holds the listed row: the bound keeps the job's state item far below DynamoDB's limit).
pub const MAX_QUARANTINE: usize = 50;

fn attachment_mark(job: &str, att_id: &str) -> String {
    marks::key(job, &format!("att/{att_id}"))
}

pub fn version_key(p: &Value) -> Option<(String, Option<Timestamp>)> {
    let id = str_field(p, "id")?;
    let at = ts_field(p, "updated_at");
    Some((format!("{id}@{}", at.map(|t| t.to_rfc3339()).unwrap_or_default()), at))
}

pub struct Projects;

fn floor(ctx: &JobContext, cp: &Checkpoint) -> Option<Timestamp> {
    cp.watermark.map(|w| w.minus(ctx.cfg.project_overlap))
}

fn base_query(ctx: &JobContext) -> Vec<(String, String)> {
    let cfg = &ctx.cfg;
    let mut q = vec![("limit".to_string(), cfg.project_page_size.clamp(1, 100).to_string())];
    for o in &cfg.org_ids {
        q.push(("organization_ids[]".into(), o.clone()));
    }
    for u in &cfg.user_ids {
        q.push(("user_ids[]".into(), u.clone()));
    }
    q
}

#[async_trait::async_trait]
impl Stream for Projects {
    type Checkpoint = Checkpoint;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    async fn load_state(&self, seg: &Segment<'_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        if let Some(w) = seg.load_object(super::activities::WINDOW, "projects window").await? {
            cp.recent = w;
        } else if !cp.recent.is_empty() {
            cp.dirty = true; // an inline window of an older checkpoint moves into the state object
        }
        Ok(())
    }

    fn save_state(&self, seg: &mut Segment<'_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        seg.stage_object(super::activities::WINDOW, &cp.recent, &mut cp.dirty)?;
        let (job, epoch) = (seg.job_key().to_string(), seg.epoch().to_string());
        for att in std::mem::take(&mut cp.attachments) {
            seg.stage_mark(MarkWrite {
                key: attachment_mark(&job, &att),
                stamp: Stamp { epoch: epoch.clone(), order: [0, 0] },
                value: Some(Value::Bool(true)),
            });
        }
        Ok(())
    }

    /// Quarantined projects due for another try, before the listing.
    async fn before_walk(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        let now = Timestamp::now();
        let due: Vec<QuarantinedProject> = cp.quarantine.iter().filter(|q| q.next_retry <= now).cloned().collect();
        for q in due {
            let Some((vkey, at)) = version_key(&q.listed) else { continue };
            match write_project(w, cp, q.listed.clone(), &q.item).await {
                Ok(()) => {
                    tracing::info!(project_id = %q.item, attempts = q.attempts, "quarantined project written");
                    cp.quarantine.retain(|x| x.item != q.item);
                    cp.recent.insert(vkey, at.unwrap_or(w.ctx.now));
                    cp.dirty = true;
                }
                Err(SyncError::Api(e)) => quarantine(cp, &q.listed, &q.item, &e, w.ctx.cfg.quarantine_retry)?,
                Err(e) => return Err(e),
            }
        }
        w.stats.quarantined.store(cp.quarantine.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn listing(&self, ctx: &JobContext, _job: &Job, cp: &Checkpoint) -> Listing {
        let mut query = base_query(ctx);
        if let (false, Some(f)) = (cp.server_filter_unsupported, floor(ctx, cp)) {
            query.push(("updated_at.gte".into(), f.to_rfc3339()));
        }
        Listing { path: SPEC.endpoint.into(), query, start: None }
    }

    /// Older API revisions reject the `updated_at` filter: walk the full list, filter client-side.
    fn recover(&self, cp: &mut Checkpoint, listing: &Listing, err: &ApiError) -> Option<Listing> {
        if !err.is_unknown_parameter() || !listing.query.iter().any(|(k, _)| k == "updated_at.gte") {
            return None;
        }
        cp.server_filter_unsupported = true;
        let query = listing.query.iter().filter(|(k, _)| k != "updated_at.gte").cloned().collect();
        Some(Listing { query, ..listing.clone() })
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, listed: Value) -> Result<(), SyncError> {
        let Some((vkey, at)) = version_key(&listed) else {
            return Err(ApiError::Malformed {
                path: SPEC.endpoint.into(),
                reason: "project without id".into(),
                request_id: w.request_id.clone(),
            }
            .into());
        };
        if let (Some(f), Some(a)) = (floor(w.ctx, cp), at) {
            if a < f {
                return Ok(()); // client-side filter when the server could not
            }
        }
        if cp.recent.contains_key(&vkey) {
            w.stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(());
        }
        let id = str_field(&listed, "id").unwrap_or_default().to_string();
        match write_project(w, cp, listed.clone(), &id).await {
            Ok(()) => cp.quarantine.retain(|q| q.item != id),
            // one unreadable project never wedges the stream: quarantine it and move on
            Err(SyncError::Api(e)) if !matches!(e, ApiError::Unauthorized { .. } | ApiError::RateLimited { .. }) => {
                quarantine(cp, &listed, &id, &e, w.ctx.cfg.quarantine_retry)?;
                w.stats.quarantined.store(cp.quarantine.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
        // Only versions the next walk can list again need remembering: it lists `updated_at ≥
        // this walk's start − overlap`. So the window holds the last minutes' edits, not the tenant.
        let at = at.unwrap_or(w.ctx.now);
        if at >= w.walk_started_at.minus(w.ctx.cfg.project_overlap) {
            cp.recent.insert(vkey, at);
            cp.dirty = true;
        }
        Ok(())
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Checkpoint, end: &WalkEnd) {
        cp.watermark = Some(end.started_at);
        if let Some(f) = floor(ctx, cp) {
            let before = cp.recent.len();
            cp.recent.retain(|_, t| *t >= f);
            cp.dirty |= cp.recent.len() != before;
        }
    }
}

/// Records a project that could not be read (or another failed attempt).
fn quarantine(
    cp: &mut Checkpoint,
    listed: &Value,
    id: &str,
    e: &ApiError,
    base: std::time::Duration,
) -> Result<(), SyncError> {
    let now = Timestamp::now();
    if let Some(q) = cp.quarantine.iter_mut().find(|q| q.item == id) {
        q.attempts += 1;
        q.last_seen = now;
        q.status = e.status();
        q.error = super::chat_messages::short_error(e.to_string());
        q.next_retry = super::chat_messages::next_retry(now, q.attempts, base);
        q.listed = listed.clone();
        return Ok(());
    }
    if cp.quarantine.len() >= MAX_QUARANTINE {
        return Err(SyncError::Encode(format!(
            "more than {MAX_QUARANTINE} projects cannot be read (last: {e}); the API is failing broadly — see `compliance-lake status`"
        )));
    }
    tracing::warn!(project_id = id, status = e.status(), error = %e, "project quarantined; the stream moves on");
    cp.quarantine.push(QuarantinedProject {
        item: id.to_string(),
        endpoint: paths::project(id),
        status: e.status(),
        error: super::chat_messages::short_error(e.to_string()),
        attempts: 1,
        first_seen: now,
        last_seen: now,
        next_retry: super::chat_messages::next_retry(now, 1, base),
        listed: listed.clone(),
    });
    Ok(())
}

/// Writes one project version: detail row, DLP of its texts, its new attachments. Everything is
/// pushed only after every request succeeded, so a failure leaves nothing half-written.
async fn write_project(
    w: &mut ItemCtx<'_, '_>,
    _cp: &mut Checkpoint,
    listed: Value,
    id: &str,
) -> Result<(), SyncError> {
    let (ctx, stats, job) = (w.ctx, w.stats, w.job_key);
    let mut out: Vec<(Table, Value)> = Vec::new();
    let mut written_atts: Vec<String> = Vec::new();
    let detail_path = paths::project(id);
    let (row, rid) = match ctx.client.get_json(&detail_path, &[], &stats.calls).await {
        Ok(r) => {
            // The detail is a superset of the list row; keep any list field the detail lacks.
            let mut d = obj(r.body);
            for (k, v) in obj(listed) {
                d.entry(k).or_insert(v);
            }
            (Value::Object(d), r.request_id)
        }
        Err(ApiError::NotFound { message, .. }) => {
            tracing::warn!(project_id = id, %message, "project detail gone (deleted); writing the list row");
            (listed, None)
        }
        Err(e) => return Err(e.into()),
    };
    let org_uuid = row.get("organization_uuid").cloned().unwrap_or(Value::Null);
    let ingest = Ingest {
        run_id: &ctx.run_id,
        fetched_at: Timestamp::now().to_rfc3339(),
        stream: SPEC.name,
        endpoint: &detail_path,
        job,
        request_id: rid.as_deref(),
    };
    let owner = row.get("user").cloned().unwrap_or(Value::Null);
    let source = |kind: SourceKind, source_id: &str, created: Value| {
        let mut s = Source::new(kind, source_id);
        s.project_id = Some(id.to_string());
        s.user = owner.clone();
        s.organization_uuid = org_uuid.clone();
        s.source_created_at = created;
        s
    };
    if let Some(d) = ctx.dlp.as_deref() {
        let updated = row.get("updated_at").cloned().unwrap_or(Value::Null);
        for (field, kind) in
            [("description", SourceKind::ProjectDescription), ("instructions", SourceKind::ProjectInstruction)]
        {
            if let Some(text) = str_field(&row, field) {
                for f in dlp::scan(d, text, &source(kind, id, updated.clone()), &ingest) {
                    out.push((Table::DlpFindings, f));
                }
            }
        }
    }
    out.push((Table::Projects, enrich(row, &[], &ingest)));

    let att_path = paths::project_attachments(id);
    let mut listed_atts: Vec<(Value, Option<String>)> = Vec::new();
    children(ctx, stats, Family::PageToken, &att_path, vec![("limit".into(), "100".into())], None, |att, rid| {
        listed_atts.push((att, rid.map(str::to_string)));
        Ok(())
    })
    .await?;
    {
        for (att, page_rid) in listed_atts {
            let Some(att_id) = str_field(&att, "id").map(str::to_string) else {
                continue;
            };
            let mkey = attachment_mark(job, &att_id);
            let written = match w.seg.staged_mark(&mkey) {
                Some(m) => m.value.is_some(),
                None => marks::load(ctx.state.as_ref(), &mkey, w.seg.epoch()).await?.is_some(),
            };
            if written || written_atts.contains(&att_id) {
                continue;
            }
            let context = [("project_id", Value::String(id.to_string())), ("organization_uuid", org_uuid.clone())];
            let kind = str_field(&att, "type").unwrap_or("").to_string();
            let (record, endpoint, rid) = if kind == "project_doc" {
                let doc_path = paths::project_document(&att_id);
                match ctx.client.get_json(&doc_path, &[], &stats.calls).await {
                    Ok(r) => {
                        // attachment metadata + the document (content, user)
                        let mut m = obj(att);
                        for (k, v) in obj(r.body) {
                            m.insert(k, v);
                        }
                        (Value::Object(m), doc_path, r.request_id)
                    }
                    Err(ApiError::NotFound { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            } else {
                (att, att_path.clone(), page_rid.clone())
            };
            let ingest = Ingest {
                run_id: &ctx.run_id,
                fetched_at: Timestamp::now().to_rfc3339(),
                stream: "project_documents",
                endpoint: &endpoint,
                job,
                request_id: rid.as_deref(),
            };
            if let Some(d) = ctx.dlp.as_deref() {
                let scan = if kind == "project_doc" {
                    str_field(&record, "content").map(|t| FileScan::Text(t.to_string())).unwrap_or(FileScan::Skipped)
                } else {
                    dlp::fetch_for_scan(ctx, stats, &record).await
                };
                let mut s =
                    source(SourceKind::ProjectFile, &att_id, record.get("created_at").cloned().unwrap_or(Value::Null));
                s.file_id = Some(att_id.clone());
                match scan {
                    FileScan::Text(text) => {
                        for f in dlp::scan(d, &text, &s, &ingest) {
                            out.push((Table::DlpFindings, f));
                        }
                    }
                    FileScan::Skipped => {}
                    FileScan::Unscanned(reason) => {
                        tracing::warn!(file_id = %att_id, %reason, "project file not scanned");
                        stats.unscanned_files.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        out.push((Table::DlpFindings, dlp::unscanned_file(&s, &reason, &ingest)));
                    }
                }
            }
            out.push((Table::ProjectDocuments, enrich(record, &context, &ingest)));
            written_atts.push(att_id);
        }
    }
    // every request succeeded: now the records and the attachments' marks
    for (t, r) in out {
        w.seg.push(t, r);
    }
    let (epoch, seq) = (w.seg.epoch().to_string(), w.seg.next_seq());
    for (i, att) in written_atts.into_iter().enumerate() {
        w.seg.stage_mark(MarkWrite {
            key: attachment_mark(job, &att),
            stamp: Stamp { epoch: epoch.clone(), order: [seq, i as u64] },
            value: Some(Value::Bool(true)),
        });
    }
    Ok(())
}
