//! `roles`: per organization, every role (`GET /organizations/{org}/roles`, page-token family) with
//! its permissions (`…/roles/{role_id}/permissions`, paged) embedded as `permissions`, and the
//! `organization_uuid` it was listed under. A role deleted between the listing and its permissions
//! (404) is not in the snapshot: it no longer exists.

use super::{interval, paths, Snapshot, DIRECTORY_PAGE_SIZE};
use crate::api::{ApiError, Family};
use crate::store::Table;
use crate::streams::walk::{children, ChildEnd, ItemCtx, Listing, Stream, WalkEnd};
use crate::streams::{enrich, obj, str_field, Filter, Job, JobContext, Scope, StreamSpec, SyncError, SyncMode};
use serde_json::Value;

pub const SPEC: StreamSpec = StreamSpec {
    name: "roles",
    endpoint: "/v1/compliance/organizations/{org_uuid}/roles",
    family: Family::PageToken,
    mode: SyncMode::FullSnapshot,
    scope: Scope::PerOrg,
    identity: "organization_uuid + id, per run",
    tables: &[Table::Roles],
    context: &["organization_uuid"],
    dlp: &[],
    filters: &[] as &[Filter],
};

pub struct Roles;

#[async_trait::async_trait]
impl Stream for Roles {
    type Checkpoint = Snapshot;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    fn min_interval(&self, ctx: &JobContext) -> Option<chrono::Duration> {
        interval(ctx)
    }

    fn listing(&self, _ctx: &JobContext, job: &Job, _cp: &Snapshot) -> Listing {
        let org = job.org_uuid.clone().unwrap_or_default();
        Listing {
            path: paths::roles(&org),
            query: vec![("limit".into(), DIRECTORY_PAGE_SIZE.to_string())],
            start: None,
        }
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Snapshot, role: Value) -> Result<(), SyncError> {
        let org = w.job.org_uuid.clone().unwrap_or_default();
        let Some(id) = str_field(&role, "id").map(str::to_string) else {
            return Err(ApiError::Malformed {
                path: paths::roles(&org),
                reason: "role without id".into(),
                request_id: w.request_id.clone(),
            }
            .into());
        };
        let ppath = paths::role_permissions(&org, &id);
        let query = vec![("limit".to_string(), DIRECTORY_PAGE_SIZE.to_string())];
        let mut permissions = Vec::new();
        let (_, end) = children(w.ctx, w.stats, Family::PageToken, &ppath, query, None, |p, _| {
            permissions.push(p);
            Ok(())
        })
        .await?;
        if let ChildEnd::Gone = end {
            tracing::info!(org = %org, role_id = %id, "role deleted while it was read; not in this snapshot");
            return Ok(());
        }
        let mut row = obj(role);
        row.insert("permissions".into(), Value::Array(permissions));
        let path = paths::roles(&org);
        let ingest = w.ingest(SPEC.name, &path, w.request_id.as_deref());
        let rec = enrich(Value::Object(row), &[("organization_uuid", Value::String(org))], &ingest);
        w.seg.push(Table::Roles, rec);
        cp.count(w.ctx, 1);
        Ok(())
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Snapshot, _end: &WalkEnd) {
        cp.start(ctx);
    }
}
