//! Wire-JSON accessors. The fake server builds its responses from these, so a test comparing
//! what it synced against these values compares against exactly what was served.

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::ids::ts_z;
use super::{FileRecord, Tenant};

/// Lowercase hex MD5.
pub fn md5_hex(bytes: &[u8]) -> String {
    let d = Md5::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl FileRecord {
    /// FileRef as embedded in a chat message's `files`.
    pub fn file_ref(&self) -> Value {
        json!({
            "id": self.id,
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size_bytes": self.content.len(),
            "md5": md5_hex(&self.content),
            "created_at": ts_z(self.created_at),
        })
    }
}

impl Tenant {
    /// `GET /organizations` record.
    pub fn organization_json(&self, uuid: &str) -> Option<Value> {
        self.org(uuid).map(|o| o.wire.clone())
    }

    /// `GET /organizations/{org}/users` record (current members only).
    pub fn user_json(&self, org_uuid: &str, user_id: &str) -> Option<Value> {
        self.org(org_uuid)?.members.iter().find(|m| m.user_id == user_id).map(|m| m.wire.clone())
    }

    /// Activity record (visible or not — check [`super::ActivityRecord::visible`]).
    pub fn activity_json(&self, id: &str) -> Option<Value> {
        self.activities.iter().find(|a| a.id == id).map(|a| a.wire.clone())
    }

    /// Chat object as in `GET /apps/chats`.
    pub fn chat_json(&self, id: &str) -> Option<Value> {
        self.chat(id).map(|c| c.wire.clone())
    }

    /// All messages of a chat, in order.
    pub fn chat_messages_json(&self, chat_id: &str) -> Option<Vec<Value>> {
        self.chat(chat_id).map(|c| c.messages.iter().map(|m| m.wire.clone()).collect())
    }

    /// One message by id.
    pub fn message_json(&self, msg_id: &str) -> Option<Value> {
        self.chats.iter().flat_map(|c| c.messages.iter()).find(|m| m.id == msg_id).map(|m| m.wire.clone())
    }

    /// Chat object + all `chat_messages` (no cursor fields): the unpaginated messages response
    /// minus `has_more`/`first_id`/`last_id`.
    pub fn chat_messages_response(&self, chat_id: &str) -> Option<Value> {
        let c = self.chat(chat_id)?;
        let mut obj = c.wire.as_object().cloned().unwrap_or_default();
        obj.insert("chat_messages".into(), Value::Array(c.messages.iter().map(|m| m.wire.clone()).collect()));
        Some(Value::Object(obj))
    }

    /// `GET /apps/chats/files/{id}` metadata (None once deleted).
    pub fn file_json(&self, id: &str) -> Option<Value> {
        let f = self.files.get(id).filter(|f| !f.deleted)?;
        Some(json!({
            "id": f.id,
            "filename": f.filename,
            "mime_type": f.mime_type,
            "size_bytes": f.content.len(),
            "md5": md5_hex(&f.content),
            "created_at": ts_z(f.created_at),
            "message_ids": f.message_ids,
            "claude_chat_ids": f.chat_ids,
        }))
    }

    /// Raw bytes served by `/content` (None once deleted).
    pub fn file_content(&self, id: &str) -> Option<&[u8]> {
        self.files.get(id).filter(|f| !f.deleted).map(|f| f.content.as_slice())
    }

    /// `GET /apps/chats/generated-files/{id}` metadata.
    pub fn generated_file_json(&self, id: &str) -> Option<Value> {
        let g = self.generated_files.get(id).filter(|g| !g.deleted)?;
        Some(json!({
            "id": g.id,
            "claude_chat_id": g.chat_id,
            "created_at": ts_z(g.created_at),
            "filename": g.filename,
            "md5": md5_hex(&g.content),
            "mime_type": g.mime_type,
            "size_bytes": g.content.len(),
        }))
    }

    /// `GET /apps/artifacts/{version_id}` metadata.
    pub fn artifact_json(&self, version_id: &str) -> Option<Value> {
        let a = self.artifacts.get(version_id).filter(|a| !a.deleted)?;
        Some(json!({
            "id": a.id,
            "version_id": a.version_id,
            "claude_chat_id": a.chat_id,
            "title": a.title,
            "artifact_type": a.artifact_type,
            "created_at": ts_z(a.created_at),
            "md5": md5_hex(a.content.as_bytes()),
            "size_bytes": a.content.len(),
        }))
    }

    /// `GET /apps/artifacts/{version_id}/content` JSON.
    pub fn artifact_content_json(&self, version_id: &str) -> Option<Value> {
        let a = self.artifacts.get(version_id).filter(|a| !a.deleted)?;
        Some(json!({
            "id": a.id,
            "version_id": a.version_id,
            "title": a.title,
            "artifact_type": a.artifact_type,
            "content": a.content,
        }))
    }

    /// Project as in `GET /apps/projects`.
    pub fn project_json(&self, id: &str) -> Option<Value> {
        self.project(id).map(|p| p.wire.clone())
    }

    /// Project as in `GET /apps/projects/{id}` (list form + description, instructions, counts).
    pub fn project_detail_json(&self, id: &str) -> Option<Value> {
        let p = self.project(id)?;
        let mut obj: Map<String, Value> = p.wire.as_object().cloned().unwrap_or_default();
        let chats_count =
            self.chats.iter().filter(|c| c.project_id.as_deref() == Some(id) && c.deleted_at.is_none()).count();
        let attachments = self.project_attachments_json(id).unwrap_or_default().len();
        obj.insert("description".into(), json!(p.description));
        obj.insert("instructions".into(), json!(p.instructions));
        obj.insert("chats_count".into(), json!(chats_count));
        obj.insert("attachments_count".into(), json!(attachments));
        Some(Value::Object(obj))
    }

    /// `GET /apps/projects/{id}/attachments` items, sorted by `created_at` then id.
    pub fn project_attachments_json(&self, id: &str) -> Option<Vec<Value>> {
        let p = self.project(id)?;
        let mut items: Vec<(chrono::DateTime<chrono::Utc>, String, Value)> = Vec::new();
        for fid in &p.file_ids {
            if let Some(f) = self.files.get(fid).filter(|f| !f.deleted) {
                items.push((
                    f.created_at,
                    f.id.clone(),
                    json!({
                        "type": "project_file",
                        "id": f.id,
                        "created_at": ts_z(f.created_at),
                        "filename": f.filename,
                        "mime_type": f.mime_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
                        "md5": md5_hex(&f.content),
                        "size_bytes": f.content.len(),
                    }),
                ));
            }
        }
        for did in &p.doc_ids {
            if let Some(d) = self.documents.get(did).filter(|d| !d.deleted) {
                items.push((
                    d.created_at,
                    d.id.clone(),
                    json!({
                        "type": "project_doc",
                        "id": d.id,
                        "created_at": ts_z(d.created_at),
                        "filename": d.filename,
                        "mime_type": "text/plain",
                        "updated_at": null,
                    }),
                ));
            }
        }
        items.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Some(items.into_iter().map(|(_, _, v)| v).collect())
    }

    /// `GET /apps/projects/{id}/collaborators` items (sorted by `granted_at`): the creator as
    /// `owner`, plus org-wide `viewer` access for non-private projects.
    pub fn project_collaborators_json(&self, id: &str) -> Option<Vec<Value>> {
        let p = self.project(id)?;
        let mut out = vec![json!({
            "type": "user",
            "granted_at": ts_z(p.created_at),
            "role": "owner",
            "user_id": p.user_id,
        })];
        if p.wire.get("is_private").and_then(Value::as_bool) == Some(false) {
            out.push(json!({
                "type": "organization",
                "granted_at": ts_z(p.created_at + chrono::Duration::seconds(1)),
                "role": "viewer",
                "organization_uuid": p.organization_uuid,
            }));
        }
        Some(out)
    }

    /// `GET /apps/projects/documents/{id}`.
    pub fn document_json(&self, id: &str) -> Option<Value> {
        let d = self.documents.get(id).filter(|d| !d.deleted)?;
        Some(json!({
            "id": d.id,
            "content": d.content,
            "created_at": ts_z(d.created_at),
            "filename": d.filename,
            "user": d.user,
        }))
    }

    /// `GET /apps/projects/documents/{id}/metadata`.
    pub fn document_metadata_json(&self, id: &str) -> Option<Value> {
        let d = self.documents.get(id).filter(|d| !d.deleted)?;
        Some(json!({
            "id": d.id,
            "claude_project_id": d.project_id,
            "created_at": ts_z(d.created_at),
            "filename": d.filename,
            "md5": md5_hex(d.content.as_bytes()),
            "mime_type": "text/plain",
            "size_bytes": d.content.len(),
            "user": d.user,
        }))
    }
}
