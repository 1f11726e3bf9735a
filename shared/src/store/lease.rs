//! Job leases: at most one worker runs a job (one stream position) at a time. A lease expires, so
//! a crashed worker's job is picked up again; only the owner renews or releases it.

use super::StoreError;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[async_trait]
pub trait Leases: Send + Sync {
    /// `true` if `owner` now holds `key` for `ttl` (free, expired, or already its own).
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError>;
    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError>;
}

/// In-process leases for the embedded default.
#[derive(Debug, Default)]
pub struct LocalLeases {
    held: Mutex<HashMap<String, (String, Instant)>>,
}

#[async_trait]
impl Leases for LocalLeases {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut g = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match g.get(key) {
            Some((o, until)) if o != owner && *until > now => Ok(false),
            _ => {
                g.insert(key.to_string(), (owner.to_string(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut g = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if g.get(key).is_some_and(|(o, _)| o == owner) {
            g.remove(key);
        }
        Ok(())
    }
}

/// Leases on a store directory that exclude other *processes*: `_state/.leases/<job>.json` holds
/// owner, pid and expiry, read and written under an exclusive `flock`. A lease whose process is
/// gone (same host) or whose expiry passed is free.
#[derive(Debug)]
pub struct FileLeases {
    dir: std::path::PathBuf,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LeaseDoc {
    owner: String,
    pid: u32,
    expires_at_ms: i64,
}

impl FileLeases {
    pub fn new(store_root: &std::path::Path) -> Result<Self, StoreError> {
        let dir = store_root.join("_state").join(".leases");
        super::local::create_private_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        Ok(FileLeases { dir })
    }

    fn path(&self, key: &str) -> std::path::PathBuf {
        self.dir.join(format!("{}.json", super::layout::slug(key)))
    }

    fn locked<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let lock_path = self.dir.join(".lock");
        let lock = private_open(&lock_path)?;
        lock.lock().map_err(|e| StoreError::io(&lock_path, e))?;
        let out = f();
        let _ = lock.unlock();
        out
    }
}

/// Opens (creating 0600 if missing) a lock file for reading and writing, never truncating it.
fn private_open(path: &std::path::Path) -> Result<std::fs::File, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::io(path, e))
}

fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[async_trait]
impl Leases for FileLeases {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let path = self.path(key);
        self.locked(|| {
            let now = chrono::Utc::now().timestamp_millis();
            if let Ok(raw) = std::fs::read(&path) {
                if let Ok(d) = serde_json::from_slice::<LeaseDoc>(&raw) {
                    if d.owner != owner && d.expires_at_ms > now && process_alive(d.pid) {
                        return Ok(false);
                    }
                }
            }
            let doc = LeaseDoc {
                owner: owner.to_string(),
                pid: std::process::id(),
                expires_at_ms: now + ttl.as_millis() as i64,
            };
            let body = serde_json::to_vec(&doc).map_err(|e| StoreError::Backend(e.to_string()))?;
            let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
            std::fs::write(&tmp, body)
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| StoreError::io(&path, e))?;
            Ok(true)
        })
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let path = self.path(key);
        self.locked(|| {
            if let Ok(raw) = std::fs::read(&path) {
                if serde_json::from_slice::<LeaseDoc>(&raw).is_ok_and(|d| d.owner == owner) {
                    std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                }
            }
            Ok(())
        })
    }
}

/// The store lock of a local `sync`: one syncing process per store. Held (flock) for the life of
/// the value; the file names the holder so a second `sync` can say who it waits for.
#[derive(Debug)]
pub struct StoreLock {
    _file: std::fs::File,
}

/// Why a store lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("store {store} is being synced by {holder}; wait for it to finish or pass --wait")]
    Held { store: String, holder: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StoreLock {
    /// Takes the lock, waiting for the holder when `wait`, else failing at once naming it.
    pub fn acquire(store_root: &std::path::Path, wait: bool) -> Result<StoreLock, LockError> {
        use std::io::{Read, Seek, Write};
        let dir = store_root.join("_state");
        super::local::create_private_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let path = dir.join(".sync.lock");
        let mut f = private_open(&path)?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) if !wait => {
                let mut holder = String::new();
                let _ = f.read_to_string(&mut holder);
                let holder =
                    if holder.trim().is_empty() { "another process".to_string() } else { holder.trim().to_string() };
                return Err(LockError::Held { store: store_root.display().to_string(), holder });
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                tracing::info!(store = %store_root.display(), "waiting for the sync holding this store");
                f.lock().map_err(|e| StoreError::io(&path, e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(&path, e).into()),
        }
        let me = format!("pid {} since {}", std::process::id(), crate::time::Timestamp::now());
        let _ = f.set_len(0).and_then(|_| f.rewind()).and_then(|_| f.write_all(me.as_bytes())).and_then(|_| f.flush());
        Ok(StoreLock { _file: f })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exclusive_until_expiry() {
        let l = LocalLeases::default();
        assert!(l.acquire("k", "a", Duration::from_millis(50)).await.unwrap());
        assert!(!l.acquire("k", "b", Duration::from_secs(1)).await.unwrap());
        assert!(l.acquire("k", "a", Duration::from_secs(1)).await.unwrap(), "owner renews");
        l.release("k", "b").await.unwrap();
        assert!(!l.acquire("k", "b", Duration::from_secs(1)).await.unwrap(), "only the owner releases");
        l.release("k", "a").await.unwrap();
        assert!(l.acquire("k", "b", Duration::from_millis(10)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(l.acquire("k", "c", Duration::from_secs(1)).await.unwrap(), "expired lease taken over");
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[tokio::test]
    async fn file_leases_exclude_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let a = FileLeases::new(dir.path()).unwrap();
        let b = FileLeases::new(dir.path()).unwrap();
        assert!(a.acquire("chats", "w1", Duration::from_millis(80)).await.unwrap());
        assert!(!b.acquire("chats", "w2", Duration::from_secs(1)).await.unwrap(), "held by w1");
        assert!(b.acquire("activities", "w2", Duration::from_secs(1)).await.unwrap(), "other jobs are free");
        b.release("chats", "w2").await.unwrap();
        assert!(!b.acquire("chats", "w2", Duration::from_secs(1)).await.unwrap(), "only the owner releases");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(b.acquire("chats", "w2", Duration::from_secs(1)).await.unwrap(), "expired lease taken over");
    }

    #[test]
    fn store_lock_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = StoreLock::acquire(dir.path(), false).unwrap();
        let err = StoreLock::acquire(dir.path(), false).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())) && err.contains("since"), "{err}");
        drop(held);
        assert!(StoreLock::acquire(dir.path(), false).is_ok());
    }
}
