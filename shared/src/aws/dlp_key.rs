//! The DLP fingerprint key on AWS: a Secrets Manager secret (the template creates it empty; the
//! first function to start fills it with 32 random bytes, hex), **never** the state table, whose
//! point-in-time backups would keep it next to the findings' fingerprints.
//!
//! Creation is race-free: every writer uses the same `ClientRequestToken`, so of two cold starts
//! filling an empty secret at once only the first value becomes a version and both read it back.
//! Migration: a key left in the state table (`dlp/fingerprint-key`) by an earlier version becomes
//! the secret's value (fingerprints stay comparable) and the table item is deleted.

use crate::aws::dynamodb::DynamoStateStore;
use crate::aws::error::AwsError;
use crate::dlp::FingerprintKey;
use crate::store::{StateStore, StoreError};

/// Where earlier versions kept the key (a state document `{"hex": …}`).
pub const LEGACY_STATE_KEY: &str = "dlp/fingerprint-key";
/// Idempotency token of the secret's first version (32–64 characters).
const FIRST_VERSION_TOKEN: &str = "compliance-lake-dlp-fingerprint-key-v1";

async fn read(client: &aws_sdk_secretsmanager::Client, id: &str) -> Result<Option<FingerprintKey>, AwsError> {
    match client.get_secret_value().secret_id(id).send().await {
        Ok(out) => match out.secret_string().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => FingerprintKey::from_hex(s)
                .map(Some)
                .map_err(|_| AwsError::Invalid(format!("secret {id:?} does not hold a hex DLP fingerprint key"))),
        },
        // missing secret, or a secret with no value yet (the template creates it empty)
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
        Err(e) => Err(AwsError::backend("GetSecretValue", format!("secret {id:?}"), &e)),
    }
}

/// Stores `hex` as the first value: PutSecretValue on an existing empty secret, else CreateSecret.
/// Losing a race is not an error (the caller reads back whatever won).
async fn fill(client: &aws_sdk_secretsmanager::Client, id: &str, hex: &str) -> Result<(), AwsError> {
    let put = client
        .put_secret_value()
        .secret_id(id)
        .client_request_token(FIRST_VERSION_TOKEN)
        .secret_string(hex)
        .send()
        .await;
    match put {
        Ok(_) => return Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => return Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => return Err(AwsError::backend("PutSecretValue", format!("secret {id:?}"), &e)),
    }
    match client
        .create_secret()
        .name(id)
        .description("compliance-lake: DLP fingerprint key (HMAC key of finding fingerprints)")
        .client_request_token(FIRST_VERSION_TOKEN)
        .secret_string(hex)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => Ok(()),
        Err(e) => Err(AwsError::backend("CreateSecret", format!("secret {id:?}"), &e)),
    }
}

/// The deployment's fingerprint key, from the secret `secret_id`; see the module doc.
pub async fn load_or_create(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    state: &DynamoStateStore,
) -> Result<FingerprintKey, StoreError> {
    let legacy = state.load(LEGACY_STATE_KEY).await?;
    let legacy_hex = legacy.as_ref().and_then(|v| v.value.get("hex")).and_then(|h| h.as_str()).map(str::to_string);
    let key = match read(client, secret_id).await? {
        Some(k) => k,
        None => {
            let hex = match &legacy_hex {
                Some(h) if FingerprintKey::from_hex(h).is_ok() => h.clone(),
                _ => hex::encode(rand::random::<[u8; 32]>()),
            };
            fill(client, secret_id, &hex).await?;
            read(client, secret_id).await?.ok_or_else(|| {
                AwsError::Invalid(format!("secret {secret_id:?} is still empty after storing the DLP key"))
            })?
        }
    };
    if legacy.is_some() {
        if legacy_hex.as_deref().and_then(|h| FingerprintKey::from_hex(h).ok()).map(|k| k.same_as(&key)) != Some(true) {
            tracing::warn!(
                secret_id,
                "the DLP key left in the state table differs from the secret's; the secret's is used (older fingerprints will not correlate with new ones)"
            );
        }
        // Best effort: a role without DeleteItem (the scheduler's) leaves it for the worker.
        match state.delete(LEGACY_STATE_KEY).await {
            Ok(()) => tracing::info!(secret_id, "moved the DLP fingerprint key out of the state table"),
            Err(e) => {
                tracing::warn!(error = %e, "could not delete the DLP key left in the state table; will retry at the next start")
            }
        }
    }
    Ok(key)
}
