//! `compliance-lake status`: each job's committed position, and every item held in quarantine (a
//! chat whose messages, or a project whose detail or attachments, failed and are being skipped and
//! retried on a slower cadence). Reads the state only; no API calls.

use anyhow::Context;
use clap::Args;
use shared::status::{collect, JobStatus};
use shared::store::{LocalStateStore, StateStore};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The store directory (local backend).
    #[arg(long, env = "COMPLIANCE_LAKE_STORE", default_value = "compliance-lake-store")]
    pub store: PathBuf,
    /// `local` (a store directory) or `aws` (the DynamoDB state table).
    #[arg(long, default_value = "local")]
    pub backend: super::sync::Backend,
    /// DynamoDB state table (`--backend aws`).
    #[arg(long, env = "COMPLIANCE_LAKE_TABLE")]
    pub table: Option<String>,
    /// One JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let jobs = match a.backend {
        super::sync::Backend::Local => {
            if !a.store.is_dir() {
                anyhow::bail!("store {} does not exist", a.store.display());
            }
            let state = LocalStateStore::new(&a.store)?;
            read(&state).await?
        }
        super::sync::Backend::Aws => {
            let table = a.table.clone().context("--backend aws needs --table")?;
            let clients = shared::aws::AwsClients::from_env().await;
            let state = shared::aws::DynamoStateStore::new(clients.dynamodb.clone(), &table);
            read(&state).await?
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&jobs));
    Ok(ExitCode::SUCCESS)
}

async fn read(state: &dyn StateStore) -> anyhow::Result<Vec<JobStatus>> {
    collect(state).await.context("reading the state")
}

/// The human report: one line per job, then one block per quarantined item.
pub fn render(jobs: &[JobStatus]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{:<40} {:>10} {:>8} {:>11}  last commit", "job", "records", "commits", "quarantine");
    for j in jobs {
        let _ = writeln!(
            s,
            "{:<40} {:>10} {:>8} {:>11}  {}{}",
            j.job,
            j.records_written,
            j.head_seq.unwrap_or(0),
            j.quarantine.len(),
            j.last_commit_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "never".into()),
            if j.walk_in_progress { " (walk in progress)" } else { "" }
        );
    }
    let _ = writeln!(s, "\n{}", shared::status::self_audit_line(jobs, shared::time::Timestamp::now()));
    let held: usize = jobs.iter().map(|j| j.quarantine.len()).sum();
    if held == 0 {
        let _ = writeln!(s, "\nno item in quarantine");
        return s;
    }
    let _ = writeln!(
        s,
        "\n{held} item(s) in quarantine (skipped; retried on a slower cadence; written once when they succeed):"
    );
    for j in jobs {
        for q in &j.quarantine {
            let _ = writeln!(
                s,
                "  {}  {}  {}  attempts {}  first {}  next retry {}\n      {}",
                j.job,
                q.item,
                q.status.map(|c| format!("HTTP {c}")).unwrap_or_else(|| "-".into()),
                q.attempts,
                q.first_seen.as_deref().unwrap_or("?"),
                q.next_retry.as_deref().unwrap_or("?"),
                q.error
            );
        }
    }
    s
}
