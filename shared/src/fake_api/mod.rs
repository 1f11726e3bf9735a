//! Fake Anthropic Compliance API served over real HTTP on loopback.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use shared::fake_api::{serve, FakeApiConfig};
//! use shared::synthetic::{Tenant, TenantConfig};
//! let api = serve("127.0.0.1:0".parse().unwrap(), Tenant::generate(TenantConfig::small()),
//!                 FakeApiConfig::default()).await?;
//! println!("{}", api.base_url()); // key: shared::fake_api::synthetic_key()
//! api.shutdown().await;
//! # Ok(()) }
//! ```

pub mod activity_types;
pub mod artifacts;
pub mod cursor;
pub mod directory;
pub mod errors;
pub mod faults;
pub mod query;
pub mod ratelimit;
pub mod routes;
pub mod scale_routes;
mod server;
pub mod sessions;
pub mod tlog;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::synthetic::{Expected, Tenant};

pub use errors::ApiError;
pub use faults::{Faults, OversizedBody, ScriptedFault};
pub use ratelimit::RateLimit;
pub use routes::{SCOPE_ACTIVITIES, SCOPE_AUDIT, SCOPE_DELETE, SCOPE_ORG_DATA, SCOPE_USER_DATA};

/// Prefix of Compliance Access Keys.
pub const COMPLIANCE_KEY_PREFIX: &str = "sk-ant-api01-";
/// Prefix of Admin API keys (Activity Feed only).
pub const ADMIN_KEY_PREFIX: &str = "sk-ant-admin01-";

/// The demo key accepted by a default-configured fake (full access). Not a secret.
pub fn synthetic_key() -> String {
    format!("{COMPLIANCE_KEY_PREFIX}synthetic-demo-key-0000000000000000000000000000")
}

/// A demo Admin API key (reaches only `/activities`). Not a secret.
pub fn synthetic_admin_key() -> String {
    format!("{ADMIN_KEY_PREFIX}synthetic-demo-admin-key-00000000000000000000000")
}

/// A key the fake accepts, with its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeKey {
    pub key: String,
    pub scopes: Vec<String>,
}

impl FakeKey {
    pub fn new(key: impl Into<String>, scopes: &[&str]) -> Self {
        FakeKey { key: key.into(), scopes: scopes.iter().map(|s| s.to_string()).collect() }
    }

    /// All read scopes plus delete.
    pub fn full_access(key: impl Into<String>) -> Self {
        FakeKey::new(key, &[SCOPE_ACTIVITIES, SCOPE_USER_DATA, SCOPE_ORG_DATA, SCOPE_DELETE])
    }

    /// An Admin API key carrying `read:compliance_activities`.
    pub fn admin(key: impl Into<String>) -> Self {
        FakeKey::new(key, &[SCOPE_ACTIVITIES])
    }

    pub fn is_admin(&self) -> bool {
        self.key.starts_with(ADMIN_KEY_PREFIX)
    }
}

/// Server configuration.
#[derive(Debug, Clone)]
pub struct FakeApiConfig {
    pub keys: Vec<FakeKey>,
    /// `None` disables limiting (headers are still sent against the default budget).
    pub rate_limit: Option<RateLimit>,
    pub faults: Faults,
    /// Append a visible `compliance_api_accessed` activity for every authenticated request.
    pub emit_access_activities: bool,
}

impl Default for FakeApiConfig {
    /// The synthetic full-access key and the synthetic admin key, 600 requests / 60 s, no faults.
    fn default() -> Self {
        FakeApiConfig {
            keys: vec![FakeKey::full_access(synthetic_key()), FakeKey::admin(synthetic_admin_key())],
            rate_limit: Some(RateLimit::default()),
            faults: Faults::default(),
            emit_access_activities: false,
        }
    }
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// Milliseconds since the server started.
    pub at_ms: u64,
    pub method: String,
    pub path_and_query: String,
    pub status: u16,
}

/// Maximum number of entries kept in [`FakeStats::request_log`] (oldest dropped first).
pub const REQUEST_LOG_CAP: usize = 10_000;

/// Counters since start (or the last [`FakeApiHandle::reset_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeStats {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    /// 429s produced by the sliding-window limiter.
    pub rate_limited: u64,
    /// 429s injected by `Faults::rate_limit_every_nth` or scripted faults.
    pub injected_429: u64,
    /// 5xx injected by `Faults` or scripted faults.
    pub injected_5xx: u64,
    /// Scripted one-shot faults consumed.
    pub injected_scripted: u64,
    /// Responses deliberately corrupted (malformed JSON).
    pub injected_malformed: u64,
    /// Responses deliberately padded (oversized body).
    pub injected_oversized: u64,
    pub request_log: Vec<LoggedRequest>,
    /// Requests per endpoint, ids replaced by `{}` (`/v1/compliance/apps/chats/{}/messages`): all of
    /// them, unlike the capped log.
    pub by_endpoint: BTreeMap<String, u64>,
}

/// The endpoint of a request path: literal segments kept, ids (anything with a digit) as `{}`.
pub fn endpoint_of(path_and_query: &str) -> String {
    let path = path_and_query.split('?').next().unwrap_or("");
    path.split('/')
        .map(|seg| if seg.bytes().any(|b| b.is_ascii_digit()) && seg != "v1" { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

impl FakeStats {
    pub fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

/// Running server.
pub struct FakeApiHandle {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

/// Start the fake on `addr` (port 0 picks a free port).
pub async fn serve(addr: SocketAddr, tenant: Tenant, cfg: FakeApiConfig) -> std::io::Result<FakeApiHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let shared = Arc::new(server::Shared::new(tenant, cfg, local));
    let app = server::router(shared.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let join = tokio::spawn(async move {
        let res = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "fake compliance api stopped with error");
        }
    });
    Ok(FakeApiHandle { addr: local, shared, shutdown: Some(tx), join: Some(join) })
}

impl FakeApiHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash; endpoints live under `/v1/compliance`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> FakeStats {
        lock(&self.shared.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = FakeStats::default();
    }

    /// Replace the fault configuration (resets fault counters and the scripted queue).
    pub fn set_faults(&self, f: Faults) {
        *lock(&self.shared.faults) = faults::FaultState::new(f);
    }

    /// Queue one more scripted one-shot fault.
    pub fn push_fault(&self, f: ScriptedFault) {
        lock(&self.shared.faults).scripted.push_back(f);
    }

    /// Turn the `compliance_api_accessed` row per request on or off (as an admin switching
    /// Compliance API access logging would).
    pub fn set_emit_access_activities(&self, on: bool) {
        self.shared.emit_access.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Replace the key list.
    pub fn set_keys(&self, keys: Vec<FakeKey>) {
        *lock(&self.shared.keys) = keys;
    }

    /// Run `f` with exclusive access to the tenant (e.g. `t.mutate(..)` between sync runs).
    pub fn with_tenant<R>(&self, f: impl FnOnce(&mut Tenant) -> R) -> R {
        let mut t = lock(&self.shared.tenant);
        f(&mut t)
    }

    /// Shorthand for `with_tenant(|t| t.expected())`.
    pub fn expected(&self) -> Expected {
        self.with_tenant(|t| t.expected())
    }

    /// Stop accepting requests and wait (≤ 5 s) for in-flight ones.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(join) = self.join.take() {
            let abort = join.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), join).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for FakeApiHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(join) = self.join.take() {
            join.abort();
        }
    }
}

/// Lock ignoring poisoning (a panicking test must not wedge the server).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
