//! Function configuration from environment variables (what the deployment template sets). Parsed
//! once per cold start; a malformed value is a clear error naming the variable, never a default.

use crate::streams::SyncConfig;
use crate::sync::StreamSelection;
use crate::time::Timestamp;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

/// What to sync and how to reach the API. (Where to store it — bucket, table, queue, secret — is
/// `crate::aws::AwsSettings`, read from the same environment.)
#[derive(Debug, Clone)]
pub struct Settings {
    pub api: super::ApiSettings,
    pub cfg: SyncConfig,
    pub streams: StreamSelection,
    /// Serve the built-in synthetic tenant in-process instead of calling the real API.
    pub synthetic_seed: Option<u64>,
}

fn list(v: Option<&String>) -> Vec<String> {
    v.map(|s| s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect()).unwrap_or_default()
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(&std::env::vars().collect())
    }

    pub fn from_map(env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| env.get(k).filter(|v| !v.trim().is_empty());
        let num = |k: &'static str, d: u64| -> Result<u64, ConfigError> {
            match get(k) {
                Some(v) => {
                    v.trim().parse().map_err(|_| ConfigError { var: k, reason: format!("{v:?} is not a whole number") })
                }
                None => Ok(d),
            }
        };
        let backfill_start = match get("COMPLIANCE_LAKE_BACKFILL_START") {
            Some(v) => Some(
                Timestamp::parse(v)
                    .map_err(|e| ConfigError { var: "COMPLIANCE_LAKE_BACKFILL_START", reason: e.to_string() })?,
            ),
            None => None,
        };
        let streams = match get("COMPLIANCE_LAKE_STREAMS") {
            Some(v) => {
                StreamSelection::parse(v).map_err(|reason| ConfigError { var: "COMPLIANCE_LAKE_STREAMS", reason })?
            }
            None => StreamSelection::default(),
        };
        let overlap = chrono::Duration::minutes(num("COMPLIANCE_LAKE_OVERLAP_MINUTES", 10)? as i64);
        let cfg = SyncConfig {
            backfill_start,
            activity_overlap: overlap,
            project_overlap: overlap,
            org_ids: list(get("COMPLIANCE_LAKE_ORG_IDS")),
            user_ids: list(get("COMPLIANCE_LAKE_USER_IDS")),
            project_ids: list(get("COMPLIANCE_LAKE_PROJECT_IDS")),
            exclude_activity_types: list(get("COMPLIANCE_LAKE_EXCLUDE_ACTIVITY_TYPES")),
            ..SyncConfig::default()
        };
        let base_url = get("COMPLIANCE_API_BASE_URL").cloned().unwrap_or_else(|| crate::api::DEFAULT_BASE_URL.into());
        // https:// or loopback only: the key must never travel in clear text to another host
        crate::api::client::check_base_url(&base_url)
            .map_err(|reason| ConfigError { var: "COMPLIANCE_API_BASE_URL", reason })?;
        let api = super::ApiSettings { base_url, ..super::ApiSettings::default() };
        let synthetic_seed = match get("COMPLIANCE_LAKE_SYNTHETIC") {
            Some(v) if matches!(v.trim(), "false" | "0" | "no") => None,
            Some(v) if matches!(v.trim(), "true" | "yes") => Some(42),
            Some(v) => Some(v.trim().parse().map_err(|_| ConfigError {
                var: "COMPLIANCE_LAKE_SYNTHETIC",
                reason: format!("{v:?}: expected true/false or a seed"),
            })?),
            None => None,
        };
        Ok(Settings { api, cfg, streams, synthetic_seed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_and_names_bad_values() {
        let s = Settings::from_map(&env(&[
            ("COMPLIANCE_LAKE_ORG_IDS", "org_1, org_2,"),
            ("COMPLIANCE_LAKE_OVERLAP_MINUTES", "5"),
            ("COMPLIANCE_LAKE_BACKFILL_START", "2026-08-01T00:00:00Z"),
            ("COMPLIANCE_LAKE_SYNTHETIC", "false"),
        ]))
        .unwrap();
        assert_eq!(s.cfg.org_ids, vec!["org_1", "org_2"]);
        assert_eq!(s.cfg.activity_overlap, chrono::Duration::minutes(5));
        assert!(s.synthetic_seed.is_none());
        let e = Settings::from_map(&env(&[("COMPLIANCE_LAKE_OVERLAP_MINUTES", "lots")])).unwrap_err();
        assert!(e.to_string().contains("COMPLIANCE_LAKE_OVERLAP_MINUTES"), "{e}");
        let e = Settings::from_map(&env(&[("COMPLIANCE_LAKE_SYNTHETIC", "maybe")])).unwrap_err();
        assert_eq!(e.var, "COMPLIANCE_LAKE_SYNTHETIC");
        let e = Settings::from_map(&env(&[("COMPLIANCE_API_BASE_URL", "http://api.example.com")])).unwrap_err();
        assert_eq!(e.var, "COMPLIANCE_API_BASE_URL");
        assert!(Settings::from_map(&env(&[("COMPLIANCE_API_BASE_URL", "http://127.0.0.1:8787")])).is_ok());
        let e = Settings::from_map(&env(&[("COMPLIANCE_LAKE_STREAMS", "chats,emails")])).unwrap_err();
        assert!(e.to_string().contains("emails"), "{e}");
    }
}
