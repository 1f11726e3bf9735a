//! Test harness: a fake Compliance API over real HTTP on loopback, a temp store, and helpers to run
//! a sync and check the store against the source.
#![allow(dead_code)]

use shared::api::{ApiClient, ApiKey, ClientConfig};
use shared::budget::LocalBudget;
use shared::fake_api::{self, FakeApiConfig, FakeApiHandle};
use shared::serverless::driver::DriveOptions;
use shared::serverless::Runtime;
use shared::store::{LocalObjectSink, Table};
use shared::streams::{FailPoints, SyncConfig};
use shared::sync::{self, NoObserver, RunReport};
use shared::synthetic::{Expected, Tenant, TenantConfig};
use shared::verify;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub fn small_tenant(seed: u64) -> TenantConfig {
    TenantConfig {
        seed,
        orgs: 2,
        users_per_org: 4,
        chats_per_user: 2,
        messages_per_chat: 4,
        activities: 300,
        projects_per_org: 2,
        ..TenantConfig::default()
    }
}

pub async fn fake(tc: TenantConfig, cfg: FakeApiConfig) -> FakeApiHandle {
    fake_api::serve("127.0.0.1:0".parse().unwrap(), Tenant::generate(tc), cfg).await.expect("fake api")
}

/// No limiter (tests that need one set it).
pub fn open_cfg() -> FakeApiConfig {
    FakeApiConfig { rate_limit: None, ..FakeApiConfig::default() }
}

pub fn client_with_key(base: &str, key: &str) -> ApiClient {
    let mut cfg = ClientConfig::new(base, ApiKey::new(key));
    // fast retries in tests; the policy itself is table-tested
    cfg.retry.base = Duration::from_millis(5);
    cfg.retry.cap = Duration::from_millis(50);
    cfg.request_timeout = Duration::from_secs(20);
    ApiClient::new(cfg, Arc::new(LocalBudget::unlimited())).expect("client")
}

pub fn client(f: &FakeApiHandle) -> ApiClient {
    client_with_key(&f.base_url(), &fake_api::synthetic_key())
}

pub fn sync_cfg(f: &FakeApiHandle) -> SyncConfig {
    let start = f.with_tenant(|t| t.config.start);
    // 4 message shards (16 by default): the same paths, fewer jobs per test run
    SyncConfig { backfill_start: Some(shared::time::Timestamp(start)), chat_shards: 4, ..SyncConfig::default() }
}

/// A local runtime over `store` that uses `client` for every job.
pub fn local_runtime(client: ApiClient, store: &Path, cfg: SyncConfig, fp: FailPoints) -> Runtime {
    let mut rt = Runtime::local_with_client(store, client, cfg, 1).expect("runtime");
    rt.failpoints = fp;
    rt
}

/// One `sync` as the CLI runs it (scheduler + workers over the local adapters), one attempt per job.
pub async fn run_sync(client: ApiClient, store: &Path, cfg: SyncConfig, fp: FailPoints) -> RunReport {
    let rt = local_runtime(client, store, cfg, fp);
    let opts =
        DriveOptions { workers: 4, max_receives: 1, max_wall: Duration::from_secs(300), ..DriveOptions::default() };
    sync::run_local(rt, opts, Arc::new(NoObserver)).await.expect("run")
}

/// Asserts every table holds every source record exactly once (chats: every chat, each version once).
pub async fn assert_exactly_once(store: &Path, e: &Expected) {
    exactly_once(store, e, false).await
}

/// [`assert_exactly_once`] after a run that may have died between being served session data and
/// committing it: served session data the API has dropped since (retention, a user's delete) is
/// accepted at most once instead of required, since no later run can read it again.
pub async fn assert_exactly_once_after_crash(store: &Path, e: &Expected) {
    exactly_once(store, e, true).await
}

