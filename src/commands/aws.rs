//! The distributed path from the CLI: `aws-init` (resources), `sync --backend aws` (scheduler +
//! N in-process workers through the Lambdas' own handlers), and `key register|status|revoke`.

use super::sync::{ApiArgs, StreamArgs};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use shared::api::ApiKey;
use shared::aws::init::{ensure_all, InitSpec};
use shared::aws::runtime;
use shared::aws::{AwsClients, AwsSettings, Encryption, SecretKeySource};
use shared::keys::{self, KeyRecord, KeyStatus};
use shared::serverless::driver::{drive, DriveOptions};
use shared::serverless::scheduler::ScheduleOutcome;
use shared::serverless::settings::Settings;
use shared::serverless::worker::Outcome;
use shared::store::Table;
use shared::time::Timestamp;
use std::process::ExitCode;
use std::time::Duration;

/// Where the distributed path keeps things (the same names the deployment template creates).
#[derive(Args, Debug, Clone)]
pub struct AwsTarget {
    /// S3 bucket of the lake.
    #[arg(long, env = "COMPLIANCE_LAKE_BUCKET")]
    pub bucket: String,
    /// Key prefix inside the bucket.
    #[arg(long, env = "COMPLIANCE_LAKE_PREFIX", default_value = "")]
    pub prefix: String,
    /// DynamoDB table (state, leases, budget, key record).
    #[arg(long, env = "COMPLIANCE_LAKE_TABLE")]
    pub table: String,
    /// SQS work queue name (its dead-letter queue is `<queue>-dlq`).
    #[arg(long, env = "COMPLIANCE_LAKE_QUEUE")]
    pub queue: String,
}

impl AwsTarget {
    async fn settings(
        &self,
        clients: &AwsClients,
        budget: u32,
        secret_id: Option<String>,
    ) -> anyhow::Result<AwsSettings> {
        let url = clients
            .sqs
            .get_queue_url()
            .queue_name(&self.queue)
            .send()
            .await
            .with_context(|| format!("queue {:?} not found; run aws-init first", self.queue))?;
        Ok(AwsSettings {
            bucket: self.bucket.clone(),
            prefix: self.prefix.trim_matches('/').to_string(),
            table: self.table.clone(),
            queue_url: url.queue_url().map(str::to_string),
            secret_id,
            dlp_key_secret_id: None,
            encryption: Encryption::Aes256,
            tenant: "default".into(),
            budget_per_minute: budget,
            budget_sub_window: Duration::from_secs(1),
            key_cache_ttl: Duration::from_secs(300),
        })
    }
}

#[derive(Args, Debug)]
pub struct AwsInitArgs {
    #[command(flatten)]
    pub target: AwsTarget,
    /// Receives before a job message moves to the dead-letter queue.
    #[arg(long, default_value_t = 5)]
    pub max_receive_count: u32,
    /// Work queue visibility timeout in seconds (≥ 6 × the worker timeout).
    #[arg(long, default_value_t = 5400)]
    pub visibility_timeout: u64,
}

pub async fn run_init(a: AwsInitArgs) -> anyhow::Result<ExitCode> {
    let clients = AwsClients::from_env().await;
    let mut spec = InitSpec::new(&a.target.bucket, &a.target.table, &a.target.queue);
    spec.max_receive_count = a.max_receive_count;
    spec.visibility_timeout = Duration::from_secs(a.visibility_timeout);
    let out = ensure_all(&clients, &spec).await?;
    println!("bucket      s3://{}", out.bucket);
    println!("table       {}", out.table_arn.as_deref().unwrap_or(&out.table));
    println!("work queue  {}", out.queues.queue_url);
    println!("dead letter {}", out.queues.dlq_url);
    Ok(ExitCode::SUCCESS)
}

/// `sync --backend aws` options.
#[derive(Args, Debug, Clone)]
pub struct AwsSyncOpts {
    /// S3 bucket of the lake (`--backend aws`).
    #[arg(long, env = "COMPLIANCE_LAKE_BUCKET")]
    pub bucket: Option<String>,
    /// Key prefix inside the bucket.
    #[arg(long, env = "COMPLIANCE_LAKE_PREFIX", default_value = "")]
    pub prefix: String,
    /// DynamoDB table (`--backend aws`).
    #[arg(long, env = "COMPLIANCE_LAKE_TABLE")]
    pub table: Option<String>,
    /// SQS work queue name (`--backend aws`).
    #[arg(long, env = "COMPLIANCE_LAKE_QUEUE")]
    pub queue: Option<String>,
    /// Read the access key from this Secrets Manager secret (else the env var / --api-key-file).
    #[arg(long)]
    pub secret_id: Option<String>,
    /// Simulated invocation length of each worker call, in seconds (deadline continuations below it).
    #[arg(long, default_value_t = 900)]
    pub invocation_secs: u64,
    /// The work queue's redrive receive count (as given to aws-init): a delivery failing this often is dead-lettered.
    #[arg(long, default_value_t = 5)]
    pub max_receive_count: u32,
}

