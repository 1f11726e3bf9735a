//! `compliance-lake fake-api`: serves the synthetic tenant over HTTP (the seeds' "Use Synthetic Data").

use clap::Args;
use shared::api::ApiKey;
use shared::fake_api::{self, FakeApiConfig, FakeApiHandle, RateLimit};
use shared::synthetic::{Tenant, TenantConfig};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct FakeApiArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Seed of the synthetic tenant (same seed, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Organizations in the tenant.
    #[arg(long)]
    pub orgs: Option<usize>,
    /// Members per organization.
    #[arg(long)]
    pub users_per_org: Option<usize>,
    /// Activities in the feed.
    #[arg(long)]
    pub activities: Option<usize>,
    /// Requests per minute before the fake answers 429 (0 = no limit).
    #[arg(long, default_value_t = 600)]
    pub rate_limit: u32,
    /// Emit a compliance_api_accessed activity for every request, as the real API does.
    #[arg(long)]
    pub emit_access_activities: bool,
    /// Tests only: write the planted DLP values (JSON array of {kind, value}) to this file, so a test
    /// can prove none of them reaches a page, an event or a log.
    #[arg(long, hide = true)]
    pub planted_out: Option<std::path::PathBuf>,
}

pub fn tenant_config(seed: u64) -> TenantConfig {
    TenantConfig { seed, ..TenantConfig::default() }
}

/// Starts the synthetic tenant in-process on a free loopback port; returns the handle and its key.
pub async fn start_synthetic(seed: u64, rate_limit_per_minute: Option<u32>) -> anyhow::Result<(FakeApiHandle, ApiKey)> {
    let tenant = Tenant::generate(tenant_config(seed));
    let mut cfg = FakeApiConfig::default();
    if let Some(n) = rate_limit_per_minute {
        cfg.rate_limit = (n > 0).then(|| RateLimit { requests: n, window: Duration::from_secs(60) });
    }
    let handle = fake_api::serve(SocketAddr::from(([127, 0, 0, 1], 0)), tenant, cfg).await?;
    Ok((handle, ApiKey::new(fake_api::synthetic_key())))
}

pub async fn run(a: FakeApiArgs) -> anyhow::Result<ExitCode> {
    let mut tc = tenant_config(a.seed);
    if let Some(n) = a.orgs {
        tc.orgs = n;
    }
    if let Some(n) = a.users_per_org {
        tc.users_per_org = n;
    }
    if let Some(n) = a.activities {
        tc.activities = n;
    }
    let tenant = Tenant::generate(tc);
    if let Some(p) = &a.planted_out {
        let values: Vec<serde_json::Value> =
            tenant.planted.iter().map(|s| serde_json::json!({"kind": s.kind.as_str(), "value": s.value})).collect();
        std::fs::write(p, serde_json::to_string(&values)?)?;
    }
    let e = tenant.expected();
    let cfg = FakeApiConfig {
        rate_limit: (a.rate_limit > 0).then(|| RateLimit { requests: a.rate_limit, window: Duration::from_secs(60) }),
        emit_access_activities: a.emit_access_activities,
        ..FakeApiConfig::default()
    };
    let handle = fake_api::serve(SocketAddr::from(([127, 0, 0, 1], a.port)), tenant, cfg).await?;
    println!("fake Compliance API (synthetic tenant, seed {}) on {}", a.seed, handle.base_url());
    println!(
        "  {} organizations, {} users, {} activities, {} chats, {} messages, {} projects",
        e.organizations.len(),
        e.users.len(),
        e.activities.len(),
        e.chats.len(),
        e.chat_messages.len(),
        e.projects.len()
    );
    println!("  key (synthetic, not a secret): {}", fake_api::synthetic_key());
    println!(
        "  try: ANTHROPIC_COMPLIANCE_ACCESS_KEY={} compliance-lake sync --api-base-url {} --store ./lake --backfill-start {}",
        fake_api::synthetic_key(),
        handle.base_url(),
        shared::time::Timestamp(tenant_config(a.seed).start)
    );
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
