//! Initial tenant generation.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::activities::{self, FillCtx};
use super::ids::{self, rand_between, rand_ms, trunc_micros, ts_offset, ts_z};
use super::{
    secrets, text, ActivityRecord, ChatRecord, MemberRecord, OrgRecord, ProjectRecord, Tenant, TenantConfig,
    UserProfile,
};

const ROLES_SPECIAL: &[&str] =
    &["owner", "admin", "billing", "claude_code_user", "developer", "managed", "membership_admin"];

pub(crate) fn weighted_role<R: Rng + ?Sized>(rng: &mut R) -> &'static str {
    match rng.gen_range(0..100) {
        0..=69 => "user",
        70..=79 => "developer",
        80..=87 => "claude_code_user",
        88..=92 => "admin",
        93..=95 => "managed",
        96..=97 => "billing",
        _ => "membership_admin",
    }
}

/// Wire form of a users-list record.
pub(crate) fn user_wire(u: &UserProfile, role: &str) -> Value {
    json!({
        "id": u.id,
        "created_at": ts_z(u.created_at),
        "email": u.email,
        "full_name": u.full_name,
        "organization_role": role,
    })
}

/// `{id, email_address}` reference for chats/projects.
pub(crate) fn user_ref(u: &UserProfile) -> Value {
    json!({"id": u.id, "email_address": u.email})
}

/// Build a new user profile with a unique name/email.
pub(crate) fn new_profile(
    rng: &mut ChaCha8Rng,
    t: &Tenant,
    home_org_uuid: &str,
    created_at: DateTime<Utc>,
) -> UserProfile {
    let taken: BTreeSet<&str> = t.users.values().map(|u| u.email.as_str()).collect();
    let mut attempt = 0;
    loop {
        let first = text::pick(rng, text::FIRST_NAMES);
        let last = text::pick(rng, text::LAST_NAMES);
        let suffix = if attempt > 3 { format!("{}", attempt) } else { String::new() };
        let email = format!("{}.{}{}@{}", text::ascii_slug(first), text::ascii_slug(last), suffix, t.domain);
        attempt += 1;
        if taken.contains(email.as_str()) {
            continue;
        }
        let ip_address = if rng.gen_ratio(3, 10) { secrets::ipv6(rng) } else { secrets::ipv4(rng) };
        return UserProfile {
            id: ids::tagged_id(rng, "user_"),
            full_name: format!("{first} {last}"),
            email,
            created_at,
            ip_address,
            user_agent: text::pick(rng, text::USER_AGENTS).to_string(),
            home_org_uuid: home_org_uuid.to_string(),
        };
    }
}

