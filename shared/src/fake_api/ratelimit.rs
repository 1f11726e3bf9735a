//! Sliding-window request budget shared by every key of the tenant (spec §6).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

/// Budget: `requests` per `window` (default 600 per 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { requests: 600, window: Duration::from_secs(60) }
    }
}

/// Values for the `anthropic-ratelimit-*` / `retry-after` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitState {
    pub limit: u32,
    pub remaining: u32,
    pub reset: DateTime<Utc>,
    /// Whole seconds (≥ 1) when rejected.
    pub retry_after: Option<u64>,
}

impl LimitState {
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![
            ("anthropic-ratelimit-requests-limit".to_string(), self.limit.to_string()),
            ("anthropic-ratelimit-requests-remaining".to_string(), self.remaining.to_string()),
            ("anthropic-ratelimit-requests-reset".to_string(), self.reset.to_rfc3339_opts(SecondsFormat::Secs, true)),
        ];
        if let Some(r) = self.retry_after {
            h.push(("retry-after".to_string(), r.to_string()));
        }
        h
    }
}

/// Sliding-window limiter. With `limit == None` it only tracks (never rejects) against the
/// default budget so the headers stay meaningful.
#[derive(Debug)]
pub struct Limiter {
    limit: Option<RateLimit>,
    hits: VecDeque<Instant>,
}

impl Limiter {
    pub fn new(limit: Option<RateLimit>) -> Self {
        Limiter { limit, hits: VecDeque::new() }
    }

    fn budget(&self) -> RateLimit {
        self.limit.unwrap_or_default()
    }

    fn reset_at(&self, now: Instant) -> DateTime<Utc> {
        let window = self.budget().window;
        let until =
            self.hits.front().map(|first| (*first + window).saturating_duration_since(now)).unwrap_or(Duration::ZERO);
        // round up to the next whole second so clients never retry early
        let secs = until.as_secs() + u64::from(until.subsec_nanos() > 0);
        let base = Utc::now();
        let base = base - chrono::Duration::nanoseconds(i64::from(base.timestamp_subsec_nanos()));
        base + chrono::Duration::seconds(secs as i64)
    }

    /// Count one request; `Err` when the budget is exhausted (the request is not counted).
    pub fn check(&mut self, now: Instant) -> Result<LimitState, LimitState> {
        let b = self.budget();
        while let Some(first) = self.hits.front() {
            if now.saturating_duration_since(*first) >= b.window {
                self.hits.pop_front();
            } else {
                break;
            }
        }
        if self.limit.is_some() && self.hits.len() as u64 >= u64::from(b.requests) {
            let until = self
                .hits
                .front()
                .map(|first| (*first + b.window).saturating_duration_since(now))
                .unwrap_or(Duration::ZERO);
            let secs = until.as_secs() + u64::from(until.subsec_nanos() > 0);
            return Err(LimitState {
                limit: b.requests,
                remaining: 0,
                reset: self.reset_at(now),
                retry_after: Some(secs.max(1)),
            });
        }
        self.hits.push_back(now);
        let used = self.hits.len().min(u32::MAX as usize) as u32;
        Ok(LimitState {
            limit: b.requests,
            remaining: b.requests.saturating_sub(used),
            reset: self.reset_at(now),
            retry_after: None,
        })
    }

    /// Current state without counting a request.
    pub fn peek(&self, now: Instant) -> LimitState {
        let b = self.budget();
        let used = self.hits.iter().filter(|h| now.saturating_duration_since(**h) < b.window).count() as u32;
        LimitState {
            limit: b.requests,
            remaining: b.requests.saturating_sub(used),
            reset: self.reset_at(now),
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window() {
        let mut l = Limiter::new(Some(RateLimit { requests: 2, window: Duration::from_millis(500) }));
        let t0 = Instant::now();
        assert_eq!(l.check(t0).map(|s| s.remaining), Ok(1));
        assert_eq!(l.check(t0).map(|s| s.remaining), Ok(0));
        let e = l.check(t0).unwrap_err();
        assert_eq!(e.retry_after, Some(1));
        assert!(l.check(t0 + Duration::from_millis(600)).is_ok());
    }
}
