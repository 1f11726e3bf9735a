//! `chat_artifacts` and `generated_files`: the content objects a chat message references, fetched
//! by the [`super::chat_messages`] shard job that writes the message (it already sees every new
//! message, so no second walk over the chats is needed).
//!
//! - `chat_artifacts`: per artifact `version_id` referenced by a message, its metadata
//!   (`GET /apps/artifacts/{version_id}`) and text (`…/content`), once. A version whose text is above
//!   [`MAX_ARTIFACT_BYTES`] is written with its metadata only (`content_omitted`), and DLP records an
//!   `unscanned_file` row for it.
//! - `generated_files`: per generated file referenced by a message, its metadata
//!   (`GET /apps/chats/generated-files/{id}`), once; text files are downloaded for DLP only (the
//!   bytes are not kept here: that is the content archive's job).
//!
//! Written once: a per-item mark (`content/<kind>/<id>` under the discovery job's marks) commits with
//! the segment that wrote the row, so a re-fetched chat, or a second message naming the same
//! version, writes nothing again. Failures are per item: a 404 (gone with its chat) is a clear row
//! with `unavailable`; a 403 or a persistent 5xx puts the item (not the chat) in the shard's bounded
//! content quarantine, retried on the quarantine cadence, and after [`MAX_ATTEMPTS`] (or when the
//! quarantine is full) written as an `unavailable` row, so one poison item never wedges a shard. A
//! batch whose every content fetch failed retryably is an outage: the job fails and retries.

use super::dlp::{self, FileScan, Source};
use super::marks::{self, MarkWrite, Stamp};
use super::quarantine::short_error;
use super::segment::Segment;
use super::{obj, str_field, Ingest, JobContext, JobStats, SyncError};
use crate::api::{paths, ApiError};
use crate::dlp::SourceKind;
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Largest artifact text kept (and scanned) inline in `chat_artifacts`; above it: metadata only.
pub const MAX_ARTIFACT_BYTES: usize = 1024 * 1024;
/// Most content items one shard keeps in quarantine; beyond it the oldest is written as unavailable.
pub const MAX_QUARANTINE: usize = 100;
/// Attempts before a failing item is written as `unavailable` (≈ 16 h on the default cadence).
pub const MAX_ATTEMPTS: u32 = 8;
/// Content bytes buffered before the segment's records are staged (bounded memory).
pub const STAGE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Artifact,
    GeneratedFile,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Artifact => "artifact",
            Kind::GeneratedFile => "generated_file",
        }
    }
    fn table(self) -> Table {
        match self {
            Kind::Artifact => Table::ChatArtifacts,
            Kind::GeneratedFile => Table::GeneratedFiles,
        }
    }
}

/// One referenced content object, with the message context its row carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentRef {
    pub kind: Kind,
    /// The artifact `version_id`, or the generated file id.
    pub id: String,
    /// The reference as the message carries it (ArtifactRef / GenFileRef).
    pub reference: Value,
    /// `chat_id`, `message_id`, `organization_uuid`, `chat_user`, `project_id`.
    pub context: Map<String, Value>,
    /// (discovery commit, position) of the task that found it: the mark's order.
    pub order: [u64; 2],
}

impl ContentRef {
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.id)
    }
}

/// A content item whose fetch failed: retried later, listed by `status` (`item`:
/// `artifact/<version_id>` or `generated_file/<id>`).
pub type Quarantined = super::quarantine::Entry<ContentRetry>;

/// What a quarantined content item keeps: the reference and its context (what is fetched again,
/// and written).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentRetry {
    pub content: ContentRef,
}

