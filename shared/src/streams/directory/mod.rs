//! Directory and configuration snapshots (spec §7.4–7.6, §7.12 collaborators): each a stream of its
//! own, so a deployment can run them on their own cadence (`SyncConfig::directory_interval`, the
//! template's `DirectoryIntervalMinutes`) while a one-shot `compliance-lake sync` refreshes them all.
//! Every run that is due writes a full snapshot in one segment (identity: ids per run, like `users`);
//! nothing per item is kept in the state, so a tenant of any size costs a fixed-size checkpoint.
//!
//! - [`roles`]: per organization, each role with its `permissions` array embedded;
//! - [`groups`]: tenant-wide groups, and `group_members` (a 403 on members keeps the groups and says so);
//! - [`org_settings`]: the effective settings response verbatim per organization (404 = not enabled),
//!   and a `transparency_findings` row when a Compliance Access Key appears or is deactivated;
//! - [`project_collaborators`]: each project of the listing, its collaborators.

pub mod groups;
pub mod org_settings;
pub mod project_collaborators;
pub mod roles;

use super::JobContext;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// `limit` of the directory listings: their documented maximum (500 default / 1000 max).
pub const DIRECTORY_PAGE_SIZE: u32 = 1000;
/// `limit` of the projects listing and of a project's collaborators (20 / 100).
pub const PROJECT_PAGE_SIZE: u32 = 100;

pub mod paths {
    pub const GROUPS: &str = "/v1/compliance/groups";

    pub fn roles(org_uuid: &str) -> String {
        format!("/v1/compliance/organizations/{}/roles", seg(org_uuid))
    }
    pub fn role_permissions(org_uuid: &str, role_id: &str) -> String {
        format!("/v1/compliance/organizations/{}/roles/{}/permissions", seg(org_uuid), seg(role_id))
    }
    pub fn settings(org_uuid: &str) -> String {
        format!("/v1/compliance/organizations/{}/settings", seg(org_uuid))
    }
    pub fn group_members(group_id: &str) -> String {
        format!("/v1/compliance/groups/{}/members", seg(group_id))
    }
    pub fn project_collaborators(project_id: &str) -> String {
        format!("/v1/compliance/apps/projects/{}/collaborators", seg(project_id))
    }

    /// Ids are opaque; percent-encode anything that is not URL-safe so an odd id cannot change the path.
    fn seg(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
    }
}

/// The checkpoint of a snapshot stream: when its last snapshot was taken and how many rows it had.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub snapshot_at: Option<Timestamp>,
    #[serde(default)]
    pub rows: u64,
}

impl Snapshot {
    /// Called for every row: a new run starts a new count.
    pub fn count(&mut self, ctx: &JobContext, n: u64) {
        self.start(ctx);
        self.rows += n;
    }

    pub fn start(&mut self, ctx: &JobContext) {
        if self.snapshot_at != Some(ctx.now) {
            self.snapshot_at = Some(ctx.now);
            self.rows = 0;
        }
    }
}

/// The directory cadence of a deployment (`None`: every run).
pub fn interval(ctx: &JobContext) -> Option<chrono::Duration> {
    ctx.cfg.directory_interval
}

#[cfg(test)]
mod tests {
    use crate::streams::walk::snapshot_due;
    use crate::time::Timestamp;
    use chrono::Duration;

    #[test]
    fn cadence_of_snapshots() {
        let now = Timestamp::now();
        let ago = |m: i64| Some(now.minus(Duration::minutes(m)));
        let hour = Some(Duration::hours(1));
        for (last, interval, due) in [
            (None, hour, true),                         // never taken
            (ago(5), None, true),                       // no cadence: every run
            (ago(5), Some(Duration::zero()), true),     // 0 = every run
            (ago(30), hour, false),                     // taken recently
            (ago(59), hour, true),                      // a scheduled run slightly early still takes it
            (ago(57), hour, false),                     // beyond the 2-minute slack
            (ago(61), hour, true),                      // overdue
            (ago(3), Some(Duration::minutes(4)), true), // slack at most half the interval
            (ago(1), Some(Duration::minutes(4)), false),
        ] {
            assert_eq!(snapshot_due(last, now, interval), due, "{last:?} {interval:?}");
        }
    }
}
