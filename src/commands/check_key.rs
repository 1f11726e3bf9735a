//! `compliance-lake check-key`: tells exactly what is wrong with a key (and an org UUID), scope by scope.

use super::sync::ApiArgs;
use clap::Args;
use shared::api::{paths, ApiError, CallStats, KeyKind};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct CheckKeyArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Also check that this organization UUID is reachable with the key.
    #[arg(long)]
    pub org_id: Option<String>,
}

pub async fn run(a: CheckKeyArgs) -> anyhow::Result<ExitCode> {
    if let Some(org) = &a.org_id {
        if org.trim().is_empty() {
            anyhow::bail!("Organization ID is required when --org-id is given");
        }
        if uuid::Uuid::parse_str(org.trim()).is_err() {
            return Err(ApiError::OrgIdMalformed(org.clone()).into());
        }
    }
    let key = a.api.key()?;
    println!(
        "key {} ({})",
        key.fingerprint(),
        match key.kind() {
            KeyKind::Compliance => "Compliance Access Key",
            KeyKind::Admin => "Admin API key: reaches the Activity Feed only",
            KeyKind::ClaudeApi => "Claude API key",
            KeyKind::Unknown => "unrecognised prefix",
        }
    );
    let client = a.api.client(key)?;
    let probe = shared::keys::probe(&client).await;
    for c in &probe.checks {
        match &c.result {
            Ok(()) => println!("  ok    {:<28} {}", c.scope, c.what),
            Err(e) => println!("  FAIL  {:<28} {e}", c.scope),
        }
    }
    if let Some(e) = probe.fatal() {
        anyhow::bail!("{e}");
    }
    let mut ok = probe.missing().is_empty();
    if let Some(org) = a.org_id.as_deref().map(str::trim).map(str::to_string).or(probe.first_org.clone()) {
        let one = vec![("limit".to_string(), "1".to_string())];
        match client.get_json(&paths::users(&org), &one, &CallStats::default()).await {
            Ok(_) => println!("  ok    organization {org} reachable (members readable)"),
            Err(e) => {
                ok = false;
                println!("  FAIL  organization {org}: {e}");
            }
        }
    }
    if ok {
        println!("key works");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("key does not work for everything compliance-lake syncs (see above)");
        Ok(ExitCode::FAILURE)
    }
}
