//! A scale tenant: up to 100k users, 1M chats, 10M activities and 50k projects, generated
//! **lazily** from `(seed, kind, index)`.
//!
//! Nothing per record is held in memory except two compact arrays (the chats sorted by
//! `updated_at`, 4 bytes a chat, and a per-project chat count, 4 bytes a project). Every wire
//! record is built on request, deterministically: the same config serves byte-identical JSON.
//!
//! Identifiers look like the API's (`claude_chat_01` + 22 base58 characters, random-looking) but
//! are a keyed 128-bit Feistel permutation of `(index, kind check)`, so the fake maps an id back to
//! its index without a lookup table and rejects ids it never issued. Sort keys are monotonic in the
//! index (activities, chat creation, users' join dates, projects' creation), so a cursor or a time
//! bound becomes an index by binary search.

use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::activities::{self as acts, user_actor};
use super::ids::{self, ts_offset, ts_z, ID_ALPHABET};
use super::{secrets, text, Expected, UserProfile};

/// Knobs of a scale tenant (the org count, seed and time window come from
/// [`super::TenantConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleConfig {
    /// Users in the tenant, spread round-robin over the organizations.
    pub users: usize,
    pub chats: usize,
    /// Messages per chat, uniform in `[messages_min, messages_max]` (user/assistant pairs, so even).
    pub messages_min: usize,
    pub messages_max: usize,
    /// Pad every message text to about this many characters (0 = short natural text).
    pub message_chars: usize,
    pub activities: usize,
    pub projects: usize,
}

impl Default for ScaleConfig {
    /// The acceptance tenant of issue #9: 100k chats of 2–6 messages, 2M activities, 10k projects.
    fn default() -> Self {
        ScaleConfig {
            users: 20_000,
            chats: 100_000,
            messages_min: 2,
            messages_max: 6,
            message_chars: 0,
            activities: 2_000_000,
            projects: 10_000,
        }
    }
}

/// Largest values the generator accepts (ids and time steps stay exact below them).
pub const MAX_USERS: usize = 1_000_000;
pub const MAX_CHATS: usize = 10_000_000;
pub const MAX_ACTIVITIES: usize = 100_000_000;
pub const MAX_PROJECTS: usize = 1_000_000;
/// Messages per chat (message ids carry the position in 20 bits).
pub const MAX_MESSAGES_PER_CHAT: usize = 1 << 20;

