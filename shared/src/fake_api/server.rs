//! Request pipeline: faults → auth → limiter → injected faults → routing → scopes → handler.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use md5::{Digest, Md5};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::faults::{FaultState, Injected};
use super::query::Query;
use super::ratelimit::{LimitState, Limiter};
use super::routes::{self, Reply, Route, SCOPE_AUDIT};
use super::scale_routes;
use super::{
    lock, FakeApiConfig, FakeKey, FakeStats, LoggedRequest, ADMIN_KEY_PREFIX, COMPLIANCE_KEY_PREFIX, REQUEST_LOG_CAP,
};
use crate::synthetic::{self, ids, Tenant};

pub(crate) struct Shared {
    pub tenant: Mutex<Tenant>,
    pub keys: Mutex<Vec<FakeKey>>,
    pub limiter: Mutex<Limiter>,
    pub faults: Mutex<FaultState>,
    pub stats: Mutex<FakeStats>,
    pub emit_access: std::sync::atomic::AtomicBool,
    pub started: Instant,
    pub rng: Mutex<ChaCha8Rng>,
    pub base_url: String,
}

impl Shared {
    pub fn new(tenant: Tenant, cfg: FakeApiConfig, addr: SocketAddr) -> Self {
        let seed = tenant.config.seed ^ 0x5EED_FA6E;
        Shared {
            tenant: Mutex::new(tenant),
            keys: Mutex::new(cfg.keys),
            limiter: Mutex::new(Limiter::new(cfg.rate_limit)),
            faults: Mutex::new(FaultState::new(cfg.faults)),
            stats: Mutex::new(FakeStats::default()),
            emit_access: std::sync::atomic::AtomicBool::new(cfg.emit_access_activities),
            started: Instant::now(),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            base_url: format!("http://{addr}"),
        }
    }

