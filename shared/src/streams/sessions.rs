//! What `local_sessions` and `remote_sessions` share: the checkpoint, the exactly-once rule, the
//! whole-transcript fetch and DLP over session content.
//!
//! ## Exactly once without per-session state
//! A walk `k` starts at `S_k` and handles the session versions (`id` + `updated_at`) with
//! `updated_at ≥ F_k`, where `F_k = S_{k−1} − overlap` (the first walk: everything, or
//! `updated_at ≥ --backfill-start`). A new version's transcript is read whole and each message with
//! `created_at ≥ F_k` is written (the first walk: every message). Because a message created at `c`
//! is visible by `c + overlap` (the API's processing delay is "typically minutes"; `overlap` covers
//! it) and its session's `updated_at ≥ c`, walk `k` writes every message with `c` in
//! `[F_k, S_k − overlap]` — and these intervals tile the time line. So a message older than `F_k` was
//! written by an earlier walk, and only the overlap window needs remembering: the digests of the
//! versions and messages written at or after `S_k − overlap`, pruned when a walk completes. State
//! grows with the activity of one overlap window, never with the number of sessions. Messages
//! that age out (retention) or a deleted session change nothing that was written.
//!
//! Known limit (API-side): the local listing is sorted by `created_at`, which moves forward as
//! retention ages calls out; a session whose `created_at` jumps past the walk's position during a
//! walk is not listed by that walk, and if it does not change again before the next floor passes
//! its `updated_at`, that version is not written. Its earlier versions and messages are unaffected.
//!
//! A walk that must restart mid-way (a rejected page token) continues below the oldest
//! `created_at` it already handled (`created_at.lt`), so it does not re-handle the versions older
//! than the window that it wrote before the restart.

use super::dlp::{self, DlpContext, Source};
use super::walk::{children, ChildEnd, ItemCtx, Listing, Prefetched, Stream, WalkEnd};
use super::{enrich, str_field, ts_field, Ingest, Job, JobContext, JobStats, StreamSpec, SyncError};
use crate::api::{ApiError, Family};
use crate::dlp::SourceKind;
use crate::store::Table;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

/// Transcripts of very large sessions need a long request timeout (spec §7.15: ≥ 5 minutes).
pub const TRANSCRIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Start of the last complete walk: the next walk handles `updated_at ≥ watermark − overlap`.
    pub watermark: Option<Timestamp>,
    /// Start of the walk in progress (kept so a resumed walk keeps its window).
    #[serde(default)]
    pub walk_started: Option<Timestamp>,
    /// The oldest `created_at` the walk in progress has handled, with the digests of the sessions
    /// at exactly that instant: where a restarted walk continues.
    #[serde(default)]
    pub walk_low: Option<Low>,
    /// Digest of `id@updated_at` → `updated_at`, for versions written at or after the window floor.
    #[serde(default)]
    pub versions: BTreeMap<String, Timestamp>,
    /// Digest of a message id → `created_at`, for messages written at or after the window floor.
    #[serde(default)]
    pub messages: BTreeMap<String, Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Low {
    pub created_at: Timestamp,
    pub keys: Vec<String>,
}

