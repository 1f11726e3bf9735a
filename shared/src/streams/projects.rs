//! `projects` + `project_documents`: list (page-token family, `created_at` ascending) filtered by
//! `updated_at.gte = watermark − overlap`, then the detail of each new project version (so each row
//! carries `description`, `instructions` and counts), then its attachments: text documents are
//! fetched whole into `project_documents`; uploaded files are recorded by metadata. A project
//! version (`id` + `updated_at`) and an attachment are each written once. If the API rejects the
//! `updated_at` filter (older revisions), the full list is walked and filtered client-side.

use super::dlp::{self, Source};
use super::segment::Segment;
use super::{enrich, obj, str_field, ts_field, Ingest, JobContext, JobStats, StreamSpec, SyncError};
use crate::api::{paths, ApiError, Family, Paginator};
use crate::dlp::SourceKind;
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const SPEC: StreamSpec = StreamSpec {
    name: "projects",
    endpoint: paths::PROJECTS,
    tables: &[Table::Projects, Table::ProjectDocuments, Table::DlpFindings],
    family: "page token (page / next_page)",
    order: "created_at ascending",
    sync: "incremental by updated_at with an overlap window; detail + attachments per new version",
    checkpoint: "watermark (max updated_at written), versions in the overlap window, attachment ids written",
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
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

pub async fn run(ctx: &JobContext, stats: &JobStats) -> Result<(), SyncError> {
    let cfg = &ctx.cfg;
    let key = super::Job::Projects.key(cfg);
    let (mut seg, raw) = Segment::open(ctx, stats, SPEC.name, key.clone(), SPEC.tables).await?;
    let mut cp: Checkpoint = if raw.is_null() {
        Checkpoint::default()
    } else {
        serde_json::from_value(raw)
            .map_err(|e| crate::store::StoreError::Corrupt { key: key.clone(), reason: e.to_string() })?
    };
    let floor = cp.watermark.map(|w| w.minus(cfg.project_overlap));
    let mut base = vec![("limit".to_string(), cfg.project_page_size.clamp(1, 100).to_string())];
    for o in &cfg.org_ids {
        base.push(("organization_ids[]".into(), o.clone()));
    }
    for u in &cfg.user_ids {
        base.push(("user_ids[]".into(), u.clone()));
    }
    let mut use_filter = floor.is_some() && !cp.server_filter_unsupported;
    let make_query = |use_filter: bool| {
        let mut q = base.clone();
        if let (true, Some(f)) = (use_filter, floor) {
            q.push(("updated_at.gte".into(), f.to_rfc3339()));
        }
        q
    };
    let mut pager = Paginator::new(Family::PageToken, SPEC.endpoint, make_query(use_filter), None);
    loop {
        let page = match pager.next_page(&ctx.client, &stats.calls).await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) if use_filter && e.is_unknown_parameter() && pager.pages() == 0 => {
                tracing::warn!(error = %e, "projects: updated_at filter not supported here; walking the full list");
                use_filter = false;
                cp.server_filter_unsupported = true;
                pager = Paginator::new(Family::PageToken, SPEC.endpoint, make_query(false), None);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stats.page();
        for listed in page.items {
            let Some((vkey, at)) = version_key(&listed) else {
                return Err(ApiError::Malformed {
                    path: SPEC.endpoint.into(),
                    reason: "project without id".into(),
                    request_id: page.request_id.clone(),
                }
                .into());
            };
            if let (Some(f), Some(a)) = (floor, at) {
                if a < f {
                    continue; // client-side filter when the server could not
                }
            }
            if cp.recent.contains_key(&vkey) {
                stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            let id = str_field(&listed, "id").unwrap_or_default().to_string();
            write_project(ctx, stats, &mut seg, &mut cp, &key, listed, &id).await?;
            let at = at.unwrap_or(ctx.now);
            cp.recent.insert(vkey, at);
            if cp.watermark.is_none_or(|w| at > w) {
                cp.watermark = Some(at);
            }
            if seg.should_commit() {
                seg.write_parts().await?;
            }
        }
    }
    if let Some(w) = cp.watermark {
        let f = w.minus(cfg.project_overlap);
        cp.recent.retain(|_, t| *t >= f);
    }
    seg.commit(serde_json::to_value(&cp).map_err(|e| SyncError::Encode(e.to_string()))?).await
}

async fn write_project(
    ctx: &JobContext,
    stats: &JobStats,
    seg: &mut Segment<'_>,
    cp: &mut Checkpoint,
    job: &str,
    listed: Value,
    id: &str,
) -> Result<(), SyncError> {
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
                    seg.push(Table::DlpFindings, f);
                }
            }
        }
    }
    seg.push(Table::Projects, enrich(row, &[], &ingest));

    let att_path = paths::project_attachments(id);
    let mut pager = Paginator::new(Family::PageToken, att_path.clone(), vec![("limit".into(), "100".into())], None);
    loop {
        let page = match pager.next_page(&ctx.client, &stats.calls).await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(ApiError::NotFound { .. }) => break,
            Err(e) => return Err(e.into()),
        };
        stats.page();
        for att in page.items {
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
                (att, att_path.clone(), page.request_id.clone())
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
                        seg.push(Table::DlpFindings, f);
                    }
                }
            }
            seg.push(Table::ProjectDocuments, enrich(record, &context, &ingest));
            cp.attachments.insert(att_id);
        }
    }
    Ok(())
}
