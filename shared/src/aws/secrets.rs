//! The Compliance Access Key from Secrets Manager: [`SecretKeySource`].
//!
//! The key is fetched once and cached for a short TTL (default 5 min), so a rotated key
//! (PutSecretValue by the operator or `put`) is picked up without a redeploy; call
//! [`SecretKeySource::invalidate`] after a 401 to refetch at once. The secret string is either the
//! bare key or a JSON object with an `api_key` field.
//!
//! The value only ever lives in a `crate::api::ApiKey` (which prints as a fingerprint). Errors carry
//! the secret id and the service's error code/message, never the value; `Debug` shows the id, the TTL
//! and the cached key's fingerprint.

use crate::api::ApiKey;
use crate::aws::error::AwsError;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

pub struct SecretKeySource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    ttl: Duration,
    cache: Mutex<Option<(ApiKey, Instant)>>,
}

impl std::fmt::Debug for SecretKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.cache.try_lock().ok().and_then(|c| c.as_ref().map(|(k, _)| k.fingerprint()));
        f.debug_struct("SecretKeySource")
            .field("secret_id", &self.secret_id)
            .field("ttl", &self.ttl)
            .field("cached", &cached)
            .finish()
    }
}

/// What `clear` leaves as the secret's value: no key material, only which key was revoked when.
fn revoked_marker(fingerprint: &str) -> String {
    serde_json::json!({"revoked": fingerprint, "revoked_at": crate::time::Timestamp::now()}).to_string()
}

fn is_revoked_marker(raw: &str) -> bool {
    let t = raw.trim();
    t.starts_with('{')
        && serde_json::from_str::<serde_json::Value>(t)
            .is_ok_and(|v| v.get("revoked").is_some() && v.get("api_key").is_none())
}

fn parse_secret(raw: &str) -> Option<ApiKey> {
    let t = raw.trim();
    if t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        let k = v.get("api_key").or_else(|| v.get("key"))?.as_str()?;
        return Some(ApiKey::new(k));
    }
    Some(ApiKey::new(t))
}

