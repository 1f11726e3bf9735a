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
    // overlap below 2 minutes misses late-indexed events: refused with a reason
    for bad in ["0", "1"] {
        let o = run(&["sync", "--overlap-minutes", bad], &[("ANTHROPIC_COMPLIANCE_ACCESS_KEY", "sk-ant-api01-x")]);
        assert!(!o.status.success());
        assert!(text(&o).contains("--overlap-minutes") && text(&o).contains("at least 2"), "{}", text(&o));
    }
    let o = run(&["sync", "--activity-page-size", "6000"], &[("ANTHROPIC_COMPLIANCE_ACCESS_KEY", "sk-ant-api01-x")]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--activity-page-size 6000") && text(&o).contains("1 to 5000"), "{}", text(&o));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_settings_shows_the_flipped_setting() {
    let f = fake(small_tenant(33), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap().to_string();
    let (base, key) = (f.base_url(), shared::fake_api::synthetic_key());
    let sync = {
        let (store, base, key) = (store.clone(), base.clone(), key.clone());
        move || {
            let (store, base, key) = (store.clone(), base.clone(), key.clone());
            move || {
                let args = ["sync", "--no-progress", "--api-base-url", &base, "--store", &store];
                let mut args = args.to_vec();
                args.extend(["--streams", "organizations,org_settings,roles,groups", "--workers", "2"]);
                run(&args, &[("ANTHROPIC_COMPLIANCE_ACCESS_KEY", key.as_str())])
            }
        }
    };
    let o = tokio::task::spawn_blocking(sync()).await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let before = run(&["diff", "settings", "--store", &store], &[]);
    assert!(before.status.success(), "{}", text(&before));
    assert!(text(&before).contains("no earlier snapshot"), "{}", text(&before));

    // an instant between the two snapshots, for --since
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mid = chrono::Utc::now().to_rfc3339();
    let m = f.with_tenant(|t| t.mutate(&shared::synthetic::MutationConfig::default()));
    let (org, name, _, _) = m.directory.flipped_settings[0].clone();
    let o = tokio::task::spawn_blocking(sync()).await.unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let human = run(&["diff", "settings", "--store", &store], &[]);
    assert!(human.status.success(), "{}", text(&human));
    let t = text(&human);
    let line = t.lines().find(|l| l.contains(&name)).unwrap_or_else(|| panic!("{name} not in: {t}"));
    assert!(line.contains("changed") && line.contains("true → false"), "{line}");
    assert!(t.contains(&format!("api_key:{}", m.directory.added_keys[0])), "{t}");

    let json = run(&["diff", "settings", "--store", &store, "--json", "--since", &mid], &[]);
    assert!(json.status.success(), "{}", text(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    assert_eq!(v["kind"], "settings");
    let scope = v["scopes"].as_array().unwrap().iter().find(|s| s["scope"] == org.as_str()).expect("org scope");
    let c = scope["changes"].as_array().unwrap().iter().find(|c| c["item"] == name.as_str()).expect("flip");
    assert_eq!(
        (c["change"].as_str(), &c["fields"][0]["old"], &c["fields"][0]["new"]),
        (Some("changed"), &serde_json::json!(true), &serde_json::json!(false))
    );
    let deactivated = format!("api_key:{}", m.directory.deactivated_keys[0]);
    assert!(scope["changes"].as_array().unwrap().iter().any(|c| c["item"] == deactivated.as_str()), "{scope}");

    // roles and groups report their changes too (a permission added, a member in and out)
    let roles = run(&["diff", "roles", "--store", &store], &[]);
    assert!(text(&roles).contains("+ "), "{}", text(&roles));
    let groups = run(&["diff", "groups", "--store", &store, "--json"], &[]);
    let g: serde_json::Value = serde_json::from_slice(&groups.stdout).expect("JSON");
    let ch = &g["scopes"][0]["changes"];
    assert!(ch.as_array().unwrap().iter().any(|c| c["added"].is_array() && c["removed"].is_array()), "{g}");
    let bad = run(&["diff", "users", "--store", &store], &[]);
    assert!(!bad.status.success() && text(&bad).contains("settings, roles or groups"));
    f.shutdown().await;
}