/// 64 bits of SHA-256: ids of one overlap window never collide in practice, and the checkpoint
/// stays small (session and message ids are long base64 strings).
pub fn digest(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// What differs between the two session streams.
pub struct Kind {
    pub stream: &'static str,
    /// The listing endpoint (provenance of session rows).
    pub endpoint: &'static str,
    pub sessions: Table,
    pub messages: Table,
    pub source: SourceKind,
    pub messages_path: fn(&str) -> String,
    /// Context copied from the listed session onto each message.
    pub context: fn(&Value) -> Vec<(&'static str, Value)>,
}

/// A session stream, local or remote: they differ in their spec, [`Kind`] and listing query only.
pub struct SessionStream {
    pub spec: &'static StreamSpec,
    pub kind: &'static Kind,
    /// The query of a walk's first request.
    pub query: fn(&JobContext, &Checkpoint) -> Vec<(String, String)>,
}

fn overlap(ctx: &JobContext) -> chrono::Duration {
    ctx.cfg.session_overlap
}

#[async_trait::async_trait]
impl Stream for SessionStream {
    type Checkpoint = Checkpoint;

    fn spec(&self) -> &'static StreamSpec {
        self.spec
    }

    fn listing(&self, ctx: &JobContext, _job: &Job, cp: &Checkpoint) -> Listing {
        Listing { path: self.spec.endpoint.into(), query: (self.query)(ctx, cp), start: None }
    }

    /// A rejected page token: continue below the oldest session already handled.
    fn restart(&self, cp: &mut Checkpoint, listing: &Listing) -> Option<Listing> {
        Some(cp.restart_listing(listing))
    }

    async fn prefetch(&self, ctx: &JobContext, stats: &JobStats, cp: &Checkpoint, items: &[Value]) -> Vec<Prefetched> {
        prefetch(self.kind, ctx, stats, cp, items, overlap(ctx)).await
    }

    async fn item(&self, w: &mut ItemCtx<'_, '_>, cp: &mut Checkpoint, session: Value) -> Result<(), SyncError> {
        let o = overlap(w.ctx);
        item(self.kind, w, cp, session, o).await
    }

    fn finish(&self, ctx: &JobContext, cp: &mut Checkpoint, end: &WalkEnd) {
        cp.finish(end.started_at, overlap(ctx));
    }
}

impl Checkpoint {
    /// `F_k`: versions and messages older than this were written by earlier walks (`None` = first walk).
    pub fn floor(&self, overlap: chrono::Duration) -> Option<Timestamp> {
        self.watermark.map(|w| w.minus(overlap))
    }

    /// What the dedup maps must remember: at or after the current walk's start minus the overlap.
    fn keep_from(&self, ctx: &JobContext, overlap: chrono::Duration) -> Timestamp {
        self.walk_started.unwrap_or(ctx.now).minus(overlap)
    }

    /// Whether a listed version still has to be written.
    pub fn wants_version(&self, id: &str, updated_at: Option<Timestamp>, lower: Option<Timestamp>) -> bool {
        if let (Some(l), Some(u)) = (lower, updated_at) {
            if u < l {
                return false;
            }
        }
        !self.versions.contains_key(&digest(&version_key(id, updated_at)))
    }

    /// Whether a message of a new version still has to be written.
    pub fn wants_message(&self, id: &str, created_at: Option<Timestamp>, floor: Option<Timestamp>) -> bool {
        if let (Some(f), Some(c)) = (floor, created_at) {
            if c < f {
                return false;
            }
        }
        !self.messages.contains_key(&digest(id))
    }

    /// A listed session is handled: remember where the walk is (for a restart).
    pub fn note_listed(&mut self, id: &str, created_at: Option<Timestamp>) {
        let Some(c) = created_at else { return };
        match &mut self.walk_low {
            Some(l) if l.created_at == c => l.keys.push(digest(id)),
            Some(l) if l.created_at < c => {}
            _ => self.walk_low = Some(Low { created_at: c, keys: vec![digest(id)] }),
        }
    }

    /// Already handled by this walk before a restart (a tie at the restart instant).
    pub fn handled_before_restart(&self, id: &str, created_at: Option<Timestamp>) -> bool {
        matches!((&self.walk_low, created_at), (Some(l), Some(c)) if l.created_at == c && l.keys.contains(&digest(id)))
    }

    /// A walk ended: it becomes the watermark; the maps keep only what the next walk can re-list.
    pub fn finish(&mut self, started_at: Timestamp, overlap: chrono::Duration) {
        self.watermark = Some(started_at);
        self.walk_started = None;
        self.walk_low = None;
        let keep = started_at.minus(overlap);
        self.versions.retain(|_, t| *t >= keep);
        self.messages.retain(|_, t| *t >= keep);
    }

    /// The listing a restarted walk continues with: below the oldest `created_at` handled.
    pub fn restart_listing(&self, listing: &Listing) -> Listing {
        let mut query: Vec<(String, String)> =
            listing.query.iter().filter(|(k, _)| k != "created_at.lt").cloned().collect();
        if let Some(l) = &self.walk_low {
            let lt = Timestamp(l.created_at.0 + chrono::Duration::microseconds(1));
            query.push(("created_at.lt".into(), lt.to_rfc3339()));
        }
        Listing { path: listing.path.clone(), query, start: None }
    }
}

pub fn version_key(id: &str, updated_at: Option<Timestamp>) -> String {
    format!("{id}@{}", updated_at.map(|t| t.to_rfc3339()).unwrap_or_default())
}

/// A whole transcript, in server order.
pub struct Transcript {
    pub messages: Vec<Value>,
    pub request_id: Option<String>,
    pub gone: bool,
}

/// Reads a session's transcript whole (`tool_*_max_bytes=-1`, oldest-first), each message once.
/// 400 `transcript_page_read_limit_exceeded`: never resent as is; re-read oldest-first from the
/// first page with half the page size (down to 1) — messages already read are not kept twice.
/// 429 `transcript_read_server_busy` is retried by the client (same request, after `retry-after`).
pub async fn fetch_transcript(
    ctx: &JobContext,
    stats: &JobStats,
    path: &str,
    page_size: u32,
) -> Result<Transcript, SyncError> {
    let mut limit = page_size.clamp(1, 1000);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut request_id = None;
    loop {
        let query = vec![
            ("limit".to_string(), limit.to_string()),
            ("tool_use_input_max_bytes".to_string(), "-1".to_string()),
            ("tool_result_max_bytes".to_string(), "-1".to_string()),
        ];
        let mut malformed = false;
        let r = children(ctx, stats, Family::PageToken, path, query, None, |m, rid| {
            request_id = rid.map(str::to_string);
            match str_field(&m, "id") {
                Some(id) => {
                    if seen.insert(id.to_string()) {
                        out.push(m);
                    }
                }
                None => malformed = true,
            }
            Ok(())
        })
        .await;
        if malformed {
            let reason = "session message without id".into();
            return Err(ApiError::Malformed { path: path.into(), reason, request_id }.into());
        }
        match r {
            Ok((_, end)) => return Ok(Transcript { messages: out, request_id, gone: matches!(end, ChildEnd::Gone) }),
            Err(SyncError::Api(ApiError::TranscriptPageTooLarge { .. })) if limit > 1 => {
                limit /= 2;
                tracing::warn!(path, limit, "transcript page too large; re-reading oldest-first with a smaller page");
            }
            Err(e) => return Err(e),
        }
    }
}

/// The client for transcript reads (≥ 5-minute request timeout), in a job context of its own.
pub fn transcript_ctx(ctx: &JobContext) -> JobContext {
    let mut c = ctx.clone();
    c.client = ctx.client.with_min_request_timeout(TRANSCRIPT_TIMEOUT);
    c
}

/// DLP findings of one session message: user text, every `tool_use` input and `tool_result` text.
pub fn scan_message(d: &DlpContext, kind: SourceKind, m: &Value, session: &Value, ingest: &Ingest<'_>) -> Vec<Value> {
    let mut out = Vec::new();
    let msg_id = str_field(m, "id").unwrap_or_default().to_string();
    let user_role = str_field(m, "role") == Some("user");
    let mut src = Source::new(kind, msg_id.clone());
    src.message_id = Some(msg_id);
    src.session_id = str_field(session, "id").map(str::to_string);
    src.user = match session.get("user") {
        Some(u) if u.is_object() => u.clone(),
        _ => session.get("started_by_user").cloned().unwrap_or(Value::Null),
    };
    src.organization_uuid = session.get("organization_uuid").cloned().unwrap_or(Value::Null);
    src.source_created_at = m.get("created_at").cloned().unwrap_or(Value::Null);
    for (i, b) in m.get("content").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let text = match str_field(b, "type") {
            Some("text") if user_role => str_field(b, "text").map(str::to_string),
            Some("tool_use") => str_field(b, "input").map(str::to_string),
            Some("tool_result") => {
                let parts: Vec<&str> = b
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| str_field(c, "text"))
                    .collect();
                (!parts.is_empty()).then(|| parts.join("\n"))
            }
            _ => None,
        };
        if let Some(text) = text {
            let mut s = src.clone();
            s.content_index = Some(i);
            out.extend(dlp::scan(d, &text, &s, ingest));
        }
    }
    out
}

