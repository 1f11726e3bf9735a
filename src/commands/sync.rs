//! `compliance-lake sync`.

use crate::ui;
use anyhow::{bail, Context};
use clap::Args;
use shared::api::{ApiClient, ApiKey, ClientConfig};
use shared::budget::{LocalBudget, RequestBudget};
use shared::serverless::driver::DriveOptions;
use shared::serverless::Runtime;
use shared::streams::{FailPoints, SyncConfig};
use shared::sync::{RunReport, StreamSelection};
use shared::time::Timestamp;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub const KEY_ENV: &str = "ANTHROPIC_COMPLIANCE_ACCESS_KEY";

/// How to reach the API (shared by sync and check-key).
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// Base URL of the Compliance API (point it at `fake-api` to test).
    #[arg(long, env = "COMPLIANCE_API_BASE_URL", default_value = shared::api::DEFAULT_BASE_URL)]
    pub api_base_url: String,
    /// Read the access key from this file instead of $ANTHROPIC_COMPLIANCE_ACCESS_KEY.
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// Requests per minute for the whole sync; the tenant's limit (600) is shared with every other tool. 0 = no pacing (fakes, benchmarks).
    #[arg(long, env = "COMPLIANCE_LAKE_BUDGET_PER_MINUTE", default_value_t = 600)]
    pub budget_per_minute: u32,
    /// Whole-request timeout in seconds.
    #[arg(long, default_value_t = 120)]
    pub request_timeout_secs: u64,
    /// Connect timeout in seconds.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout_secs: u64,
    /// Refuse responses larger than this many bytes.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub max_response_bytes: usize,
    /// Value of the `anthropic-version` header; empty to send none.
    #[arg(long, default_value = shared::api::client::ANTHROPIC_VERSION)]
    pub anthropic_version: String,
}

impl ApiArgs {
    pub fn key(&self) -> anyhow::Result<ApiKey> {
        let raw = match &self.api_key_file {
            Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading --api-key-file {}", p.display()))?,
            None => std::env::var(KEY_ENV).unwrap_or_default(),
        };
        let key = ApiKey::new(raw);
        key.check_shape()?;
        Ok(key)
    }

    pub fn client(&self, key: ApiKey) -> anyhow::Result<ApiClient> {
        let mut cfg = ClientConfig::new(self.api_base_url.clone(), key);
        cfg.request_timeout = Duration::from_secs(self.request_timeout_secs.max(1));
        cfg.connect_timeout = Duration::from_secs(self.connect_timeout_secs.max(1));
        cfg.max_response_bytes = self.max_response_bytes;
        cfg.anthropic_version = Some(self.anthropic_version.clone()).filter(|v| !v.is_empty());
        let budget: Arc<dyn RequestBudget> = Arc::new(LocalBudget::new(self.budget_per_minute));
        Ok(ApiClient::new(cfg, budget)?)
    }
}

/// What to sync and how (shared by sync and demo).
#[derive(Args, Debug, Clone)]
pub struct StreamArgs {
    /// First-run start (RFC 3339) for activities and chats. Default: activities look back 90 days; chats start now.
    #[arg(long)]
    pub backfill_start: Option<String>,
    /// Only these organizations (comma-separated UUIDs or org_… ids).
    #[arg(long, value_delimiter = ',')]
    pub org_ids: Vec<String>,
    /// Only chats of these users (user_… ids; applied client-side, the API forbids it on the incremental listing).
    #[arg(long, value_delimiter = ',')]
    pub user_ids: Vec<String>,
    /// Only chats in these projects (claude_proj_… ids).
    #[arg(long, value_delimiter = ',')]
    pub project_ids: Vec<String>,
    /// Activity types to leave out, e.g. compliance_api_accessed (our own polling shows up there).
    #[arg(long, value_delimiter = ',')]
    pub exclude_activity_types: Vec<String>,
    /// Streams to run (comma-separated): organizations, users, activities, chats, projects, local_sessions,
    /// remote_sessions, access_transparency, transparency_checkpoints, roles, groups, org_settings,
    /// project_collaborators (directory snapshots: every run of a one-shot sync refreshes them),
    /// code_artifacts.
    #[arg(long)]
    pub streams: Option<String>,
    /// Jobs run at once (they share the request budget).
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Minutes re-read behind the activities watermark (late-indexed events); at least 2.
    #[arg(long, default_value_t = 10)]
    pub overlap_minutes: i64,
    /// Activities per page (the API allows up to 5000; fewer requests per activity).
    #[arg(long, env = "COMPLIANCE_LAKE_ACTIVITY_PAGE_SIZE", default_value_t = shared::streams::MAX_ACTIVITY_PAGE_SIZE)]
    pub activity_page_size: u32,
    /// Hide progress bars.
    #[arg(long)]
    pub no_progress: bool,
    /// If another sync holds the store, wait for it instead of exiting at once.
    #[arg(long)]
    pub wait: bool,
    /// Access Transparency log keys to trust besides the ones this release pins: SHA-256
    /// fingerprints (hex) of their DER public keys, comma-separated (an announced key rotation).
    #[arg(long, value_delimiter = ',')]
    pub tlog_trusted_keys: Vec<String>,
}

