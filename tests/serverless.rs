//! The serverless path's handlers (scheduler, worker, driver) over local adapters: the same code the
//! Lambdas run. Fault cases: duplicate delivery, a job that always fails (dead letter while the rest
//! succeeds), a panic in one job, a deadline mid-walk (continuation), two workers on one checkpoint.

mod common;
#[path = "../benches/support/fairness.rs"]
mod fairness;

use common::*;
use shared::budget::LocalBudget;
use shared::fake_api::{Faults, ScriptedFault};
use shared::serverless::driver::{drive, DriveOptions};
use shared::serverless::worker::{work, Delivery, Outcome};
use shared::serverless::{ApiSettings, JobMessage, Runtime};
use shared::store::LocalQueue;
use shared::streams::failpoints::Action;
use shared::streams::{FailPoints, Job};
use shared::synthetic::MutationConfig;
use shared::time::Timestamp;
use std::sync::Arc;
use std::time::Duration;

fn runtime(f: &shared::fake_api::FakeApiHandle, store: &std::path::Path, max_receives: u32) -> Runtime {
    let api = ApiSettings { base_url: f.base_url(), ..ApiSettings::default() };
    let mut rt = Runtime::local(
        store,
        shared::api::ApiKey::new(shared::fake_api::synthetic_key()),
        api,
        sync_cfg(f),
        Arc::new(LocalBudget::unlimited()),
        max_receives,
    )
    .unwrap();
    rt.retry_base = Duration::from_millis(5);
    rt
}

