//! The HTTP client: one place that sends requests, paces them through the budget, retries per the
//! policy, caps response sizes and turns failures into [`ApiError`]s. Nothing above it sleeps,
//! retries or looks at status codes.

use super::error::{ApiError, RetryDecision};
use super::key::ApiKey;
use super::retry::{parse_retry_after, Failure, RetryPolicy};
use crate::budget::{RateLimitInfo, RequestBudget};
use crate::time::Timestamp;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub api_key: ApiKey,
    /// Sent as `anthropic-version`; `None` suppresses the header.
    pub anthropic_version: Option<String>,
    pub connect_timeout: Duration,
    /// Whole-request timeout (headers and body).
    pub request_timeout: Duration,
    pub max_response_bytes: usize,
    pub retry: RetryPolicy,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, api_key: ApiKey) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            api_key,
            anthropic_version: Some(ANTHROPIC_VERSION.to_string()),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_response_bytes: 256 * 1024 * 1024,
            retry: RetryPolicy::default(),
        }
    }
}

/// Per-caller counters (one per stream job), summed for the run summary.
#[derive(Debug, Default)]
pub struct CallStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    pub bytes: AtomicU64,
    /// Successful requests since the last [`CallStats::take_log`]: the evidence a manifest keeps.
    pub log: std::sync::Mutex<Vec<RequestRecord>>,
    /// Microseconds spent waiting for budget tokens (the `BudgetWaitMs` metric).
    pub budget_wait_us: AtomicU64,
    /// 429 `transcript_read_server_busy` answers (resent unchanged; not counted as rate limiting).
    pub transcript_busy: AtomicU64,
}

/// One successful request, as a manifest records it (never the key, never a body).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequestRecord {
    pub endpoint: String,
    /// The query string as sent (`a=1&b=2`, URL-encoded).
    pub query: String,
    pub request_id: Option<String>,
    pub at: String,
}

impl CallStats {
    pub fn budget_wait_ms(&self) -> f64 {
        self.budget_wait_us.load(Ordering::Relaxed) as f64 / 1000.0
    }

    pub fn record(&self, endpoint: &str, query: &[(String, String)], request_id: Option<&str>) {
        let r = RequestRecord {
            endpoint: endpoint.to_string(),
            query: url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query.iter()).finish(),
            request_id: request_id.map(str::to_string),
            at: crate::time::Timestamp::now().to_rfc3339(),
        };
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    }

    /// The requests recorded since the last call, oldest first.
    pub fn take_log(&self) -> Vec<RequestRecord> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
            self.rate_limited.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// A decoded JSON response with what we keep for provenance.
#[derive(Debug)]
pub struct JsonResponse {
    pub body: Value,
    pub request_id: Option<String>,
}

/// A downloaded file with the headers that describe it.
#[derive(Debug)]
pub struct BytesResponse {
    pub bytes: bytes::Bytes,
    pub content_type: Option<String>,
    pub content_md5: Option<String>,
    pub content_disposition: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    cfg: Arc<ClientConfig>,
    budget: Arc<dyn RequestBudget>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient").field("base_url", &self.cfg.base_url).finish()
    }
}

enum Body {
    Json(Value, Option<String>),
    Bytes(BytesResponse),
}

