//! In-process pacing. Two guards together:
//! - spacing: consecutive requests at least `60 s / budget` apart (smooth, no burst at the start of
//!   a minute), reserved under a lock so concurrent tasks queue fairly;
//! - a sliding 60-second window that never holds more than the budget, which is what the server
//!   enforces, so clock skew between slots cannot push one window over.
//!
//! The server's headers recalibrate it: a lower `limit` lowers the budget; when `remaining` is
//! smaller than what we would spend before `reset`, the pace slows to fit.

use super::{BudgetStats, RateLimitInfo, RequestBudget};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct State {
    per_minute: u32,
    configured: u32,
    next_slot: Instant,
    window: VecDeque<Instant>,
    pause_until: Option<Instant>,
    /// Interval imposed by the server's remaining/reset, if tighter than ours.
    server_interval: Option<(Duration, Instant)>,
    stats: BudgetStats,
}

/// Paces one process to `per_minute` requests per minute (`0` = unlimited).
#[derive(Debug)]
pub struct LocalBudget {
    state: Mutex<State>,
    /// Fraction of the budget we aim for, leaving room for request-latency jitter at the server.
    headroom: f64,
}

impl LocalBudget {
    pub fn new(per_minute: u32) -> Self {
        Self::with_headroom(per_minute, 0.97)
    }

    pub fn with_headroom(per_minute: u32, headroom: f64) -> Self {
        let now = Instant::now();
        LocalBudget {
            state: Mutex::new(State {
                per_minute,
                configured: per_minute,
                next_slot: now,
                window: VecDeque::new(),
                pause_until: None,
                server_interval: None,
                stats: BudgetStats { per_minute, ..Default::default() },
            }),
            headroom: headroom.clamp(0.1, 1.0),
        }
    }

    pub fn unlimited() -> Self {
        Self::new(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another task panicked mid-update; the numbers are still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves the next slot and returns when it is.
    fn reserve(&self, now: Instant) -> Instant {
        let mut s = self.lock();
        s.stats.acquired += 1;
        if s.per_minute == 0 {
            return s.pause_until.filter(|p| *p > now).unwrap_or(now);
        }
        let target = (s.per_minute as f64 * self.headroom).max(1.0);
        let mut interval = Duration::from_secs_f64(60.0 / target);
        if let Some((si, until)) = s.server_interval {
            if until > now {
                interval = interval.max(si);
            } else {
                s.server_interval = None;
            }
        }
        let mut slot = s.next_slot.max(now);
        if let Some(p) = s.pause_until {
            if p > slot {
                slot = p;
            }
        }
        // Sliding window: the oldest of the last `cap` requests must be ≥ 60 s before this one.
        let cap = (target.floor() as usize).max(1);
        while let Some(front) = s.window.front() {
            if *front + WINDOW <= slot {
                s.window.pop_front();
            } else {
                break;
            }
        }
        if s.window.len() >= cap {
            if let Some(oldest) = s.window.get(s.window.len() - cap) {
                slot = slot.max(*oldest + WINDOW + Duration::from_millis(5));
            }
        }
        s.window.push_back(slot);
        s.next_slot = slot + interval;
        slot
    }
}

#[async_trait]
impl RequestBudget for LocalBudget {
    async fn acquire(&self) {
        let now = Instant::now();
        let slot = self.reserve(now);
        if slot > now {
            tokio::time::sleep_until(slot).await;
            self.lock().stats.waited += slot - now;
        }
    }

    fn observe(&self, info: &RateLimitInfo) {
        let mut s = self.lock();
        if let Some(limit) = info.limit {
            // Never go above what the operator configured; follow the server down.
            let want = if s.configured == 0 { limit } else { s.configured.min(limit) };
            if want > 0 && want != s.per_minute {
                s.per_minute = want;
                s.stats.per_minute = want;
            }
        }
        if let (Some(rem), Some(reset)) = (info.remaining, info.reset) {
            let secs = (reset.0 - chrono::Utc::now()).num_milliseconds() as f64 / 1000.0;
            if secs > 0.0 {
                let now = Instant::now();
                let until = now + Duration::from_secs_f64(secs);
                if rem == 0 {
                    s.pause_until = Some(s.pause_until.map_or(until, |p| p.max(until)));
                } else {
                    // Spread what is left over the time to reset, keeping one request in reserve.
                    let iv = Duration::from_secs_f64(secs / rem.saturating_sub(1).max(1) as f64);
                    s.server_interval = Some((iv, until));
                }
            }
        }
    }

    fn rate_limited(&self, retry_after: Duration) {
        let mut s = self.lock();
        s.stats.rate_limited += 1;
        let until = Instant::now() + retry_after;
        s.pause_until = Some(s.pause_until.map_or(until, |p| p.max(until)));
    }

    fn stats(&self) -> BudgetStats {
        self.lock().stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_evenly() {
        let b = LocalBudget::with_headroom(600, 1.0);
        let start = Instant::now();
        for _ in 0..11 {
            b.acquire().await;
        }
        // 10 intervals of 100 ms
        assert_eq!(Instant::now() - start, Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_budget_in_any_window() {
        let b = std::sync::Arc::new(LocalBudget::new(120));
        let mut times = Vec::new();
        for _ in 0..300 {
            b.acquire().await;
            times.push(Instant::now());
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|u| **u < *t + WINDOW).count();
            assert!(in_window <= 120, "{in_window} requests in one minute");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pause_after_429_holds_everyone() {
        let b = LocalBudget::unlimited();
        b.rate_limited(Duration::from_secs(5));
        let start = Instant::now();
        b.acquire().await;
        assert!(Instant::now() - start >= Duration::from_secs(5));
        assert_eq!(b.stats().rate_limited, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn follows_server_limit_down_not_up() {
        let b = LocalBudget::new(600);
        b.observe(&RateLimitInfo { limit: Some(300), remaining: None, reset: None });
        assert_eq!(b.stats().per_minute, 300);
        b.observe(&RateLimitInfo { limit: Some(6000), remaining: None, reset: None });
        assert_eq!(b.stats().per_minute, 600);
    }
}
