//! Engine v2: fenced commits under forced interleavings, hard-killed invocations, `verify` against a
//! tampered lake, and two `sync` processes on one store.

mod common;

use common::*;
use shared::serverless::driver::{drive, DriveOptions};
use shared::store::{LocalObjectSink, LocalQueue, LocalStateStore, ObjectSink};
use shared::streams::{FailPoints, Job, JobStats};
use shared::synthetic::MutationConfig;
use shared::time::Timestamp;
use shared::verify::{verify_lake, ProblemKind};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Writer A stalls between two staging puts; writer B runs the same job to the end on a source that
/// changed in between; A then resumes. A's conditional save must fail, none of A's parts may become
/// visible, and after one more normal run the lake is exact and verifies — for an incremental stream
/// (activities) and a snapshot stream (users), with the source changing between the two reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_writer_never_clobbers_a_committed_one() {
    for stream in ["activities", "users", "chats"] {
        let f = fake(small_tenant(71), open_cfg()).await;
        let dir = tempfile::tempdir().unwrap();
        // a first complete run, so both writers start from a committed head
        let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
        assert!(r.ok(), "{:?}", r.failures());
        let org = f.with_tenant(|t| t.orgs[0].uuid.clone());
        let job = if stream == "users" { Job::per_org("users", org) } else { Job::tenant(stream) };
        let cfg = shared::streams::SyncConfig { max_records_per_segment: 5, ..sync_cfg(&f) };
        f.with_tenant(|t| t.mutate(&MutationConfig::default()));

        let gated = GatedSink::new(Arc::new(LocalObjectSink::new(dir.path()).unwrap()), 2);
        let mut rt_a = local_runtime(client(&f), dir.path(), cfg.clone(), FailPoints::none());
        rt_a.sink = gated.clone();
        let ctx_a = rt_a.context(client(&f), "run-a", None);
        let job_a = job.clone();
        let a = tokio::spawn(async move {
            let stats = JobStats::default();
            shared::streams::run_job(&ctx_a, &job_a, &stats).await
        });
        gated.reached.notified().await;
        // the source changes again between A's read and B's
        f.with_tenant(|t| t.mutate(&MutationConfig::default()));
        let ctx_b =
            local_runtime(client(&f), dir.path(), cfg.clone(), FailPoints::none()).context(client(&f), "run-b", None);
        let stats = JobStats::default();
        shared::streams::run_job(&ctx_b, &job, &stats).await.unwrap_or_else(|e| panic!("{stream}: B fails: {e}"));
        gated.open();
        let ra = a.await.unwrap();
        assert!(ra.is_err(), "{stream}: the stalled writer must lose its commit, got {ra:?}");
        assert!(
            LocalObjectSink::new(dir.path()).unwrap().list("_staging/").await.unwrap().is_empty(),
            "{stream}: the loser removed its staging"
        );
        assert_verified(dir.path()).await;
        let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
        assert!(r.ok(), "{:?}", r.failures());
        assert_exactly_once(dir.path(), &f.expected()).await;
        f.shutdown().await;
    }
}

