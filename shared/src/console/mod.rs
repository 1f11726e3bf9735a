//! `compliance-lake console`: a local web page over the same data as the CLI — DLP findings, sync
//! health, run manifests and the key record — read from a store directory or an AWS deployment.
//! Invariants: it listens on loopback unless told otherwise; every request carries the random
//! access token printed at start (query once, then an HttpOnly cookie); pages are server-rendered
//! under a strict CSP with no third-party origin; a matched DLP value or the access key never
//! appears in a page, an export or a log (findings only ever hold redacted snippets).

pub mod data;
mod html;
mod pages;
pub mod vault;

pub use vault::{KeyVault, LocalKeyFile, SecretsManagerVault};

use crate::api::{ApiClient, ApiKey, ClientConfig};
use crate::budget::{LocalBudget, RequestBudget};
use crate::store::{ObjectSink, StateStore, StoreError, Table};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use data::Manifest;
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COOKIE: &str = "cl_console";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// How long the lake is cached between page loads (a reload after this re-reads it).
const CACHE_TTL: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the key could not be stored or removed in {target}: {reason}")]
    Vault { target: String, reason: String, retryable: bool },
    #[error("{0}")]
    Config(String),
}

impl ConsoleError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ConsoleError::Store(e) => e.is_retryable(),
            ConsoleError::Vault { retryable, .. } => *retryable,
            ConsoleError::Bind { .. } | ConsoleError::Config(_) => false,
        }
    }
}

/// Where the console reads from and how it reaches the API (for live key validation).
pub struct ConsoleBackend {
    pub sink: Arc<dyn ObjectSink>,
    pub state: Arc<dyn StateStore>,
    /// Where a registered key is kept; `None` = register/revoke are unavailable (said in the page).
    pub vault: Option<Arc<dyn KeyVault>>,
    /// e.g. the store directory or `s3://bucket/prefix + table`.
    pub describe: String,
}

#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    pub bind: IpAddr,
    pub port: u16,
    pub api_base_url: String,
    pub anthropic_version: Option<String>,
    pub request_timeout: Duration,
    /// The freshness alarm threshold: a job whose newest checkpoint is older shows red.
    pub freshness_alarm: Duration,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            api_base_url: crate::api::DEFAULT_BASE_URL.into(),
            anthropic_version: Some(crate::api::client::ANTHROPIC_VERSION.into()),
            request_timeout: Duration::from_secs(30),
            freshness_alarm: Duration::from_secs(4 * 15 * 60),
        }
    }
}

/// The lake as the pages need it, cached for [`CACHE_TTL`].
#[derive(Default)]
pub(crate) struct Lake {
    pub findings: Vec<Value>,
    /// chat id → (name, claude.ai link) of its newest version.
    pub chats: HashMap<String, (String, Option<String>)>,
    pub projects: HashMap<String, String>,
    pub orgs: HashMap<String, String>,
    pub manifests: Vec<Manifest>,
    /// Quarantined items per job key (or stream) from `_quarantine/<stream>/<job…>/…`.
    pub quarantine: HashMap<String, usize>,
}

pub(crate) struct AppState {
    pub backend: ConsoleBackend,
    pub cfg: ConsoleConfig,
    token: String,
    pub csrf: String,
    cache: Mutex<Option<(Instant, Arc<Lake>)>>,
    /// Serialises register/revoke.
    pub key_ops: tokio::sync::Mutex<()>,
}

impl AppState {
    pub async fn lake(&self) -> Result<Arc<Lake>, StoreError> {
        if let Some((at, l)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if at.elapsed() < CACHE_TTL {
                return Ok(l.clone());
            }
        }
        let lake = Arc::new(load_lake(self.backend.sink.as_ref()).await?);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), lake.clone()));
        Ok(lake)
    }

    pub fn client(&self, key: ApiKey) -> Result<ApiClient, crate::api::ApiError> {
        let mut c = ClientConfig::new(self.cfg.api_base_url.clone(), key);
        c.anthropic_version = self.cfg.anthropic_version.clone();
        c.request_timeout = self.cfg.request_timeout;
        c.retry.max_attempts = 2;
        let budget: Arc<dyn RequestBudget> = Arc::new(LocalBudget::new(60));
        ApiClient::new(c, budget)
    }
}

