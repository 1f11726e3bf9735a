//! Deterministic synthetic Compliance API tenant.
//!
//! [`Tenant::generate`] builds every record in **wire form** (`serde_json::Value`, exactly as the
//! API would send it) plus hidden metadata kept outside the wire JSON (visibility, join dates,
//! file bytes, planted DLP strings). [`Tenant::mutate`] simulates time passing between two
//! syncs; [`Tenant::expected`] lists the ids a complete sync should hold.
//!
//! Same [`TenantConfig`] (seed, counts, start, end) ⇒ byte-identical JSON.

mod activities;
pub mod artifacts;
mod content;
pub mod directory;
mod generate;
pub mod ids;
mod mutate;
pub mod scale;
pub mod secrets;
pub mod sessions;
pub mod text;
pub mod tlog;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

pub use activities::{api_key_id_for, compliance_api_accessed};
pub use directory::{Directory, DirectoryExpected, DirectoryMutation};
pub use mutate::{MutationConfig, MutationSummary};
pub use scale::{ScaleConfig, ScaleCounts, ScaleTenant};
pub use secrets::{luhn_valid, SensitiveKind};
pub use sessions::{SessionExpected, SessionMutation, Sessions};
pub use wire::md5_hex;

/// Shape of the generated tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    pub seed: u64,
    pub orgs: usize,
    pub users_per_org: usize,
    pub chats_per_user: usize,
    /// Average number of messages per chat (actual counts vary ±50 %, always even).
    pub messages_per_chat: usize,
    /// Number of *visible* activities generated (a few extra late-indexed invisible ones are added).
    pub activities: usize,
    pub projects_per_org: usize,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `Some`: a lazily generated scale tenant ([`ScaleTenant`]) with these knobs instead of the
    /// demo tenant; `orgs`, `seed`, `start` and `end` still apply, the other counts above do not.
    pub scale: Option<ScaleConfig>,
}

impl Default for TenantConfig {
    fn default() -> Self {
        let end = ids::trunc_secs(Utc::now());
        TenantConfig {
            seed: 42,
            orgs: 3,
            users_per_org: 8,
            chats_per_user: 3,
            messages_per_chat: 6,
            activities: 2000,
            projects_per_org: 3,
            start: end - Duration::days(45),
            end,
            scale: None,
        }
    }
}

impl TenantConfig {
    /// A tiny tenant for fast tests: 2 orgs × 3 users, 2 chats each, 150 activities.
    pub fn small() -> Self {
        TenantConfig {
            orgs: 2,
            users_per_org: 3,
            chats_per_user: 2,
            messages_per_chat: 4,
            activities: 150,
            projects_per_org: 2,
            ..TenantConfig::default()
        }
    }

    /// A larger tenant with `n` visible activities and proportionally more content.
    pub fn large(n: usize) -> Self {
        TenantConfig {
            orgs: 5,
            users_per_org: 40,
            chats_per_user: 5,
            messages_per_chat: 8,
            activities: n,
            projects_per_org: 10,
            ..TenantConfig::default()
        }
    }

    /// Same config with a fixed `[start, end]` window (useful for byte-identical runs).
    pub fn with_window(mut self, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        self.start = start;
        self.end = end;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// A scale tenant (see [`ScaleTenant`]) with these knobs over `orgs` organizations.
    pub fn scale(orgs: usize, knobs: ScaleConfig) -> Self {
        TenantConfig { orgs, scale: Some(knobs), ..TenantConfig::default() }
    }
}

/// Hidden per-user profile (not part of any wire record).
#[derive(Debug, Clone)]
pub struct UserProfile {
    pub id: String,
    pub full_name: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub ip_address: String,
    pub user_agent: String,
    /// Org uuid the user mainly works in (chats/projects live there).
    pub home_org_uuid: String,
}

/// One organization and its current members.
#[derive(Debug, Clone)]
pub struct OrgRecord {
    pub uuid: String,
    /// Tagged `org_01…` form used on activities/chats/projects.
    pub org_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub wire: Value,
    pub members: Vec<MemberRecord>,
}

/// A user's membership in one org (wire = the users-list record).
#[derive(Debug, Clone)]
pub struct MemberRecord {
    pub user_id: String,
    pub role: String,
    /// Org join date (sort key of the users list; hidden).
    pub joined_at: DateTime<Utc>,
    pub wire: Value,
}

/// One activity-feed row.
#[derive(Debug, Clone)]
pub struct ActivityRecord {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// Late-indexed activities are invisible until revealed by [`Tenant::mutate`].
    pub visible: bool,
    pub activity_type: String,
    pub organization_id: Option<String>,
    pub organization_uuid: Option<String>,
    pub actor_user_id: Option<String>,
    pub wire: Value,
}

/// One chat (wire = list form, without messages).
#[derive(Debug, Clone)]
pub struct ChatRecord {
    pub id: String,
    /// UUID shown in `href` (and used in list cursors).
    pub uuid: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub organization_uuid: String,
    pub organization_id: String,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub wire: Value,
    pub messages: Vec<MessageRecord>,
}

/// One chat message (wire = element of `chat_messages`).
#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub id: String,
    /// Hidden UUID used in message cursors (`{"msg_uuid": …}`).
    pub uuid: String,
    pub created_at: DateTime<Utc>,
    pub wire: Value,
}