/// Lambda kills an invocation at its deadline: the future is dropped mid-walk (no ack, no lease
/// release, nothing after it). A long backfill is then carried by redeliveries and continuations,
/// and still ends exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hard_killed_invocations_finish_exactly_once() {
    let f = fake(shared::synthetic::TenantConfig { activities: 1500, ..small_tenant(72) }, open_cfg()).await;
    f.set_faults(shared::fake_api::Faults { latency: Some(Duration::from_millis(10)), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let cfg = shared::streams::SyncConfig {
        activity_page_size: 3,
        chat_page_size: 2,
        max_records_per_segment: 8,
        commit_interval: Duration::from_millis(150),
        ..sync_cfg(&f)
    };
    let mut rt = local_runtime(client(&f), dir.path(), cfg, FailPoints::none());
    let invocation = Duration::from_millis(400);
    rt.queue = Arc::new(LocalQueue::with_visibility(50, invocation + Duration::from_millis(300)));
    rt.lease_ttl = Duration::from_millis(300);
    rt.deadline_margin = Duration::from_millis(150);
    let opts = DriveOptions {
        workers: 3,
        invocation,
        hard_kill: true,
        max_receives: 50,
        max_wall: Duration::from_secs(240),
        ..DriveOptions::default()
    };
    let r = drive(rt, Timestamp::now(), opts).await.unwrap();
    let continued = r.outcomes.iter().filter(|(_, o)| *o == shared::serverless::worker::Outcome::Continued).count();
    println!("continuations: {continued}, deliveries: {}", r.outcomes.len());
    assert!(continued >= 20, "a long chain of continuations: {continued}");
    assert!(r.unresolved.is_empty(), "{:?}", r.unresolved);
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

/// A walk interrupted in one run and completed by the next cannot see what changed behind its
/// position after it started (sessions are listed newest-created first, projects oldest first): the
/// run that completes it walks once more, so a run's data is complete as of the run's start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_walk_resumed_from_an_earlier_run_is_followed_by_one_of_this_run() {
    let f = fake(small_tenant(74), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    // one item per page, a commit at every page boundary
    let cfg = shared::streams::SyncConfig {
        session_page_size: 1,
        project_page_size: 1,
        max_records_per_segment: 1,
        ..sync_cfg(&f)
    };
    let streams = ["local_sessions", "remote_sessions", "projects"];
    f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    for stream in streams {
        // run A dies right after its third commit, three pages into the walk (projects discovery
        // commits at page boundaries only, one commit a page: its first, one page in)
        let fp = FailPoints::none();
        let nth = if stream == "projects" { 1 } else { 3 };
        fp.set(&format!("after_commit:{stream}"), shared::streams::failpoints::Action::Error, nth);
        let rt = local_runtime(client(&f), dir.path(), cfg.clone(), fp);
        let ctx = rt.context(client(&f), "run-a", None);
        let r = shared::streams::run_job(&ctx, &Job::tenant(stream), &JobStats::default()).await;
        assert!(r.is_err(), "{stream}: run A dies mid-walk: {r:?}");
        let st = LocalStateStore::new(dir.path()).unwrap();
        let doc = shared::store::StateStore::load(&st, &Job::tenant(stream).key(&cfg)).await.unwrap().unwrap();
        assert!(doc.value["checkpoint"]["walk"]["page_position"].is_string(), "{stream}: run A left a walk mid-way");
    }
    // new sessions (listed first, so behind run A's position) and edits
    f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    for stream in streams {
        let rt = local_runtime(client(&f), dir.path(), cfg.clone(), FailPoints::none());
        let ctx = rt.context(client(&f), "run-b", None);
        shared::streams::run_job(&ctx, &Job::tenant(stream), &JobStats::default())
            .await
            .unwrap_or_else(|e| panic!("{stream}: run B: {e}"));
        if stream == "projects" {
            // the details of what discovery handed out are read by the shard jobs
            let n = cfg.chat_shards;
            for k in 0..n {
                let job = Job::shard(shared::streams::project_details::SPEC.name, k, n);
                shared::streams::run_job(&ctx, &job, &JobStats::default())
                    .await
                    .unwrap_or_else(|e| panic!("project_details shard {k}: run B: {e}"));
            }
        }
    }
    let sink = LocalObjectSink::new(dir.path()).unwrap();
    let e = f.expected();
    for (table, exp) in [
        (shared::store::Table::LocalSessionMessages, &e.sessions.local_session_messages),
        (shared::store::Table::RemoteSessionMessages, &e.sessions.remote_session_messages),
        (shared::store::Table::ProjectDocuments, &e.project_documents),
    ] {
        let mut written = shared::verify::identity_counts(&sink, table).await.unwrap();
        written.retain(|k, _| !k.starts_with("claude_file_")); // uploaded project files: metadata rows
        let c = shared::verify::check(exp, &written);
        assert!(c.exact(), "{table} after run B: missing {:?} duplicated {:?}", c.missing, c.duplicated);
    }
    for (table, exp) in [
        (shared::store::Table::LocalSessions, &e.sessions.local_sessions),
        (shared::store::Table::RemoteSessions, &e.sessions.remote_sessions),
        (shared::store::Table::Projects, &e.projects),
    ] {
        let rows = shared::verify::read_table(&sink, table).await.unwrap();
        let ids: std::collections::BTreeSet<String> =
            rows.iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect();
        assert_eq!(&ids, exp, "{table} ids after run B");
        let versions = shared::verify::identity_counts(&sink, table).await.unwrap();
        assert!(versions.values().all(|n| *n == 1), "{table}: a version written twice");
    }
    assert_verified(dir.path()).await;
    f.shutdown().await;
}

/// Deadline-safe snapshots: a snapshot that reaches an invocation's deadline is suspended (its parts
/// staged, its position and staged parts in the state, nothing visible) and resumed by the run's
/// continuations, so it spans invocations and still commits once, exactly; a later run never adopts
/// another run's suspended snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_spans_invocations_of_its_run_and_commits_once() {
    use shared::store::Table;
    use shared::streams::SyncError;
    let f = fake(small_tenant(75), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = shared::streams::SyncConfig { project_page_size: 2, ..sync_cfg(&f) };
    let job = Job::tenant("project_collaborators");
    let sink = LocalObjectSink::new(dir.path()).unwrap();
    let rt = local_runtime(client(&f), dir.path(), cfg.clone(), FailPoints::none());
    // every invocation is past its deadline: one project per invocation, then a continuation
    let past = Some(tokio::time::Instant::now());
    let ctx = rt.context(client(&f), "run-a", past);
    for _ in 0..2 {
        let r = shared::streams::run_job(&ctx, &job, &JobStats::default()).await;
        assert!(matches!(r, Err(SyncError::Deadline)), "{r:?}");
    }
    assert!(
        shared::verify::read_table(&sink, Table::ProjectCollaborators).await.unwrap().is_empty(),
        "a suspended snapshot is not visible"
    );
    // run A is abandoned; run B starts its own snapshot and finishes it through continuations
    let ctx = rt.context(client(&f), "run-b", past);
    let mut invocations = 0;
    loop {
        invocations += 1;
        assert!(invocations < 1000, "the snapshot never completes");
        match shared::streams::run_job(&ctx, &job, &JobStats::default()).await {
            Ok(_) => break,
            Err(SyncError::Deadline) => continue,
            Err(e) => panic!("invocation {invocations}: {e}"),
        }
    }
    let projects = f.expected().projects.len();
    assert!(invocations > projects.min(4), "{invocations} invocations for {projects} projects");
    let rows = shared::verify::read_table(&sink, Table::ProjectCollaborators).await.unwrap();
    assert!(rows.iter().all(|r| r["_ingest"]["run_id"] == "run-b"), "only run B's snapshot is visible");
    let written = shared::verify::identity_counts(&sink, Table::ProjectCollaborators).await.unwrap();
    let c = shared::verify::check(&f.expected().directory.project_collaborators, &written);
    assert!(c.exact(), "missing {:?} duplicated {:?}", c.missing, c.duplicated);
    // one commit for the snapshot, whose manifest lists the requests of every invocation
    let manifests: Vec<String> = sink
        .list("_manifests/project_collaborators/")
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.ends_with(".json"))
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    let m: serde_json::Value = serde_json::from_slice(&sink.get(&manifests[0]).await.unwrap().unwrap()).unwrap();
    let collab_requests =
        m["requests"].as_array().unwrap().iter().filter(|r| r.to_string().contains("/collaborators")).count();
    assert!(collab_requests >= projects, "{collab_requests} collaborator requests for {projects} projects");
    assert_verified(dir.path()).await;
    f.shutdown().await;
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walk(from) {
        let rel = e.strip_prefix(from).unwrap();
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&e, &dst).unwrap();
    }
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

async fn problems(store: &Path) -> Vec<(ProblemKind, String)> {
    let sink = LocalObjectSink::new(store).unwrap();
    let state = LocalStateStore::new(store).unwrap();
    verify_lake(&sink, Some(&state)).await.unwrap().problems.into_iter().map(|p| (p.kind, p.key)).collect()
}

/// `verify` names the object for each kind of tampering, and passes on the untouched lake.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_detects_every_kind_of_tampering() {
    let f = fake(small_tenant(73), open_cfg()).await;
    let base = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let r = run_sync(client(&f), base.path(), sync_cfg(&f), FailPoints::none()).await;
        assert!(r.ok(), "{:?}", r.failures());
        f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    }
    assert_verified(base.path()).await;
    let sink = LocalObjectSink::new(base.path()).unwrap();
    let objects = sink.list("activities/").await.unwrap();
    let victim = objects.first().expect("an activities object").clone();
    let manifests = sink.list("_manifests/chats/").await.unwrap();
    let manifest = manifests.first().expect("a chats manifest").clone();

    // one byte changed in a lake object
    let d = tempfile::tempdir().unwrap();
    copy_dir(base.path(), d.path());
    let p = d.path().join(&victim);
    let mut b = std::fs::read(&p).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x01;
    std::fs::write(&p, b).unwrap();
    assert!(problems(d.path()).await.contains(&(ProblemKind::Altered, victim.clone())), "altered");

    // an object deleted
    let d = tempfile::tempdir().unwrap();
    copy_dir(base.path(), d.path());
    std::fs::remove_file(d.path().join(&victim)).unwrap();
    assert!(problems(d.path()).await.contains(&(ProblemKind::Missing, victim.clone())), "missing");

    // a copy of an object under another name in the same partition
    let d = tempfile::tempdir().unwrap();
    copy_dir(base.path(), d.path());
    let copy = victim.replace(".ndjson.gz", "-copy.ndjson.gz");
    std::fs::copy(d.path().join(&victim), d.path().join(&copy)).unwrap();
    let ps = problems(d.path()).await;
    assert!(ps.contains(&(ProblemKind::Uncovered, copy.clone())), "uncovered copy: {ps:?}");
    assert!(ps.iter().any(|(k, _)| *k == ProblemKind::Duplicate), "its records are duplicates: {ps:?}");

    // a manifest deleted
    let d = tempfile::tempdir().unwrap();
    copy_dir(base.path(), d.path());
    std::fs::remove_file(d.path().join(&manifest)).unwrap();
    let ps = problems(d.path()).await;
    assert!(ps.iter().any(|(k, _)| *k == ProblemKind::BrokenChain), "broken chain: {ps:?}");
    assert!(ps.iter().any(|(k, _)| *k == ProblemKind::Uncovered), "its objects are uncovered: {ps:?}");

    // and the CLI says so: exit 1, one line per problem naming the object
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_compliance-lake"))
        .args(["verify", "--store"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("broken-chain: ")), "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_compliance-lake"))
        .args(["verify", "--store"])
        .arg(base.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("verify OK"));
    f.shutdown().await;
}

