//! Typed views of the API's objects. Every struct keeps what it does not name in `extra`, every
//! enum has a fallback, so nothing the API sends is lost and new fields or types pass through.
//! The sync path writes the API's JSON verbatim; these types are for logic (ids, timestamps,
//! user text for DLP) and for users of the library.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

type Extra = Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub uuid: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub full_name: Option<String>,
    /// Documented as `email`; one client saw `email_address`. Both are accepted.
    #[serde(default, alias = "email_address")]
    pub email: Option<String>,
    /// Open enum: `admin`, `billing`, `claude_code_user`, `developer`, `managed`,
    /// `membership_admin`, `owner`, `primary_owner`, `user`, and whatever comes next.
    #[serde(default)]
    pub organization_role: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Who did it. Tagged on `type`; unknown actor types are kept whole in `Unknown`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    UserActor {
        #[serde(default)]
        email_address: Option<String>,
        #[serde(default)]
        user_id: Option<String>,
        #[serde(default)]
        ip_address: Option<String>,
        #[serde(default)]
        user_agent: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    ApiActor {
        #[serde(default)]
        api_key_id: Option<String>,
        #[serde(default)]
        ip_address: Option<String>,
        #[serde(default)]
        user_agent: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    AdminApiKeyActor {
        #[serde(default)]
        admin_api_key_id: Option<String>,
        #[serde(default)]
        ip_address: Option<String>,
        #[serde(default)]
        user_agent: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    UnauthenticatedUserActor {
        #[serde(default)]
        ip_address: Option<String>,
        #[serde(default)]
        user_agent: Option<String>,
        #[serde(default)]
        unauthenticated_email_address: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    AnthropicActor {
        #[serde(flatten)]
        extra: Extra,
    },
    SystemActor {
        #[serde(default)]
        service: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    ServiceAccountActor {
        #[serde(default)]
        service_account_id: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    ScimDirectorySyncActor {
        #[serde(default)]
        directory_id: Option<String>,
        #[serde(default)]
        idp_connection_type: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    FederatedIdentityActor {
        #[serde(flatten)]
        extra: Extra,
    },
    FederatedActor {
        #[serde(flatten)]
        extra: Extra,
    },
    AttestedDeviceActor {
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(untagged)]
    Unknown(Value),
}

impl Actor {
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Actor::UserActor { user_id, .. } => user_id.as_deref(),
            _ => None,
        }
    }
    pub fn ip_address(&self) -> Option<&str> {
        match self {
            Actor::UserActor { ip_address, .. }
            | Actor::ApiActor { ip_address, .. }
            | Actor::AdminApiKeyActor { ip_address, .. }
            | Actor::UnauthenticatedUserActor { ip_address, .. } => ip_address.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: String,
    pub created_at: Timestamp,
    /// Hundreds of values and growing every month: a string, never an enum.
    #[serde(rename = "type")]
    pub activity_type: String,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub organization_uuid: Option<String>,
    #[serde(default)]
    pub actor: Option<Actor>,
    /// Type-specific fields, flattened at top level by the API.
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chat {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub deleted_at: Option<Timestamp>,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub organization_uuid: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub user: Option<UserRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        #[serde(default)]
        text: String,
        #[serde(flatten)]
        extra: Extra,
    },
    ToolUse {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        name: Option<String>,
        /// A JSON-encoded string (invalid JSON when truncated).
        #[serde(default)]
        input: Option<Value>,
        #[serde(flatten)]
        extra: Extra,
    },
    ToolResult {
        #[serde(default)]
        tool_use_id: Option<String>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        is_error: Option<bool>,
        #[serde(default)]
        content: Option<Vec<Value>>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(untagged)]
    Other(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub id: String,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub md5: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub id: String,
    #[serde(default)]
    pub version_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// `null` is accepted and read as empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub content: Vec<ContentBlock>,
    #[serde(default)]
    pub files: Option<Vec<FileRef>>,
    #[serde(default)]
    pub generated_files: Option<Vec<FileRef>>,
    #[serde(default)]
    pub artifacts: Option<Vec<ArtifactRef>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatMessage {
    /// The text a user typed: every `text` block of a user turn, joined by blank lines.
    pub fn user_text(&self) -> Option<String> {
        if self.role.as_deref() != Some("user") {
            return None;
        }
        let parts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if parts.is_empty() {
            None
        } else {
            Some(parts.join("\n\n"))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub deleted_at: Option<Timestamp>,
    #[serde(default)]
    pub is_private: Option<bool>,
    #[serde(default)]
    pub organization_uuid: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub user: Option<UserRef>,
    /// Detail endpoint only.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub chats_count: Option<u64>,
    #[serde(default)]
    pub attachments_count: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An item of `/apps/projects/{id}/attachments`, discriminated by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProjectAttachment {
    ProjectFile {
        id: String,
        #[serde(default)]
        filename: Option<String>,
        #[serde(default)]
        mime_type: Option<String>,
        #[serde(default)]
        size_bytes: Option<u64>,
        #[serde(default)]
        md5: Option<String>,
        #[serde(default)]
        created_at: Option<Timestamp>,
        #[serde(flatten)]
        extra: Extra,
    },
    ProjectDoc {
        id: String,
        #[serde(default)]
        filename: Option<String>,
        #[serde(default)]
        mime_type: Option<String>,
        #[serde(default)]
        created_at: Option<Timestamp>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(untagged)]
    Other(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectDocument {
    pub id: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub user: Option<UserRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn activity_keeps_unknown_fields_and_actor_types() {
        let v = json!({
            "id": "activity_01", "created_at": "2026-09-21T04:02:12.609122Z", "type": "brand_new_type_2027",
            "organization_id": null, "organization_uuid": null,
            "actor": {"type": "quantum_actor", "qubits": 7},
            "future": {"deep": [1, 2.5, "x"]}
        });
        let a: Activity = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(a.activity_type, "brand_new_type_2027");
        assert!(matches!(a.actor, Some(Actor::Unknown(_))));
        assert_eq!(serde_json::to_value(&a).unwrap(), v);
    }

    #[test]
    fn known_actor_round_trips() {
        let v = json!({"type": "user_actor", "email_address": "a@example.com", "user_id": "user_01", "ip_address": "2001:db8::1", "user_agent": "ua", "new_field": true});
        let a: Actor = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(a.user_id(), Some("user_01"));
        assert_eq!(serde_json::to_value(&a).unwrap(), v);
    }

    #[test]
    fn message_blocks_and_nulls() {
        let v = json!({
            "id": "claude_chat_msg_01", "role": "user", "created_at": "2026-04-10T08:09:10.000000Z",
            "content": [
                {"type": "text", "text": "hello", "truncated": false},
                {"type": "tool_use", "id": null, "name": "artifacts", "input": "{\"a\":1}", "truncated": false},
                {"type": "tool_result", "tool_use_id": null, "name": "x", "is_error": false, "content": [{"type": "text", "text": "r"}]},
                {"type": "hologram", "data": 1}
            ],
            "files": null, "generated_files": null, "artifacts": null
        });
        let m: ChatMessage = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(m.content.len(), 4);
        assert!(matches!(m.content[3], ContentBlock::Other(_)));
        assert_eq!(m.user_text().as_deref(), Some("hello"));
        assert_eq!(serde_json::to_value(&m).unwrap(), v);
        let empty: ChatMessage = serde_json::from_value(json!({"id": "m", "role": "user", "content": null})).unwrap();
        assert!(empty.content.is_empty());
    }

    #[test]
    fn users_accept_either_email_field() {
        let u: User = serde_json::from_value(
            json!({"id": "user_1", "email_address": "x@example.com", "organization_role": "wizard"}),
        )
        .unwrap();
        assert_eq!(u.email.as_deref(), Some("x@example.com"));
        assert_eq!(u.organization_role.as_deref(), Some("wizard"));
    }

    #[test]
    fn attachments_discriminated() {
        let a: ProjectAttachment = serde_json::from_value(json!({"type": "project_doc", "id": "claude_proj_doc_1", "filename": "a.txt", "mime_type": "text/plain", "updated_at": null})).unwrap();
        assert!(matches!(a, ProjectAttachment::ProjectDoc { .. }));
        let b: ProjectAttachment = serde_json::from_value(json!({"type": "project_link", "url": "x"})).unwrap();
        assert!(matches!(b, ProjectAttachment::Other(_)));
    }
}
