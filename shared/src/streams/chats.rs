//! `chats`: discovery of changed chats through the org-wide listing ordered by `updated_at`, with
//! the final `last_id` stored as the next run's `after_id` (a chat re-appears after the cursor when
//! it gets a new message, moves project, or is deleted). The listing stays the single source of
//! "what changed": every listed chat version is written to `chats` once, and handed as a task to one
//! of `SyncConfig::chat_shards` [`super::chat_messages`] jobs (by a hash of the chat id), which fetch
//! its new messages. Tasks are published with the commit that lists them (`_work/…`), so a task
//! exists exactly when its chat row is committed. The checkpoint is a few hundred bytes whatever the
//! tenant's size: per-chat message positions are marks owned by the shard jobs.
//!
//! API rules respected: `user_ids[]` cannot be combined with `order_by=updated_at` (nor with
//! `updated_at.*` after 2026-09-22) and `project_ids[]` requires `user_ids[]`, so user and project
//! filters are applied client-side on the org-wide walk; `organization_ids[]` is sent to the API.

use super::marks::{self, MarkWrite, Stamp};
use super::segment::Segment;
use super::walk::{ItemCtx, Listing, Stream, WalkEnd};
use super::{enrich, str_field, ts_field, Filter, Job, JobContext, Scope, StreamSpec, SyncError, SyncMode};
use crate::api::{paths, Family};
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const SPEC: StreamSpec = StreamSpec {
    name: "chats",
    endpoint: paths::CHATS,
    family: Family::Cursor { items: "data" },
    mode: SyncMode::IncrementalUpdated,
    scope: Scope::Tenant,
    identity: "id + updated_at",
    tables: &[Table::Chats],
    context: &[],
    dlp: &[],
    filters: &[Filter::OrgIds, Filter::UserIds, Filter::ProjectIds],
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Lower bound of the first walk (`updated_at.gte`), kept so every request of the walk is the same query.
    pub since: Timestamp,
    /// The listing's `last_id` after the last complete walk: the next walk's `after_id`.
    pub cursor: Option<String>,
    /// Highest `updated_at` listed: where a walk restarts when the API rejects the stored cursor.
    #[serde(default)]
    pub listed_max: Option<Timestamp>,
    /// Chats written with `updated_at == listed_max` (ties): a restart from `listed_max` skips them.
    #[serde(default)]
    pub ties: Vec<String>,
    /// Per-chat marks of checkpoints written before the marks moved out (≤ 0.4): read once, moved
    /// into mark documents by the next commit, never written back.
    #[serde(default, skip_serializing)]
    pub marks: BTreeMap<String, Mark>,
    /// Shards handed work in the segment being built (spawned after its commit).
    #[serde(skip)]
    pub handed: BTreeSet<u32>,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint {
            since: Timestamp::now(),
            cursor: None,
            listed_max: None,
            ties: vec![],
            marks: BTreeMap::new(),
            handed: BTreeSet::new(),
        }
    }
}

/// The shard of `n` a chat's messages are fetched by (stable: a chat always goes to one shard job,
/// so two workers never fetch the same chat at once).
pub fn shard_of(chat_id: &str, n: u32) -> u32 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(chat_id.as_bytes());
    u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % n.max(1)
}

/// One task handed to a shard: the listed chat version, and its order in the discovery job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub chat: Value,
    /// (discovery commit sequence, position in it): stamps the chat's mark.
    pub order: [u64; 2],
}

/// How far the messages of one chat have been written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub cursor: Option<String>,
    pub last_at: Option<Timestamp>,
    /// Ids written whose `created_at` equals `last_at` (ties).
    #[serde(default)]
    pub last_ids: Vec<String>,
    pub count: u64,
    /// `updated_at` of the chat row last written: the same version is never written twice.
    #[serde(default)]
    pub version: Option<String>,
}