/// Client-side filters: `--org-ids` and `--user-ids` (owner, or who started an agent-owned session).
pub fn wanted(session: &Value, org_ids: &[String], user_ids: &[String]) -> bool {
    let org_ok =
        org_ids.is_empty() || str_field(session, "organization_uuid").is_some_and(|o| org_ids.iter().any(|x| x == o));
    let uid = |k: &str| session.get(k).and_then(|u| str_field(u, "id"));
    let user_ok = user_ids.is_empty()
        || [uid("user"), uid("started_by_user")].into_iter().flatten().any(|u| user_ids.iter().any(|x| x == u));
    org_ok && user_ok
}

type Fetched = Result<Transcript, SyncError>;

/// Whether a listed session is written in this walk (the same answer in `prefetch` and `item`).
pub fn to_write(ctx: &JobContext, cp: &Checkpoint, session: &Value, overlap: chrono::Duration) -> bool {
    let Some(id) = str_field(session, "id") else { return false };
    let cfg = &ctx.cfg;
    let lower = cp.floor(overlap).or(cfg.backfill_start);
    wanted(session, &cfg.org_ids, &cfg.user_ids)
        && !cp.handled_before_restart(id, ts_field(session, "created_at"))
        && cp.wants_version(id, ts_field(session, "updated_at"), lower)
}

