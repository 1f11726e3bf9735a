//! `organizations`: a full snapshot every run (page-token family, `created_at` ascending).
//! The snapshot is one segment: a crash mid-walk leaves no partial snapshot behind, because the
//! re-run rewrites the same objects. Its output (the org UUIDs) drives the per-org fan-out.

use super::segment::Segment;
use super::{enrich, str_field, Ingest, JobContext, JobOutput, JobStats, StreamSpec, SyncError};
use crate::api::{paths, Family, Paginator};
use crate::store::Table;
use serde_json::json;

pub const SPEC: StreamSpec = StreamSpec {
    name: "organizations",
    endpoint: paths::ORGANIZATIONS,
    tables: &[Table::Organizations],
    family: "page token (page / next_page)",
    order: "created_at ascending",
    sync: "full snapshot every run",
    checkpoint: "time of the last complete snapshot",
};

pub async fn run(ctx: &JobContext, stats: &JobStats) -> Result<JobOutput, SyncError> {
    let key = super::Job::Organizations.key(&ctx.cfg);
    let (mut seg, _cp) = Segment::open(ctx, stats, SPEC.name, key.clone(), SPEC.tables).await?;
    let mut pager = Paginator::new(Family::PageToken, SPEC.endpoint, vec![("limit".into(), "1000".into())], None);
    let mut uuids = Vec::new();
    while let Some(page) = pager.next_page(&ctx.client, &stats.calls).await? {
        stats.page();
        let ingest = Ingest::new(ctx, SPEC.name, SPEC.endpoint, &key, page.request_id.as_deref());
        for org in page.items {
            if let Some(u) = str_field(&org, "uuid") {
                uuids.push(u.to_string());
            }
            seg.push(Table::Organizations, enrich(org, &[], &ingest));
        }
        if seg.should_commit() {
            seg.write_parts().await?;
        }
    }
    seg.commit(json!({"snapshot_at": ctx.now, "organizations": uuids.len()})).await?;
    Ok(JobOutput { org_uuids: uuids })
}
