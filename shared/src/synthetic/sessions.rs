//! Claude Code / Cowork sessions of the synthetic tenant (spec §7.15 local, §7.16 remote), with the
//! quirks a client must survive: local `created_at` moving forward as retention ages calls out (and
//! fully aged-out sessions disappearing), remote sessions a user deletes disappearing (list and
//! messages), `pending` remote sessions whose messages 404, `content_unavailable` / provenance
//! markers, ties in message timestamps, and tool inputs and results longer than the 10 000-byte
//! default. Kept apart from the rest of the tenant: generated from its own RNG stream, so adding
//! sessions changes nothing else a seed produces.
//!
//! The fake records which ids it has served ([`Sessions::served`]): what has since disappeared
//! from the API is still expected in the lake if a sync saw it (the lake may hold the only copy).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::ids::{self, rand_between, rand_ms, ts_z};
use super::secrets::{self, Planted};
use super::{PlantedSecret, Tenant};

/// Local `product_surface` values (open enum: `None` and a not-yet-documented value included).
const SURFACES: &[Option<&str>] = &[
    Some("claude_code"),
    Some("cowork"),
    Some("office_agents/excel"),
    Some("claude_science"),
    Some("claude_in_chrome"),
    Some("office_agents"),
    None,
    Some("claude_tag"),
];

const TOOLS: &[&str] = &["Bash", "Read", "Edit", "Grep", "mcp__github__create_issue", "repl"];

/// One message of a session transcript (wire = one element of `data`).
#[derive(Debug, Clone)]
pub struct SessionMessage {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub wire: Value,
}

/// A local session (Claude Code, Cowork, Office add-ins … on a user's machine).
#[derive(Debug, Clone)]
pub struct LocalSession {
    pub id: String,
    pub organization_uuid: String,
    pub workspace_id: Option<String>,
    pub user_id: String,
    pub email: Option<String>,
    pub product_surface: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Retained calls, in server (transcript) order.
    pub messages: Vec<SessionMessage>,
    /// A "very large" session: `order=desc` and pages over 200 messages are refused with 400
    /// `transcript_page_read_limit_exceeded`; every page answers 429 `transcript_read_server_busy`
    /// once before it is served.
    pub very_large: bool,
}

impl LocalSession {
    /// Earliest *retained* call (moves forward as retention ages calls out).
    pub fn created_at(&self) -> DateTime<Utc> {
        self.messages.iter().map(|m| m.created_at).min().unwrap_or(self.updated_at)
    }

    pub fn wire(&self, email: bool) -> Value {
        json!({
            "type": "compliance_local_session",
            "id": self.id,
            "organization_uuid": self.organization_uuid,
            "workspace_id": self.workspace_id,
            "user": {"id": self.user_id, "email_address": if email { json!(self.email) } else { Value::Null }},
            "product_surface": self.product_surface,
            "created_at": ts_z(self.created_at()),
            "updated_at": ts_z(self.updated_at),
            "truncated": false,
        })
    }
}

/// A remote (cloud Cowork) session.
#[derive(Debug, Clone)]
pub struct RemoteSession {
    pub id: String,
    pub organization_uuid: String,
    /// `{id, email_address}` of the owner; `None` for agent-owned sessions.
    pub user: Option<(String, Option<String>)>,
    pub agent_id: Option<String>,
    pub started_by_user: Option<(String, Option<String>)>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub claude_project_id: Option<String>,
    pub messages: Vec<SessionMessage>,
}

fn user_json(u: &Option<(String, Option<String>)>, email: bool) -> Value {
    match u {
        Some((id, e)) => json!({"id": id, "email_address": if email { json!(e) } else { Value::Null }}),
        None => Value::Null,
    }
}