/// Fetches the transcripts of a page's sessions to be written, `message_concurrency` at once.
pub async fn prefetch(
    kind: &Kind,
    ctx: &JobContext,
    stats: &JobStats,
    cp: &Checkpoint,
    items: &[Value],
    overlap: chrono::Duration,
) -> Vec<Prefetched> {
    use futures::future::BoxFuture;
    use futures::stream::{self, StreamExt};
    let tctx = transcript_ctx(ctx);
    let tctx = &tctx;
    let mut jobs: Vec<BoxFuture<'_, Prefetched>> = Vec::with_capacity(items.len());
    for s in items {
        let go = to_write(ctx, cp, s, overlap);
        let path = (kind.messages_path)(str_field(s, "id").unwrap_or_default());
        jobs.push(Box::pin(async move {
            if !go {
                return None;
            }
            let r: Fetched = fetch_transcript(tctx, stats, &path, ctx.cfg.message_page_size).await;
            Some(Box::new(r) as Box<dyn std::any::Any + Send>)
        }));
    }
    stream::iter(jobs).buffered(ctx.cfg.message_concurrency.max(1)).collect().await
}

/// Handles one listed session: its version row, then its new messages (with DLP findings).
pub async fn item(
    kind: &Kind,
    w: &mut ItemCtx<'_, '_>,
    cp: &mut Checkpoint,
    session: Value,
    overlap: chrono::Duration,
) -> Result<(), SyncError> {
    let ctx = w.ctx;
    if cp.walk_started.is_none() {
        cp.walk_started = Some(ctx.now);
    }
    let id = str_field(&session, "id").unwrap_or_default().to_string();
    let created = ts_field(&session, "created_at");
    let updated = ts_field(&session, "updated_at");
    if !to_write(ctx, cp, &session, overlap) {
        if wanted(&session, &ctx.cfg.org_ids, &ctx.cfg.user_ids) {
            w.stats.skipped_duplicates.fetch_add(1, Ordering::Relaxed);
        }
        cp.note_listed(&id, created);
        return Ok(());
    }
    let path = (kind.messages_path)(&id);
    let fetched = match w.prefetched.take().and_then(|b| b.downcast::<Fetched>().ok()) {
        Some(r) => *r,
        None => fetch_transcript(&transcript_ctx(ctx), w.stats, &path, ctx.cfg.message_page_size).await,
    };
    let t = fetched?;
    if t.gone {
        tracing::info!(stream = kind.stream, "session transcript gone (404) when read; writing the listed version");
    }
    let floor = cp.floor(overlap);
    let keep = cp.keep_from(ctx, overlap);
    let context = (kind.context)(&session);
    let ingest = Ingest::new(ctx, kind.stream, &path, w.job_key, t.request_id.as_deref());
    for m in t.messages {
        let mid = str_field(&m, "id").unwrap_or_default().to_string();
        let at = ts_field(&m, "created_at");
        // the first walk writes whole transcripts; later walks what is not older than the floor
        if !cp.wants_message(&mid, at, floor) {
            w.stats.skipped_duplicates.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Some(d) = ctx.dlp.as_deref() {
            for f in scan_message(d, kind.source, &m, &session, &ingest) {
                w.seg.push(Table::DlpFindings, f);
            }
        }
        w.seg.push(kind.messages, enrich(m, &context, &ingest));
        if let Some(a) = at.filter(|a| *a >= keep) {
            cp.messages.insert(digest(&mid), a);
        } else if at.is_none() {
            cp.messages.insert(digest(&mid), keep);
        }
    }
    let list_ingest = Ingest::new(ctx, kind.stream, kind.endpoint, w.job_key, w.request_id.as_deref());
    w.seg.push(kind.sessions, enrich(session, &[], &list_ingest));
    let v = updated.unwrap_or(keep);
    if v >= keep {
        cp.versions.insert(digest(&version_key(&id, updated)), v);
    }
    cp.note_listed(&id, created);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn the_window_rule_tiles_time_and_stays_bounded() {
        let o = chrono::Duration::minutes(10);
        let mut cp = Checkpoint::default();
        // first walk: everything
        assert!(cp.wants_version("clls_a", Some(ts("2020-01-01T00:00:00Z")), cp.floor(o)));
        assert!(cp.wants_message("clsm_1", Some(ts("2020-01-01T00:00:00Z")), cp.floor(o)));
        cp.walk_started = Some(ts("2026-11-01T12:00:00Z"));
        cp.versions
            .insert(digest(&version_key("clls_a", Some(ts("2026-11-01T11:55:00Z")))), ts("2026-11-01T11:55:00Z"));
        cp.messages.insert(digest("clsm_9"), ts("2026-11-01T11:55:00Z"));
        cp.messages.insert(digest("clsm_old"), ts("2026-11-01T09:00:00Z"));
        cp.finish(ts("2026-11-01T12:00:00Z"), o);
        assert_eq!(cp.messages.len(), 1, "pruned to the window");
        let floor = cp.floor(o);
        assert_eq!(floor, Some(ts("2026-11-01T11:50:00Z")));
        // the same version re-listed in the overlap: skipped; a newer one: written
        assert!(!cp.wants_version("clls_a", Some(ts("2026-11-01T11:55:00Z")), floor));
        assert!(cp.wants_version("clls_a", Some(ts("2026-11-01T12:05:00Z")), floor));
        // its messages: older than the floor were written by the last walk; in the window, once
        assert!(!cp.wants_message("clsm_2", Some(ts("2026-11-01T11:00:00Z")), floor));
        assert!(!cp.wants_message("clsm_9", Some(ts("2026-11-01T11:55:00Z")), floor));
        assert!(cp.wants_message("clsm_10", Some(ts("2026-11-01T12:04:00Z")), floor));
    }

    #[test]
    fn a_restarted_walk_continues_below_what_it_handled() {
        let mut cp = Checkpoint::default();
        cp.note_listed("clls_b", Some(ts("2026-11-01T10:00:00Z")));
        cp.note_listed("clls_c", Some(ts("2026-11-01T09:00:00Z")));
        cp.note_listed("clls_d", Some(ts("2026-11-01T09:00:00Z")));
        assert!(cp.handled_before_restart("clls_d", Some(ts("2026-11-01T09:00:00Z"))));
        assert!(!cp.handled_before_restart("clls_e", Some(ts("2026-11-01T09:00:00Z"))));
        let l =
            Listing { path: "/x".into(), query: vec![("limit".into(), "500".into())], start: Some("page_x".into()) };
        let r = cp.restart_listing(&l);
        assert_eq!(r.start, None);
        assert!(
            r.query.contains(&("created_at.lt".to_string(), "2026-11-01T09:00:00.000001Z".to_string())),
            "{:?}",
            r.query
        );
    }

    #[test]
    fn dlp_scans_user_text_tool_inputs_and_results_only() {
        let m = serde_json::json!({"id": "clsm_x", "role": "assistant", "content": [
            {"type": "text", "text": "assistant prose is not scanned"},
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": "{}"},
        ]});
        let blocks: Vec<&str> = m["content"].as_array().unwrap().iter().filter_map(|b| b["type"].as_str()).collect();
        assert_eq!(blocks, ["text", "tool_use"]);
        let s = serde_json::json!({"id": "clls_s", "user": {"id": "user_1", "email_address": null}});
        assert!(wanted(&s, &[], &["user_1".into()]));
        assert!(!wanted(&s, &[], &["user_2".into()]));
        let agent = serde_json::json!({"id": "cse_1", "user": null, "started_by_user": {"id": "user_2"}, "organization_uuid": "o"});
        assert!(wanted(&agent, &["o".into()], &["user_2".into()]));
    }
}
