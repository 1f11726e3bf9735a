//! `code_artifacts` + `code_artifact_versions`: Artifacts (Claude Code sites, Claude Docs, Sheets and
//! the other built-in types) from `GET /apps/code/artifacts` (spec §7.14).
//!
//! The listing is sorted by identifier, not time, pages may be short or empty while `next_page` is
//! set, and `updated_at.gte` matches an eventually-consistent index. So, as for projects: a walk
//! lists `updated_at ≥ watermark − overlap` (the watermark is the *start* of the last complete walk,
//! because an edit made during a walk may sort behind its position), and the versions written at or
//! after the window floor (`id@updated_at`) are remembered in the `window` state object, which the
//! next walk's overlap re-lists; state grows with one window's edits, not with the tenant. The
//! first walk has no filter (artifacts published before `updated_at` existed never match one).
//!
//! Each listed item version is written to `code_artifacts` verbatim (`artifact_type` passed
//! through whatever its value). Its `versions[]` (the ≈20 most recent) are written to
//! `code_artifact_versions` once each: a per-artifact mark holds the listed version ids already
//! written (bounded by the listing: a version rotated out never re-appears). With DLP on, a new
//! version's content is downloaded (`…/versions/{version_id}`, `Content-MD5` checked, capped at the
//! DLP per-file cap) and scanned as `code_artifact`; a Claude Doc's versions hold only the web page
//! that shows the Doc (the API answers 422 `multi_file_unavailable`), so they are not downloaded, and
//! any version that cannot be read becomes an `unscanned_file` row, never a failed job.

use super::dlp::{self, Source};
use super::marks::{self, MarkWrite, Stamp};
use super::segment::Segment;
use super::walk::{ItemCtx, Listing, Stream, WalkEnd};
use super::{enrich, str_field, ts_field, Filter, Job, JobContext, JobStats, Scope, StreamSpec, SyncError, SyncMode};
use crate::api::{paths, ApiError, Family};
use crate::dlp::SourceKind;
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const SPEC: StreamSpec = StreamSpec {
    name: "code_artifacts",
    endpoint: paths::CODE_ARTIFACTS,
    family: Family::PageToken,
    mode: SyncMode::IncrementalUpdated,
    scope: Scope::Tenant,
    identity: "code_artifacts: id + updated_at; code_artifact_versions: id",
    tables: &[Table::CodeArtifacts, Table::CodeArtifactVersions, Table::DlpFindings],
    context: &["artifact_id", "artifact_type", "organization_uuid", "owner_user_id"],
    dlp: &[SourceKind::CodeArtifact],
    filters: &[Filter::OrgIds, Filter::UserIds],
};

/// `artifact_type` of a Claude Doc: its versions are never a single file (spec §7.14).
pub const CLAUDE_DOCS: &str = "claude_docs";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Start of the last complete walk: the next walk lists `updated_at ≥ watermark − overlap`.
    pub watermark: Option<Timestamp>,
    /// `id@updated_at` → updated_at of the versions written at or after the window floor (kept in the
    /// `window` state object).
    #[serde(skip)]
    pub recent: BTreeMap<String, Timestamp>,
    #[serde(skip)]
    pub dirty: bool,
}

/// What a per-artifact mark holds: the listed version ids already written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct VersionsMark {
    versions: BTreeSet<String>,
}

pub struct CodeArtifacts;

fn floor(ctx: &JobContext, cp: &Checkpoint) -> Option<Timestamp> {
    cp.watermark.map(|w| w.minus(ctx.cfg.project_overlap))
}

fn version_key(a: &Value) -> Option<(String, Option<Timestamp>)> {
    let id = str_field(a, "id")?;
    let at = ts_field(a, "updated_at");
    Some((format!("{id}@{}", str_field(a, "updated_at").unwrap_or("")), at))
}

fn mark_key(job: &str, artifact_id: &str) -> String {
    marks::key(job, &format!("cart/{artifact_id}"))
}

