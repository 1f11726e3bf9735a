//! `project_details`: the detail and attachments of changed project versions, read by
//! `SyncConfig::chat_shards` shard jobs (`project_details/s003of016`) from the tasks the `projects`
//! discovery job publishes with its commits ([`super::shards`]). Each task is one listed version:
//! its detail row goes to `projects`, its text documents (fetched whole) and uploaded files (by
//! metadata) to `project_documents`, with DLP over description, instructions and documents.
//!
//! Exactly once: a project version (`id` + `updated_at`) and an attachment are each marked when
//! written ([`super::marks`], owned by the discovery job), so a task handed out twice (a discovery
//! walk restarted after a rejected page token) writes nothing twice, and no document grows with the
//! tenant.
//!
//! A project whose detail or attachments cannot be read (a 403, a persistent 5xx) is quarantined:
//! kept in the shard's checkpoint with its error (bounded), skipped, retried on a slower cadence,
//! and written exactly once when the fault clears. A file DLP cannot read is an `unscanned_file`
//! row, never a failed job.

use super::dlp::{self, FileScan, Source};
use super::marks::{MarkWrite, Stamp};
use super::projects;
use super::quarantine;
use super::segment::Segment;
use super::shards::{self, Owner, Position, Shard, ShardWork};
use super::walk::children;
use super::{
    enrich, obj, str_field, Filter, Ingest, Job, JobContext, JobOutput, JobStats, Scope, StreamDef, StreamSpec,
    SyncError, SyncMode,
};
use crate::api::{paths, ApiError, Family};
use crate::dlp::SourceKind;
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const SPEC: StreamSpec = StreamSpec {
    name: "project_details",
    endpoint: "/v1/compliance/apps/projects/{project_id}",
    family: Family::PageToken,
    mode: SyncMode::IncrementalUpdated,
    scope: Scope::Shards { parent: projects::SPEC.name },
    identity: "projects: id + updated_at; project_documents: id",
    tables: &[Table::Projects, Table::ProjectDocuments, Table::DlpFindings],
    context: &["project_id", "organization_uuid"],
    dlp: &[SourceKind::ProjectDescription, SourceKind::ProjectInstruction, SourceKind::ProjectFile],
    // the discovery job's filters: the shard reads that job's work
    filters: &[Filter::OrgIds, Filter::UserIds],
};

/// Most projects one shard keeps in quarantine (16 shards: 800 for the tenant); beyond it the API
/// is failing broadly and the job stops with an operator message. Each entry holds the listed row:
/// the bound keeps the shard's state item small.
pub const MAX_QUARANTINE: usize = 50;
/// Tasks handled between two checks of the deadline.
const BATCH: usize = 8;

/// One task handed to a shard: the listed project version, and its order in the discovery job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub project: Value,
    /// (discovery commit sequence, position in it): stamps the project's marks.
    pub order: [u64; 2],
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Where this shard is in the discovery job's work.
    #[serde(flatten)]
    pub at: Position,
    /// Projects that could not be read: retried at the start of later runs.
    #[serde(default)]
    pub quarantine: Vec<QuarantinedProject>,
}

/// A project skipped because its detail or attachments failed.
pub type QuarantinedProject = quarantine::Entry<ProjectRetry>;

/// What a quarantined project keeps: the listed row (what is written when it succeeds) and its
/// task's order (stamps the marks then).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectRetry {
    pub listed: Value,
    #[serde(default)]
    pub order: [u64; 2],
}

fn version_mark(owner: &Owner, project_id: &str) -> String {
    owner.key(&format!("proj/{project_id}"))
}

/// Whether the project version `listed` is already written (its mark holds this version or a later one).
async fn covered(seg: &Segment<'_>, owner: &Owner, id: &str, listed: &Value) -> Result<bool, SyncError> {
    let key = version_mark(owner, id);
    let have = seg.current_mark(&key, &owner.epoch).await?;
    let (Some(have), Some(want)) = (have.as_ref().and_then(Value::as_str), str_field(listed, "updated_at")) else {
        return Ok(false);
    };
    Ok(match (Timestamp::parse(have), Timestamp::parse(want)) {
        (Ok(h), Ok(w)) => h >= w,
        _ => have == want,
    })
}

pub struct ProjectDetails;

#[async_trait::async_trait]
impl StreamDef for ProjectDetails {
    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    async fn run(&self, ctx: &JobContext, job: &Job, stats: &JobStats) -> Result<JobOutput, SyncError> {
        shards::run(self, ctx, job, stats).await
    }
}