impl RemoteSession {
    /// List form (`full`) or the `session` of a messages response (email, `started_by_user` and
    /// `claude_project_id` always null there).
    pub fn wire(&self, full: bool) -> Value {
        json!({
            "id": self.id,
            "organization_uuid": self.organization_uuid,
            "user": user_json(&self.user, full),
            "agent_id": self.agent_id,
            "started_by_user": if full { user_json(&self.started_by_user, true) } else { Value::Null },
            "status": self.status,
            "created_at": ts_z(self.created_at),
            "updated_at": ts_z(self.updated_at),
            "product_surface": "cowork_remote",
            "claude_project_id": if full { json!(self.claude_project_id) } else { Value::Null },
        })
    }
}

/// What the fake has handed out (ids), shared by every clone of the tenant.
#[derive(Debug, Default)]
pub struct Served {
    pub local_sessions: BTreeSet<String>,
    pub local_messages: BTreeSet<String>,
    pub remote_sessions: BTreeSet<String>,
    pub remote_messages: BTreeSet<String>,
    /// Requests (path + query) already answered `transcript_read_server_busy` once.
    pub busy_answered: BTreeSet<String>,
}

/// Every session of the tenant.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    pub local: Vec<LocalSession>,
    pub remote: Vec<RemoteSession>,
    /// Local calls before this instant have aged out (retention).
    pub retention_floor: Option<DateTime<Utc>>,
    /// Local messages aged out, and local sessions that aged out entirely.
    pub aged_out_messages: BTreeSet<String>,
    pub aged_out_sessions: BTreeSet<String>,
    /// Remote sessions deleted by their user (gone from the API), with their messages.
    pub deleted_remote: Vec<RemoteSession>,
    /// Sensitive values planted in session content (user turns, tool inputs, tool results).
    pub planted: Vec<PlantedSecret>,
    pub served: Arc<Mutex<Served>>,
    /// Page tokens of a transcript walk expire this long after its first page.
    pub page_token_ttl_hours: i64,
    /// `retry-after` sent with `transcript_read_server_busy`.
    pub busy_retry_after: String,
    planted_counter: usize,
    mutations: u64,
}

/// What one mutation did to the sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionMutation {
    pub appended_local: Vec<String>,
    pub new_local: Vec<String>,
    pub appended_remote: Vec<String>,
    pub new_remote: Vec<String>,
    pub deleted_remote: Vec<String>,
    pub activated_remote: Vec<String>,
    pub aged_out_messages: Vec<String>,
    pub new_message_ids: Vec<String>,
}

/// Ids a complete sync must hold: what the API shows now, plus what it showed (to a sync) and has
/// since dropped (aged out, deleted by the user).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionExpected {
    /// Served ids the API has dropped since (aged out, deleted by the user): a sync that was
    /// served them and committed holds them, but one that died before committing cannot get
    /// them back; crash tests accept them at most once instead of requiring them.
    pub gone: BTreeSet<String>,
    pub local_sessions: BTreeSet<String>,
    pub local_session_messages: BTreeSet<String>,
    pub remote_sessions: BTreeSet<String>,
    pub remote_session_messages: BTreeSet<String>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn b64_id(prefix: &str, v: Value) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(v.to_string()))
}

/// A JSON-encoded tool input of about `len` characters.
fn tool_input(rng: &mut ChaCha8Rng, tool: &str, len: usize, secret: Option<&str>) -> String {
    let mut body = String::new();
    while body.len() < len {
        body.push_str(super::text::pick(rng, super::text::USER_PROMPTS));
        body.push('\n');
    }
    body.truncate(len);
    if let Some(s) = secret {
        body.push_str("\n# ");
        body.push_str(s);
    }
    let key = if tool == "Bash" {
        "command"
    } else if tool == "repl" {
        "code"
    } else {
        "content"
    };
    json!({ key: body, "description": format!("{tool} call") }).to_string()
}

fn filler(rng: &mut ChaCha8Rng, len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push_str(super::text::pick(rng, super::text::USER_PROMPTS));
        s.push(' ');
    }
    s.truncate(len);
    s
}

