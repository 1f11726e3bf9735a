//! The shared request budget: [`DynamoBudget`] implements `crate::budget::RequestBudget` across every
//! Lambda worker (and CLI) of a tenant with a DynamoDB counter.
//!
//! ## Design
//! Time is cut into short **sub-windows** of `sub_window` (default 1 s) aligned on the Unix epoch, so
//! every worker agrees on window boundaries. Sub-window `i` (start = `i × sub_window`) has its own item
//! `pk = "budget#<tenant>"`, `sk = "w#<start ms>"` holding a counter `n` and a TTL `expires_at`.
//! Taking a token is one conditional UpdateItem:
//!
//! ```text
//! ADD n :one  SET expires_at = if_not_exists(expires_at, :ttl)
//! IF (attribute_not_exists(n) OR n < :quota) AND (attribute_not_exists(pause_until) OR pause_until <= :now)
//! ```
//!
//! When it fails the window is full (or paused): the worker remembers that, so its other tasks do not
//! ask again, and sleeps until the next sub-window (or the pause end). A success that returns
//! `n == quota` also marks the window full locally, saving the failing call.
//!
//! **Quotas.** With `B` requests/minute and `K = ceil(60 s / sub_window) + 1` (the most sub-windows
//! a 60-s interval can touch), window `i` gets `floor((i+1)·B/K) − floor(i·B/K)` tokens. Any `K`
//! consecutive windows therefore hold exactly `B` tokens, so **any 60-second interval sees at most `B`
//! tokens granted**, however it is aligned. `B` here is [`granted_per_minute`] (98.5 % of the budget,
//! see [`GRANT_HEADROOM`]). The sustained rate is `B · (60 s / sub_window) / K`: 581/min for a budget
//! of 600 with 1-s windows (96.9 %), 114/min for 120 with 2-s windows (95 %).
//! A minute's budget can never be spent in its first second: one sub-window holds `≈ B/K` tokens.
//!
//! **Local spacer.** Before the shared counter, each process paces itself with a
//! `crate::budget::LocalBudget` at `B`/minute (one process alone can never need more), so a process
//! does not hammer DynamoDB; it also applies the server's `remaining`/`reset` hints locally.
//!
//! **429 pause.** [`RequestBudget::rate_limited`] pauses this process at once and writes
//! `pause_until` (epoch ms) into every sub-window item up to the pause end (at most
//! [`MAX_PAUSE_WINDOWS`]) plus a `sk = "pause"` item for operators. Every worker's next UpdateItem
//! then fails its condition and gets `pause_until` back in the same failed call
//! (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), so the pause costs no extra reads in the normal
//! path and reaches every worker within the write latency (milliseconds), not a cache period.
//!
//! **Server headers.** [`RequestBudget::observe`] lowers the effective `B` to the server's `limit`
//! when that is lower than the configured budget (never raises it above the configuration).
//! `remaining` counts *every* request of the tenant, this tool's other workers included, so it is
//! never read as another tool's use by itself (that was the frozen-shares bug: a worker started
//! while siblings ran saw their use as foreign and slowed to ~10 requests/min). Instead the shared
//! counter knows what this tool spent: at most every [`PROBE_EVERY`] a worker sums the sub-window
//! counters of the last 60 s (one Query) and takes `limit − remaining − ours` as other tools' use;
//! only that (beyond a small slack for timing) lowers `B` for everyone, for 60 s after it was seen.
//! The local spacer gets only `limit` and a `remaining == 0` pause, never the `remaining` pace.
//!
//! **Fairness.** Tokens are first come, first served per sub-window, and every process paces itself
//! at the full `B`, so K workers that all want more than `B/K` each win about `1/K` of every
//! sub-window; a worker started late competes from its first sub-window on.
//!
//! ## Cost
//! One UpdateItem per token when the budget is not saturated. When workers compete for a full
//! window, each *process* adds about one failed UpdateItem per sub-window. [`DynamoBudget::counters`]
//! reports the DynamoDB calls so callers can print "DynamoDB calls per API call".
//!
//! ## Worst-case overshoot
//! The quota bound holds for token *grant* times measured on the workers' clocks. The server counts
//! request *arrival* times, so the bound can be exceeded only by
//! - clock skew between workers (a worker whose clock runs ahead spends a window early), and
//! - the delay between taking a token and the request reaching the server (including SDK retries of
//!   the API call that reuse a token — the engine takes a new token per attempt).
//!
//! Each `sub_window` of (skew + delay) lets at most one more window's quota (`⌈B/K⌉`, 10 for
//! B = 600 / 1-s windows) into a 60-s interval: overshoot ≤ `⌈B/K⌉ · ⌈(skew + delay) / sub_window⌉`,
//! i.e. +10 requests (1.7 %) per second of skew/delay at 600/min. Workers that were configured with
//! different budgets use their own quota; the largest configured one bounds the total.
//!
//! **Failure mode.** If DynamoDB is unreachable the budget fails *closed*: `acquire` retries with
//! capped exponential backoff (100 ms → 5 s, logged) and never sends unaccounted requests; a worker
//! stuck there is ended by its Lambda timeout and its message is redelivered. A budget of 0 means
//! unlimited (local pacing only, no DynamoDB calls), as for `LocalBudget`.

