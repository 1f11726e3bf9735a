//! Content objects of the synthetic tenant: Artifacts of `GET /apps/code/artifacts` (spec §7.14:
//! `artifact_type` `claude_docs`, `claude_sheets` and a value not yet documented, one artifact
//! published before `updated_at` existed, one agent-published, one with more versions than the
//! listing shows, one multi-file version), secrets planted in a chat artifact, a generated file and a
//! code artifact version, and the content mutation (a new artifact version and a new generated file
//! in a chat, an updated code artifact). Generated from its own RNG stream, so adding it changes
//! nothing else a seed produces; planted values are kept in [`ContentObjects::planted`].
//!
//! What a complete sync must hold is what the fake has served ([`ContentObjects::served`]): the
//! references in the messages it answered, the artifacts and versions its listing answered (a
//! version replaced, or a chat soft-deleted, after a sync saw it stays expected; one no sync saw is
//! not).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::ids::{self, rand_between, ts_z};
use super::secrets::{self, Planted};
use super::{ArtifactRecord, GeneratedFileRecord, MessageRecord, PlantedSecret, Tenant};

/// Versions the listing shows per artifact (the ≈20 most recent).
pub const LISTED_VERSIONS: usize = 20;
/// An `artifact_type` value not documented yet: passed through verbatim.
pub const UNKNOWN_TYPE: &str = "claude_design_system";
const TYPES: &[&str] = &["claude_sheets", "claude_docs", UNKNOWN_TYPE];

/// One version of an Artifact.
#[derive(Debug, Clone)]
pub struct CodeArtifactVersion {
    pub id: String,
    pub created_at: Option<DateTime<Utc>>,
    pub name: String,
    pub content: Vec<u8>,
    pub content_type: String,
    /// More than one file: the download answers 422 `multi_file_unavailable`.
    pub multi_file: bool,
}

/// One Artifact (a Claude Code site or a built-in Artifact type).
#[derive(Debug, Clone)]
pub struct CodeArtifactRecord {
    pub id: String,
    pub artifact_type: String,
    pub organization_uuid: String,
    pub owner_user_id: Option<String>,
    pub user: Value,
    pub read_mode: &'static str,
    /// `None`: published before the field existed (never matches an `updated_at` filter).
    pub updated_at: Option<DateTime<Utc>>,
    /// Oldest first.
    pub versions: Vec<CodeArtifactVersion>,
}

impl CodeArtifactRecord {
    /// The listed form: the most recent versions, newest first.
    pub fn wire(&self) -> Value {
        let versions: Vec<Value> = self
            .versions
            .iter()
            .rev()
            .take(LISTED_VERSIONS)
            .map(|v| json!({"id": v.id, "created_at": v.created_at.map(ts_z), "name": v.name}))
            .collect();
        json!({
            "id": self.id,
            "artifact_type": self.artifact_type,
            "organization_uuid": self.organization_uuid,
            "owner_user_id": self.owner_user_id,
            "published_version_id": self.versions.last().map(|v| v.id.clone()),
            "read_mode": self.read_mode,
            "updated_at": self.updated_at.map(ts_z),
            "user": self.user,
            "versions": versions,
        })
    }

    /// Version ids the listing shows.
    pub fn listed_version_ids(&self) -> Vec<String> {
        self.versions.iter().rev().take(LISTED_VERSIONS).map(|v| v.id.clone()).collect()
    }

    /// A version still downloadable (rotated-out versions are gone: 404).
    pub fn version(&self, id: &str) -> Option<&CodeArtifactVersion> {
        let listed = self.listed_version_ids();
        self.versions.iter().find(|v| v.id == id && listed.contains(&v.id))
    }
}

/// Content objects beside the chats (see module docs).
#[derive(Debug, Clone, Default)]
pub struct ContentObjects {
    pub code_artifacts: Vec<CodeArtifactRecord>,
    /// Secrets planted in a chat artifact, a generated file and a code artifact version
    /// (`record_kind` `artifact` / `generated_file` / `code_artifact`).
    pub planted: Vec<PlantedSecret>,
    /// What the fake has handed out, shared by every clone of the tenant.
    pub served: Arc<Mutex<ContentExpected>>,
    pub mutations: u64,
}

impl ContentObjects {
    /// Records the content references of messages the fake answered.
    pub fn serve_messages(&self, msgs: &[Value]) {
        let mut s = self.served.lock().unwrap_or_else(|p| p.into_inner());
        for m in msgs {
            for r in m.get("artifacts").and_then(Value::as_array).into_iter().flatten() {
                if let Some(v) = r.get("version_id").and_then(Value::as_str) {
                    s.chat_artifacts.insert(v.to_string());
                }
            }
            for r in m.get("generated_files").and_then(Value::as_array).into_iter().flatten() {
                if let Some(v) = r.get("id").and_then(Value::as_str) {
                    s.generated_files.insert(v.to_string());
                }
            }
        }
    }

