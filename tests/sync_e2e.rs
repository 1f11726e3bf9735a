//! End to end against the fake API over real HTTP: two syncs around a tenant mutation (new,
//! late-indexed and updated records, a soft-deleted chat); the union holds every source record
//! exactly once, with context fields, and unknown fields survive.

mod common;

use common::*;
use serde_json::Value;
use shared::store::{LocalObjectSink, Table};
use shared::streams::FailPoints;
use shared::synthetic::MutationConfig;
use shared::verify;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_once_across_runs_with_late_arrivals_and_mutation() {
    let f = fake(small_tenant(1), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let r1 = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r1.ok(), "{:?}", r1.failures());
    assert_exactly_once(dir.path(), &f.expected()).await;

    let m = f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    assert!(!m.late_activity_ids.is_empty() && !m.soft_deleted_chat_ids.is_empty() && !m.new_message_ids.is_empty());
    let r2 = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r2.ok(), "{:?}", r2.failures());
    let e = f.expected();
    assert_exactly_once(dir.path(), &e).await;

    let sink = LocalObjectSink::new(dir.path()).unwrap();
    // late-indexed activities were picked up behind the first run's watermark
    let acts = verify::identity_counts(&sink, Table::Activities).await.unwrap();
    for id in &m.late_activity_ids {
        assert_eq!(acts.get(id), Some(&1), "late activity {id}");
    }
    // the soft-deleted chat was written again with deleted_at
    let chats = verify::read_table(&sink, Table::Chats).await.unwrap();
    for id in &m.soft_deleted_chat_ids {
        assert!(chats.iter().any(|c| c["id"] == *id && !c["deleted_at"].is_null()), "soft-deleted chat {id}");
    }
    // a third run with no change writes nothing new
    let r3 = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r3.ok());
    let inc: u64 = r3
        .jobs
        .iter()
        .filter(|j| !matches!(j.job.stream(), "organizations" | "users"))
        .map(|j| j.total_records())
        .sum();
    assert_eq!(inc, 0, "steady state writes nothing");
    assert_exactly_once(dir.path(), &e).await;
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_are_verbatim_plus_context_and_provenance() {
    let f = fake(small_tenant(2), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    let sink = LocalObjectSink::new(dir.path()).unwrap();

    // activities: the API object byte-for-byte in value, plus _ingest
    let mut unknown_seen = 0;
    for mut a in verify::read_table(&sink, Table::Activities).await.unwrap() {
        let ingest = a.as_object_mut().unwrap().remove("_ingest").expect("_ingest");
        for k in ["run_id", "fetched_at", "stream", "endpoint", "job"] {
            assert!(ingest.get(k).is_some(), "_ingest.{k}");
        }
        let id = a["id"].as_str().unwrap().to_string();
        let wire = f.with_tenant(|t| t.activity_json(&id)).expect("in source");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&wire).unwrap(),
            "activity {id} not verbatim"
        );
        if a.as_object().unwrap().keys().any(|k| k.starts_with("x_")) {
            unknown_seen += 1;
        }
    }
    assert!(unknown_seen > 0, "the synthetic tenant should carry unknown fields");

    // messages carry Monad's chat context
    let msgs = verify::read_table(&sink, Table::ChatMessages).await.unwrap();
    assert!(!msgs.is_empty());
    for m in &msgs {
        for k in ["chat_id", "chat_name", "chat_user", "organization_id", "organization_uuid", "project_id", "_ingest"]
        {
            assert!(m.get(k).is_some(), "message missing {k}: {m}");
        }
        assert!(m["chat_user"].get("id").is_some() || m["chat_user"].is_null());
    }
    // users carry the organization they were listed under
    for u in verify::read_table(&sink, Table::Users).await.unwrap() {
        assert!(u["organization_uuid"].as_str().is_some_and(|s| !s.is_empty()));
    }
    // projects carry detail fields
    for p in verify::read_table(&sink, Table::Projects).await.unwrap() {
        assert!(p.get("instructions").is_some() && p.get("description").is_some(), "{p}");
    }
    let docs = verify::read_table(&sink, Table::ProjectDocuments).await.unwrap();
    assert!(docs.iter().any(|d| d.get("content").and_then(Value::as_str).is_some()));
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_pages_in_both_families() {
    let f = fake(small_tenant(3), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = shared::streams::SyncConfig {
        activity_page_size: 7,
        chat_page_size: 3,
        message_page_size: 2,
        user_page_size: 1,
        project_page_size: 1,
        max_records_per_segment: 25,
        ..sync_cfg(&f)
    };
    let r = run_sync(client(&f), dir.path(), cfg.clone(), FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    assert!(r.jobs.iter().map(|j| j.segments()).sum::<u64>() > 5, "many segments");
    f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    let r = run_sync(client(&f), dir.path(), cfg, FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

/// DLP at ingest: findings from every source kind, each once across runs, never holding a value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dlp_findings_from_every_source_kind_without_values() {
    let f = fake(shared::synthetic::TenantConfig { seed: 5, ..shared::synthetic::TenantConfig::default() }, open_cfg())
        .await;
    let dir = tempfile::tempdir().unwrap();
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    let sink = LocalObjectSink::new(dir.path()).unwrap();
    let findings = verify::read_table(&sink, Table::DlpFindings).await.unwrap();
    let kinds: std::collections::BTreeSet<&str> = findings.iter().filter_map(|x| x["source_kind"].as_str()).collect();
    for k in ["chat_message", "chat_file", "project_description", "project_instruction", "project_file"] {
        assert!(kinds.contains(k), "no finding from {k}: {kinds:?}");
    }
    let ids = verify::identity_counts(&sink, Table::DlpFindings).await.unwrap();
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "findings written twice: {twice:?}");
    let severities: std::collections::BTreeSet<&str> = findings.iter().filter_map(|x| x["severity"].as_str()).collect();
    assert!(severities.contains("CRITICAL") && severities.contains("MEDIUM"), "{severities:?}");
    // no planted secret value appears anywhere in a finding
    let planted: Vec<String> = f.with_tenant(|t| t.planted.iter().map(|p| p.value.clone()).collect());
    assert!(planted.len() > 10);
    let all = serde_json::to_string(&findings).unwrap();
    for v in planted.iter().filter(|v| v.len() >= 8) {
        assert!(!all.contains(v.as_str()), "a finding contains a raw value");
    }
    for x in &findings {
        for k in [
            "id",
            "detector",
            "severity",
            "start",
            "end",
            "redacted",
            "fingerprint",
            "source_kind",
            "source_id",
            "user_id",
            "organization_uuid",
        ] {
            assert!(x.get(k).is_some(), "finding missing {k}");
        }
    }
    f.shutdown().await;
}