use crate::aws::dynamodb::{PK, SK, TTL_ATTR};
use crate::aws::error::store_backend;
use crate::budget::{BudgetStats, LocalBudget, RateLimitInfo, RequestBudget};
use crate::store::StoreError;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const BUDGET_PREFIX: &str = "budget#";
pub const PAUSE_SK: &str = "pause";
/// A shared pause is written into at most this many sub-windows (15 min at 1-s windows).
pub const MAX_PAUSE_WINDOWS: u64 = 900;
/// How often one process sums the shared counters to tell other tools' use from ours.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);
/// Other tools' use is trusted for this long after it was measured.
const EXTERNAL_TTL_MS: u64 = 60_000;

/// Requests per minute other tools spend, from one server response and our own shared count:
/// `limit − remaining − ours`, or 0 within `slack` (the server and the counter see requests at
/// slightly different times: a token granted but not yet arrived, a sub-window at the edge).
pub fn other_tools_use(limit: u32, remaining: u32, ours: u64, slack: u64) -> u32 {
    let used = u64::from(limit.saturating_sub(remaining));
    let external = used.saturating_sub(ours);
    if external <= slack {
        0
    } else {
        external.min(u64::from(limit)) as u32
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DynamoBudgetConfig {
    /// Tenant (parent organization) whose budget this is; every worker of the tenant must use the same.
    pub tenant: String,
    /// Requests per minute for everything using this budget (0 = unlimited).
    pub per_minute: u32,
    /// Sub-window length, 100 ms ..= 60 s (default 1 s).
    pub sub_window: Duration,
    /// How long window items live after their window (TTL; default 1 h).
    pub item_ttl: Duration,
}

impl DynamoBudgetConfig {
    pub fn new(tenant: impl Into<String>, per_minute: u32) -> Self {
        DynamoBudgetConfig {
            tenant: tenant.into(),
            per_minute,
            sub_window: Duration::from_secs(1),
            item_ttl: Duration::from_secs(3600),
        }
    }

    pub fn with_sub_window(mut self, sub_window: Duration) -> Self {
        self.sub_window = sub_window;
        self
    }
}

/// Share of `B` the shared counter grants: the server counts *arrivals*, so a token granted at the
/// end of one 60-s interval may arrive in the next; 1.5 % (9 of 600) absorbs about a second of
/// grant-to-arrival delay and clock skew with 0 limiter 429s (measured by `benches/budget_share.rs`:
/// without it, 8 workers drew 3 429s a minute from a fake enforcing exactly `B`).
pub const GRANT_HEADROOM: f64 = 0.985;

/// Tokens per 60 s the shared counter grants for a budget of `per_minute`.
pub fn granted_per_minute(per_minute: u32) -> u32 {
    ((per_minute as f64 * GRANT_HEADROOM).floor() as u32).max(1)
}

/// Number of sub-windows any 60-s interval can touch.
pub fn windows_per_minute_span(sub_window_ms: u64) -> u64 {
    let sw = sub_window_ms.max(1);
    60_000u64.div_ceil(sw) + 1
}

/// Tokens granted in sub-window `index` for a budget of `per_minute`.
pub fn window_quota(per_minute: u32, sub_window_ms: u64, index: u64) -> u64 {
    let k = windows_per_minute_span(sub_window_ms) as u128;
    let b = per_minute as u128;
    let i = index as u128;
    ((i + 1) * b / k - i * b / k) as u64
}

/// What the process learned from DynamoDB calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DynamoBudgetCounters {
    /// Every DynamoDB request made by this budget (successful or not).
    pub dynamodb_calls: u64,
    /// Tokens taken from the shared counter.
    pub tokens: u64,
    /// Conditional failures because a window was full.
    pub window_full: u64,
    /// Conditional failures because of a shared pause.
    pub paused: u64,
    /// DynamoDB errors (retried).
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Shared {
    /// Highest sub-window index known to be full.
    full_through: Option<u64>,
    /// Shared pause known to this process (epoch ms).
    pause_until_ms: u64,
    /// The `limit` the server announced last (requests per its 60-s window).
    server_limit: Option<u32>,
    /// Other tools' use per minute, and until when it counts (epoch ms).
    external: u32,
    external_until_ms: u64,
    /// Last time the shared counters were summed (epoch ms), and whether a sum is running.
    last_probe_ms: u64,
    probing: bool,
    stats: BudgetStats,
}

#[derive(Debug, Default)]
struct Calls {
    dynamodb_calls: AtomicU64,
    tokens: AtomicU64,
    window_full: AtomicU64,
    paused: AtomicU64,
    errors: AtomicU64,
}

struct Inner {
    client: aws_sdk_dynamodb::Client,
    table: String,
    cfg: DynamoBudgetConfig,
    sub_window_ms: u64,
    effective: AtomicU32,
    local: LocalBudget,
    state: Mutex<Shared>,
    calls: Calls,
}

/// The DynamoDB-backed budget. Cheap to clone (shared inner state).
#[derive(Clone)]
pub struct DynamoBudget {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DynamoBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoBudget")
            .field("table", &self.inner.table)
            .field("tenant", &self.inner.cfg.tenant)
            .field("per_minute", &self.inner.effective.load(Ordering::Relaxed))
            .field("sub_window", &self.inner.cfg.sub_window)
            .finish()
    }
}

enum Take {
    Taken { n: u64 },
    Full,
    Paused { until_ms: u64 },
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl DynamoBudget {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, cfg: DynamoBudgetConfig) -> Self {
        let sw = cfg.sub_window.clamp(Duration::from_millis(100), Duration::from_secs(60));
        let sub_window_ms = sw.as_millis() as u64;
        let per_minute = cfg.per_minute;
        let stats = BudgetStats { per_minute, ..Default::default() };
        DynamoBudget {
            inner: Arc::new(Inner {
                client,
                table: table.into(),
                cfg: DynamoBudgetConfig { sub_window: sw, ..cfg },
                sub_window_ms,
                effective: AtomicU32::new(per_minute),
                local: LocalBudget::with_headroom(per_minute, 1.0),
                state: Mutex::new(Shared { stats, ..Default::default() }),
                calls: Calls::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pk(&self) -> String {
        format!("{BUDGET_PREFIX}{}", self.inner.cfg.tenant)
    }

    fn window_sk(&self, index: u64) -> String {
        format!("w#{}", index * self.inner.sub_window_ms)
    }

    fn ttl_for(&self, index: u64) -> u64 {
        ((index + 1) * self.inner.sub_window_ms) / 1000 + self.inner.cfg.item_ttl.as_secs() + 1
    }

    /// The requests/minute currently in force (configured, or lower after `observe`).
    pub fn per_minute(&self) -> u32 {
        self.inner.effective.load(Ordering::Relaxed)
    }

    pub fn sub_window(&self) -> Duration {
        self.inner.cfg.sub_window
    }

    /// Other tools' use per minute currently given up (0 when none was seen in the last minute).
    pub fn other_tools_per_minute(&self) -> u32 {
        let s = self.lock();
        if s.external_until_ms > now_ms() {
            s.external
        } else {
            0
        }
    }

    /// Sets the budget in force from the configuration, the server's limit and other tools' use.
    fn recompute(&self, s: &mut Shared) {
        let configured = self.inner.cfg.per_minute;
        if configured == 0 {
            return;
        }
        let base = s.server_limit.map_or(configured, |l| configured.min(l)).max(1);
        let external = if s.external_until_ms > now_ms() { s.external } else { 0 };
        let want = base.saturating_sub(external).max(1);
        self.inner.effective.store(want, Ordering::Relaxed);
        s.stats.per_minute = want;
    }

    /// Tokens this tool took in the sub-windows of the last 60 s (one Query over the window items).
    pub async fn spent_last_minute(&self) -> Result<u64, StoreError> {
        let sw = self.inner.sub_window_ms;
        let now = now_ms();
        let first = now.saturating_sub(60_000) / sw;
        let last = now / sw;
        let mut total = 0u64;
        let mut start_key = None;
        loop {
            self.count_call();
            let out = self
                .inner
                .client
                .query()
                .table_name(&self.inner.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :a AND :b")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(self.pk()))
                .expression_attribute_values(":a", AttributeValue::S(self.window_sk(first)))
                .expression_attribute_values(":b", AttributeValue::S(self.window_sk(last)))
                .projection_expression("n")
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| {
                    store_backend(
                        "Query (budget windows)",
                        &format!("dynamodb://{}/{}", self.inner.table, self.pk()),
                        &e,
                    )
                })?;
            for item in out.items() {
                total += item.get("n").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start_key = Some(k.clone()),
                _ => break,
            }
        }
        Ok(total)
    }

    /// Measures other tools' use from one response's `limit`/`remaining` (see the module docs).
    pub async fn probe_other_tools(&self, limit: u32, remaining: u32) -> Result<u32, StoreError> {
        let ours = self.spent_last_minute().await?;
        let sw = self.inner.sub_window_ms;
        let largest_quota = u64::from(self.per_minute().max(limit)).div_ceil(windows_per_minute_span(sw));
        let slack = (u64::from(limit) / 20).max(2 * largest_quota);
        let external = other_tools_use(limit, remaining, ours, slack);
        let mut s = self.lock();
        s.external = external;
        s.external_until_ms = if external > 0 { now_ms() + EXTERNAL_TTL_MS } else { 0 };
        self.recompute(&mut s);
        if external > 0 {
            tracing::info!(
                limit,
                remaining,
                ours,
                other_tools = external,
                "another tool spends the tenant's budget; giving that share up"
            );
        }
        Ok(external)
    }

    /// Total DynamoDB requests made by this budget instance.
    pub fn dynamodb_calls(&self) -> u64 {
        self.inner.calls.dynamodb_calls.load(Ordering::Relaxed)
    }

    pub fn counters(&self) -> DynamoBudgetCounters {
        let c = &self.inner.calls;
        DynamoBudgetCounters {
            dynamodb_calls: c.dynamodb_calls.load(Ordering::Relaxed),
            tokens: c.tokens.load(Ordering::Relaxed),
            window_full: c.window_full.load(Ordering::Relaxed),
            paused: c.paused.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }

    fn count_call(&self) {
        self.inner.calls.dynamodb_calls.fetch_add(1, Ordering::Relaxed);
    }

    async fn take(&self, index: u64, quota: u64, now: u64) -> Result<Take, StoreError> {
        self.count_call();
        let res = self
            .inner
            .client
            .update_item()
            .table_name(&self.inner.table)
            .key(PK, AttributeValue::S(self.pk()))
            .key(SK, AttributeValue::S(self.window_sk(index)))
            .update_expression("ADD n :one SET #exp = if_not_exists(#exp, :ttl)")
            .condition_expression(
                "(attribute_not_exists(n) OR n < :quota) AND (attribute_not_exists(pause_until) OR pause_until <= :now)",
            )
            .expression_attribute_names("#exp", TTL_ATTR)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":ttl", AttributeValue::N(self.ttl_for(index).to_string()))
            .expression_attribute_values(":quota", AttributeValue::N(quota.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => {
                let n = out
                    .attributes()
                    .and_then(|a| a.get("n"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Ok(Take::Taken { n })
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let pause = c
                        .item()
                        .and_then(|i| i.get("pause_until"))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse::<u64>().ok())
                        .filter(|p| *p > now);
                    Ok(match pause {
                        Some(until_ms) => Take::Paused { until_ms },
                        None => Take::Full,
                    })
                }
                _ => Err(store_backend(
                    "UpdateItem (budget)",
                    &format!("dynamodb://{}/{}", self.inner.table, self.pk()),
                    &e,
                )),
            },
        }
    }

    /// Writes a shared pause until `now + retry_after` and waits for the writes. Called by
    /// `rate_limited` in the background; call it directly to know when every worker will see it.
    pub async fn pause_shared(&self, retry_after: Duration) -> Result<(), StoreError> {
        let until = now_ms() + retry_after.as_millis() as u64;
        self.pause_shared_until(until).await
    }

    async fn pause_shared_until(&self, until_ms: u64) -> Result<(), StoreError> {
        {
            let mut s = self.lock();
            s.pause_until_ms = s.pause_until_ms.max(until_ms);
        }
        let sw = self.inner.sub_window_ms;
        let first = now_ms() / sw;
        let last = (until_ms.saturating_sub(1) / sw).min(first + MAX_PAUSE_WINDOWS);
        let mut result =
            self.write_pause(PAUSE_SK.to_string(), until_ms, until_ms / 1000 + self.inner.cfg.item_ttl.as_secs()).await;
        for index in first..=last {
            let r = self.write_pause(self.window_sk(index), until_ms, self.ttl_for(index)).await;
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    async fn write_pause(&self, sk: String, until_ms: u64, ttl: u64) -> Result<(), StoreError> {
        self.count_call();
        let res = self
            .inner
            .client
            .update_item()
            .table_name(&self.inner.table)
            .key(PK, AttributeValue::S(self.pk()))
            .key(SK, AttributeValue::S(sk.clone()))
            .update_expression("SET pause_until = :p, #exp = if_not_exists(#exp, :ttl)")
            .condition_expression("attribute_not_exists(pause_until) OR pause_until < :p")
            .expression_attribute_names("#exp", TTL_ATTR)
            .expression_attribute_values(":p", AttributeValue::N(until_ms.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // A later pause is already there.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(store_backend(
                "UpdateItem (budget pause)",
                &format!("dynamodb://{}/{}/{}", self.inner.table, self.pk(), sk),
                &e,
            )),
        }
    }

    /// The shared pause currently recorded for the tenant (epoch ms), if it is still in the future.
    pub async fn shared_pause(&self) -> Result<Option<u64>, StoreError> {
        self.count_call();
        let out = self
            .inner
            .client
            .get_item()
            .table_name(&self.inner.table)
            .key(PK, AttributeValue::S(self.pk()))
            .key(SK, AttributeValue::S(PAUSE_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                store_backend("GetItem (budget pause)", &format!("dynamodb://{}/{}", self.inner.table, self.pk()), &e)
            })?;
        Ok(out
            .item()
            .and_then(|i| i.get("pause_until"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|p| *p > now_ms()))
    }

    async fn acquire_shared(&self) {
        let sw = self.inner.sub_window_ms;
        let mut failures: u32 = 0;
        loop {
            let per_minute = self.per_minute();
            if per_minute == 0 {
                return;
            }
            let now = now_ms();
            let index = now / sw;
            let (pause, known_full) = {
                let s = self.lock();
                (s.pause_until_ms, s.full_through.is_some_and(|f| f >= index))
            };
            if pause > now {
                tokio::time::sleep(Duration::from_millis(pause - now)).await;
                continue;
            }
            let next_window = Duration::from_millis((index + 1) * sw - now);
            let quota = window_quota(granted_per_minute(per_minute), sw, index);
            if known_full || quota == 0 {
                tokio::time::sleep(next_window).await;
                continue;
            }
            match self.take(index, quota, now).await {
                Ok(Take::Taken { n }) => {
                    self.inner.calls.tokens.fetch_add(1, Ordering::Relaxed);
                    if n >= quota {
                        self.mark_full(index);
                    }
                    return;
                }
                Ok(Take::Full) => {
                    self.inner.calls.window_full.fetch_add(1, Ordering::Relaxed);
                    self.mark_full(index);
                }
                Ok(Take::Paused { until_ms }) => {
                    self.inner.calls.paused.fetch_add(1, Ordering::Relaxed);
                    let mut s = self.lock();
                    s.pause_until_ms = s.pause_until_ms.max(until_ms);
                }
                Err(e) => {
                    self.inner.calls.errors.fetch_add(1, Ordering::Relaxed);
                    let backoff =
                        Duration::from_millis(100u64.saturating_mul(1 << failures.min(6))).min(Duration::from_secs(5));
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "shared request budget unavailable; waiting (no request is sent without a token)");
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }

    fn mark_full(&self, index: u64) {
        let mut s = self.lock();
        s.full_through = Some(s.full_through.map_or(index, |f| f.max(index)));
    }
}

#[async_trait]
impl RequestBudget for DynamoBudget {
    async fn acquire(&self) {
        let start = tokio::time::Instant::now();
        self.inner.local.acquire().await;
        self.acquire_shared().await;
        let waited = start.elapsed();
        let mut s = self.lock();
        s.stats.acquired += 1;
        // Ignore scheduling noise; count real waits.
        if waited > Duration::from_millis(1) {
            s.stats.waited += waited;
        }
    }

    fn observe(&self, info: &RateLimitInfo) {
        // The local spacer follows the server's limit and an exhausted window, never `remaining` as
        // a pace: our other workers' use is in it (see the module docs).
        self.inner.local.observe(&RateLimitInfo {
            limit: info.limit,
            remaining: info.remaining.filter(|r| *r == 0),
            reset: info.reset,
        });
        if self.inner.cfg.per_minute == 0 {
            return; // unlimited on purpose (benchmarks, fakes); 429s still pause everyone
        }
        let probe = {
            let mut s = self.lock();
            if let Some(limit) = info.limit.filter(|l| *l > 0) {
                s.server_limit = Some(limit);
            }
            self.recompute(&mut s);
            let now = now_ms();
            match (info.limit, info.remaining) {
                (Some(limit), Some(remaining))
                    if !s.probing && now.saturating_sub(s.last_probe_ms) >= PROBE_EVERY.as_millis() as u64 =>
                {
                    s.probing = true;
                    s.last_probe_ms = now;
                    Some((limit, remaining))
                }
                _ => None,
            }
        };
        if let Some((limit, remaining)) = probe {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    let me = self.clone();
                    handle.spawn(async move {
                        if let Err(e) = me.probe_other_tools(limit, remaining).await {
                            tracing::warn!(error = %e, "could not read the shared budget counters");
                        }
                        me.lock().probing = false;
                    });
                }
                Err(_) => self.lock().probing = false,
            }
        }
    }

    fn rate_limited(&self, retry_after: Duration) {
        self.inner.local.rate_limited(retry_after);
        let until = now_ms() + retry_after.as_millis() as u64;
        {
            let mut s = self.lock();
            s.stats.rate_limited += 1;
            s.pause_until_ms = s.pause_until_ms.max(until);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let me = self.clone();
                handle.spawn(async move {
                    if let Err(e) = me.pause_shared_until(until).await {
                        tracing::warn!(error = %e, "could not share the rate-limit pause with other workers");
                    }
                });
            }
            Err(_) => tracing::warn!("no async runtime: the rate-limit pause applies to this process only"),
        }
    }

    fn stats(&self) -> BudgetStats {
        self.lock().stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_span_of_windows_holds_the_budget() {
        for (b, sw) in [(600u32, 1000u64), (120, 2000), (100, 1000), (7, 1000), (600, 700), (1000, 250)] {
            let k = windows_per_minute_span(sw);
            let start = 1_790_000_000_000 / sw;
            for i in start..start + 200 {
                let sum: u64 = (i..i + k).map(|j| window_quota(b, sw, j)).sum();
                assert_eq!(sum, b as u64, "b={b} sw={sw}");
                assert!(window_quota(b, sw, i) <= (b as u64).div_ceil(k));
            }
        }
        // 2-s windows at 120/min: 31 windows share 120 tokens → ~3.87 per window.
        assert_eq!(windows_per_minute_span(2000), 31);
        assert_eq!(windows_per_minute_span(1000), 61);
    }
}

#[cfg(test)]
mod share_tests {
    use super::*;

    #[test]
    fn sibling_use_is_not_another_tools() {
        // 8 workers of ours spent 560 of the window; the server says 40 remain: nobody else.
        assert_eq!(other_tools_use(600, 40, 560, 30), 0);
        // timing noise (in-flight tokens, window edges) stays within the slack
        assert_eq!(other_tools_use(600, 20, 560, 30), 0);
        assert_eq!(other_tools_use(600, 60, 560, 30), 0, "more remaining than expected is not negative use");
        // another tool spends 200 a minute besides our 380
        assert_eq!(other_tools_use(600, 20, 380, 30), 200);
        // nothing of ours counted yet (cold start) and the window nearly empty
        assert_eq!(other_tools_use(600, 599, 0, 30), 0);
    }
}
