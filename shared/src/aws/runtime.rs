//! Builds the serverless [`Runtime`] on AWS: S3 lake, DynamoDB state/leases/budget, SQS queue,
//! Secrets Manager key — every client built once per cold start from the standard AWS config chain
//! (so `AWS_ENDPOINT_URL` points them at an emulator).

use super::{AwsClients, AwsError, AwsSettings, Lease, LeaseManager, SecretKeySource};
use crate::api::ApiKey;
use crate::fake_api::FakeApiHandle;
use crate::keys::{KeyError, KeySource, StaticKey};
use crate::serverless::settings::Settings;
use crate::serverless::Runtime;
use crate::store::{Leases, StateStore, StoreError};
use crate::streams::dlp::DlpContext;
use crate::streams::FailPoints;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A built runtime plus what must live as long as it (the in-process synthetic API, if any).
pub struct AwsRuntime {
    pub runtime: Runtime,
    pub clients: AwsClients,
    pub aws: AwsSettings,
    pub synthetic: Option<FakeApiHandle>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] crate::serverless::settings::ConfigError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("configuration: {0}")]
    Missing(String),
    #[error("synthetic API: {0}")]
    Synthetic(String),
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertError),
}

/// Leases on DynamoDB behind the engine's [`Leases`] trait (remembers the fence of what it holds).
pub struct DynamoLeases {
    mgr: LeaseManager,
    held: Mutex<HashMap<(String, String), Lease>>,
}

impl DynamoLeases {
    pub fn new(mgr: LeaseManager) -> Self {
        DynamoLeases { mgr, held: Mutex::new(HashMap::new()) }
    }
}

#[async_trait]
impl Leases for DynamoLeases {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        match self.mgr.acquire(key, owner, ttl).await? {
            Some(lease) => {
                self.held.lock().unwrap_or_else(|p| p.into_inner()).insert((key.to_string(), owner.to_string()), lease);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let lease = self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(&(key.to_string(), owner.to_string()));
        if let Some(l) = lease {
            self.mgr.release(&l).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl KeySource for SecretKeySource {
    async fn current(&self) -> Result<Option<ApiKey>, KeyError> {
        match self.get().await {
            Ok(k) => Ok(Some(k)),
            Err(AwsError::NotFound { .. }) => Ok(None),
            Err(e) => Err(KeyError::Unavailable {
                source_name: "Secrets Manager".into(),
                retryable: e.is_retryable(),
                reason: e.to_string(),
            }),
        }
    }
    fn describe(&self) -> String {
        "the Secrets Manager secret".into()
    }
}

/// Everything from the environment (what the Lambda functions do at cold start).
pub async fn from_env() -> Result<AwsRuntime, BuildError> {
    let settings = Settings::from_env()?;
    let aws = AwsSettings::from_env()?;
    let clients = AwsClients::from_env().await;
    build(clients, aws, settings, None).await
}

/// Builds the runtime. `key_override` replaces the Secrets Manager key (CLI: env var or file).
pub async fn build(
    clients: AwsClients,
    aws: AwsSettings,
    settings: Settings,
    key_override: Option<ApiKey>,
) -> Result<AwsRuntime, BuildError> {
    let queue = aws
        .work_queue(&clients)
        .ok_or_else(|| BuildError::Missing("COMPLIANCE_LAKE_QUEUE_URL (the work queue) is required".into()))?;
    let dynamo_state = aws.state_store(&clients);
    let dlp_key = super::dlp_key::load_or_create(&clients.secrets, &aws.dlp_key_secret(), &dynamo_state).await?;
    let state: Arc<dyn StateStore> = Arc::new(dynamo_state);
    let mut api = settings.api.clone();
    let mut synthetic = None;
    let keys: Arc<dyn KeySource> = if let Some(seed) = settings.synthetic_seed {
        let tenant = crate::synthetic::Tenant::generate(crate::synthetic::TenantConfig { seed, ..Default::default() });
        let handle =
            crate::fake_api::serve(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), tenant, Default::default())
                .await
                .map_err(|e| BuildError::Synthetic(e.to_string()))?;
        api.base_url = handle.base_url();
        synthetic = Some(handle);
        Arc::new(StaticKey(ApiKey::new(crate::fake_api::synthetic_key())))
    } else if let Some(k) = key_override {
        Arc::new(StaticKey(k))
    } else {
        Arc::new(aws.key_source(&clients).ok_or_else(|| {
            BuildError::Missing("COMPLIANCE_LAKE_SECRET_ID (the access key secret) is required".into())
        })?)
    };
    let dlp = DlpContext::new(dlp_key);
    // Synthetic mode writes under its own prefix: no synthetic row is ever in the real tables.
    let sink = if settings.synthetic_seed.is_some() {
        let prefix = match aws.prefix.as_str() {
            "" => crate::binding::SYNTHETIC_PREFIX.to_string(),
            p => format!("{p}/{}", crate::binding::SYNTHETIC_PREFIX),
        };
        super::S3ObjectSink::new(clients.s3.clone(), &aws.bucket, &prefix).with_encryption(aws.encryption.clone())
    } else {
        aws.object_sink(&clients)
    };
    let source_mode =
        if settings.synthetic_seed.is_some() { crate::binding::Mode::Synthetic } else { crate::binding::Mode::Real };
    let runtime = Runtime {
        sink: Arc::new(sink),
        state,
        queue: Arc::new(queue),
        leases: Arc::new(DynamoLeases::new(aws.leases(&clients))),
        budget: Arc::new(aws.budget(&clients)),
        keys,
        api,
        cfg: Arc::new(settings.cfg),
        streams: settings.streams,
        dlp: Some(Arc::new(dlp)),
        alerts: crate::alerts::Alerts::from_env(Some(&clients)).await?,
        failpoints: FailPoints::from_env().map_err(BuildError::Missing)?,
        deadline_margin: Duration::from_secs(20),
        retry_base: Duration::from_secs(1),
        observer: if std::env::var("AWS_LAMBDA_FUNCTION_NAME").is_ok() {
            std::sync::Arc::new(crate::sync::EmfObserver)
        } else {
            std::sync::Arc::new(crate::sync::NoObserver)
        },
        lease_ttl: std::time::Duration::from_secs(
            std::env::var("COMPLIANCE_LAKE_LEASE_TTL_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60).max(1),
        ),
        fixed_client: None,
        source_mode,
        reset_state: false,
    };
    Ok(AwsRuntime { runtime, clients, aws, synthetic })
}
