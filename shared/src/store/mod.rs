//! Where records and state go, behind small traits so the engine never names a backend:
//! [`ObjectSink`] (the lake: gzip NDJSON objects), [`StateStore`] (checkpoints, advanced only with a
//! condition on the previous version) and [`WorkQueue`] (jobs). `local` implements all three on a
//! directory whose layout mirrors the S3 lake: `<table>/dt=YYYY-MM-DD/<name>.ndjson.gz`.

pub mod layout;
pub mod lease;
pub mod local;
pub mod ndjson;
pub mod queue;

pub use layout::Table;
pub use lease::{FileLeases, Leases, LocalLeases, LockError, StoreLock};
pub use local::{LocalObjectSink, LocalStateStore};
pub use queue::{LocalQueue, QueueMessage, WorkQueue};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O failed at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("state {key} changed under us (expected version {expected:?}, found {found:?}); another worker holds this job — nothing was advanced")]
    Conflict { key: String, expected: Option<u64>, found: Option<u64> },
    #[error("state {key} is unreadable: {reason}; fix or remove the file to reset this stream")]
    Corrupt { key: String, reason: String },
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error("object {key} is missing")]
    Missing { key: String },
    #[error("state {key} is too large to store ({bytes} bytes, limit {limit}); this stream needs operator attention (see README: state size)")]
    TooLarge { key: String, bytes: usize, limit: usize },
}

impl StoreError {
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        StoreError::Io { path: path.as_ref().display().to_string(), source }
    }

    /// A conflict is retryable: another writer held the job (its commit won); a later run resumes
    /// from the committed checkpoint.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Io { .. } | StoreError::Backend(_) | StoreError::Conflict { .. })
    }
}

/// The lake. `put` is atomic and overwrites: a retried write of the same key replaces, never adds.
#[async_trait]
pub trait ObjectSink: Send + Sync {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError>;
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;
    /// Keys starting with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Copies `from` to `to` (atomic on `to`, overwriting). Backends with a server-side copy override it.
    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        match self.get(from).await? {
            Some(b) => self.put(to, b).await,
            None => Err(StoreError::Missing { key: from.to_string() }),
        }
    }
    /// Human description for summaries, e.g. the directory or `s3://bucket/prefix`.
    fn describe(&self) -> String;
}

/// A state document with the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub version: u64,
    pub value: Value,
}

/// Small JSON documents advanced with optimistic concurrency: `save` succeeds only if the stored
/// version is still `expected` (`None` = the key must not exist yet).
#[async_trait]
pub trait StateStore: Send + Sync {
    async fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError>;
    /// Returns the new version.
    async fn save(&self, key: &str, expected: Option<u64>, value: &Value) -> Result<u64, StoreError>;
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Removes a document (per-item marks of an item that is gone). Absent keys are no error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}
