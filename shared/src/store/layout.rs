//! Object naming. Names are deterministic from (table, partition date, job, batch, part) so a
//! retried batch overwrites its own objects instead of adding copies.

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

/// The prefix shared by every part of one batch of one job in one table.
pub fn batch_prefix(table: Table, dt: &str, job: &str, batch: &str) -> String {
    format!("{}/dt={}/{}-{}-", table.as_str(), dt, slug(job), batch)
}

/// `<table>/dt=<dt>/<job>-<batch>-<part>.ndjson.gz`
pub fn object_key(table: Table, dt: &str, job: &str, batch: &str, part: u32) -> String {
    format!("{}{:05}.ndjson.gz", batch_prefix(table, dt, job, batch), part)
}

/// The part number of a key made by [`object_key`].
pub fn part_of(key: &str) -> Option<u32> {
    let stem = key.strip_suffix(".ndjson.gz")?;
    stem.rsplit('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_parse_back() {
        let k = object_key(Table::Users, "2026-11-23", "users/91012d09-e48b", "b1a2", 3);
        assert_eq!(k, "users/dt=2026-11-23/users-91012d09-e48b-b1a2-00003.ndjson.gz");
        assert_eq!(part_of(&k), Some(3));
        assert!(k.starts_with(&batch_prefix(Table::Users, "2026-11-23", "users/91012d09-e48b", "b1a2")));
    }
}