impl Tenant {
    /// Generate a tenant deterministically from `config`.
    pub fn generate(config: TenantConfig) -> Tenant {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let start = trunc_micros(config.start);
        let end = trunc_micros(config.end).max(start + Duration::minutes(10));
        let (company, domain) = text::COMPANIES.choose(&mut rng).copied().unwrap_or(text::COMPANIES[0]);
        let fill = FillCtx::new(&mut rng);
        let mut t = Tenant {
            config: config.clone(),
            now: end,
            company: company.to_string(),
            domain: domain.to_string(),
            orgs: vec![],
            users: BTreeMap::new(),
            activities: vec![],
            chats: vec![],
            files: BTreeMap::new(),
            generated_files: BTreeMap::new(),
            artifacts: BTreeMap::new(),
            projects: vec![],
            documents: BTreeMap::new(),
            planted: vec![],
            sessions: Default::default(),
            tlog_faults: Default::default(),
            content: Default::default(),
            mutations: 0,
            sensitive_counter: 0,
            fill,
            scale: None,
            directory: Default::default(),
        };
        if let Some(knobs) = config.scale.clone() {
            let st = super::ScaleTenant::build(config.seed, config.orgs, start, end, knobs);
            t.domain = st.domain.clone();
            t.orgs = st
                .orgs
                .iter()
                .map(|o| OrgRecord {
                    uuid: o.uuid.clone(),
                    org_id: o.org_id.clone(),
                    name: o.name.clone(),
                    created_at: o.created_at,
                    wire: o.wire.clone(),
                    members: vec![],
                })
                .collect();
            t.scale = Some(std::sync::Arc::new(st));
            return t;
        }
        let mut derived: Vec<ActivityRecord> = Vec::new();

        // ---- organizations
        let mut org_times: Vec<DateTime<Utc>> = (0..config.orgs)
            .map(|_| rand_between(&mut rng, start - Duration::days(400), start - Duration::days(30)))
            .collect();
        org_times.sort();
        for (i, created_at) in org_times.into_iter().enumerate() {
            let unit = text::ORG_UNITS[i % text::ORG_UNITS.len()];
            let name = if i < text::ORG_UNITS.len() {
                format!("{company} {unit}")
            } else {
                format!("{company} {unit} {}", i / text::ORG_UNITS.len() + 1)
            };
            let uuid = ids::uuid(&mut rng);
            let wire = json!({"uuid": uuid, "name": name, "created_at": ts_offset(created_at)});
            t.orgs.push(OrgRecord {
                uuid,
                org_id: ids::tagged_id(&mut rng, "org_"),
                name,
                created_at,
                wire,
                members: vec![],
            });
        }

        // ---- users
        let mut membership_no = 0usize;
        for oi in 0..t.orgs.len() {
            let org_uuid = t.orgs[oi].uuid.clone();
            let org_created = t.orgs[oi].created_at;
            for _ in 0..config.users_per_org {
                let joined_at = rand_between(&mut rng, org_created, start - Duration::days(1));
                let created_at = joined_at - rand_ms(&mut rng, 0, 3 * 86_400_000);
                let profile = new_profile(&mut rng, &t, &org_uuid, created_at);
                let role = if membership_no == 0 {
                    "primary_owner"
                } else if membership_no <= ROLES_SPECIAL.len() {
                    ROLES_SPECIAL[membership_no - 1]
                } else {
                    weighted_role(&mut rng)
                };
                membership_no += 1;
                let mut wire = user_wire(&profile, role);
                if membership_no == 3 {
                    activities::add_future_field(&mut wire);
                }
                t.orgs[oi].members.push(MemberRecord {
                    user_id: profile.id.clone(),
                    role: role.to_string(),
                    joined_at,
                    wire,
                });
                t.users.insert(profile.id.clone(), profile);
            }
        }
        // The tenant's primary owner is also an admin of every other org.
        if let Some(owner_id) = t.orgs.first().and_then(|o| o.members.first()).map(|m| m.user_id.clone()) {
            for oi in 1..t.orgs.len() {
                let org_created = t.orgs[oi].created_at;
                let joined_at = rand_between(&mut rng, org_created, start - Duration::days(1));
                if let Some(p) = t.users.get(&owner_id) {
                    let wire = user_wire(p, "admin");
                    t.orgs[oi].members.push(MemberRecord {
                        user_id: owner_id.clone(),
                        role: "admin".into(),
                        joined_at,
                        wire,
                    });
                }
            }
        }
        for o in &mut t.orgs {
            o.members.sort_by(|a, b| (a.joined_at, &a.user_id).cmp(&(b.joined_at, &b.user_id)));
        }

        // ---- projects
        let window = end - start;
        for oi in 0..t.orgs.len() {
            let org_uuid = t.orgs[oi].uuid.clone();
            let natives: Vec<String> =
                t.users.values().filter(|u| u.home_org_uuid == org_uuid).map(|u| u.id.clone()).collect();
            for _ in 0..config.projects_per_org {
                let Some(owner) = natives.choose(&mut rng).cloned() else {
                    break;
                };
                let created_at = rand_between(&mut rng, start, start + window * 6 / 10);
                let force = t.projects.is_empty();
                create_project(&mut t, &mut rng, oi, &owner, created_at, end, force, &mut derived);
            }
        }

        // ---- chats and messages
        let per_org_users: Vec<(usize, Vec<String>)> = (0..t.orgs.len())
            .map(|oi| {
                let uuid = t.orgs[oi].uuid.clone();
                let users = t.users.values().filter(|u| u.home_org_uuid == uuid).map(|u| u.id.clone()).collect();
                (oi, users)
            })
            .collect();
        for (oi, users) in per_org_users {
            for uid in users {
                for _ in 0..config.chats_per_user {
                    let pairs = pair_count(&mut rng, config.messages_per_chat);
                    let span = Duration::minutes(21 * pairs as i64 + 2);
                    let latest = (end - span).max(start);
                    let created_at = rand_between(&mut rng, start, latest);
                    let ci = t.new_chat(&mut rng, oi, &uid, created_at, 30);
                    if t.chats.len() == 1 {
                        activities::add_future_field(&mut t.chats[ci].wire);
                    }
                    derived.push(t.chat_created_activity(&mut rng, ci));
                    let mut when = created_at;
                    for _ in 0..pairs {
                        let ta = when + rand_ms(&mut rng, 3_000, 45_000);
                        let out = t.gen_message_pair(&mut rng, ci, when, ta);
                        for fid in out.uploaded_file_ids {
                            derived.push(t.file_uploaded_activity(&mut rng, ci, &fid));
                        }
                        when = ta + rand_ms(&mut rng, 60_000, 20 * 60_000);
                    }
                    t.refresh_chat_updated(ci);
                }
            }
        }
        // a legacy chat whose creator can no longer be resolved (`user` and `model` null)
        if t.chats.len() >= 8 {
            let c = &mut t.chats[7];
            c.user_id = None;
            if let Some(o) = c.wire.as_object_mut() {
                o.insert("user".into(), Value::Null);
                o.insert("model".into(), Value::Null);
            }
        }
        // one chat already deleted by its user in claude.ai
        if t.chats.len() >= 6 {
            let ci = 4;
            let at = (t.chats[ci].updated_at + Duration::hours(1)).min(end);
            t.soft_delete_chat(ci, at);
            derived.push(t.chat_deleted_activity(&mut rng, ci, at));
        }

        // every sensitive template appears at least once
        while t.sensitive_counter < secrets::SENSITIVE_TEMPLATES {
            if !t.plant_in_random_user_message(&mut rng) {
                break;
            }
        }

        // ---- activities
        for a in &mut derived {
            if a.created_at > end {
                a.created_at = end;
                if let Some(o) = a.wire.as_object_mut() {
                    o.insert("created_at".into(), json!(ts_z(end)));
                }
            }
        }
        derived.truncate(config.activities);
        let mut acts = derived;
        let mut attempts = 0;
        {
            let idx = activities::FillIndex::build(&t);
            while acts.len() < config.activities && attempts < config.activities * 4 + 16 {
                attempts += 1;
                let at = rand_between(&mut rng, start, end);
                if let Some(a) = activities::random_activity(&mut rng, &t, &t.fill, &idx, at) {
                    acts.push(a);
                }
            }
        }
        acts.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        t.activities = acts;
        // late-indexed rows, invisible until the next mutation reveals them
        let hidden = config.activities / 500;
        t.add_hidden_activities(&mut rng, hidden);
        t.generate_sessions();
        t.generate_directory();
        t.generate_content_objects();
        t
    }