impl SecretKeySource {
    /// `secret_id` is the secret's name or ARN.
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        SecretKeySource { client, secret_id: secret_id.into(), ttl: DEFAULT_TTL, cache: Mutex::new(None) }
    }

    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// The current key: from the cache while it is younger than the TTL, else from Secrets Manager.
    /// Concurrent callers share one fetch.
    pub async fn get(&self) -> Result<ApiKey, AwsError> {
        let mut cache = self.cache.lock().await;
        if let Some((key, at)) = cache.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(key.clone());
            }
        }
        let key = self.fetch().await?;
        *cache = Some((key.clone(), Instant::now()));
        Ok(key)
    }

    /// Forgets the cached key (e.g. after a 401), so the next `get` reads Secrets Manager.
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    async fn fetch(&self) -> Result<ApiKey, AwsError> {
        let out = self.client.get_secret_value().secret_id(&self.secret_id).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) {
                AwsError::NotFound { what: format!("secret {:?}", self.secret_id) }
            } else if e.as_service_error().is_some_and(|s| s.is_invalid_request_exception()) {
                // GetSecretValue on a secret scheduled for deletion: the key was revoked.
                AwsError::NotFound {
                    what: format!("secret {:?} (scheduled for deletion: the key was revoked)", self.secret_id),
                }
            } else {
                AwsError::backend("GetSecretValue", format!("secret {:?}", self.secret_id), &e)
            }
        })?;
        if out.secret_string().is_some_and(is_revoked_marker) {
            return Err(AwsError::NotFound {
                what: format!("secret {:?} value (the key was revoked)", self.secret_id),
            });
        }
        let key = out.secret_string().and_then(parse_secret).filter(|k| !k.is_empty()).ok_or_else(|| {
            AwsError::Invalid(format!(
                "secret {:?} holds no access key (expected the key as the secret string, or JSON {{\"api_key\": …}})",
                self.secret_id
            ))
        })?;
        tracing::debug!(secret_id = %self.secret_id, key = %key.fingerprint(), "access key loaded");
        Ok(key)
    }

    /// Stores `key` as the secret's new current value, creating the secret if needed (and restoring
    /// it first if it was scheduled for deletion). `kms_key_id` applies only on creation.
    pub async fn put(&self, key: &ApiKey, kms_key_id: Option<&str>) -> Result<(), AwsError> {
        let what = || format!("secret {:?}", self.secret_id);
        let exists = match self.client.describe_secret().secret_id(&self.secret_id).send().await {
            Ok(d) => {
                if d.deleted_date().is_some() {
                    self.client
                        .restore_secret()
                        .secret_id(&self.secret_id)
                        .send()
                        .await
                        .map_err(|e| AwsError::backend("RestoreSecret", what(), &e))?;
                }
                true
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => false,
            Err(e) => return Err(AwsError::backend("DescribeSecret", what(), &e)),
        };
        if exists {
            self.client
                .put_secret_value()
                .secret_id(&self.secret_id)
                .secret_string(key.expose())
                .send()
                .await
                .map_err(|e| AwsError::backend("PutSecretValue", what(), &e))?;
        } else {
            self.client
                .create_secret()
                .name(&self.secret_id)
                .description("compliance-lake: Compliance Access Key")
                .set_kms_key_id(kms_key_id.map(str::to_string))
                .secret_string(key.expose())
                .send()
                .await
                .map_err(|e| AwsError::backend("CreateSecret", what(), &e))?;
        }
        *self.cache.lock().await = Some((key.clone(), Instant::now()));
        tracing::info!(secret_id = %self.secret_id, key = %key.fingerprint(), "access key stored");
        Ok(())
    }

    /// The ids of the versions labelled `AWSCURRENT` and `AWSPREVIOUS`; restores a secret scheduled
    /// for deletion (a revoke by an earlier version deleted the stack's secret: this undoes the drift).
    async fn labelled_versions(&self) -> Result<(Option<String>, Option<String>), AwsError> {
        let what = || format!("secret {:?}", self.secret_id);
        let d = self
            .client
            .describe_secret()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| AwsError::backend("DescribeSecret", what(), &e))?;
        if d.deleted_date().is_some() {
            self.client
                .restore_secret()
                .secret_id(&self.secret_id)
                .send()
                .await
                .map_err(|e| AwsError::backend("RestoreSecret", what(), &e))?;
        }
        let mut current = None;
        let mut previous = None;
        for (id, stages) in d.version_ids_to_stages().into_iter().flatten() {
            if stages.iter().any(|s| s == "AWSCURRENT") {
                current = Some(id.clone());
            }
            if stages.iter().any(|s| s == "AWSPREVIOUS") {
                previous = Some(id.clone());
            }
        }
        Ok((current, previous))
    }

    async fn unlabel_previous(&self, version_id: &str) -> Result<(), AwsError> {
        self.client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage("AWSPREVIOUS")
            .remove_from_version_id(version_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::backend("UpdateSecretVersionStage", format!("secret {:?}", self.secret_id), &e))
    }

    /// Revokes the current key without deleting the secret (the deployment stack owns the secret;
    /// deleting it drifts the stack): the current value becomes a marker naming the revoked key's
    /// fingerprint, and the versions that held keys lose their labels, so no stage retrieves them.
    pub async fn clear(&self, fingerprint: &str) -> Result<(), AwsError> {
        let (current, _) = self.labelled_versions().await?;
        self.client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(revoked_marker(fingerprint))
            .send()
            .await
            .map_err(|e| AwsError::backend("PutSecretValue", format!("secret {:?}", self.secret_id), &e))?;
        // the put moved AWSPREVIOUS onto the version that held the key
        if let Some(id) = current {
            self.unlabel_previous(&id).await?;
        }
        *self.cache.lock().await = None;
        tracing::info!(secret_id = %self.secret_id, key = %fingerprint, "access key cleared from the secret");
        Ok(())
    }

    /// After a rotation the old key stays readable as `AWSPREVIOUS`; this removes that label when
    /// the version holds the key with `fingerprint`. `Ok(false)` when no labelled version holds it.
    pub async fn forget_previous(&self, fingerprint: &str) -> Result<bool, AwsError> {
        let (_, previous) = self.labelled_versions().await?;
        let Some(id) = previous else { return Ok(false) };
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_id(&id)
            .send()
            .await
            .map_err(|e| AwsError::backend("GetSecretValue", format!("secret {:?}", self.secret_id), &e))?;
        let holds = out.secret_string().and_then(parse_secret).is_some_and(|k| k.fingerprint() == fingerprint);
        if holds {
            self.unlabel_previous(&id).await?;
            tracing::info!(secret_id = %self.secret_id, key = %fingerprint, "previous access key removed from the secret");
        }
        Ok(holds)
    }

    /// Deletes the secret, at once with `force`, else with Secrets Manager's recovery window
    /// (7 days). A missing secret is not an error. Not used by `key revoke` (see [`Self::clear`]):
    /// only for secrets this tool created itself outside a stack.
    pub async fn delete(&self, force: bool) -> Result<(), AwsError> {
        let mut req = self.client.delete_secret().secret_id(&self.secret_id);
        req = if force { req.force_delete_without_recovery(true) } else { req.recovery_window_in_days(7) };
        match req.send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(AwsError::backend("DeleteSecret", format!("secret {:?}", self.secret_id), &e)),
        }
        *self.cache.lock().await = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_formats() {
        assert_eq!(parse_secret(" sk-ant-api01-abc \n").unwrap().expose(), "sk-ant-api01-abc");
        assert_eq!(parse_secret(r#"{"api_key":"sk-ant-api01-x"}"#).unwrap().expose(), "sk-ant-api01-x");
        assert!(parse_secret(r#"{"other":1}"#).is_none());
        let m = revoked_marker("sha256:0123456789ab");
        assert!(is_revoked_marker(&m) && parse_secret(&m).is_none(), "{m}");
        assert!(!is_revoked_marker("sk-ant-api01-x") && !is_revoked_marker(r#"{"api_key":"sk-ant-api01-x"}"#));
    }
}