/// A user-uploaded chat file or a project file (`claude_file_…`).
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub filename: String,
    /// Value of the JSON `mime_type` field (may be a bare extension such as `"txt"`, or null).
    pub mime_type: Option<String>,
    /// `Content-Type` served by the content endpoint.
    pub content_type: String,
    pub content: Vec<u8>,
    pub message_ids: Vec<String>,
    pub chat_ids: Vec<String>,
    pub project_id: Option<String>,
    /// Set when the owning chat was deleted by the user in claude.ai.
    pub deleted: bool,
}

/// A tool-generated file (`claude_gen_file_…`).
#[derive(Debug, Clone)]
pub struct GeneratedFileRecord {
    pub id: String,
    pub chat_id: String,
    pub created_at: DateTime<Utc>,
    pub filename: String,
    pub mime_type: String,
    pub content: Vec<u8>,
    pub deleted: bool,
}

/// One artifact version.
#[derive(Debug, Clone)]
pub struct ArtifactRecord {
    pub id: String,
    pub version_id: String,
    pub chat_id: String,
    pub title: String,
    pub artifact_type: String,
    pub created_at: DateTime<Utc>,
    pub content: String,
    pub deleted: bool,
}

/// One project (wire = list form; detail adds description/instructions/counts).
#[derive(Debug, Clone)]
pub struct ProjectRecord {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub organization_uuid: String,
    pub organization_id: String,
    pub user_id: Option<String>,
    pub description: String,
    pub instructions: String,
    pub wire: Value,
    /// `claude_file_…` ids attached to the project.
    pub file_ids: Vec<String>,
    /// `claude_proj_doc_…` ids attached to the project.
    pub doc_ids: Vec<String>,
}

/// A project document (`claude_proj_doc_…`).
#[derive(Debug, Clone)]
pub struct DocumentRecord {
    pub id: String,
    pub project_id: String,
    pub created_at: DateTime<Utc>,
    pub filename: String,
    pub content: String,
    /// `{id, email_address}` or null.
    pub user: Value,
    pub deleted: bool,
}

/// A sensitive value planted for the DLP feature, and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedSecret {
    /// `chat_message`, `file`, `project`, `project_document`.
    pub record_kind: &'static str,
    pub record_id: String,
    /// Field holding it: `text`, `content`, `description`, `instructions`.
    pub field: &'static str,
    pub kind: SensitiveKind,
    pub value: String,
}

/// The whole synthetic tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub config: TenantConfig,
    /// Current "now" of the tenant (config.end, advanced by each mutation).
    pub now: DateTime<Utc>,
    pub company: String,
    pub domain: String,
    pub orgs: Vec<OrgRecord>,
    pub users: BTreeMap<String, UserProfile>,
    /// Sorted ascending by `(created_at, id)`; includes invisible rows.
    pub activities: Vec<ActivityRecord>,
    pub chats: Vec<ChatRecord>,
    pub files: BTreeMap<String, FileRecord>,
    pub generated_files: BTreeMap<String, GeneratedFileRecord>,
    /// Keyed by artifact **version** id.
    pub artifacts: BTreeMap<String, ArtifactRecord>,
    pub projects: Vec<ProjectRecord>,
    pub documents: BTreeMap<String, DocumentRecord>,
    pub planted: Vec<PlantedSecret>,
    /// Local and remote Claude Code / Cowork sessions (`sessions.rs`).
    pub sessions: Sessions,
    /// Fault switches of the fake transparency log (Access Transparency; `tlog.rs`).
    pub tlog_faults: tlog::TlogFaults,
    /// Code artifacts, and the content objects' planted secrets and expectations (`artifacts.rs`).
    pub content: artifacts::ContentObjects,
    pub(crate) mutations: u64,
    pub(crate) sensitive_counter: usize,
    pub(crate) fill: activities::FillCtx,
    /// Set for a scale tenant: the fake serves every endpoint from it, and the record vectors
    /// above stay empty (only `orgs` is filled, without members).
    pub scale: Option<Arc<ScaleTenant>>,
    /// Roles, groups, effective settings and Compliance Access Keys (`directory.rs`).
    pub directory: Directory,
}

/// Ids currently visible per table (what a complete sync must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub organizations: BTreeSet<String>,
    /// `"{org_uuid}/{user_id}"`.
    pub users: BTreeSet<String>,
    pub activities: BTreeSet<String>,
    pub chats: BTreeSet<String>,
    pub chat_messages: BTreeSet<String>,
    pub projects: BTreeSet<String>,
    pub project_documents: BTreeSet<String>,
    /// `claude_file_…` ids still downloadable (chat and project files).
    pub files: BTreeSet<String>,
    /// Sessions: what the API shows plus what it showed a sync and has since dropped.
    pub sessions: SessionExpected,
    /// Directory snapshots: what one complete snapshot of each directory table holds.
    pub directory: DirectoryExpected,
    /// Content objects: chat artifacts, generated files, code artifacts and their versions.
    pub content: artifacts::ContentExpected,
}

