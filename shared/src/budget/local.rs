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

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct State {
    per_minute: u32,
    configured: u32,
    next_slot: Instant,
    window: VecDeque<Instant>,
    pause_until: Option<Instant>,
    /// Requests per window that someone else is spending (seen in `remaining`), until when.
    external: Option<(usize, Instant)>,
    stats: BudgetStats,
}

/// Paces one process to `per_minute` requests per minute (`0` = unlimited).
#[derive(Debug)]
pub struct LocalBudget {
    state: Mutex<State>,
    /// Fraction of the budget we aim for, leaving room for request-latency jitter at the server.
    headroom: f64,
    /// The limiter's window (60 s for the real API; shorter in tests against a fake with a short window).
    window: Duration,
}

impl LocalBudget {
    pub fn new(per_minute: u32) -> Self {
        Self::with_headroom(per_minute, 0.97)
    }

    pub fn with_headroom(per_minute: u32, headroom: f64) -> Self {
        Self::with_window(per_minute, MINUTE, headroom)
    }

    /// `per_window` requests per `window` (the budget is still reported per minute).
    pub fn with_window(per_window: u32, window: Duration, headroom: f64) -> Self {
        let window = window.max(Duration::from_millis(100));
        let per_minute = (per_window as f64 * 60.0 / window.as_secs_f64()).round() as u32;
        let now = Instant::now();
        LocalBudget {
            state: Mutex::new(State {
                per_minute,
                configured: per_minute,
                next_slot: now,
                window: VecDeque::new(),
                pause_until: None,
                external: None,
                stats: BudgetStats { per_minute, ..Default::default() },
            }),
            headroom: headroom.clamp(0.1, 1.0),
            window,
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
        let per_window = (target * self.window.as_secs_f64() / 60.0).floor().max(1.0);
        let mut cap = (per_window as usize).max(1);
        if let Some((ext, until)) = s.external {
            if until > now {
                cap = cap.saturating_sub(ext).max(1);
                interval = interval.max(self.window / cap as u32);
            } else {
                s.external = None;
            }
        }
        let mut slot = s.next_slot.max(now);
        if let Some(p) = s.pause_until {
            if p > slot {
                slot = p;
            }
        }
        // Sliding window: the oldest of the last `cap` requests must be a full window before this one.
        let window = self.window;
        while let Some(front) = s.window.front() {
            if *front + window <= slot {
                s.window.pop_front();
            } else {
                break;
            }
        }
        if s.window.len() >= cap {
            if let Some(oldest) = s.window.get(s.window.len() - cap) {
                slot = slot.max(*oldest + window + Duration::from_millis(5));
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
        if s.configured == 0 {
            return; // pacing switched off on purpose (benchmarks, fakes); 429s still pause
        }
        if let Some(limit) = info.limit {
            // The server's limit is per its window (a minute for the real API); never go above
            // what the operator configured; follow the server down.
            let limit = (limit as f64 * 60.0 / self.window.as_secs_f64()).round() as u32;
            let want = s.configured.min(limit);
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
                } else if s.per_minute > 0 {
                    // What our own accounting says should be left; less than that means another
                    // tool spends the same budget: give that much up until the reset.
                    let cap = (s.per_minute as f64 * self.window.as_secs_f64() / 60.0).floor();
                    let ours = s.window.iter().filter(|t| **t + self.window > now).count() as f64;
                    let external = (cap - ours - rem as f64).max(0.0);
                    if external >= 1.0 && external > cap * 0.05 {
                        s.external = Some((external as usize, until));
                    }
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
            let in_window = times[i..].iter().take_while(|u| **u < *t + MINUTE).count();
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

#[cfg(test)]
mod external_tests {
    use super::*;
    use crate::time::Timestamp;

    #[tokio::test(start_paused = true)]
    async fn gives_up_what_another_tool_spends() {
        let b = LocalBudget::with_headroom(600, 1.0);
        // nobody else: remaining matches our own use, nothing changes
        b.observe(&RateLimitInfo {
            limit: Some(600),
            remaining: Some(600),
            reset: Some(Timestamp::now().plus(chrono::Duration::seconds(60))),
        });
        assert!(b.lock().external.is_none());
        // another tool has used 300 of the window
        b.observe(&RateLimitInfo {
            limit: Some(600),
            remaining: Some(300),
            reset: Some(Timestamp::now().plus(chrono::Duration::seconds(60))),
        });
        assert_eq!(b.lock().external.map(|e| e.0), Some(300));
        let start = Instant::now();
        for _ in 0..11 {
            b.acquire().await;
        }
        assert!(Instant::now() - start >= Duration::from_millis(1990), "half the pace: {:?}", Instant::now() - start);
    }
}
