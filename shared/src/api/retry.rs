//! The retry policy of the spec, as pure functions: 429 honours `retry-after` (fallback exponential
//! 1 s → 60 s) and never advances a cursor; 5xx/529 and transport failures back off with jitter unless
//! `x-should-retry: false`; 4xx are never retried.

use super::error::RetryDecision;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all (first try included) for 5xx / transport / malformed responses.
    pub max_attempts: u32,
    /// Attempts in all for 429s. Rate limiting is expected under shared budgets, so this is larger.
    pub max_rate_limited_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            max_rate_limited_attempts: 12,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        }
    }
}

/// What went wrong on one attempt, as seen by the policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure {
    /// HTTP status with the headers that matter.
    Status { status: u16, retry_after: Option<Duration>, should_retry: Option<bool> },
    /// Connect/read timeout, reset connection, truncated body.
    Transport,
    /// A 2xx whose body was not the JSON we expect (truncated or corrupted in flight).
    Malformed,
    /// 429 `transcript_read_server_busy`: not the rate limit. Wait `retry-after`, resend unchanged.
    TranscriptBusy { retry_after: Option<Duration> },
}

impl RetryPolicy {
    /// `attempt` is 1 for the first failure. `jitter` in [0, 1) keeps workers from retrying in lockstep.
    pub fn decide(&self, failure: Failure, attempt: u32, jitter: f64) -> RetryDecision {
        match failure {
            Failure::Status { status: 429, retry_after, .. } => {
                if attempt >= self.max_rate_limited_attempts {
                    return RetryDecision::GiveUp;
                }
                match retry_after {
                    // The server's figure already includes a safety margin; never wait less.
                    Some(d) => RetryDecision::RetryAfter(d.max(Duration::from_millis(100))),
                    None => RetryDecision::RetryAfter(self.backoff(attempt, 0.0)),
                }
            }
            Failure::Status { status, should_retry, .. } => {
                if should_retry == Some(false) {
                    return RetryDecision::GiveUp;
                }
                let transient = status >= 500 || status == 408 || should_retry == Some(true);
                if !transient || attempt >= self.max_attempts {
                    return RetryDecision::GiveUp;
                }
                RetryDecision::RetryAfter(self.backoff(attempt, jitter))
            }
            Failure::TranscriptBusy { retry_after } => {
                if attempt >= self.max_rate_limited_attempts {
                    return RetryDecision::GiveUp;
                }
                RetryDecision::RetryAfter(match retry_after {
                    Some(d) => d.max(Duration::from_millis(100)),
                    None => self.backoff(attempt, 0.0),
                })
            }
            Failure::Transport | Failure::Malformed => {
                if attempt >= self.max_attempts {
                    return RetryDecision::GiveUp;
                }
                RetryDecision::RetryAfter(self.backoff(attempt, jitter))
            }
        }
    }

    /// Exponential from `base`, doubling, capped; "full jitter" between half and all of it.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let raw = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let j = jitter.clamp(0.0, 1.0);
        raw.mul_f64(1.0 - 0.5 * j)
    }
}

/// Parses `retry-after`: delta-seconds (possibly fractional) or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(3600.0)));
        }
        return None;
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let d = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(d.to_std().unwrap_or(Duration::ZERO).min(Duration::from_secs(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(status: u16, ra: Option<u64>, sr: Option<bool>) -> Failure {
        Failure::Status { status, retry_after: ra.map(Duration::from_secs), should_retry: sr }
    }

    #[test]
    fn table() {
        let p = RetryPolicy::default();
        let s = Duration::from_secs;
        let cases: Vec<(Failure, u32, RetryDecision)> = vec![
            (st(429, Some(25), None), 1, RetryDecision::RetryAfter(s(25))),
            (st(429, None, None), 1, RetryDecision::RetryAfter(s(1))),
            (st(429, None, None), 3, RetryDecision::RetryAfter(s(4))),
            (st(429, None, None), 9, RetryDecision::RetryAfter(s(60))),
            (st(429, Some(1), None), 12, RetryDecision::GiveUp),
            (st(500, None, None), 1, RetryDecision::RetryAfter(s(1))),
            (st(500, None, Some(false)), 1, RetryDecision::GiveUp),
            (st(503, None, None), 2, RetryDecision::RetryAfter(s(2))),
            (st(529, None, None), 2, RetryDecision::RetryAfter(s(2))),
            (st(502, None, None), 6, RetryDecision::GiveUp),
            (st(400, None, None), 1, RetryDecision::GiveUp),
            (st(401, None, None), 1, RetryDecision::GiveUp),
            (st(403, None, None), 1, RetryDecision::GiveUp),
            (st(404, None, None), 1, RetryDecision::GiveUp),
            (st(409, None, None), 1, RetryDecision::GiveUp),
            (Failure::Transport, 1, RetryDecision::RetryAfter(s(1))),
            (Failure::Malformed, 2, RetryDecision::RetryAfter(s(2))),
            (Failure::Transport, 6, RetryDecision::GiveUp),
            (Failure::TranscriptBusy { retry_after: Some(s(7)) }, 1, RetryDecision::RetryAfter(s(7))),
            (Failure::TranscriptBusy { retry_after: None }, 2, RetryDecision::RetryAfter(s(2))),
            (Failure::TranscriptBusy { retry_after: Some(s(1)) }, 12, RetryDecision::GiveUp),
        ];
        for (f, a, want) in cases {
            assert_eq!(p.decide(f, a, 0.0), want, "{f:?} attempt {a}");
        }
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        let p = RetryPolicy::default();
        for j in [0.0, 0.3, 0.999] {
            let d = p.backoff(4, j);
            assert!(d <= Duration::from_secs(8) && d >= Duration::from_secs(4), "{d:?}");
        }
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("25"), Some(Duration::from_secs(25)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-3"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").is_some());
    }
}