impl ScaleConfig {
    /// A config error, or `Ok` (limits above, at least one user per org, min ≤ max).
    pub fn validate(&self, orgs: usize) -> Result<(), String> {
        if orgs == 0 {
            return Err("a scale tenant needs at least one organization".into());
        }
        if self.users < orgs {
            return Err(format!("users ({}) must be at least the number of organizations ({orgs})", self.users));
        }
        let checks = [
            ("users", self.users, MAX_USERS),
            ("chats", self.chats, MAX_CHATS),
            ("activities", self.activities, MAX_ACTIVITIES),
            ("projects", self.projects, MAX_PROJECTS),
            ("messages_max", self.messages_max, MAX_MESSAGES_PER_CHAT),
        ];
        for (name, v, max) in checks {
            if v > max {
                return Err(format!("{name} = {v} exceeds the scale tenant's maximum {max}"));
            }
        }
        if self.messages_min > self.messages_max {
            return Err(format!("messages_min {} > messages_max {}", self.messages_min, self.messages_max));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Org = 1,
    User = 2,
    Chat = 3,
    Message = 4,
    Activity = 5,
    Project = 6,
    Document = 7,
    ChatUuid = 8,
    MessageUuid = 9,
}

fn mix(mut z: u64) -> u64 {
    // splitmix64 finalizer
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn b58_encode(mut v: u128) -> String {
    let mut out = [b'1'; 22];
    for slot in out.iter_mut().rev() {
        *slot = ID_ALPHABET[(v % 58) as usize];
        v /= 58;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn b58_decode(s: &str) -> Option<u128> {
    if s.len() != 22 {
        return None;
    }
    let mut v: u128 = 0;
    for b in s.bytes() {
        let d = ID_ALPHABET.iter().position(|c| *c == b)? as u128;
        v = v.checked_mul(58)?.checked_add(d)?;
    }
    Some(v)
}

/// One organization (the only records held whole).
#[derive(Debug, Clone)]
pub struct ScaleOrg {
    pub uuid: String,
    pub org_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub wire: Value,
}

/// Everything a chat's listing entry needs (its messages are derived from it).
#[derive(Debug, Clone)]
pub struct ScaleChat {
    pub index: usize,
    pub id: String,
    pub uuid: String,
    pub user: usize,
    pub org: usize,
    pub project: Option<usize>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub messages: usize,
    /// Gap between two messages.
    gap_us: i64,
}

/// A project's list-form facts.
#[derive(Debug, Clone)]
pub struct ScaleProject {
    pub index: usize,
    pub id: String,
    pub org: usize,
    pub owner: usize,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub documents: usize,
}

/// The scale tenant (see the module docs).
pub struct ScaleTenant {
    pub cfg: ScaleConfig,
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub domain: String,
    pub orgs: Vec<ScaleOrg>,
    /// Chat indices sorted by `(updated_at, uuid)`.
    by_updated: Vec<u32>,
    /// Chats per project (for `chats_count`).
    project_chats: Vec<u32>,
    keys: [u64; 4],
}

impl fmt::Debug for ScaleTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScaleTenant")
            .field("cfg", &self.cfg)
            .field("seed", &self.seed)
            .field("orgs", &self.orgs.len())
            .field("start", &self.start)
            .field("end", &self.end)
            .finish()
    }
}

/// Record counts of a scale tenant (what a complete sync must hold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScaleCounts {
    pub organizations: usize,
    pub users: usize,
    pub activities: usize,
    pub chats: usize,
    pub chat_messages: usize,
    pub projects: usize,
    pub project_documents: usize,
}

const US_PER_DAY: i64 = 86_400_000_000;

fn at_us(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl ScaleTenant {
    /// Build the compact indexes (≈ 4 bytes per chat and per project).
    pub fn build(seed: u64, orgs: usize, start: DateTime<Utc>, end: DateTime<Utc>, cfg: ScaleConfig) -> ScaleTenant {
        let start = ids::trunc_micros(start);
        let end = ids::trunc_micros(end).max(start + Duration::days(1));
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5CA1_E000);
        let (company, domain) = text::COMPANIES.choose(&mut rng).copied().unwrap_or(text::COMPANIES[0]);
        let keys = [rng.gen(), rng.gen(), rng.gen(), rng.gen()];
        let mut t = ScaleTenant {
            cfg,
            seed,
            start,
            end,
            domain: domain.to_string(),
            orgs: Vec::new(),
            by_updated: Vec::new(),
            project_chats: Vec::new(),
            keys,
        };
        let orgs = orgs.max(1);
        for i in 0..orgs {
            let unit = text::ORG_UNITS[i % text::ORG_UNITS.len()];
            let name = if i < text::ORG_UNITS.len() {
                format!("{company} {unit}")
            } else {
                format!("{company} {unit} {}", i / text::ORG_UNITS.len() + 1)
            };
            let created_at = at_us(start.timestamp_micros() - 400 * US_PER_DAY + i as i64 * 60_000_000);
            let uuid = t.uuid(Kind::Org, i as u64);
            let wire = json!({"uuid": uuid, "name": name, "created_at": ts_offset(created_at)});
            t.orgs.push(ScaleOrg { uuid, org_id: t.tagged(Kind::Org, "org_", i as u64), name, created_at, wire });
        }
        let n = t.cfg.chats;
        let mut keyed: Vec<(i64, u128, u32)> = (0..n)
            .map(|i| {
                let (updated, uuid) = t.chat_updated_key(i);
                (updated, uuid, i as u32)
            })
            .collect();
        keyed.sort_unstable();
        t.by_updated = keyed.into_iter().map(|k| k.2).collect();
        let mut counts = vec![0u32; t.cfg.projects];
        for i in 0..n {
            if let Some(p) = t.chat_project(i) {
                counts[p] += 1;
            }
        }
        t.project_chats = counts;
        t
    }

    pub fn counts(&self) -> ScaleCounts {
        let mut msgs = 0usize;
        for i in 0..self.cfg.chats {
            msgs += self.message_count(i);
        }
        let docs = (0..self.cfg.projects).map(|p| self.project(p).documents).sum();
        ScaleCounts {
            organizations: self.orgs.len(),
            users: self.cfg.users,
            activities: self.cfg.activities,
            chats: self.cfg.chats,
            chat_messages: msgs,
            projects: self.cfg.projects,
            project_documents: docs,
        }
    }

    /// Every id a complete sync must hold (memory grows with the tenant: for tests of moderate size).
    pub fn expected(&self) -> Expected {
        let mut e = Expected::default();
        for o in &self.orgs {
            e.organizations.insert(o.uuid.clone());
        }
        for u in 0..self.cfg.users {
            e.users.insert(format!("{}/{}", self.orgs[self.user_org(u)].uuid, self.user_id(u)));
        }
        for i in 0..self.cfg.activities {
            e.activities.insert(self.activity_id(i));
        }
        for i in 0..self.cfg.chats {
            e.chats.insert(self.chat_id(i));
            for j in 0..self.message_count(i) {
                e.chat_messages.insert(self.message_id(i, j));
            }
        }
        for p in 0..self.cfg.projects {
            e.projects.insert(self.project_id(p));
            for k in 0..self.project(p).documents {
                e.project_documents.insert(self.document_id(p, k));
            }
        }
        e
    }

    // ------------------------------------------------------------ ids

    fn h(&self, kind: Kind, index: u64, salt: u64) -> u64 {
        mix(mix(self.seed ^ ((kind as u64) << 56) ^ salt.wrapping_mul(0xA24B_AED4_963E_E407)) ^ index)
    }

    fn rng(&self, kind: Kind, index: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.h(kind, index, 0xC0FFEE))
    }

    fn check(&self, kind: Kind) -> u64 {
        self.h(kind, u64::MAX, 0x1D5)
    }

    fn permute(&self, kind: Kind, index: u64) -> u128 {
        let (mut l, mut r) = (index, self.check(kind));
        for k in self.keys {
            let f = mix(r ^ k);
            (l, r) = (r, l ^ f);
        }
        ((l as u128) << 64) | r as u128
    }

    fn unpermute(&self, kind: Kind, v: u128) -> Option<u64> {
        let (mut l, mut r) = ((v >> 64) as u64, v as u64);
        for k in self.keys.iter().rev() {
            let f = mix(l ^ k);
            (l, r) = (r ^ f, l);
        }
        (r == self.check(kind)).then_some(l)
    }

    fn tagged(&self, kind: Kind, prefix: &str, index: u64) -> String {
        format!("{prefix}01{}", b58_encode(self.permute(kind, index)))
    }

    fn untag(&self, kind: Kind, prefix: &str, id: &str) -> Option<u64> {
        let rest = id.strip_prefix(prefix)?.strip_prefix("01")?;
        self.unpermute(kind, b58_decode(rest)?)
    }

    /// A version-4 UUID's 128 bits (what [`Self::uuid_key`] parses back).
    fn uuid_bits(&self, kind: Kind, index: u64) -> u128 {
        let raw = ((self.h(kind, index, 1) as u128) << 64) | self.h(kind, index, 2) as u128;
        uuid::Builder::from_random_bytes(raw.to_be_bytes()).into_uuid().as_u128()
    }

    fn uuid(&self, kind: Kind, index: u64) -> String {
        uuid::Uuid::from_u128(self.uuid_bits(kind, index)).hyphenated().to_string()
    }

    pub fn user_id(&self, u: usize) -> String {
        self.tagged(Kind::User, "user_", u as u64)
    }

    pub fn user_index(&self, id: &str) -> Option<usize> {
        self.untag(Kind::User, "user_", id).map(|v| v as usize).filter(|u| *u < self.cfg.users)
    }

    pub fn chat_id(&self, i: usize) -> String {
        self.tagged(Kind::Chat, "claude_chat_", i as u64)
    }

    pub fn chat_index(&self, id: &str) -> Option<usize> {
        self.untag(Kind::Chat, "claude_chat_", id).map(|v| v as usize).filter(|i| *i < self.cfg.chats)
    }

    pub fn chat_uuid(&self, i: usize) -> String {
        self.uuid(Kind::ChatUuid, i as u64)
    }

    pub fn message_id(&self, chat: usize, j: usize) -> String {
        self.tagged(Kind::Message, "claude_chat_msg_", ((chat as u64) << 20) | j as u64)
    }

    pub fn message_uuid(&self, chat: usize, j: usize) -> String {
        self.uuid(Kind::MessageUuid, ((chat as u64) << 20) | j as u64)
    }

    pub fn activity_id(&self, i: usize) -> String {
        self.tagged(Kind::Activity, "activity_", i as u64)
    }

    pub fn activity_index(&self, id: &str) -> Option<usize> {
        self.untag(Kind::Activity, "activity_", id).map(|v| v as usize).filter(|i| *i < self.cfg.activities)
    }

    pub fn project_id(&self, p: usize) -> String {
        self.tagged(Kind::Project, "claude_proj_", p as u64)
    }

    pub fn project_index(&self, id: &str) -> Option<usize> {
        self.untag(Kind::Project, "claude_proj_", id).map(|v| v as usize).filter(|p| *p < self.cfg.projects)
    }

    pub fn document_id(&self, p: usize, k: usize) -> String {
        self.tagged(Kind::Document, "claude_proj_doc_", ((p as u64) << 4) | k as u64)
    }

    /// `(project, k)` of a document id this tenant issued.
    pub fn document_index(&self, id: &str) -> Option<(usize, usize)> {
        let v = self.untag(Kind::Document, "claude_proj_doc_", id)?;
        let (p, k) = ((v >> 4) as usize, (v & 0xF) as usize);
        (p < self.cfg.projects && k < self.project(p).documents).then_some((p, k))
    }

    // ------------------------------------------------------------ users

    pub fn user_org(&self, u: usize) -> usize {
        u % self.orgs.len()
    }

    /// Members of org `o`: users `o, o + orgs, o + 2·orgs, …`, in join order.
    pub fn org_member_count(&self, o: usize) -> usize {
        let n = self.orgs.len();
        if o >= n {
            return 0;
        }
        (self.cfg.users + n - 1 - o) / n
    }

    fn user_joined(&self, u: usize) -> DateTime<Utc> {
        // monotonic in u over [start − 300 days, start − 1 day]
        let lo = self.start.timestamp_micros() - 300 * US_PER_DAY;
        let span = 299 * US_PER_DAY;
        let n = self.cfg.users.max(1) as i128;
        let step = (span as i128 / n).max(1) as i64;
        let base = lo + (span as i128 * u as i128 / n) as i64;
        at_us(base + (self.h(Kind::User, u as u64, 3) % step as u64) as i64)
    }

    pub fn user_profile(&self, u: usize) -> UserProfile {
        let mut rng = self.rng(Kind::User, u as u64);
        let first = text::pick(&mut rng, text::FIRST_NAMES);
        let last = text::pick(&mut rng, text::LAST_NAMES);
        let joined = self.user_joined(u);
        let ip_address = if rng.gen_ratio(3, 10) { secrets::ipv6(&mut rng) } else { secrets::ipv4(&mut rng) };
        UserProfile {
            id: self.user_id(u),
            full_name: format!("{first} {last}"),
            email: format!("{}.{}{}@{}", text::ascii_slug(first), text::ascii_slug(last), u, self.domain),
            created_at: joined - ids::rand_ms(&mut rng, 0, 3 * 86_400_000),
            ip_address,
            user_agent: text::pick(&mut rng, text::USER_AGENTS).to_string(),
            home_org_uuid: self.orgs[self.user_org(u)].uuid.clone(),
        }
    }

    /// Users-list record of the k-th member of org `o`.
    pub fn member_json(&self, o: usize, k: usize) -> Value {
        let u = o + k * self.orgs.len();
        let p = self.user_profile(u);
        let role = if u == 0 {
            "primary_owner"
        } else {
            let mut rng = self.rng(Kind::User, u as u64 ^ (1 << 40));
            super::generate::weighted_role(&mut rng)
        };
        super::generate::user_wire(&p, role)
    }

    pub fn member_joined(&self, o: usize, k: usize) -> DateTime<Utc> {
        self.user_joined(o + k * self.orgs.len())
    }

    // ------------------------------------------------------------ chats

    fn window_us(&self) -> i64 {
        (self.end - self.start).num_microseconds().unwrap_or(i64::MAX)
    }

    /// Longest a chat lasts (creation → last message).
    fn chat_span_us(&self) -> i64 {
        (self.window_us() / 10).min(6 * 3_600_000_000)
    }

    pub fn chat_created(&self, i: usize) -> DateTime<Utc> {
        let span = (self.window_us() - self.chat_span_us() - 3_600_000_000).max(1);
        let n = self.cfg.chats.max(1) as i128;
        let step = (span as i128 / n).max(1) as i64;
        let base = self.start.timestamp_micros() + (span as i128 * i as i128 / n) as i64;
        at_us(base + (self.h(Kind::Chat, i as u64, 3) % step as u64) as i64)
    }

    pub fn message_count(&self, i: usize) -> usize {
        let lo = self.cfg.messages_min.div_ceil(2);
        let hi = (self.cfg.messages_max / 2).max(lo);
        let pairs = lo + (self.h(Kind::Chat, i as u64, 4) % (hi - lo + 1) as u64) as usize;
        pairs * 2
    }

    fn chat_project(&self, i: usize) -> Option<usize> {
        let r = self.h(Kind::Chat, i as u64, 5);
        if self.cfg.projects == 0 || r % 100 >= 30 {
            return None;
        }
        let org = self.user_org(i % self.cfg.users.max(1));
        let n = self.orgs.len();
        let in_org = (self.cfg.projects + n - 1).saturating_sub(org) / n;
        if in_org == 0 {
            return None;
        }
        Some(org + ((r >> 8) % in_org as u64) as usize * n)
    }

    /// `(created_at, gap µs, messages, updated_at, deleted_at)` of chat `i`, without building strings.
    fn chat_times(&self, i: usize) -> (DateTime<Utc>, i64, usize, DateTime<Utc>, Option<DateTime<Utc>>) {
        let created_at = self.chat_created(i);
        let messages = self.message_count(i);
        let span = self.chat_span_us();
        let max_gap = (span / messages.max(1) as i64).max(2);
        let gap_us = (max_gap / 4).max(1) + (self.h(Kind::Chat, i as u64, 6) % (max_gap - max_gap / 4) as u64) as i64;
        let last = if messages == 0 { created_at } else { self.message_time_raw(i, created_at, gap_us, messages - 1) };
        let deleted = self.h(Kind::Chat, i as u64, 7).is_multiple_of(500);
        let (updated_at, deleted_at) = if deleted {
            let at = (last + Duration::minutes(30)).min(self.end);
            (at, Some(at))
        } else {
            (last, None)
        };
        (created_at, gap_us, messages, updated_at, deleted_at)
    }

    pub fn chat(&self, i: usize) -> ScaleChat {
        let (created_at, gap_us, messages, updated_at, deleted_at) = self.chat_times(i);
        let user = i % self.cfg.users.max(1);
        ScaleChat {
            index: i,
            id: self.chat_id(i),
            uuid: self.chat_uuid(i),
            user,
            org: self.user_org(user),
            project: self.chat_project(i),
            created_at,
            updated_at,
            deleted_at,
            messages,
            gap_us,
        }
    }

    fn message_time_raw(&self, i: usize, created: DateTime<Utc>, gap_us: i64, j: usize) -> DateTime<Utc> {
        let jitter = (self.h(Kind::Message, ((i as u64) << 20) | j as u64, 1) % (gap_us as u64 / 2).max(1)) as i64;
        at_us(created.timestamp_micros() + 1_000_000 + j as i64 * gap_us + jitter)
    }

    pub fn message_time(&self, c: &ScaleChat, j: usize) -> DateTime<Utc> {
        self.message_time_raw(c.index, c.created_at, c.gap_us, j)
    }

    /// Chat object as in `GET /apps/chats`.
    pub fn chat_json(&self, c: &ScaleChat) -> Value {
        let mut rng = self.rng(Kind::Chat, c.index as u64);
        let model = if rng.gen_ratio(5, 100) { Value::Null } else { json!(text::pick(&mut rng, text::MODELS)) };
        let name = if c.deleted_at.is_some() { String::new() } else { text::pick(&mut rng, text::CHAT_TOPICS).into() };
        let p = self.user_profile(c.user);
        let o = &self.orgs[c.org];
        json!({
            "id": c.id,
            "name": name,
            "created_at": ts_z(c.created_at),
            "updated_at": ts_z(c.updated_at),
            "deleted_at": c.deleted_at.map(ts_z),
            "organization_id": o.org_id,
            "organization_uuid": o.uuid,
            "project_id": c.project.map(|p| self.project_id(p)),
            "model": model,
            "user": {"id": p.id, "email_address": p.email},
            "href": format!("https://claude.ai/chat/{}", c.uuid),
        })
    }

    fn padded(&self, rng: &mut ChaCha8Rng, mut s: String) -> String {
        let target = self.cfg.message_chars;
        while s.chars().count() < target {
            s.push(' ');
            s.push_str(text::pick(rng, text::ASSISTANT_REPLIES));
        }
        if target > 0 && s.chars().count() > target {
            s = s.chars().take(target).collect();
        }
        s
    }

    /// Element `j` of a chat's `chat_messages`.
    pub fn message_json(&self, c: &ScaleChat, j: usize) -> Value {
        let idx = ((c.index as u64) << 20) | j as u64;
        let mut rng = self.rng(Kind::Message, idx);
        let at = self.message_time(c, j);
        let id = self.message_id(c.index, j);
        let deleted = c.deleted_at.is_some();
        let text_block = |s: String, redacted: bool| json!({"type": "text", "text": s, "truncated": false, "thinking_redacted": redacted});
        if j.is_multiple_of(2) {
            let prompt = text::pick(&mut rng, text::USER_PROMPTS).to_string();
            let prompt = self.padded(&mut rng, prompt);
            let content = if deleted { json!([]) } else { json!([text_block(prompt, false)]) };
            return json!({
                "id": id,
                "role": "user",
                "created_at": ts_z(at),
                "content": content,
                "files": null,
                "generated_files": null,
                "artifacts": null,
            });
        }
        let mut blocks = Vec::new();
        if rng.gen_ratio(15, 100) {
            let tool_id = format!("toolu_01{}", ids::suffix(&mut rng, 22));
            let q = text::pick(&mut rng, text::CHAT_TOPICS);
            let input = serde_json::to_string(&json!({"query": q})).unwrap_or_default();
            blocks.push(json!({
                "type": "tool_use", "id": tool_id, "name": "web_search", "input": input,
                "truncated": false, "integration_name": null, "mcp_server_url": null,
            }));
            blocks.push(json!({
                "type": "tool_result", "tool_use_id": tool_id, "name": "web_search", "is_error": false,
                "content": [{"type": "text", "text": format!("1. {q} — overview (docs)\n2. {q} best practices (blog)")}],
                "truncated": false, "integration_name": null, "mcp_server_url": null,
            }));
        }
        let reply = text::pick(&mut rng, text::ASSISTANT_REPLIES).to_string();
        let reply = self.padded(&mut rng, reply);
        blocks.push(text_block(reply, rng.gen_ratio(8, 100)));
        let content = if deleted { json!([]) } else { Value::Array(blocks) };
        json!({
            "id": id,
            "role": "assistant",
            "created_at": ts_z(at),
            "content": content,
            "files": null,
            "generated_files": null,
            "artifacts": null,
        })
    }

    /// Chat indices in `(updated_at, uuid)` order.
    pub fn chats_by_updated(&self) -> &[u32] {
        &self.by_updated
    }

    /// Sort key `(updated_at µs, uuid bits)` of chat `i` (the order of [`Self::chats_by_updated`]).
    pub fn chat_updated_key(&self, i: usize) -> (i64, u128) {
        (self.chat_times(i).3.timestamp_micros(), self.uuid_bits(Kind::ChatUuid, i as u64))
    }

    /// Sort key `(created_at µs, uuid bits)` of chat `i` (monotonic in `i`).
    pub fn chat_created_key(&self, i: usize) -> (i64, u128) {
        (self.chat_created(i).timestamp_micros(), self.uuid_bits(Kind::ChatUuid, i as u64))
    }

    /// Parse a chat uuid back into the bits [`Self::chat_updated_key`] compares.
    pub fn uuid_key(uuid: &str) -> Option<u128> {
        uuid::Uuid::parse_str(uuid).ok().map(|u| u.as_u128())
    }

    // ------------------------------------------------------------ activities

    pub fn activity_time(&self, i: usize) -> DateTime<Utc> {
        let span = self.window_us().max(1);
        let n = self.cfg.activities.max(1) as i128;
        let step = (span as i128 / n).max(1) as i64;
        let base = self.start.timestamp_micros() + (span as i128 * i as i128 / n) as i64;
        at_us(base + (self.h(Kind::Activity, i as u64, 3) % step as u64) as i64)
    }

    /// First index whose `created_at` is `>= t` (times are strictly increasing when the window holds
    /// at least one microsecond per activity).
    pub fn activity_lower_bound(&self, t: DateTime<Utc>) -> usize {
        partition(self.cfg.activities, |i| self.activity_time(i) < t)
    }

    /// `(type, actor user, org)` of activity `i` without building its JSON (filters use this).
    pub fn activity_facts(&self, i: usize) -> (&'static str, Option<usize>, Option<usize>) {
        let r = self.h(Kind::Activity, i as u64, 4);
        let user = ((r >> 16) % self.cfg.users.max(1) as u64) as usize;
        let ty = ACTIVITY_MIX[(r % ACTIVITY_MIX.len() as u64) as usize];
        match ty {
            "org_data_export_completed" => (ty, None, Some(self.user_org(user))),
            "user_logged_out" | "sso_login_succeeded" => (ty, Some(user), None),
            _ => (ty, Some(user), Some(self.user_org(user))),
        }
    }

    pub fn activity_json(&self, i: usize) -> Value {
        let (ty, user, org) = self.activity_facts(i);
        let mut rng = self.rng(Kind::Activity, i as u64);
        let at = self.activity_time(i);
        let id = self.activity_id(i);
        let actor = match user {
            Some(u) => user_actor(&self.user_profile(u)),
            None => json!({"email_address": null, "type": "anthropic_actor"}),
        };
        let org_pair = org.map(|o| (self.orgs[o].org_id.as_str(), self.orgs[o].uuid.as_str()));
        let chat = |rng: &mut ChaCha8Rng| rng.gen_range(0..self.cfg.chats.max(1));
        let extra: Vec<(&str, Value)> = match ty {
            "claude_chat_created" | "claude_chat_viewed" | "claude_chat_updated" if self.cfg.chats > 0 => {
                let c = self.chat(chat(&mut rng));
                vec![
                    ("claude_chat_id", json!(c.id)),
                    ("claude_project_id", json!(c.project.map(|p| self.project_id(p)))),
                ]
            }
            "claude_project_viewed" if self.cfg.projects > 0 => {
                let p = rng.gen_range(0..self.cfg.projects);
                vec![("claude_project_id", json!(self.project_id(p))), ("preview_only", json!(rng.gen_bool(0.2)))]
            }
            "sso_login_succeeded" => vec![("auth_method", json!("sso")), ("mfa_method", Value::Null)],
            "org_data_export_completed" => vec![("export_type", json!("conversations"))],
            _ => vec![],
        };
        let ty = match ty {
            // the type's record needs a chat or project the tenant does not have
            "claude_chat_created" | "claude_chat_viewed" | "claude_chat_updated" if self.cfg.chats == 0 => {
                "user_logged_out"
            }
            "claude_project_viewed" if self.cfg.projects == 0 => "user_logged_out",
            t => t,
        };
        acts::build(id, at, ty, org_pair, actor, extra).wire
    }

    // ------------------------------------------------------------ projects

    pub fn project_created(&self, p: usize) -> DateTime<Utc> {
        let span = (self.window_us() * 6 / 10).max(1);
        let n = self.cfg.projects.max(1) as i128;
        let step = (span as i128 / n).max(1) as i64;
        let base = self.start.timestamp_micros() + (span as i128 * p as i128 / n) as i64;
        at_us(base + (self.h(Kind::Project, p as u64, 3) % step as u64) as i64)
    }

    pub fn project(&self, p: usize) -> ScaleProject {
        let n = self.orgs.len();
        let org = p % n;
        let members = self.org_member_count(org).max(1);
        let owner = org + (self.h(Kind::Project, p as u64, 4) % members as u64) as usize * n;
        let created_at = self.project_created(p);
        let later = (self.h(Kind::Project, p as u64, 5) % (3 * US_PER_DAY as u64)) as i64;
        let updated_at = at_us(created_at.timestamp_micros() + 10_000_000 + later).min(self.end);
        let documents = 1 + (self.h(Kind::Project, p as u64, 6) % 2) as usize;
        ScaleProject { index: p, id: self.project_id(p), org, owner, created_at, updated_at, documents }
    }

    fn project_name(&self, p: usize) -> &'static str {
        let mut rng = self.rng(Kind::Project, p as u64);
        text::pick(&mut rng, text::PROJECT_NAMES)
    }

