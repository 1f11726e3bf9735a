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
    f.push_fault(ScriptedFault::new("/v1/compliance/activities", 429).with_header("retry-after", "1"));
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
    f.push_fault(ScriptedFault::new("/v1/compliance/activities", 500).with_header("x-should-retry", "false"));
    let dir = tempfile::tempdir().unwrap();
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    let err = job_error(&r, "activities").expect("activities failed");
    assert!(err.contains("not to retry"), "{err}");
    assert_eq!(count_path(&f, "/v1/compliance/activities"), 1);
    f.shutdown().await;
}

/// A crash after a segment's objects are written and before its checkpoint advances, in every
/// stream, at the first and at a later segment: the re-run neither loses nor duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_at_every_step_of_the_commit_in_every_stream() {
    // after_stage: a part staged; after_write: manifest staged, before the state save;
    // after_commit: state saved, nothing published (the next open rolls it forward);
    // after_publish: published, before the staging cleanup returns.
    let mut cases = vec![];
    for point in ["after_stage", "after_write", "after_commit", "after_publish"] {
        for (stream, nth) in [
            ("activities", 1),
            ("activities", 3),
            ("chats", 1),
            ("chats", 2),
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
        let err = job_error(&r, stream).unwrap_or_else(|| panic!("{point}:{stream}*{nth} should have failed"));
        assert!(err.contains("injected"), "{err}");
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
