//! `users`: a full snapshot of one organization's members every run (page-token family, join date
//! ascending), one job per organization. Each row carries the `organization_uuid` it was listed under.

use super::walk::{ItemCtx, Listing, Stream};
use super::{enrich, Filter, Job, JobContext, Scope, StreamSpec, SyncError, SyncMode};
use crate::api::{paths, Family};
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const SPEC: StreamSpec = StreamSpec {
    name: "users",
    endpoint: "/v1/compliance/organizations/{org_uuid}/users",
    family: Family::PageToken,
    mode: SyncMode::FullSnapshot,
    scope: Scope::PerOrg,
    identity: "organization_uuid + id, per run",
    tables: &[Table::Users],
    context: &["organization_uuid"],
    dlp: &[],
    filters: &[] as &[Filter],
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    pub snapshot_at: Option<Timestamp>,
    #[serde(default)]
    pub users: u64,
}

pub struct Users;

#[async_trait::async_trait]
impl Stream for Users {
    type Checkpoint = Checkpoint;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    fn listing(&self, ctx: &JobContext, job: &Job, _cp: &Checkpoint) -> Listing {
        let org = job.org_uuid.clone().unwrap_or_default();
        let limit = ctx.cfg.user_page_size.clamp(1, 1000).to_string();
        Listing { path: paths::users(&org), query: vec![("limit".into(), limit)], start: None }
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, user: Value) -> Result<(), SyncError> {
        if cp.snapshot_at != Some(w.ctx.now) {
            cp.snapshot_at = Some(w.ctx.now);
            cp.users = 0;
        }
        cp.users += 1;
        let org = w.job.org_uuid.clone().unwrap_or_default();
        let path = paths::users(&org);
        let context = [("organization_uuid", Value::String(org))];
        let ingest = w.ingest(SPEC.name, &path, w.request_id.as_deref());
        let rec = enrich(user, &context, &ingest);
        w.seg.push(Table::Users, rec);
        Ok(())
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Checkpoint, _end: &super::walk::WalkEnd) {
        if cp.snapshot_at != Some(ctx.now) {
            cp.snapshot_at = Some(ctx.now);
            cp.users = 0;
        }
    }
}
