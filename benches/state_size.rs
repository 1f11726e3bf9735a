//! State size at enterprise scale (#9): runs the real engine (scheduler + 8 workers, the Lambdas'
//! handlers) against the scale fake tenant and records every state document written: the largest
//! one (what a DynamoDB item must hold; target ≤ 64 KB) and the bytes written to the state table per
//! synced chat. Also the activities dedup window, which lives in the object store.
//!
//! `cargo bench --bench state_size` (defaults: 1M chats, 50k projects, activities at a 10M/day rate;
//! under `cargo test --all-targets`, without `--bench`, a smoke-sized tenant of 2,000 chats);
//! `STATE_BENCH_CHATS`, `STATE_BENCH_ACTIVITIES`, `STATE_BENCH_PROJECTS`, `STATE_BENCH_USERS` scale it
//! down. The state store is in memory (recording), the lake a temp directory, the API the fake over
//! HTTP on loopback with no rate limit.

use async_trait::async_trait;
use serde_json::Value;
use shared::api::{ApiClient, ApiKey, ClientConfig};
use shared::budget::LocalBudget;
use shared::fake_api::{self, FakeApiConfig};
use shared::serverless::driver::DriveOptions;
use shared::serverless::Runtime;
use shared::store::{StateStore, StoreError, Versioned};
use shared::streams::SyncConfig;
use shared::sync::{self, NoObserver};
use shared::synthetic::{ScaleConfig, Tenant, TenantConfig};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Recorded {
    docs: HashMap<String, (u64, Value)>,
    /// per key family ("_marks", "chats", "chat_messages", …): (saves, bytes, largest)
    by_family: BTreeMap<String, (u64, u64, usize)>,
    largest: (usize, String),
}

/// An in-memory state store that records what a DynamoDB table would be written.
#[derive(Clone, Default)]
struct RecordingState(Arc<Mutex<Recorded>>);

fn family(key: &str) -> String {
    if key.starts_with("_marks/") {
        let att = key.contains("/att/");
        return if att { "_marks (project attachments)".into() } else { "_marks (chats)".into() };
    }
    key.split('/').next().unwrap_or(key).to_string()
}

#[async_trait]
impl StateStore for RecordingState {
    async fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let r = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Ok(r.docs.get(key).map(|(v, value)| Versioned { version: *v, value: value.clone() }))
    }
    async fn save(&self, key: &str, expected: Option<u64>, value: &Value) -> Result<u64, StoreError> {
        let size = serde_json::to_string(value).map(|s| s.len()).unwrap_or(0) + key.len() + 40;
        let mut r = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let current = r.docs.get(key).map(|(v, _)| *v);
        if current != expected {
            return Err(StoreError::Conflict { key: key.into(), expected, found: current });
        }
        let next = current.unwrap_or(0) + 1;
        r.docs.insert(key.to_string(), (next, value.clone()));
        let f = r.by_family.entry(family(key)).or_default();
        f.0 += 1;
        f.1 += size as u64;
        f.2 = f.2.max(size);
        if size > r.largest.0 {
            r.largest = (size, key.to_string());
        }
        Ok(next)
    }
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let r = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut k: Vec<String> = r.docs.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        k.sort();
        Ok(k)
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).docs.remove(key);
        Ok(())
    }
}

fn env(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: a smoke-sized tenant
    let smoke = !std::env::args().any(|a| a == "--bench");
    let chats = env("STATE_BENCH_CHATS", if smoke { 2_000 } else { 1_000_000 });
    let projects = env("STATE_BENCH_PROJECTS", if smoke { 200 } else { 50_000 });
    // 10M activities a day: the window behind the watermark holds 10 min of them
    let activities = env("STATE_BENCH_ACTIVITIES", if smoke { 20_000 } else { 1_000_000 });
    let users = env("STATE_BENCH_USERS", (chats / 10).max(10));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let knobs =
            ScaleConfig { users, chats, messages_min: 2, messages_max: 4, message_chars: 0, activities, projects };
        let mut tc = TenantConfig::scale(3, knobs);
        // activities at a 10M/day rate: `activities` of them over activities/10M days
        let span = chrono::Duration::milliseconds((activities as f64 / 10_000_000.0 * 86_400_000.0) as i64)
            .max(chrono::Duration::minutes(20));
        tc.start = tc.end - span;
        let f = fake_api::serve(
            "127.0.0.1:0".parse().expect("addr"),
            Tenant::generate(tc),
            FakeApiConfig { rate_limit: None, ..FakeApiConfig::default() },
        )
        .await
        .expect("fake api");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ccfg = ClientConfig::new(f.base_url(), ApiKey::new(fake_api::synthetic_key()));
        ccfg.retry.base = Duration::from_millis(5);
        let client = ApiClient::new(ccfg, Arc::new(LocalBudget::unlimited())).expect("client");
        let start = f.with_tenant(|t| t.config.start);
        let cfg = SyncConfig {
            backfill_start: Some(shared::time::Timestamp(start)),
            activity_page_size: 5000,
            message_concurrency: 8,
            ..SyncConfig::default()
        };
        let mut runtime = Runtime::local_with_client(dir.path(), client, cfg, 3).expect("runtime");
        let state = RecordingState::default();
        runtime.state = Arc::new(state.clone());
        runtime.dlp = None;
        let t0 = Instant::now();
        let opts = DriveOptions { workers: 8, max_wall: Duration::from_secs(6 * 3600), ..DriveOptions::default() };
        let report = sync::run_local(runtime, opts, Arc::new(NoObserver)).await.expect("run");
        let wall = t0.elapsed();
        assert!(report.ok(), "{:?}", report.failures());
        let window = walk_dir_size(&dir.path().join("_state"));
        report_state(&state, chats, activities, projects, users, wall, window);
        f.shutdown().await;
    });
}

fn report_state(
    state: &RecordingState,
    chats: usize,
    activities: usize,
    projects: usize,
    users: usize,
    wall: Duration,
    window: u64,
) {
    {
        let r = state.0.lock().unwrap_or_else(|p| p.into_inner());
        let total: u64 = r.by_family.values().map(|f| f.1).sum();
        let saves: u64 = r.by_family.values().map(|f| f.0).sum();
        println!("state_size: {chats} chats, {activities} activities (10M/day rate), {projects} projects, {users} users; {wall:.1?}");
        println!("  {:<32} {:>10} {:>14} {:>12}", "documents", "writes", "bytes written", "largest");
        for (fam, (n, b, m)) in &r.by_family {
            println!("  {fam:<32} {n:>10} {b:>14} {m:>12}");
        }
        println!("  {:<32} {saves:>10} {total:>14} {:>12}", "all", r.largest.0);
        println!("  largest document: {} bytes ({}); target ≤ 65536", r.largest.0, r.largest.1);
        println!("  bytes written to the state table per synced chat: {:.1}", total as f64 / chats as f64);
        println!("  documents held at the end: {}", r.docs.len());
        println!("  state objects in the lake (_state/: the activities window): {window} bytes");
    }
}

fn walk_dir_size(p: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    rd.filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_dir_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}
