//! The serverless path's handlers, free of Lambda types so they run the same in a Lambda, in the
//! CLI's `--backend aws` driver and in tests: [`scheduler::schedule`] (EventBridge → fan-out on the
//! queue) and [`worker::work`] (queue batch → jobs, per-message outcomes). The function crates only
//! translate events and build a [`Runtime`] once per cold start.

pub mod driver;
pub mod scheduler;
pub mod settings;
pub mod worker;

use crate::api::{ApiClient, ApiError, ApiKey, ClientConfig};
use crate::budget::RequestBudget;
use crate::keys::KeySource;
use crate::store::{Leases, ObjectSink, StateStore, WorkQueue};
use crate::streams::dlp::DlpContext;
use crate::streams::{FailPoints, Job, JobContext, SyncConfig};
use crate::sync::StreamSelection;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// One queue message: a job of one scheduled run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job: Job,
    pub run_id: String,
    pub schedule_time: Timestamp,
    /// How many times this job was continued after a deadline.
    #[serde(default)]
    pub continuation: u32,
    /// How many times this delivery was put back because another worker held the job's lease.
    #[serde(default)]
    pub deferrals: u32,
}

/// Spawns jobs of one run onto the queue.
pub struct QueueSpawner {
    pub queue: Arc<dyn WorkQueue>,
    pub run_id: String,
    pub schedule_time: Timestamp,
}