    pub fn project_json(&self, pr: &ScaleProject) -> Value {
        let o = &self.orgs[pr.org];
        let u = self.user_profile(pr.owner);
        json!({
            "id": pr.id,
            "name": self.project_name(pr.index),
            "created_at": ts_z(pr.created_at),
            "updated_at": ts_z(pr.updated_at),
            "deleted_at": null,
            "is_private": self.h(Kind::Project, pr.index as u64, 7) % 10 < 3,
            "organization_id": o.org_id,
            "organization_uuid": o.uuid,
            "user": {"id": u.id, "email_address": u.email},
        })
    }

    pub fn project_detail_json(&self, pr: &ScaleProject) -> Value {
        let mut v = self.project_json(pr);
        let name = self.project_name(pr.index);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("description".into(), json!(format!("Shared workspace for {name}.")));
            obj.insert(
                "instructions".into(),
                json!(format!("Answer questions about {name}; cite the project documents.")),
            );
            obj.insert("chats_count".into(), json!(self.project_chats.get(pr.index).copied().unwrap_or(0)));
            obj.insert("attachments_count".into(), json!(pr.documents));
        }
        v
    }

    fn document_time(&self, pr: &ScaleProject, k: usize) -> DateTime<Utc> {
        pr.created_at + Duration::seconds(1 + k as i64)
    }

    fn document_filename(&self, p: usize, k: usize) -> String {
        format!("{}-{}.md", text::file_slug(self.project_name(p)), k + 1)
    }

    pub fn attachment_json(&self, pr: &ScaleProject, k: usize) -> Value {
        json!({
            "type": "project_doc",
            "id": self.document_id(pr.index, k),
            "created_at": ts_z(self.document_time(pr, k)),
            "filename": self.document_filename(pr.index, k),
            "mime_type": "text/plain",
            "updated_at": null,
        })
    }

    fn document_content(&self, p: usize, k: usize) -> String {
        let mut rng = self.rng(Kind::Document, ((p as u64) << 4) | k as u64);
        let body = text::pick(&mut rng, text::FILE_BODIES);
        format!("# {}\n\n{body}\n", self.project_name(p))
    }

    pub fn document_json(&self, p: usize, k: usize) -> Value {
        let pr = self.project(p);
        let u = self.user_profile(pr.owner);
        json!({
            "id": self.document_id(p, k),
            "content": self.document_content(p, k),
            "created_at": ts_z(self.document_time(&pr, k)),
            "filename": self.document_filename(p, k),
            "user": {"id": u.id, "email_address": u.email},
        })
    }

    pub fn document_metadata_json(&self, p: usize, k: usize) -> Value {
        let pr = self.project(p);
        let u = self.user_profile(pr.owner);
        let content = self.document_content(p, k);
        json!({
            "id": self.document_id(p, k),
            "claude_project_id": pr.id,
            "created_at": ts_z(self.document_time(&pr, k)),
            "filename": self.document_filename(p, k),
            "md5": super::wire::md5_hex(content.as_bytes()),
            "mime_type": "text/plain",
            "size_bytes": content.len(),
            "user": {"id": u.id, "email_address": u.email},
        })
    }

    pub fn collaborators_json(&self, pr: &ScaleProject) -> Vec<Value> {
        let mut out = vec![json!({
            "type": "user",
            "granted_at": ts_z(pr.created_at),
            "role": "owner",
            "user_id": self.user_id(pr.owner),
        })];
        if self.h(Kind::Project, pr.index as u64, 7) % 10 >= 3 {
            out.push(json!({
                "type": "organization",
                "granted_at": ts_z(pr.created_at + Duration::seconds(1)),
                "role": "viewer",
                "organization_uuid": self.orgs[pr.org].uuid,
            }));
        }
        out
    }
}

