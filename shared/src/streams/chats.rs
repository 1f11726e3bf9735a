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
use super::segment::Segment;
use super::{enrich, str_field, ts_field, Ingest, JobContext, JobStats, StreamSpec, SyncError};
use crate::api::{paths, ApiError, Family, Paginator};
use crate::dlp::SourceKind;
use crate::store::Table;
use crate::time::Timestamp;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const SPEC: StreamSpec = StreamSpec {
    name: "chats",
    endpoint: paths::CHATS,
    tables: &[Table::Chats, Table::ChatMessages, Table::DlpFindings],
    family: "cursor (after_id / last_id / has_more)",
    order: "updated_at ascending (order_by=updated_at), ties by id",
    sync: "incremental by listing cursor; messages incremental per chat",
    checkpoint: "listing cursor + per-chat message marks",
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Lower bound of the first walk (`updated_at.gte`), kept so every request of the walk is the same query.
    pub since: Timestamp,
    pub cursor: Option<String>,
    #[serde(default)]
    pub marks: BTreeMap<String, Mark>,
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

struct Fetched {
    messages: Vec<Value>,
    mark: Mark,
    request_id: Option<String>,
    gone: bool,
}

async fn fetch_new_messages(
    ctx: &JobContext,
    stats: &JobStats,
    chat_id: &str,
    mark: Mark,
) -> Result<Fetched, SyncError> {
    let path = paths::chat_messages(chat_id);
    let query = vec![("limit".to_string(), ctx.cfg.message_page_size.clamp(1, 1000).to_string())];
    let family = Family::Cursor { items: "chat_messages" };
    let mut pager = Paginator::new(family, path.clone(), query.clone(), mark.cursor.clone());
    let mut out = Vec::new();
    let mut next = mark.clone();
    let mut request_id = None;
    loop {
        let page = match pager.next_page(&ctx.client, &stats.calls).await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) if e.is_invalid_cursor() && pager.pages() == 0 && pager.position().is_some() => {
                tracing::warn!(
                    chat_id,
                    "stored message cursor rejected; re-reading the chat and skipping what was written"
                );
                pager = Paginator::new(family, path.clone(), query.clone(), None);
                continue;
            }
            Err(ApiError::NotFound { message, .. }) => {
                tracing::warn!(chat_id, %message, "chat disappeared (hard-deleted) before its messages were read");
                return Ok(Fetched { messages: out, mark: next, request_id, gone: true });
            }
            Err(e) => return Err(e.into()),
        };
        stats.page();
        request_id = page.request_id.clone();
        for m in page.items {
            let Some(id) = str_field(&m, "id").map(str::to_string) else {
                return Err(ApiError::Malformed { path, reason: "message without id".into(), request_id }.into());
            };
            let at = ts_field(&m, "created_at");
            if next.is_new(&id, at) {
                next.advance(&id, at);
                out.push(m);
            } else {
                stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if pager.position().is_some() {
            next.cursor = pager.position().map(str::to_string);
        }
    }
    Ok(Fetched { messages: out, mark: next, request_id, gone: false })
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

pub async fn run(ctx: &JobContext, stats: &JobStats) -> Result<(), SyncError> {
    let cfg = &ctx.cfg;
    let key = super::Job::Chats.key(cfg);
    let (mut seg, raw) = Segment::open(ctx, stats, SPEC.name, key.clone(), SPEC.tables).await?;
    let mut cp: Checkpoint = if raw.is_null() {
        Checkpoint { since: cfg.backfill_start.unwrap_or(ctx.now), cursor: None, marks: BTreeMap::new() }
    } else {
        serde_json::from_value(raw)
            .map_err(|e| crate::store::StoreError::Corrupt { key: key.clone(), reason: e.to_string() })?
    };
    let mut query = vec![
        ("order_by".to_string(), "updated_at".to_string()),
        ("updated_at.gte".to_string(), cp.since.to_rfc3339()),
        ("limit".to_string(), cfg.chat_page_size.clamp(1, 1000).to_string()),
    ];
    for o in &cfg.org_ids {
        query.push(("organization_ids[]".into(), o.clone()));
    }
    let mut pager = Paginator::new(Family::Cursor { items: "data" }, SPEC.endpoint, query, cp.cursor.clone());
    while let Some(page) = pager.next_page(&ctx.client, &stats.calls).await? {
        stats.page();
        let chats: Vec<Value> = page.items.into_iter().filter(|c| wanted(c, &cfg.user_ids, &cfg.project_ids)).collect();
        let mut jobs: Vec<BoxFuture<'_, Result<Fetched, SyncError>>> = Vec::with_capacity(chats.len());
        for c in &chats {
            let id = str_field(c, "id").unwrap_or_default().to_string();
            let mark = cp.marks.get(&id).cloned().unwrap_or_default();
            jobs.push(Box::pin(async move {
                if id.is_empty() {
                    return Err(SyncError::Api(ApiError::Malformed {
                        path: SPEC.endpoint.into(),
                        reason: "chat without id".into(),
                        request_id: None,
                    }));
                }
                fetch_new_messages(ctx, stats, &id, mark).await
            }));
        }
        let fetched: Vec<Result<Fetched, SyncError>> =
            stream::iter(jobs).buffered(cfg.message_concurrency.max(1)).collect().await;
        let listed_at = Timestamp::now().to_rfc3339();
        for (chat, f) in chats.into_iter().zip(fetched) {
            let f = f?;
            let chat_id = str_field(&chat, "id").unwrap_or_default().to_string();
            let chat_ingest = Ingest {
                run_id: &ctx.run_id,
                fetched_at: listed_at.clone(),
                stream: SPEC.name,
                endpoint: SPEC.endpoint,
                job: &key,
                request_id: page.request_id.as_deref(),
            };
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
            let msg_ingest = Ingest::new(ctx, "chat_messages", &msg_path, &key, f.request_id.as_deref());
            for m in f.messages {
                if let Some(d) = ctx.dlp.as_deref() {
                    for finding in scan_message(ctx, stats, d, &m, &chat, &msg_ingest).await? {
                        seg.push(Table::DlpFindings, finding);
                    }
                }
                seg.push(Table::ChatMessages, enrich(m, &context, &msg_ingest));
            }
            if f.gone {
                tracing::info!(chat_id, "chat hard-deleted during the sync; its listing row is still recorded");
            }
            seg.push(Table::Chats, enrich(chat, &[], &chat_ingest));
            cp.marks.insert(chat_id, f.mark);
        }
        if pager.position().is_some() {
            cp.cursor = pager.position().map(str::to_string);
        }
        if !pager.is_done() && (seg.should_commit() || ctx.past_deadline()) {
            seg.commit(serde_json::to_value(&cp).map_err(|e| SyncError::Encode(e.to_string()))?).await?;
            if ctx.past_deadline() {
                return Err(SyncError::Deadline);
            }
        }
    }
    seg.commit(serde_json::to_value(&cp).map_err(|e| SyncError::Encode(e.to_string()))?).await
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
