//! Production hardening (issue 10), as a user and a security reviewer would try it:
//! - a redirecting base URL never gets the key to a second host (library and `check-key`);
//! - the local lake and state are owner-only (0600 files, 0700 directories) under `umask 022`, and
//!   the DLP fingerprint key is outside the store;
//! - a store bound to the synthetic tenant refuses a real-mode sync with one line, and with
//!   `--reset-state` does a clean real backfill with no synthetic row in the real tables.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_compliance-lake");

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A random-looking Compliance key (base62 body, as real keys have).
fn random_key() -> String {
    const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789";
    let bytes: Vec<u8> = (0..3).flat_map(|_| *uuid::Uuid::new_v4().as_bytes()).collect();
    let body: String = bytes.iter().map(|b| A[*b as usize % A.len()] as char).collect();
    format!("sk-ant-api01-{body}")
}

/// A loopback HTTP server answering every request with `response`, recording each request head.
async fn raw_server(response: String) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = l.accept().await else { return };
            let (resp, s) = (response.clone(), s.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                s.lock().unwrap().push(String::from_utf8_lossy(&buf).into_owned());
                let _ = c.write_all(resp.as_bytes()).await;
                let _ = c.shutdown().await;
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_never_carries_the_key_to_another_host() {
    // second host: would answer like the API (so following the redirect would "succeed")
    let ok = r#"{"data":[],"has_more":false,"next_page":null,"first_id":null,"last_id":null}"#;
    let (port_b, seen_b) = raw_server(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{ok}",
        ok.len()
    ))
    .await;
    // first host: 307 to the second
    let (port_a, seen_a) = raw_server(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{port_b}/v1/compliance/organizations?limit=1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    ))
    .await;
    let key = random_key();
    let base = format!("http://127.0.0.1:{port_a}");

    // the library: a terminal error naming the Location host
    let c = client_with_key(&base, &key);
    let e = c.get_json("/v1/compliance/organizations", &[], &shared::api::CallStats::default()).await.unwrap_err();
    assert!(matches!(e, shared::api::ApiError::Redirected { status: 307, .. }), "{e}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains(&format!("127.0.0.1:{port_b}")), "{e}");

    // the CLI: check-key fails, naming the host, never printing the key
    let (b, k) = (base.clone(), key.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["--log", "debug", "check-key", "--api-base-url", &b])
            .env("ANTHROPIC_COMPLIANCE_ACCESS_KEY", &k)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "check-key must fail: {t}");
    assert!(t.contains(&format!("127.0.0.1:{port_b}")) && t.contains("redirect"), "{t}");
    assert!(!t.contains(&key[13..]), "key printed: {t}");

    assert!(!seen_a.lock().unwrap().is_empty(), "the first host was asked");
    assert!(seen_a.lock().unwrap().iter().all(|r| r.contains(&key)), "the first host got the key, as configured");
    let at_b = seen_b.lock().unwrap().clone();
    assert!(at_b.is_empty(), "{} request(s) reached the second host", at_b.len());

    // plain http to a non-loopback host is refused before any request
    let out = Command::new(BIN)
        .args(["check-key", "--api-base-url", "http://compliance.example.com"])
        .env("ANTHROPIC_COMPLIANCE_ACCESS_KEY", &key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("https://"), "{}", text(&out));
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.clone());
        if p.is_dir() {
            walk(&p, out);
        }
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_is_owner_only_under_umask_022() {
    use std::os::unix::fs::PermissionsExt;
    let f = fake(small_tenant(61), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lake");
    let config = dir.path().join("config");
    let start = shared::time::Timestamp(f.with_tenant(|t| t.config.start)).to_rfc3339();
    let (base, s, c) = (f.base_url(), store.clone(), config.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("sh")
            .args(["-c", "umask 022 && exec \"$@\"", "sh", BIN, "sync", "--no-progress", "--budget-per-minute", "0"])
            .args(["--api-base-url", &base, "--backfill-start", &start, "--store"])
            .arg(&s)
            .env("ANTHROPIC_COMPLIANCE_ACCESS_KEY", shared::fake_api::synthetic_key())
            .env("XDG_CONFIG_HOME", &c)
            .env_remove("COMPLIANCE_LAKE_DLP_KEY")
            .env_remove("COMPLIANCE_LAKE_DLP_KEY_FILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_exactly_once(&store, &f.expected()).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut all = vec![store.clone()];
    walk(&store, &mut all);
    let (mut files, mut dirs) = (0, 0);
    for p in &all {
        if p.is_dir() {
            dirs += 1;
            assert_eq!(mode(p), 0o700, "directory {}", p.display());
        } else {
            files += 1;
            assert_eq!(mode(p), 0o600, "file {}", p.display());
            assert!(!p.ends_with("dlp-fingerprint.key"), "the DLP key is inside the store");
        }
    }
    assert!(files >= 10 && dirs >= 8, "{files} files, {dirs} directories checked");
    // the DLP fingerprint key: outside the store, 0600 in a 0700 directory
    let keys = config.join("compliance-lake/dlp-keys");
    let key_files: Vec<PathBuf> = std::fs::read_dir(&keys).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(key_files.len(), 1, "{key_files:?}");
    assert_eq!(mode(&key_files[0]), 0o600);
    assert_eq!(mode(&keys), 0o700);
    f.shutdown().await;
}

/// Table → ids written there (from the NDJSON objects under `root/<table>/`).
async fn ids_in(root: &Path, table: shared::store::Table) -> std::collections::BTreeSet<String> {
    let sink = shared::store::LocalObjectSink::new(root).unwrap();
    shared::verify::identity_counts(&sink, table).await.unwrap().into_keys().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthetic_store_refuses_a_real_sync_until_reset() {
    let f = fake(small_tenant(62), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lake");
    let config = dir.path().join("config");
    let run = |args: Vec<String>| {
        let (s, c) = (store.clone(), config.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(["sync", "--no-progress", "--budget-per-minute", "0", "--store"])
                .arg(&s)
                .args(&args)
                .env("ANTHROPIC_COMPLIANCE_ACCESS_KEY", shared::fake_api::synthetic_key())
                .env("XDG_CONFIG_HOME", &c)
                .env_remove("COMPLIANCE_LAKE_FAILPOINTS")
                .output()
                .unwrap()
        })
    };
    // 1. a dry run on the synthetic tenant
    let since = (chrono::Utc::now() - chrono::Duration::days(60)).to_rfc3339();
    let out = run(vec!["--synthetic".into(), "--backfill-start".into(), since]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let synthetic_chats = ids_in(&store.join("synthetic"), shared::store::Table::ChatMessages).await;
    assert!(!synthetic_chats.is_empty(), "the dry run wrote under synthetic/");
    assert!(!store.join("chat_messages").exists(), "no synthetic row in the real tables");

    // 2. the real tenant on the same store: refused, one line, nothing written
    let start = shared::time::Timestamp(f.with_tenant(|t| t.config.start)).to_rfc3339();
    let real = vec!["--api-base-url".into(), f.base_url(), "--backfill-start".into(), start];
    let out = run(real.clone()).await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("--reset-state") && stderr.contains("mode synthetic → real"), "{stderr}");
    assert!(!store.join("chat_messages").exists(), "a refused sync writes nothing");

    // 3. with --reset-state: the old checkpoints archived, a clean real backfill
    let mut reset = real.clone();
    reset.push("--reset-state".into());
    let out = run(reset).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("archived under archive/"), "{}", text(&out));
    assert_exactly_once(&store, &f.expected()).await;
    let real_msgs = ids_in(&store, shared::store::Table::ChatMessages).await;
    assert!(real_msgs.is_disjoint(&synthetic_chats), "a synthetic message in the real table");
    let archived = std::fs::read_dir(store.join("_state/archive")).unwrap().count();
    assert_eq!(archived, 1, "one archive of the synthetic checkpoints");

    // 4. the next real run resumes normally
    let out = run(real).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_exactly_once(&store, &f.expected()).await;
    f.shutdown().await;
}
