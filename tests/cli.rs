//! The operator CLI as a user runs it: exit codes, one-line reasons, the key never printed, and a
//! real process crash (abort) between writing data and advancing a checkpoint.

mod common;

use common::*;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_compliance-lake");

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("ANTHROPIC_COMPLIANCE_ACCESS_KEY").env_remove("COMPLIANCE_LAKE_FAILPOINTS");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run binary")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn missing_key_and_bad_org_id_have_clear_messages() {
    let o = run(&["check-key"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("Compliance Access Key is required"), "{}", text(&o));
    let o = run(&["check-key", "--org-id", "acme-corp"], &[("ANTHROPIC_COMPLIANCE_ACCESS_KEY", "sk-ant-api01-x")]);
    assert!(!o.status.success());
    assert!(text(&o).contains("Invalid Organization ID format (must be UUID)"), "{}", text(&o));
    let o = run(&["check-key"], &[("ANTHROPIC_COMPLIANCE_ACCESS_KEY", "sk-ant-api03-secretvalue123")]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("Claude API key") && !t.contains("secretvalue123"), "{t}");
    let o =
        run(&["sync", "--backfill-start", "last tuesday"], &[("ANTHROPIC_COMPLIANCE_ACCESS_KEY", "sk-ant-api01-x")]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--backfill-start"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_key_against_the_fake() {
    let f = fake(small_tenant(31), open_cfg()).await;
    let base = f.base_url();
    let key = shared::fake_api::synthetic_key();
    let org = f.expected().organizations.iter().next().cloned().unwrap();
    let (b, k, o) = (base.clone(), key.clone(), org.clone());
    let out = tokio::task::spawn_blocking(move || {
        run(&["check-key", "--api-base-url", &b, "--org-id", &o], &[("ANTHROPIC_COMPLIANCE_ACCESS_KEY", &k)])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("key works"));
    assert!(!text(&out).contains(&key), "key printed");
    // unknown org
    let (b, k) = (base.clone(), key.clone());
    let out = tokio::task::spawn_blocking(move || {
        run(
            &["check-key", "--api-base-url", &b, "--org-id", "00000000-0000-4000-8000-000000000000"],
            &[("ANTHROPIC_COMPLIANCE_ACCESS_KEY", &k)],
        )
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("Organization or resource not found"), "{}", text(&out));
    // revoked key: 401, and the key never shows, even in debug logs
    let b = base.clone();
    let bad = "sk-ant-api01-revoked-key-zzzzzzzzzzzzzzzzzzzzzzzzzzzz";
    let out = tokio::task::spawn_blocking(move || {
        run(&["--log", "debug", "check-key", "--api-base-url", &b], &[("ANTHROPIC_COMPLIANCE_ACCESS_KEY", bad)])
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("API key invalid or revoked"), "{t}");
    assert!(!t.contains("zzzzzzzzzzzz"), "key leaked: {t}");
    f.shutdown().await;
}

/// The process aborts right after writing a segment's objects; the re-run neither loses nor duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_crash_between_write_and_checkpoint() {
    let f = fake(small_tenant(32), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap().to_string();
    let start = shared::time::Timestamp(f.with_tenant(|t| t.config.start)).to_rfc3339();
    let base = f.base_url();
    let key = shared::fake_api::synthetic_key();
    let args = move |extra: &'static [(&'static str, &'static str)]| {
        let (store, start, base, key) = (store.clone(), start.clone(), base.clone(), key.clone());
        move || {
            let mut envs = vec![("ANTHROPIC_COMPLIANCE_ACCESS_KEY", key.as_str())];
            envs.extend_from_slice(extra);
            run(
                &[
                    "sync",
                    "--no-progress",
                    "--api-base-url",
                    &base,
                    "--store",
                    &store,
                    "--backfill-start",
                    &start,
                    "--workers",
                    "1",
                ],
                &envs,
            )
        }
    };
    let crashed =
        tokio::task::spawn_blocking(args(&[("COMPLIANCE_LAKE_FAILPOINTS", "after_write:chats=abort")])).await.unwrap();
    assert!(!crashed.status.success(), "the process should have aborted");
    let ok = tokio::task::spawn_blocking(args(&[])).await.unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("chat_messages"), "summary table printed: {}", text(&ok));
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}
