//! The Compliance API: client, errors, retry policy, pagination families and typed models.

pub mod client;
pub mod error;
pub mod key;
pub mod models;
pub mod paginate;
pub mod retry;

pub use client::{ApiClient, CallStats, ClientConfig, JsonResponse, DEFAULT_BASE_URL};
pub use error::ApiError;
pub use key::{ApiKey, KeyKind};
pub use paginate::{Family, Page, Paginator};

/// Endpoint paths, relative to the base URL.
pub mod paths {
    pub const ORGANIZATIONS: &str = "/v1/compliance/organizations";
    pub const ACTIVITIES: &str = "/v1/compliance/activities";
    pub const CHATS: &str = "/v1/compliance/apps/chats";
    pub const PROJECTS: &str = "/v1/compliance/apps/projects";
    pub const LOCAL_SESSIONS: &str = "/v1/compliance/apps/sessions/local";
    pub const REMOTE_SESSIONS: &str = "/v1/compliance/apps/sessions/remote";

    pub fn users(org_uuid: &str) -> String {
        format!("/v1/compliance/organizations/{}/users", seg(org_uuid))
    }
    pub fn chat_messages(chat_id: &str) -> String {
        format!("/v1/compliance/apps/chats/{}/messages", seg(chat_id))
    }
    pub fn project(project_id: &str) -> String {
        format!("/v1/compliance/apps/projects/{}", seg(project_id))
    }
    pub fn project_attachments(project_id: &str) -> String {
        format!("/v1/compliance/apps/projects/{}/attachments", seg(project_id))
    }
    pub fn project_document(doc_id: &str) -> String {
        format!("/v1/compliance/apps/projects/documents/{}", seg(doc_id))
    }
    pub fn local_session_messages(session_id: &str) -> String {
        format!("/v1/compliance/apps/sessions/local/{}/messages", seg(session_id))
    }
    pub fn remote_session_messages(session_id: &str) -> String {
        format!("/v1/compliance/apps/sessions/remote/{}/messages", seg(session_id))
    }
    pub fn file_content(file_id: &str) -> String {
        format!("/v1/compliance/apps/chats/files/{}/content", seg(file_id))
    }
    pub fn artifact(version_id: &str) -> String {
        format!("/v1/compliance/apps/artifacts/{}", seg(version_id))
    }
    pub fn artifact_content(version_id: &str) -> String {
        format!("/v1/compliance/apps/artifacts/{}/content", seg(version_id))
    }
    pub fn generated_file(file_id: &str) -> String {
        format!("/v1/compliance/apps/chats/generated-files/{}", seg(file_id))
    }
    pub fn generated_file_content(file_id: &str) -> String {
        format!("/v1/compliance/apps/chats/generated-files/{}/content", seg(file_id))
    }
    pub const CODE_ARTIFACTS: &str = "/v1/compliance/apps/code/artifacts";
    pub fn code_artifact_version(artifact_id: &str, version_id: &str) -> String {
        format!("/v1/compliance/apps/code/artifacts/{}/versions/{}", seg(artifact_id), seg(version_id))
    }

    /// Ids are opaque; percent-encode anything that is not URL-safe so an odd id cannot change the path.
    fn seg(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
    }
}