impl Sessions {
    pub fn expected(&self) -> SessionExpected {
        let served = lock(&self.served);
        let mut e = SessionExpected::default();
        for s in &self.local {
            e.local_sessions.insert(s.id.clone());
            e.local_session_messages.extend(s.messages.iter().map(|m| m.id.clone()));
        }
        let aged_sessions: Vec<String> = self.aged_out_sessions.intersection(&served.local_sessions).cloned().collect();
        let aged_messages: Vec<String> = self.aged_out_messages.intersection(&served.local_messages).cloned().collect();
        e.gone.extend(aged_sessions.iter().chain(&aged_messages).cloned());
        e.local_sessions.extend(aged_sessions);
        e.local_session_messages.extend(aged_messages);
        for s in &self.remote {
            e.remote_sessions.insert(s.id.clone());
            e.remote_session_messages.extend(s.messages.iter().map(|m| m.id.clone()));
        }
        for s in &self.deleted_remote {
            if served.remote_sessions.contains(&s.id) {
                e.remote_sessions.insert(s.id.clone());
                e.gone.insert(s.id.clone());
            }
            let msgs: Vec<String> =
                s.messages.iter().filter(|m| served.remote_messages.contains(&m.id)).map(|m| m.id.clone()).collect();
            e.gone.extend(msgs.iter().cloned());
            e.remote_session_messages.extend(msgs);
        }
        e
    }

    pub fn local_session(&self, id: &str) -> Option<&LocalSession> {
        self.local.iter().find(|s| s.id == id)
    }

    pub fn remote_session(&self, id: &str) -> Option<&RemoteSession> {
        self.remote.iter().find(|s| s.id == id)
    }

    /// Marks the first local session "very large" (see [`LocalSession::very_large`]).
    pub fn make_very_large(&mut self) -> Option<String> {
        let s = self.local.first_mut()?;
        s.very_large = true;
        Some(s.id.clone())
    }

    fn plant(
        &mut self,
        rng: &mut ChaCha8Rng,
        domain: &str,
        record_kind: &'static str,
        id: &str,
        field: &'static str,
    ) -> String {
        let (sentence, planted) = secrets::sensitive_sentence(rng, self.planted_counter, domain);
        self.planted_counter += 1;
        for Planted { kind, value } in planted {
            self.planted.push(PlantedSecret { record_kind, record_id: id.to_string(), field, kind, value });
        }
        sentence
    }

    /// One turn: user prompt, assistant `tool_use`, the `tool_result` in the next user message
    /// (same call timestamp: a tie), and the assistant's answer. Returns the messages.
    #[allow(clippy::too_many_arguments)]
    fn turn(
        &mut self,
        rng: &mut ChaCha8Rng,
        domain: &str,
        local: bool,
        at: DateTime<Utc>,
        pos: &mut u64,
        long: bool,
        agent_user: Option<&str>,
    ) -> Vec<SessionMessage> {
        let kind: &'static str = if local { "local_session_message" } else { "remote_session_message" };
        let mut out = Vec::new();
        let next_id = |rng: &mut ChaCha8Rng, role: &str, pos: &mut u64| -> String {
            *pos += 1;
            if local {
                b64_id(
                    "clsm_",
                    json!({"v": 1, "l": ids::tagged_id(rng, "msg_"), "r": role, "p": *pos, "qh": ids::hex(rng, 8)}),
                )
            } else {
                ids::tagged_id(rng, "csev_")
            }
        };
        let tool = *TOOLS.choose(rng).unwrap_or(&"Bash");
        let tool_use_id = ids::tagged_id(rng, "toolu_");
        let t_user = at;
        let t_asst = at + rand_ms(rng, 2_000, 30_000);
        let t_final = t_asst + rand_ms(rng, 1_000, 20_000);
        // user prompt (sometimes with a secret pasted in)
        let uid = next_id(rng, "user", pos);
        let mut prompt = super::text::pick(rng, super::text::USER_PROMPTS).to_string();
        if rng.gen_ratio(35, 100) {
            let s = self.plant(rng, domain, kind, &uid, "text");
            prompt = format!("{prompt}\n\n{s}");
        }
        out.push(self.msg(
            uid,
            "user",
            t_user,
            json!([{"type": "text", "text": prompt, "truncated": false}]),
            local,
            agent_user,
        ));
        // assistant tool_use (input a JSON string; long ones exceed the 10 000-byte default)
        let aid = next_id(rng, "assistant", pos);
        let secret = if rng.gen_ratio(30, 100) { Some(self.plant(rng, domain, kind, &aid, "input")) } else { None };
        let n = if long { 20_000 } else { rng.gen_range(40..400) };
        let input = tool_input(rng, tool, n, secret.as_deref());
        let mut blocks = vec![json!({"type": "text", "text": "Let me look at that.", "truncated": false})];
        blocks.push(json!({"type": "tool_use", "id": tool_use_id, "name": tool, "input": input, "truncated": false}));
        out.push(self.msg(aid, "assistant", t_asst, Value::Array(blocks), local, None));
        // tool_result in the next user message, same call timestamp (a tie)
        let rid = next_id(rng, "user", pos);
        let n = if long { 20_000 } else { rng.gen_range(60..600) };
        let mut result = filler(rng, n);
        if rng.gen_ratio(30, 100) {
            let s = self.plant(rng, domain, kind, &rid, "tool_result");
            result = format!("{result}\n{s}");
        }
        let mut items = vec![json!({"type": "text", "text": result})];
        if rng.gen_ratio(1, 5) {
            items.push(json!({"type": "text", "text": "[1 non-text item(s) not shown]"}));
        }
        out.push(self.msg(
            rid,
            "user",
            t_asst,
            json!([{"type": "tool_result", "tool_use_id": tool_use_id, "name": tool, "is_error": rng.gen_ratio(1, 8), "content": items, "truncated": false}]),
            local,
            None,
        ));
        let fid = next_id(rng, "assistant", pos);
        let answer = super::text::pick(rng, super::text::USER_PROMPTS).to_string();
        out.push(self.msg(
            fid,
            "assistant",
            t_final,
            json!([{"type": "text", "text": answer, "truncated": false}]),
            local,
            None,
        ));
        out
    }

