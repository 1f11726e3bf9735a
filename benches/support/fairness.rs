//! Shared-budget fairness harness (issue #9, item 5): K workers plus one late starter send real
//! requests through `ApiClient` and a real budget adapter to the fake API, whose limiter enforces
//! the same budget. Used by `benches/budget_share.rs` (10 real minutes) and by a scaled-time test
//! in `tests/serverless.rs`.

#![allow(dead_code)]

use shared::api::{ApiClient, ApiKey, CallStats, ClientConfig};
use shared::budget::RequestBudget;
use shared::fake_api::{self, FakeApiConfig, RateLimit};
use shared::synthetic::{Tenant, TenantConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Options {
    /// Requests per `window` (the fake's limit and the budget).
    pub budget: u32,
    pub window: Duration,
    /// Length of the run, in windows.
    pub windows: u32,
    /// Workers from the start.
    pub workers: usize,
    /// When the late starter begins (from the start of the run).
    pub late_at: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per window: requests completed per worker (the last column is the late starter).
    pub per_window: Vec<Vec<u64>>,
    /// Per window: 429s the fake's limiter produced.
    pub limited_per_window: Vec<u64>,
    /// Late starter's requests in its first window, and the fair share of that interval
    /// (everyone's requests in it / active workers).
    pub late_first_window: (u64, f64),
    pub total: u64,
    pub limited_total: u64,
    /// Most requests the fake counted in any sliding window (from its request log).
    pub max_in_any_window: u64,
    pub elapsed: Duration,
}

impl Report {
    pub fn used_fraction(&self, o: &Options) -> f64 {
        self.total as f64 / (o.budget as f64 * self.elapsed.as_secs_f64() / o.window.as_secs_f64())
    }

    pub fn table(&self, o: &Options) -> String {
        let k = o.workers;
        let mut out = String::new();
        let mut head = format!("{:>6}", "window");
        for w in 0..k {
            head.push_str(&format!(" {:>5}", format!("w{w}")));
        }
        head.push_str(&format!(" {:>5} {:>6} {:>5} {:>11}\n", "late", "total", "429s", "late/fair"));
        out.push_str(&head);
        for (i, row) in self.per_window.iter().enumerate() {
            let total: u64 = row.iter().sum();
            let active = row.iter().filter(|n| **n > 0).count().max(1);
            let late = row.get(k).copied().unwrap_or(0);
            let share =
                if late > 0 { format!("{:.2}", late as f64 / (total as f64 / active as f64)) } else { "-".into() };
            let mut line = format!("{:>6}", i + 1);
            for n in row.iter().take(k) {
                line.push_str(&format!(" {n:>5}"));
            }
            line.push_str(&format!(
                " {late:>5} {total:>6} {:>5} {share:>11}\n",
                self.limited_per_window.get(i).copied().unwrap_or(0)
            ));
            out.push_str(&line);
        }
        out.push_str(&format!(
            "total {} requests in {:.1} s = {:.1} % of the budget; {} limiter 429s; most in any window {} (budget {}); late starter's first window: {} requests, fair share {:.1} ({:.0} %)\n",
            self.total,
            self.elapsed.as_secs_f64(),
            100.0 * self.used_fraction(o),
            self.limited_total,
            self.max_in_any_window,
            o.budget,
            self.late_first_window.0,
            self.late_first_window.1,
            100.0 * self.late_first_window.0 as f64 / self.late_first_window.1.max(1e-9),
        ));
        out
    }
}

fn client(base: &str, budget: Arc<dyn RequestBudget>) -> ApiClient {
    let mut cfg = ClientConfig::new(base, ApiKey::new(fake_api::synthetic_key()));
    cfg.request_timeout = Duration::from_secs(30);
    ApiClient::new(cfg, budget).expect("client")
}

/// Runs the scenario; `budget_for(i)` gives worker `i` its budget (`i == workers` is the late
/// starter). Hand out one shared instance for an in-process adapter, or one per worker for a shared
/// counter (as separate Lambdas would have).
pub async fn run(o: &Options, budget_for: impl Fn(usize) -> Arc<dyn RequestBudget>) -> Report {
    let mut tc = TenantConfig::small();
    tc.seed = 11;
    let cfg = FakeApiConfig {
        rate_limit: Some(RateLimit { requests: o.budget, window: o.window }),
        ..FakeApiConfig::default()
    };
    let fake = fake_api::serve("127.0.0.1:0".parse().expect("addr"), Tenant::generate(tc), cfg).await.expect("fake");
    let base = fake.base_url();
    let n = o.workers + 1;
    let t0 = Instant::now();
    let run_for = o.window * o.windows;
    // (worker, completion time) of every successful request
    let done: Arc<Mutex<Vec<(usize, Duration)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for w in 0..n {
        let c = client(&base, budget_for(w));
        let done = done.clone();
        let stop = stop.clone();
        let delay = if w == o.workers { o.late_at } else { Duration::ZERO };
        handles.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let stats = CallStats::default();
            while !stop.load(Ordering::Relaxed) {
                if c.get_json("/v1/compliance/organizations", &[], &stats).await.is_ok() {
                    let at = t0.elapsed();
                    done.lock().unwrap_or_else(|e| e.into_inner()).push((w, at));
                }
            }
        }));
    }
    // limiter 429s per window, sampled at each window's end
    let mut limited_per_window = Vec::new();
    let mut prev = 0u64;
    for i in 1..=o.windows {
        let until = t0 + o.window * i;
        tokio::time::sleep_until(until.into()).await;
        let now = fake.stats().rate_limited;
        limited_per_window.push(now - prev);
        prev = now;
    }
    stop.store(true, Ordering::Relaxed);
    // a worker may sit in the budget's wait: stop it there
    for h in &handles {
        h.abort();
    }
    for h in handles {
        let _ = h.await;
    }
    let elapsed = run_for;
    let done = done.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut per_window = vec![vec![0u64; n]; o.windows as usize];
    for (w, at) in &done {
        let i = (at.as_secs_f64() / o.window.as_secs_f64()) as usize;
        if let Some(row) = per_window.get_mut(i) {
            row[*w] += 1;
        }
    }
    let total: u64 = per_window.iter().flatten().sum();
    let late_from = o.late_at;
    let late_to = o.late_at + o.window;
    let in_late: Vec<&(usize, Duration)> = done.iter().filter(|(_, at)| *at >= late_from && *at < late_to).collect();
    let late_n = in_late.iter().filter(|(w, _)| *w == o.workers).count() as u64;
    let fair = in_late.len() as f64 / n as f64;
    let log = fake.stats().request_log;
    let times: Vec<u64> = log.iter().filter(|r| r.status == 200).map(|r| r.at_ms).collect();
    let win_ms = o.window.as_millis() as u64;
    let mut max_in_any_window = 0u64;
    let mut j = 0usize;
    for i in 0..times.len() {
        while times[i] - times[j] >= win_ms {
            j += 1;
        }
        max_in_any_window = max_in_any_window.max((i - j + 1) as u64);
    }
    let limited_total = fake.stats().rate_limited;
    fake.shutdown().await;
    Report {
        per_window,
        limited_per_window,
        late_first_window: (late_n, fair),
        total,
        limited_total,
        max_in_any_window,
        elapsed,
    }
}
