//! DLP at ingest: the user content a stream writes (user message text, text files attached to
//! messages, project descriptions, instructions and text documents) is scanned before the segment
//! commits, and findings go to `dlp_findings` in the same segment — so findings are exactly once
//! exactly when their source record is. A finding holds a redacted snippet and a keyed fingerprint,
//! never the matched value.

use super::{Ingest, JobContext, JobStats};
use crate::api::ApiError;
use crate::dlp::{fingerprint, redacted_snippet, FingerprintKey, Scanner, Severity, SourceKind};
use crate::store::{StoreError, Table};
use crate::time::Timestamp;
use serde_json::{json, Map, Value};
use std::path::Path;

/// Snippet context either side of a finding, in bytes.
const SNIPPET_CONTEXT: usize = 32;

pub struct DlpContext {
    pub scanner: &'static Scanner,
    pub key: FingerprintKey,
    /// Download and scan text files attached to messages and projects (costs one request each).
    pub scan_files: bool,
    pub max_file_bytes: usize,
}

impl DlpContext {
    pub fn new(key: FingerprintKey) -> Self {
        DlpContext { scanner: Scanner::global(), key, scan_files: true, max_file_bytes: 8 * 1024 * 1024 }
    }

    /// The fingerprint key of a local store: `COMPLIANCE_LAKE_DLP_KEY` (hex) if set, else a random
    /// key created once in a 0600 file **outside** the store, so whoever reads the lake (findings
    /// included) cannot brute-force low-entropy values such as SSNs from their fingerprints:
    /// `COMPLIANCE_LAKE_DLP_KEY_FILE`, or `$XDG_CONFIG_HOME` (else `~/.config`)
    /// `/compliance-lake/dlp-keys/<store id>.key`, the store id being a random, non-secret id kept in
    /// `_state/store-id` (so a moved store keeps its key). A key left in `_state/dlp-fingerprint.key`
    /// by an earlier version is moved there (same key, so fingerprints stay comparable).
    pub fn key_for_store(store: &Path) -> Result<FingerprintKey, StoreError> {
        if let Ok(hexkey) = std::env::var("COMPLIANCE_LAKE_DLP_KEY") {
            return FingerprintKey::from_hex(hexkey.trim())
                .map_err(|_| StoreError::Backend("COMPLIANCE_LAKE_DLP_KEY must be hex".into()));
        }
        let path = match std::env::var_os("COMPLIANCE_LAKE_DLP_KEY_FILE").filter(|v| !v.is_empty()) {
            Some(p) => std::path::PathBuf::from(p),
            None => default_key_path(store)?,
        };
        local_key::load_or_create(&path, &store.join("_state").join(LEGACY_KEY_FILE))
    }
}

/// Where versions before the source binding kept the local key (inside the lake: moved out).
pub const LEGACY_KEY_FILE: &str = "dlp-fingerprint.key";

fn default_key_path(store: &Path) -> Result<std::path::PathBuf, StoreError> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| Path::new(&h).join(".config")))
        .ok_or_else(|| {
            StoreError::Backend(
                "no home directory for the DLP fingerprint key: set COMPLIANCE_LAKE_DLP_KEY_FILE (a path outside the store)"
                    .into(),
            )
        })?;
    let id = local_key::store_id(&store.join("_state"))?;
    Ok(config.join("compliance-lake").join("dlp-keys").join(format!("{id}.key")))
}

/// The local key file: created once (0600, atomically: two processes agree on one key), read back
/// after, re-tightened to 0600 if someone loosened it.
mod local_key {
    use crate::dlp::FingerprintKey;
    use crate::store::local::{create_private_dir_all, create_private_file};
    use crate::store::StoreError;
    use std::io::Write;
    use std::path::Path;