    /// Records the artifacts (and their listed versions) a listing page answered.
    pub fn serve_listing(&self, items: &[Value]) {
        let mut s = self.served.lock().unwrap_or_else(|p| p.into_inner());
        for a in items {
            let id = a.get("id").and_then(Value::as_str).unwrap_or_default();
            let at = a.get("updated_at").and_then(Value::as_str).unwrap_or_default();
            s.code_artifacts.insert(format!("{id}@{at}"));
            for v in a.get("versions").and_then(Value::as_array).into_iter().flatten() {
                if let Some(v) = v.get("id").and_then(Value::as_str) {
                    s.code_artifact_versions.insert(v.to_string());
                }
            }
        }
    }
}

/// Ids a complete sync holds per content table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentExpected {
    /// Served chat artifact versions and generated files the API no longer has (their chat was
    /// deleted since): a sync that saw them before it committed may or may not hold them.
    pub gone: BTreeSet<String>,
    pub chat_artifacts: BTreeSet<String>,
    pub generated_files: BTreeSet<String>,
    pub code_artifacts: BTreeSet<String>,
    pub code_artifact_versions: BTreeSet<String>,
}

/// What one mutation changed in the content objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentMutation {
    pub new_artifact_versions: Vec<String>,
    pub new_generated_files: Vec<String>,
    pub updated_code_artifacts: Vec<String>,
    pub new_message_ids: Vec<String>,
    /// The chat the new pair went to.
    pub chat_id: Option<String>,
}

fn content_rng(t: &Tenant, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(t.config.seed ^ 0xA27F_AC75_0000_0000 ^ salt)
}

fn plant(c: &mut ContentObjects, rng: &mut ChaCha8Rng, domain: &str, kind: &'static str, id: &str) -> String {
    let (sentence, planted) = secrets::sensitive_sentence(rng, c.planted.len(), domain);
    for Planted { kind: k, value } in planted {
        c.planted.push(PlantedSecret {
            record_kind: kind,
            record_id: id.to_string(),
            field: "content",
            kind: k,
            value,
        });
    }
    sentence
}

fn version_body(rng: &mut ChaCha8Rng, artifact_type: &str, n: usize) -> (Vec<u8>, String) {
    match artifact_type {
        "claude_sheets" => (
            format!(
                "region,quarter,total\nEMEA,Q{n},{}\nNA,Q{n},{}\n",
                rng.gen_range(1000..99999),
                rng.gen_range(1000..99999)
            )
            .into_bytes(),
            "text/csv".into(),
        ),
        "claude_docs" => (b"<html><body>doc page</body></html>".to_vec(), "text/html".into()),
        _ => (format!("<html><body><h1>Release notes v{n}</h1></body></html>\n").into_bytes(), "text/html".into()),
    }
}

