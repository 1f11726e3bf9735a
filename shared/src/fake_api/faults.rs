//! Fault injection knobs (settable at runtime through the handle).

use std::collections::VecDeque;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Pad JSON responses with an unknown large field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OversizedBody {
    /// Every Nth JSON response (1 = all).
    pub every_nth: u64,
    /// Minimum body size in bytes.
    pub bytes: usize,
}

/// A one-shot fault, matched by substring of the request's path-and-query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedFault {
    pub path_contains: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Raw body; `None` → the standard error envelope for `status`.
    pub body: Option<String>,
}

impl ScriptedFault {
    pub fn new(path_contains: impl Into<String>, status: u16) -> Self {
        ScriptedFault { path_contains: path_contains.into(), status, headers: vec![], body: None }
    }

    pub fn with_header(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }
}

/// Fault configuration. `Default` injects nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Sleep before handling every request.
    pub latency: Option<Duration>,
    /// Probability (0.0–1.0, seeded RNG) of a transient 5xx (500/502/503/529 mix).
    pub error_rate: f64,
    /// Every Nth request (after auth and the limiter) gets a transient 5xx.
    pub error_every_nth: Option<u64>,
    /// Seed for `error_rate`.
    pub seed: u64,
    /// When on, every other injected 500 carries `x-should-retry: false`.
    pub non_retryable_500s: bool,
    /// Every Nth request (after auth and the limiter) gets an injected 429.
    pub rate_limit_every_nth: Option<u64>,
    /// `retry-after` seconds on injected 429s; `None` omits the header.
    pub rate_limit_retry_after: Option<u64>,
    /// Every Nth successful JSON response has its body cut in half (invalid JSON).
    pub malformed_json_every_nth: Option<u64>,
    pub oversized_body: Option<OversizedBody>,
    /// One-shot faults consumed in order of first match.
    pub scripted: Vec<ScriptedFault>,
    /// Faults answered to *every* matching request until cleared (a poisoned item: a permanent
    /// 403 on one chat's messages, one file, one project).
    pub sticky: Vec<ScriptedFault>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency: None,
            error_rate: 0.0,
            error_every_nth: None,
            seed: 7,
            non_retryable_500s: false,
            rate_limit_every_nth: None,
            rate_limit_retry_after: Some(1),
            malformed_json_every_nth: None,
            oversized_body: None,
            scripted: vec![],
            sticky: vec![],
        }
    }
}

impl Faults {
    pub fn none() -> Self {
        Faults::default()
    }

    /// Only scripted one-shot faults.
    pub fn scripted(faults: Vec<ScriptedFault>) -> Self {
        Faults { scripted: faults, ..Faults::default() }
    }
}

/// What the injector decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Injected {
    None,
    RateLimit { retry_after: Option<u64> },
    Server { status: u16, no_retry: bool },
}

/// Runtime state: config + RNG + counters.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub faults: Faults,
    pub scripted: VecDeque<ScriptedFault>,
    rng: ChaCha8Rng,
    n_rl: u64,
    n_err: u64,
    n_malformed: u64,
    n_oversized: u64,
    n_500: u64,
}

impl FaultState {
    pub fn new(faults: Faults) -> Self {
        FaultState {
            rng: ChaCha8Rng::seed_from_u64(faults.seed),
            scripted: faults.scripted.iter().cloned().collect(),
            faults,
            n_rl: 0,
            n_err: 0,
            n_malformed: 0,
            n_oversized: 0,
            n_500: 0,
        }
    }

    /// Pop the first scripted fault whose substring matches (else a sticky one, kept).
    pub fn take_scripted(&mut self, path_and_query: &str) -> Option<ScriptedFault> {
        if let Some(pos) = self.scripted.iter().position(|f| path_and_query.contains(&f.path_contains)) {
            return self.scripted.remove(pos);
        }
        self.faults.sticky.iter().find(|f| path_and_query.contains(&f.path_contains)).cloned()
    }

    /// Decide on an injected 429 / 5xx for an authenticated request.
    pub fn decide(&mut self) -> Injected {
        if let Some(n) = self.faults.rate_limit_every_nth.filter(|n| *n > 0) {
            self.n_rl += 1;
            if self.n_rl.is_multiple_of(n) {
                return Injected::RateLimit { retry_after: self.faults.rate_limit_retry_after };
            }
        }
        let mut hit = false;
        if let Some(n) = self.faults.error_every_nth.filter(|n| *n > 0) {
            self.n_err += 1;
            hit = self.n_err.is_multiple_of(n);
        }
        if !hit && self.faults.error_rate > 0.0 {
            hit = self.rng.gen_bool(self.faults.error_rate.clamp(0.0, 1.0));
        }
        if !hit {
            return Injected::None;
        }
        let status = [500u16, 502, 503, 529][self.rng.gen_range(0..4)];
        let no_retry = if status == 500 && self.faults.non_retryable_500s {
            self.n_500 += 1;
            self.n_500 % 2 == 1
        } else {
            false
        };
        Injected::Server { status, no_retry }
    }

    /// Should this successful JSON response be corrupted?
    pub fn malformed(&mut self) -> bool {
        match self.faults.malformed_json_every_nth.filter(|n| *n > 0) {
            Some(n) => {
                self.n_malformed += 1;
                self.n_malformed.is_multiple_of(n)
            }
            None => false,
        }
    }

    /// Pad size for this successful JSON response, if any.
    pub fn oversize(&mut self) -> Option<usize> {
        let o = self.faults.oversized_body.clone()?;
        self.n_oversized += 1;
        (o.every_nth > 0 && self.n_oversized.is_multiple_of(o.every_nth)).then_some(o.bytes)
    }
}