#[async_trait::async_trait]
impl ShardWork for ProjectDetails {
    type Checkpoint = Checkpoint;
    type Task = Task;
    type Run = ();

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    fn parent(&self) -> &'static str {
        projects::SPEC.name
    }

    fn batch_size(&self) -> usize {
        BATCH
    }

    fn position<'c>(&self, cp: &'c mut Checkpoint) -> &'c mut Position {
        &mut cp.at
    }

    fn quarantined(&self, cp: &Checkpoint) -> usize {
        cp.quarantine.len()
    }

    /// Quarantined projects due for another try.
    async fn start(&self, s: &mut Shard<'_, '_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        let now = Timestamp::now();
        let due: Vec<Task> = cp
            .quarantine
            .iter()
            .filter(|q| q.next_retry <= now)
            .map(|q| Task { project: q.payload.listed.clone(), order: q.payload.order })
            .collect();
        for chunk in due.chunks(BATCH) {
            self.batch(s, cp, &mut (), chunk).await?;
        }
        Ok(())
    }

    async fn batch(
        &self,
        s: &mut Shard<'_, '_>,
        cp: &mut Checkpoint,
        _run: &mut (),
        tasks: &[Task],
    ) -> Result<(), SyncError> {
        let (ctx, stats, owner) = (s.ctx, s.stats, s.owner);
        for t in tasks {
            let Some(id) = str_field(&t.project, "id").map(str::to_string) else { continue };
            if covered(s.seg, owner, &id, &t.project).await? {
                stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                cp.quarantine.retain(|q| q.item != id);
                continue;
            }
            match write_project(ctx, stats, s.seg, owner, t.project.clone(), &id, t.order).await {
                Ok(()) => {
                    if cp.quarantine.iter().any(|q| q.item == id) {
                        tracing::info!(project_id = %id, "quarantined project written");
                    }
                    cp.quarantine.retain(|q| q.item != id);
                }
                // one unreadable project never wedges the stream: quarantine it and move on
                Err(SyncError::Api(e))
                    if !matches!(e, ApiError::Unauthorized { .. } | ApiError::RateLimited { .. }) =>
                {
                    quarantine(cp, t, &id, &e, ctx.cfg.quarantine_retry)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Records a project that could not be read (or another failed attempt).
fn quarantine(
    cp: &mut Checkpoint,
    t: &Task,
    id: &str,
    e: &ApiError,
    base: std::time::Duration,
) -> Result<(), SyncError> {
    let payload = ProjectRetry { listed: t.project.clone(), order: t.order };
    let newer = |held: &ProjectRetry, new: &ProjectRetry| new.order >= held.order;
    let endpoint = || paths::project(id);
    match quarantine::record(&mut cp.quarantine, MAX_QUARANTINE, id, endpoint, quarantine::Failure::api(e), base, payload, newer) {
        quarantine::Recorded::Again => Ok(()),
        quarantine::Recorded::New => {
            tracing::warn!(project_id = id, status = e.status(), error = %e, "project quarantined; the stream moves on");
            Ok(())
        }
        quarantine::Recorded::Full => Err(SyncError::Encode(format!(
            "more than {MAX_QUARANTINE} projects of this shard cannot be read (last: {e}); the API is failing broadly — see `compliance-lake status`"
        ))),
    }
}

/// Writes one project version: detail row, DLP of its texts, its new attachments. Everything is
/// pushed only after every request succeeded, so a failure leaves nothing half-written.
#[allow(clippy::too_many_arguments)]
async fn write_project(
    ctx: &JobContext,
    stats: &JobStats,
    seg: &mut Segment<'_>,
    owner: &Owner,
    listed: Value,
    id: &str,
    order: [u64; 2],
) -> Result<(), SyncError> {
    let job_key = seg.job_key().to_string();
    let job = job_key.as_str();
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
    // the version written is the detail's (an edit between listing and detail moves it on): the
    // mark holds it, so the listing of that newer version finds it covered
    let written_version = row.get("updated_at").cloned().unwrap_or(Value::Null);
    let org_uuid = row.get("organization_uuid").cloned().unwrap_or(Value::Null);
    let ingest = Ingest {
        run_id: &ctx.run_id,
        fetched_at: Timestamp::now().to_rfc3339(),
        stream: SPEC.name,
        endpoint: &detail_path,
        job,
        request_id: rid.as_deref(),
    };
    let proj_owner = row.get("user").cloned().unwrap_or(Value::Null);
    let source = |kind: SourceKind, source_id: &str, created: Value| {
        let mut s = Source::new(kind, source_id);
        s.project_id = Some(id.to_string());
        s.user = proj_owner.clone();
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
            let mkey = projects::attachment_mark(&owner.job, &att_id);
            let written = seg.current_mark(&mkey, &owner.epoch).await?.is_some();
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
    // every request succeeded: now the records, the attachments' marks and the version's mark
    for (t, r) in out {
        seg.push(t, r);
    }
    let stamp = Stamp { epoch: owner.epoch.clone(), order };
    for att in written_atts {
        seg.stage_mark(MarkWrite {
            key: projects::attachment_mark(&owner.job, &att),
            stamp: stamp.clone(),
            value: Some(Value::Bool(true)),
        });
    }
    seg.stage_mark(MarkWrite { key: version_mark(owner, id), stamp, value: Some(written_version) });
    Ok(())
}