    fn msg(
        &self,
        id: String,
        role: &str,
        at: DateTime<Utc>,
        content: Value,
        local: bool,
        agent_user: Option<&str>,
    ) -> SessionMessage {
        let wire = if local {
            json!({
                "type": "compliance_local_session_message",
                "id": id,
                "role": role,
                "created_at": ts_z(at),
                "model": if role == "assistant" { json!("claude-opus-5") } else { Value::Null },
                "provenance": Value::Null,
                "content": content,
            })
        } else {
            json!({
                "id": id,
                "role": role,
                "created_at": ts_z(at),
                "content": content,
                "sent_by_user_id": if role == "user" { json!(agent_user) } else { Value::Null },
                "content_unavailable": false,
            })
        };
        SessionMessage { id, created_at: at, wire }
    }

    fn marker(&self, rng: &mut ChaCha8Rng, at: DateTime<Utc>, pos: &mut u64) -> SessionMessage {
        *pos += 1;
        let id = b64_id(
            "clsm_",
            json!({"v": 1, "l": ids::tagged_id(rng, "msg_"), "r": "user", "p": *pos, "qh": ids::hex(rng, 8)}),
        );
        let mut m = self.msg(
            id,
            "user",
            at,
            json!([{"type": "text", "text": "[system prompt content not shown]", "truncated": true}]),
            true,
            None,
        );
        m.wire["provenance"] = json!({"type": "synthetic_marker"});
        m
    }

