//! `organizations`: a full snapshot every run (page-token family, `created_at` ascending), run by
//! the scheduler before the fan-out: its output (the org UUIDs) plans the per-organization jobs.
//! The snapshot is one segment; a redelivery of the same run finds it committed and writes nothing.

use super::walk::{ItemCtx, Listing, Stream};
use super::{enrich, str_field, Filter, JobContext, JobOutput, Scope, StreamSpec, SyncError, SyncMode};
use crate::api::{paths, Family};
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const SPEC: StreamSpec = StreamSpec {
    name: "organizations",
    endpoint: paths::ORGANIZATIONS,
    family: Family::PageToken,
    mode: SyncMode::FullSnapshot,
    scope: Scope::Root,
    identity: "uuid, per run",
    tables: &[Table::Organizations],
    context: &[],
    dlp: &[],
    filters: &[] as &[Filter],
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    pub snapshot_at: Option<Timestamp>,
    #[serde(default)]
    pub org_uuids: Vec<String>,
}

pub struct Organizations;

#[async_trait::async_trait]
impl Stream for Organizations {
    type Checkpoint = Checkpoint;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    fn initial(&self, ctx: &JobContext) -> Checkpoint {
        Checkpoint { snapshot_at: Some(ctx.now), org_uuids: vec![] }
    }

    fn listing(&self, ctx: &JobContext, _job: &super::Job, _cp: &Checkpoint) -> Listing {
        let _ = ctx;
        Listing { path: SPEC.endpoint.into(), query: vec![("limit".into(), "1000".into())], start: None }
    }

    fn item_id(&self, item: &Value) -> Option<String> {
        str_field(item, "uuid").or_else(|| str_field(item, "id")).map(str::to_string)
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, org: Value) -> Result<(), SyncError> {
        if cp.snapshot_at != Some(w.ctx.now) {
            // a new snapshot: forget the last run's list
            cp.snapshot_at = Some(w.ctx.now);
            cp.org_uuids.clear();
        }
        if let Some(u) = str_field(&org, "uuid") {
            cp.org_uuids.push(u.to_string());
        }
        let ingest = w.ingest(SPEC.name, SPEC.endpoint, w.request_id.as_deref());
        let rec = enrich(org, &[], &ingest);
        w.seg.push(Table::Organizations, rec);
        Ok(())
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Checkpoint, end: &super::walk::WalkEnd) {
        if end.items == 0 || cp.snapshot_at != Some(ctx.now) {
            cp.snapshot_at = Some(ctx.now);
            cp.org_uuids.clear();
        }
    }

    fn output(&self, cp: &Checkpoint) -> JobOutput {
        JobOutput { org_uuids: cp.org_uuids.clone() }
    }
}