    pub(crate) fn add_hidden_activities(&mut self, rng: &mut ChaCha8Rng, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        let Some(newest) = self.newest_visible_activity().map(|a| a.created_at) else {
            return out;
        };
        let mut made = Vec::new();
        {
            let idx = activities::FillIndex::build(self);
            for _ in 0..n {
                let at = newest - rand_ms(rng, 1_000, 5 * 60_000);
                if let Some(mut a) = activities::random_activity(rng, self, &self.fill, &idx, at) {
                    a.visible = false;
                    made.push(a);
                }
            }
        }
        for a in made {
            out.push(a.id.clone());
            self.insert_activity(a);
        }
        out
    }

    /// Create an empty chat; returns its index.
    pub(crate) fn new_chat(
        &mut self,
        rng: &mut ChaCha8Rng,
        org_idx: usize,
        user_id: &str,
        created_at: DateTime<Utc>,
        project_pct: u32,
    ) -> usize {
        let org = &self.orgs[org_idx];
        let org_uuid = org.uuid.clone();
        let org_id = org.org_id.clone();
        let projects: Vec<String> = self
            .projects
            .iter()
            .filter(|p| p.organization_uuid == org_uuid && p.created_at <= created_at)
            .map(|p| p.id.clone())
            .collect();
        let project_id = if rng.gen_ratio(project_pct, 100) { projects.choose(rng).cloned() } else { None };
        let model = if rng.gen_ratio(5, 100) { Value::Null } else { json!(text::pick(rng, text::MODELS)) };
        let name = text::pick(rng, text::CHAT_TOPICS).to_string();
        let id = ids::tagged_id(rng, "claude_chat_");
        let uuid = ids::uuid(rng);
        let user = self.users.get(user_id).map(user_ref).unwrap_or(Value::Null);
        let wire = json!({
            "id": id,
            "name": name,
            "created_at": ts_z(created_at),
            "updated_at": ts_z(created_at),
            "deleted_at": null,
            "organization_id": org_id,
            "organization_uuid": org_uuid,
            "project_id": project_id,
            "model": model,
            "user": user,
            "href": format!("https://claude.ai/chat/{uuid}"),
        });
        self.chats.push(ChatRecord {
            id,
            uuid,
            created_at,
            updated_at: created_at,
            deleted_at: None,
            organization_uuid: org_uuid,
            organization_id: org_id,
            user_id: Some(user_id.to_string()),
            project_id,
            wire,
            messages: vec![],
        });
        self.chats.len() - 1
    }

