//! `remote_sessions` + `remote_session_messages`: Cowork sessions in Anthropic's cloud (spec §7.16).
//! The listing has no `updated_at` filter, so every walk lists every session (`created_at` desc, no
//! `has_more`; `organization_ids[]` sent for `--org-ids`) and the floor applies client-side. A
//! session the user deletes leaves the list and its messages 404, unrecoverably: every scheduled
//! run polls this stream (its cadence is the schedule interval), so a session is copied within one
//! interval of its last change. Pending sessions (messages 404) are written as listed and read
//! again when they start (their `updated_at` moves). Exactly-once rule: `sessions.rs`.

use super::sessions::{Checkpoint, Kind, SessionStream};
use super::{Filter, JobContext, Scope, StreamSpec, SyncMode};
use crate::api::{paths, Family};
use crate::dlp::SourceKind;
use crate::store::Table;
use serde_json::Value;

pub const SPEC: StreamSpec = StreamSpec {
    name: "remote_sessions",
    endpoint: paths::REMOTE_SESSIONS,
    family: Family::PageToken,
    mode: SyncMode::IncrementalUpdated,
    scope: Scope::Tenant,
    identity: "remote_sessions: id + updated_at; remote_session_messages: id",
    tables: &[Table::RemoteSessions, Table::RemoteSessionMessages, Table::DlpFindings],
    context: &["session_id", "organization_uuid", "user", "agent_id", "status", "claude_project_id"],
    dlp: &[SourceKind::RemoteSessionMessage],
    filters: &[Filter::OrgIds, Filter::UserIds],
};

fn context(s: &Value) -> Vec<(&'static str, Value)> {
    let f = |k: &str| s.get(k).cloned().unwrap_or(Value::Null);
    vec![
        ("session_id", f("id")),
        ("organization_uuid", f("organization_uuid")),
        ("user", f("user")),
        ("agent_id", f("agent_id")),
        ("status", f("status")),
        ("claude_project_id", f("claude_project_id")),
    ]
}

pub const KIND: Kind = Kind {
    stream: SPEC.name,
    endpoint: SPEC.endpoint,
    sessions: Table::RemoteSessions,
    messages: Table::RemoteSessionMessages,
    source: SourceKind::RemoteSessionMessage,
    messages_path: paths::remote_session_messages,
    context,
};

fn query(ctx: &JobContext, _cp: &Checkpoint) -> Vec<(String, String)> {
    let mut query = vec![("limit".to_string(), ctx.cfg.session_page_size.clamp(1, 500).to_string())];
    for o in ctx.cfg.org_ids.iter().filter(|o| !o.starts_with("org_")) {
        query.push(("organization_ids[]".into(), o.clone()));
    }
    query
}

/// The stream (registered in [`super::registry`]).
pub const STREAM: SessionStream = SessionStream { spec: &SPEC, kind: &KIND, query };
