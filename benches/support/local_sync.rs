//! A local sync against the fake API over real HTTP with the request budget lifted (the fake's
//! limiter off): what `benches/sync.rs` and `benches/requests.rs` both run.

#![allow(dead_code)]

use shared::api::{ApiClient, ApiKey, ClientConfig};
use shared::budget::LocalBudget;
use shared::fake_api::{self, FakeApiConfig, FakeApiHandle};
use shared::serverless::driver::DriveOptions;
use shared::serverless::Runtime;
use shared::streams::{FailPoints, SyncConfig};
use shared::sync::{self, NoObserver, RunReport};
use shared::synthetic::{Tenant, TenantConfig};
use std::path::Path;
use std::sync::Arc;

/// A two-thread runtime for the fake API and the engine.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// The fake API serving a tenant generated from `tc`, without its rate limiter.
pub fn serve_unlimited(rt: &tokio::runtime::Runtime, tc: TenantConfig) -> FakeApiHandle {
    rt.block_on(async {
        fake_api::serve(
            "127.0.0.1:0".parse().expect("addr"),
            Tenant::generate(tc),
            FakeApiConfig { rate_limit: None, ..FakeApiConfig::default() },
        )
        .await
        .expect("fake")
    })
}

/// One local sync into `dir` (4 workers, unlimited budget); panics if a job failed.
pub fn sync_once(rt: &tokio::runtime::Runtime, base_url: &str, dir: &Path, cfg: &SyncConfig) -> RunReport {
    let client = ApiClient::new(
        ClientConfig::new(base_url.to_string(), ApiKey::new(fake_api::synthetic_key())),
        Arc::new(LocalBudget::unlimited()),
    )
    .expect("client");
    let mut engine = Runtime::local_with_client(dir, client, cfg.clone(), 2).expect("runtime");
    engine.failpoints = FailPoints::none();
    let report = rt
        .block_on(sync::run_local(engine, DriveOptions { workers: 4, ..DriveOptions::default() }, Arc::new(NoObserver)))
        .expect("run");
    assert!(report.ok(), "{:?}", report.failures());
    report
}