/// The content references of one message (`artifacts`, `generated_files`), with its context.
pub fn refs_of(m: &Value, chat: &Value, order: [u64; 2]) -> Vec<ContentRef> {
    let user = chat.get("user").filter(|u| u.is_object()).map(|u| {
        json!({"id": u.get("id").cloned().unwrap_or(Value::Null), "email_address": u.get("email_address").cloned().unwrap_or(Value::Null)})
    });
    let mut context = Map::new();
    context.insert("chat_id".into(), chat.get("id").cloned().unwrap_or(Value::Null));
    context.insert("message_id".into(), m.get("id").cloned().unwrap_or(Value::Null));
    context.insert("organization_uuid".into(), chat.get("organization_uuid").cloned().unwrap_or(Value::Null));
    context.insert("chat_user".into(), user.unwrap_or(Value::Null));
    context.insert("project_id".into(), chat.get("project_id").cloned().unwrap_or(Value::Null));
    let mut out = Vec::new();
    for (field, kind, id_field) in
        [("artifacts", Kind::Artifact, "version_id"), ("generated_files", Kind::GeneratedFile, "id")]
    {
        for r in m.get(field).and_then(Value::as_array).into_iter().flatten() {
            if let Some(id) = str_field(r, id_field).filter(|s| !s.is_empty()) {
                out.push(ContentRef {
                    kind,
                    id: id.to_string(),
                    reference: r.clone(),
                    context: context.clone(),
                    order,
                });
            }
        }
    }
    out
}

fn mark_key(owner_job: &str, r: &ContentRef) -> String {
    marks::key(owner_job, &format!("content/{}", r.key()))
}

/// Whether a content item was already written (staged in this segment, or committed).
pub async fn written(seg: &Segment<'_>, owner_job: &str, epoch: &str, r: &ContentRef) -> Result<bool, SyncError> {
    Ok(seg.current_mark(&mark_key(owner_job, r), epoch).await?.is_some())
}

/// Rows of one fetched item, and the content bytes they hold (for the memory bound).
pub struct Fetched {
    pub rows: Vec<(Table, Value)>,
    pub bytes: usize,
}