async fn exactly_once(store: &Path, e: &Expected, sessions_gone_optional: bool) {
    let empty = BTreeSet::new();
    let sessions_gone = if sessions_gone_optional { &e.sessions.gone } else { &empty };
    let sink = LocalObjectSink::new(store).unwrap();
    for (table, exp) in [
        (Table::Organizations, &e.organizations),
        (Table::Users, &e.users),
        (Table::Activities, &e.activities),
        (Table::ChatMessages, &e.chat_messages),
        (Table::ProjectDocuments, &e.project_documents),
    ] {
        let mut written = verify::identity_counts(&sink, table).await.unwrap();
        if table == Table::ProjectDocuments {
            // uploaded project files are recorded next to documents; each once, each a real file
            let files: Vec<(String, u64)> =
                written.iter().filter(|(k, _)| k.starts_with("claude_file_")).map(|(k, n)| (k.clone(), *n)).collect();
            for (id, n) in files {
                assert_eq!(n, 1, "project file {id} written {n} times");
                assert!(e.files.contains(&id), "project file {id} not in source");
                written.remove(&id);
            }
        }
        let c = verify::check(exp, &written);
        assert!(
            c.exact(),
            "{table}: expected {} written {} missing {:?} duplicated {:?} unexpected {:?}",
            c.expected,
            c.written,
            first(&c.missing),
            first(&c.duplicated),
            first(&c.unexpected)
        );
    }
    let chats = verify::read_table(&sink, Table::Chats).await.unwrap();
    let ids: BTreeSet<String> = chats.iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect();
    assert_eq!(&ids, &e.chats, "chat ids");
    let versions = verify::identity_counts(&sink, Table::Chats).await.unwrap();
    assert!(versions.values().all(|n| *n == 1), "a chat version written twice");
    // sessions: every message once; every session (also those the API has since dropped) with each
    // version once
    let se = &e.sessions;
    // content objects: each chat artifact version, generated file, code artifact version and listed
    // code artifact version once
    let ce = &e.content;
    for (table, exp) in [
        (Table::LocalSessionMessages, &se.local_session_messages),
        (Table::RemoteSessionMessages, &se.remote_session_messages),
        (Table::ChatArtifacts, &ce.chat_artifacts),
        (Table::GeneratedFiles, &ce.generated_files),
        (Table::CodeArtifacts, &ce.code_artifacts),
        (Table::CodeArtifactVersions, &ce.code_artifact_versions),
    ] {
        // content the API no longer has: written at most once, not required
        let written = verify::identity_counts(&sink, table).await.unwrap();
        let c = check_allowing(exp, written, ce.gone.iter().chain(sessions_gone), &table.to_string());
        assert!(
            c.exact(),
            "{table}: expected {} written {} missing {:?} duplicated {:?} unexpected {:?}",
            c.expected,
            c.written,
            first(&c.missing),
            first(&c.duplicated),
            first(&c.unexpected)
        );
    }
    for (table, exp) in [(Table::LocalSessions, &se.local_sessions), (Table::RemoteSessions, &se.remote_sessions)] {
        let rows = verify::read_table(&sink, table).await.unwrap();
        let ids: BTreeSet<String> = rows.iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect();
        let required: BTreeSet<&String> = exp.iter().filter(|id| !sessions_gone.contains(*id)).collect();
        let held: BTreeSet<&String> = ids.iter().filter(|id| !sessions_gone.contains(*id)).collect();
        assert_eq!(held, required, "{table} ids");
        let versions = verify::identity_counts(&sink, table).await.unwrap();
        assert!(versions.values().all(|n| *n == 1), "{table}: a version written twice");
    }
    let projects = verify::read_table(&sink, Table::Projects).await.unwrap();
    let pids: BTreeSet<String> = projects.iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect();
    assert_eq!(&pids, &e.projects, "project ids");
    assert_verified(store).await;
}

/// [`verify::check`] where the ids in `optional` (served, since dropped by the API) may be written
/// at most once but are not required.
pub fn check_allowing<'a>(
    expected: &BTreeSet<String>,
    mut written: BTreeMap<String, u64>,
    optional: impl IntoIterator<Item = &'a String>,
    what: &str,
) -> verify::TableCheck {
    let mut exp = expected.clone();
    for id in optional {
        exp.remove(id);
        if let Some(n) = written.remove(id) {
            assert_eq!(n, 1, "{what}: {id} written {n} times");
        }
    }
    verify::check(&exp, &written)
}

/// `compliance-lake verify` over the store: every object matches its manifest, every chain unbroken.
pub async fn assert_verified(store: &Path) -> verify::VerifyReport {
    let sink = LocalObjectSink::new(store).unwrap();
    let state = shared::store::LocalStateStore::new(store).unwrap();
    let r = verify::verify_lake(&sink, Some(&state)).await.unwrap();
    assert!(r.ok(), "verify: {:#?}", &r.problems[..r.problems.len().min(10)]);
    assert!(r.manifests > 0 && r.objects > 0, "something was verified: {r:?}");
    r
}

fn first(v: &[String]) -> Vec<&String> {
    v.iter().take(5).collect()
}

pub fn job_error<'a>(r: &'a RunReport, stream: &str) -> Option<&'a str> {
    // a stream may have several jobs (users: one per organization): the failing one, if any
    r.jobs.iter().filter(|j| j.job.stream() == stream).find_map(|j| j.error.as_deref())
}

/// A sink that blocks the writer at its `block_at`-th put under `_staging/` until [`GatedSink::open`].
pub struct GatedSink {
    inner: Arc<dyn shared::store::ObjectSink>,
    puts: std::sync::atomic::AtomicUsize,
    block_at: usize,
    pub reached: tokio::sync::Notify,
    release: tokio::sync::Notify,
    released: std::sync::atomic::AtomicBool,
}

impl GatedSink {
    pub fn new(inner: Arc<dyn shared::store::ObjectSink>, block_at: usize) -> Arc<Self> {
        Arc::new(GatedSink {
            inner,
            puts: Default::default(),
            block_at,
            reached: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
            released: Default::default(),
        })
    }

    pub fn open(&self) {
        self.released.store(true, std::sync::atomic::Ordering::SeqCst);
        self.release.notify_one();
    }
}

#[async_trait::async_trait]
impl shared::store::ObjectSink for GatedSink {
    async fn put(&self, key: &str, body: bytes::Bytes) -> Result<(), shared::store::StoreError> {
        use std::sync::atomic::Ordering;
        if key.starts_with("_staging/") {
            let n = self.puts.fetch_add(1, Ordering::SeqCst) + 1;
            if n == self.block_at && !self.released.load(Ordering::SeqCst) {
                self.reached.notify_one();
                self.release.notified().await;
            }
        }
        self.inner.put(key, body).await
    }
    async fn get(&self, key: &str) -> Result<Option<bytes::Bytes>, shared::store::StoreError> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, shared::store::StoreError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), shared::store::StoreError> {
        self.inner.delete(key).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), shared::store::StoreError> {
        self.inner.copy(from, to).await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}
