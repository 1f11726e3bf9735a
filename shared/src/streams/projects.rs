//! `projects`: discovery of changed project versions through the listing (page-token family,
//! `created_at` ascending) filtered by `updated_at.gte = watermark − overlap`. Each new version
//! (`id` + `updated_at`) is handed as a task to one of `SyncConfig::chat_shards`
//! [`super::project_details`] jobs (by a hash of the project id), which read its detail (so each row
//! carries `description`, `instructions` and counts) and its attachments into `projects` and
//! `project_documents`. Tasks are published with the commit that lists them, so N workers read
//! project details together and the discovery job holds no project's work. If the API rejects the
//! `updated_at` filter (older revisions), the full list is walked and filtered client-side.
//!
//! A project whose detail or attachments cannot be read is quarantined by its shard job
//! ([`super::project_details`]); a quarantine kept here by an older version is handed to the shards.

use super::marks::{self, MarkWrite, Stamp};
use super::project_details::{self, QuarantinedProject, Task};
use super::segment::Segment;
use super::walk::{ItemCtx, Listing, Stream, WalkEnd};
use super::{str_field, ts_field, Filter, Job, JobContext, Scope, StreamSpec, SyncError, SyncMode};
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
    /// Projects quarantined by versions before the fan-out: handed to the shards by the next walk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantine: Vec<QuarantinedProject>,
    /// Shards handed work in the segment being built (woken after its commit).
    #[serde(skip)]
    pub handed: BTreeSet<u32>,
    /// Tasks handed in the segment being built (orders them inside the commit).
    #[serde(skip)]
    pub handed_n: u64,
}

/// The mark of an attachment written (owned by the discovery job).
pub fn attachment_mark(job: &str, att_id: &str) -> String {
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

    /// Wakes every shard at the start of each run (a run killed between a commit and its wake-ups
    /// is redelivered, and this re-announces what that commit handed out); hands the quarantine of
    /// an older version to the shards.
    async fn before_walk(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        for q in std::mem::take(&mut cp.quarantine) {
            tracing::info!(project_id = %q.item, "quarantined project handed to its shard");
            hand(w, cp, q.payload.listed)?;
        }
        if w.seg.head().is_some() {
            super::shards::wake(w.ctx, project_details::SPEC.name, 0..w.ctx.cfg.chat_shards.max(1)).await;
        }
        Ok(())
    }

    /// Wakes the shards this commit handed work to (the scheduled fan-out covers a lost message).
    async fn committed(&self, ctx: &JobContext, _job: &Job, cp: &mut Checkpoint) -> Result<(), SyncError> {
        cp.handed_n = 0;
        super::shards::wake(ctx, project_details::SPEC.name, std::mem::take(&mut cp.handed)).await;
        Ok(())
    }

    /// Items are cheap (no child requests: those are the shards'): commit at page boundaries.
    fn commits_within_pages(&self) -> bool {
        false
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
        hand(w, cp, listed)?;
        // Only versions the next walk can list again need remembering: it lists `updated_at ≥
        // this walk's start − overlap`. So the window holds the last minutes' edits, not the tenant.
        let (now, started, overlap) = (w.ctx.now, w.walk_started_at, w.ctx.cfg.project_overlap);
        super::window::remember(&mut cp.recent, &mut cp.dirty, vkey, at, now, started, overlap);
        Ok(())
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Checkpoint, end: &WalkEnd) {
        super::window::close(&mut cp.watermark, &mut cp.recent, &mut cp.dirty, end.started_at, ctx.cfg.project_overlap);
    }
}

/// Hands one listed project version to its shard, published with the next commit.
fn hand(w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, listed: Value) -> Result<(), SyncError> {
    let n = w.ctx.cfg.chat_shards.max(1);
    let shard = super::chats::shard_of(str_field(&listed, "id").unwrap_or(""), n);
    let order = [w.seg.next_seq(), cp.handed_n];
    cp.handed_n += 1;
    let task = serde_json::to_value(Task { project: listed, order }).map_err(|e| SyncError::Encode(e.to_string()))?;
    w.seg.set_work_shards(n);
    w.seg.push_work(shard, task);
    cp.handed.insert(shard);
    Ok(())
}