impl Tenant {
    /// Generates the code artifacts and plants the content secrets (end of [`Tenant::generate`]).
    pub(crate) fn generate_content_objects(&mut self) {
        let mut rng = content_rng(self, 0);
        let mut c = std::mem::take(&mut self.content);
        let (start, end) = (self.config.start, self.now);
        let mut n = 0usize;
        for o in self.orgs.clone() {
            let members: Vec<String> = o.members.iter().map(|m| m.user_id.clone()).collect();
            for k in 0..3usize {
                let artifact_type = TYPES[n % TYPES.len()].to_string();
                let agent = n == 1;
                let owner = if agent { None } else { members.get((n + k) % members.len().max(1)).cloned() };
                let user = owner
                    .as_ref()
                    .and_then(|u| self.users.get(u))
                    .map(|u| json!({"id": u.id, "email_address": u.email}))
                    .unwrap_or(Value::Null);
                let count = if n == 3 { LISTED_VERSIONS + 2 } else { 1 + n % 3 };
                let mut times: Vec<DateTime<Utc>> =
                    (0..count).map(|_| rand_between(&mut rng, start, end - Duration::minutes(30))).collect();
                times.sort();
                let mut versions = Vec::new();
                for (i, at) in times.iter().enumerate() {
                    let (content, content_type) = version_body(&mut rng, &artifact_type, i + 1);
                    versions.push(CodeArtifactVersion {
                        id: ids::tagged_id(&mut rng, "cart_ver_"),
                        created_at: if n == 4 && i == 0 { None } else { Some(*at) },
                        name: format!("{} v{}", super::text::pick(&mut rng, super::text::PROJECT_NAMES), i + 1),
                        content,
                        content_type,
                        multi_file: artifact_type == "claude_docs" || (artifact_type == UNKNOWN_TYPE && i == 0),
                    });
                }
                let updated_at = if n == 5 { None } else { times.last().copied() };
                c.code_artifacts.push(CodeArtifactRecord {
                    id: ids::tagged_id(&mut rng, "cart_"),
                    artifact_type,
                    organization_uuid: o.uuid.clone(),
                    owner_user_id: owner,
                    user,
                    read_mode: ["org", "owner", "users", "public"][n % 4],
                    updated_at,
                    versions,
                });
                n += 1;
            }
        }
        // a secret in a Sheet's published version (a single file: downloaded and scanned)
        let domain = self.domain.clone();
        if let Some(a) = c.code_artifacts.iter().position(|a| a.artifact_type == "claude_sheets") {
            let vid = c.code_artifacts[a].versions.last().map(|v| v.id.clone()).unwrap_or_default();
            let s = plant(&mut c, &mut rng, &domain, "code_artifact", &vid);
            if let Some(v) = c.code_artifacts[a].versions.last_mut() {
                v.content.extend_from_slice(format!("notes,{s}\n").as_bytes());
            }
        }
        // a secret in a chat artifact and in a text generated file (the first live ones)
        let live = |chat_id: &str, t: &Tenant| t.chat(chat_id).is_some_and(|ch| ch.deleted_at.is_none());
        if let Some(vid) =
            self.artifacts.values().find(|a| !a.deleted && live(&a.chat_id, self)).map(|a| a.version_id.clone())
        {
            let s = plant(&mut c, &mut rng, &domain, "artifact", &vid);
            if let Some(a) = self.artifacts.get_mut(&vid) {
                a.content.push_str(&format!("\n{s}\n"));
            }
        }
        let gid = self.generated_files.values().find(|g| !g.deleted && live(&g.chat_id, self)).map(|g| g.id.clone());
        if let Some(gid) = gid {
            let s = plant(&mut c, &mut rng, &domain, "generated_file", &gid);
            if let Some(g) = self.generated_files.get_mut(&gid) {
                g.content.extend_from_slice(format!("note,\"{s}\"\n").as_bytes());
            }
            self.refresh_generated_ref(&gid);
        }
        self.content = c;
    }

    /// The message reference of a generated file after its bytes changed (size, md5).
    fn refresh_generated_ref(&mut self, gid: &str) {
        let Some(g) = self.generated_files.get(gid).cloned() else { return };
        for ch in &mut self.chats {
            for m in &mut ch.messages {
                for r in m.wire.get_mut("generated_files").and_then(Value::as_array_mut).into_iter().flatten() {
                    if r.get("id").and_then(Value::as_str) == Some(gid) {
                        if let Some(o) = r.as_object_mut() {
                            o.insert("size_bytes".into(), json!(g.content.len()));
                            o.insert("md5".into(), json!(super::wire::md5_hex(&g.content)));
                        }
                    }
                }
            }
        }
    }

