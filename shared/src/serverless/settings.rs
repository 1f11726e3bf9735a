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

/// The JSON response cap for a function with `memory_mib` of memory: an eighth of it, at least 8 MiB.
pub fn response_cap_for_memory(memory_mib: u64) -> usize {
    let bytes = memory_mib.saturating_mul(1024 * 1024) / 8;
    bytes.max(8 * 1024 * 1024).min(usize::MAX as u64) as usize
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
        let overlap_minutes = num("COMPLIANCE_LAKE_OVERLAP_MINUTES", 10)?;
        let overlap = chrono::Duration::minutes(overlap_minutes.min(i64::MAX as u64) as i64);
        let max_page = u64::from(crate::streams::MAX_ACTIVITY_PAGE_SIZE);
        let activity_page_size = num("COMPLIANCE_LAKE_ACTIVITY_PAGE_SIZE", max_page)?;
        if !(1..=max_page).contains(&activity_page_size) {
            return Err(ConfigError {
                var: "COMPLIANCE_LAKE_ACTIVITY_PAGE_SIZE",
                reason: format!("{activity_page_size} is out of range: the API accepts 1 to {max_page}"),
            });
        }
        let cfg = SyncConfig {
            activity_page_size: activity_page_size as u32,
            backfill_start,
            activity_overlap: overlap,
            project_overlap: overlap,
            session_overlap: overlap,
            org_ids: list(get("COMPLIANCE_LAKE_ORG_IDS")),
            user_ids: list(get("COMPLIANCE_LAKE_USER_IDS")),
            project_ids: list(get("COMPLIANCE_LAKE_PROJECT_IDS")),
            exclude_activity_types: list(get("COMPLIANCE_LAKE_EXCLUDE_ACTIVITY_TYPES")),
            // Access Transparency log keys trusted besides the pinned ones (tlog branch)
            tlog_trusted_fingerprints: list(get("COMPLIANCE_LAKE_TLOG_TRUSTED_KEYS")),
            // directory snapshots on their own cadence (0 or unset = every scheduled run)
            directory_interval: match num("COMPLIANCE_LAKE_DIRECTORY_INTERVAL_MINUTES", 0)? {
                0 => None,
                m => Some(chrono::Duration::minutes(m.min(366 * 24 * 60) as i64)),
            },
            ..SyncConfig::default()
        }
        .with_page_sizes_clamped();
        cfg.validate().map_err(|reason| ConfigError { var: "COMPLIANCE_LAKE_OVERLAP_MINUTES", reason })?;
        let base_url = get("COMPLIANCE_API_BASE_URL").cloned().unwrap_or_else(|| crate::api::DEFAULT_BASE_URL.into());
        // https:// or loopback only: the key must never travel in clear text to another host
        crate::api::client::check_base_url(&base_url)
            .map_err(|reason| ConfigError { var: "COMPLIANCE_API_BASE_URL", reason })?;
        let mut api = super::ApiSettings { base_url, ..super::ApiSettings::default() };
        // On Lambda, one JSON parse can take several times the body in memory: cap a response at an
        // eighth of the function's memory (128 MiB on a 1 GB worker), never above the default.
        if let Some(mib) = get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") {
            let mib: u64 = mib.trim().parse().map_err(|_| ConfigError {
                var: "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                reason: format!("{mib:?} is not a whole number of MiB"),
            })?;
            api.max_response_bytes = response_cap_for_memory(mib).min(api.max_response_bytes);
        }
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
        for bad in ["0", "1"] {
            let e = Settings::from_map(&env(&[("COMPLIANCE_LAKE_OVERLAP_MINUTES", bad)])).unwrap_err();
            assert!(e.to_string().contains("at least 2 min"), "{e}");
        }
        let s = Settings::from_map(&env(&[("COMPLIANCE_LAKE_OVERLAP_MINUTES", "2")])).unwrap();
        assert_eq!(s.cfg.activity_overlap, chrono::Duration::minutes(2));
        // activities pages at the API's maximum unless configured
        assert_eq!(Settings::from_map(&env(&[])).unwrap().cfg.activity_page_size, 5000);
        let s = Settings::from_map(&env(&[("COMPLIANCE_LAKE_ACTIVITY_PAGE_SIZE", "750")])).unwrap();
        assert_eq!(s.cfg.activity_page_size, 750);
        for bad in ["0", "5001"] {
            let e = Settings::from_map(&env(&[("COMPLIANCE_LAKE_ACTIVITY_PAGE_SIZE", bad)])).unwrap_err();
            assert_eq!(e.var, "COMPLIANCE_LAKE_ACTIVITY_PAGE_SIZE");
        }
        // the response cap follows the function's memory
        let s = Settings::from_map(&env(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")])).unwrap();
        assert_eq!(s.api.max_response_bytes, 128 * 1024 * 1024);
        let s = Settings::from_map(&env(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "10240")])).unwrap();
        assert_eq!(s.api.max_response_bytes, 256 * 1024 * 1024, "never above the default");
        assert_eq!(response_cap_for_memory(128), 16 * 1024 * 1024);
        assert_eq!(response_cap_for_memory(0), 8 * 1024 * 1024);
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
