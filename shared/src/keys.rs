//! The Compliance Access Key: where it comes from ([`KeySource`]), what we know about it
//! ([`KeyRecord`]: fingerprint, scopes as observed, status, last use — never the key itself) and
//! how it is probed scope by scope. Revoking the key makes every scheduler run stop cleanly.

use crate::api::{paths, ApiClient, ApiError, ApiKey, CallStats, KeyKind};
use crate::store::{StateStore, StoreError};
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const KEY_RECORD: &str = "keys/current";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the access key could not be read from {source_name}: {reason}")]
    Unavailable { source_name: String, reason: String, retryable: bool },
}

impl KeyError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, KeyError::Unavailable { retryable: true, .. })
    }
}

/// Where workers get the key. `Ok(None)` = there is no key (revoked or never registered).
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn current(&self) -> Result<Option<ApiKey>, KeyError>;
    fn describe(&self) -> String;
}

/// A key known at start-up (env var or file).
pub struct StaticKey(pub ApiKey);

#[async_trait]
impl KeySource for StaticKey {
    async fn current(&self) -> Result<Option<ApiKey>, KeyError> {
        Ok(Some(self.0.clone()))
    }
    fn describe(&self) -> String {
        format!("static key {}", self.0.fingerprint())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Revoked,
}

/// What is recorded about the registered key. No secret material.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub fingerprint: String,
    pub kind: String,
    pub scopes_observed: Vec<String>,
    pub scopes_missing: Vec<String>,
    pub status: KeyStatus,
    pub registered_at: Timestamp,
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    #[serde(default)]
    pub last_success_at: Option<Timestamp>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_error_at: Option<Timestamp>,
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub rate_limited: u64,
}

pub async fn load_record(state: &dyn StateStore) -> Result<Option<KeyRecord>, StoreError> {
    match state.load(KEY_RECORD).await? {
        Some(v) => serde_json::from_value(v.value)
            .map(Some)
            .map_err(|e| StoreError::Corrupt { key: KEY_RECORD.into(), reason: e.to_string() }),
        None => Ok(None),
    }
}

/// Read-modify-write with a few retries on conflict (many workers report use concurrently).
pub async fn update_record(state: &dyn StateStore, f: impl Fn(&mut KeyRecord)) -> Result<(), StoreError> {
    for _ in 0..5 {
        let Some(cur) = state.load(KEY_RECORD).await? else { return Ok(()) };
        let mut rec: KeyRecord = serde_json::from_value(cur.value)
            .map_err(|e| StoreError::Corrupt { key: KEY_RECORD.into(), reason: e.to_string() })?;
        f(&mut rec);
        let v = serde_json::to_value(&rec).map_err(|e| StoreError::Backend(e.to_string()))?;
        match state.save(KEY_RECORD, Some(cur.version), &v).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub async fn save_record(state: &dyn StateStore, rec: &KeyRecord) -> Result<(), StoreError> {
    let v = serde_json::to_value(rec).map_err(|e| StoreError::Backend(e.to_string()))?;
    let cur = state.load(KEY_RECORD).await?.map(|c| c.version);
    state.save(KEY_RECORD, cur, &v).await.map(|_| ())
}

/// One scope check of a probe.
#[derive(Debug)]
pub struct ScopeCheck {
    pub scope: &'static str,
    pub what: &'static str,
    pub result: Result<(), ApiError>,
}

#[derive(Debug)]
pub struct Probe {
    pub kind: KeyKind,
    pub checks: Vec<ScopeCheck>,
    /// First organization listed (to check member access), if any.
    pub first_org: Option<String>,
}

impl Probe {
    pub fn observed(&self) -> Vec<String> {
        self.checks.iter().filter(|c| c.result.is_ok()).map(|c| c.scope.to_string()).collect()
    }
    pub fn missing(&self) -> Vec<String> {
        self.checks.iter().filter(|c| c.result.is_err()).map(|c| c.scope.to_string()).collect()
    }
    /// A 401 or bare 404 means the key itself is unusable (not merely missing a scope).
    pub fn fatal(&self) -> Option<&ApiError> {
        self.checks.iter().find_map(|c| match &c.result {
            Err(e @ (ApiError::Unauthorized { .. } | ApiError::NotAuthenticated { .. })) => Some(e),
            _ => None,
        })
    }
}

/// Calls one cheap endpoint per scope (`limit=1`) and reports which work.
pub async fn probe(client: &ApiClient) -> Probe {
    let stats = CallStats::default();
    let one = vec![("limit".to_string(), "1".to_string())];
    let mut checks = Vec::new();
    let mut first_org = None;
    for (scope, what, path) in [
        ("read:compliance_org_data", "organizations", paths::ORGANIZATIONS),
        ("read:compliance_activities", "activity feed", paths::ACTIVITIES),
        ("read:compliance_user_data", "chats and members", paths::CHATS),
    ] {
        let result = match client.get_json(path, &one, &stats).await {
            Ok(r) => {
                if what == "organizations" {
                    first_org = r.body.pointer("/data/0/uuid").and_then(Value::as_str).map(str::to_string);
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        let fatal = matches!(result, Err(ApiError::Unauthorized { .. } | ApiError::NotAuthenticated { .. }));
        checks.push(ScopeCheck { scope, what, result });
        if fatal {
            break;
        }
    }
    Probe { kind: client.config().api_key.kind(), checks, first_org }
}
