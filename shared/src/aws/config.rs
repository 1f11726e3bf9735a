//! Client construction and adapter settings.
//!
//! Every client is built once from one [`aws_config::SdkConfig`] loaded with
//! `aws_config::load_defaults(BehaviorVersion::latest())`, so the standard environment applies:
//! region, credentials, and `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` (which is how the
//! tests and local runs point everything at an emulator). The S3 client uses path-style addressing
//! whenever an endpoint override is present (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, or an
//! endpoint set on the config): emulators on `localhost` have no `bucket.localhost` DNS names.
//!
//! [`AwsSettings`] reads the adapters' own settings (bucket, table, queue, secret, budget) from
//! `COMPLIANCE_LAKE_*` variables; see [`AwsSettings::from_lookup`] for the names.

use crate::aws::budget::{DynamoBudget, DynamoBudgetConfig};
use crate::aws::dynamodb::DynamoStateStore;
use crate::aws::error::AwsError;
use crate::aws::lease::LeaseManager;
use crate::aws::s3::{Encryption, S3ObjectSink};
use crate::aws::secrets::SecretKeySource;
use crate::aws::sqs::SqsWorkQueue;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// The service clients, cheap to clone (each is an `Arc` inside).
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// DLP alerts (`shared::alerts`).
    pub eventbridge: aws_sdk_eventbridge::Client,
}

impl AwsClients {
    /// Loads the default chain (environment, profile, container/instance role) once.
    pub async fn from_env() -> Self {
        let conf = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Self::from_sdk_config(&conf)
    }

    /// Builds every client from one loaded config (tests pass one with an explicit endpoint).
    pub fn from_sdk_config(conf: &SdkConfig) -> Self {
        let path_style = conf.endpoint_url().is_some() || endpoint_override_in_env();
        let s3_conf = aws_sdk_s3::config::Builder::from(conf).force_path_style(path_style).build();
        AwsClients {
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            dynamodb: aws_sdk_dynamodb::Client::new(conf),
            sqs: aws_sdk_sqs::Client::new(conf),
            secrets: aws_sdk_secretsmanager::Client::new(conf),
            eventbridge: aws_sdk_eventbridge::Client::new(conf),
        }
    }
}

/// True when `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3` is set to something non-empty.
pub fn endpoint_override_in_env() -> bool {
    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
        .iter()
        .any(|k| std::env::var(k).map(|v| !v.trim().is_empty()).unwrap_or(false))
}

/// Settings of the adapters (not of the SDK). Built by the Lambda functions and the CLI.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    pub bucket: String,
    /// Key prefix inside the bucket (no leading/trailing `/`; may be empty).
    pub prefix: String,
    pub table: String,
    pub queue_url: Option<String>,
    pub secret_id: Option<String>,
    /// Secrets Manager secret of the DLP fingerprint key; `None` = [`AwsSettings::dlp_key_secret`]'s default name.
    pub dlp_key_secret_id: Option<String>,
    pub encryption: Encryption,
    /// Tenant id used in the shared budget's item keys (e.g. the parent organization id).
    pub tenant: String,
    /// Requests per minute this deployment may spend (the tenant's 600/min is shared with other tools).
    pub budget_per_minute: u32,
    pub budget_sub_window: Duration,
    pub key_cache_ttl: Duration,
}

pub const DEFAULT_BUDGET_PER_MINUTE: u32 = 600;