    /// Set `updated_at` (typed and wire) of a chat.
    pub(crate) fn set_chat_updated(&mut self, ci: usize, at: DateTime<Utc>) {
        let c = &mut self.chats[ci];
        c.updated_at = at;
        if let Some(o) = c.wire.as_object_mut() {
            o.insert("updated_at".into(), json!(ts_z(at)));
        }
    }

    /// `updated_at` = newest message time (or creation time).
    pub(crate) fn refresh_chat_updated(&mut self, ci: usize) {
        let c = &self.chats[ci];
        let at = c.messages.iter().map(|m| m.created_at).max().unwrap_or(c.created_at).max(c.created_at);
        self.set_chat_updated(ci, at);
    }

    /// Soft delete as done by a user in claude.ai: `deleted_at` set, name emptied, message
    /// content emptied and file arrays nulled, files/generated files/artifacts gone.
    pub(crate) fn soft_delete_chat(&mut self, ci: usize, at: DateTime<Utc>) {
        let chat_id = self.chats[ci].id.clone();
        {
            let c = &mut self.chats[ci];
            c.deleted_at = Some(at);
            if let Some(o) = c.wire.as_object_mut() {
                o.insert("deleted_at".into(), json!(ts_z(at)));
                o.insert("name".into(), json!(""));
            }
            for m in &mut c.messages {
                if let Some(o) = m.wire.as_object_mut() {
                    o.insert("content".into(), json!([]));
                    o.insert("files".into(), Value::Null);
                    o.insert("generated_files".into(), Value::Null);
                    o.insert("artifacts".into(), Value::Null);
                }
            }
        }
        self.set_chat_updated(ci, at);
        for f in self.files.values_mut() {
            if f.chat_ids.contains(&chat_id) && f.project_id.is_none() {
                f.deleted = true;
            }
        }
        for g in self.generated_files.values_mut() {
            if g.chat_id == chat_id {
                g.deleted = true;
            }
        }
        for a in self.artifacts.values_mut() {
            if a.chat_id == chat_id {
                a.deleted = true;
            }
        }
    }

    fn chat_user_actor(&self, ci: usize) -> Option<Value> {
        let uid = self.chats[ci].user_id.as_ref()?;
        self.users.get(uid).map(activities::user_actor)
    }

    pub(crate) fn chat_created_activity(&self, rng: &mut ChaCha8Rng, ci: usize) -> ActivityRecord {
        let c = &self.chats[ci];
        let at = c.created_at + rand_ms(rng, 5, 300);
        activities::build(
            ids::tagged_id(rng, "activity_"),
            at,
            "claude_chat_created",
            Some((&c.organization_id, &c.organization_uuid)),
            self.chat_user_actor(ci).unwrap_or_else(activities::system_actor),
            vec![("claude_chat_id", json!(c.id)), ("claude_project_id", json!(c.project_id))],
        )
    }

    pub(crate) fn chat_deleted_activity(&self, rng: &mut ChaCha8Rng, ci: usize, at: DateTime<Utc>) -> ActivityRecord {
        let c = &self.chats[ci];
        activities::build(
            ids::tagged_id(rng, "activity_"),
            at + rand_ms(rng, 5, 300),
            "claude_chat_deleted",
            Some((&c.organization_id, &c.organization_uuid)),
            self.chat_user_actor(ci).unwrap_or_else(activities::system_actor),
            vec![("claude_chat_id", json!(c.id)), ("claude_project_id", json!(c.project_id))],
        )
    }

    pub(crate) fn file_uploaded_activity(&self, rng: &mut ChaCha8Rng, ci: usize, file_id: &str) -> ActivityRecord {
        let c = &self.chats[ci];
        let (at, filename) = self
            .files
            .get(file_id)
            .map(|f| (f.created_at, f.filename.clone()))
            .unwrap_or((c.created_at, String::new()));
        activities::build(
            ids::tagged_id(rng, "activity_"),
            at + rand_ms(rng, 5, 300),
            "claude_file_uploaded",
            Some((&c.organization_id, &c.organization_uuid)),
            self.chat_user_actor(ci).unwrap_or_else(activities::system_actor),
            vec![
                ("claude_chat_id", json!(c.id)),
                ("claude_file_id", json!(file_id)),
                ("claude_project_id", Value::Null),
                ("filename", json!(filename)),
            ],
        )
    }