    fn request_id(&self) -> String {
        let mut rng = lock(&self.rng);
        format!("req_011C{}", ids::suffix(&mut *rng, 20))
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

enum BodyKind {
    Json(Vec<u8>),
    Chunked(Vec<u8>),
    Raw(Vec<u8>),
}

struct Outcome {
    status: u16,
    headers: Vec<(String, String)>,
    body: BodyKind,
    /// Set once the key authenticated (drives access activities).
    api_key: Option<String>,
    /// Which counters this response feeds.
    injected: Vec<InjectedKind>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum InjectedKind {
    Limiter,
    RateLimit,
    Server,
    Scripted,
    Malformed,
    Oversized,
}

struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    path_and_query: &'a str,
    key: Option<&'a str>,
    request_id: &'a str,
}

fn error_outcome(e: &ApiError, rid: &str, mut extra: Vec<(String, String)>) -> Outcome {
    let body = serde_json::to_vec(&e.body(rid)).unwrap_or_default();
    extra.extend(e.headers.iter().cloned());
    extra.push(("content-type".into(), "application/json".into()));
    Outcome { status: e.status, headers: extra, body: BodyKind::Json(body), api_key: None, injected: vec![] }
}

/// RFC 5987 `attr-char` percent-encoding for `filename*=utf-8''…`.
fn rfc5987(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pad_json(v: &mut Value, target: usize, current: usize) {
    if let Some(obj) = v.as_object_mut() {
        let need = target.saturating_sub(current) + 16;
        obj.insert("x_padding".into(), json!("x".repeat(need)));
    }
}

impl Shared {
    fn process(&self, r: &Req<'_>) -> Outcome {
        let rid = r.request_id;
        // 1. scripted one-shot faults (deterministic; before auth)
        let scripted = lock(&self.faults).take_scripted(r.path_and_query);
        if let Some(f) = scripted {
            let body = match &f.body {
                Some(b) => b.clone().into_bytes(),
                None => {
                    let e = match f.status {
                        429 => ApiError::rate_limited(),
                        s if s >= 500 => ApiError::server(s),
                        404 => ApiError::not_found(),
                        401 => ApiError::invalid_key(),
                        s => ApiError::new(s, "invalid_request_error", "Injected fault"),
                    };
                    serde_json::to_vec(&e.body(rid)).unwrap_or_default()
                }
            };
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            headers.extend(f.headers.iter().cloned());
            return Outcome {
                status: f.status,
                headers,
                body: BodyKind::Raw(body),
                api_key: None,
                injected: vec![InjectedKind::Scripted],
            };
        }

        // 2. authentication (not counted by the limiter)
        let key = match r.key {
            Some(k) if k.starts_with(COMPLIANCE_KEY_PREFIX) || k.starts_with(ADMIN_KEY_PREFIX) => k,
            // the settings endpoint alone answers a missing or foreign credential with 401 (spec §5.2)
            _ if matches!(Route::parse(r.method, r.path), Some(Route::OrgSettings(_))) => {
                return error_outcome(&ApiError::new(401, "authentication_error", "API key is invalid."), rid, vec![])
            }
            _ => return error_outcome(&ApiError::not_found(), rid, vec![]),
        };
        let Some(fake_key) = lock(&self.keys).iter().find(|k| k.key == key).cloned() else {
            return error_outcome(&ApiError::invalid_key(), rid, vec![]);
        };
        let mut out = self.authenticated(r, &fake_key);
        out.api_key = Some(fake_key.key.clone());
        out
    }

    fn authenticated(&self, r: &Req<'_>, key: &FakeKey) -> Outcome {
        let rid = r.request_id;
        // 3. shared sliding-window budget
        let state: LimitState = match lock(&self.limiter).check(Instant::now()) {
            Ok(s) => s,
            Err(s) => {
                let mut o = error_outcome(&ApiError::rate_limited(), rid, s.headers());
                o.injected = vec![InjectedKind::Limiter];
                return o;
            }
        };
        let rl_headers = state.headers();
        // 4. injected transient faults
        let decision = lock(&self.faults).decide();
        match decision {
            Injected::None => {}
            Injected::RateLimit { retry_after } => {
                let mut e = ApiError::rate_limited();
                if let Some(s) = retry_after {
                    e = e.with_header("retry-after", s.to_string());
                }
                let mut o = error_outcome(&e, rid, rl_headers);
                o.injected = vec![InjectedKind::RateLimit];
                return o;
            }
            Injected::Server { status, no_retry } => {
                let mut e = ApiError::server(status);
                if no_retry {
                    e = e.with_header("x-should-retry", "false");
                }
                let mut o = error_outcome(&e, rid, rl_headers);
                o.injected = vec![InjectedKind::Server];
                return o;
            }
        }
        // 5. routing
        let Some(route) = Route::parse(r.method, r.path) else {
            return error_outcome(&ApiError::not_found(), rid, rl_headers);
        };
        // 6. scopes (admin keys reach only the activity feed)
        let needed = route.scope();
        let allowed = if key.is_admin() && route != Route::Activities {
            false
        } else {
            key.scopes.iter().any(|s| s == needed || s == SCOPE_AUDIT)
        };
        if !allowed {
            let e = ApiError::missing_scopes(&key.scopes, &[needed, SCOPE_AUDIT]);
            return error_outcome(&e, rid, rl_headers);
        }
        // 7. handler
        let q = Query::parse(r.query);
        // a scale tenant answers without holding the tenant lock (pages are built from indexes)
        let scale = lock(&self.tenant).scale.clone();
        let lazy = scale.as_deref().and_then(|s| scale_routes::handle(&route, &q, s));
        let reply = match lazy {
            Some(r) => r,
            None => {
                let t = lock(&self.tenant);
                routes::handle(&route, &q, &t)
            }
        };
        let reply = match reply {
            Ok(rep) => rep,
            Err(e) => return error_outcome(&e, rid, rl_headers),
        };
        let mut headers = rl_headers;
        match reply {
            Reply::Json(mut v) => {
                let mut injected = vec![];
                let mut bytes = serde_json::to_vec(&v).unwrap_or_default();
                let (oversize, malformed) = {
                    let mut f = lock(&self.faults);
                    (f.oversize(), f.malformed())
                };
                if let Some(target) = oversize {
                    pad_json(&mut v, target, bytes.len());
                    bytes = serde_json::to_vec(&v).unwrap_or_default();
                    injected.push(InjectedKind::Oversized);
                }
                if malformed {
                    bytes.truncate(bytes.len() / 2);
                    injected.push(InjectedKind::Malformed);
                }
                headers.push(("content-type".into(), "application/json".into()));
                Outcome { status: 200, headers, body: BodyKind::Json(bytes), api_key: None, injected }
            }
            Reply::File { bytes, content_type, filename } => {
                let md5 = STANDARD.encode(Md5::digest(&bytes));
                headers.push(("content-type".into(), content_type));
                headers.push((
                    "content-disposition".into(),
                    format!("attachment; filename*=utf-8''{}", rfc5987(&filename)),
                ));
                headers.push(("content-md5".into(), md5));
                Outcome { status: 200, headers, body: BodyKind::Chunked(bytes), api_key: None, injected: vec![] }
            }
        }
    }

    fn record(&self, method: &str, pq: &str, out: &Outcome) {
        let mut s = lock(&self.stats);
        s.requests += 1;
        *s.by_status.entry(out.status).or_insert(0) += 1;
        for kind in &out.injected {
            match kind {
                InjectedKind::Limiter => s.rate_limited += 1,
                InjectedKind::RateLimit => s.injected_429 += 1,
                InjectedKind::Server => s.injected_5xx += 1,
                InjectedKind::Scripted => {
                    s.injected_scripted += 1;
                    if out.status == 429 {
                        s.injected_429 += 1;
                    } else if out.status >= 500 {
                        s.injected_5xx += 1;
                    }
                }
                InjectedKind::Malformed => s.injected_malformed += 1,
                InjectedKind::Oversized => s.injected_oversized += 1,
            }
        }
        *s.by_endpoint.entry(super::endpoint_of(pq)).or_default() += 1;
        if s.request_log.len() >= REQUEST_LOG_CAP {
            let excess = s.request_log.len() + 1 - REQUEST_LOG_CAP;
            s.request_log.drain(..excess);
        }
        s.request_log.push(LoggedRequest {
            at_ms: self.started.elapsed().as_millis() as u64,
            method: method.to_string(),
            path_and_query: pq.to_string(),
            status: out.status,
        });
    }

    fn emit_access_activity(&self, key: &str, ua: &str, rid: &str, method: &str, pq: &str, status: u16) {
        let id = {
            let mut rng = lock(&self.rng);
            ids::tagged_id(&mut *rng, "activity_")
        };
        let mut t = lock(&self.tenant);
        if t.scale.is_some() {
            // a scale tenant's feed is immutable
            return;
        }
        let now = ids::trunc_micros(chrono::Utc::now());
        let a = synthetic::compliance_api_accessed(
            id,
            now,
            &synthetic::api_key_id_for(key),
            "127.0.0.1",
            ua,
            rid,
            method,
            &format!("{}{}", self.base_url, pq),
            status,
        );
        t.insert_activity(a);
    }
}

fn header_str<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let pq = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| path.clone());
    let key = header_str(&req, "x-api-key").map(str::to_string);
    let ua = header_str(&req, "user-agent").unwrap_or("").to_string();
    drop(req);

    let rid = sh.request_id();
    let latency = lock(&sh.faults).faults.latency;
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let out = sh.process(&Req {
        method: &method,
        path: &path,
        query: query.as_deref(),
        path_and_query: &pq,
        key: key.as_deref(),
        request_id: &rid,
    });
    sh.record(&method, &pq, &out);
    if sh.emit_access.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(k) = &out.api_key {
            sh.emit_access_activity(k, &ua, &rid, &method, &pq, out.status);
        }
    }

    let body = match out.body {
        BodyKind::Json(b) | BodyKind::Raw(b) => Body::from(b),
        // no Content-Length: hyper sends `Transfer-Encoding: chunked`
        BodyKind::Chunked(b) => Body::from_stream(Body::from(b).into_data_stream()),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(out.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert(HeaderName::from_static("request-id"), v);
    }
    for (k, v) in out.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            h.append(k, v);
        }
    }
    resp
}
