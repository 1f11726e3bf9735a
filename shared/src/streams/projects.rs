//! `projects` + `project_documents`: list (page-token family, `created_at` ascending) filtered by
//! `updated_at.gte = watermark − overlap`, then the detail of each new project version (so each row
//! carries `description`, `instructions` and counts), then its attachments: text documents are
//! fetched whole into `project_documents`; uploaded files are recorded by metadata. A project
//! version (`id` + `updated_at`) and an attachment are each written once. If the API rejects the
//! `updated_at` filter (older revisions), the full list is walked and filtered client-side.

use super::dlp::{self, Source};
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
    /// `id@updated_at` → updated_at, for versions at or after `watermark − overlap`.
    #[serde(default)]
    pub recent: BTreeMap<String, Timestamp>,
    #[serde(default)]
    pub attachments: BTreeSet<String>,
    #[serde(default)]
    pub server_filter_unsupported: bool,
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
        write_project(w, cp, listed, &id).await?;
        cp.recent.insert(vkey, at.unwrap_or(w.ctx.now));
        Ok(())
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Checkpoint, end: &WalkEnd) {
        cp.watermark = Some(end.started_at);
        if let Some(f) = floor(ctx, cp) {
            cp.recent.retain(|_, t| *t >= f);
        }
    }
}

async fn write_project(w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, listed: Value, id: &str) -> Result<(), SyncError> {
    let (ctx, stats, job) = (w.ctx, w.stats, w.job_key);
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
                    w.seg.push(Table::DlpFindings, f);
                }
            }
        }
    }
    w.seg.push(Table::Projects, enrich(row, &[], &ingest));

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
            if cp.attachments.contains(&att_id) {
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
                let text = if kind == "project_doc" {
                    str_field(&record, "content").map(str::to_string)
                } else {
                    dlp::fetch_text_file(ctx, stats, &record).await?
                };
                if let Some(text) = text {
                    let mut s = source(
                        SourceKind::ProjectFile,
                        &att_id,
                        record.get("created_at").cloned().unwrap_or(Value::Null),
                    );
                    s.file_id = Some(att_id.clone());
                    for f in dlp::scan(d, &text, &s, &ingest) {
                        w.seg.push(Table::DlpFindings, f);
                    }
                }
            }
            w.seg.push(Table::ProjectDocuments, enrich(record, &context, &ingest));
            cp.attachments.insert(att_id);
        }
    }
    Ok(())
}
