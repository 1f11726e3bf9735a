//! `compliance-lake verify`: proves the lake is what its manifests say — every committed object
//! present with its SHA-256, nothing under a table prefix that no manifest covers, every job's
//! manifests one hash chain ending at its committed head, no record identity twice.

use anyhow::Context;
use clap::Args;
use shared::store::{LocalObjectSink, LocalStateStore, ObjectSink, StateStore};
use shared::verify::{verify_lake, VerifyReport};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The store directory to verify (local backend).
    #[arg(long, env = "COMPLIANCE_LAKE_STORE", default_value = "compliance-lake-store")]
    pub store: PathBuf,
    /// `local` (a store directory) or `aws` (S3 bucket + DynamoDB state table).
    #[arg(long, default_value = "local")]
    pub backend: super::sync::Backend,
    /// S3 bucket of the lake (`--backend aws`).
    #[arg(long, env = "COMPLIANCE_LAKE_BUCKET")]
    pub bucket: Option<String>,
    /// Key prefix inside the bucket.
    #[arg(long, env = "COMPLIANCE_LAKE_PREFIX", default_value = "")]
    pub prefix: String,
    /// DynamoDB state table (`--backend aws`).
    #[arg(long, env = "COMPLIANCE_LAKE_TABLE")]
    pub table: Option<String>,
}

pub async fn run(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let report = match a.backend {
        super::sync::Backend::Local => {
            if !a.store.is_dir() {
                anyhow::bail!("store {} does not exist", a.store.display());
            }
            let sink = LocalObjectSink::new(&a.store).with_context(|| format!("opening {}", a.store.display()))?;
            let state = LocalStateStore::new(&a.store)?;
            run_on(&sink, &state).await?
        }
        super::sync::Backend::Aws => {
            let bucket = a.bucket.clone().context("--backend aws needs --bucket")?;
            let table = a.table.clone().context("--backend aws needs --table")?;
            let clients = shared::aws::AwsClients::from_env().await;
            let sink = shared::aws::S3ObjectSink::new(clients.s3.clone(), &bucket, a.prefix.trim_matches('/'));
            let state = shared::aws::DynamoStateStore::new(clients.dynamodb.clone(), &table);
            run_on(&sink, &state).await?
        }
    };
    Ok(print_report(&report))
}

pub async fn run_on(sink: &dyn ObjectSink, state: &dyn StateStore) -> anyhow::Result<VerifyReport> {
    verify_lake(sink, Some(state)).await.with_context(|| format!("verifying {}", sink.describe()))
}

/// One line per problem (exit 1), or a summary per stream (exit 0).
pub fn print_report(r: &VerifyReport) -> ExitCode {
    for p in &r.problems {
        println!("{p}");
    }
    if !r.ok() {
        eprintln!("compliance-lake: verify FAILED: {} problem(s)", r.problems.len());
        return ExitCode::FAILURE;
    }
    println!("{:<16} {:>7} {:>10} {:>9} {:>10}", "stream", "chains", "manifests", "objects", "records");
    for (s, (c, m, o, n)) in &r.streams {
        println!("{s:<16} {c:>7} {m:>10} {o:>9} {n:>10}");
    }
    println!(
        "verify OK: {} manifests, {} objects, {} records, {} bytes; every object matches its SHA-256, every chain is unbroken",
        r.manifests, r.objects, r.records, r.bytes
    );
    ExitCode::SUCCESS
}
