//! Tables and names. Final object keys are fixed by a segment's manifest
//! ([`crate::streams::segment::final_key`]): `(table, dt, job, epoch, seq, part)`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Organizations,
    Users,
    Activities,
    Chats,
    ChatMessages,
    Projects,
    ProjectDocuments,
    DlpFindings,
    LocalSessions,
    LocalSessionMessages,
    RemoteSessions,
    RemoteSessionMessages,
    // Access Transparency log (streams/transparency_checkpoints.rs)
    TransparencyCheckpoints,
    TransparencyInclusions,
    TransparencyFindings,
    // Directory and configuration snapshots (streams/directory/)
    Roles,
    Groups,
    GroupMembers,
    OrgSettings,
    ProjectCollaborators,
    // Content objects (streams/artifacts.rs, streams/code_artifacts.rs)
    ChatArtifacts,
    GeneratedFiles,
    CodeArtifacts,
    CodeArtifactVersions,
}

impl Table {
    pub const ALL: [Table; 24] = [
        Table::Organizations,
        Table::Users,
        Table::Activities,
        Table::Chats,
        Table::ChatMessages,
        Table::Projects,
        Table::ProjectDocuments,
        Table::DlpFindings,
        Table::LocalSessions,
        Table::LocalSessionMessages,
        Table::RemoteSessions,
        Table::RemoteSessionMessages,
        Table::TransparencyCheckpoints,
        Table::TransparencyInclusions,
        Table::TransparencyFindings,
        Table::Roles,
        Table::Groups,
        Table::GroupMembers,
        Table::OrgSettings,
        Table::ProjectCollaborators,
        Table::ChatArtifacts,
        Table::GeneratedFiles,
        Table::CodeArtifacts,
        Table::CodeArtifactVersions,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Table::Organizations => "organizations",
            Table::Users => "users",
            Table::Activities => "activities",
            Table::Chats => "chats",
            Table::ChatMessages => "chat_messages",
            Table::Projects => "projects",
            Table::ProjectDocuments => "project_documents",
            Table::DlpFindings => "dlp_findings",
            Table::LocalSessions => "local_sessions",
            Table::LocalSessionMessages => "local_session_messages",
            Table::RemoteSessions => "remote_sessions",
            Table::RemoteSessionMessages => "remote_session_messages",
            Table::TransparencyCheckpoints => "transparency_checkpoints",
            Table::TransparencyInclusions => "transparency_inclusions",
            Table::TransparencyFindings => "transparency_findings",
            Table::Roles => "roles",
            Table::Groups => "groups",
            Table::GroupMembers => "group_members",
            Table::OrgSettings => "org_settings",
            Table::ProjectCollaborators => "project_collaborators",
            Table::ChatArtifacts => "chat_artifacts",
            Table::GeneratedFiles => "generated_files",
            Table::CodeArtifacts => "code_artifacts",
            Table::CodeArtifactVersions => "code_artifact_versions",
        }
    }

    pub fn parse(s: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Makes a job key safe as part of an object name: `users/9101…` → `users-9101…`.
pub fn slug(job: &str) -> String {
    job.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}