impl AwsSyncOpts {
    fn target(&self) -> anyhow::Result<AwsTarget> {
        let need = |v: &Option<String>, f: &str| v.clone().ok_or_else(|| anyhow::anyhow!("--backend aws needs {f}"));
        Ok(AwsTarget {
            bucket: need(&self.bucket, "--bucket")?,
            prefix: self.prefix.clone(),
            table: need(&self.table, "--table")?,
            queue: need(&self.queue, "--queue")?,
        })
    }
}

pub async fn run_sync(
    api: ApiArgs,
    streams: StreamArgs,
    a: AwsSyncOpts,
    key: Option<ApiKey>,
    base_url: String,
    synthetic_seed: Option<u64>,
    reset_state: bool,
) -> anyhow::Result<ExitCode> {
    let clients = AwsClients::from_env().await;
    let aws = a.target()?.settings(&clients, api.budget_per_minute, a.secret_id.clone()).await?;
    let mut settings = Settings {
        api: Default::default(),
        cfg: streams.sync_config()?,
        streams: streams.selection()?,
        synthetic_seed,
    };
    settings.api.base_url = base_url;
    settings.api.request_timeout = Duration::from_secs(api.request_timeout_secs.max(1));
    settings.api.max_response_bytes = api.max_response_bytes;
    let key = if a.secret_id.is_some() { None } else { key };
    let mut rt = runtime::build(clients, aws, settings, key).await?;
    rt.runtime.reset_state = reset_state; // issue 10: `sync --reset-state` (the scheduler archives and rebinds)
    let opts = DriveOptions {
        workers: streams.workers.clamp(1, 64),
        invocation: Duration::from_secs(a.invocation_secs.max(1)),
        max_receives: a.max_receive_count.max(1),
        ..DriveOptions::default()
    };
    let t0 = std::time::Instant::now();
    let report = drive(rt.runtime.clone(), Timestamp::now(), opts).await?;
    match &report.schedule {
        Some(ScheduleOutcome::Stopped { reason }) => bail!("scheduler stopped: {reason}"),
        Some(s) => println!("scheduler: {s:?}"),
        None => {}
    }
    let done = report.outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Done { .. })).count();
    let cont = report.outcomes.iter().filter(|(_, o)| *o == Outcome::Continued).count();
    println!(
        "workers: {done} jobs done, {cont} continued, {} failed deliveries, {} records in {:.1}s",
        report.failures().len(),
        report.records,
        t0.elapsed().as_secs_f64()
    );
    for t in Table::ALL {
        let n = rt.runtime.sink.list(&format!("{}/", t.as_str())).await?.len();
        if n > 0 {
            println!("  {:<18} {n} objects under {}", t.as_str(), rt.runtime.sink.describe());
        }
    }
    for (id, o) in report.failures() {
        println!("FAILED delivery {id}: {o:?}");
    }
    Ok(if report.failures().is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Validate a Compliance Access Key live, store it in Secrets Manager, record its fingerprint and scopes.
    Register(KeyArgs),
    /// Show the registered key: fingerprint, scopes, status, last success, last error, budget use.
    Status(KeyArgs),
    /// Revoke a key: the current one (its value is cleared from the secret, the record marked
    /// revoked; the scheduler then stops with a logged reason) or, with --fingerprint, a key a
    /// rotation replaced (removed from the secret's previous version). The secret itself is never
    /// deleted: the deployment stack owns it. Revoke the key in claude.ai too.
    Revoke(KeyArgs),
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Secrets Manager secret holding the key.
    #[arg(long, env = "COMPLIANCE_LAKE_SECRET_ID")]
    pub secret_id: String,
    /// DynamoDB table where the key record lives.
    #[arg(long, env = "COMPLIANCE_LAKE_TABLE")]
    pub table: String,
    /// KMS key for the secret (default: the AWS managed key).
    #[arg(long)]
    pub kms_key_id: Option<String>,
    /// `key revoke`: the key to revoke (`sha256:…` as `key status` shows it); default the current key.
    #[arg(long)]
    pub fingerprint: Option<String>,
}

