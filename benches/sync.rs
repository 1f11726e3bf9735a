//! Records/s of a full local sync against the fake API over real HTTP on loopback, with the request
//! budget lifted (the fake's limiter off): measures the engine (HTTP, parse, enrich, gzip, atomic
//! writes, checkpoints, DLP), not the API's 600/min. Guard: ≥ 15,000 records/s on this 2-core machine
//! (measured 17–20k records/s with the fake API in the same process and a build running alongside).
//!
//! Run: `cargo bench --bench sync` — prints records, requests and records/s per iteration.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::api::{ApiClient, ApiKey, ClientConfig};
use shared::budget::LocalBudget;
use shared::fake_api::{self, FakeApiConfig};
use shared::serverless::driver::DriveOptions;
use shared::serverless::Runtime;
use shared::streams::{FailPoints, SyncConfig};
use shared::sync::{self, NoObserver};
use shared::synthetic::{Tenant, TenantConfig};
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let tc = TenantConfig {
        seed: 7,
        orgs: 3,
        users_per_org: 20,
        chats_per_user: 4,
        messages_per_chat: 8,
        activities: 20_000,
        projects_per_org: 4,
        ..TenantConfig::default()
    };
    let start = shared::time::Timestamp(tc.start);
    let fake = rt.block_on(async {
        fake_api::serve(
            "127.0.0.1:0".parse().expect("addr"),
            Tenant::generate(tc),
            FakeApiConfig { rate_limit: None, ..FakeApiConfig::default() },
        )
        .await
        .expect("fake")
    });
    let base = fake.base_url();
    let run_once = || {
        let dir = tempfile::tempdir().expect("tmp");
        let client = ApiClient::new(
            ClientConfig::new(base.clone(), ApiKey::new(fake_api::synthetic_key())),
            Arc::new(LocalBudget::unlimited()),
        )
        .expect("client");
        let cfg = SyncConfig { backfill_start: Some(start), activity_page_size: 5000, ..SyncConfig::default() };
        let mut engine = Runtime::local_with_client(dir.path(), client, cfg, 2).expect("runtime");
        engine.failpoints = FailPoints::none();
        let report = rt
            .block_on(sync::run_local(
                engine,
                DriveOptions { workers: 4, ..DriveOptions::default() },
                Arc::new(NoObserver),
            ))
            .expect("run");
        assert!(report.ok(), "{:?}", report.failures());
        let requests: u64 = report.by_stream().iter().map(|s| s.requests).sum();
        (report.total_records(), requests, report.duration)
    };
    let (records, requests, d) = run_once();
    println!(
        "full sync: {records} records, {requests} requests in {:.2}s = {:.0} records/s",
        d.as_secs_f64(),
        records as f64 / d.as_secs_f64()
    );
    let mut g = c.benchmark_group("sync");
    g.sample_size(10);
    g.throughput(Throughput::Elements(records));
    g.bench_function("full_local_sync_budget_lifted", |b| b.iter(|| run_once().0));
    g.finish();
    rt.block_on(fake.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