async fn load_lake(sink: &dyn ObjectSink) -> Result<Lake, StoreError> {
    use crate::verify::read_table;
    let mut lake = Lake { findings: read_table(sink, Table::DlpFindings).await?, ..Lake::default() };
    let mut chat_version: HashMap<String, String> = HashMap::new();
    for c in read_table(sink, Table::Chats).await? {
        let (Some(id), upd) = (c.get("id").and_then(Value::as_str), data::s(&c, "updated_at")) else { continue };
        if chat_version.get(id).is_some_and(|v| v.as_str() > upd) {
            continue;
        }
        chat_version.insert(id.to_string(), upd.to_string());
        let href = c.get("href").and_then(Value::as_str).filter(|h| h.starts_with("https://")).map(str::to_string);
        lake.chats.insert(id.to_string(), (data::s(&c, "name").to_string(), href));
    }
    for p in read_table(sink, Table::Projects).await? {
        if let Some(id) = p.get("id").and_then(Value::as_str) {
            lake.projects.insert(id.to_string(), data::s(&p, "name").to_string());
        }
    }
    for o in read_table(sink, Table::Organizations).await? {
        if let Some(id) = o.get("uuid").and_then(Value::as_str) {
            lake.orgs.insert(id.to_string(), data::s(&o, "name").to_string());
        }
    }
    for key in sink.list("_manifests/").await? {
        if !key.ends_with(".json") {
            continue;
        }
        let Some(bytes) = sink.get(&key).await? else { continue };
        use sha2::{Digest, Sha256};
        match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(mut m) => {
                m.sha256 = hex::encode(Sha256::digest(&bytes));
                m.key = key;
                lake.manifests.push(m);
            }
            Err(e) => tracing::warn!(key, error = %e, "unreadable run manifest skipped"),
        }
    }
    for key in sink.list("_quarantine/").await? {
        let mut parts = key.trim_start_matches("_quarantine/").split('/');
        if let Some(stream) = parts.next() {
            *lake.quarantine.entry(stream.to_string()).or_default() += 1;
        }
    }
    Ok(lake)
}

/// A running console.
pub struct ConsoleHandle {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT/?token=…` — what the operator opens.
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl ConsoleHandle {
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
    /// Waits until the server stops (it stops only on error or shutdown).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

fn random_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}

/// Binds and serves; returns as soon as it listens.
pub async fn serve(backend: ConsoleBackend, cfg: ConsoleConfig) -> Result<ConsoleHandle, ConsoleError> {
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ConsoleError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| ConsoleError::Bind { addr, source })?;
    let token = random_hex(24);
    let host = match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    let url = format!("http://{host}:{}/?token={token}", addr.port());
    let st = Arc::new(AppState {
        backend,
        cfg,
        token,
        csrf: random_hex(16),
        cache: Mutex::new(None),
        key_ops: tokio::sync::Mutex::new(()),
    });
    let app = router(st);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let res = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "console server stopped");
        }
    });
    tracing::info!(%addr, "console listening");
    Ok(ConsoleHandle { addr, url, shutdown: Some(tx), task })
}

fn router(st: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/findings") }))
        .route("/findings", get(pages::findings))
        .route("/findings/export.csv", get(pages::export_csv))
        .route("/findings/export.jsonl", get(pages::export_jsonl))
        .route("/findings/{id}", get(pages::finding_detail))
        .route("/api/summary.json", get(pages::summary_json))
        .route("/health", get(pages::health))
        .route("/runs/{run_id}", get(pages::run_detail))
        .route("/keys", get(pages::keys))
        .route("/keys/register", post(pages::key_register))
        .route("/keys/revoke", post(pages::key_revoke))
        .route("/static/app.css", get(|| async { asset("text/css; charset=utf-8", html::CSS) }))
        .route("/static/app.js", get(|| async { asset("text/javascript; charset=utf-8", html::JS) }))
        .fallback(|| async { (StatusCode::NOT_FOUND, pages::plain("404 — no such page")) })
        .layer(middleware::from_fn_with_state(st.clone(), guard))
        .with_state(st)
}

fn asset(ctype: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, ctype), (header::CACHE_CONTROL, "private, max-age=300")], body).into_response()
}

/// Constant-time equality of two tokens.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie_token(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == COOKIE).then(|| v.to_string())
    })
}

/// Host must name the address we listen on (defeats DNS rebinding onto the loopback port).
fn host_ok(h: &HeaderMap, bind: IpAddr) -> bool {
    let Some(host) = h.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
    let name = host.rsplit_once(':').map(|(n, _)| n).unwrap_or(host);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name.parse::<IpAddr>().is_ok_and(|ip| ip == bind || bind.is_unspecified() || ip.is_loopback())
}

/// Token check on every request, security headers on every response.
async fn guard(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let mut resp = guarded(&st, req, next).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on our own forms
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

async fn guarded(st: &AppState, req: Request, next: Next) -> Response {
    if !host_ok(req.headers(), st.cfg.bind) {
        return (StatusCode::BAD_REQUEST, pages::plain("400 — unexpected Host header")).into_response();
    }
    let query = req.uri().query().unwrap_or("");
    let from_query =
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned());
    if let Some(t) = from_query {
        if !same(&t, &st.token) {
            return unauthorized();
        }
        // Swap the token in the URL for a cookie, so it leaves the address bar and the history.
        let rest: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(url::form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "token"))
            .finish();
        let path = req.uri().path();
        let loc = if rest.is_empty() { path.to_string() } else { format!("{path}?{rest}") };
        let cookie = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", st.token);
        let mut r = Redirect::to(&loc).into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        return r;
    }
    if !cookie_token(req.headers()).is_some_and(|t| same(&t, &st.token)) {
        return unauthorized();
    }
    if req.method() == Method::POST {
        // Same-origin forms only (the cookie is SameSite=Strict too).
        let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        if origin.is_some_and(|o| o != format!("http://{host}")) {
            return (StatusCode::FORBIDDEN, pages::plain("403 — cross-origin form refused")).into_response();
        }
    }
    next.run(req).await
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        pages::plain("401 — open the console with the URL (and its token) that `compliance-lake console` printed"),
    )
        .into_response()
}

pub(crate) fn form_fields(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

pub(crate) type Query = RawQuery;
pub(crate) type IdPath = Path<String>;
