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
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::Organizations,
        Table::Users,
        Table::Activities,
        Table::Chats,
        Table::ChatMessages,
        Table::Projects,
        Table::ProjectDocuments,
        Table::DlpFindings,
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
