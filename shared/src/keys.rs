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
/// Keys registered before the current one (rotation), newest last. No secret material.
pub const KEY_HISTORY: &str = "keys/history";

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

/// A key that was current before a rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastKey {
    pub fingerprint: String,
    pub registered_at: Timestamp,
    pub superseded_at: Timestamp,
    /// Set once `key revoke --fingerprint` removed it from the secret (or it was revoked while current).
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
}

pub async fn load_history(state: &dyn StateStore) -> Result<(Option<u64>, Vec<PastKey>), StoreError> {
    match state.load(KEY_HISTORY).await? {
        Some(v) => serde_json::from_value(v.value.get("keys").cloned().unwrap_or(Value::Array(vec![])))
            .map(|h| (Some(v.version), h))
            .map_err(|e| StoreError::Corrupt { key: KEY_HISTORY.into(), reason: e.to_string() }),
        None => Ok((None, Vec::new())),
    }
}

pub async fn save_history(state: &dyn StateStore, version: Option<u64>, keys: &[PastKey]) -> Result<(), StoreError> {
    let v = serde_json::json!({ "keys": keys });
    state.save(KEY_HISTORY, version, &v).await.map(|_| ())
}

/// Pure: the history after registering a key with `new_fingerprint` while `current` was the record.
/// A different key becomes a past key (still readable as the secret's `AWSPREVIOUS` until revoked);
/// re-registering the same key changes nothing.
pub fn plan_register(
    current: Option<&KeyRecord>,
    new_fingerprint: &str,
    mut history: Vec<PastKey>,
    now: Timestamp,
) -> Vec<PastKey> {
    if let Some(c) = current.filter(|c| c.fingerprint != new_fingerprint) {
        history.retain(|p| p.fingerprint != c.fingerprint);
        history.push(PastKey {
            fingerprint: c.fingerprint.clone(),
            registered_at: c.registered_at,
            superseded_at: now,
            revoked_at: c.revoked_at,
        });
    }
    history.retain(|p| p.fingerprint != new_fingerprint);
    history
}

/// Which key `key revoke` acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// The current key: clear the secret's value and mark the record revoked.
    Current(String),
    /// A past key (index into the history): remove it from the secret's previous version.
    Past(usize),
}

/// Pure: `fingerprint` `None` = the current key. `Err` is an operator message.
pub fn plan_revoke(
    current: Option<&KeyRecord>,
    history: &[PastKey],
    fingerprint: Option<&str>,
) -> Result<RevokeTarget, String> {
    match (fingerprint, current) {
        (None, Some(c)) => Ok(RevokeTarget::Current(c.fingerprint.clone())),
        (None, None) => Err("no key registered; nothing to revoke".into()),
        (Some(f), Some(c)) if c.fingerprint == f => Ok(RevokeTarget::Current(c.fingerprint.clone())),
        (Some(f), _) => {
            history.iter().position(|p| p.fingerprint == f).map(RevokeTarget::Past).ok_or_else(|| {
                format!("no registered key has fingerprint {f:?} (compliance-lake key status lists them)")
            })
        }
    }
}

pub async fn save_record(state: &dyn StateStore, rec: &KeyRecord) -> Result<(), StoreError> {
    let v = serde_json::to_value(rec).map_err(|e| StoreError::Backend(e.to_string()))?;
    let cur = state.load(KEY_RECORD).await?.map(|c| c.version);
    state.save(KEY_RECORD, cur, &v).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fp: &str) -> KeyRecord {
        KeyRecord {
            fingerprint: fp.into(),
            kind: "Compliance".into(),
            scopes_observed: vec![],
            scopes_missing: vec![],
            status: KeyStatus::Active,
            registered_at: Timestamp::parse("2026-11-01T00:00:00Z").unwrap(),
            revoked_at: None,
            last_success_at: None,
            last_error: None,
            last_error_at: None,
            requests: 0,
            rate_limited: 0,
        }
    }

    #[test]
    fn rotation_plan() {
        let now = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
        let (a, b) = ("sha256:4be1c09f77a2", "sha256:e03d5b6a91fc");
        assert!(plan_register(None, a, vec![], now).is_empty(), "first key: no history");
        assert!(plan_register(Some(&rec(a)), a, vec![], now).is_empty(), "same key again: no history");
        let h = plan_register(Some(&rec(a)), b, vec![], now);
        assert_eq!((h.len(), h[0].fingerprint.as_str(), h[0].superseded_at), (1, a, now));
        // back to A: it leaves the history, B enters it
        let h2 = plan_register(Some(&rec(b)), a, h.clone(), now);
        assert_eq!(h2.iter().map(|p| p.fingerprint.as_str()).collect::<Vec<_>>(), vec![b]);

        assert_eq!(plan_revoke(Some(&rec(b)), &h, None), Ok(RevokeTarget::Current(b.into())));
        assert_eq!(plan_revoke(Some(&rec(b)), &h, Some(b)), Ok(RevokeTarget::Current(b.into())));
        assert_eq!(plan_revoke(Some(&rec(b)), &h, Some(a)), Ok(RevokeTarget::Past(0)));
        assert!(plan_revoke(Some(&rec(b)), &h, Some("sha256:000000000000")).unwrap_err().contains("key status"));
        assert!(plan_revoke(None, &[], None).is_err());
    }
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
    /// A 401 or bare 404 means the key itself is unusable (not merely missing a scope); a redirect
    /// means the base URL is not the API (and is never followed, so the key stays here).
    pub fn fatal(&self) -> Option<&ApiError> {
        self.checks.iter().find_map(|c| match &c.result {
            Err(
                e @ (ApiError::Unauthorized { .. } | ApiError::NotAuthenticated { .. } | ApiError::Redirected { .. }),
            ) => Some(e),
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
        let fatal = matches!(
            result,
            Err(ApiError::Unauthorized { .. } | ApiError::NotAuthenticated { .. } | ApiError::Redirected { .. })
        );
        checks.push(ScopeCheck { scope, what, result });
        if fatal {
            break;
        }
    }
    Probe { kind: client.config().api_key.kind(), checks, first_org }
}
