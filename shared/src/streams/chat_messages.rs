//! `chat_messages`: the messages of changed chats, fetched by `SyncConfig::chat_shards` shard jobs
//! (`chat_messages/s003of016`). The `chats` discovery job publishes, with each commit, one work
//! object per shard (`_work/chats/<job>/<epoch>-<seq>/<shard>-…`) listing the chat versions it
//! committed; a shard job works the commits of the discovery job in order, from its own checkpoint
//! (`consumed` commit + position inside the next), up to the discovery job's head. So N workers fill
//! the budget together, and no job holds the whole tenant.
//!
//! Per chat, a *mark* ([`super::marks`]: message cursor, last `created_at` and the ids at it, the
//! chat version fetched) makes sure a message already written is never written again when its chat
//! updates; marks commit with the segment that wrote the messages. A chat always hashes to the same
//! shard, and a shard runs under one lease, so two workers never fetch one chat at once.
//!
//! A chat whose messages cannot be fetched (a 403, a persistent 5xx) is *quarantined* (kept in the
//! shard's checkpoint with the error, bounded), skipped, and retried on a slower cadence; its mark
//! does not move, so the messages are written exactly once when the fault clears. A file DLP
//! cannot read becomes an `unscanned_file` row, never a failed job.

use super::artifacts;
use super::chats::{self, Mark, Task};
use super::dlp::{self, DlpContext, FileScan, Source};
use super::marks::{MarkWrite, Stamp};
use super::quarantine;
use super::segment::Segment;
use super::shards::{self, Owner, Position, Shard, ShardWork};
use super::walk::{children_pages, ChildEnd};
use super::{
    enrich, str_field, ts_field, Filter, Ingest, Job, JobContext, JobOutput, JobStats, Scope, StreamDef, StreamSpec,
    SyncError, SyncMode,
};
use crate::api::{paths, ApiError, Family};
use crate::dlp::SourceKind;
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const SPEC: StreamSpec = StreamSpec {
    name: "chat_messages",
    endpoint: "/v1/compliance/apps/chats/{claude_chat_id}/messages",
    family: Family::Cursor { items: "chat_messages" },
    mode: SyncMode::IncrementalUpdated,
    scope: Scope::Shards { parent: chats::SPEC.name },
    identity: "id",
    tables: &[Table::ChatMessages, Table::DlpFindings, Table::ChatArtifacts, Table::GeneratedFiles],
    context: &["chat_id", "chat_name", "chat_user", "organization_id", "organization_uuid", "project_id"],
    dlp: &[SourceKind::ChatMessage, SourceKind::ChatFile, SourceKind::Artifact, SourceKind::GeneratedFile],
    // the discovery job's filters: the shard reads that job's work
    filters: &[Filter::OrgIds, Filter::UserIds, Filter::ProjectIds],
};

/// Most chats one shard keeps in quarantine (16 shards: 800 for the tenant); beyond it the API is
/// failing broadly and the job stops with an operator message rather than skipping the tenant. Each
/// entry holds its task (the listed chat row): the bound keeps the shard's state item small.
pub const MAX_QUARANTINE: usize = 50;
/// Tasks fetched together (their messages concurrently, `message_concurrency` at a time).
const BATCH: usize = 16;
/// Message pages one chat holds in memory at a time: a longer chat is written chunk by chunk, its
/// mark advancing with each (bounded memory whatever the chat's length).
const PAGES_PER_CHUNK: usize = 2;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Where this shard is in the discovery job's work.
    #[serde(flatten)]
    pub at: Position,
    #[serde(default)]
    pub quarantine: Vec<Quarantined>,
    /// Artifacts and generated files whose fetch failed (`artifacts.rs`): retried, bounded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_quarantine: Vec<artifacts::Quarantined>,
}

/// A chat whose messages could not be fetched: skipped, retried later, listed by `status`.
pub type Quarantined = quarantine::Entry<QuarantinedChat>;

/// What a quarantined chat keeps: its task (the listed chat row), fetched again when due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantinedChat {
    pub task: Task,
}

pub struct ChatMessages;

/// The current mark of a chat: staged in this segment, else committed.
async fn mark_of(seg: &Segment<'_>, owner: &Owner, chat_id: &str) -> Result<Mark, SyncError> {
    seg.current_mark_as(&owner.key(chat_id), &owner.epoch, "chat mark").await
}