impl Tenant {
    /// Ids currently visible per table.
    pub fn expected(&self) -> Expected {
        if let Some(s) = &self.scale {
            return s.expected();
        }
        let mut e = Expected::default();
        for o in &self.orgs {
            e.organizations.insert(o.uuid.clone());
            for m in &o.members {
                e.users.insert(format!("{}/{}", o.uuid, m.user_id));
            }
        }
        e.activities = self.activities.iter().filter(|a| a.visible).map(|a| a.id.clone()).collect();
        for c in &self.chats {
            e.chats.insert(c.id.clone());
            for m in &c.messages {
                e.chat_messages.insert(m.id.clone());
            }
        }
        e.projects = self.projects.iter().map(|p| p.id.clone()).collect();
        e.project_documents = self.documents.values().filter(|d| !d.deleted).map(|d| d.id.clone()).collect();
        e.files = self.files.values().filter(|f| !f.deleted).map(|f| f.id.clone()).collect();
        e.sessions = self.sessions.expected();
        e.directory = self.directory_expected();
        e.content = self.content_expected();
        e
    }

    /// Visible activities only, ascending by `(created_at, id)`.
    pub fn visible_activities(&self) -> impl Iterator<Item = &ActivityRecord> {
        self.activities.iter().filter(|a| a.visible)
    }

    /// Make every late-indexed (invisible) activity visible now; returns their ids.
    pub fn reveal_hidden_activities(&mut self) -> Vec<String> {
        // A late-indexed row turns visible a few minutes behind the feed's head. Rows hidden long
        // ago whose head has moved on since (the feed kept going: e.g. the fake's own
        // `compliance_api_accessed` rows) are re-timed behind the current head, so "late" stays
        // within minutes of the newest row, as the API's indexing delay is; nobody saw them before.
        // Access Transparency events keep their time: they are late by days on purpose.
        let head = self.newest_visible_activity().map(|a| a.created_at);
        let mut out = Vec::new();
        let mut moved = false;
        for a in &mut self.activities {
            if a.visible {
                continue;
            }
            a.visible = true;
            out.push(a.id.clone());
            let Some(head) = head else { continue };
            let lag = chrono::Duration::minutes(5);
            let at_days = matches!(a.activity_type.as_str(), "anthropic_access" | "cmek_preserve");
            if !at_days && a.created_at < head - lag {
                let h = a.id.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
                let at = head - chrono::Duration::milliseconds(1_000 + (h % 299_000) as i64);
                a.created_at = at;
                if let Some(o) = a.wire.as_object_mut() {
                    o.insert("created_at".into(), serde_json::json!(ids::ts_z(at)));
                }
                moved = true;
            }
        }
        if moved {
            self.activities.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        }
        out
    }

    /// Newest visible activity (what a desc walk returns first).
    pub fn newest_visible_activity(&self) -> Option<&ActivityRecord> {
        self.activities.iter().rev().find(|a| a.visible)
    }

    pub fn org(&self, uuid: &str) -> Option<&OrgRecord> {
        self.orgs.iter().find(|o| o.uuid == uuid)
    }

    pub fn chat(&self, id: &str) -> Option<&ChatRecord> {
        self.chats.iter().find(|c| c.id == id)
    }

    pub fn project(&self, id: &str) -> Option<&ProjectRecord> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// Insert an activity keeping `activities` sorted by `(created_at, id)`.
    pub fn insert_activity(&mut self, a: ActivityRecord) {
        let key = (a.created_at, a.id.clone());
        let pos = self.activities.partition_point(|x| (x.created_at, x.id.as_str()) < (key.0, key.1.as_str()));
        self.activities.insert(pos, a);
    }

    /// Serialize every wire record (used for determinism checks).
    pub fn to_wire_json(&self) -> Value {
        let mut chats = Vec::new();
        for c in &self.chats {
            if let Some(v) = self.chat_messages_response(&c.id) {
                chats.push(v);
            }
        }
        let files: Vec<Value> = self.files.keys().filter_map(|id| self.file_json(id)).collect();
        let projects: Vec<Value> = self
            .projects
            .iter()
            .filter_map(|p| {
                let mut d = self.project_detail_json(&p.id)?;
                if let Some(obj) = d.as_object_mut() {
                    obj.insert(
                        "attachments".into(),
                        Value::Array(self.project_attachments_json(&p.id).unwrap_or_default()),
                    );
                }
                Some(d)
            })
            .collect();
        let docs: Vec<Value> = self.documents.keys().filter_map(|id| self.document_json(id)).collect();
        let users: Vec<Value> = self.orgs.iter().flat_map(|o| o.members.iter().map(|m| m.wire.clone())).collect();
        serde_json::json!({
            "organizations": self.orgs.iter().map(|o| o.wire.clone()).collect::<Vec<_>>(),
            "users": users,
            "activities": self.activities.iter().map(|a| a.wire.clone()).collect::<Vec<_>>(),
            "chats": chats,
            "files": files,
            "projects": projects,
            "project_documents": docs,
        })
    }
}
