//! `local_sessions` + `local_session_messages`: Claude Code, Cowork, Claude for Microsoft 365 …
//! sessions on users' machines (spec §7.15). The listing (`created_at` desc, no `has_more`, no
//! `order`/`order_by`, no org or user filter) is read with `updated_at.gte = watermark − overlap`;
//! each new session version (`id` + `updated_at`) is written with its transcript read whole
//! (`tool_use_input_max_bytes=-1`, `tool_result_max_bytes=-1`), each message once, with session
//! context. The exactly-once rule and why it needs no per-session state: `sessions.rs`.
//! Org and user filters apply client-side. Markers (`[system prompt content not shown]`,
//! `provenance: content_unavailable`, …) are kept verbatim like every other field.

use super::sessions::{Checkpoint, Kind, SessionStream};
use super::{Filter, JobContext, Scope, StreamSpec, SyncMode};
use crate::api::{paths, Family};
use crate::dlp::SourceKind;
use crate::store::Table;
use serde_json::{json, Value};

pub const SPEC: StreamSpec = StreamSpec {
    name: "local_sessions",
    endpoint: paths::LOCAL_SESSIONS,
    family: Family::PageToken,
    mode: SyncMode::IncrementalUpdated,
    scope: Scope::Tenant,
    identity: "local_sessions: id + updated_at; local_session_messages: id",
    tables: &[Table::LocalSessions, Table::LocalSessionMessages, Table::DlpFindings],
    context: &["session_id", "organization_uuid", "user", "product_surface", "workspace_id"],
    dlp: &[SourceKind::LocalSessionMessage],
    filters: &[Filter::OrgIds, Filter::UserIds],
};

fn context(s: &Value) -> Vec<(&'static str, Value)> {
    let user = s.get("user").cloned().unwrap_or(Value::Null);
    let user = if user.is_object() {
        json!({"id": user.get("id").cloned().unwrap_or(Value::Null), "email_address": user.get("email_address").cloned().unwrap_or(Value::Null)})
    } else {
        Value::Null
    };
    vec![
        ("session_id", s.get("id").cloned().unwrap_or(Value::Null)),
        ("organization_uuid", s.get("organization_uuid").cloned().unwrap_or(Value::Null)),
        ("user", user),
        ("product_surface", s.get("product_surface").cloned().unwrap_or(Value::Null)),
        ("workspace_id", s.get("workspace_id").cloned().unwrap_or(Value::Null)),
    ]
}

pub const KIND: Kind = Kind {
    stream: SPEC.name,
    endpoint: SPEC.endpoint,
    sessions: Table::LocalSessions,
    messages: Table::LocalSessionMessages,
    source: SourceKind::LocalSessionMessage,
    messages_path: paths::local_session_messages,
    context,
};

fn query(ctx: &JobContext, cp: &Checkpoint) -> Vec<(String, String)> {
    let mut query = vec![("limit".to_string(), ctx.cfg.session_page_size.clamp(1, 500).to_string())];
    if let Some(f) = cp.floor(ctx.cfg.session_overlap).or(ctx.cfg.backfill_start) {
        query.push(("updated_at.gte".into(), f.to_rfc3339()));
    }
    query
}

/// The stream (registered in [`super::registry`]).
pub const STREAM: SessionStream = SessionStream { spec: &SPEC, kind: &KIND, query };
