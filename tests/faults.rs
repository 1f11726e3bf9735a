//! Fault tests: rate limiting, transient and terminal server errors, malformed bodies, and crashes
//! between writing data and advancing a checkpoint. Nothing lost, nothing duplicated, in every case.

mod common;

use common::*;
use shared::fake_api::{Faults, ScriptedFault};
use shared::streams::failpoints::Action;
use shared::streams::FailPoints;
use shared::synthetic::MutationConfig;

fn count_path(f: &shared::fake_api::FakeApiHandle, needle: &str) -> usize {
    f.stats().request_log.iter().filter(|r| r.path_and_query.contains(needle)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limited_429_honours_retry_after_and_keeps_the_cursor() {
    let f = fake(small_tenant(11), open_cfg()).await;
    // `?order=asc` first: the activities stream's listing (the Access Transparency streams list the same
    // path, their query starting with activity_types[])
    f.push_fault(ScriptedFault::new("/v1/compliance/activities?order=asc", 429).with_header("retry-after", "1"));
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    assert!(t0.elapsed() >= std::time::Duration::from_secs(1), "waited for retry-after");
    assert_eq!(f.stats().injected_scripted, 1);
    let acts = r.jobs.iter().find(|j| j.job.stream() == "activities").unwrap();
    assert_eq!(acts.calls().2, 1, "one 429 seen");
    assert!(r.budget.rate_limited >= 1);
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_5xx_and_malformed_bodies_are_retried() {
    let f = fake(small_tenant(12), open_cfg()).await;
    f.set_faults(Faults { error_every_nth: Some(4), malformed_json_every_nth: Some(7), ..Faults::default() });
    let dir = tempfile::tempdir().unwrap();
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    let s = f.stats();
    assert!(s.injected_5xx > 3 && s.injected_malformed > 0, "{s:?}");
    let retries: u64 = r.jobs.iter().map(|j| j.calls().1).sum();
    assert!(retries >= s.injected_5xx, "every injected failure was retried ({retries} < {})", s.injected_5xx);
    f.set_faults(Faults::default());
    f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r.ok());
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_errors_are_never_retried_and_advance_nothing() {
    let f = fake(small_tenant(13), open_cfg()).await;
    f.push_fault(ScriptedFault::new("/v1/compliance/apps/chats?", 403));
    let dir = tempfile::tempdir().unwrap();
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    let err = job_error(&r, "chats").expect("chats failed");
    assert!(err.contains("lacks the required compliance scopes"), "{err}");
    assert_eq!(count_path(&f, "/v1/compliance/apps/chats?"), 1, "403 not retried");
    assert!(job_error(&r, "activities").is_none(), "other jobs unaffected");
    let st = shared::store::LocalStateStore::new(dir.path()).unwrap();
    use shared::store::StateStore;
    assert!(st.load("chats").await.unwrap().is_none(), "no checkpoint for the failed job");
    // the next run catches up completely
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_error_with_should_retry_false_is_terminal() {
    let f = fake(small_tenant(14), open_cfg()).await;
    f.push_fault(ScriptedFault::new("/v1/compliance/activities?order=asc", 500).with_header("x-should-retry", "false"));
    let dir = tempfile::tempdir().unwrap();
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    let err = job_error(&r, "activities").expect("activities failed");
    assert!(err.contains("not to retry"), "{err}");
    assert_eq!(count_path(&f, "/v1/compliance/activities?order=asc"), 1);
    f.shutdown().await;
}

/// A crash after a segment's objects are written and before its checkpoint advances, in every
/// stream, at the first and at a later segment: the re-run neither loses nor duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_at_every_step_of_the_commit_in_every_stream() {
    // after_stage: a part staged; after_write: manifest staged, before the state save;
    // after_commit: state saved, nothing published (the next open rolls it forward);
    // after_publish: published, before the staging cleanup returns; ambiguous_save: the state save
    // is applied but reported as failed (a timeout, an SDK retry that finds its own write).
    let mut cases = vec![];
    for point in ["after_stage", "after_write", "after_commit", "after_publish", "ambiguous_save"] {
        for (stream, nth) in [
            ("activities", 1),
            ("activities", 3),
            ("chats", 1),
            ("chat_messages", 1),
            ("chat_messages", 2),
            ("projects", 1),
            ("users", 1),
            ("organizations", 1),
        ] {
            cases.push((point, stream, nth));
        }
    }
    for (point, stream, nth) in cases {
        let f = fake(small_tenant(20 + nth as u64), open_cfg()).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = shared::streams::SyncConfig {
            max_records_per_segment: 40,
            activity_page_size: 20,
            chat_page_size: 5,
            ..sync_cfg(&f)
        };
        let fp = FailPoints::none();
        fp.set(&format!("{point}:{stream}"), Action::Error, nth);
        let r = run_sync(client(&f), dir.path(), cfg.clone(), fp).await;
        if point == "ambiguous_save" {
            // the commit reads its own head back: it stands, nothing is lost or retried
            assert!(r.ok(), "{point}:{stream}*{nth}: {:?}", r.failures());
            assert_exactly_once(dir.path(), &f.expected()).await;
        } else {
            match job_error(&r, stream) {
                Some(err) => assert!(err.contains("injected"), "{err}"),
                // a chat_messages shard that failed can be woken again by a later commit of the chats
                // job in the same run and finish; the run report keeps each job's last outcome
                None => assert!(
                    stream == "chat_messages" && r.jobs.iter().any(|j| j.job.stream() == stream && j.attempts > 1),
                    "{point}:{stream}*{nth} should have failed"
                ),
            }
        }
        // tenant moves on between the crash and the re-run
        f.with_tenant(|t| t.mutate(&MutationConfig::default()));
        let r = run_sync(client(&f), dir.path(), cfg, FailPoints::none()).await;
        assert!(r.ok(), "{point}:{stream}: {:?}", r.failures());
        assert_exactly_once(dir.path(), &f.expected()).await;
        f.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_answers_map_to_operator_messages() {
    let f = fake(small_tenant(15), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    // well-formed but unknown key → 401
    let c = client_with_key(&f.base_url(), "sk-ant-api01-unknown-key-0000000000000000000000000");
    let r = run_sync(c, dir.path(), sync_cfg(&f), FailPoints::none()).await;
    let e = job_error(&r, "organizations").unwrap();
    assert!(e.contains("API key invalid or revoked"), "{e}");
    assert!(!e.contains("unknown-key-0000"), "the key must never appear in errors: {e}");
    // an admin key reaches the feed only
    let c = client_with_key(&f.base_url(), &shared::fake_api::synthetic_admin_key());
    let r = run_sync(c, dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(job_error(&r, "activities").is_none(), "{:?}", r.failures());
    let e = job_error(&r, "organizations").unwrap();
    assert!(e.contains("403") || e.contains("Not found"), "{e}");
    // a Claude API key is refused before any request
    let mut cfg = shared::api::ClientConfig::new(f.base_url(), shared::api::ApiKey::new("sk-ant-api03-abc"));
    cfg.retry.base = std::time::Duration::from_millis(1);
    let err =
        shared::api::ApiClient::new(cfg, std::sync::Arc::new(shared::budget::LocalBudget::unlimited())).unwrap_err();
    assert!(err.to_string().contains("Claude API key"), "{err}");
    f.shutdown().await;
}

/// The fake enforces the same limit as our budget (on a short window so the test is quick): a sync
/// alone never triggers a 429, and the pace stays close to the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pacing_keeps_a_sync_under_the_limit() {
    use shared::fake_api::{FakeApiConfig, RateLimit};
    use std::time::Duration;
    let window = Duration::from_secs(2);
    let cfg = FakeApiConfig { rate_limit: Some(RateLimit { requests: 30, window }), ..FakeApiConfig::default() };
    let f = fake(small_tenant(16), cfg).await;
    let mut cc =
        shared::api::ClientConfig::new(f.base_url(), shared::api::ApiKey::new(shared::fake_api::synthetic_key()));
    cc.retry.base = Duration::from_millis(5);
    let budget = std::sync::Arc::new(shared::budget::LocalBudget::with_window(30, window, 0.97));
    let client = shared::api::ApiClient::new(cc, budget).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let cfg = shared::streams::SyncConfig { activity_page_size: 4, ..sync_cfg(&f) };
    let r = run_sync(client, dir.path(), cfg, FailPoints::none()).await;
    let secs = t0.elapsed().as_secs_f64();
    assert!(r.ok(), "{:?}", r.failures());
    let s = f.stats();
    assert_eq!(s.count(429), 0, "the budget alone never triggers a 429: {s:?}");
    let rate = s.requests as f64 / secs;
    let limit = 30.0 / window.as_secs_f64();
    println!(
        "pacing: {} requests in {secs:.1}s = {rate:.1}/s against a limit of {limit:.1}/s ({:.0}%)",
        s.requests,
        100.0 * rate / limit
    );
    assert!(s.requests > 60, "enough requests to cross several windows");
    assert!(rate <= limit * 1.01, "never above the limit");
    // A loose floor only (throughput is the benchmarks' job): it catches a pacer that idles, not
    // the start-up and tail of a short run on a loaded machine.
    assert!(rate >= limit * 0.7, "close to the budget");
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

/// Poisoned items (#9): a permanent 403 on one chat's messages, on one file's download and on one
/// project's detail, and a text file announced with `size_bytes: null` that is larger than the
/// response cap. Every other record is written; the chat and the project are quarantined (listed
/// by `status`), the files become `unscanned_file` rows; after the faults clear, the quarantined
/// items are written exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poisoned_items_are_quarantined_and_written_once_when_they_clear() {
    use shared::store::{LocalObjectSink, LocalStateStore, Table};
    let f = fake(small_tenant(31), open_cfg()).await;
    let text_file = |t: &shared::synthetic::Tenant, not: &[&str]| {
        t.chats
            .iter()
            .filter(|c| c.deleted_at.is_none() && !not.contains(&c.id.as_str()))
            .find_map(|c| {
                c.messages.iter().enumerate().find_map(|(i, m)| {
                    let fid = m.wire["files"].as_array()?.iter().find_map(|fl| {
                        let id = fl["id"].as_str()?;
                        let rec = t.files.get(id)?;
                        (rec.content_type.starts_with("text/") && !rec.deleted).then(|| id.to_string())
                    })?;
                    Some((c.id.clone(), i, fid))
                })
            })
            .expect("a chat with a text file")
    };
    let (bad_chat, (chat_b, _, file_403), (chat_c, msg_c, file_big), project) = f.with_tenant(|t| {
        let bad_chat = t.chats.iter().find(|c| c.deleted_at.is_none() && c.messages.len() >= 2).unwrap().id.clone();
        let b = text_file(t, &[&bad_chat]);
        let c = text_file(t, &[&bad_chat, &b.0]);
        (bad_chat, b, c, t.projects[0].id.clone())
    });
    // the big file: 700 KB of text, announced without a size
    f.with_tenant(|t| {
        if let Some(rec) = t.files.get_mut(&file_big) {
            rec.content = "lorem ipsum dolor sit amet\n".repeat(26_000).into_bytes();
        }
        let chat = t.chats.iter_mut().find(|c| c.id == chat_c).unwrap();
        for fl in chat.messages[msg_c].wire["files"].as_array_mut().unwrap() {
            if fl["id"] == file_big.as_str() {
                fl["size_bytes"] = serde_json::Value::Null;
            }
        }
    });
    let sticky = vec![
        ScriptedFault::new(format!("/chats/{bad_chat}/messages"), 403),
        ScriptedFault::new(format!("/files/{file_403}/content"), 403),
        ScriptedFault::new(format!("/apps/projects/{project}"), 403),
    ];
    f.set_faults(Faults { sticky, ..Faults::none() });
    let dir = tempfile::tempdir().unwrap();
    let mut c =
        shared::api::ClientConfig::new(f.base_url(), shared::api::ApiKey::new(shared::fake_api::synthetic_key()));
    c.retry.base = std::time::Duration::from_millis(5);
    c.retry.cap = std::time::Duration::from_millis(20);
    c.max_response_bytes = 512 * 1024;
    let capped = || {
        shared::api::ApiClient::new(c.clone(), std::sync::Arc::new(shared::budget::LocalBudget::unlimited())).unwrap()
    };
    let cfg = shared::streams::SyncConfig {
        activity_page_size: 200,
        quarantine_retry: std::time::Duration::ZERO,
        chat_shards: 4,
        ..sync_cfg(&f)
    };
    let r = run_sync(capped(), dir.path(), cfg.clone(), FailPoints::none()).await;
    assert!(r.ok(), "poisoned items must not fail their jobs: {:?}", r.failures());
    // the directory snapshot says which project's collaborators it could not read (403)
    let sink = shared::store::LocalObjectSink::new(dir.path()).unwrap();
    let collab = shared::verify::read_table(&sink, shared::store::Table::ProjectCollaborators).await.unwrap();
    assert!(
        collab
            .iter()
            .any(|c| c["project_id"] == project.as_str() && c["type"] == "unreadable" && c["error"].is_string()),
        "{collab:?}"
    );

    let state = LocalStateStore::new(dir.path()).unwrap();
    let held: Vec<(String, String, Option<u64>)> = shared::status::collect(&state)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|j| j.quarantine.into_iter().map(move |q| (j.stream.clone(), q.item, q.status)))
        .collect();
    assert!(held.contains(&("chat_messages".into(), bad_chat.clone(), Some(403))), "{held:?}");
    assert!(held.contains(&("project_details".into(), project.clone(), Some(403))), "{held:?}");
    assert_eq!(held.len(), 2, "{held:?}");
    let sink = LocalObjectSink::new(dir.path()).unwrap();
    let findings = shared::verify::read_table(&sink, Table::DlpFindings).await.unwrap();
    let unscanned =
        |fid: &str| findings.iter().filter(|r| r["detector"] == "unscanned_file" && r["file_id"] == fid).count();
    assert_eq!(unscanned(&file_403), 1, "a refused download is an unscanned_file row");
    assert_eq!(unscanned(&file_big), 1, "a download above the cap is an unscanned_file row");
    let msgs = shared::verify::read_table(&sink, Table::ChatMessages).await.unwrap();
    assert!(!msgs.iter().any(|m| m["chat_id"] == bad_chat.as_str()), "nothing of the poisoned chat yet");
    assert!(msgs.iter().any(|m| m["chat_id"] == chat_b.as_str()), "the other chats are written");

    // the faults clear: the quarantined chat and project are written, once
    f.set_faults(Faults::none());
    let r = run_sync(capped(), dir.path(), cfg, FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    let held: usize = shared::status::collect(&state).await.unwrap().iter().map(|j| j.quarantine.len()).sum();
    assert_eq!(held, 0, "quarantine emptied");
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

/// Chat messages are fetched whole: a 20,000-character tool input and tool result are not cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_tool_inputs_and_results_are_stored_whole() {
    use shared::store::{LocalObjectSink, Table};
    let f = fake(small_tenant(33), open_cfg()).await;
    let long_input: String = "x".repeat(20_000);
    let long_result: String = "r".repeat(20_000);
    let chat_id = f.with_tenant(|t| {
        let c = t.chats.iter_mut().find(|c| c.deleted_at.is_none() && c.messages.len() >= 2).unwrap();
        let m = c.messages.iter_mut().find(|m| m.wire["role"] == "assistant").unwrap();
        m.wire["content"] = serde_json::json!([
            {"type": "tool_use", "id": "toolu_01Lk2", "name": "run", "input": long_input},
            {"type": "tool_result", "tool_use_id": "toolu_01Lk2", "content": [{"type": "text", "text": long_result}]}
        ]);
        c.id.clone()
    });
    let dir = tempfile::tempdir().unwrap();
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    let sink = LocalObjectSink::new(dir.path()).unwrap();
    let msgs = shared::verify::read_table(&sink, Table::ChatMessages).await.unwrap();
    let text =
        serde_json::to_string(&msgs.iter().filter(|m| m["chat_id"] == chat_id.as_str()).collect::<Vec<_>>()).unwrap();
    assert!(text.contains(&"x".repeat(20_000)), "tool input cut");
    assert!(text.contains(&"r".repeat(20_000)), "tool result cut");
    f.shutdown().await;
}
