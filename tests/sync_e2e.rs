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
    // sessions: the remote session its user deleted after the first run is still in the lake (the
    // only copy); continued sessions got their new messages (each once, checked above)
    let ms = &m.sessions;
    assert!(!ms.deleted_remote.is_empty() && !ms.appended_local.is_empty() && !ms.new_message_ids.is_empty(), "{ms:?}");
    let remote = verify::read_table(&sink, Table::RemoteSessions).await.unwrap();
    for id in &ms.deleted_remote {
        assert!(remote.iter().any(|r| r["id"] == *id), "deleted remote session {id} kept");
        assert!(e.sessions.remote_sessions.contains(id));
    }
    // local calls aged out by retention (the long-running session's created_at moved forward) stay
    let lm = verify::identity_counts(&sink, Table::LocalSessionMessages).await.unwrap();
    assert!(!ms.aged_out_messages.is_empty(), "retention aged calls out");
    for id in &ms.aged_out_messages {
        assert_eq!(lm.get(id), Some(&1), "aged-out message {id} kept once");
    }
    for id in &ms.appended_local {
        let versions = verify::read_table(&sink, Table::LocalSessions).await.unwrap();
        assert!(versions.iter().filter(|r| r["id"] == *id).count() >= 2, "new version of {id} written");
    }
    // a third run with no change writes nothing new
    let r3 = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r3.ok());
    let inc: u64 = r3
        .jobs
        .iter()
        // snapshot streams (organizations, users, the directory) write a full snapshot every run
        .filter(|j| {
            shared::streams::find(j.job.stream()).map(|s| s.spec().mode)
                != Some(shared::streams::SyncMode::FullSnapshot)
        })
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
    // (unscanned_file rows, e.g. a Claude Doc's Artifact versions, carry a reason instead of a match)
    for x in findings.iter().filter(|x| x["detector"] != "unscanned_file") {
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

/// Sessions: context on every message, tool inputs and results of 20k characters stored whole, the
/// two large-transcript errors handled (a 400 `transcript_page_read_limit_exceeded` re-read with a
/// smaller page; a 429 `transcript_read_server_busy` resent unchanged without pausing the budget),
/// markers verbatim, DLP findings from both session kinds without values, and the requests per
/// synced session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_whole_transcripts_large_session_errors_and_dlp() {
    use std::collections::BTreeSet;
    let f = fake(shared::synthetic::TenantConfig { seed: 6, ..small_tenant(6) }, open_cfg()).await;
    let big = f.with_tenant(|t| {
        t.sessions.busy_retry_after = "0.2".into();
        t.sessions.make_very_large().unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let sel = shared::sync::StreamSelection::parse("local_sessions,remote_sessions").unwrap();
    let run = |f: &shared::fake_api::FakeApiHandle| {
        let mut rt = local_runtime(client(f), dir.path(), sync_cfg(f), FailPoints::none());
        rt.streams = sel.clone();
        let opts = shared::serverless::driver::DriveOptions {
            workers: 2,
            max_receives: 1,
            max_wall: std::time::Duration::from_secs(120),
            ..Default::default()
        };
        shared::sync::run_local(rt, opts, std::sync::Arc::new(shared::sync::NoObserver))
    };
    f.reset_stats();
    let r = run(&f).await.expect("run");
    assert!(r.ok(), "{:?}", r.failures());
    let stats = f.stats();
    let sink = LocalObjectSink::new(dir.path()).unwrap();
    let local = verify::read_table(&sink, Table::LocalSessions).await.unwrap();
    let remote = verify::read_table(&sink, Table::RemoteSessions).await.unwrap();
    let session_requests =
        stats.request_log.iter().filter(|l| l.path_and_query.starts_with("/v1/compliance/apps/sessions/")).count();
    let synced = local.len() + remote.len();
    println!(
        "requests per synced session: {:.2} ({session_requests} requests, {synced} sessions: {} local, {} remote; incl. the very large one's retries)",
        session_requests as f64 / synced as f64,
        local.len(),
        remote.len()
    );
    // the very large session: desc never sent, pages over 200 refused, then read with a smaller page;
    // each busy page answered 429 once and the identical request sent again
    let big_log: Vec<_> = stats.request_log.iter().filter(|l| l.path_and_query.contains(&big[..12])).collect();
    assert!(big_log.iter().all(|l| !l.path_and_query.contains("order=desc")));
    assert!(big_log.iter().any(|l| l.status == 400), "page too large seen");
    let busy: Vec<_> = big_log.iter().filter(|l| l.status == 429).collect();
    assert!(!busy.is_empty(), "server busy seen");
    for b in &busy {
        assert!(
            big_log.iter().any(|l| l.status == 200 && l.path_and_query == b.path_and_query && l.at_ms >= b.at_ms),
            "busy request resent unchanged: {}",
            b.path_and_query
        );
    }
    assert_eq!(r.budget.rate_limited, 0, "transcript_read_server_busy did not pause the shared budget");
    let (_, _, rate_limited, _) =
        r.jobs.iter().find(|j| j.job.stream() == "local_sessions").map(|j| j.calls()).unwrap_or_default();
    assert_eq!(rate_limited, 0, "not counted as rate limiting");

    // every message carries its session context; tools stored whole; markers verbatim
    let lm = verify::read_table(&sink, Table::LocalSessionMessages).await.unwrap();
    let rm = verify::read_table(&sink, Table::RemoteSessionMessages).await.unwrap();
    for m in &lm {
        for k in ["session_id", "organization_uuid", "user", "product_surface", "workspace_id", "_ingest"] {
            assert!(m.get(k).is_some(), "local message missing {k}");
        }
        assert!(m["user"]["id"].is_string() && m["user"].get("email_address").is_some());
    }
    for m in &rm {
        for k in ["session_id", "organization_uuid", "user", "agent_id", "status", "claude_project_id", "_ingest"] {
            assert!(m.get(k).is_some(), "remote message missing {k}");
        }
    }
    let all = serde_json::to_string(&(&lm, &rm)).unwrap();
    assert!(!all.contains("[truncated;"), "no tool input or result cut");
    let mut long_inputs = 0;
    let mut long_results = 0;
    for m in lm.iter().chain(rm.iter()) {
        for b in m["content"].as_array().into_iter().flatten() {
            if b["type"] == "tool_use" && b["input"].as_str().is_some_and(|s| s.len() >= 20_000) {
                assert_eq!(b["truncated"], false);
                serde_json::from_str::<serde_json::Value>(b["input"].as_str().unwrap()).expect("whole input is JSON");
                long_inputs += 1;
            }
            if b["type"] == "tool_result"
                && b["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["text"].as_str().is_some_and(|s| s.len() >= 20_000))
            {
                long_results += 1;
            }
        }
    }
    assert!(long_inputs >= 2 && long_results >= 2, "20k tool input/result stored whole: {long_inputs} {long_results}");
    assert!(lm
        .iter()
        .any(|m| m["provenance"]["type"] == "content_unavailable" && m["content"] == serde_json::json!([])));
    assert!(lm.iter().any(|m| m["content"][0]["text"] == "[system prompt content not shown]"));
    assert!(rm.iter().any(|m| m["content_unavailable"] == true));

    // DLP over user turns, tool inputs and tool results of both kinds; no raw value anywhere
    let findings = verify::read_table(&sink, Table::DlpFindings).await.unwrap();
    let kinds: BTreeSet<&str> = findings.iter().filter_map(|x| x["source_kind"].as_str()).collect();
    assert!(kinds.contains("local_session_message") && kinds.contains("remote_session_message"), "{kinds:?}");
    assert!(findings.iter().all(|x| x["session_id"].is_string()));
    let planted: Vec<String> = f.with_tenant(|t| t.sessions.planted.iter().map(|p| p.value.clone()).collect());
    assert!(planted.len() > 5);
    let fj = serde_json::to_string(&findings).unwrap();
    for v in planted.iter().filter(|v| v.len() >= 8) {
        assert!(!fj.contains(v.as_str()), "a finding contains a raw value");
    }
    // a tool_result finding (in a user message) and a tool_use finding (in an assistant message)
    let by_id: std::collections::BTreeMap<&str, &serde_json::Value> =
        lm.iter().chain(rm.iter()).filter_map(|m| Some((m["id"].as_str()?, m))).collect();
    let block_types: BTreeSet<String> = findings
        .iter()
        .filter_map(|x| {
            let m = by_id.get(x["message_id"].as_str()?)?;
            Some(m["content"][x["content_index"].as_u64()? as usize]["type"].as_str()?.to_string())
        })
        .collect();
    assert!(block_types.contains("tool_use") && block_types.contains("tool_result"), "{block_types:?}");

    // around a mutation: exactly once (the common check covers every table)
    f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    f.reset_stats();
    let r = run(&f).await.expect("run");
    assert!(r.ok(), "{:?}", r.failures());
    let requests =
        f.stats().request_log.iter().filter(|l| l.path_and_query.starts_with("/v1/compliance/apps/sessions/")).count();
    let versions: u64 = r
        .jobs
        .iter()
        .map(|j| {
            j.stats
                .iter()
                .map(|s| {
                    let rec = s.records();
                    rec.get(&Table::LocalSessions).copied().unwrap_or(0)
                        + rec.get(&Table::RemoteSessions).copied().unwrap_or(0)
                })
                .sum::<u64>()
        })
        .sum();
    println!(
        "incremental run: {requests} session requests for {versions} changed sessions ({:.2} per synced session)",
        requests as f64 / versions.max(1) as f64
    );
    assert!(versions > 0);
    let e = f.expected();
    for (table, exp) in [
        (Table::LocalSessionMessages, &e.sessions.local_session_messages),
        (Table::RemoteSessionMessages, &e.sessions.remote_session_messages),
    ] {
        let c = verify::check(exp, &verify::identity_counts(&sink, table).await.unwrap());
        assert!(
            c.exact(),
            "{table}: missing {:?} duplicated {:?} unexpected {:?}",
            c.missing,
            c.duplicated,
            c.unexpected
        );
    }
    let ids = verify::identity_counts(&sink, Table::DlpFindings).await.unwrap();
    assert!(ids.values().all(|n| *n == 1), "a finding written twice");
    f.shutdown().await;
}

/// Access Transparency (#12 item 4): a late AT event (visible two business days after its
/// `created_at`, between two syncs) is written exactly once; the fake's transparency log verifies
/// (checkpoints archived, an inclusion proof per event); then a forked checkpoint, a wrong inclusion
/// proof, a bad signature and a vanished log each raise findings and the alarm metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_transparency_late_events_and_the_transparency_log() {
    use shared::streams::{Job, JobStats};
    let f = fake(small_tenant(12), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let fp = f.with_tenant(|t| shared::synthetic::tlog::log_signer(t.config.seed).log_key().unwrap().fingerprint_hex());
    let cfg = shared::streams::SyncConfig { tlog_trusted_fingerprints: vec![fp], ..sync_cfg(&f) };
    let sink = LocalObjectSink::new(dir.path()).unwrap();
    let findings = || async { verify::read_table(&sink, Table::TransparencyFindings).await.unwrap() };

    // org 0 has AT events (and so a log); org 1 has none yet: 404 on every endpoint, a normal state
    let (org0, org1) = f.with_tenant(|t| (t.orgs[0].uuid.clone(), t.orgs[1].uuid.clone()));
    let mut visible = f.with_tenant(|t| t.add_access_transparency(1, 3));
    let r0 = run_sync(client(&f), dir.path(), cfg.clone(), FailPoints::none()).await;
    assert!(r0.ok(), "{:?}", r0.failures());
    assert!(findings().await.is_empty(), "no log yet is no finding");
    assert_eq!(verify::read_table(&sink, Table::TransparencyCheckpoints).await.unwrap().len(), 1);

    // org 1's first events (recent); in org 0 an event recorded now that stays invisible
    visible.extend(f.with_tenant(|t| {
        let now = t.now;
        (1..=3).map(|h| t.add_access_transparency_event(1, now - chrono::Duration::hours(h), true)).collect::<Vec<_>>()
    }));
    let late = f.with_tenant(|t| {
        let now = t.now;
        t.add_late_access_transparency(0, now)
    });
    let r1 = run_sync(client(&f), dir.path(), cfg.clone(), FailPoints::none()).await;
    assert!(r1.ok(), "{:?}", r1.failures());
    let acts = verify::identity_counts(&sink, Table::Activities).await.unwrap();
    assert!(visible.iter().all(|id| acts.get(id) == Some(&1)), "visible AT events once");
    assert_eq!(acts.get(&late), None, "not visible yet");

    // two business days later the late event becomes visible, far behind the feed's 10-minute overlap
    let late_created = f.with_tenant(|t| {
        t.reveal_hidden_activities();
        t.activities.iter().find(|a| a.id == late).unwrap().created_at
    });
    assert!(chrono::Utc::now() - late_created >= chrono::Duration::days(2));
    assert_eq!(cfg.activity_overlap, chrono::Duration::minutes(10), "the feed's overlap is not widened");
    let r2 = run_sync(client(&f), dir.path(), cfg.clone(), FailPoints::none()).await;
    assert!(r2.ok(), "{:?}", r2.failures());
    let r3 = run_sync(client(&f), dir.path(), cfg.clone(), FailPoints::none()).await;
    assert!(r3.ok(), "{:?}", r3.failures());
    let acts = verify::identity_counts(&sink, Table::Activities).await.unwrap();
    assert_eq!(acts.get(&late), Some(&1), "the late AT event is written exactly once");
    assert_exactly_once(dir.path(), &f.expected()).await;

    // the log verified: one archived checkpoint per org, every AT event proven included, once
    let cps = verify::read_table(&sink, Table::TransparencyCheckpoints).await.unwrap();
    let mut sizes: Vec<(String, u64)> = cps
        .iter()
        .map(|c| (c["organization_uuid"].as_str().unwrap().to_string(), c["tree_size"].as_u64().unwrap()))
        .collect();
    sizes.sort();
    let mut want = vec![(org0.clone(), 3), (org0.clone(), 4), (org1.clone(), 3)];
    want.sort();
    assert_eq!(sizes, want);
    assert!(cps.iter().all(|c| c["note"].as_str().unwrap().starts_with("axt.anthropic.com/")));
    let inc = verify::identity_counts(&sink, Table::TransparencyInclusions).await.unwrap();
    assert_eq!(inc.len(), 7);
    assert!(inc.values().all(|n| *n == 1));
    assert!(inc.contains_key(&late));
    let rows = verify::read_table(&sink, Table::TransparencyInclusions).await.unwrap();
    assert!(rows.iter().all(|r| r["outcome"] == "verified" && r["root_hash"].is_string()), "{rows:?}");
    assert!(findings().await.is_empty(), "{:?}", findings().await);

    // one job of the stream, run directly so its counters (the alarm metric) can be read
    let run_job = |run: &'static str, org: String| {
        let rt = local_runtime(client(&f), dir.path(), cfg.clone(), FailPoints::none());
        let ctx = rt.context(client(&f), run, None);
        async move {
            let stats = JobStats::default();
            shared::streams::run_job(&ctx, &Job::per_org("transparency_checkpoints", org), &stats).await.unwrap();
            shared::observability::transparency_metric("transparency_checkpoints", &stats)
        }
    };
    let kinds = || async {
        let mut k: Vec<String> = findings().await.iter().map(|r| r["kind"].as_str().unwrap().to_string()).collect();
        k.sort();
        k.dedup();
        k
    };

    // a forked log: the next checkpoint does not extend the archived one
    f.with_tenant(|t| {
        t.tlog_faults.fork = true;
        t.add_access_transparency_event(0, t.now - chrono::Duration::hours(1), true);
    });
    let metric = run_job("run-fork", org0.clone()).await.expect("the alarm metric");
    let m: Value = serde_json::from_str(&metric).unwrap();
    assert!(m["TransparencyFindings"].as_f64().unwrap() >= 1.0);
    assert_eq!(m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], "TransparencyFindings");
    assert_eq!(kinds().await, vec!["inconsistent_checkpoint"]);
    // the same size with another root (org1's log did not grow)
    assert!(run_job("run-fork-1", org1.clone()).await.is_some());
    let f1 = findings().await;
    assert!(f1.iter().any(|r| r["organization_uuid"] == org1.as_str() && r["kind"] == "inconsistent_checkpoint"));
    // the forked checkpoints were not adopted
    assert_eq!(verify::read_table(&sink, Table::TransparencyCheckpoints).await.unwrap().len(), 3);

    // back to the true history: it extends the archive (4 → 5) and the new event verifies
    f.with_tenant(|t| t.tlog_faults.fork = false);
    assert_eq!(run_job("run-heal", org0.clone()).await, None);
    assert_eq!(verify::read_table(&sink, Table::TransparencyCheckpoints).await.unwrap().len(), 4);
    let n_inc = verify::read_table(&sink, Table::TransparencyInclusions).await.unwrap().len();
    assert_eq!(n_inc, 8);

    // an inclusion proof that does not match
    f.with_tenant(|t| {
        t.tlog_faults.wrong_inclusion = true;
        t.add_access_transparency_event(0, t.now - chrono::Duration::minutes(30), true);
    });
    assert!(run_job("run-inclusion", org0.clone()).await.is_some());
    assert!(kinds().await.contains(&"inclusion_mismatch".to_string()));
    assert_eq!(
        verify::read_table(&sink, Table::TransparencyInclusions).await.unwrap().len(),
        n_inc,
        "not recorded as verified"
    );

    // a checkpoint whose signature does not verify; a log that vanished after it was archived
    f.with_tenant(|t| {
        t.tlog_faults = Default::default();
        t.tlog_faults.bad_signature = true;
        t.add_access_transparency_event(1, t.now - chrono::Duration::minutes(20), true);
    });
    assert!(run_job("run-sig", org1.clone()).await.is_some());
    assert!(kinds().await.contains(&"bad_signature".to_string()));
    f.with_tenant(|t| t.tlog_faults = shared::synthetic::tlog::TlogFaults { no_log: true, ..Default::default() });
    assert!(run_job("run-gone", org1.clone()).await.is_some());
    assert!(kinds().await.contains(&"log_missing".to_string()));
    assert_verified(dir.path()).await;
    f.shutdown().await;
}

/// Rows of a snapshot table by run: each identity once per run, and the runs' identity sets.
async fn snapshots_by_run(
    sink: &LocalObjectSink,
    table: Table,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut by: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for r in verify::read_table(sink, table).await.unwrap() {
        let run = r["_ingest"]["run_id"].as_str().unwrap().to_string();
        let id = verify::identity(table, &r).unwrap_or_else(|| panic!("{table} row without identity: {r}"));
        assert!(by.entry(run.clone()).or_default().insert(id.clone()), "{table}: {id} twice in {run}");
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn directory_snapshots_once_per_run_with_context_and_key_change_findings() {
    use shared::streams::{run_job, Job, JobStats};
    let f = fake(small_tenant(12), open_cfg()).await;
    // one organization without the settings feature: its endpoint answers 404, a normal state
    let no_settings = f.with_tenant(|t| {
        t.orgs.push(t.orgs[0].clone());
        let o = t.orgs.last_mut().unwrap();
        o.uuid = "0a0a0a0a-0000-4000-8000-00000000beef".into();
        o.wire["uuid"] = serde_json::json!(o.uuid);
        t.directory.settings_disabled.insert(o.uuid.clone());
        o.uuid.clone()
    });
    let dir = tempfile::tempdir().unwrap();
    let sink = LocalObjectSink::new(dir.path()).unwrap();
    let tables = [Table::Roles, Table::Groups, Table::GroupMembers, Table::OrgSettings, Table::ProjectCollaborators];
    let want = |e: &shared::synthetic::DirectoryExpected, t: Table| match t {
        Table::Roles => e.roles.clone(),
        Table::Groups => e.groups.clone(),
        Table::GroupMembers => e.group_members.clone(),
        Table::OrgSettings => e.org_settings.clone(),
        _ => e.project_collaborators.clone(),
    };
    let r1 = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r1.ok(), "{:?}", r1.failures());
    let e1 = f.expected().directory;
    let m = f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    let d = &m.directory;
    assert!(!d.added_keys.is_empty() && !d.deactivated_keys.is_empty() && !d.members_added.is_empty(), "{d:?}");
    let r2 = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r2.ok(), "{:?}", r2.failures());
    let e2 = f.expected().directory;
    assert_ne!(e1.group_members, e2.group_members, "the mutation changed a group's members");
    assert_exactly_once(dir.path(), &f.expected()).await;
    // every row of each snapshot exactly once: the first run's snapshot is the source before the
    // mutation, the second run's the source after it
    for t in tables {
        let by = snapshots_by_run(&sink, t).await;
        assert_eq!(by.len(), 2, "{t}: one snapshot per run");
        let (first, second) = (&r1.run_id, &r2.run_id);
        assert_eq!(by[first], want(&e1, t), "{t}: first snapshot");
        assert_eq!(by[second], want(&e2, t), "{t}: second snapshot");
        assert!(!by[second].is_empty(), "{t} is empty");
    }
    assert!(!e2.org_settings.contains(&no_settings) && r2.jobs.iter().any(|j| j.key.contains(&no_settings)));
    // context fields
    for r in verify::read_table(&sink, Table::Roles).await.unwrap() {
        assert!(r["organization_uuid"].is_string() && !r["permissions"].as_array().unwrap().is_empty(), "{r}");
        assert!(r["permissions"][0]["action"].is_string());
    }
    for r in verify::read_table(&sink, Table::GroupMembers).await.unwrap() {
        assert!(r["group_id"].as_str().unwrap().starts_with("rbac_group_") && r["user_id"].is_string(), "{r}");
    }
    for r in verify::read_table(&sink, Table::Groups).await.unwrap() {
        assert_eq!(r["members_status"], "complete", "{r}");
    }
    for r in verify::read_table(&sink, Table::ProjectCollaborators).await.unwrap() {
        assert!(r["project_id"].as_str().unwrap().starts_with("claude_proj_") && r["role"].is_string(), "{r}");
    }
    for r in verify::read_table(&sink, Table::OrgSettings).await.unwrap() {
        assert!(r["organization_uuid"].is_string() && r["api_keys"].is_array() && r["settings"].is_array(), "{r}");
        assert_eq!(r["type"], "effective_organization_settings", "verbatim");
    }
    // the self-audit: the first snapshot is the baseline, the second saw one key added and one
    // deactivated (one finding per organization: the key list is the parent's)
    let findings = verify::read_table(&sink, Table::TransparencyFindings).await.unwrap();
    let orgs = e2.org_settings.len();
    let of = |kind: &str| findings.iter().filter(|r| r["kind"] == kind).collect::<Vec<_>>();
    assert_eq!(of("compliance_key_added").len(), orgs, "{findings:?}");
    assert_eq!(of("compliance_key_deactivated").len(), orgs, "{findings:?}");
    assert!(of("compliance_key_added").iter().all(|r| r["api_key_id"] == d.added_keys[0].as_str()));
    assert!(of("compliance_key_deactivated").iter().all(|r| r["api_key_id"] == d.deactivated_keys[0].as_str()));
    assert!(findings.iter().all(|r| !r.to_string().contains("sk-ant-")), "no secret in a finding");

    // the metric, from one org_settings job run directly (its counters are the EMF line)
    f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    let org0 = e2.org_settings.iter().next().unwrap().clone();
    let rt = local_runtime(client(&f), dir.path(), sync_cfg(&f), FailPoints::none());
    let ctx = rt.context(client(&f), "run-keys", None);
    let stats = JobStats::default();
    run_job(&ctx, &Job::per_org("org_settings", org0.clone()), &stats).await.unwrap();
    let line = shared::observability::key_change_metric("org_settings", &stats).expect("ComplianceKeyChanges");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["ComplianceKeyChanges"].as_f64(), Some(2.0), "{line}");
    assert_eq!(v["Stream"], "org_settings");
    assert!(shared::observability::transparency_metric("org_settings", &stats).is_none());
    // a redelivered job of the same run writes nothing again
    let again = JobStats::default();
    run_job(&ctx, &Job::per_org("org_settings", org0), &again).await.unwrap();
    assert_eq!(again.total_records(), 0);

    // cadence: with a one-hour directory interval, a run right after writes no directory snapshot
    let cfg = shared::streams::SyncConfig { directory_interval: Some(chrono::Duration::hours(1)), ..sync_cfg(&f) };
    let r3 = run_sync(client(&f), dir.path(), cfg, FailPoints::none()).await;
    assert!(r3.ok(), "{:?}", r3.failures());
    let dir_streams = ["roles", "groups", "org_settings", "project_collaborators"];
    let written: u64 =
        r3.jobs.iter().filter(|j| dir_streams.contains(&j.job.stream())).map(|j| j.total_records()).sum();
    assert_eq!(written, 0, "directory snapshots are not due");
    assert!(
        r3.jobs.iter().any(|j| j.job.stream() == "users" && j.total_records() > 0),
        "users still snapshot every run"
    );

    // a key without read:compliance_user_data: 403 on members, the groups snapshot is still written
    let org_only = format!("{}orgdataonly0000000000000000000000000000000", shared::fake_api::COMPLIANCE_KEY_PREFIX);
    let mut keys = shared::fake_api::FakeApiConfig::default().keys;
    keys.push(shared::fake_api::FakeKey::new(org_only.clone(), &[shared::fake_api::SCOPE_ORG_DATA]));
    f.set_keys(keys);
    f.reset_stats();
    let limited = client_with_key(&f.base_url(), &org_only);
    let rt = local_runtime(limited.clone(), dir.path(), sync_cfg(&f), FailPoints::none());
    let ctx = rt.context(limited, "run-forbidden", None);
    let stats = JobStats::default();
    run_job(&ctx, &Job::tenant("groups"), &stats).await.expect("groups without members");
    let groups: Vec<Value> = verify::read_table(&sink, Table::Groups)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r["_ingest"]["run_id"] == "run-forbidden")
        .collect();
    assert_eq!(groups.len(), e2.groups.len(), "every group in the snapshot");
    assert!(groups.iter().all(|g| g["members_status"] == "forbidden"
        && g["members_error"].as_str().unwrap().contains("read:compliance_user_data")));
    let members = snapshots_by_run(&sink, Table::GroupMembers).await;
    assert!(!members.contains_key("run-forbidden"));
    assert_eq!(f.stats().count(403), 1, "members asked once, not once per group");
    f.shutdown().await;
}