impl StreamArgs {
    pub fn sync_config(&self) -> anyhow::Result<SyncConfig> {
        let backfill_start = match &self.backfill_start {
            Some(s) => Some(Timestamp::parse(s).with_context(|| "--backfill-start")?),
            None => None,
        };
        if self.overlap_minutes < shared::streams::MIN_OVERLAP_MINUTES {
            bail!(
                "--overlap-minutes {} is too small: it must be at least {} (late-indexed activities land minutes behind newer ones and would be missed)",
                self.overlap_minutes,
                shared::streams::MIN_OVERLAP_MINUTES
            );
        }
        if !(1..=shared::streams::MAX_ACTIVITY_PAGE_SIZE).contains(&self.activity_page_size) {
            bail!(
                "--activity-page-size {} is out of range: the API accepts 1 to {}",
                self.activity_page_size,
                shared::streams::MAX_ACTIVITY_PAGE_SIZE
            );
        }
        let check_ids = |what: &str, ids: &[String], prefixes: &[&str]| -> anyhow::Result<()> {
            for id in ids {
                let ok = prefixes.iter().any(|p| id.starts_with(p))
                    || (what == "--org-ids" && uuid::Uuid::parse_str(id).is_ok());
                if !ok {
                    bail!("{what}: {id:?} is not a valid id (expected {})", prefixes.join(" or "));
                }
            }
            Ok(())
        };
        check_ids("--org-ids", &self.org_ids, &["org_"])?;
        check_ids("--user-ids", &self.user_ids, &["user_"])?;
        check_ids("--project-ids", &self.project_ids, &["claude_proj_"])?;
        Ok(SyncConfig {
            backfill_start,
            activity_overlap: chrono::Duration::minutes(self.overlap_minutes),
            project_overlap: chrono::Duration::minutes(self.overlap_minutes),
            session_overlap: chrono::Duration::minutes(self.overlap_minutes),
            org_ids: self.org_ids.clone(),
            user_ids: self.user_ids.clone(),
            project_ids: self.project_ids.clone(),
            exclude_activity_types: self.exclude_activity_types.clone(),
            activity_page_size: self.activity_page_size,
            tlog_trusted_fingerprints: self.tlog_trusted_keys.clone(),
            ..SyncConfig::default()
        }
        .with_page_sizes_clamped())
    }

    pub fn selection(&self) -> anyhow::Result<StreamSelection> {
        Ok(match &self.streams {
            Some(s) => StreamSelection::parse(s).map_err(anyhow::Error::msg)?,
            None => StreamSelection::default(),
        })
    }

    pub fn drive_options(&self) -> DriveOptions {
        DriveOptions { workers: self.workers.clamp(1, 64), max_receives: 2, ..DriveOptions::default() }
    }
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub streams: StreamArgs,
    /// The store directory (lake layout + state).
    #[arg(long, env = "COMPLIANCE_LAKE_STORE", default_value = "compliance-lake-store")]
    pub store: PathBuf,
    /// Sync the built-in synthetic tenant (served in-process) instead of the real API.
    #[arg(long)]
    pub synthetic: bool,
    /// Seed of the synthetic tenant.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The state belongs to another source (tenant, base URL, or synthetic/real mode): archive its
    /// checkpoints (kept under `archive/` in the state) and start a clean backfill from this source.
    #[arg(long)]
    pub reset_state: bool,
    /// `local` (a store directory) or `aws` (S3 + DynamoDB + SQS through the Lambda handlers;
    /// honours AWS_ENDPOINT_URL for emulators).
    #[arg(long, default_value = "local")]
    pub backend: Backend,
    #[command(flatten)]
    pub aws: super::aws::AwsSyncOpts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Local,
    Aws,
}

