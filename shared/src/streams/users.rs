//! `users`: a full snapshot of one organization's members every run (page-token family, join date
//! ascending). Each row carries the `organization_uuid` it was listed under.

use super::segment::Segment;
use super::{enrich, Ingest, JobContext, JobStats, StreamSpec, SyncError};
use crate::api::{paths, Family, Paginator};
use crate::store::Table;
use serde_json::{json, Value};

pub const SPEC: StreamSpec = StreamSpec {
    name: "users",
    endpoint: "/v1/compliance/organizations/{org_uuid}/users",
    tables: &[Table::Users],
    family: "page token (page / next_page)",
    order: "organization join date ascending",
    sync: "full snapshot every run, per organization",
    checkpoint: "time of the last complete snapshot",
};

pub async fn run(ctx: &JobContext, org_uuid: &str, stats: &JobStats) -> Result<(), SyncError> {
    let key = super::Job::Users { org_uuid: org_uuid.to_string() }.key(&ctx.cfg);
    let (mut seg, _) = Segment::open(ctx, stats, SPEC.name, key.clone(), SPEC.tables).await?;
    let path = paths::users(org_uuid);
    let limit = ctx.cfg.user_page_size.clamp(1, 1000).to_string();
    let mut pager = Paginator::new(Family::PageToken, path.clone(), vec![("limit".into(), limit)], None);
    let mut n = 0u64;
    let context = [("organization_uuid", Value::String(org_uuid.to_string()))];
    while let Some(page) = pager.next_page(&ctx.client, &stats.calls).await? {
        stats.page();
        let ingest = Ingest::new(ctx, SPEC.name, &path, &key, page.request_id.as_deref());
        for user in page.items {
            n += 1;
            seg.push(Table::Users, enrich(user, &context, &ingest));
        }
        if seg.should_commit() {
            seg.write_parts().await?;
        }
    }
    seg.commit(json!({"snapshot_at": ctx.now, "users": n})).await
}