    fn read_key(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::read_to_string(path) {
            Ok(s) => hex::decode(s.trim())
                .map(Some)
                .map_err(|_| StoreError::Corrupt { key: path.display().to_string(), reason: "not hex".into() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    /// Writes `contents` to `path` only if it does not exist yet (hard link of a private temp file).
    /// `Ok(false)` = someone else created it first.
    fn create_once(path: &Path, contents: &[u8]) -> Result<bool, StoreError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        create_private_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let tmp = dir.join(format!(".{}.tmp-{}", uuid::Uuid::new_v4().simple(), std::process::id()));
        let res = (|| {
            let mut f = create_private_file(&tmp)?;
            f.write_all(contents)?;
            f.sync_all()?;
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        })();
        let _ = std::fs::remove_file(&tmp);
        res.map_err(|e| StoreError::io(path, e))
    }

    #[cfg(unix)]
    fn keep_private(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "DLP fingerprint key file was readable by others; set to 0600");
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
    #[cfg(not(unix))]
    fn keep_private(_: &Path) {}

    pub fn load_or_create(path: &Path, legacy: &Path) -> Result<FingerprintKey, StoreError> {
        let legacy_key = read_key(legacy)?;
        if let Some(k) = read_key(path)? {
            keep_private(path);
            if let Some(old) = legacy_key {
                if old != k {
                    return Err(StoreError::Corrupt {
                        key: legacy.display().to_string(),
                        reason: format!(
                            "a DLP fingerprint key is left inside the store and differs from {}; keep the one your findings were made with and delete the other",
                            path.display()
                        ),
                    });
                }
                std::fs::remove_file(legacy).map_err(|e| StoreError::io(legacy, e))?;
                tracing::info!(key_file = %path.display(), "removed the copy of the DLP fingerprint key left inside the store");
            }
            return Ok(FingerprintKey::new(k));
        }
        let (bytes, migrated) = match legacy_key {
            Some(k) => (k, true),
            None => (rand::random::<[u8; 32]>().to_vec(), false),
        };
        if !create_once(path, hex::encode(&bytes).as_bytes())? {
            // another process created it between our read and our write: use theirs
            return load_or_create(path, legacy);
        }
        if migrated {
            std::fs::remove_file(legacy).map_err(|e| StoreError::io(legacy, e))?;
            tracing::info!(key_file = %path.display(), "moved the DLP fingerprint key out of the store");
        }
        Ok(FingerprintKey::new(bytes))
    }

    /// The store's random id (`_state/store-id`), created on first use. Not a secret.
    pub fn store_id(state_dir: &Path) -> Result<String, StoreError> {
        let path = state_dir.join("store-id");
        for _ in 0..2 {
            match std::fs::read_to_string(&path) {
                Ok(s) if !s.trim().is_empty() => {
                    let id = s.trim().to_string();
                    if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                        return Err(StoreError::Corrupt {
                            key: path.display().to_string(),
                            reason: "not an id".into(),
                        });
                    }
                    return Ok(id);
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&path, e)),
            }
            let id = format!("store_{}", uuid::Uuid::new_v4().simple());
            if create_once(&path, id.as_bytes())? {
                return Ok(id);
            }
        }
        Err(StoreError::Backend(format!("could not create {}", path.display())))
    }
}

/// Where a scanned text came from; becomes the finding's context columns.
#[derive(Debug, Clone)]
pub struct Source {
    pub kind: SourceKind,
    pub source_id: String,
    pub chat_id: Option<String>,
    pub message_id: Option<String>,
    pub project_id: Option<String>,
    pub file_id: Option<String>,
    /// Claude Code / Cowork session (`clls_…` / `cse_…`) of a session message.
    pub session_id: Option<String>,
    pub content_index: Option<usize>,
    pub user: Value,
    pub organization_uuid: Value,
    pub source_created_at: Value,
}

impl Source {
    pub fn new(kind: SourceKind, source_id: impl Into<String>) -> Self {
        Source {
            kind,
            source_id: source_id.into(),
            chat_id: None,
            message_id: None,
            project_id: None,
            file_id: None,
            session_id: None,
            content_index: None,
            user: Value::Null,
            organization_uuid: Value::Null,
            source_created_at: Value::Null,
        }
    }
}

/// Scans `text` and returns one `dlp_findings` record per detection.
pub fn scan(dlp: &DlpContext, text: &str, src: &Source, ingest: &Ingest<'_>) -> Vec<Value> {
    let report = dlp.scanner.scan_source(src.kind, text);
    if report.detections.is_empty() {
        return Vec::new();
    }
    let overall = report.max_severity();
    let now = Timestamp::now().to_rfc3339();
    let dets = &report.detections;
    dets.iter()
        .enumerate()
        .map(|(i, d)| {
            let value = d.value(text);
            let id = finding_id(src, d.detector, d.start, d.end);
            let mut m = Map::new();
            m.insert("id".into(), json!(id));
            m.insert("detected_at".into(), json!(now));
            m.insert("source_kind".into(), json!(src.kind));
            m.insert("source_id".into(), json!(src.source_id));
            m.insert("chat_id".into(), json!(src.chat_id));
            m.insert("message_id".into(), json!(src.message_id));
            m.insert("project_id".into(), json!(src.project_id));
            m.insert("file_id".into(), json!(src.file_id));
            if let Some(sid) = &src.session_id {
                m.insert("session_id".into(), json!(sid));
            }
            m.insert("content_index".into(), json!(src.content_index));
            m.insert("user_id".into(), src.user.get("id").cloned().unwrap_or(Value::Null));
            m.insert(
                "user_email".into(),
                src.user.get("email_address").or_else(|| src.user.get("email")).cloned().unwrap_or(Value::Null),
            );
            m.insert("organization_uuid".into(), src.organization_uuid.clone());
            m.insert("source_created_at".into(), src.source_created_at.clone());
            m.insert("detector".into(), json!(d.detector));
            m.insert("severity".into(), json!(d.severity));
            m.insert("confidence".into(), json!(d.confidence));
            m.insert("start".into(), json!(d.start));
            m.insert("end".into(), json!(d.end));
            m.insert("redacted".into(), json!(redacted_snippet(text, dets, i, SNIPPET_CONTEXT)));
            m.insert("fingerprint".into(), json!(fingerprint(&dlp.key, d.detector, value.as_bytes())));
            m.insert("source_severity".into(), json!(overall));
            m.insert("scanned_bytes".into(), json!(report.scanned_bytes));
            m.insert("truncated".into(), json!(report.truncated));
            super::enrich(Value::Object(m), &[], ingest)
        })
        .collect()
}

fn finding_id(src: &Source, detector: &str, start: usize, end: usize) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    // a file can hang off several messages and a project description is rescanned per version:
    // the message and the source's timestamp are part of a finding's identity
    h.update(
        format!(
            "{}|{}|{}|{}|{:?}|{}|{detector}|{start}|{end}",
            src.kind.as_str(),
            src.source_id,
            src.message_id.as_deref().unwrap_or(""),
            src.file_id.as_deref().unwrap_or(""),
            src.content_index,
            src.source_created_at
        )
        .as_bytes(),
    );
    format!("dlpf_{}", &hex::encode(h.finalize())[..24])
}

