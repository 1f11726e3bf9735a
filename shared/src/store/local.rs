//! The embedded default: a directory that mirrors the S3 lake, with state under `_state/`.
//! Every write goes to a temporary file that is fsynced and renamed into place, so a crash leaves
//! either the old or the new content, never half of one. Conditional state saves hold a lock file
//! so two processes on one store cannot both advance a checkpoint.
//!
//! Least-readable by construction: every file is created 0600 and every directory 0700, whatever
//! the umask (the mode is set explicitly after creation), and opening a store tightens its root and
//! `_state/` to 0700 — the lake holds every chat of the company.

use super::{ObjectSink, StateStore, StoreError, Versioned};
use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{json, Value};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const STATE_DIR: &str = "_state";

/// Mode of every file the store writes (owner read/write only).
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory the store creates (owner only).
pub const DIR_MODE: u32 = 0o700;

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// `create_dir_all` where every directory it creates is 0700 regardless of the umask; existing
/// directories are left alone (see [`tighten`] for the store's own root).
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir_all(parent)?;
    }
    let mut b = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    match b.create(dir) {
        // the umask may have removed bits; set the mode explicitly
        Ok(()) => set_mode(dir, DIR_MODE),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `path` (a new file) 0600 whatever the umask.
pub fn create_private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(FILE_MODE);
    }
    let f = o.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(f)
}