pub async fn run_key(cmd: KeyCmd) -> anyhow::Result<ExitCode> {
    let clients = AwsClients::from_env().await;
    match cmd {
        KeyCmd::Register(a) => {
            let key = a.api.key()?;
            let client = a.api.client(key.clone())?;
            let probe = keys::probe(&client).await;
            if let Some(e) = probe.fatal() {
                bail!("not registered: {e}");
            }
            for c in &probe.checks {
                match &c.result {
                    Ok(()) => println!("  ok    {:<28} {}", c.scope, c.what),
                    Err(e) => println!("  FAIL  {:<28} {e}", c.scope),
                }
            }
            SecretKeySource::new(clients.secrets.clone(), &a.secret_id).put(&key, a.kms_key_id.as_deref()).await?;
            let state = shared::aws::DynamoStateStore::new(clients.dynamodb.clone(), &a.table);
            // rotation: the key this one replaces goes to the history (revoke it once this one works)
            let previous = keys::load_record(&state).await?;
            let (hv, history) = keys::load_history(&state).await?;
            let history = keys::plan_register(previous.as_ref(), &key.fingerprint(), history, Timestamp::now());
            keys::save_history(&state, hv, &history).await?;
            let rec = KeyRecord {
                fingerprint: key.fingerprint(),
                kind: format!("{:?}", probe.kind),
                scopes_observed: probe.observed(),
                scopes_missing: probe.missing(),
                status: KeyStatus::Active,
                registered_at: Timestamp::now(),
                revoked_at: None,
                last_success_at: None,
                last_error: None,
                last_error_at: None,
                requests: 0,
                rate_limited: 0,
            };
            keys::save_record(&state, &rec).await?;
            println!(
                "registered key {} in secret {:?} ({} of 3 scopes observed)",
                rec.fingerprint,
                a.secret_id,
                rec.scopes_observed.len()
            );
            if let Some(p) = previous.filter(|p| p.fingerprint != rec.fingerprint && p.status == KeyStatus::Active) {
                println!(
                    "previous key {} stays readable as the secret's AWSPREVIOUS version; once this key is verified: compliance-lake key revoke --fingerprint {} (and revoke it in claude.ai)",
                    p.fingerprint, p.fingerprint
                );
            }
            Ok(if rec.scopes_missing.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        KeyCmd::Status(a) => {
            let state = shared::aws::DynamoStateStore::new(clients.dynamodb.clone(), &a.table);
            match keys::load_record(&state).await? {
                None => {
                    println!("no key registered (compliance-lake key register)");
                    Ok(ExitCode::FAILURE)
                }
                Some(r) => {
                    let t = |o: &Option<Timestamp>| o.map(|t| t.to_string()).unwrap_or_else(|| "never".into());
                    println!("key           {}", r.fingerprint);
                    println!(
                        "status        {:?}{}",
                        r.status,
                        r.revoked_at.map(|t| format!(" since {t}")).unwrap_or_default()
                    );
                    println!(
                        "scopes        {} (missing: {})",
                        r.scopes_observed.join(", "),
                        if r.scopes_missing.is_empty() { "none".into() } else { r.scopes_missing.join(", ") }
                    );
                    println!("registered    {}", r.registered_at);
                    println!("last success  {}", t(&r.last_success_at));
                    println!(
                        "last error    {}{}",
                        t(&r.last_error_at),
                        r.last_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                    );
                    println!("budget use    {} API requests, {} rate-limited", r.requests, r.rate_limited);
                    for p in keys::load_history(&state).await?.1 {
                        println!(
                            "previous key  {} registered {}, replaced {}, {}",
                            p.fingerprint,
                            p.registered_at,
                            p.superseded_at,
                            p.revoked_at
                                .map(|t| format!("revoked {t}"))
                                .unwrap_or_else(|| "NOT REVOKED (still in the secret's previous version)".into())
                        );
                    }
                    Ok(if r.status == KeyStatus::Active { ExitCode::SUCCESS } else { ExitCode::FAILURE })
                }
            }
        }
        KeyCmd::Revoke(a) => {
            let state = shared::aws::DynamoStateStore::new(clients.dynamodb.clone(), &a.table);
            let secret = SecretKeySource::new(clients.secrets.clone(), &a.secret_id);
            let current = keys::load_record(&state).await?;
            let (hv, mut history) = keys::load_history(&state).await?;
            match keys::plan_revoke(current.as_ref(), &history, a.fingerprint.as_deref()).map_err(anyhow::Error::msg)? {
                keys::RevokeTarget::Current(fp) => {
                    secret.clear(&fp).await?;
                    keys::update_record(&state, |r| {
                        r.status = KeyStatus::Revoked;
                        r.revoked_at = Some(Timestamp::now());
                    })
                    .await?;
                    println!(
                        "revoked key {fp}: its value is cleared from secret {:?} (the secret stays: the stack owns it) and the key record is marked revoked; the scheduler stops at its next run. Revoke the key in claude.ai too.",
                        a.secret_id
                    );
                }
                keys::RevokeTarget::Past(i) => {
                    let fp = history[i].fingerprint.clone();
                    let removed = secret.forget_previous(&fp).await?;
                    history[i].revoked_at = Some(Timestamp::now());
                    keys::save_history(&state, hv, &history).await?;
                    println!(
                        "revoked previous key {fp}: {}; the current key is untouched. Revoke it in claude.ai too.",
                        if removed { "removed from the secret's previous version" } else { "no longer in the secret" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