/// Two `sync` processes started at once on one store: without `--wait` the second exits at once
/// naming the holder; with `--wait` both complete; the store is exact and verifies either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sync_processes_on_one_store() {
    let f = fake(small_tenant(74), open_cfg()).await;
    f.set_faults(shared::fake_api::Faults { latency: Some(Duration::from_millis(5)), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let start = f.with_tenant(|t| t.config.start);
    let spawn = |wait: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_compliance-lake"));
        c.args(["sync", "--no-progress", "--budget-per-minute", "0", "--api-base-url", &f.base_url(), "--store"])
            .arg(dir.path())
            .args(["--backfill-start", &Timestamp(start).to_rfc3339()])
            .env("ANTHROPIC_COMPLIANCE_ACCESS_KEY", shared::fake_api::synthetic_key())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if wait {
            c.arg("--wait");
        }
        c.spawn().unwrap()
    };
    let a = spawn(false);
    std::thread::sleep(Duration::from_millis(300));
    let b = spawn(false);
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [oa.status.code(), ob.status.code()];
    assert!(codes.contains(&Some(0)), "one of them syncs: {codes:?}");
    let loser = if oa.status.success() { &ob } else { &oa };
    if !loser.status.success() {
        let err = String::from_utf8_lossy(&loser.stderr);
        assert!(err.contains("is being synced by pid") && err.contains("since"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    f.with_tenant(|t| t.mutate(&MutationConfig::default()));
    let (a, b) = (spawn(true), spawn(true));
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        oa.status.success() && ob.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&oa.stderr),
        String::from_utf8_lossy(&ob.stderr)
    );
    assert_exactly_once(dir.path(), &f.expected()).await;
    f.shutdown().await;
}

/// The lazily generated scale tenant (issue #9, item 8) is a tenant like any other: realistic ids
/// and cursors, index-built pages, the API's limits. A small one syncs completely and exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scale_tenant_syncs_exactly_once() {
    let knobs = shared::synthetic::ScaleConfig {
        users: 29,
        chats: 400,
        messages_min: 2,
        messages_max: 6,
        message_chars: 0,
        activities: 6_000,
        projects: 17,
    };
    let f = fake(shared::synthetic::TenantConfig::scale(3, knobs), open_cfg()).await;
    let dir = tempfile::tempdir().unwrap();
    let r = run_sync(client(&f), dir.path(), sync_cfg(&f), FailPoints::none()).await;
    assert!(r.ok(), "{:?}", r.failures());
    let e = f.expected();
    assert_eq!((e.chats.len(), e.activities.len(), e.users.len()), (400, 6_000, 29));
    assert_exactly_once(dir.path(), &e).await;
    f.shutdown().await;
}