/// Makes an existing store directory owner-only (a store created by an older version, or a
/// directory the operator made with the usual 0755). Failure (not our directory) is logged, not fatal.
fn tighten(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = fs::metadata(dir) {
            if m.permissions().mode() & 0o077 != 0 {
                match set_mode(dir, DIR_MODE) {
                    Ok(()) => tracing::info!(dir = %dir.display(), "store directory made owner-only (0700)"),
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "could not make the store directory owner-only")
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().ok_or_else(|| StoreError::Backend(format!("no parent for {}", path.display())))?;
    create_private_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("object");
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let res = (|| {
        let mut f = create_private_file(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // make the rename itself durable
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    res.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        StoreError::io(path, e)
    })
}

/// Rejects keys that could escape the store directory.
fn safe_rel(key: &str) -> Result<PathBuf, StoreError> {
    let p = Path::new(key);
    if key.is_empty() || p.is_absolute() || p.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        return Err(StoreError::Backend(format!("refusing unsafe key {key:?}")));
    }
    Ok(p.to_path_buf())
}

#[derive(Debug, Clone)]
pub struct LocalObjectSink {
    root: PathBuf,
}

impl LocalObjectSink {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        create_private_dir_all(&root).map_err(|e| StoreError::io(&root, e))?;
        tighten(&root);
        Ok(LocalObjectSink { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in rd {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || (dir == root && name == STATE_DIR) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            walk(&path, root, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectSink for LocalObjectSink {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        let path = self.root.join(safe_rel(key)?);
        tokio::task::spawn_blocking(move || write_atomic(&path, &body))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let path = self.root.join(safe_rel(key)?);
        match fs::read(&path) {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // Walk only the deepest existing directory of the prefix.
        let dir_part = prefix.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let start = if dir_part.is_empty() { self.root.clone() } else { self.root.join(safe_rel(dir_part)?) };
        let mut out = Vec::new();
        walk(&start, &self.root, &mut out).map_err(|e| StoreError::io(&start, e))?;
        out.retain(|k| k.starts_with(prefix));
        out.sort();
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.root.join(safe_rel(key)?);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// State documents as `_state/<key>.json` = `{"version": n, "value": …}`.
#[derive(Debug, Clone)]
pub struct LocalStateStore {
    dir: PathBuf,
    lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl LocalStateStore {
    pub fn new(store_root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = store_root.as_ref().join(STATE_DIR);
        create_private_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        tighten(store_root.as_ref());
        tighten(&dir);
        Ok(LocalStateStore { dir, lock: Default::default() })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        Ok(self.dir.join(safe_rel(&format!("{key}.json"))?))
    }

    fn read(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let path = self.path(key)?;
        let raw = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let doc: Value =
            serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt { key: key.into(), reason: e.to_string() })?;
        let version = doc
            .get("version")
            .and_then(Value::as_u64)
            .ok_or_else(|| StoreError::Corrupt { key: key.into(), reason: "no version".into() })?;
        Ok(Some(Versioned { version, value: doc.get("value").cloned().unwrap_or(Value::Null) }))
    }
}

#[async_trait]
impl StateStore for LocalStateStore {
    async fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.read(key)
    }

    async fn save(&self, key: &str, expected: Option<u64>, value: &Value) -> Result<u64, StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        // Cross-process exclusion for the read-compare-write.
        let lock_path = self.dir.join(".lock");
        let lock_file = match create_private_file(&lock_path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                fs::OpenOptions::new().write(true).open(&lock_path)
            }
            r => r,
        }
        .map_err(|e| StoreError::io(&lock_path, e))?;
        lock_file.lock().map_err(|e| StoreError::io(&lock_path, e))?;
        let current = self.read(key)?.map(|v| v.version);
        if current != expected {
            return Err(StoreError::Conflict { key: key.into(), expected, found: current });
        }
        let next = current.unwrap_or(0) + 1;
        let doc = json!({"version": next, "value": value});
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| StoreError::Backend(e.to_string()))?;
        let res = write_atomic(&self.path(key)?, &bytes);
        let _ = lock_file.unlock();
        res.map(|_| next)
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        walk(&self.dir, &self.dir, &mut out).map_err(|e| StoreError::io(&self.dir, e))?;
        Ok(out
            .into_iter()
            .filter_map(|k| k.strip_suffix(".json").map(str::to_string))
            .filter(|k| k.starts_with(prefix))
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conditional_saves() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStateStore::new(dir.path()).unwrap();
        assert_eq!(s.save("a/b", None, &json!({"x": 1})).await.unwrap(), 1);
        assert!(matches!(s.save("a/b", None, &json!({})).await, Err(StoreError::Conflict { .. })));
        assert_eq!(s.save("a/b", Some(1), &json!({"x": 2})).await.unwrap(), 2);
        assert!(matches!(s.save("a/b", Some(1), &json!({})).await, Err(StoreError::Conflict { .. })));
        assert_eq!(s.load("a/b").await.unwrap().unwrap().value, json!({"x": 2}));
        assert_eq!(s.keys("a/").await.unwrap(), vec!["a/b".to_string()]);
    }

    #[tokio::test]
    async fn objects_overwrite_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalObjectSink::new(dir.path()).unwrap();
        s.put("t/dt=2026-01-01/a-00000.ndjson.gz", Bytes::from_static(b"1")).await.unwrap();
        s.put("t/dt=2026-01-01/a-00000.ndjson.gz", Bytes::from_static(b"2")).await.unwrap();
        s.put("t/dt=2026-01-01/a-00001.ndjson.gz", Bytes::from_static(b"3")).await.unwrap();
        assert_eq!(s.list("t/dt=2026-01-01/a-").await.unwrap().len(), 2);
        assert_eq!(s.get("t/dt=2026-01-01/a-00000.ndjson.gz").await.unwrap().unwrap(), Bytes::from_static(b"2"));
        s.delete("t/dt=2026-01-01/a-00001.ndjson.gz").await.unwrap();
        assert_eq!(s.list("t/").await.unwrap(), vec!["t/dt=2026-01-01/a-00000.ndjson.gz".to_string()]);
        assert!(s.put("../escape", Bytes::new()).await.is_err());
    }

    /// 0600 files and 0700 directories even with a permissive umask (the mode is set explicitly).
    #[cfg(unix)]
    #[tokio::test]
    async fn files_and_directories_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new-store");
        let s = LocalObjectSink::new(&root).unwrap();
        let st = LocalStateStore::new(&root).unwrap();
        s.put("chats/dt=2026-11-30/chats-Zq81xK-00000.ndjson.gz", Bytes::from_static(b"x")).await.unwrap();
        st.save("chats", None, &json!({"checkpoint": "c"})).await.unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for d in [root.clone(), root.join("chats"), root.join("chats/dt=2026-11-30"), root.join("_state")] {
            assert_eq!(mode(&d), 0o700, "{}", d.display());
        }
        for f in [root.join("chats/dt=2026-11-30/chats-Zq81xK-00000.ndjson.gz"), root.join("_state/chats.json")] {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        // an existing world-readable store root is tightened when opened
        let old = dir.path().join("old-store");
        fs::create_dir(&old).unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).unwrap();
        LocalStateStore::new(&old).unwrap();
        assert_eq!(mode(&old), 0o700);
    }
}