/// The highest severity among finding records (for message-level rollups).
pub fn max_of(records: &[Value]) -> Severity {
    records
        .iter()
        .filter_map(|r| r.get("severity").and_then(|s| serde_json::from_value::<Severity>(s.clone()).ok()))
        .max()
        .unwrap_or(Severity::None)
}

/// Whether a file looks like text worth downloading, from its metadata.
pub fn is_text_file(filename: Option<&str>, mime: Option<&str>) -> bool {
    let mime = mime.unwrap_or("").to_ascii_lowercase();
    if mime.starts_with("text/")
        || ["json", "xml", "yaml", "csv", "javascript", "x-sh", "sql", "toml", "markdown"]
            .iter()
            .any(|m| mime.contains(m))
    {
        return true;
    }
    let ext_of = |s: &str| s.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    // the API sometimes sends a bare extension as the MIME type ("txt")
    let ext =
        ext_of(filename.unwrap_or("")).or_else(|| (!mime.contains('/') && !mime.is_empty()).then(|| mime.clone()));
    matches!(
        ext.as_deref(),
        Some(
            "txt"
                | "md"
                | "csv"
                | "tsv"
                | "json"
                | "jsonl"
                | "ndjson"
                | "yaml"
                | "yml"
                | "xml"
                | "log"
                | "ini"
                | "cfg"
                | "conf"
                | "env"
                | "toml"
                | "py"
                | "js"
                | "ts"
                | "rs"
                | "go"
                | "java"
                | "rb"
                | "sh"
                | "sql"
                | "html"
                | "htm"
                | "properties"
                | "pem"
                | "key"
                | "tf"
                | "c"
                | "h"
                | "cpp"
                | "cs"
                | "php"
                | "kt"
                | "swift"
        )
    )
}