    fn new_local(
        &mut self,
        rng: &mut ChaCha8Rng,
        t: &Tenant,
        user_id: &str,
        at: DateTime<Utc>,
        turns: usize,
        long: bool,
    ) -> usize {
        let (org, email) = match t.users.get(user_id) {
            Some(u) => (u.home_org_uuid.clone(), Some(u.email.clone())),
            None => (String::new(), None),
        };
        let id = b64_id("clls_", json!({"v": 1, "o": org, "p": ids::uuid(rng), "s": ids::uuid(rng)}));
        let surface = SURFACES[self.local.len() % SURFACES.len()].map(str::to_string);
        let mut pos = 0;
        let mut messages = vec![self.marker(rng, at, &mut pos)];
        let mut when = at;
        for i in 0..turns {
            messages.extend(self.turn(rng, &t.domain, true, when, &mut pos, long && i == 0, None));
            when = messages.last().map(|m| m.created_at).unwrap_or(when) + rand_ms(rng, 30_000, 15 * 60_000);
        }
        // some sessions carry a call whose content was never captured, or an image block
        if self.local.len() % 3 == 1 {
            pos += 1;
            let mid = b64_id(
                "clsm_",
                json!({"v": 1, "l": ids::tagged_id(rng, "msg_"), "r": "assistant", "p": pos, "qh": ids::hex(rng, 8)}),
            );
            let mut m = self.msg(mid, "assistant", when, json!([]), true, None);
            m.wire["provenance"] = json!({"type": "content_unavailable", "reason": "not_captured"});
            messages.push(m);
        } else if self.local.len() % 3 == 2 {
            pos += 1;
            let mid = b64_id(
                "clsm_",
                json!({"v": 1, "l": ids::tagged_id(rng, "msg_"), "r": "user", "p": pos, "qh": ids::hex(rng, 8)}),
            );
            let mut m = self.msg(
                mid,
                "user",
                when,
                json!([{"type": "text", "text": "[image content not shown]", "truncated": false}]),
                true,
                None,
            );
            m.wire["provenance"] = json!({"type": "client_asserted"});
            messages.push(m);
        }
        let updated_at = messages.iter().map(|m| m.created_at).max().unwrap_or(at);
        let workspace_id = if rng.gen_ratio(1, 2) { Some(ids::tagged_id(rng, "wrkspc_")) } else { None };
        self.local.push(LocalSession {
            id,
            organization_uuid: org,
            workspace_id,
            user_id: user_id.to_string(),
            email,
            product_surface: surface,
            updated_at,
            messages,
            very_large: false,
        });
        self.local.len() - 1
    }

    #[allow(clippy::too_many_arguments)]
    fn new_remote(
        &mut self,
        rng: &mut ChaCha8Rng,
        t: &Tenant,
        user_id: &str,
        agent: bool,
        at: DateTime<Utc>,
        turns: usize,
        long: bool,
    ) -> usize {
        let u = t.users.get(user_id).map(|u| (u.id.clone(), Some(u.email.clone())));
        let org = t.users.get(user_id).map(|u| u.home_org_uuid.clone()).unwrap_or_default();
        let (user, agent_id, started_by) =
            if agent { (None, Some(ids::tagged_id(rng, "cagt_")), u.clone()) } else { (u.clone(), None, u.clone()) };
        let project = t.projects.iter().find(|p| p.organization_uuid == org).map(|p| p.id.clone());
        let mut messages = Vec::new();
        let mut pos = 0;
        let mut when = at;
        for i in 0..turns {
            let sent_by = if agent { Some(user_id) } else { None };
            messages.extend(self.turn(rng, &t.domain, false, when, &mut pos, long && i == 0, sent_by));
            when = messages.last().map(|m| m.created_at).unwrap_or(when) + rand_ms(rng, 30_000, 15 * 60_000);
        }
        if self.remote.len() % 4 == 1 {
            let mid = ids::tagged_id(rng, "csev_");
            let mut m = self.msg(mid, "assistant", when, json!([]), false, None);
            m.wire["content_unavailable"] = json!(true);
            messages.push(m);
        }
        let updated_at = messages.iter().map(|m| m.created_at).max().unwrap_or(at);
        self.remote.push(RemoteSession {
            id: ids::tagged_id(rng, "cse_"),
            organization_uuid: org,
            user,
            agent_id,
            started_by_user: started_by,
            status: ["active", "archived", "paused", "active", "failed"][self.remote.len() % 5].to_string(),
            created_at: at,
            updated_at,
            claude_project_id: if rng.gen_ratio(1, 2) { project } else { None },
            messages,
        });
        self.remote.len() - 1
    }
}

fn session_rng(t: &Tenant, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(t.config.seed ^ 0x5E55_1045_0000_0000 ^ salt)
}