/// Whether the mark already covers this chat version.
fn covers(mark: &Mark, version: &str) -> bool {
    match (mark.version.as_deref(), Timestamp::parse(version).ok()) {
        (Some(v), Some(want)) => Timestamp::parse(v).map(|have| have >= want).unwrap_or(v == version),
        (Some(v), None) => v == version,
        (None, _) => false,
    }
}

struct Fetched {
    messages: Vec<Value>,
    mark: Mark,
    request_id: Option<String>,
    gone: bool,
    /// More pages follow (fetch them from `mark`).
    more: bool,
}

/// The new messages of one chat (beyond its mark), whole (tool inputs and results not cut).
async fn fetch_new_messages(
    ctx: &JobContext,
    stats: &JobStats,
    chat_id: &str,
    mark: &Mark,
) -> Result<Fetched, SyncError> {
    let path = paths::chat_messages(chat_id);
    let mut query = vec![
        ("limit".to_string(), ctx.cfg.message_page_size.clamp(1, 1000).to_string()),
        ("tool_result_max_chars".to_string(), "-1".to_string()),
        ("tool_use_input_max_chars".to_string(), "-1".to_string()),
    ];
    let mut lifted = true;
    loop {
        let mut out = Vec::new();
        let mut next = mark.clone();
        let mut request_id = None;
        let mut malformed = false;
        let res = children_pages(
            ctx,
            stats,
            Family::Cursor { items: "chat_messages" },
            &path,
            query.clone(),
            mark.cursor.clone(),
            PAGES_PER_CHUNK,
            |m, rid| {
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
            },
        )
        .await;
        let (position, end, more) = match res {
            // an API revision without the tool limits: fetch with its defaults (and say so)
            Err(SyncError::Api(e)) if lifted && e.is_unknown_parameter() => {
                tracing::warn!(
                    chat_id,
                    "the API does not take tool_*_max_chars; tool content may be cut at its default"
                );
                query.retain(|(k, _)| !k.starts_with("tool_"));
                lifted = false;
                continue;
            }
            r => r?,
        };
        if malformed {
            return Err(ApiError::Malformed { path, reason: "message without id".into(), request_id }.into());
        }
        if position.is_some() {
            next.cursor = position;
        }
        return Ok(Fetched { messages: out, mark: next, request_id, gone: matches!(end, ChildEnd::Gone), more });
    }
}

/// DLP findings of one user message: its text blocks, then its text attachments (a file that
/// cannot be read is an `unscanned_file` row).
async fn scan_message(
    ctx: &JobContext,
    stats: &JobStats,
    d: &DlpContext,
    m: &Value,
    chat: &Value,
    ingest: &Ingest<'_>,
) -> Vec<Value> {
    let mut out = Vec::new();
    if str_field(m, "role") != Some("user") {
        return out;
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
            let mut s = src.clone();
            s.kind = SourceKind::ChatFile;
            s.file_id = str_field(file, "id").map(str::to_string);
            s.source_id = s.file_id.clone().unwrap_or_default();
            match dlp::fetch_for_scan(ctx, stats, file).await {
                FileScan::Text(text) => out.extend(dlp::scan(d, &text, &s, ingest)),
                FileScan::Skipped => {}
                FileScan::Unscanned(reason) => {
                    tracing::warn!(file_id = s.file_id.as_deref().unwrap_or(""), %reason, "file not scanned");
                    stats.unscanned_files.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    out.push(dlp::unscanned_file(&s, &reason, ingest));
                }
            }
        }
    }
    out
}

/// Writes the fetched messages of one chat version (and the content objects they reference, once)
/// and stages its mark.
#[allow(clippy::too_many_arguments)]
async fn write_chat(
    ctx: &JobContext,
    stats: &JobStats,
    seg: &mut Segment<'_>,
    owner: &Owner,
    job_key: &str,
    task: &Task,
    f: Fetched,
    content: &mut artifacts::Work,
) -> Result<(), SyncError> {
    let chat = &task.chat;
    let chat_id = str_field(chat, "id").unwrap_or_default().to_string();
    let version = str_field(chat, "updated_at").unwrap_or("").to_string();
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
    let ingest = Ingest::new(ctx, SPEC.name, &msg_path, job_key, f.request_id.as_deref());
    let mut refs = Vec::new();
    for m in f.messages {
        refs.extend(artifacts::refs_of(&m, chat, task.order));
        if let Some(d) = ctx.dlp.as_deref() {
            for finding in scan_message(ctx, stats, d, &m, chat, &ingest).await {
                seg.push(Table::DlpFindings, finding);
            }
        }
        seg.push(Table::ChatMessages, enrich(m, &context, &ingest));
    }
    artifacts::write_refs(ctx, stats, seg, &owner.job, &owner.epoch, job_key, refs, content).await?;
    let stamp = Stamp { epoch: owner.epoch.clone(), order: task.order };
    let value = if f.gone {
        None // hard-deleted: nothing more will ever be listed for it
    } else {
        let mut mark = f.mark;
        if !f.more {
            mark.version = Some(version); // complete: this version is covered
        }
        Some(serde_json::to_value(&mark).map_err(|e| SyncError::Encode(e.to_string()))?)
    };
    seg.stage_mark(MarkWrite { key: owner.key(&chat_id), stamp, value });
    Ok(())
}