/// What DLP could do with one attached file.
#[derive(Debug)]
pub enum FileScan {
    Text(String),
    /// Not a text file, DLP off, or gone: nothing to scan and nothing to report.
    Skipped,
    /// A text file DLP could not read (download refused or failed, above the per-file cap,
    /// checksum mismatch): recorded as an `unscanned_file` row, never a failed job.
    Unscanned(String),
}

/// [`fetch_text_file`] for DLP at ingest: a file that cannot be read is a coverage gap to report,
/// not an error that stops the stream.
pub async fn fetch_for_scan(ctx: &JobContext, stats: &JobStats, file: &Value) -> FileScan {
    let path = file.get("id").and_then(Value::as_str).map(crate::api::paths::file_content).unwrap_or_default();
    fetch_for_scan_at(ctx, stats, file, &path).await
}

/// [`fetch_for_scan`] of a file served by another content endpoint (`path`: generated files).
pub async fn fetch_for_scan_at(ctx: &JobContext, stats: &JobStats, file: &Value, path: &str) -> FileScan {
    let Some(dlp) = ctx.dlp.as_deref() else { return FileScan::Skipped };
    let filename = file.get("filename").and_then(Value::as_str);
    let mime = file.get("mime_type").and_then(Value::as_str);
    if !dlp.scan_files || !is_text_file(filename, mime) || file.get("id").and_then(Value::as_str).is_none() {
        return FileScan::Skipped;
    }
    if let Some(n) = file.get("size_bytes").and_then(Value::as_u64).filter(|n| *n as usize > dlp.max_file_bytes) {
        return FileScan::Unscanned(format!(
            "file of {n} bytes is above the DLP per-file cap of {} bytes",
            dlp.max_file_bytes
        ));
    }
    match fetch_text_at(ctx, stats, file, path).await {
        Ok(Some(t)) => FileScan::Text(t),
        Ok(None) => FileScan::Skipped,
        Err(ApiError::TooLarge { limit, .. }) => {
            FileScan::Unscanned(format!("download is above the response cap of {limit} bytes"))
        }
        Err(e) => FileScan::Unscanned(match e.status() {
            Some(s) => format!("download failed: HTTP {s}"),
            None => "download failed: no usable answer from the API".into(),
        }),
    }
}

/// The `dlp_findings` row recording that a file could not be scanned (no content, no match).
pub fn unscanned_file(src: &Source, reason: &str, ingest: &Ingest<'_>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(finding_id(src, "unscanned_file", 0, 0)));
    m.insert("detected_at".into(), json!(Timestamp::now().to_rfc3339()));
    m.insert("source_kind".into(), json!(src.kind));
    m.insert("source_id".into(), json!(src.source_id));
    m.insert("chat_id".into(), json!(src.chat_id));
    m.insert("message_id".into(), json!(src.message_id));
    m.insert("project_id".into(), json!(src.project_id));
    m.insert("file_id".into(), json!(src.file_id));
    m.insert("user_id".into(), src.user.get("id").cloned().unwrap_or(Value::Null));
    m.insert(
        "user_email".into(),
        src.user.get("email_address").or_else(|| src.user.get("email")).cloned().unwrap_or(Value::Null),
    );
    m.insert("organization_uuid".into(), src.organization_uuid.clone());
    m.insert("source_created_at".into(), src.source_created_at.clone());
    m.insert("detector".into(), json!("unscanned_file"));
    m.insert("severity".into(), json!(Severity::Low));
    m.insert("unscanned_reason".into(), json!(reason));
    super::enrich(Value::Object(m), &[], ingest)
}

