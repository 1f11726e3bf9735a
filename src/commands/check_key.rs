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
    let kind = key.kind();
    println!(
        "key {} ({})",
        key.fingerprint(),
        match kind {
            KeyKind::Compliance => "Compliance Access Key",
            KeyKind::Admin => "Admin API key: reaches the Activity Feed only",
            KeyKind::ClaudeApi => "Claude API key",
            KeyKind::Unknown => "unrecognised prefix",
        }
    );
    let client = a.api.client(key)?;
    let stats = CallStats::default();
    let one = vec![("limit".to_string(), "1".to_string())];
    let mut ok = true;
    let mut first_org = None;
    let checks: [(&str, &str, String); 3] = [
        ("read:compliance_org_data", "organizations", paths::ORGANIZATIONS.to_string()),
        ("read:compliance_activities", "activity feed", paths::ACTIVITIES.to_string()),
        ("read:compliance_user_data", "chats", paths::CHATS.to_string()),
    ];
    for (scope, what, path) in checks {
        match client.get_json(&path, &one, &stats).await {
            Ok(r) => {
                if what == "organizations" {
                    first_org = r
                        .body
                        .get("data")
                        .and_then(|d| d.get(0))
                        .and_then(|o| o.get("uuid"))
                        .and_then(|u| u.as_str())
                        .map(str::to_string);
                }
                println!("  ok    {scope:<28} {what}");
            }
            Err(e @ (ApiError::NotAuthenticated { .. } | ApiError::Unauthorized { .. })) => {
                println!("  FAIL  {scope:<28} {e}");
                return Err(e.into());
            }
            Err(e) => {
                ok = false;
                println!("  FAIL  {scope:<28} {e}");
            }
        }
    }
    if let Some(org) = a.org_id.as_deref().map(str::trim).map(str::to_string).or(first_org) {
        match client.get_json(&paths::users(&org), &one, &stats).await {
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
