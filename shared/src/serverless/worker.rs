//! The worker: runs each job of a queue batch and reports per message, so one bad job never fails
//! the batch. A job runs under a lease (two workers never run one stream position at once), inside
//! `catch_unwind` (a panic fails only its message), and against the invocation deadline: before it,
//! the job saves its cursor and a continuation message is enqueued instead of being killed mid-page.

use super::{JobMessage, Runtime};
use crate::keys;
use crate::streams::{run_job, JobStats, SyncError};
use crate::time::Timestamp;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// One delivered message.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message_id: String,
    pub body: String,
    pub receive_count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done {
        records: u64,
    },
    /// Deadline reached: progress saved, continuation enqueued.
    Continued,
    /// Another worker holds this job; this duplicate delivery is dropped.
    Duplicate,
    Stopped(String),
    Failed {
        error: String,
        retryable: bool,
    },
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }
}

/// Runs a batch; returns each message's outcome (failures are the batch item failures).
pub async fn work(
    rt: &Runtime,
    batch: Vec<Delivery>,
    deadline: Option<tokio::time::Instant>,
    owner: &str,
) -> Vec<(String, Outcome)> {
    let mut out = Vec::with_capacity(batch.len());
    for d in batch {
        let outcome = match AssertUnwindSafe(work_one(rt, &d, deadline, owner)).catch_unwind().await {
            Ok(o) => o,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                tracing::error!(message_id = %d.message_id, panic = %msg, "job panicked; only its message fails");
                Outcome::Failed { error: format!("panic: {msg}"), retryable: true }
            }
        };
        out.push((d.message_id.clone(), outcome));
    }
    out
}

async fn work_one(rt: &Runtime, d: &Delivery, deadline: Option<tokio::time::Instant>, owner: &str) -> Outcome {
    let msg: JobMessage = match serde_json::from_str(&d.body) {
        Ok(m) => m,
        Err(e) => return Outcome::Failed { error: format!("unreadable job message: {e}"), retryable: false },
    };
    let key = msg.job.key(&rt.cfg);
    let span = tracing::info_span!("job", run_id = %msg.run_id, stream = msg.job.stream(), job = %key, message_id = %d.message_id, receive_count = d.receive_count);
    let _g = span.enter();
    let ttl = deadline
        .map(|dl| dl.saturating_duration_since(tokio::time::Instant::now()) + Duration::from_secs(30))
        .unwrap_or(Duration::from_secs(900));
    match rt.leases.acquire(&key, owner, ttl).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("job already running elsewhere; duplicate delivery dropped");
            return Outcome::Duplicate;
        }
        Err(e) => return Outcome::Failed { error: e.to_string(), retryable: true },
    }
    let (outcome, continuation) = run(rt, &msg, deadline).await;
    if let Err(e) = rt.leases.release(&key, owner).await {
        tracing::warn!(error = %e, "lease release failed; it expires by itself");
    }
    // The continuation goes out only after the lease is released: a worker receiving it while we
    // still held the lease would take it for a duplicate and drop it.
    let Some(next) = continuation else { return outcome };
    match serde_json::to_string(&next) {
        Ok(body) => match rt.queue.send(vec![body]).await {
            Ok(()) => {
                tracing::info!(
                    continuation = next.continuation,
                    "deadline near: progress saved, continuation enqueued"
                );
                Outcome::Continued
            }
            // the cursor is saved; failing the message makes the queue redeliver it
            Err(e) => Outcome::Failed { error: format!("continuation not enqueued: {e}"), retryable: true },
        },
        Err(e) => Outcome::Failed { error: e.to_string(), retryable: false },
    }
}

/// Runs the job; returns its outcome and, after a deadline, the continuation to enqueue.
async fn run(rt: &Runtime, msg: &JobMessage, deadline: Option<tokio::time::Instant>) -> (Outcome, Option<JobMessage>) {
    let client = match rt.client().await {
        Ok(Some(c)) => c,
        Ok(None) => return (Outcome::Stopped("no Compliance Access Key (revoked or missing)".into()), None),
        Err(e) => return (Outcome::Failed { error: e.to_string(), retryable: true }, None),
    };
    let mut continuation = None;
    let ctx = rt.context(client, &msg.run_id, deadline);
    let stats = JobStats::default();
    let res = run_job(&ctx, &msg.job, &stats).await;
    if rt.emit_metrics {
        // a deadline continuation is progress, not a failure
        let ok = matches!(res, Ok(_) | Err(SyncError::Deadline));
        let lag = crate::observability::checkpoint_lag_secs(rt.state.as_ref(), &msg.job.key(&rt.cfg)).await;
        crate::observability::emit_job_metrics(msg.job.stream(), &stats, ok, lag);
    }
    let (req, _, rl, _) = stats.calls.snapshot();
    let outcome = match res {
        Ok(_) => Outcome::Done { records: stats.total_records() },
        Err(SyncError::Deadline) => {
            continuation = Some(JobMessage { continuation: msg.continuation + 1, ..msg.clone() });
            Outcome::Continued
        }
        Err(e) => Outcome::Failed { error: e.to_string(), retryable: e.is_retryable() },
    };
    // Key monitoring: last success / last error and use, best effort.
    let err = match &outcome {
        Outcome::Failed { error, .. } => Some(error.clone()),
        _ => None,
    };
    let _ = keys::update_record(rt.state.as_ref(), |r| {
        r.requests += req;
        r.rate_limited += rl;
        match &err {
            None => r.last_success_at = Some(Timestamp::now()),
            Some(e) => {
                r.last_error = Some(e.clone());
                r.last_error_at = Some(Timestamp::now());
            }
        }
    })
    .await;
    (outcome, continuation)
}