/// Downloads a text file through the files content endpoint, verifying `Content-MD5`.
/// `Ok(None)` when the file is not text, too large, gone, or its checksum does not match.
pub async fn fetch_text_file(ctx: &JobContext, stats: &JobStats, file: &Value) -> Result<Option<String>, ApiError> {
    let path = file.get("id").and_then(Value::as_str).map(crate::api::paths::file_content).unwrap_or_default();
    fetch_text_at(ctx, stats, file, &path).await
}

/// [`fetch_text_file`] from another content endpoint (`path`).
pub async fn fetch_text_at(
    ctx: &JobContext,
    stats: &JobStats,
    file: &Value,
    path: &str,
) -> Result<Option<String>, ApiError> {
    let Some(dlp) = ctx.dlp.as_deref() else { return Ok(None) };
    let Some(id) = file.get("id").and_then(Value::as_str) else { return Ok(None) };
    let filename = file.get("filename").and_then(Value::as_str);
    let mime = file.get("mime_type").and_then(Value::as_str);
    if !dlp.scan_files || !is_text_file(filename, mime) {
        return Ok(None);
    }
    if file.get("size_bytes").and_then(Value::as_u64).is_some_and(|n| n as usize > dlp.max_file_bytes) {
        tracing::info!(file_id = id, "file above the DLP size cap; not downloaded");
        return Ok(None);
    }
    let resp = match ctx.client.get_bytes(path, &stats.calls).await {
        Ok(r) => r,
        Err(ApiError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some(want) = resp.content_md5.as_deref() {
        use base64::Engine;
        use md5::{Digest, Md5};
        let got = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&resp.bytes));
        if got != want.trim() {
            tracing::warn!(file_id = id, "Content-MD5 mismatch; file skipped for DLP (will not be trusted)");
            return Ok(None);
        }
    }
    let bytes = &resp.bytes[..resp.bytes.len().min(dlp.max_file_bytes)];
    // binary content served under a text name: skip rather than scan noise
    if bytes.iter().take(4096).filter(|b| **b == 0).count() > 0 {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

pub const TABLE: Table = Table::DlpFindings;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_key_lives_outside_the_store_and_legacy_keys_move_out() {
        let dir = tempfile::tempdir().unwrap();
        let (store, home) = (dir.path().join("lake"), dir.path().join("config"));
        let state = store.join("_state");
        std::fs::create_dir_all(&state).unwrap();
        let legacy = state.join(LEGACY_KEY_FILE);
        let old = "9f1c2b7e55aa0d13c4e8f6a2b1d0e9c87a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";
        std::fs::write(&legacy, old).unwrap();
        let id = local_key::store_id(&state).unwrap();
        assert_eq!(local_key::store_id(&state).unwrap(), id, "the store id is stable");
        let path = home.join("compliance-lake/dlp-keys").join(format!("{id}.key"));
        let k = local_key::load_or_create(&path, &legacy).unwrap();
        assert_eq!(hex::encode(k.expose()), old, "migrated key is the same key");
        assert!(!legacy.exists(), "the key is no longer inside the store");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        }
        // later runs read the same key; a second, different key left in the store is refused
        assert_eq!(local_key::load_or_create(&path, &legacy).unwrap().expose(), k.expose());
        std::fs::write(&legacy, "00ff").unwrap();
        assert!(local_key::load_or_create(&path, &legacy).is_err());
        // a fresh location gets a fresh random key
        let other = home.join("other.key");
        let k2 = local_key::load_or_create(&other, &state.join("absent")).unwrap();
        assert_eq!(k2.expose().len(), 32);
        assert_ne!(k2.expose(), k.expose());
    }

    #[test]
    fn text_file_detection() {
        assert!(is_text_file(Some("a.txt"), Some("text/plain")));
        assert!(is_text_file(Some("excerpt.txt"), Some("txt")));
        assert!(is_text_file(Some("data.json"), None));
        assert!(is_text_file(Some("x"), Some("application/json")));
        assert!(!is_text_file(Some("mock.pdf"), Some("application/pdf")));
        assert!(!is_text_file(Some("output.gif"), Some("image/gif")));
    }
}