impl Mark {
    /// Whether a message is beyond what was written.
    pub fn is_new(&self, id: &str, at: Option<Timestamp>) -> bool {
        match (self.last_at, at) {
            (None, _) => !self.last_ids.iter().any(|x| x == id),
            (Some(l), Some(a)) => a > l || (a == l && !self.last_ids.iter().any(|x| x == id)),
            (Some(_), None) => !self.last_ids.iter().any(|x| x == id),
        }
    }

    pub fn advance(&mut self, id: &str, at: Option<Timestamp>) {
        self.count += 1;
        match (self.last_at, at) {
            (Some(l), Some(a)) if a == l => self.last_ids.push(id.to_string()),
            (Some(l), Some(a)) if a < l => {}
            (_, Some(a)) => {
                self.last_at = Some(a);
                self.last_ids = vec![id.to_string()];
            }
            (_, None) => self.last_ids.push(id.to_string()),
        }
    }
}

/// Client-side filters (see module docs).
pub fn wanted(chat: &Value, user_ids: &[String], project_ids: &[String]) -> bool {
    let user_ok = user_ids.is_empty()
        || chat.get("user").and_then(|u| str_field(u, "id")).is_some_and(|u| user_ids.iter().any(|x| x == u));
    let project_ok =
        project_ids.is_empty() || str_field(chat, "project_id").is_some_and(|p| project_ids.iter().any(|x| x == p));
    user_ok && project_ok
}

pub struct Chats;

#[async_trait::async_trait]
impl Stream for Chats {
    type Checkpoint = Checkpoint;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    fn initial(&self, ctx: &JobContext) -> Checkpoint {
        Checkpoint { since: ctx.cfg.backfill_start.unwrap_or(ctx.now), ..Checkpoint::default() }
    }

    /// Marks of an older checkpoint move into mark documents with the next commit.
    async fn load_state(&self, seg: &Segment<'_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        if !cp.marks.is_empty() {
            tracing::info!(job = seg.job_key(), marks = cp.marks.len(), "moving per-chat marks out of the checkpoint");
        }
        Ok(())
    }

    fn save_state(&self, seg: &mut Segment<'_>, cp: &mut Checkpoint) -> Result<(), SyncError> {
        let owner = seg.job_key().to_string();
        let epoch = seg.epoch().to_string();
        for (chat_id, mark) in std::mem::take(&mut cp.marks) {
            let value = serde_json::to_value(&mark).map_err(|e| SyncError::Encode(e.to_string()))?;
            seg.stage_mark(MarkWrite {
                key: marks::key(&owner, &chat_id),
                stamp: Stamp { epoch: epoch.clone(), order: [0, 0] },
                value: Some(value),
            });
        }
        Ok(())
    }

    fn listing(&self, ctx: &JobContext, _job: &Job, cp: &Checkpoint) -> Listing {
        Listing { path: SPEC.endpoint.into(), query: listing_query(ctx, cp.since), start: cp.cursor.clone() }
    }

    /// A rejected cursor: list again from the highest `updated_at` seen; the ties at it are skipped,
    /// and the shard jobs' marks skip chat versions whose messages were fetched.
    fn restart(&self, cp: &mut Checkpoint, listing: &Listing) -> Option<Listing> {
        cp.cursor = None;
        let from = cp.listed_max.unwrap_or(cp.since);
        Some(Listing { path: SPEC.endpoint.into(), query: listing_query_from(&listing.query, from), start: None })
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, chat: Value) -> Result<(), SyncError> {
        let cfg = &w.ctx.cfg;
        let chat_id = str_field(&chat, "id").unwrap_or_default().to_string();
        if let Some(at) = ts_field(&chat, "updated_at") {
            if cp.listed_max == Some(at) && cp.ties.contains(&chat_id) {
                w.stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Ok(()); // re-listed after a restart: already written and handed out
            }
            if cp.listed_max.is_none_or(|m| at > m) {
                cp.listed_max = Some(at);
                cp.ties.clear();
            }
            if cp.listed_max == Some(at) {
                cp.ties.push(chat_id.clone());
            }
        }
        if !wanted(&chat, &cfg.user_ids, &cfg.project_ids) {
            return Ok(());
        }
        let n = cfg.chat_shards.max(1);
        let shard = shard_of(&chat_id, n);
        let order = [w.seg.next_seq(), w.seg.buffered() as u64];
        let task =
            serde_json::to_value(Task { chat: chat.clone(), order }).map_err(|e| SyncError::Encode(e.to_string()))?;
        w.seg.set_work_shards(n);
        w.seg.push_work(shard, task);
        cp.handed.insert(shard);
        let ingest = w.ingest(SPEC.name, SPEC.endpoint, w.request_id.as_deref());
        w.seg.push(Table::Chats, enrich(chat, &[], &ingest));
        Ok(())
    }

    /// Wakes every shard at the start of each run: a run killed between a commit and its wake-ups
    /// is redelivered, and this re-announces what that commit handed out.
    async fn before_walk(&self, w: &mut ItemCtx<'_, '_>, _cp: &mut Checkpoint) -> Result<(), SyncError> {
        if w.seg.head().is_some() {
            super::shards::wake(w.ctx, super::chat_messages::SPEC.name, 0..w.ctx.cfg.chat_shards.max(1)).await;
        }
        Ok(())
    }

    /// Wakes the shards this commit handed work to (the scheduled fan-out covers a lost message).
    async fn committed(&self, ctx: &JobContext, _job: &Job, cp: &mut Checkpoint) -> Result<(), SyncError> {
        super::shards::wake(ctx, super::chat_messages::SPEC.name, std::mem::take(&mut cp.handed)).await;
        Ok(())
    }

    fn finish(&self, _ctx: &JobContext, cp: &mut Checkpoint, end: &WalkEnd) {
        if end.position.is_some() {
            cp.cursor = end.position.clone();
        }
    }
}