/// Content objects: chat artifacts (metadata + text) and generated files referenced by messages, and
/// code artifacts with their versions, each written once across two syncs around a mutation (a new
/// artifact version and generated file in a chat, a code artifact's new version), with context
/// fields; a poison chat artifact (a permanent 403) is quarantined without stopping its shard and is
/// written once when it clears; DLP findings from each new source kind without values; and the
/// requests per synced artifact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn content_objects_once_each_with_context_dlp_and_a_poison_artifact() {
    use shared::fake_api::{Faults, ScriptedFault};
    use std::collections::BTreeSet;
    let f = fake(small_tenant(3), open_cfg()).await;
    let planted_art =
        f.with_tenant(|t| t.content.planted.iter().find(|p| p.record_kind == "artifact").map(|p| p.record_id.clone()));
    let poison = f
        .with_tenant(|t| t.referenced_artifact_versions().into_iter().find(|v| Some(v) != planted_art.as_ref()))
        .expect("the tenant has chat artifacts");
    f.set_faults(Faults {
        sticky: vec![ScriptedFault::new(format!("/apps/artifacts/{poison}"), 403)],
        ..Faults::none()
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = || shared::streams::SyncConfig { quarantine_retry: std::time::Duration::ZERO, ..sync_cfg(&f) };
    let r1 = run_sync(client(&f), dir.path(), cfg(), FailPoints::none()).await;
    assert!(r1.ok(), "a poison artifact fails no job: {:?}", r1.failures());
    let sink = LocalObjectSink::new(dir.path()).unwrap();
    let e = f.expected();
    let arts = verify::identity_counts(&sink, Table::ChatArtifacts).await.unwrap();
    assert!(!arts.contains_key(&poison), "the poison artifact is quarantined, not written");
    let mut others = e.content.chat_artifacts.clone();
    others.remove(&poison);
    assert!(verify::check(&others, &arts).exact(), "every other chat artifact written once");
    let quarantined: u64 = r1
        .jobs
        .iter()
        .filter(|j| j.job.stream() == "chat_messages")
        .flat_map(|j| j.stats.iter())
        .map(|s| s.quarantined.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert!(quarantined >= 1, "the poison artifact sits in a shard's quarantine");
    let backfill_requests = f.stats().by_endpoint.clone();
    let (chat_rows, code_rows) =
        (arts.len() as u64, verify::identity_counts(&sink, Table::CodeArtifacts).await.unwrap().len() as u64);

    // the fault clears, the tenant changes: the second sync writes the poison artifact and the new
    // objects once, and nothing twice
    f.set_faults(Faults::none());
    let m = f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    let mc = &m.content;
    assert!(!mc.new_artifact_versions.is_empty() && !mc.new_generated_files.is_empty());
    assert!(!mc.updated_code_artifacts.is_empty());
    f.reset_stats();
    let r2 = run_sync(client(&f), dir.path(), cfg(), FailPoints::none()).await;
    assert!(r2.ok(), "{:?}", r2.failures());
    let e = f.expected();
    assert_exactly_once(dir.path(), &e).await;
    let arts = verify::read_table(&sink, Table::ChatArtifacts).await.unwrap();
    let gens = verify::read_table(&sink, Table::GeneratedFiles).await.unwrap();
    let carts = verify::read_table(&sink, Table::CodeArtifacts).await.unwrap();
    let cvers = verify::read_table(&sink, Table::CodeArtifactVersions).await.unwrap();
    assert!(arts.iter().any(|a| a["version_id"] == poison.as_str() && a["content"].is_string()), "poison written");
    for v in &mc.new_artifact_versions {
        let a = arts.iter().find(|a| a["version_id"] == v.as_str()).expect("new artifact version");
        assert!(a["content"].as_str().is_some_and(|c| c.contains("Revision")), "{a}");
    }
    for g in &mc.new_generated_files {
        assert!(gens.iter().any(|x| x["id"] == g.as_str()), "new generated file {g}");
    }
    for id in &mc.updated_code_artifacts {
        assert!(carts.iter().filter(|a| a["id"] == id.as_str()).count() >= 2, "both versions of {id}");
    }
    // context fields
    for a in arts.iter().chain(gens.iter()) {
        for k in ["chat_id", "message_id", "organization_uuid", "chat_user", "project_id", "_ingest"] {
            assert!(a.get(k).is_some(), "content row missing {k}: {a}");
        }
        assert!(a["chat_id"].as_str().is_some_and(|s| s.starts_with("claude_chat_")));
    }
    for a in &arts {
        for k in ["id", "version_id", "title", "artifact_type", "md5", "size_bytes"] {
            assert!(a.get(k).is_some(), "chat artifact missing {k}: {a}");
        }
    }
    let types: BTreeSet<&str> = carts.iter().filter_map(|a| a["artifact_type"].as_str()).collect();
    assert!(types.contains("claude_docs") && types.contains("claude_sheets"), "{types:?}");
    assert!(types.contains(shared::synthetic::artifacts::UNKNOWN_TYPE), "unknown artifact_type passed through");
    assert!(carts.iter().any(|a| a["updated_at"].is_null()), "an artifact without updated_at");
    for v in &cvers {
        for k in ["id", "name", "created_at", "artifact_id", "artifact_type", "organization_uuid", "_ingest"] {
            assert!(v.get(k).is_some(), "code artifact version missing {k}: {v}");
        }
    }
    // DLP: each new source kind, no raw value
    let findings = verify::read_table(&sink, Table::DlpFindings).await.unwrap();
    let kinds: BTreeSet<&str> = findings.iter().filter_map(|x| x["source_kind"].as_str()).collect();
    for k in ["artifact", "generated_file", "code_artifact"] {
        assert!(
            findings.iter().any(|x| x["source_kind"] == k && x["detector"] != "unscanned_file"),
            "no finding from {k}: {kinds:?}"
        );
    }
    assert!(
        findings.iter().any(|x| x["source_kind"] == "code_artifact" && x["detector"] == "unscanned_file"),
        "a Claude Doc / multi-file version is an unscanned_file row"
    );
    let planted: Vec<String> = f.with_tenant(|t| t.content.planted.iter().map(|p| p.value.clone()).collect());
    assert!(planted.len() >= 3);
    let fj = serde_json::to_string(&findings).unwrap();
    for v in planted.iter().filter(|v| v.len() >= 8) {
        assert!(!fj.contains(v.as_str()), "a finding contains a raw value");
    }

    // requests per synced artifact (printed for the bench figure)
    let per = |reqs: &std::collections::BTreeMap<String, u64>, prefix: &str| -> u64 {
        reqs.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, n)| *n).sum()
    };
    let incr = f.stats().by_endpoint.clone();
    let rec = |t: Table| -> u64 {
        r2.jobs.iter().flat_map(|j| j.stats.iter()).map(|s| s.records().get(&t).copied().unwrap_or(0)).sum()
    };
    let chat_req = |r: &std::collections::BTreeMap<String, u64>| per(r, "/v1/compliance/apps/artifacts/");
    let code_req = |r: &std::collections::BTreeMap<String, u64>| per(r, "/v1/compliance/apps/code/artifacts");
    println!(
        "requests per synced artifact — backfill: chat {:.2} ({} / {chat_rows}), code {:.2} ({} / {code_rows}); \
         incremental: chat {:.2} ({} / {}), code {:.2} ({} / {})",
        chat_req(&backfill_requests) as f64 / chat_rows.max(1) as f64,
        chat_req(&backfill_requests),
        code_req(&backfill_requests) as f64 / code_rows.max(1) as f64,
        code_req(&backfill_requests),
        chat_req(&incr) as f64 / rec(Table::ChatArtifacts).max(1) as f64,
        chat_req(&incr),
        rec(Table::ChatArtifacts),
        code_req(&incr) as f64 / rec(Table::CodeArtifacts).max(1) as f64,
        code_req(&incr),
        rec(Table::CodeArtifacts),
    );
    assert!(chat_req(&incr) <= 2 * rec(Table::ChatArtifacts) + 2, "≤ 2 requests per chat artifact version");
    f.shutdown().await;
}