impl Tenant {
    /// Generates the sessions (called once at the end of [`Tenant::generate`]).
    pub(crate) fn generate_sessions(&mut self) {
        let mut rng = session_rng(self, 0);
        let mut s = Sessions { page_token_ttl_hours: 24, busy_retry_after: "1".into(), ..Sessions::default() };
        let (start, end) = (self.config.start, self.now);
        let users: Vec<String> = self.users.keys().cloned().collect();
        for (i, uid) in users.iter().enumerate() {
            let at = rand_between(&mut rng, start, end - Duration::hours(3));
            let turns = rng.gen_range(1..3);
            s.new_local(&mut rng, self, uid, at, turns, i == 0);
            if i % 2 == 0 {
                let at = rand_between(&mut rng, start, end - Duration::hours(3));
                let turns = rng.gen_range(1..3);
                s.new_remote(&mut rng, self, uid, i % 4 == 2, at, turns, i == 0);
            }
        }
        // a long-running local session: a first turn near the start, another hours before the end
        // (retention ages the first one out: the session's created_at moves forward)
        if let Some(uid) = users.get(1) {
            let i = s.new_local(&mut rng, self, uid, start + Duration::hours(1), 1, false);
            let mut pos = 500;
            let later = s.turn(&mut rng, &self.domain.clone(), true, end - Duration::hours(4), &mut pos, false, None);
            let l = &mut s.local[i];
            l.messages.extend(later);
            l.updated_at = l.messages.iter().map(|m| m.created_at).max().unwrap_or(l.updated_at);
        }
        // a pending remote session: listed, its messages 404 until it starts
        if let Some(uid) = users.first() {
            let at = end - Duration::hours(2);
            let ri = s.new_remote(&mut rng, self, uid, false, at, 0, false);
            s.remote[ri].status = "pending".into();
        }
        self.sessions = s;
    }