impl AwsSettings {
    /// Reads the process environment. See [`AwsSettings::from_lookup`].
    pub fn from_env() -> Result<Self, AwsError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Variables (all `COMPLIANCE_LAKE_`-prefixed):
    /// `BUCKET` (required), `PREFIX` (default empty), `TABLE` (required), `QUEUE_URL`, `SECRET_ID`,
    /// `DLP_KEY_SECRET_ID` (default `compliance-lake/<table>/dlp-fingerprint-key`),
    /// `SSE` (`AES256` default, or `aws:kms`), `KMS_KEY_ID` (with `aws:kms`; empty = the AWS-managed
    /// key), `TENANT` (default `default`), `BUDGET_PER_MINUTE` (default 600),
    /// `BUDGET_SUB_WINDOW_MS` (default 1000), `KEY_CACHE_SECONDS` (default 300).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, AwsError> {
        let var = |name: &str| {
            get(&format!("COMPLIANCE_LAKE_{name}")).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
        };
        let required =
            |name: &str| var(name).ok_or_else(|| AwsError::Invalid(format!("COMPLIANCE_LAKE_{name} must be set")));
        let number = |name: &str, default: u64| -> Result<u64, AwsError> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().map_err(|_| {
                    AwsError::Invalid(format!("COMPLIANCE_LAKE_{name} must be a whole number, got {v:?}"))
                }),
            }
        };
        let encryption = match var("SSE").as_deref() {
            None | Some("AES256") => Encryption::Aes256,
            Some("aws:kms") => Encryption::Kms { key_id: var("KMS_KEY_ID") },
            Some(other) => {
                return Err(AwsError::Invalid(format!("COMPLIANCE_LAKE_SSE must be AES256 or aws:kms, got {other:?}")))
            }
        };
        let per_minute = number("BUDGET_PER_MINUTE", DEFAULT_BUDGET_PER_MINUTE as u64)?;
        Ok(AwsSettings {
            bucket: required("BUCKET")?,
            prefix: var("PREFIX").unwrap_or_default().trim_matches('/').to_string(),
            table: required("TABLE")?,
            queue_url: var("QUEUE_URL"),
            secret_id: var("SECRET_ID"),
            dlp_key_secret_id: var("DLP_KEY_SECRET_ID"),
            encryption,
            tenant: var("TENANT").unwrap_or_else(|| "default".into()),
            budget_per_minute: u32::try_from(per_minute)
                .map_err(|_| AwsError::Invalid("COMPLIANCE_LAKE_BUDGET_PER_MINUTE is too large".into()))?,
            budget_sub_window: Duration::from_millis(number("BUDGET_SUB_WINDOW_MS", 1000)?.max(100)),
            key_cache_ttl: Duration::from_secs(number("KEY_CACHE_SECONDS", 300)?),
        })
    }
}

/// The adapters, built from the settings and the clients.
impl AwsSettings {
    pub fn object_sink(&self, c: &AwsClients) -> S3ObjectSink {
        S3ObjectSink::new(c.s3.clone(), &self.bucket, &self.prefix).with_encryption(self.encryption.clone())
    }

    pub fn state_store(&self, c: &AwsClients) -> DynamoStateStore {
        DynamoStateStore::new(c.dynamodb.clone(), &self.table)
    }

    pub fn leases(&self, c: &AwsClients) -> LeaseManager {
        LeaseManager::new(c.dynamodb.clone(), &self.table)
    }

    pub fn budget(&self, c: &AwsClients) -> DynamoBudget {
        DynamoBudget::new(
            c.dynamodb.clone(),
            &self.table,
            DynamoBudgetConfig::new(&self.tenant, self.budget_per_minute).with_sub_window(self.budget_sub_window),
        )
    }

    /// `None` when `COMPLIANCE_LAKE_QUEUE_URL` is not set.
    pub fn work_queue(&self, c: &AwsClients) -> Option<SqsWorkQueue> {
        self.queue_url.as_ref().map(|url| SqsWorkQueue::new(c.sqs.clone(), url))
    }

    /// The secret holding the DLP fingerprint key (the template's, or one named after the table).
    pub fn dlp_key_secret(&self) -> String {
        self.dlp_key_secret_id.clone().unwrap_or_else(|| format!("compliance-lake/{}/dlp-fingerprint-key", self.table))
    }

    /// `None` when `COMPLIANCE_LAKE_SECRET_ID` is not set.
    pub fn key_source(&self, c: &AwsClients) -> Option<SecretKeySource> {
        self.secret_id.as_ref().map(|id| SecretKeySource::new(c.secrets.clone(), id).with_ttl(self.key_cache_ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn settings_from_lookup() {
        let env: HashMap<&str, &str> = [
            ("COMPLIANCE_LAKE_BUCKET", "lake-bucket"),
            ("COMPLIANCE_LAKE_PREFIX", "/raw/"),
            ("COMPLIANCE_LAKE_TABLE", "cl-state"),
            ("COMPLIANCE_LAKE_SSE", "aws:kms"),
            ("COMPLIANCE_LAKE_KMS_KEY_ID", "alias/lake"),
            ("COMPLIANCE_LAKE_BUDGET_PER_MINUTE", "300"),
        ]
        .into_iter()
        .collect();
        let s = AwsSettings::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(s.prefix, "raw");
        assert_eq!(s.encryption, Encryption::Kms { key_id: Some("alias/lake".into()) });
        assert_eq!(s.budget_per_minute, 300);
        assert_eq!(s.budget_sub_window, Duration::from_secs(1));
        assert_eq!(s.key_cache_ttl, Duration::from_secs(300));
        assert!(AwsSettings::from_lookup(|_| None).is_err());
        let bad = AwsSettings::from_lookup(|k| match k {
            "COMPLIANCE_LAKE_BUCKET" | "COMPLIANCE_LAKE_TABLE" => Some("x".into()),
            "COMPLIANCE_LAKE_SSE" => Some("none".into()),
            _ => None,
        });
        assert!(bad.is_err());
    }
}
