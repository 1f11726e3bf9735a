//! `groups` + `group_members`: tenant-wide groups (`GET /groups`, page-token family) and, for each,
//! its members (`GET /groups/{id}/members`, paged) with the `group_id` they were listed under.
//!
//! Members need `read:compliance_user_data`, groups only `read:compliance_org_data`: a key without
//! the first gets 403 on members. That never loses the groups snapshot: every group row says what
//! was read (`members_status`: `complete`, or `forbidden` with `members_error`), the first 403 is
//! logged once, and the other groups of the run are not asked again (a 403 costs a budget unit).
//! A group deleted between the listing and its members (404) is not in the snapshot.

use super::{interval, paths, Snapshot, DIRECTORY_PAGE_SIZE};
use crate::api::{ApiError, Family};
use crate::store::Table;
use crate::streams::walk::{children, ChildEnd, ItemCtx, Listing, Stream, WalkEnd};
use crate::streams::{enrich, obj, str_field, Filter, Job, JobContext, Scope, StreamSpec, SyncError, SyncMode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const SPEC: StreamSpec = StreamSpec {
    name: "groups",
    endpoint: paths::GROUPS,
    family: Family::PageToken,
    mode: SyncMode::FullSnapshot,
    scope: Scope::Tenant,
    identity: "groups: id, per run; group_members: group_id + user_id, per run",
    tables: &[Table::Groups, Table::GroupMembers],
    context: &["group_id"],
    dlp: &[],
    filters: &[] as &[Filter],
};

/// `members_status` of a group whose members were all read.
pub const MEMBERS_COMPLETE: &str = "complete";
/// `members_status` of a group whose members the key may not read (403).
pub const MEMBERS_FORBIDDEN: &str = "forbidden";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    #[serde(flatten)]
    pub snapshot: Snapshot,
    #[serde(default)]
    pub members: u64,
    /// The 403 of this snapshot's first members request (the others are not asked).
    #[serde(default)]
    pub members_forbidden: Option<String>,
}

impl Checkpoint {
    fn start(&mut self, ctx: &JobContext) {
        if self.snapshot.snapshot_at != Some(ctx.now) {
            self.members = 0;
            self.members_forbidden = None;
        }
        self.snapshot.start(ctx);
    }
}

pub struct Groups;

fn forbidden_note(message: &str) -> String {
    let mut m = message.to_string();
    m.truncate(300);
    format!(
        "403: the key lacks read:compliance_user_data, which group members need ({m}); this snapshot has the groups without their members — create a key with read:compliance_user_data"
    )
}

#[async_trait::async_trait]
impl Stream for Groups {
    type Checkpoint = Checkpoint;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    fn min_interval(&self, ctx: &JobContext) -> Option<chrono::Duration> {
        interval(ctx)
    }

    fn listing(&self, _ctx: &JobContext, _job: &Job, _cp: &Checkpoint) -> Listing {
        Listing {
            path: paths::GROUPS.into(),
            query: vec![("limit".into(), DIRECTORY_PAGE_SIZE.to_string())],
            start: None,
        }
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, group: Value) -> Result<(), SyncError> {
        cp.start(w.ctx);
        let Some(id) = str_field(&group, "id").map(str::to_string) else {
            return Err(ApiError::Malformed {
                path: paths::GROUPS.into(),
                reason: "group without id".into(),
                request_id: w.request_id.clone(),
            }
            .into());
        };
        let mpath = paths::group_members(&id);
        let mut members: Vec<(Value, Option<String>)> = Vec::new();
        let forbidden = cp.members_forbidden.clone();
        let status = match forbidden {
            Some(note) => Err(note),
            None => {
                let query = vec![("limit".to_string(), DIRECTORY_PAGE_SIZE.to_string())];
                let read = children(w.ctx, w.stats, Family::PageToken, &mpath, query, None, |m, rid| {
                    members.push((m, rid.map(str::to_string)));
                    Ok(())
                })
                .await;
                match read {
                    Ok((_, ChildEnd::Complete)) => Ok(()),
                    Ok((_, ChildEnd::Gone)) => {
                        tracing::info!(group_id = %id, "group deleted while its members were read; not in this snapshot");
                        return Ok(());
                    }
                    Err(SyncError::Api(ApiError::Forbidden { message, .. })) => {
                        let note = forbidden_note(&message);
                        tracing::warn!(group_id = %id, "{note}");
                        cp.members_forbidden = Some(note.clone());
                        members.clear();
                        Err(note)
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let mut row = obj(group);
        match status {
            Ok(()) => {
                row.insert("members_status".into(), Value::from(MEMBERS_COMPLETE));
                row.insert("members_error".into(), Value::Null);
            }
            Err(note) => {
                row.insert("members_status".into(), Value::from(MEMBERS_FORBIDDEN));
                row.insert("members_error".into(), Value::String(note));
            }
        }
        let ingest = w.ingest(SPEC.name, paths::GROUPS, w.request_id.as_deref());
        let rec = enrich(Value::Object(row), &[], &ingest);
        w.seg.push(Table::Groups, rec);
        let context = [("group_id", Value::String(id))];
        let n = members.len() as u64;
        for (m, rid) in members {
            let ingest = w.ingest("group_members", &mpath, rid.as_deref());
            let rec = enrich(m, &context, &ingest);
            w.seg.push(Table::GroupMembers, rec);
        }
        cp.snapshot.rows += 1;
        cp.members += n;
        Ok(())
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Checkpoint, _end: &WalkEnd) {
        cp.start(ctx);
    }
}