/// One outcome per task of a batch: written, already covered, or failed (to quarantine).
enum Handled {
    Written,
    Covered,
    Failed(SyncError),
}

/// Handles a batch of tasks: marks read, new messages fetched concurrently, then written in order.
async fn handle_batch(
    ctx: &JobContext,
    stats: &JobStats,
    seg: &mut Segment<'_>,
    owner: &Owner,
    job_key: &str,
    tasks: &[Task],
    content: &mut artifacts::Work,
) -> Result<Vec<Handled>, SyncError> {
    use futures::stream::{self, StreamExt};
    // a chat listed twice in one batch: its later version covers the earlier one
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, t) in tasks.iter().enumerate() {
        last.insert(str_field(&t.chat, "id").unwrap_or(""), i);
    }
    let mut todo: Vec<(usize, Mark)> = Vec::new();
    let mut out: Vec<Option<Handled>> = (0..tasks.len()).map(|_| None).collect();
    for (i, t) in tasks.iter().enumerate() {
        let chat_id = str_field(&t.chat, "id").unwrap_or("");
        let version = str_field(&t.chat, "updated_at").unwrap_or("");
        if chat_id.is_empty() || last.get(chat_id) != Some(&i) {
            out[i] = Some(Handled::Covered);
            continue;
        }
        let mark = mark_of(seg, owner, chat_id).await?;
        if covers(&mark, version) {
            stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            out[i] = Some(Handled::Covered);
        } else {
            todo.push((i, mark));
        }
    }
    let fetched: Vec<(usize, Result<Fetched, SyncError>)> =
        stream::iter(todo.into_iter().map(|(i, mark)| async move {
            let chat_id = str_field(&tasks[i].chat, "id").unwrap_or("").to_string();
            (i, fetch_new_messages(ctx, stats, &chat_id, &mark).await)
        }))
        .buffered(ctx.cfg.message_concurrency.max(1))
        .collect()
        .await;
    for (i, r) in fetched {
        out[i] = Some(match r {
            Ok(mut f) => {
                // a long chat: the rest chunk by chunk, each written before the next is read
                let chat_id = str_field(&tasks[i].chat, "id").unwrap_or("").to_string();
                let mut failed = None;
                loop {
                    let more = f.more;
                    write_chat(ctx, stats, seg, owner, job_key, &tasks[i], f, content).await?;
                    if !more {
                        break;
                    }
                    let mark = mark_of(seg, owner, &chat_id).await?;
                    match fetch_new_messages(ctx, stats, &chat_id, &mark).await {
                        Ok(next) => f = next,
                        Err(e) => {
                            failed = Some(e); // what was written stands; the mark says how far
                            break;
                        }
                    }
                }
                match failed {
                    None => Handled::Written,
                    Some(e) => Handled::Failed(e),
                }
            }
            Err(e) => Handled::Failed(e),
        });
    }
    Ok(out.into_iter().map(|o| o.unwrap_or(Handled::Covered)).collect())
}

/// Records a failed task in the quarantine (or counts another attempt).
fn quarantine(cp: &mut Checkpoint, task: &Task, e: &SyncError, base: std::time::Duration) -> Result<(), SyncError> {
    let chat_id = str_field(&task.chat, "id").unwrap_or("").to_string();
    let f = quarantine::Failure::sync(e);
    let (status, retryable, error) = (f.status, f.retryable, f.error.clone());
    let payload = QuarantinedChat { task: task.clone() };
    let newer = |held: &QuarantinedChat, new: &QuarantinedChat| new.task.order > held.task.order;
    let endpoint = || paths::chat_messages(&chat_id);
    match quarantine::record(&mut cp.quarantine, MAX_QUARANTINE, &chat_id, endpoint, f, base, payload, newer) {
        quarantine::Recorded::Again => Ok(()),
        quarantine::Recorded::New => {
            tracing::warn!(chat_id = %chat_id, status, retryable, error = %error, "chat quarantined; the stream moves on");
            Ok(())
        }
        quarantine::Recorded::Full => Err(SyncError::Encode(format!(
            "more than {MAX_QUARANTINE} chats of this shard cannot be fetched (last: {error}); the API is failing broadly — see `compliance-lake status`, fix the cause, then run again"
        ))),
    }
}

