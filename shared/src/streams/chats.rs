//! `chats` + `chat_messages`: incremental via the org-wide listing ordered by `updated_at`, with the
//! final `last_id` stored as the next run's `after_id` (a chat re-appears after the cursor when it
//! gets a new message, moves project, or is deleted). For every chat seen, its new messages are
//! fetched and each is written as its own record with chat context (Monad's shape). A per-chat mark
//! (message cursor + last `created_at`/ids) makes sure a message already written is never written
//! again when its chat updates; marks and the listing cursor commit together.
//!
//! API rules respected: `user_ids[]` cannot be combined with `order_by=updated_at` (nor with
//! `updated_at.*` after 2026-09-22) and `project_ids[]` requires `user_ids[]`, so user and project
//! filters are applied client-side on the org-wide walk; `organization_ids[]` is sent to the API.

use super::dlp::{self, DlpContext, Source};
use super::walk::{children, ItemCtx, Listing, Prefetched, Stream, WalkEnd};
use super::{
    enrich, str_field, ts_field, Filter, Ingest, Job, JobContext, JobStats, Scope, StreamSpec, SyncError, SyncMode,
};
use crate::api::{paths, Family};
use crate::dlp::SourceKind;
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const SPEC: StreamSpec = StreamSpec {
    name: "chats",
    endpoint: paths::CHATS,
    family: Family::Cursor { items: "data" },
    mode: SyncMode::IncrementalUpdated,
    scope: Scope::Tenant,
    identity: "chats: id + updated_at; chat_messages: id",
    tables: &[Table::Chats, Table::ChatMessages, Table::DlpFindings],
    context: &["chat_id", "chat_name", "chat_user", "organization_id", "organization_uuid", "project_id"],
    dlp: &[SourceKind::ChatMessage, SourceKind::ChatFile],
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
    #[serde(default)]
    pub marks: BTreeMap<String, Mark>,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint { since: Timestamp::now(), cursor: None, listed_max: None, marks: BTreeMap::new() }
    }
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

type Fetched = Result<(Vec<Value>, Mark, Option<String>), SyncError>;