fn opts() -> DriveOptions {
    DriveOptions { workers: 4, max_wall: Duration::from_secs(120), ..DriveOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn distributed_path_matches_the_source_exactly_once() {
    let f = fake(small_tenant(41), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(&f, dir.path(), 3);
    let t0 = Timestamp::now();
    let r = drive(rt.clone(), t0, opts()).await.unwrap();
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert_exactly_once(dir.path(), &f.expected()).await;
    // the same schedule time again: nothing happens
    let t = t0.plus(chrono::Duration::hours(1));
    let first = drive(rt.clone(), t, opts()).await.unwrap();
    assert!(matches!(first.schedule, Some(shared::serverless::scheduler::ScheduleOutcome::Enqueued { .. })));
    let again = drive(rt.clone(), t, opts()).await.unwrap();
    assert!(
        matches!(again.schedule, Some(shared::serverless::scheduler::ScheduleOutcome::AlreadyScheduled { .. })),
        "{:?}",
        again.schedule
    );
    f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    let r = drive(rt, t0.plus(chrono::Duration::hours(2)), opts()).await.unwrap();
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_delivery_and_racing_workers_never_duplicate() {
    let f = fake(small_tenant(42), open_cfg()).await;
    f.set_faults(Faults { latency: Some(Duration::from_millis(5)), ..Faults::default() });
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(&f, dir.path(), 3);
    let msg = |job: Job| Delivery {
        message_id: format!("{job:?}"),
        body: serde_json::to_string(&JobMessage {
            job,
            run_id: "r1".into(),
            schedule_time: Timestamp::now(),
            continuation: 0,
            deferrals: 0,
        })
        .unwrap(),
        receive_count: 1,
    };
    // the same message delivered twice, to two concurrent workers
    let (a, b) = tokio::join!(
        work(&rt, vec![msg(Job::tenant("activities"))], None, "w1"),
        work(&rt, vec![msg(Job::tenant("activities"))], None, "w2")
    );
    let outcomes = [a[0].1.clone(), b[0].1.clone()];
    assert!(outcomes.iter().any(|o| matches!(o, Outcome::Done { .. })), "{outcomes:?}");
    // and again, sequentially (the second finds nothing new)
    let c = work(&rt, vec![msg(Job::tenant("activities"))], None, "w3").await;
    assert_eq!(c[0].1, Outcome::Done { records: 0 });
    // two workers on one checkpoint without leases: the conditional save lets only one advance
    let ctx1 = local_runtime(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).context(client(&f), "r2", None);
    let ctx2 = local_runtime(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).context(client(&f), "r2", None);
    f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    let (s1, s2) = (shared::streams::JobStats::default(), shared::streams::JobStats::default());
    let chats = Job::tenant("chats");
    let (r1, r2) =
        tokio::join!(shared::streams::run_job(&ctx1, &chats, &s1), shared::streams::run_job(&ctx2, &chats, &s2));
    assert!(r1.is_ok() || r2.is_ok(), "one of them commits: {r1:?} {r2:?}");
    // whatever the interleaving, a normal run afterwards leaves the store exact
    let r = drive(runtime(&f, dir.path(), 3), Timestamp::now(), opts()).await.unwrap();
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn always_failing_job_is_dead_lettered_while_the_rest_succeeds() {
    let f = fake(small_tenant(43), open_cfg()).await;
    for _ in 0..3 {
        f.push_fault(ScriptedFault::new("/v1/compliance/apps/projects?", 500).with_header("x-should-retry", "false"));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(&f, dir.path(), 3);
    // project_collaborators walks the same listing (the same request): only `projects` gets the faults
    rt.streams.0.retain(|s| s != "project_collaborators");
    let q = Arc::new(LocalQueue::new(3));
    rt.queue = q.clone();
    let r = drive(rt, Timestamp::now(), opts()).await.unwrap();
    let dead = q.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].body.contains("\"projects\""), "{}", dead[0].body);
    // `x-should-retry: false` is terminal: dead-lettered at its first receive, never retried
    assert_eq!(dead[0].receive_count, 1);
    assert_eq!(r.failures().len(), 1, "one receive failed");
    assert_eq!(r.unresolved.len(), 1, "and it is reported as unresolved");
    assert!(
        r.outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Done { .. })).count() >= 4,
        "the other jobs succeeded"
    );
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panic_fails_only_its_own_message() {
    let f = fake(small_tenant(44), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(&f, dir.path(), 5);
    rt.failpoints.set("after_write:chats", Action::Panic, 1);
    let r = drive(rt.clone(), Timestamp::now(), opts()).await.unwrap();
    let panics: Vec<_> = r
        .outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed { error, .. } if error.contains("panic")))
        .collect();
    assert_eq!(panics.len(), 1, "{:?}", r.outcomes);
    assert!(r.failures().len() == 1, "only the panicking message failed; it was then redelivered and succeeded");
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deadline_mid_walk_continues_in_a_new_message() {
    let f = fake(small_tenant(45), open_cfg()).await;
    f.set_faults(Faults { latency: Some(Duration::from_millis(15)), ..Faults::default() });
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(&f, dir.path(), 3);
    rt.cfg = Arc::new(shared::streams::SyncConfig {
        activity_page_size: 5,
        chat_page_size: 2,
        max_records_per_segment: 10,
        ..sync_cfg(&f)
    });
    let r =
        drive(rt, Timestamp::now(), DriveOptions { invocation: Duration::from_millis(250), ..opts() }).await.unwrap();
    let continued = r.outcomes.iter().filter(|(_, o)| *o == Outcome::Continued).count();
    assert!(continued >= 2, "continuations: {continued}");
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_key_stops_the_scheduler_with_a_reason() {
    let f = fake(small_tenant(46), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(&f, dir.path(), 3);
    let rec = shared::keys::KeyRecord {
        fingerprint: "sha256:abc".into(),
        kind: "compliance".into(),
        scopes_observed: vec![],
        scopes_missing: vec![],
        status: shared::keys::KeyStatus::Revoked,
        registered_at: Timestamp::now(),
        revoked_at: Some(Timestamp::now()),
        last_success_at: None,
        last_error: None,
        last_error_at: None,
        requests: 0,
        rate_limited: 0,
    };
    shared::keys::save_record(rt.state.as_ref(), &rec).await.unwrap();
    let r = drive(rt.clone(), Timestamp::now(), opts()).await.unwrap();
    match r.schedule {
        Some(shared::serverless::scheduler::ScheduleOutcome::Stopped { reason }) => {
            assert!(reason.contains("revoked"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rt.queue.depth().await.unwrap(), Some(0));
    f.shutdown().await;
}

/// Issue #9 item 5 in scaled time (3000/min: 150 requests per 3-s window, 5 windows): 8 workers
/// share the CLI's budget against a fake enforcing the same limit; a ninth starts late. The late
/// starter gets at least half a fair share in its first window and most of the budget is used.
/// Tolerances are generous for a loaded 2-core CI machine (a scheduling stall of a few hundred ms
/// is a large part of a 3-s window); `cargo bench --bench budget_share` runs the real 10 minutes
/// (both adapters) where the bar is 0 limiter 429s and ≥ 95 % of the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_budget_is_fair_to_a_late_worker_scaled_time() {
    let o = fairness::Options {
        budget: 150,
        window: Duration::from_secs(3),
        windows: 5,
        workers: 8,
        late_at: Duration::from_secs(4),
    };
    let budget: Arc<dyn shared::budget::RequestBudget> = Arc::new(LocalBudget::with_window(150, o.window, 0.9));
    let r = fairness::run(&o, |_| budget.clone()).await;
    eprintln!("{}", r.table(&o));
    assert!(r.limited_total <= 2, "{} budget-caused 429s", r.limited_total);
    assert!(r.used_fraction(&o) >= 0.7, "only {:.1} % of the budget used", 100.0 * r.used_fraction(&o));
    let (late, fair) = r.late_first_window;
    assert!(late as f64 >= 0.5 * fair, "late starter: {late} requests in its first window, fair share {fair:.1}");
}
