//! Chat messages, files, generated files, artifacts, projects and documents.

use chrono::{DateTime, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::ids::{self, ts_z};
use super::secrets::{self, Planted};
use super::{
    text, ArtifactRecord, DocumentRecord, FileRecord, GeneratedFileRecord, MessageRecord, PlantedSecret, Tenant,
};

/// Share of user messages carrying a sensitive sentence.
const SENSITIVE_MSG_PCT: u32 = 4;
/// Share of user messages carrying a tricky non-secret.
const TRICKY_MSG_PCT: u32 = 6;
/// Share of text files / project docs / project prose carrying a sensitive sentence.
const SENSITIVE_DOC_PCT: u32 = 8;

/// Output of [`Tenant::gen_message_pair`].
pub(crate) struct PairOut {
    pub user_msg_id: String,
    pub assistant_msg_id: String,
    pub uploaded_file_ids: Vec<String>,
}

fn text_block(s: &str, thinking_redacted: bool) -> Value {
    json!({"type": "text", "text": s, "truncated": false, "thinking_redacted": thinking_redacted})
}

impl Tenant {
    /// Next sensitive sentence (templates cycle so every kind appears), recorded as planted.
    pub(crate) fn plant_sentence(
        &mut self,
        rng: &mut ChaCha8Rng,
        record_kind: &'static str,
        record_id: &str,
        field: &'static str,
    ) -> String {
        let which = self.sensitive_counter;
        self.sensitive_counter += 1;
        let (sentence, planted) = secrets::sensitive_sentence(rng, which, &self.domain);
        for Planted { kind, value } in planted {
            self.planted.push(PlantedSecret { record_kind, record_id: record_id.to_string(), field, kind, value });
        }
        sentence
    }

    fn maybe_sensitive(
        &mut self,
        rng: &mut ChaCha8Rng,
        pct: u32,
        base: String,
        record_kind: &'static str,
        record_id: &str,
        field: &'static str,
    ) -> String {
        let mut out = base;
        if rng.gen_ratio(pct, 100) {
            let s = self.plant_sentence(rng, record_kind, record_id, field);
            out = format!("{out}\n\n{s}");
        }
        out
    }

    /// Create a user-uploaded (or project) file and return its id.
    pub(crate) fn gen_file(
        &mut self,
        rng: &mut ChaCha8Rng,
        created_at: DateTime<Utc>,
        project_id: Option<&str>,
    ) -> String {
        let id = ids::tagged_id(rng, "claude_file_");
        let roll = rng.gen_range(0..100);
        let (filename, mime, ctype, content): (String, Option<String>, String, Vec<u8>) = if roll < 65 {
            let body = text::pick(rng, text::FILE_BODIES).to_string();
            // the first text files always carry a sensitive sentence (chat and project files alike)
            let early =
                self.planted.iter().filter(|p| p.record_kind == "file").count() < 2 + usize::from(project_id.is_none());
            let pct = if early && project_id.is_none() { 100 } else { SENSITIVE_DOC_PCT };
            let body = self.maybe_sensitive(rng, pct, body, "file", &id, "content");
            let variants: [(&str, Option<&str>, &str); 6] = [
                ("meeting-notes.txt", Some("text/plain"), "text/plain"),
                ("Q3 résumé (final).txt", Some("text/plain"), "text/plain"),
                ("excerpt_from_previous_claude_message.txt", Some("txt"), "text/plain"),
                ("revenue by region.csv", Some("text/csv"), "text/csv"),
                ("runbook.md", Some("text/markdown"), "text/markdown"),
                ("service-config.json", Some("application/json"), "application/json"),
            ];
            let (f, m, c) = variants.choose(rng).copied().unwrap_or(variants[0]);
            (f.to_string(), m.map(str::to_string), c.to_string(), body.into_bytes())
        } else if roll < 85 {
            let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
            let n = rng.gen_range(200..2000);
            bytes.extend((0..n).map(|_| rng.gen::<u8>()));
            (
                format!("screenshot {}.png", created_at.format("%Y-%m-%d at %H.%M.%S")),
                Some("image/png".into()),
                "image/png".into(),
                bytes,
            )
        } else if roll < 97 {
            let mut bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
            let n = rng.gen_range(500..3000);
            bytes.extend((0..n).map(|_| rng.gen::<u8>()));
            bytes.extend_from_slice(b"\n%%EOF\n");
            ("signed-contract.pdf".into(), Some("application/pdf".into()), "application/pdf".into(), bytes)
        } else {
            let n = rng.gen_range(64..512);
            ("blob.bin".into(), None, "application/octet-stream".into(), (0..n).map(|_| rng.gen::<u8>()).collect())
        };
        self.files.insert(
            id.clone(),
            FileRecord {
                id: id.clone(),
                created_at,
                filename,
                mime_type: mime,
                content_type: ctype,
                content,
                message_ids: vec![],
                chat_ids: vec![],
                project_id: project_id.map(str::to_string),
                deleted: false,
            },
        );
        id
    }

    /// Append a user + assistant message pair to chat `chat_idx`.
    pub(crate) fn gen_message_pair(
        &mut self,
        rng: &mut ChaCha8Rng,
        chat_idx: usize,
        t_user: DateTime<Utc>,
        t_assistant: DateTime<Utc>,
    ) -> PairOut {
        let chat_id = self.chats[chat_idx].id.clone();
        let user_msg_id = ids::tagged_id(rng, "claude_chat_msg_");
        let user_uuid = ids::uuid(rng);
        // --- user message
        let mut prompt = text::pick(rng, text::USER_PROMPTS).to_string();
        if rng.gen_ratio(SENSITIVE_MSG_PCT, 100) {
            let s = self.plant_sentence(rng, "chat_message", &user_msg_id, "text");
            prompt = format!("{prompt} {s}");
        }
        if rng.gen_ratio(TRICKY_MSG_PCT, 100) {
            prompt = format!("{prompt} {}", secrets::tricky_sentence(rng));
        }
        let mut uploaded = Vec::new();
        let files = if rng.gen_ratio(12, 100) {
            let fid = self.gen_file(rng, t_user, None);
            if let Some(f) = self.files.get_mut(&fid) {
                f.message_ids.push(user_msg_id.clone());
                f.chat_ids.push(chat_id.clone());
            }
            uploaded.push(fid.clone());
            let refs: Vec<Value> = self.files.get(&fid).map(|f| vec![f.file_ref()]).unwrap_or_default();
            Value::Array(refs)
        } else {
            Value::Null
        };
        let mut user_wire = json!({
            "id": user_msg_id,
            "role": "user",
            "created_at": ts_z(t_user),
            "content": [text_block(&prompt, false)],
            "files": files,
            "generated_files": null,
            "artifacts": null,
        });
        if rng.gen_ratio(1, 100) {
            super::activities::add_future_field(&mut user_wire);
        }
        // --- assistant message
        let asst_id = ids::tagged_id(rng, "claude_chat_msg_");
        let asst_uuid = ids::uuid(rng);
        let mut blocks = Vec::new();
        if rng.gen_ratio(25, 100) {
            let tool_id = format!("toolu_01{}", ids::suffix(rng, 22));
            let (name, input, result, integ, mcp) = if rng.gen_bool(0.6) {
                let q = text::pick(rng, text::CHAT_TOPICS).to_lowercase();
                (
                    "web_search",
                    json!({"query": q}),
                    format!("1. {q} — overview (docs)\n2. {q} best practices (blog)\n3. Community thread about {q}"),
                    Value::Null,
                    Value::Null,
                )
            } else {
                let key = format!("OPS-{}", rng.gen_range(100..9999));
                (
                    "search_jira_issues",
                    json!({"jql": format!("key = {key}"), "max_results": 5}),
                    format!("{key}: Investigate intermittent 502s on checkout (status: In Progress)"),
                    json!("Atlassian"),
                    json!("https://mcp.atlassian.com/v1/sse"),
                )
            };
            let input_str = serde_json::to_string(&input).unwrap_or_default();
            blocks.push(json!({
                "type": "tool_use",
                "id": tool_id,
                "name": name,
                "input": input_str,
                "truncated": false,
                "integration_name": integ,
                "mcp_server_url": mcp,
            }));
            blocks.push(json!({
                "type": "tool_result",
                "tool_use_id": tool_id,
                "name": name,
                "is_error": rng.gen_ratio(1, 20),
                "content": [{"type": "text", "text": result}],
                "truncated": false,
                "integration_name": integ,
                "mcp_server_url": mcp,
            }));
        }
        let reply = text::pick(rng, text::ASSISTANT_REPLIES).to_string();
        blocks.push(text_block(&reply, rng.gen_ratio(8, 100)));
        let generated = if rng.gen_ratio(8, 100) {
            let gid = format!("claude_gen_file_01{}", ids::suffix(rng, 22));
            let csv = format!(
                "region,total\nEMEA,{}\nNA,{}\nAPAC,{}\n",
                rng.gen_range(1000..99999),
                rng.gen_range(1000..99999),
                rng.gen_range(1000..99999)
            );
            let g = GeneratedFileRecord {
                id: gid.clone(),
                chat_id: chat_id.clone(),
                created_at: t_assistant,
                filename: "summary.csv".into(),
                mime_type: "text/csv".into(),
                content: csv.into_bytes(),
                deleted: false,
            };
            let r = json!({
                "id": g.id,
                "filename": g.filename,
                "mime_type": g.mime_type,
                "size_bytes": g.content.len(),
                "md5": super::wire::md5_hex(&g.content),
            });
            self.generated_files.insert(gid, g);
            json!([r])
        } else {
            Value::Null
        };
        let artifacts = if rng.gen_ratio(10, 100) {
            let aid = ids::tagged_id(rng, "claude_artifact_");
            let vid = ids::tagged_id(rng, "claude_artifact_version_");
            let title = format!("{} draft", text::pick(rng, text::CHAT_TOPICS));
            let code = rng.gen_bool(0.3);
            let (atype, content) = if code {
                (
                    "application/vnd.ant.code",
                    "def total(rows):\n    return sum(r['amount'] for r in rows)\n".to_string(),
                )
            } else {
                ("text/markdown", format!("# {title}\n\n{reply}\n"))
            };
            let a = ArtifactRecord {
                id: aid.clone(),
                version_id: vid.clone(),
                chat_id: chat_id.clone(),
                title: title.clone(),
                artifact_type: atype.into(),
                created_at: t_assistant,
                content,
                deleted: false,
            };
            self.artifacts.insert(vid.clone(), a);
            json!([{"id": aid, "version_id": vid, "title": title, "artifact_type": atype}])
        } else {
            Value::Null
        };
        let asst_wire = json!({
            "id": asst_id,
            "role": "assistant",
            "created_at": ts_z(t_assistant),
            "content": blocks,
            "files": null,
            "generated_files": generated,
            "artifacts": artifacts,
        });
        let chat = &mut self.chats[chat_idx];
        chat.messages.push(MessageRecord {
            id: user_msg_id.clone(),
            uuid: user_uuid,
            created_at: t_user,
            wire: user_wire,
        });
        chat.messages.push(MessageRecord {
            id: asst_id.clone(),
            uuid: asst_uuid,
            created_at: t_assistant,
            wire: asst_wire,
        });
        PairOut { user_msg_id, assistant_msg_id: asst_id, uploaded_file_ids: uploaded }
    }

    /// Create a project document attached to `project_idx`; returns its id.
    pub(crate) fn gen_document(
        &mut self,
        rng: &mut ChaCha8Rng,
        project_idx: usize,
        created_at: DateTime<Utc>,
        force_sensitive: bool,
    ) -> String {
        let id = ids::tagged_id(rng, "claude_proj_doc_");
        let project_id = self.projects[project_idx].id.clone();
        let topic = text::pick(rng, text::CHAT_TOPICS);
        let mut content = format!(
            "{topic}\n\n{}\n\n{}\n",
            text::pick(rng, text::ASSISTANT_REPLIES),
            text::pick(rng, text::FILE_BODIES)
        );
        if force_sensitive || rng.gen_ratio(SENSITIVE_DOC_PCT, 100) {
            let s = self.plant_sentence(rng, "project_document", &id, "content");
            content.push_str(&format!("\nNote: {s}\n"));
        }
        if rng.gen_ratio(10, 100) {
            content.push_str(&format!("\n{}\n", secrets::tricky_sentence(rng)));
        }
        let user = self.projects[project_idx].wire.get("user").cloned().unwrap_or(Value::Null);
        let filename = format!("{}.md", text::file_slug(topic));
        self.documents.insert(
            id.clone(),
            DocumentRecord { id: id.clone(), project_id, created_at, filename, content, user, deleted: false },
        );
        self.projects[project_idx].doc_ids.push(id.clone());
        id
    }

    /// Append a sensitive sentence to a random user message (used to guarantee that every
    /// template appears at least once).
    pub(crate) fn plant_in_random_user_message(&mut self, rng: &mut ChaCha8Rng) -> bool {
        let candidates: Vec<(usize, usize)> = self
            .chats
            .iter()
            .enumerate()
            .filter(|(_, c)| c.deleted_at.is_none())
            .flat_map(|(ci, c)| {
                c.messages
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.wire.get("role").and_then(Value::as_str) == Some("user"))
                    .map(move |(mi, _)| (ci, mi))
            })
            .collect();
        let Some(&(ci, mi)) = candidates.choose(rng) else {
            return false;
        };
        let msg_id = self.chats[ci].messages[mi].id.clone();
        let sentence = self.plant_sentence(rng, "chat_message", &msg_id, "text");
        let wire = &mut self.chats[ci].messages[mi].wire;
        if let Some(block) = wire
            .get_mut("content")
            .and_then(Value::as_array_mut)
            .and_then(|b| b.first_mut())
            .and_then(Value::as_object_mut)
        {
            let old = block.get("text").and_then(Value::as_str).unwrap_or_default().to_string();
            block.insert("text".into(), json!(format!("{old} {sentence}")));
        }
        true
    }

    /// Description / instructions text for a project (may carry a planted secret).
    pub(crate) fn gen_project_prose(
        &mut self,
        rng: &mut ChaCha8Rng,
        project_id: &str,
        name: &str,
        force_sensitive: bool,
    ) -> (String, String) {
        let description =
            format!("Workspace for {}. {}", name.to_lowercase(), text::pick(rng, text::ASSISTANT_REPLIES));
        // every source kind must carry findings in a demo: the first projects' descriptions always do
        let force_description = force_sensitive && !self.planted.iter().any(|p| p.field == "description");
        let description = if force_description || rng.gen_ratio(SENSITIVE_DOC_PCT, 100) {
            let s = self.plant_sentence(rng, "project", project_id, "description");
            format!("{description} {s}")
        } else {
            description
        };
        let mut instructions = format!(
            "You are helping the {} team. Be concise, cite the attached documents, and flag open questions.",
            name
        );
        if force_sensitive || rng.gen_ratio(SENSITIVE_DOC_PCT, 100) {
            let s = self.plant_sentence(rng, "project", project_id, "instructions");
            instructions = format!("{instructions} {s}");
        }
        (description, instructions)
    }
}