/// The new messages of one chat (beyond its mark), the advanced mark, and the last request id.
async fn fetch_new_messages(ctx: &JobContext, stats: &JobStats, chat_id: &str, mark: &Mark) -> Fetched {
    let path = paths::chat_messages(chat_id);
    let query = vec![("limit".to_string(), ctx.cfg.message_page_size.clamp(1, 1000).to_string())];
    let mut out = Vec::new();
    let mut next = mark.clone();
    let mut request_id = None;
    let mut malformed = false;
    let (position, _end) =
        children(ctx, stats, Family::Cursor { items: "chat_messages" }, &path, query, mark.cursor.clone(), |m, rid| {
            request_id = rid.map(str::to_string);
            let Some(id) = str_field(&m, "id").map(str::to_string) else {
                malformed = true;
                return Ok(());
            };
            let at = ts_field(&m, "created_at");
            if next.is_new(&id, at) {
                next.advance(&id, at);
                out.push(m);
            } else {
                stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
        .await?;
    if malformed {
        return Err(crate::api::ApiError::Malformed { path, reason: "message without id".into(), request_id }.into());
    }
    if position.is_some() {
        next.cursor = position;
    }
    Ok((out, next, request_id))
}

/// DLP findings of one user message: its text blocks, then its text attachments.
async fn scan_message(
    ctx: &JobContext,
    stats: &JobStats,
    d: &DlpContext,
    m: &Value,
    chat: &Value,
    ingest: &Ingest<'_>,
) -> Result<Vec<Value>, SyncError> {
    let mut out = Vec::new();
    if str_field(m, "role") != Some("user") {
        return Ok(out);
    }
    let msg_id = str_field(m, "id").unwrap_or_default().to_string();
    let mut src = Source::new(SourceKind::ChatMessage, msg_id.clone());
    src.chat_id = str_field(chat, "id").map(str::to_string);
    src.message_id = Some(msg_id.clone());
    src.user = chat.get("user").cloned().unwrap_or(Value::Null);
    src.organization_uuid = chat.get("organization_uuid").cloned().unwrap_or(Value::Null);
    src.source_created_at = m.get("created_at").cloned().unwrap_or(Value::Null);
    if let Some(blocks) = m.get("content").and_then(Value::as_array) {
        for (i, b) in blocks.iter().enumerate() {
            if str_field(b, "type") == Some("text") {
                if let Some(text) = str_field(b, "text") {
                    let mut s = src.clone();
                    s.content_index = Some(i);
                    out.extend(dlp::scan(d, text, &s, ingest));
                }
            }
        }
    }
    if let Some(files) = m.get("files").and_then(Value::as_array) {
        for file in files {
            if let Some(text) = dlp::fetch_text_file(ctx, stats, file).await? {
                let mut s = src.clone();
                s.kind = SourceKind::ChatFile;
                s.file_id = str_field(file, "id").map(str::to_string);
                s.source_id = s.file_id.clone().unwrap_or_default();
                out.extend(dlp::scan(d, &text, &s, ingest));
            }
        }
    }
    Ok(out)
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

    fn listing(&self, ctx: &JobContext, _job: &Job, cp: &Checkpoint) -> Listing {
        Listing { path: SPEC.endpoint.into(), query: listing_query(ctx, cp.since), start: cp.cursor.clone() }
    }

    /// A rejected cursor: list again from the highest `updated_at` seen; chat versions and message
    /// marks already written are skipped, so nothing is written twice and nothing is missed.
    fn restart(&self, cp: &mut Checkpoint, _listing: &Listing) -> Option<Listing> {
        cp.cursor = None;
        let from = cp.listed_max.unwrap_or(cp.since);
        Some(Listing { path: SPEC.endpoint.into(), query: listing_query_from(&_listing.query, from), start: None })
    }

    /// Fetches the new messages of the page's changed chats concurrently (`message_concurrency`).
    async fn prefetch(&self, ctx: &JobContext, stats: &JobStats, cp: &Checkpoint, items: &[Value]) -> Vec<Prefetched> {
        use futures::future::BoxFuture;
        use futures::stream::{self, StreamExt};
        let cfg = &ctx.cfg;
        let mut jobs: Vec<BoxFuture<'_, Prefetched>> = Vec::with_capacity(items.len());
        for chat in items {
            let chat_id = str_field(chat, "id").unwrap_or_default().to_string();
            let version = str_field(chat, "updated_at").unwrap_or("").to_string();
            let mark = cp.marks.get(&chat_id).cloned().unwrap_or_default();
            let skip = chat_id.is_empty()
                || !wanted(chat, &cfg.user_ids, &cfg.project_ids)
                || mark.version.as_deref() == Some(version.as_str());
            jobs.push(Box::pin(async move {
                if skip {
                    return None;
                }
                let r = fetch_new_messages(ctx, stats, &chat_id, &mark).await;
                Some(Box::new(r) as Box<dyn std::any::Any + Send>)
            }));
        }
        stream::iter(jobs).buffered(cfg.message_concurrency.max(1)).collect().await
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, chat: Value) -> Result<(), SyncError> {
        let cfg = &w.ctx.cfg;
        let chat_id = str_field(&chat, "id").unwrap_or_default().to_string();
        if let Some(at) = ts_field(&chat, "updated_at") {
            if cp.listed_max.is_none_or(|m| at > m) {
                cp.listed_max = Some(at);
            }
        }
        if !wanted(&chat, &cfg.user_ids, &cfg.project_ids) {
            return Ok(());
        }
        let version = str_field(&chat, "updated_at").unwrap_or("").to_string();
        let mark = cp.marks.get(&chat_id).cloned().unwrap_or_default();
        if mark.version.as_deref() == Some(version.as_str()) {
            w.stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(());
        }
        let fetched = match w.prefetched.take().and_then(|b| b.downcast::<Fetched>().ok()) {
            Some(r) => *r,
            None => fetch_new_messages(w.ctx, w.stats, &chat_id, &mark).await,
        };
        let (messages, mut mark, msg_rid) = fetched?;
        let user = chat.get("user").cloned().unwrap_or(Value::Null);
        let chat_user = if user.is_object() {
            json!({"id": user.get("id").cloned().unwrap_or(Value::Null), "email_address": user.get("email_address").cloned().unwrap_or(Value::Null)})
        } else {
            Value::Null
        };
        let context = [
            ("chat_id", Value::String(chat_id.clone())),
            ("chat_name", chat.get("name").cloned().unwrap_or(Value::Null)),
            ("chat_user", chat_user),
            ("organization_id", chat.get("organization_id").cloned().unwrap_or(Value::Null)),
            ("organization_uuid", chat.get("organization_uuid").cloned().unwrap_or(Value::Null)),
            ("project_id", chat.get("project_id").cloned().unwrap_or(Value::Null)),
        ];
        let msg_path = paths::chat_messages(&chat_id);
        let msg_ingest = Ingest::new(w.ctx, "chat_messages", &msg_path, w.job_key, msg_rid.as_deref());
        for m in messages {
            if let Some(d) = w.ctx.dlp.as_deref() {
                for finding in scan_message(w.ctx, w.stats, d, &m, &chat, &msg_ingest).await? {
                    w.seg.push(Table::DlpFindings, finding);
                }
            }
            w.seg.push(Table::ChatMessages, enrich(m, &context, &msg_ingest));
        }
        let chat_ingest = Ingest::new(w.ctx, SPEC.name, SPEC.endpoint, w.job_key, w.request_id.as_deref());
        let row = enrich(chat, &[], &chat_ingest);
        w.seg.push(Table::Chats, row);
        mark.version = Some(version);
        cp.marks.insert(chat_id, mark);
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