    /// Time passing for sessions (called by [`Tenant::mutate`]): new and continued sessions in
    /// `(prev, now]`, a pending session starting, a user deleting a remote session, and local
    /// retention ageing the oldest calls out. Only records generated before the first mutation are
    /// deleted or aged out, so a sync that ran before the mutation saw them.
    pub(crate) fn mutate_sessions(
        &mut self,
        prev: DateTime<Utc>,
        now: DateTime<Utc>,
        removals: bool,
    ) -> SessionMutation {
        let mut sess = std::mem::take(&mut self.sessions);
        sess.mutations += 1;
        let mut rng = session_rng(self, sess.mutations);
        let mut m = SessionMutation::default();
        let lo = prev + Duration::microseconds(1);
        let span = (now - lo).max(Duration::seconds(2));
        let at = |rng: &mut ChaCha8Rng| rand_between(rng, lo, lo + span / 2);
        let generated_local = sess.local.len();
        let generated_remote: BTreeSet<String> =
            sess.remote.iter().filter(|r| r.created_at <= self.config.end).map(|r| r.id.clone()).collect();
        // continue two local sessions and one remote one
        for k in 0..2usize.min(sess.local.len()) {
            let i = (k * 3 + sess.mutations as usize) % sess.local.len();
            let when = at(&mut rng);
            let mut pos = 1000 + sess.local[i].messages.len() as u64;
            let new = sess.turn(&mut rng, &self.domain, true, when, &mut pos, false, None);
            m.new_message_ids.extend(new.iter().map(|x| x.id.clone()));
            let s = &mut sess.local[i];
            s.messages.extend(new);
            s.updated_at = s.messages.iter().map(|x| x.created_at).max().unwrap_or(s.updated_at);
            m.appended_local.push(s.id.clone());
        }
        if let Some(i) = sess.remote.iter().position(|r| r.status == "active" && !r.messages.is_empty()) {
            let when = at(&mut rng);
            let mut pos = 0;
            let new = sess.turn(&mut rng, &self.domain, false, when, &mut pos, false, None);
            m.new_message_ids.extend(new.iter().map(|x| x.id.clone()));
            let r = &mut sess.remote[i];
            r.messages.extend(new);
            r.updated_at = r.messages.iter().map(|x| x.created_at).max().unwrap_or(r.updated_at);
            m.appended_remote.push(r.id.clone());
        }
        // the pending session starts
        if let Some(i) = sess.remote.iter().position(|r| r.status == "pending") {
            let when = at(&mut rng);
            let mut pos = 0;
            let new = sess.turn(&mut rng, &self.domain, false, when, &mut pos, false, None);
            m.new_message_ids.extend(new.iter().map(|x| x.id.clone()));
            let r = &mut sess.remote[i];
            r.status = "active".into();
            r.messages = new;
            r.updated_at = r.messages.iter().map(|x| x.created_at).max().unwrap_or(when);
            m.activated_remote.push(r.id.clone());
        }
        // new sessions
        let users: Vec<String> = self.users.keys().cloned().collect();
        if let Some(uid) = users.choose(&mut rng).cloned() {
            let when = at(&mut rng);
            let i = sess.new_local(&mut rng, self, &uid, when, 1, false);
            m.new_local.push(sess.local[i].id.clone());
            m.new_message_ids.extend(sess.local[i].messages.iter().map(|x| x.id.clone()));
            let when = at(&mut rng);
            let i = sess.new_remote(&mut rng, self, &uid, false, when, 1, false);
            m.new_remote.push(sess.remote[i].id.clone());
            m.new_message_ids.extend(sess.remote[i].messages.iter().map(|x| x.id.clone()));
        }
        // a user deletes a (generated) remote session: gone from the list, messages 404
        if let Some(i) = sess.remote.iter().position(|r| {
            removals && generated_remote.contains(&r.id) && r.status != "pending" && !m.appended_remote.contains(&r.id)
        }) {
            let r = sess.remote.remove(i);
            m.deleted_remote.push(r.id.clone());
            sess.deleted_remote.push(r);
        }
        // retention: calls older than the floor age out of generated local sessions; the session's
        // created_at moves forward, and a session with nothing left disappears
        let floor = self.config.start + Duration::days(2 * sess.mutations as i64);
        if removals {
            sess.retention_floor = Some(floor);
        }
        let mut keep = Vec::with_capacity(sess.local.len());
        for (i, mut s) in std::mem::take(&mut sess.local).into_iter().enumerate() {
            if removals && i < generated_local {
                let (gone, kept): (Vec<_>, Vec<_>) = s.messages.into_iter().partition(|x| x.created_at < floor);
                for g in gone {
                    m.aged_out_messages.push(g.id.clone());
                    sess.aged_out_messages.insert(g.id);
                }
                s.messages = kept;
                if s.messages.is_empty() {
                    sess.aged_out_sessions.insert(s.id.clone());
                    continue;
                }
            }
            keep.push(s);
        }
        sess.local = keep;
        self.sessions = sess;
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{MutationConfig, TenantConfig};

    #[test]
    fn sessions_are_deterministic_and_mutate_with_their_quirks() {
        let cfg = TenantConfig::small();
        let a = Tenant::generate(cfg.clone());
        let b = Tenant::generate(cfg);
        let ids = |t: &Tenant| t.sessions.local.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert!(!a.sessions.local.is_empty() && !a.sessions.remote.is_empty());
        assert!(a.sessions.local[0].id.starts_with("clls_") && a.sessions.local[0].messages[1].id.starts_with("clsm_"));
        let long = a.sessions.local[0].messages.iter().any(|m| m.wire.to_string().len() > 20_000);
        assert!(long, "the first session carries 20k-char tool input and result");
        let mut t = a;
        let before = t.sessions.remote.len();
        let m = t.mutate(&MutationConfig::at(t.now + Duration::minutes(30)));
        assert_eq!(m.sessions.deleted_remote.len(), 1);
        assert_eq!(t.sessions.remote.len(), before, "one deleted, one new");
        assert!(!m.sessions.new_message_ids.is_empty());
        assert!(t.sessions.remote.iter().all(|r| r.status != "pending"));
    }
}
