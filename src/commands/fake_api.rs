//! `compliance-lake fake-api`: serves the synthetic tenant over HTTP (the seeds' "Use Synthetic Data").

use clap::Args;
use shared::api::ApiKey;
use shared::fake_api::{self, FakeApiConfig, FakeApiHandle, RateLimit};
use shared::synthetic::{ScaleConfig, Tenant, TenantConfig};
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
    /// Serve a lazily generated scale tenant (up to 100k users, 1M chats, 10M activities) instead of
    /// the demo tenant; sized by --users, --chats, --messages-per-chat, --activities, --projects.
    #[arg(long)]
    pub scale: bool,
    /// Scale tenant: users (spread over --orgs, default 3).
    #[arg(long, requires = "scale")]
    pub users: Option<usize>,
    /// Scale tenant: chats.
    #[arg(long, requires = "scale")]
    pub chats: Option<usize>,
    /// Scale tenant: messages per chat, `N` or `MIN-MAX` (even counts: user/assistant pairs).
    #[arg(long, requires = "scale", value_parser = parse_range)]
    pub messages_per_chat: Option<(usize, usize)>,
    /// Scale tenant: pad every message text to about this many characters.
    #[arg(long, requires = "scale")]
    pub message_chars: Option<usize>,
    /// Scale tenant: projects.
    #[arg(long, requires = "scale")]
    pub projects: Option<usize>,
    /// Delay every response by this many milliseconds (simulated network and server latency).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
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

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("expected N or MIN-MAX, got {s:?}");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: usize = a.trim().parse().map_err(|_| bad())?;
    let b: usize = b.trim().parse().map_err(|_| bad())?;
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

/// The scale knobs given on the command line over [`ScaleConfig::default`].
fn scale_config(a: &FakeApiArgs) -> ScaleConfig {
    let d = ScaleConfig::default();
    let (messages_min, messages_max) = a.messages_per_chat.unwrap_or((d.messages_min, d.messages_max));
    ScaleConfig {
        users: a.users.unwrap_or(d.users),
        chats: a.chats.unwrap_or(d.chats),
        messages_min,
        messages_max,
        message_chars: a.message_chars.unwrap_or(d.message_chars),
        activities: a.activities.unwrap_or(d.activities),
        projects: a.projects.unwrap_or(d.projects),
    }
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
    if a.scale {
        let knobs = scale_config(&a);
        if let Err(e) = knobs.validate(tc.orgs) {
            anyhow::bail!("scale tenant: {e}");
        }
        tc.scale = Some(knobs);
    }
    let built = std::time::Instant::now();
    let tenant = Tenant::generate(tc);
    let build_ms = built.elapsed().as_millis();
    if let Some(p) = &a.planted_out {
        let values: Vec<serde_json::Value> =
            tenant.planted.iter().map(|s| serde_json::json!({"kind": s.kind.as_str(), "value": s.value})).collect();
        std::fs::write(p, serde_json::to_string(&values)?)?;
    }
    let summary = match &tenant.scale {
        Some(s) => {
            let c = s.counts();
            format!(
                "{} organizations, {} users, {} activities, {} chats, {} messages, {} projects, {} project documents (scale tenant, built in {build_ms} ms)",
                c.organizations, c.users, c.activities, c.chats, c.chat_messages, c.projects, c.project_documents
            )
        }
        None => {
            let e = tenant.expected();
            format!(
                "{} organizations, {} users, {} activities, {} chats, {} messages, {} projects",
                e.organizations.len(),
                e.users.len(),
                e.activities.len(),
                e.chats.len(),
                e.chat_messages.len(),
                e.projects.len()
            )
        }
    };
    let start = tenant.config.start;
    let mut cfg = FakeApiConfig {
        rate_limit: (a.rate_limit > 0).then(|| RateLimit { requests: a.rate_limit, window: Duration::from_secs(60) }),
        emit_access_activities: a.emit_access_activities,
        ..FakeApiConfig::default()
    };
    if a.latency_ms > 0 {
        cfg.faults.latency = Some(Duration::from_millis(a.latency_ms));
    }
    let handle = fake_api::serve(SocketAddr::from(([127, 0, 0, 1], a.port)), tenant, cfg).await?;
    println!("fake Compliance API (synthetic tenant, seed {}) on {}", a.seed, handle.base_url());
    println!("  {summary}");
    println!("  key (synthetic, not a secret): {}", fake_api::synthetic_key());
    println!(
        "  try: ANTHROPIC_COMPLIANCE_ACCESS_KEY={} compliance-lake sync --api-base-url {} --store ./lake --backfill-start {}",
        fake_api::synthetic_key(),
        handle.base_url(),
        shared::time::Timestamp(start)
    );
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