#[async_trait::async_trait]
impl Stream for CodeArtifacts {
    type Checkpoint = Checkpoint;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    async fn load_state(&self, seg: &Segment<'_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        if let Some(w) = seg.load_object(super::activities::WINDOW, "code artifacts window").await? {
            cp.recent = w;
        }
        Ok(())
    }

    fn save_state(&self, seg: &mut Segment<'_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        seg.stage_object(super::activities::WINDOW, &cp.recent, &mut cp.dirty)
    }

    fn listing(&self, ctx: &JobContext, _job: &Job, cp: &Checkpoint) -> Listing {
        let cfg = &ctx.cfg;
        let mut query = vec![("limit".to_string(), cfg.project_page_size.clamp(1, 100).to_string())];
        for o in &cfg.org_ids {
            query.push(("organization_ids[]".into(), o.clone()));
        }
        for u in &cfg.user_ids {
            query.push(("user_ids[]".into(), u.clone()));
        }
        if let Some(f) = floor(ctx, cp) {
            query.push(("updated_at.gte".into(), f.to_rfc3339()));
        }
        Listing { path: SPEC.endpoint.into(), query, start: None }
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, item: Value) -> Result<(), SyncError> {
        let Some((vkey, at)) = version_key(&item) else {
            return Err(ApiError::Malformed {
                path: SPEC.endpoint.into(),
                reason: "artifact without id".into(),
                request_id: w.request_id.clone(),
            }
            .into());
        };
        if let Some(f) = floor(w.ctx, cp) {
            // the index is eventually consistent: anything below the floor was written by an
            // earlier walk (and an artifact without `updated_at` never matches a filter)
            if at.is_none_or(|a| a < f) {
                return Ok(());
            }
        }
        if cp.recent.contains_key(&vkey) {
            w.stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(());
        }
        write_versions(w, &item).await?;
        let ingest = w.ingest(SPEC.name, SPEC.endpoint, w.request_id.as_deref());
        w.seg.push(Table::CodeArtifacts, enrich(item, &[], &ingest));
        let (now, started, overlap) = (w.ctx.now, w.walk_started_at, w.ctx.cfg.project_overlap);
        super::window::remember(&mut cp.recent, &mut cp.dirty, vkey, at, now, started, overlap);
        Ok(())
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Checkpoint, end: &WalkEnd) {
        super::window::close(&mut cp.watermark, &mut cp.recent, &mut cp.dirty, end.started_at, ctx.cfg.project_overlap);
    }
}

/// Writes the listed versions of one artifact not written before (and their DLP), stages its mark.
async fn write_versions(w: &mut ItemCtx<'_, '_>, item: &Value) -> Result<(), SyncError> {
    let (ctx, stats) = (w.ctx, w.stats);
    let artifact_id = str_field(item, "id").unwrap_or_default().to_string();
    let listed: Vec<&Value> = item.get("versions").and_then(Value::as_array).into_iter().flatten().collect();
    let mkey = mark_key(w.job_key, &artifact_id);
    let mark: VersionsMark = w.seg.current_mark_as(&mkey, w.seg.epoch(), "artifact mark").await?;
    let context = [
        ("artifact_id", json!(artifact_id)),
        ("artifact_type", item.get("artifact_type").cloned().unwrap_or(Value::Null)),
        ("organization_uuid", item.get("organization_uuid").cloned().unwrap_or(Value::Null)),
        ("owner_user_id", item.get("owner_user_id").cloned().unwrap_or(Value::Null)),
    ];
    let artifact_type = str_field(item, "artifact_type").unwrap_or("");
    let mut now_listed = BTreeSet::new();
    let mut out: Vec<(Table, Value)> = Vec::new();
    for v in listed {
        let Some(vid) = str_field(v, "id").map(str::to_string) else { continue };
        now_listed.insert(vid.clone());
        if mark.versions.contains(&vid) {
            continue;
        }
        let ingest = w.ingest(SPEC.name, SPEC.endpoint, w.request_id.as_deref());
        if let Some(d) = ctx.dlp.as_deref() {
            let mut src = Source::new(SourceKind::CodeArtifact, vid.clone());
            src.file_id = Some(artifact_id.clone());
            src.user = item.get("user").cloned().unwrap_or(Value::Null);
            src.organization_uuid = item.get("organization_uuid").cloned().unwrap_or(Value::Null);
            src.source_created_at = v.get("created_at").cloned().unwrap_or(Value::Null);
            let path = paths::code_artifact_version(&artifact_id, &vid);
            match download(ctx, stats, d, &path, artifact_type).await? {
                Download::Text(text, rid) => {
                    let ingest = w.ingest(SPEC.name, &path, rid.as_deref());
                    out.extend(dlp::scan(d, &text, &src, &ingest).into_iter().map(|f| (Table::DlpFindings, f)));
                }
                Download::Skipped => {}
                Download::Unscanned(reason) => {
                    tracing::info!(artifact_id = %artifact_id, version_id = %vid, %reason, "artifact version not scanned");
                    stats.unscanned_files.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    out.push((Table::DlpFindings, dlp::unscanned_file(&src, &reason, &ingest)));
                }
            }
        }
        out.push((Table::CodeArtifactVersions, enrich(v.clone(), &context, &ingest)));
    }
    for (t, r) in out {
        w.seg.push(t, r);
    }
    if now_listed != mark.versions {
        let order = [w.seg.next_seq(), w.seg.buffered() as u64];
        let value = serde_json::to_value(VersionsMark { versions: now_listed })
            .map_err(|e| SyncError::Encode(e.to_string()))?;
        let epoch = w.seg.epoch().to_string();
        w.seg.stage_mark(MarkWrite { key: mkey, stamp: Stamp { epoch, order }, value: Some(value) });
    }
    Ok(())
}

