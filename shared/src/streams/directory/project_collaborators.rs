//! `project_collaborators`: a snapshot of who can see each project. The projects are discovered by
//! walking `GET /apps/projects` (page-token family, `created_at` ascending; `--org-ids` applies), and
//! for each listed project `GET /apps/projects/{id}/collaborators` (paged, `granted_at` ascending) is
//! read whole; each row carries `project_id` and `project_organization_uuid` (the project's
//! organization; a row's own `organization_uuid` is the principal of an `organization` grant). Nothing per
//! project is kept in the state: the walk position and the ids of one page (≤ 100) are all the
//! driver holds, so the state does not grow with the tenant. A project deleted between the listing
//! and its collaborators (404) is not in the snapshot; one whose collaborators answer 403 is written
//! as a single row of `type` [`UNREADABLE`] with `error`, and the walk goes on. One request per
//! project per snapshot: run it on the directory cadence (`DirectoryIntervalMinutes`) in large tenants.

use super::{interval, paths, Snapshot, PROJECT_PAGE_SIZE};
use crate::api::{self, ApiError, Family};
use crate::store::Table;
use crate::streams::walk::{children, ChildEnd, ItemCtx, Listing, Stream, WalkEnd};
use crate::streams::{enrich, str_field, Filter, Job, JobContext, Scope, StreamSpec, SyncError, SyncMode};
use serde_json::{json, Value};

/// `type` of the row that stands for a project whose collaborators the key may not read (403),
/// with `error`: the snapshot says what it lacks instead of failing or silently omitting it.
pub const UNREADABLE: &str = "unreadable";

pub const SPEC: StreamSpec = StreamSpec {
    name: "project_collaborators",
    endpoint: "/v1/compliance/apps/projects/{project_id}/collaborators",
    family: Family::PageToken,
    mode: SyncMode::FullSnapshot,
    scope: Scope::Tenant,
    identity: "project_id + type + principal + granted_at, per run",
    tables: &[Table::ProjectCollaborators],
    context: &["project_id", "project_organization_uuid"],
    dlp: &[],
    filters: &[Filter::OrgIds],
};

pub struct ProjectCollaborators;

#[async_trait::async_trait]
impl Stream for ProjectCollaborators {
    type Checkpoint = Snapshot;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    fn min_interval(&self, ctx: &JobContext) -> Option<chrono::Duration> {
        interval(ctx)
    }

    fn listing(&self, ctx: &JobContext, _job: &Job, _cp: &Snapshot) -> Listing {
        let mut query = vec![("limit".to_string(), PROJECT_PAGE_SIZE.to_string())];
        for o in &ctx.cfg.org_ids {
            query.push(("organization_ids[]".into(), o.clone()));
        }
        Listing { path: api::paths::PROJECTS.into(), query, start: None }
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Snapshot, project: Value) -> Result<(), SyncError> {
        let Some(pid) = str_field(&project, "id").map(str::to_string) else { return Ok(()) };
        let org = project.get("organization_uuid").cloned().unwrap_or(Value::Null);
        let path = paths::project_collaborators(&pid);
        let query = vec![("limit".to_string(), PROJECT_PAGE_SIZE.to_string())];
        let mut rows: Vec<(Value, Option<String>)> = Vec::new();
        let read = children(w.ctx, w.stats, Family::PageToken, &path, query, None, |c, rid| {
            rows.push((c, rid.map(str::to_string)));
            Ok(())
        })
        .await;
        let context = [("project_id", Value::String(pid.clone())), ("project_organization_uuid", org)];
        match read {
            Ok((_, ChildEnd::Complete)) => {}
            Ok((_, ChildEnd::Gone)) => {
                tracing::info!(project_id = %pid, "project deleted while its collaborators were read; not in this snapshot");
                return Ok(());
            }
            // one project the key may not read never loses the snapshot: say so in it, move on
            Err(SyncError::Api(ApiError::Forbidden { message, .. })) => {
                let mut m = message;
                m.truncate(300);
                let error = format!("403 reading the collaborators of this project ({m}); not in this snapshot");
                tracing::warn!(project_id = %pid, "{error}");
                let row = json!({"type": UNREADABLE, "error": error});
                let ingest = w.ingest(SPEC.name, &path, None);
                let rec = enrich(row, &context, &ingest);
                w.seg.push(Table::ProjectCollaborators, rec);
                cp.count(w.ctx, 1);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let n = rows.len() as u64;
        for (c, rid) in rows {
            let ingest = w.ingest(SPEC.name, &path, rid.as_deref());
            let rec = enrich(c, &context, &ingest);
            w.seg.push(Table::ProjectCollaborators, rec);
        }
        cp.count(w.ctx, n);
        Ok(())
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Snapshot, _end: &WalkEnd) {
        cp.start(ctx);
    }
}