    pub(crate) fn project_activity(
        &self,
        rng: &mut ChaCha8Rng,
        pi: usize,
        activity_type: &str,
        at: DateTime<Utc>,
        extra: Vec<(&str, Value)>,
    ) -> ActivityRecord {
        let p = &self.projects[pi];
        let actor = p
            .user_id
            .as_ref()
            .and_then(|u| self.users.get(u))
            .map(activities::user_actor)
            .unwrap_or_else(activities::system_actor);
        let mut fields = vec![("claude_project_id", json!(p.id))];
        fields.extend(extra);
        activities::build(
            ids::tagged_id(rng, "activity_"),
            at + rand_ms(rng, 5, 300),
            activity_type,
            Some((&p.organization_id, &p.organization_uuid)),
            actor,
            fields,
        )
    }

    /// Set `updated_at` (typed and wire) of a project.
    pub(crate) fn set_project_updated(&mut self, pi: usize, at: DateTime<Utc>) {
        let p = &mut self.projects[pi];
        p.updated_at = at;
        if let Some(o) = p.wire.as_object_mut() {
            o.insert("updated_at".into(), json!(ts_z(at)));
        }
    }
}

/// Number of user+assistant pairs for a chat with average `avg` messages.
pub(crate) fn pair_count<R: Rng + ?Sized>(rng: &mut R, avg: usize) -> usize {
    if avg == 0 {
        return 0;
    }
    let lo = (avg / 2).max(2);
    let hi = (avg * 3 / 2).max(lo);
    rng.gen_range(lo..=hi).div_ceil(2)
}

/// Create a project (with files and documents) in org `oi`, owned by `owner`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn create_project(
    t: &mut Tenant,
    rng: &mut ChaCha8Rng,
    oi: usize,
    owner: &str,
    created_at: DateTime<Utc>,
    end: DateTime<Utc>,
    force_sensitive: bool,
    derived: &mut Vec<ActivityRecord>,
) -> usize {
    let org_uuid = t.orgs[oi].uuid.clone();
    let org_id = t.orgs[oi].org_id.clone();
    let id = ids::tagged_id(rng, "claude_proj_");
    let name = text::pick(rng, text::PROJECT_NAMES).to_string();
    let (description, instructions) = t.gen_project_prose(rng, &id, &name, force_sensitive);
    let user = t.users.get(owner).map(user_ref).unwrap_or(Value::Null);
    let mut wire = json!({
        "id": id,
        "name": name,
        "created_at": ts_z(created_at),
        "updated_at": ts_z(created_at),
        "deleted_at": null,
        "is_private": rng.gen_ratio(3, 10),
        "organization_id": org_id,
        "organization_uuid": org_uuid,
        "user": user,
    });
    if t.projects.len() == 1 {
        activities::add_future_field(&mut wire);
    }
    t.projects.push(ProjectRecord {
        id: id.clone(),
        created_at,
        updated_at: created_at,
        organization_uuid: org_uuid,
        organization_id: org_id,
        user_id: Some(owner.to_string()),
        description,
        instructions,
        wire,
        file_ids: vec![],
        doc_ids: vec![],
    });
    let pi = t.projects.len() - 1;
    derived.push(t.project_activity(rng, pi, "claude_project_created", created_at, vec![]));
    let limit = end.max(created_at);
    let mut last = created_at;
    for _ in 0..rng.gen_range(1..=2) {
        let at = rand_between(rng, created_at, (created_at + Duration::days(2)).min(limit));
        let fid = t.gen_file(rng, at, Some(&id));
        t.projects[pi].file_ids.push(fid.clone());
        let filename = t.files.get(&fid).map(|f| f.filename.clone());
        derived.push(t.project_activity(
            rng,
            pi,
            "claude_project_file_uploaded",
            at,
            vec![("claude_file_id", json!(fid)), ("filename", json!(filename))],
        ));
        last = last.max(at);
    }
    for k in 0..rng.gen_range(1..=2) {
        let at = rand_between(rng, created_at, (created_at + Duration::days(2)).min(limit));
        let did = t.gen_document(rng, pi, at, force_sensitive && k == 0);
        let filename = t.documents.get(&did).map(|d| d.filename.clone());
        derived.push(t.project_activity(
            rng,
            pi,
            "claude_project_document_uploaded",
            at,
            vec![("claude_project_document_id", json!(did)), ("filename", json!(filename))],
        ));
        last = last.max(at);
    }
    let updated = (last + rand_ms(rng, 1_000, 3_600_000)).min(limit);
    t.set_project_updated(pi, updated);
    pi
}