/// Activity types of the background feed, weighted by repetition.
const ACTIVITY_MIX: &[&str] = &[
    "claude_chat_viewed",
    "claude_chat_viewed",
    "claude_chat_viewed",
    "claude_chat_created",
    "claude_chat_updated",
    "claude_project_viewed",
    "sso_login_succeeded",
    "sso_login_succeeded",
    "user_logged_out",
    "org_data_export_completed",
];

/// First `i` in `0..n` for which `pred(i)` is false (`pred` true on a prefix).
pub(crate) fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(cfg: ScaleConfig) -> ScaleTenant {
        let end = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
        ScaleTenant::build(9, 3, end - Duration::days(45), end, cfg)
    }

    fn small() -> ScaleConfig {
        ScaleConfig {
            users: 50,
            chats: 2_000,
            messages_min: 2,
            messages_max: 6,
            message_chars: 0,
            activities: 20_000,
            projects: 40,
        }
    }

    #[test]
    fn ids_round_trip_and_look_random() {
        let t = tenant(small());
        for i in [0usize, 1, 2, 777, 1999] {
            let id = t.chat_id(i);
            assert!(id.starts_with("claude_chat_01") && id.len() == "claude_chat_01".len() + 22, "{id}");
            assert_eq!(t.chat_index(&id), Some(i));
        }
        assert_ne!(t.chat_id(0)[14..20], t.chat_id(1)[14..20]);
        assert_eq!(t.activity_index(&t.activity_id(12_345)), Some(12_345));
        assert_eq!(t.activity_index(&t.activity_id(20_000)), None, "beyond the tenant");
        assert_eq!(t.chat_index(&t.activity_id(3).replace("activity_", "claude_chat_")), None, "other kind");
        assert_eq!(t.chat_index("claude_chat_01LwHSAQJR5WGxgb9tq4KHCQ"), None, "never issued");
        assert_eq!(t.document_index(&t.document_id(5, 1)), t.project(5).documents.gt(&1).then_some((5, 1)));
        let ids: std::collections::BTreeSet<String> = (0..2000).map(|i| t.chat_id(i)).collect();
        assert_eq!(ids.len(), 2000);
    }

    #[test]
    fn orders_are_monotonic() {
        let t = tenant(small());
        for i in 1..t.cfg.activities {
            assert!(t.activity_time(i - 1) < t.activity_time(i));
        }
        for i in 1..t.cfg.chats {
            assert!(t.chat_created(i - 1) < t.chat_created(i));
        }
        let c = t.chat(17);
        for j in 1..c.messages {
            assert!(t.message_time(&c, j - 1) < t.message_time(&c, j));
        }
        assert!(c.updated_at <= t.end && c.created_at >= t.start);
        let by = t.chats_by_updated();
        for w in by.windows(2) {
            assert!(t.chat_updated_key(w[0] as usize) < t.chat_updated_key(w[1] as usize));
        }
        let mid = t.activity_time(5000);
        assert_eq!(t.activity_lower_bound(mid), 5000);
    }

    #[test]
    fn deterministic_and_counted() {
        let a = tenant(small());
        let b = tenant(small());
        assert_eq!(a.activity_json(42), b.activity_json(42));
        assert_eq!(a.chat_json(&a.chat(3)), b.chat_json(&b.chat(3)));
        let c = a.counts();
        assert_eq!(c.chats, 2000);
        assert!(c.chat_messages >= 4000 && c.chat_messages <= 12_000);
        let e = a.expected();
        assert_eq!(e.chat_messages.len(), c.chat_messages);
        assert_eq!(e.users.len(), 50);
        assert_eq!(e.project_documents.len(), c.project_documents);
        for i in 0..c.chats {
            let ch = a.chat(i);
            assert!((2..=6).contains(&ch.messages) && ch.messages.is_multiple_of(2));
        }
    }

    #[test]
    fn padded_messages() {
        let mut cfg = small();
        cfg.message_chars = 10_000;
        let t = tenant(cfg);
        let c = t.chat(1);
        let m = t.message_json(&c, 0);
        let text = m["content"][0]["text"].as_str().unwrap_or_default();
        assert_eq!(text.chars().count(), 10_000);
    }
}
