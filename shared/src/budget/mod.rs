//! The request budget: every call to the Compliance API takes a token first, so that everything a
//! tenant runs stays inside its single requests-per-minute limit (600 by default, shared by all keys
//! and endpoints). The local implementation paces one process; the AWS one (issue 3) shares the
//! budget across Lambda workers through a DynamoDB counter. Both honour a shared pause after a 429.

pub mod local;

pub use local::LocalBudget;

use crate::time::Timestamp;
use async_trait::async_trait;
use std::time::Duration;

/// What the server said about its limiter on one response (`anthropic-ratelimit-requests-*`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimitInfo {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    pub reset: Option<Timestamp>,
}

impl RateLimitInfo {
    pub fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.reset.is_none()
    }
}

/// Counters for the end-of-run summary and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetStats {
    pub acquired: u64,
    pub waited: Duration,
    pub rate_limited: u64,
    pub per_minute: u32,
}

#[async_trait]
pub trait RequestBudget: Send + Sync {
    /// Waits until one more request may be sent, and takes that slot.
    async fn acquire(&self);
    /// Feeds back the server's view after a response, so pacing follows the real limiter
    /// (other tools may be spending the same budget).
    fn observe(&self, info: &RateLimitInfo);
    /// A 429 arrived: nobody sends before `retry_after` has passed.
    fn rate_limited(&self, retry_after: Duration);
    fn stats(&self) -> BudgetStats;
}