fn row(r: &ContentRef, base: Map<String, Value>, ingest: &Ingest<'_>) -> Value {
    let mut m = base;
    for (k, v) in &r.context {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    m.insert("_ingest".into(), serde_json::to_value(ingest).unwrap_or(Value::Null));
    Value::Object(m)
}

fn source(kind: SourceKind, r: &ContentRef, created: Value) -> Source {
    let mut s = Source::new(kind, r.id.clone());
    s.chat_id = r.context.get("chat_id").and_then(Value::as_str).map(str::to_string);
    s.message_id = r.context.get("message_id").and_then(Value::as_str).map(str::to_string);
    s.project_id = r.context.get("project_id").and_then(Value::as_str).map(str::to_string);
    s.user = r.context.get("chat_user").cloned().unwrap_or(Value::Null);
    s.organization_uuid = r.context.get("organization_uuid").cloned().unwrap_or(Value::Null);
    s.source_created_at = created;
    s
}

/// The row of an item the API no longer has (404): the message's reference, the context, why.
pub fn unavailable_row(
    r: &ContentRef,
    status: Option<u16>,
    reason: &str,
    attempts: u32,
    ingest: &Ingest<'_>,
) -> (Table, Value) {
    let mut base = obj(r.reference.clone());
    if r.kind == Kind::Artifact {
        // the reference's `id` is the artifact's; the row's identity is the version
        base.entry("version_id").or_insert_with(|| json!(r.id));
    }
    base.insert(
        "unavailable".into(),
        json!({"status": status, "reason": short_error(reason.to_string()), "attempts": attempts}),
    );
    (r.kind.table(), row(r, base, ingest))
}

/// Whether an error stops the job rather than the item (the key or the budget, not the item).
pub fn is_job_error(e: &ApiError) -> bool {
    matches!(e, ApiError::Unauthorized { .. } | ApiError::RateLimited { .. } | ApiError::NotAuthenticated { .. })
}

/// Fetches one item: metadata, then (artifacts) the text, (text generated files, DLP on) the bytes
/// to scan. A 404 is an `unavailable` row, not an error.
pub async fn fetch(ctx: &JobContext, stats: &JobStats, job_key: &str, r: &ContentRef) -> Result<Fetched, ApiError> {
    match r.kind {
        Kind::Artifact => fetch_artifact(ctx, stats, job_key, r).await,
        Kind::GeneratedFile => fetch_generated(ctx, stats, job_key, r).await,
    }
}

async fn fetch_artifact(ctx: &JobContext, stats: &JobStats, job: &str, r: &ContentRef) -> Result<Fetched, ApiError> {
    let meta_path = paths::artifact(&r.id);
    let meta = match ctx.client.get_json(&meta_path, &[], &stats.calls).await {
        Ok(m) => m,
        Err(ApiError::NotFound { message, request_id }) => {
            let ingest = Ingest::new(ctx, super::chat_messages::SPEC.name, &meta_path, job, request_id.as_deref());
            return Ok(Fetched { rows: vec![unavailable_row(r, Some(404), &message, 1, &ingest)], bytes: 0 });
        }
        Err(e) => return Err(e),
    };
    let mut base = obj(meta.body);
    let created = base.get("created_at").cloned().unwrap_or(Value::Null);
    let mut src = source(SourceKind::Artifact, r, created);
    src.file_id = base.get("id").and_then(Value::as_str).map(str::to_string);
    let size = base.get("size_bytes").and_then(Value::as_u64);
    let content_path = paths::artifact_content(&r.id);
    let mut rows = Vec::new();
    let mut text: Option<String> = None;
    let mut omitted: Option<String> = None;
    let mut rid = meta.request_id.clone();
    let mut endpoint = meta_path.clone();
    if let Some(n) = size.filter(|n| *n as usize > MAX_ARTIFACT_BYTES) {
        omitted = Some(format!("artifact text of {n} bytes is above the {MAX_ARTIFACT_BYTES}-byte cap"));
    } else {
        match ctx.client.get_json(&content_path, &[], &stats.calls).await {
            Ok(c) => {
                rid = c.request_id.clone();
                endpoint = content_path.clone();
                let mut body = obj(c.body);
                match body.remove("content") {
                    Some(Value::String(s)) if s.len() > MAX_ARTIFACT_BYTES => {
                        omitted = Some(format!(
                            "artifact text of {} bytes is above the {MAX_ARTIFACT_BYTES}-byte cap",
                            s.len()
                        ))
                    }
                    Some(Value::String(s)) => text = Some(s),
                    _ => omitted = Some("the content response carried no text".into()),
                }
                for (k, v) in body {
                    base.entry(k).or_insert(v); // title / artifact_type when the metadata lacks them
                }
            }
            Err(ApiError::NotFound { message, .. }) => {
                omitted = Some(format!("content gone: {}", short_error(message)))
            }
            Err(ApiError::TooLarge { limit, .. }) => {
                omitted = Some(format!("content response above the response cap of {limit} bytes"))
            }
            Err(e) => return Err(e),
        }
    }
    let ingest = Ingest::new(ctx, super::chat_messages::SPEC.name, &endpoint, job, rid.as_deref());
    if let Some(d) = ctx.dlp.as_deref() {
        match (&text, &omitted) {
            (Some(t), _) => rows.extend(dlp::scan(d, t, &src, &ingest).into_iter().map(|f| (Table::DlpFindings, f))),
            (None, Some(reason)) => {
                stats.unscanned_files.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                rows.push((Table::DlpFindings, dlp::unscanned_file(&src, reason, &ingest)));
            }
            (None, None) => {}
        }
    }
    let bytes = text.as_ref().map(String::len).unwrap_or(0);
    base.insert("content".into(), text.map(Value::String).unwrap_or(Value::Null));
    if let Some(o) = omitted {
        base.insert("content_omitted".into(), json!(o));
    }
    rows.push((Table::ChatArtifacts, row(r, base, &ingest)));
    Ok(Fetched { rows, bytes })
}

async fn fetch_generated(ctx: &JobContext, stats: &JobStats, job: &str, r: &ContentRef) -> Result<Fetched, ApiError> {
    let meta_path = paths::generated_file(&r.id);
    let meta = match ctx.client.get_json(&meta_path, &[], &stats.calls).await {
        Ok(m) => m,
        Err(ApiError::NotFound { message, request_id }) => {
            let ingest = Ingest::new(ctx, super::chat_messages::SPEC.name, &meta_path, job, request_id.as_deref());
            return Ok(Fetched { rows: vec![unavailable_row(r, Some(404), &message, 1, &ingest)], bytes: 0 });
        }
        Err(e) => return Err(e),
    };
    let ingest = Ingest::new(ctx, super::chat_messages::SPEC.name, &meta_path, job, meta.request_id.as_deref());
    let mut rows = Vec::new();
    if let Some(d) = ctx.dlp.as_deref() {
        let mut src = source(SourceKind::GeneratedFile, r, meta.body.get("created_at").cloned().unwrap_or(Value::Null));
        src.file_id = Some(r.id.clone());
        match dlp::fetch_for_scan_at(ctx, stats, &meta.body, &paths::generated_file_content(&r.id)).await {
            FileScan::Text(t) => {
                rows.extend(dlp::scan(d, &t, &src, &ingest).into_iter().map(|f| (Table::DlpFindings, f)))
            }
            FileScan::Skipped => {}
            FileScan::Unscanned(reason) => {
                tracing::warn!(file_id = %r.id, %reason, "generated file not scanned");
                stats.unscanned_files.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                rows.push((Table::DlpFindings, dlp::unscanned_file(&src, &reason, &ingest)));
            }
        }
    }
    rows.push((Table::GeneratedFiles, row(r, obj(meta.body), &ingest)));
    Ok(Fetched { rows, bytes: 0 })
}

/// What one shard's batch did with content items: failures to quarantine, items handled.
#[derive(Default)]
pub struct Work {
    /// Keys of the items in quarantine when the batch started (not fetched again from a message).
    pub quarantined: BTreeSet<String>,
    pub failed: Vec<(ContentRef, ApiError)>,
    pub succeeded: usize,
    /// Content bytes pushed since the segment's records were last staged.
    pub buffered_bytes: usize,
}

/// Pushes an item's rows and stages its mark.
pub fn push_written(seg: &mut Segment<'_>, owner_job: &str, epoch: &str, r: &ContentRef, f: Fetched, w: &mut Work) {
    for (t, rec) in f.rows {
        seg.push(t, rec);
    }
    w.buffered_bytes += f.bytes;
    seg.stage_mark(MarkWrite {
        key: mark_key(owner_job, r),
        stamp: Stamp { epoch: epoch.to_string(), order: r.order },
        value: Some(Value::Bool(true)),
    });
}

/// Fetches the not-yet-written items of `refs` (concurrently) and pushes them; failures go to `w`.
#[allow(clippy::too_many_arguments)]
pub async fn write_refs(
    ctx: &JobContext,
    stats: &JobStats,
    seg: &mut Segment<'_>,
    owner_job: &str,
    epoch: &str,
    job_key: &str,
    refs: Vec<ContentRef>,
    w: &mut Work,
) -> Result<(), SyncError> {
    use futures::stream::{self, StreamExt};
    let mut todo: Vec<ContentRef> = Vec::new();
    for r in refs {
        if w.quarantined.contains(&r.key()) || todo.iter().any(|t| t.key() == r.key()) {
            continue;
        }
        if written(seg, owner_job, epoch, &r).await? {
            stats.skipped_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        todo.push(r);
    }
    let fetched: Vec<(ContentRef, Result<Fetched, ApiError>)> = stream::iter(todo.into_iter().map(|r| async move {
        let f = fetch(ctx, stats, job_key, &r).await;
        (r, f)
    }))
    .buffered(ctx.cfg.message_concurrency.max(1))
    .collect()
    .await;
    for (r, f) in fetched {
        match f {
            Ok(f) => {
                push_written(seg, owner_job, epoch, &r, f, w);
                w.succeeded += 1;
            }
            Err(e) if is_job_error(&e) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(item = %r.key(), status = e.status(), error = %e, "content item not fetched; quarantined");
                w.quarantined.insert(r.key());
                w.failed.push((r, e));
            }
        }
    }
    if w.buffered_bytes >= STAGE_BYTES {
        seg.write_parts().await?;
        w.buffered_bytes = 0;
    }
    Ok(())
}

/// Applies a batch's failures to the quarantine. Every content fetch of the batch failing
/// retryably (at least 4) is an outage: the job fails (retryable) and nothing is quarantined.
/// A full quarantine writes its oldest entry as an `unavailable` row (never a wedged shard).
pub fn settle(
    ctx: &JobContext,
    seg: &mut Segment<'_>,
    owner_job: &str,
    epoch: &str,
    job_key: &str,
    quarantine: &mut Vec<Quarantined>,
    w: &mut Work,
) -> Result<(), SyncError> {
    let failed = std::mem::take(&mut w.failed);
    if failed.len() >= 4 && w.succeeded == 0 && failed.iter().all(|(_, e)| e.is_retryable()) {
        if let Some((_, e)) = failed.into_iter().next() {
            return Err(e.into());
        }
        return Ok(());
    }
    w.succeeded = 0;
    let base = ctx.cfg.quarantine_retry;
    for (r, e) in failed {
        let endpoint = match r.kind {
            Kind::Artifact => paths::artifact(&r.id),
            Kind::GeneratedFile => paths::generated_file(&r.id),
        };
        let f = super::quarantine::Failure::api(&e);
        let item = r.key();
        if !quarantine.iter().any(|q| q.item == item) && quarantine.len() >= MAX_QUARANTINE {
            let oldest = quarantine.remove(0);
            give_up(ctx, seg, owner_job, epoch, job_key, &oldest, w);
        }
        let keep = |_: &ContentRetry, _: &ContentRetry| false;
        let payload = ContentRetry { content: r };
        super::quarantine::record(quarantine, MAX_QUARANTINE, &item, || endpoint, f, base, payload, keep);
    }
    Ok(())
}

fn give_up(
    ctx: &JobContext,
    seg: &mut Segment<'_>,
    owner_job: &str,
    epoch: &str,
    job_key: &str,
    q: &Quarantined,
    w: &mut Work,
) {
    tracing::warn!(item = %q.item, attempts = q.attempts, status = q.status, "content item given up; written as unavailable");
    let ingest = Ingest::new(ctx, super::chat_messages::SPEC.name, &q.endpoint, job_key, None);
    let row = unavailable_row(&q.payload.content, q.status, &q.error, q.attempts, &ingest);
    push_written(seg, owner_job, epoch, &q.payload.content, Fetched { rows: vec![row], bytes: 0 }, w);
}

/// Retries the quarantined items that are due (at the start of a shard job).
pub async fn retry_due(
    ctx: &JobContext,
    stats: &JobStats,
    seg: &mut Segment<'_>,
    owner_job: &str,
    epoch: &str,
    job_key: &str,
    quarantine: &mut Vec<Quarantined>,
) -> Result<(), SyncError> {
    let now = Timestamp::now();
    let due: Vec<ContentRef> =
        quarantine.iter().filter(|q| q.next_retry <= now).map(|q| q.payload.content.clone()).collect();
    if due.is_empty() {
        return Ok(());
    }
    let mut w = Work::default();
    for r in due {
        if written(seg, owner_job, epoch, &r).await? {
            quarantine.retain(|q| q.item != r.key());
            continue;
        }
        match fetch(ctx, stats, job_key, &r).await {
            Ok(f) => {
                tracing::info!(item = %r.key(), "quarantined content item written");
                push_written(seg, owner_job, epoch, &r, f, &mut w);
                quarantine.retain(|q| q.item != r.key());
            }
            Err(e) if is_job_error(&e) => return Err(e.into()),
            Err(e) => w.failed.push((r, e)),
        }
    }
    w.succeeded = 1; // retries of known-bad items are not an outage signal
    settle(ctx, seg, owner_job, epoch, job_key, quarantine, &mut w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_carry_the_message_context() {
        let chat = json!({"id": "claude_chat_1", "organization_uuid": "o", "project_id": null,
            "user": {"id": "user_1", "email_address": "a@b.c", "x": 1}});
        let m = json!({"id": "claude_chat_msg_1", "artifacts": [{"id": "claude_artifact_1", "version_id": "claude_artifact_version_1"}],
            "generated_files": [{"id": "claude_gen_file_1", "filename": "a.csv"}, {"id": ""}], "files": null});
        let refs = refs_of(&m, &chat, [3, 1]);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].key(), "artifact/claude_artifact_version_1");
        assert_eq!(refs[1].key(), "generated_file/claude_gen_file_1");
        assert_eq!(refs[0].context["message_id"], "claude_chat_msg_1");
        assert_eq!(refs[0].context["chat_user"], json!({"id": "user_1", "email_address": "a@b.c"}));
        assert!(refs_of(&json!({"id": "m", "artifacts": null, "generated_files": null}), &chat, [0, 0]).is_empty());
    }
}