    /// Artifact version ids the messages reference now.
    pub fn referenced_artifact_versions(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for ch in &self.chats {
            for m in &ch.messages {
                for r in m.wire.get("artifacts").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(v) = r.get("version_id").and_then(Value::as_str) {
                        out.insert(v.to_string());
                    }
                }
            }
        }
        out
    }

    /// What a complete sync of the content tables holds.
    pub fn content_expected(&self) -> ContentExpected {
        let mut e = self.content.served.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let gone_art = e.chat_artifacts.iter().filter(|v| self.artifacts.get(*v).is_none_or(|a| a.deleted));
        let gone_gen = e.generated_files.iter().filter(|g| self.generated_files.get(*g).is_none_or(|g| g.deleted));
        e.gone = gone_art.chain(gone_gen).cloned().collect();
        e
    }

    /// The content part of [`Tenant::mutate`]: a chat gets a new version of one of its artifacts and
    /// a new generated file (a user + assistant pair in `(prev, now]`); a code artifact publishes a
    /// new version.
    pub(crate) fn mutate_content(&mut self, prev: DateTime<Utc>, now: DateTime<Utc>) -> ContentMutation {
        self.content.mutations += 1;
        let mut rng = content_rng(self, self.content.mutations);
        let mut out = ContentMutation::default();
        let lo = prev + Duration::microseconds(1);
        // messages are served oldest first: the new pair goes after the chat's last message (which
        // this mutation may have appended already)
        let after = |t: &Tenant, ci: usize| {
            let last = t.chats[ci].messages.iter().map(|m| m.created_at).max().unwrap_or(lo);
            (last + Duration::microseconds(1)).max(lo)
        };
        let usable = |t: &Tenant, ci: usize| t.chats[ci].deleted_at.is_none() && after(t, ci) < now;
        // a live chat with an artifact (else any live chat, with a new artifact)
        let with_art = self.artifacts.values().filter(|a| !a.deleted).find_map(|a| {
            self.chats
                .iter()
                .position(|c| c.id == a.chat_id)
                .filter(|ci| usable(self, *ci))
                .map(|ci| (ci, Some(a.clone())))
        });
        let target = with_art.or_else(|| (0..self.chats.len()).find(|ci| usable(self, *ci)).map(|ci| (ci, None)));
        if let Some((ci, art)) = target {
            let from = after(self, ci);
            let mut ts = [rand_between(&mut rng, from, now), rand_between(&mut rng, from, now)];
            ts.sort();
            let chat_id = self.chats[ci].id.clone();
            let aid =
                art.as_ref().map(|a| a.id.clone()).unwrap_or_else(|| ids::tagged_id(&mut rng, "claude_artifact_"));
            let title = art.as_ref().map(|a| a.title.clone()).unwrap_or_else(|| "Revised plan".into());
            let atype = art.as_ref().map(|a| a.artifact_type.clone()).unwrap_or_else(|| "text/markdown".into());
            let vid = ids::tagged_id(&mut rng, "claude_artifact_version_");
            self.artifacts.insert(
                vid.clone(),
                ArtifactRecord {
                    id: aid.clone(),
                    version_id: vid.clone(),
                    chat_id: chat_id.clone(),
                    title: title.clone(),
                    artifact_type: atype.clone(),
                    created_at: ts[1],
                    content: format!("# {title}\n\nRevision {}.\n", self.content.mutations + 1),
                    deleted: false,
                },
            );
            let gid = format!("claude_gen_file_01{}", ids::suffix(&mut rng, 22));
            let g = GeneratedFileRecord {
                id: gid.clone(),
                chat_id: chat_id.clone(),
                created_at: ts[1],
                filename: "forecast.csv".into(),
                mime_type: "text/csv".into(),
                content: format!("month,total\nJan,{}\n", rng.gen_range(100..999)).into_bytes(),
                deleted: false,
            };
            let gref = json!({"id": g.id, "filename": g.filename, "mime_type": g.mime_type,
                "size_bytes": g.content.len(), "md5": super::wire::md5_hex(&g.content)});
            self.generated_files.insert(gid.clone(), g);
            let user_id = ids::tagged_id(&mut rng, "claude_chat_msg_");
            let asst_id = ids::tagged_id(&mut rng, "claude_chat_msg_");
            let user_wire = json!({"id": user_id, "role": "user", "created_at": ts_z(ts[0]),
                "content": [{"type": "text", "text": "Please revise the draft and export a forecast.", "truncated": false, "thinking_redacted": false}],
                "files": null, "generated_files": null, "artifacts": null});
            let asst_wire = json!({"id": asst_id, "role": "assistant", "created_at": ts_z(ts[1]),
                "content": [{"type": "text", "text": "Here is the revised draft and the forecast.", "truncated": false, "thinking_redacted": false}],
                "files": null, "generated_files": [gref],
                "artifacts": [{"id": aid, "version_id": vid, "title": title, "artifact_type": atype}]});
            let chat = &mut self.chats[ci];
            chat.messages.push(MessageRecord {
                id: user_id.clone(),
                uuid: ids::uuid(&mut rng),
                created_at: ts[0],
                wire: user_wire,
            });
            chat.messages.push(MessageRecord {
                id: asst_id.clone(),
                uuid: ids::uuid(&mut rng),
                created_at: ts[1],
                wire: asst_wire,
            });
            self.refresh_chat_updated(ci);
            out.new_artifact_versions.push(vid);
            out.new_generated_files.push(gid);
            out.new_message_ids.extend([user_id, asst_id]);
            out.chat_id = Some(chat_id.clone());
        }
        // a code artifact publishes a new version
        let pick =
            self.content.code_artifacts.iter().position(|a| a.updated_at.is_some() && a.artifact_type != "claude_docs");
        if let Some(i) = pick {
            let at = rand_between(&mut rng, lo, now);
            let a = &mut self.content.code_artifacts[i];
            let n = a.versions.len() + 1;
            let (content, content_type) = version_body(&mut rng, &a.artifact_type.clone(), n);
            a.versions.push(CodeArtifactVersion {
                id: ids::tagged_id(&mut rng, "cart_ver_"),
                created_at: Some(at),
                name: format!("revision {n}"),
                content,
                content_type,
                multi_file: false,
            });
            a.updated_at = Some(at);
            out.updated_code_artifacts.push(a.id.clone());
        }
        out
    }
}