enum Download {
    Text(String, Option<String>),
    /// Binary content, or gone (rotated out): nothing to scan, nothing to report.
    Skipped,
    Unscanned(String),
}

/// One version's content for DLP. Errors of the key or the budget fail the job; anything else about
/// this version is a coverage gap (`Unscanned`).
async fn download(
    ctx: &JobContext,
    stats: &JobStats,
    d: &dlp::DlpContext,
    path: &str,
    artifact_type: &str,
) -> Result<Download, SyncError> {
    if !d.scan_files {
        return Ok(Download::Skipped);
    }
    if artifact_type == CLAUDE_DOCS {
        return Ok(Download::Unscanned(
            "a Claude Doc version holds the page that displays the Doc (several files): not downloadable as one file"
                .into(),
        ));
    }
    let resp = match ctx.client.get_bytes(path, &stats.calls).await {
        Ok(r) => r,
        Err(ApiError::NotFound { .. }) => return Ok(Download::Skipped), // rotated out since the listing
        Err(e @ (ApiError::Unauthorized { .. } | ApiError::RateLimited { .. } | ApiError::NotAuthenticated { .. })) => {
            return Err(e.into())
        }
        Err(ApiError::TooLarge { limit, .. }) => {
            return Ok(Download::Unscanned(format!("download is above the response cap of {limit} bytes")))
        }
        Err(e) if e.status() == Some(422) => {
            return Ok(Download::Unscanned(
                "version has more than one file (422 multi_file_unavailable); not scanned".into(),
            ))
        }
        Err(e) => {
            return Ok(Download::Unscanned(match e.status() {
                Some(s) => format!("download failed: HTTP {s}"),
                None => "download failed: no usable answer from the API".into(),
            }))
        }
    };
    if let Some(want) = resp.content_md5.as_deref() {
        use base64::Engine;
        use md5::{Digest, Md5};
        let got = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&resp.bytes));
        if got != want.trim() {
            return Ok(Download::Unscanned("Content-MD5 mismatch: the download is not trusted".into()));
        }
    }
    if resp.bytes.len() > d.max_file_bytes {
        return Ok(Download::Unscanned(format!(
            "version of {} bytes is above the DLP per-file cap of {} bytes",
            resp.bytes.len(),
            d.max_file_bytes
        )));
    }
    if resp.bytes.iter().take(4096).any(|b| *b == 0) {
        return Ok(Download::Skipped); // binary (an image site's asset): nothing to scan
    }
    Ok(Download::Text(String::from_utf8_lossy(&resp.bytes).into_owned(), resp.request_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_identity_keeps_a_missing_updated_at() {
        let (k, at) = version_key(&json!({"id": "cart_1", "updated_at": null})).unwrap();
        assert_eq!((k.as_str(), at), ("cart_1@", None));
        let (k, at) = version_key(&json!({"id": "cart_1", "updated_at": "2026-10-01T00:00:00Z"})).unwrap();
        assert_eq!(k, "cart_1@2026-10-01T00:00:00Z");
        assert!(at.is_some());
    }
}