/// The self-audit heartbeat (issue 12 item 6): the fake records every request as a
/// `compliance_api_accessed` row, as the API does. The activities job learns our key from its own
/// request ids (never from another tool's rows in the same feed), follows our newest row, and its
/// lag grows once access logging stops; with the type excluded the heartbeat is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn self_audit_heartbeat_follows_our_own_requests_in_the_feed() {
    use shared::status::{collect, self_audit, self_audit_line};
    use shared::store::LocalStateStore;
    let f =
        fake(small_tenant(71), shared::fake_api::FakeApiConfig { emit_access_activities: true, ..open_cfg() }).await;
    let ours = shared::synthetic::api_key_id_for(&shared::fake_api::synthetic_key());
    // the synthetic feed already holds another tool's access rows
    let others: Vec<String> = f.with_tenant(|t| {
        t.activities
            .iter()
            .filter(|a| a.activity_type == "compliance_api_accessed")
            .filter_map(|a| a.wire["actor"]["api_key_id"].as_str().map(str::to_string))
            .collect()
    });
    assert!(!others.is_empty() && others.iter().all(|k| *k != ours), "another tool's rows: {others:?}");
    let heartbeat = |dir: &std::path::Path| {
        let dir = dir.to_path_buf();
        async move {
            let jobs = collect(&LocalStateStore::new(&dir).unwrap()).await.unwrap();
            let hb = self_audit(&jobs).cloned().expect("activities heartbeat");
            (hb, self_audit_line(&jobs, shared::time::Timestamp::now()))
        }
    };
    let lag = |r: &shared::sync::RunReport| {
        r.jobs
            .iter()
            .filter(|j| j.job.stream() == "activities")
            .flat_map(|j| j.stats.iter())
            .find_map(|s| s.self_audit_lag_secs())
    };

    let dir = tempfile::tempdir().unwrap();
    let t0 = shared::time::Timestamp::now();
    let r1 = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r1.ok(), "{:?}", r1.failures());
    let (hb1, _) = heartbeat(dir.path()).await;
    assert!(!hb1.probes.is_empty() && hb1.probes.len() <= shared::streams::activities::MAX_PROBES, "{hb1:?}");
    assert!(lag(&r1).is_some(), "the lag is measured from the first probe until a row of ours is seen");

    // the second walk reads the first run's own rows: our key is learned from a probe
    let r2 = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r2.ok(), "{:?}", r2.failures());
    let (hb2, line2) = heartbeat(dir.path()).await;
    assert_eq!(hb2.api_key_id.as_deref(), Some(ours.as_str()), "{hb2:?}");
    let seen2 = hb2.last_seen.expect("our newest row");
    assert!(seen2 >= t0, "our row is from this test's runs, not another tool's: {seen2:?}");
    assert!(line2.contains(&ours) && line2.contains("newest own request"), "{line2}");
    let lag2 = lag(&r2).expect("lag");
    assert!(lag2 < 120.0, "fresh: {lag2}");

    // Compliance API access logging stops: our newest row no longer moves, the lag grows
    f.set_emit_access_activities(false);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let r3 = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r3.ok(), "{:?}", r3.failures());
    let r4 = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r4.ok());
    let (hb4, _) = heartbeat(dir.path()).await;
    let seen4 = hb4.last_seen.expect("still known");
    assert!(seen4 >= seen2);
    let lag4 = lag(&r4).expect("lag");
    assert!(lag4 >= (shared::time::Timestamp::now().0 - seen4.0).num_seconds() as f64 - 1.0 && lag4 >= 1.0, "{lag4}");
    // no probe since logging stopped is ever matched: they stay pending (bounded)
    assert!(!hb4.probes.is_empty() && hb4.probes.len() <= shared::streams::activities::MAX_PROBES);
    // the lake verifies (our own rows are ordinary activities, each once)
    assert_verified(dir.path()).await;

    // excluded from the walk: off, said so, no metric
    let mut cfg = sync_cfg(&f);
    cfg.exclude_activity_types = vec!["compliance_api_accessed".into()];
    let r5 = run_sync(client(&f), dir.path(), cfg, FailPoints::none()).await;
    assert!(r5.ok(), "{:?}", r5.failures());
    let (hb5, line5) = heartbeat(dir.path()).await;
    assert!(hb5.off.is_some() && hb5.probes.is_empty() && hb5.api_key_id.is_none(), "{hb5:?}");
    assert!(line5.contains("off") && line5.contains("excluded"), "{line5}");
    assert_eq!(lag(&r5), None);
    f.shutdown().await;
}