/// One sync on the local backend: the scheduler and worker handlers of the Lambdas, over a store
/// directory, an in-process queue and file leases, under the store lock. The state is bound to its
/// source (`shared::binding`); synthetic data goes to `STORE/synthetic/`, never into the real tables.
pub async fn sync_local(
    client: ApiClient,
    store: &std::path::Path,
    streams: &StreamArgs,
    show_progress: bool,
    synthetic: bool,
    reset_state: bool,
) -> anyhow::Result<RunReport> {
    let cfg = streams.sync_config()?;
    let _lock = shared::store::StoreLock::acquire(store, streams.wait).map_err(|e| anyhow::anyhow!("{e}"))?;
    // --- source binding (issue 10): refuse to resume another source's checkpoints
    let mode = if synthetic { shared::binding::Mode::Synthetic } else { shared::binding::Mode::Real };
    let identity = shared::binding::probe_identity(&client, mode).await?;
    let state = shared::store::LocalStateStore::new(store)?;
    if let shared::binding::BindOutcome::Reset { archive, documents, .. } =
        shared::binding::check_or_bind(&state, &identity, reset_state).await?
    {
        println!("state reset: {documents} checkpoint(s) archived under {archive} in {}/_state", store.display());
    }
    // --- end source binding
    let opts = streams.drive_options();
    let mut rt = Runtime::local_with_client(store, client, cfg, opts.max_receives)
        .with_context(|| format!("opening store {}", store.display()))?;
    rt.streams = streams.selection()?;
    rt.failpoints = FailPoints::from_env().map_err(anyhow::Error::msg)?;
    rt.source_mode = mode;
    if synthetic {
        // issue 10: no synthetic row is ever in the real tables
        let root = store.join(shared::binding::SYNTHETIC_PREFIX);
        rt.sink = Arc::new(shared::store::LocalObjectSink::new(&root)?);
    }
    let progress = ui::Bars::new(show_progress);
    let report = shared::sync::run_local(rt, opts, progress.clone()).await?;
    progress.clear();
    Ok(report)
}

pub async fn run(a: SyncArgs) -> anyhow::Result<ExitCode> {
    a.streams.sync_config()?; // validate flags before anything starts
    let mut _fake = None;
    let (key, base_url) = if a.synthetic && a.backend == Backend::Aws {
        // the runtime serves the synthetic tenant itself (and writes under the synthetic prefix)
        (ApiKey::new(""), a.api.api_base_url.clone())
    } else if a.synthetic {
        let (handle, key) = super::fake_api::start_synthetic(a.seed, None).await?;
        let url = handle.base_url();
        _fake = Some(handle);
        (key, url)
    } else if a.backend == Backend::Aws && a.aws.secret_id.is_some() {
        (ApiKey::new(""), a.api.api_base_url.clone())
    } else {
        (a.api.key()?, a.api.api_base_url.clone())
    };
    if a.backend == Backend::Aws {
        let key = (!key.is_empty()).then_some(key);
        let synthetic = a.synthetic.then_some(a.seed);
        let (api, streams) = (a.api.clone(), a.streams.clone());
        return super::aws::run_sync(api, streams, a.aws, key, base_url, synthetic, a.reset_state).await;
    }
    let mut api = a.api.clone();
    api.api_base_url = base_url;
    let client = api.client(key)?;
    let report = sync_local(client, &a.store, &a.streams, !a.streams.no_progress, a.synthetic, a.reset_state).await?;
    let shown = if a.synthetic { a.store.join(shared::binding::SYNTHETIC_PREFIX) } else { a.store.clone() };
    ui::print_summary(&report, &shown);
    if report.ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        let f = report.failures();
        let (job, err) = f.first().copied().unwrap_or(("?", "?"));
        eprintln!("compliance-lake: sync incomplete: {} job(s) failed; first: {job}: {err}", f.len());
        Ok(ExitCode::FAILURE)
    }
}
