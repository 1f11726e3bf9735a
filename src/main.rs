//! `compliance-lake`: the operator CLI. Wiring only; the engine lives in the `shared` crate.

mod commands;
mod logging;
mod ui;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "compliance-lake",
    version,
    about = "Copy everything Anthropic's Compliance API holds into your own lake — complete, exactly once, DLP-scanned."
)]
struct Cli {
    /// Log format: `human` (default on a terminal) or `json` (structured, one object per line).
    #[arg(long, global = true, env = "COMPLIANCE_LAKE_LOG_FORMAT", default_value = "human")]
    log_format: logging::Format,
    /// Log filter, e.g. `info`, `debug`, `shared=debug`.
    #[arg(long, global = true, env = "COMPLIANCE_LAKE_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sync every stream into the store (incremental; safe to re-run after any failure).
    Sync(Box<commands::sync::SyncArgs>),
    /// Synthetic tenant end to end into a fresh store, a tenant mutation, a second sync, a summary.
    Demo(commands::demo::DemoArgs),
    /// Serve the synthetic tenant as a fake Compliance API (the "Use Synthetic Data" mode).
    FakeApi(commands::fake_api::FakeApiArgs),
    /// Validate the access key (and an organization UUID) against the API; exit 0 only if it works.
    CheckKey(commands::check_key::CheckKeyArgs),
    /// Data loss prevention: scan text for secrets and personal data.
    #[command(subcommand)]
    Dlp(commands::dlp::DlpCmd),
    /// List DLP findings of a store, filtered by time, severity and user.
    Findings(commands::dlp::FindingsArgs),
    /// Create the bucket, table and queues of the distributed path (same definitions as the template).
    AwsInit(commands::aws::AwsInitArgs),
    /// Each job's committed position and the items held in quarantine (read from the state).
    Status(commands::status::StatusArgs),
    /// Prove the lake matches its manifests: hashes, coverage, hash chains, no duplicates (exit 1 names each problem).
    Verify(commands::verify::VerifyArgs),
    /// Manage the Compliance Access Key in Secrets Manager (register, status, revoke).
    #[command(subcommand)]
    Key(commands::aws::KeyCmd),
    /// Web console on 127.0.0.1: DLP findings, sync health, runs and the key (prints its URL with a token).
    Console(Box<commands::console::ConsoleArgs>),
    /// What changed between two directory snapshots: `diff settings|roles|groups [--since 7d]`.
    Diff(commands::diff::DiffArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_format, &cli.log) {
        eprintln!("compliance-lake: {e}");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("compliance-lake: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let res = rt.block_on(async {
        match cli.cmd {
            Command::Sync(a) => commands::sync::run(*a).await,
            Command::Status(a) => commands::status::run(a).await,
            Command::Demo(a) => commands::demo::run(a).await,
            Command::FakeApi(a) => commands::fake_api::run(a).await,
            Command::CheckKey(a) => commands::check_key::run(a).await,
            Command::Dlp(c) => commands::dlp::run_dlp(c),
            Command::Findings(a) => commands::dlp::run_findings(a).await,
            Command::AwsInit(a) => commands::aws::run_init(a).await,
            Command::Key(c) => commands::aws::run_key(c).await,
            Command::Verify(a) => commands::verify::run(a).await,
            Command::Console(a) => commands::console::run(*a).await,
            Command::Diff(a) => commands::diff::run(a).await,
        }
    });
    match res {
        Ok(code) => code,
        Err(e) => {
            // One line, the whole chain; never the key (no error type carries it).
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("compliance-lake: error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}
