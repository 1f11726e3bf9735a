//! `compliance-lake console`: the findings / health / keys web page (server in `shared::console`).

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use shared::aws::{AwsClients, AwsSettings, Encryption, SecretKeySource};
use shared::console::{self, ConsoleBackend, ConsoleConfig, KeyVault, LocalKeyFile, SecretsManagerVault};
use shared::store::{LocalObjectSink, LocalStateStore, ObjectSink, StateStore};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Local,
    Aws,
}

#[derive(Args, Debug)]
pub struct ConsoleArgs {
    /// Where the data is: a store directory (`local`) or an AWS deployment (`aws`).
    #[arg(long, value_enum, default_value = "local")]
    pub backend: Backend,
    /// The store a sync wrote (`--backend local`).
    #[arg(long, env = "COMPLIANCE_LAKE_STORE", default_value = "compliance-lake-store")]
    pub store: PathBuf,
    /// S3 bucket of the lake (`--backend aws`).
    #[arg(long, env = "COMPLIANCE_LAKE_BUCKET")]
    pub bucket: Option<String>,
    /// Key prefix inside the bucket.
    #[arg(long, env = "COMPLIANCE_LAKE_PREFIX", default_value = "")]
    pub prefix: String,
    /// DynamoDB table with the state documents and the key record (`--backend aws`).
    #[arg(long, env = "COMPLIANCE_LAKE_TABLE")]
    pub table: Option<String>,
    /// Secrets Manager secret a key registered in the page is stored in (`--backend aws`).
    #[arg(long, env = "COMPLIANCE_LAKE_SECRET_ID")]
    pub secret_id: Option<String>,
    /// KMS key for that secret (default: the AWS managed key).
    #[arg(long)]
    pub kms_key_id: Option<String>,
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// Address to listen on. Keep the default unless you know who else can reach it.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Compliance API base URL (a key registered in the page is validated live against it).
    #[arg(long, env = "COMPLIANCE_API_BASE_URL", default_value = shared::api::DEFAULT_BASE_URL)]
    pub api_base_url: String,
    /// A job whose newest checkpoint is older than this shows red (the deployment's freshness
    /// alarm: schedule interval × FreshnessIntervals, 15 min × 4 by default).
    #[arg(long, default_value_t = 60)]
    pub freshness_alarm_minutes: u64,
}

pub async fn run(a: ConsoleArgs) -> anyhow::Result<ExitCode> {
    let backend = match a.backend {
        Backend::Local => {
            if !a.store.join("_state").is_dir() {
                bail!(
                    "{} is not a compliance-lake store (no _state/); run a sync first or pass --store",
                    a.store.display()
                );
            }
            let sink: Arc<dyn ObjectSink> = Arc::new(LocalObjectSink::new(&a.store)?);
            let state: Arc<dyn StateStore> = Arc::new(LocalStateStore::new(&a.store)?);
            let vault: Arc<dyn KeyVault> = Arc::new(LocalKeyFile(a.store.join("_state").join("compliance-access-key")));
            ConsoleBackend { sink, state, vault: Some(vault), describe: format!("store {}", a.store.display()) }
        }
        Backend::Aws => {
            let (Some(bucket), Some(table)) = (a.bucket.clone(), a.table.clone()) else {
                bail!("--backend aws needs --bucket and --table");
            };
            let clients = AwsClients::from_env().await;
            let aws = AwsSettings {
                bucket: bucket.clone(),
                prefix: a.prefix.trim_matches('/').to_string(),
                table: table.clone(),
                queue_url: None,
                secret_id: a.secret_id.clone(),
                encryption: Encryption::Aes256,
                tenant: "default".into(),
                budget_per_minute: 600,
                budget_sub_window: Duration::from_secs(1),
                key_cache_ttl: Duration::from_secs(0),
                dlp_key_secret_id: None,
            };
            let sink: Arc<dyn ObjectSink> = Arc::new(aws.object_sink(&clients));
            let state: Arc<dyn StateStore> = Arc::new(aws.state_store(&clients));
            // Fail at start, in one line, when the deployment cannot be read with these credentials.
            state.keys("keys/").await.with_context(|| format!("reading the state table {table:?}"))?;
            sink.list("dlp_findings/").await.with_context(|| format!("listing s3://{bucket}"))?;
            let vault = a.secret_id.as_ref().map(|id| {
                Arc::new(SecretsManagerVault {
                    source: SecretKeySource::new(clients.secrets.clone(), id),
                    secret_id: id.clone(),
                    kms_key_id: a.kms_key_id.clone(),
                }) as Arc<dyn KeyVault>
            });
            ConsoleBackend {
                sink,
                state,
                vault,
                describe: format!("{} · table {table}", aws.object_sink(&clients).describe()),
            }
        }
    };
    let cfg = ConsoleConfig {
        bind: a.bind,
        port: a.port,
        api_base_url: a.api_base_url,
        freshness_alarm: Duration::from_secs(a.freshness_alarm_minutes.max(1) * 60),
        ..ConsoleConfig::default()
    };
    let handle = console::serve(backend, cfg).await?;
    {
        // One line, as soon as it listens (scripts and tests read it).
        let mut out = std::io::stdout().lock();
        writeln!(out, "compliance-lake console: {}", handle.url)?;
        out.flush()?;
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated() => {}
    }
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn terminated() {
    std::future::pending::<()>().await
}