impl ApiClient {
    pub fn new(cfg: ClientConfig, budget: Arc<dyn RequestBudget>) -> Result<Self, ApiError> {
        cfg.api_key.check_shape()?;
        check_base_url(&cfg.base_url).map_err(ApiError::Config)?;
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(concat!("compliance-lake/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect: reqwest's default policy strips `Authorization` and `Cookie` on a
            // cross-host hop but not `x-api-key`, so any 3xx could carry the key to another host. A 3xx
            // is an error naming the Location host instead (see `send_raw_once`).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::Config(format!("HTTP client: {e}")))?;
        Ok(ApiClient { http, cfg: Arc::new(cfg), budget })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The key as a header value marked sensitive (kept out of reqwest's and hyper's debug output).
    fn key_header(&self) -> Result<reqwest::header::HeaderValue, ApiError> {
        let mut v = reqwest::header::HeaderValue::from_str(self.cfg.api_key.expose()).map_err(|_| {
            ApiError::WrongKeyType("the key contains characters that cannot be sent in an HTTP header".into())
        })?;
        v.set_sensitive(true);
        Ok(v)
    }

    pub fn budget(&self) -> &Arc<dyn RequestBudget> {
        &self.budget
    }

    /// The same client (connection pool, budget, key) with a whole-request timeout of at least `d`:
    /// very large session transcripts need ≥ 5 minutes per page (spec §7.15).
    pub fn with_min_request_timeout(&self, d: Duration) -> ApiClient {
        let mut cfg = (*self.cfg).clone();
        cfg.request_timeout = cfg.request_timeout.max(d);
        ApiClient { http: self.http.clone(), cfg: Arc::new(cfg), budget: self.budget.clone() }
    }

    /// `path` is relative to the base URL, e.g. `/v1/compliance/activities`.
    pub fn url(&self, path: &str, query: &[(String, String)]) -> Result<url::Url, ApiError> {
        let base = self.cfg.base_url.trim_end_matches('/');
        let mut u = url::Url::parse(&format!("{base}{path}"))
            .map_err(|e| ApiError::Config(format!("bad URL for {path}: {e}")))?;
        if !query.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(u)
    }

    pub async fn get_json(
        &self,
        path: &str,
        query: &[(String, String)],
        stats: &CallStats,
    ) -> Result<JsonResponse, ApiError> {
        match self.execute(path, query, stats, true).await? {
            Body::Json(body, request_id) => {
                stats.record(path, query, request_id.as_deref());
                Ok(JsonResponse { body, request_id })
            }
            Body::Bytes(b) => {
                Err(ApiError::Malformed { path: path.into(), reason: "expected JSON".into(), request_id: b.request_id })
            }
        }
    }

    /// Downloads a file body (files content endpoint), with its describing headers.
    pub async fn get_bytes(&self, path: &str, stats: &CallStats) -> Result<BytesResponse, ApiError> {
        match self.execute(path, &[], stats, false).await? {
            Body::Bytes(b) => {
                stats.record(path, &[], b.request_id.as_deref());
                Ok(b)
            }
            Body::Json(..) => {
                Err(ApiError::Malformed { path: path.into(), reason: "expected bytes".into(), request_id: None })
            }
        }
    }

    /// A non-JSON body fetched with a query string (transparency-log checkpoints, `text/plain`).
    pub async fn get_bytes_with_query(
        &self,
        path: &str,
        query: &[(String, String)],
        stats: &CallStats,
    ) -> Result<BytesResponse, ApiError> {
        match self.execute(path, query, stats, false).await? {
            Body::Bytes(b) => {
                stats.record(path, query, b.request_id.as_deref());
                Ok(b)
            }
            Body::Json(..) => {
                Err(ApiError::Malformed { path: path.into(), reason: "expected bytes".into(), request_id: None })
            }
        }
    }

    /// The retry loop: every attempt takes a budget token; failures go through the policy.
    async fn execute(
        &self,
        path: &str,
        query: &[(String, String)],
        stats: &CallStats,
        json: bool,
    ) -> Result<Body, ApiError> {
        let url = self.url(path, query)?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (resp, request_id) = self.send_raw_once(&url, path, stats, attempt).await?;
            let (failure, err) = match resp {
                Err(fe) => fe,
                Ok(resp) => {
                    let headers = resp.headers().clone();
                    match self.read_capped(resp, path, &request_id).await {
                        Err(e @ ApiError::TooLarge { .. }) => return Err(e),
                        Err(e) => (Failure::Transport, e),
                        Ok(b) => {
                            stats.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                            if !json {
                                let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
                                return Ok(Body::Bytes(BytesResponse {
                                    bytes: b,
                                    content_type: get("content-type"),
                                    content_md5: get("content-md5"),
                                    content_disposition: get("content-disposition"),
                                    request_id,
                                }));
                            }
                            let reason = match serde_json::from_slice::<Value>(&b) {
                                Ok(v) if v.is_object() => return Ok(Body::Json(v, request_id)),
                                Ok(_) => "top-level value is not an object".to_string(),
                                Err(e) => e.to_string(),
                            };
                            (
                                Failure::Malformed,
                                ApiError::Malformed { path: path.into(), reason, request_id: request_id.clone() },
                            )
                        }
                    }
                }
            };
            match self.cfg.retry.decide(failure, attempt, rand::random::<f64>()) {
                RetryDecision::RetryAfter(d) => {
                    stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(path, attempt, wait_ms = d.as_millis() as u64, error = %err, "retrying");
                    tokio::time::sleep(d).await;
                }
                RetryDecision::GiveUp => return Err(finalize(err, attempt)),
            }
        }
    }

    /// One attempt. Outer `Err` = give up now (terminal); inner `Err` = a failure the policy judges.
    #[allow(clippy::type_complexity)]
    async fn send_raw_once(
        &self,
        url: &url::Url,
        path: &str,
        stats: &CallStats,
        attempt: u32,
    ) -> Result<(Result<reqwest::Response, (Failure, ApiError)>, Option<String>), ApiError> {
        let waited = std::time::Instant::now();
        self.budget.acquire().await;
        stats.budget_wait_us.fetch_add(waited.elapsed().as_micros() as u64, Ordering::Relaxed);
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut req =
            self.http.get(url.clone()).header("x-api-key", self.key_header()?).timeout(self.cfg.request_timeout);
        if let Some(v) = &self.cfg.anthropic_version {
            req = req.header("anthropic-version", v);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let reason = describe_reqwest(&e);
                return Ok((
                    Err((Failure::Transport, ApiError::Transport { url: redact_url(url), reason, attempts: attempt })),
                    None,
                ));
            }
        };
        let headers = resp.headers().clone();
        let request_id = headers.get("request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let info = rate_limit_info(&headers);
        let status = resp.status().as_u16();
        // A 429 is judged once its body is read (`transcript_read_server_busy` must not feed the budget).
        if !info.is_empty() && status != 429 {
            self.budget.observe(&info);
        }
        if resp.status().is_success() {
            return Ok((Ok(resp), request_id));
        }
        if resp.status().is_redirection() {
            // Terminal: the base URL is wrong (or something in between redirects); following it would
            // re-send the key to wherever `Location` points.
            let location = headers.get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
            return Err(ApiError::Redirected {
                status,
                path: path.into(),
                location_host: location_host(url, location),
                request_id,
            });
        }
        let retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let should_retry =
            headers.get("x-should-retry").and_then(|v| v.to_str().ok()).map(|v| v.trim().eq_ignore_ascii_case("true"));
        // Error bodies are small; cap them hard so a hostile server cannot make us buffer much.
        let body = read_limited(resp, 64 * 1024).await;
        let (etype, message, body_rid) = parse_error_body(&body);
        let code = error_code(&body);
        let request_id = request_id.or(body_rid);
        // 429 transcript_read_server_busy is not the rate limit (spec §6, §7.15): no shared pause,
        // no pacing from its headers; the same request is resent after `retry-after`.
        if status == 429 && code.as_deref() == Some(TRANSCRIPT_BUSY) {
            stats.transcript_busy.fetch_add(1, Ordering::Relaxed);
            let err = ApiError::TranscriptBusy { attempts: attempt, request_id: request_id.clone() };
            return Ok((Err((Failure::TranscriptBusy { retry_after }, err)), request_id));
        }
        if status == 429 {
            if !info.is_empty() {
                self.budget.observe(&info);
            }
            stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            let pause = retry_after.unwrap_or_else(|| self.cfg.retry.backoff(attempt, 0.0));
            self.budget.rate_limited(pause);
        }
        // Whether it travels in `details.error_code` is not documented: the message is checked too.
        let err = if status == 400
            && (code.as_deref() == Some(TRANSCRIPT_PAGE_TOO_LARGE) || message.contains("Transcript page too large"))
        {
            ApiError::TranscriptPageTooLarge { message, request_id: request_id.clone() }
        } else {
            classify(status, &etype, &message, path, request_id.clone(), attempt, should_retry == Some(false))
        };
        Ok((Err((Failure::Status { status, retry_after, should_retry }, err)), request_id))
    }

    async fn read_capped(
        &self,
        mut resp: reqwest::Response,
        path: &str,
        request_id: &Option<String>,
    ) -> Result<bytes::Bytes, ApiError> {
        let limit = self.cfg.max_response_bytes;
        let too_large = || ApiError::TooLarge { path: path.into(), limit, request_id: request_id.clone() };
        if let Some(len) = resp.content_length() {
            if len as usize > limit {
                return Err(too_large());
            }
        }
        let mut buf = bytes::BytesMut::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if buf.len() + c.len() > limit {
                        return Err(too_large());
                    }
                    buf.extend_from_slice(&c);
                }
                Ok(None) => return Ok(buf.freeze()),
                Err(e) => {
                    return Err(ApiError::Transport {
                        url: path.into(),
                        reason: format!("reading the body: {}", describe_reqwest(&e)),
                        attempts: 1,
                    })
                }
            }
        }
    }
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(c)) = resp.chunk().await {
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&c[..c.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// `error.details.error_code` of the 429 that is not a rate limit.
pub const TRANSCRIPT_BUSY: &str = "transcript_read_server_busy";
/// `error.details.error_code` (or message "Transcript page too large") of the 400 to change a request on.
pub const TRANSCRIPT_PAGE_TOO_LARGE: &str = "transcript_page_read_limit_exceeded";

/// `error.details.error_code` of an error body, if it has one.
pub fn error_code(body: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<Value>(body).ok()?;
    v.pointer("/error/details/error_code").and_then(Value::as_str).map(str::to_string)
}

fn finalize(err: ApiError, attempts: u32) -> ApiError {
    match err {
        ApiError::TranscriptBusy { request_id, .. } => ApiError::TranscriptBusy { attempts, request_id },
        ApiError::Server { status, message, should_retry_false, request_id, .. } => {
            ApiError::Server { status, message, attempts, should_retry_false, request_id }
        }
        ApiError::Transport { url, reason, .. } => ApiError::Transport { url, reason, attempts },
        ApiError::RateLimited { request_id, .. } => ApiError::RateLimited { attempts, request_id },
        e => e,
    }
}

/// Status + error type + message → the operator-facing error.
pub fn classify(
    status: u16,
    etype: &str,
    message: &str,
    path: &str,
    request_id: Option<String>,
    attempts: u32,
    should_retry_false: bool,
) -> ApiError {
    let message = message.to_string();
    match status {
        400 => ApiError::BadRequest { message, request_id },
        401 => ApiError::Unauthorized { message, request_id },
        403 => ApiError::Forbidden { message, request_id },
        404 if message.trim() == "Not found" || message.is_empty() => {
            ApiError::NotAuthenticated { path: path.into(), request_id }
        }
        404 => ApiError::NotFound { message, request_id },
        429 => ApiError::RateLimited { attempts, request_id },
        s if s >= 500 => ApiError::Server {
            status: s,
            message: if message.is_empty() { etype.to_string() } else { message },
            attempts,
            should_retry_false,
            request_id,
        },
        s => ApiError::OtherClient { status: s, error_type: etype.to_string(), message, request_id },
    }
}

/// Reads both the platform envelope `{type, error:{type,message}, request_id}` and the abbreviated
/// `{error:{type,message}}`. Anything else becomes a short, printable excerpt.
pub fn parse_error_body(body: &[u8]) -> (String, String, Option<String>) {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let e = v.get("error");
        let etype = e.and_then(|e| e.get("type")).and_then(Value::as_str).unwrap_or("").to_string();
        let msg = e
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .or_else(|| v.get("message").and_then(Value::as_str))
            .unwrap_or("")
            .to_string();
        let rid = v.get("request_id").and_then(Value::as_str).map(str::to_string);
        return (etype, msg, rid);
    }
    let text: String = String::from_utf8_lossy(body).chars().filter(|c| !c.is_control()).take(200).collect();
    (String::new(), text, None)
}

pub fn rate_limit_info(h: &HeaderMap) -> RateLimitInfo {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    RateLimitInfo {
        limit: get("anthropic-ratelimit-requests-limit").and_then(|v| v.trim().parse().ok()),
        remaining: get("anthropic-ratelimit-requests-remaining").and_then(|v| v.trim().parse().ok()),
        reset: get("anthropic-ratelimit-requests-reset").and_then(|v| Timestamp::parse(v).ok()),
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body broken"
    } else {
        "request failed"
    };
    // reqwest's Display includes the URL (never the key: the key travels in a header).
    let mut s = format!("{kind}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

/// Checks where the key may be sent: `https://` anywhere, plain `http://` only to a loopback address
/// (the fake API, tests). No credentials in the URL. `Err` is an operator message.
pub fn check_base_url(base_url: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(base_url.trim()).map_err(|e| format!("--api-base-url {base_url:?} is not a URL ({e})"))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("--api-base-url must not contain credentials (user:password@)".into());
    }
    let host = u.host().ok_or_else(|| format!("--api-base-url {base_url:?} has no host"))?;
    match u.scheme() {
        "https" => Ok(u),
        "http" if is_loopback(&host) => Ok(u),
        "http" => Err(format!(
            "--api-base-url {}: the access key is only sent over https:// (plain http:// is allowed for loopback addresses only)",
            redact_url(&u)
        )),
        other => Err(format!("--api-base-url: unsupported scheme {other:?}; use https://")),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// `host[:port]` a redirect pointed at (resolved against the request URL), for the error message.
/// Only the host: a Location's path or query could carry anything.
fn location_host(request: &url::Url, location: Option<&str>) -> String {
    let Some(loc) = location else { return "(no Location header)".into() };
    match request.join(loc) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            }
        }
        Err(_) => "(unparseable Location)".into(),
    }
}

fn redact_url(u: &url::Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.to_string()
}

/// Shared counter type for the total of a run.
pub type SharedStats = Arc<CallStats>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_https_or_loopback() {
        for ok in [
            "https://api.anthropic.com",
            "https://api.anthropic.com/",
            "https://proxy.internal:8443/compliance",
            "http://127.0.0.1:8787",
            "http://127.9.9.9",
            "http://localhost:1234",
            "http://LOCALHOST",
            "http://[::1]:9000",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok} should be accepted");
        }
        for (bad, why) in [
            ("http://api.anthropic.com", "https://"),
            ("http://10.0.0.5:8080", "https://"),
            ("http://localhost.evil.example", "https://"),
            ("http://[::ffff:10.0.0.1]", "https://"),
            ("ftp://api.anthropic.com", "scheme"),
            ("https://user:pw@api.anthropic.com", "credentials"),
            ("api.anthropic.com", "not a URL"),
        ] {
            let e = check_base_url(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("pw@"), "credentials echoed: {e}");
        }
    }

    #[test]
    fn redirect_host_only() {
        let req = url::Url::parse("https://api.anthropic.com/v1/compliance/organizations?limit=1").unwrap();
        assert_eq!(location_host(&req, Some("http://10.1.2.3:8080/steal?k=v")), "http://10.1.2.3:8080");
        assert_eq!(location_host(&req, Some("/elsewhere")), "https://api.anthropic.com");
        assert_eq!(location_host(&req, Some("https://evil.example/x")), "https://evil.example");
        assert_eq!(location_host(&req, None), "(no Location header)");
    }

    #[test]
    fn plain_http_to_another_host_is_refused_at_construction() {
        let budget: Arc<dyn RequestBudget> = Arc::new(crate::budget::LocalBudget::new(0));
        let cfg = ClientConfig::new("http://compliance.example.com", ApiKey::new("sk-ant-api01-AbCdEf"));
        let e = ApiClient::new(cfg, budget).unwrap_err();
        assert!(matches!(e, ApiError::Config(_)), "{e}");
        assert!(!e.to_string().contains("AbCdEf"));
    }
}