fn listing_query(ctx: &JobContext, since: Timestamp) -> Vec<(String, String)> {
    let cfg = &ctx.cfg;
    let mut q = vec![
        ("order_by".to_string(), "updated_at".to_string()),
        ("updated_at.gte".to_string(), since.to_rfc3339()),
        ("limit".to_string(), cfg.chat_page_size.clamp(1, 1000).to_string()),
    ];
    for o in &cfg.org_ids {
        q.push(("organization_ids[]".into(), o.clone()));
    }
    q
}

fn listing_query_from(q: &[(String, String)], from: Timestamp) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| if k == "updated_at.gte" { (k.clone(), from.to_rfc3339()) } else { (k.clone(), v.clone()) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Option<Timestamp> {
        Some(Timestamp::parse(s).unwrap())
    }

    #[test]
    fn marks_handle_ties_and_order() {
        let mut m = Mark::default();
        assert!(m.is_new("a", ts("2026-01-01T00:00:00Z")));
        m.advance("a", ts("2026-01-01T00:00:00Z"));
        m.advance("b", ts("2026-01-01T00:00:00Z"));
        assert!(!m.is_new("a", ts("2026-01-01T00:00:00Z")));
        assert!(!m.is_new("b", ts("2026-01-01T00:00:00Z")));
        assert!(m.is_new("c", ts("2026-01-01T00:00:00Z")), "a tie not yet written");
        assert!(!m.is_new("z", ts("2025-12-31T00:00:00Z")), "older than the mark");
        m.advance("d", ts("2026-01-02T00:00:00Z"));
        assert_eq!(m.last_ids, vec!["d".to_string()]);
        assert_eq!(m.count, 3);
    }

    #[test]
    fn client_side_filters() {
        let c = json!({"id": "c", "user": {"id": "user_1"}, "project_id": "claude_proj_1"});
        assert!(wanted(&c, &[], &[]));
        assert!(wanted(&c, &["user_1".into()], &[]));
        assert!(!wanted(&c, &["user_2".into()], &[]));
        assert!(wanted(&c, &[], &["claude_proj_1".into()]));
        assert!(!wanted(&json!({"id": "c", "user": null, "project_id": null}), &["user_1".into()], &["p".into()]));
    }
}