/// Applies a batch's outcomes to the checkpoint. A batch whose every fetch failed retryably is a
/// broad outage, not a poisoned chat: the job fails (retryable) and nothing is quarantined.
fn settle(
    cp: &mut Checkpoint,
    tasks: &[Task],
    handled: Vec<Handled>,
    base: std::time::Duration,
) -> Result<(), SyncError> {
    let failed = handled.iter().filter(|h| matches!(h, Handled::Failed(_))).count();
    let all_retryable = handled.iter().all(|h| matches!(h, Handled::Failed(e) if e.is_retryable()));
    if failed >= 4 && all_retryable {
        let mut handled = handled;
        if let Some(Handled::Failed(e)) = handled.drain(..).next() {
            return Err(e);
        }
        return Ok(());
    }
    for (t, h) in tasks.iter().zip(handled) {
        let chat_id = str_field(&t.chat, "id").unwrap_or("");
        match h {
            Handled::Failed(e) => quarantine(cp, t, &e, base)?,
            // written (or covered by a later version): out of quarantine
            Handled::Written | Handled::Covered => cp.quarantine.retain(|q| q.item != chat_id),
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl StreamDef for ChatMessages {
    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    async fn run(&self, ctx: &JobContext, job: &Job, stats: &JobStats) -> Result<JobOutput, SyncError> {
        shards::run(self, ctx, job, stats).await
    }
}

#[async_trait::async_trait]
impl ShardWork for ChatMessages {
    type Checkpoint = Checkpoint;
    type Task = Task;
    type Run = artifacts::Work;

    fn spec(&self) -> &'static StreamSpec {
        &SPEC
    }

    fn parent(&self) -> &'static str {
        chats::SPEC.name
    }

    fn batch_size(&self) -> usize {
        BATCH
    }

    fn position<'c>(&self, cp: &'c mut Checkpoint) -> &'c mut Position {
        &mut cp.at
    }

    fn quarantined(&self, cp: &Checkpoint) -> usize {
        cp.quarantine.len() + cp.content_quarantine.len()
    }

    /// Quarantined content items and chats due for another try.
    async fn start(&self, s: &mut Shard<'_, '_>, cp: &mut Checkpoint) -> Result<artifacts::Work, SyncError> {
        let key = s.seg.job_key().to_string();
        let (owner, stats) = (s.owner, s.stats);
        artifacts::retry_due(s.ctx, stats, s.seg, &owner.job, &owner.epoch, &key, &mut cp.content_quarantine).await?;
        let mut content = artifacts::Work {
            quarantined: cp.content_quarantine.iter().map(|q| q.item.clone()).collect(),
            ..artifacts::Work::default()
        };
        let now = Timestamp::now();
        let due: Vec<Task> =
            cp.quarantine.iter().filter(|q| q.next_retry <= now).map(|q| q.payload.task.clone()).collect();
        for chunk in due.chunks(BATCH) {
            self.batch(s, cp, &mut content, chunk).await?;
        }
        Ok(content)
    }

    async fn batch(
        &self,
        s: &mut Shard<'_, '_>,
        cp: &mut Checkpoint,
        content: &mut artifacts::Work,
        tasks: &[Task],
    ) -> Result<(), SyncError> {
        let key = s.seg.job_key().to_string();
        let (ctx, owner) = (s.ctx, s.owner);
        let handled = handle_batch(ctx, s.stats, s.seg, owner, &key, tasks, content).await?;
        settle(cp, tasks, handled, ctx.cfg.quarantine_retry)?;
        artifacts::settle(ctx, s.seg, &owner.job, &owner.epoch, &key, &mut cp.content_quarantine, content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_covers_its_version_and_older_ones() {
        let m = Mark { version: Some("2026-12-01T10:00:00.000001Z".into()), ..Mark::default() };
        assert!(covers(&m, "2026-12-01T10:00:00.000001Z"));
        assert!(covers(&m, "2026-12-01T09:59:59Z"));
        assert!(!covers(&m, "2026-12-01T10:00:01Z"));
        assert!(!covers(&Mark::default(), "2026-12-01T10:00:01Z"));
    }
}