#[async_trait::async_trait]
impl crate::streams::Spawner for QueueSpawner {
    async fn spawn(&self, jobs: Vec<Job>) -> Result<(), crate::store::StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let bodies = jobs
            .into_iter()
            .map(|job| {
                serde_json::to_string(&JobMessage {
                    job,
                    run_id: self.run_id.clone(),
                    schedule_time: self.schedule_time,
                    continuation: 0,
                    deferrals: 0,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| crate::store::StoreError::Backend(e.to_string()))?;
        self.queue.send(bodies).await
    }
}

/// HTTP settings of the API client (the key comes from the [`KeySource`] on each use).
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub base_url: String,
    pub anthropic_version: Option<String>,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_response_bytes: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            base_url: crate::api::DEFAULT_BASE_URL.into(),
            anthropic_version: Some(crate::api::client::ANTHROPIC_VERSION.into()),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Everything a handler needs, built once per cold start.
#[derive(Clone)]
pub struct Runtime {
    pub sink: Arc<dyn ObjectSink>,
    pub state: Arc<dyn StateStore>,
    pub queue: Arc<dyn WorkQueue>,
    pub leases: Arc<dyn Leases>,
    pub budget: Arc<dyn RequestBudget>,
    pub keys: Arc<dyn KeySource>,
    pub api: ApiSettings,
    pub cfg: Arc<SyncConfig>,
    pub streams: StreamSelection,
    pub dlp: Option<Arc<DlpContext>>,
    /// DLP alerts for committed findings (EventBridge in AWS); `None` = off.
    pub alerts: Option<Arc<crate::alerts::Alerts>>,
    pub failpoints: FailPoints,
    /// Stop starting new segments this long before the invocation deadline.
    pub deadline_margin: Duration,
    pub retry_base: Duration,
    /// Hears every job start and end: progress bars and the summary (CLI), EMF metrics (Lambda).
    pub observer: Arc<dyn crate::sync::Observer>,
    /// A job's lease lasts this long and is renewed every third of it while the job runs; a killed
    /// worker's (or a SIGKILLed CLI's) job is free again within it.
    pub lease_ttl: Duration,
    /// Use this client for every job instead of building one from [`Runtime::keys`] (the CLI and
    /// tests, which hold one client with one budget).
    pub fixed_client: Option<ApiClient>,
    /// Real API or the built-in synthetic tenant: part of the source the state is bound to.
    pub source_mode: crate::binding::Mode,
    /// Archive the state's checkpoints and rebind it to this source before scheduling
    /// (`sync --reset-state`; never set in a Lambda).
    pub reset_state: bool,
}

/// The Lambda context's deadline (ms since the epoch) as a monotonic instant.
pub fn deadline_from_epoch_ms(ms: u64) -> tokio::time::Instant {
    let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    tokio::time::Instant::now() + Duration::from_millis(ms.saturating_sub(now_ms))
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Sync(#[from] crate::streams::SyncError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Binding(#[from] crate::binding::BindingError),
}

impl Runtime {
    /// A client for the current key, or `None` when the key is revoked or missing.
    pub async fn client(&self) -> Result<Option<ApiClient>, HandlerError> {
        if let Some(c) = &self.fixed_client {
            return Ok(Some(c.clone()));
        }
        let Some(key): Option<ApiKey> = self.keys.current().await? else { return Ok(None) };
        let mut cfg = ClientConfig::new(self.api.base_url.clone(), key);
        cfg.anthropic_version = self.api.anthropic_version.clone();
        cfg.request_timeout = self.api.request_timeout;
        cfg.connect_timeout = self.api.connect_timeout;
        cfg.max_response_bytes = self.api.max_response_bytes;
        cfg.retry.base = self.retry_base;
        Ok(Some(ApiClient::new(cfg, self.budget.clone())?))
    }

    /// The same runtime with the API client built from an explicit client (CLI: one client, one budget).
    pub fn context(&self, client: ApiClient, run_id: &str, deadline: Option<tokio::time::Instant>) -> JobContext {
        JobContext {
            client,
            sink: self.sink.clone(),
            state: self.state.clone(),
            cfg: self.cfg.clone(),
            run_id: run_id.to_string(),
            failpoints: self.failpoints.clone(),
            now: Timestamp::now(),
            deadline: deadline.map(|d| d.checked_sub(self.deadline_margin).unwrap_or(d)),
            dlp: self.dlp.clone(),
            alerts: self.alerts.clone(),
            spawner: None,
        }
    }
}

impl Runtime {
    /// The serverless handlers over local adapters (store directory, in-process queue and leases):
    /// the same code paths as the Lambdas, for tests and for trying the distributed path offline.
    pub fn local(
        store: &std::path::Path,
        key: ApiKey,
        api: ApiSettings,
        cfg: SyncConfig,
        budget: Arc<dyn RequestBudget>,
        max_receives: u32,
    ) -> Result<Self, crate::store::StoreError> {
        Ok(Runtime {
            sink: Arc::new(crate::store::LocalObjectSink::new(store)?),
            state: Arc::new(crate::store::LocalStateStore::new(store)?),
            queue: Arc::new(crate::store::LocalQueue::new(max_receives)),
            leases: Arc::new(crate::store::FileLeases::new(store)?),
            budget,
            keys: Arc::new(crate::keys::StaticKey(key)),
            api,
            cfg: Arc::new(cfg),
            streams: StreamSelection::default(),
            dlp: Some(Arc::new(DlpContext::new(DlpContext::key_for_store(store)?))),
            alerts: None,
            failpoints: FailPoints::none(),
            deadline_margin: Duration::from_secs(0),
            retry_base: Duration::from_secs(1),
            observer: Arc::new(crate::sync::NoObserver),
            lease_ttl: Duration::from_secs(60),
            fixed_client: None,
            source_mode: crate::binding::Mode::Real,
            reset_state: false,
        })
    }

    /// [`Runtime::local`] around a client the caller built (its key, budget and retry policy).
    pub fn local_with_client(
        store: &std::path::Path,
        client: ApiClient,
        cfg: SyncConfig,
        max_receives: u32,
    ) -> Result<Self, crate::store::StoreError> {
        let api = ApiSettings { base_url: client.config().base_url.clone(), ..ApiSettings::default() };
        let key = client.config().api_key.clone();
        let budget = client.budget().clone();
        let mut rt = Self::local(store, key, api, cfg, budget, max_receives)?;
        rt.fixed_client = Some(client);
        Ok(rt)
    }
}
