//! The worker: runs each job of a queue batch and reports per message, so one bad job never fails
//! the batch. A job runs under a lease (two workers never run one stream position at once), inside
//! `catch_unwind` (a panic fails only its message), and against the invocation deadline: before it,
//! the job saves its cursor and a continuation message is enqueued instead of being killed mid-page.

use super::{JobMessage, Runtime};
use crate::keys;
use crate::streams::{run_job, JobStats, SyncError};
use crate::sync::JobResult;
use crate::time::Timestamp;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
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
    /// Another worker holds this job's lease: the delivery was put back with a delay (the holder
    /// may be a killed invocation whose lease is about to expire).
    Deferred,
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
                let msg = panic_message(panic);
                tracing::error!(message_id = %d.message_id, panic = %msg, "job panicked; only its message fails");
                Outcome::Failed { error: format!("panic: {msg}"), retryable: true }
            }
        };
        out.push((d.message_id.clone(), outcome));
    }
    out
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// How often a delivery is put back while another worker holds its job, before it is dropped.
pub const MAX_DEFERRALS: u32 = 8;

async fn work_one(rt: &Runtime, d: &Delivery, deadline: Option<tokio::time::Instant>, owner: &str) -> Outcome {
    let msg: JobMessage = match serde_json::from_str(&d.body) {
        Ok(m) => m,
        Err(e) => return Outcome::Failed { error: format!("unreadable job message: {e}"), retryable: false },
    };
    let key = msg.job.key(&rt.cfg);
    let span = tracing::info_span!("job", run_id = %msg.run_id, stream = msg.job.stream(), job = %key, message_id = %d.message_id, receive_count = d.receive_count);
    let _g = span.enter();
    let ttl = rt.lease_ttl.max(Duration::from_millis(30));
    match rt.leases.acquire(&key, owner, ttl).await {
        Ok(true) => {}
        Ok(false) if msg.deferrals >= MAX_DEFERRALS => {
            tracing::info!("job still running elsewhere after {} deferrals; duplicate delivery dropped", msg.deferrals);
            return Outcome::Duplicate;
        }
        Ok(false) => {
            // Put it back rather than drop it: the holder may be dead (its lease then expires).
            let next = JobMessage { deferrals: msg.deferrals + 1, ..msg.clone() };
            // 1 s, 2 s, 4 s, … up to the lease's TTL: a live holder (often a shard woken by work
            // it is already doing) is waited for briefly; a dead one's lease runs out within the TTL
            let delay = ttl.min(Duration::from_secs(1u64 << msg.deferrals.min(10))).min(Duration::from_secs(900));
            return match serde_json::to_string(&next) {
                Ok(body) => match rt.queue.send_delayed(vec![body], delay).await {
                    Ok(()) => {
                        tracing::info!(delay_s = delay.as_secs(), "job held by another worker; delivery deferred");
                        Outcome::Deferred
                    }
                    Err(e) => Outcome::Failed { error: format!("deferral not enqueued: {e}"), retryable: true },
                },
                Err(e) => Outcome::Failed { error: e.to_string(), retryable: false },
            };
        }
        Err(e) => return Outcome::Failed { error: e.to_string(), retryable: true },
    }
    // A panic inside the job must still release the lease, or its redelivery would wait for expiry.
    // The heartbeat lives inside this future, not in a spawned task: when an invocation is killed
    // (the future dropped), renewal stops with it and the lease runs out within one TTL.
    let heartbeat = async {
        #[allow(clippy::infinite_loop)]
        loop {
            tokio::time::sleep(ttl / 3).await;
            match rt.leases.acquire(&key, owner, ttl).await {
                Ok(true) => {}
                Ok(false) => tracing::error!("lease lost to another worker; its conditional commit will fail ours"),
                Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
            }
        }
    };
    let job = AssertUnwindSafe(run(rt, &msg, &key, deadline)).catch_unwind();
    let res = tokio::select! {
        r = job => r,
        _ = heartbeat => Ok((Outcome::Failed { error: "lease heartbeat ended".into(), retryable: true }, None)),
    };
    let (outcome, continuation) = match res {
        Ok(r) => r,
        Err(panic) => {
            let m = panic_message(panic);
            tracing::error!(panic = %m, "job panicked; only its message fails");
            (Outcome::Failed { error: format!("panic: {m}"), retryable: true }, None)
        }
    };
    if let Err(e) = rt.leases.release(&key, owner).await {
        tracing::warn!(error = %e, "lease release failed; it expires by itself");
    }
    // The continuation goes out only after the lease is released: a worker receiving it while we
    // still held the lease would take it for a duplicate.
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
async fn run(
    rt: &Runtime,
    msg: &JobMessage,
    key: &str,
    deadline: Option<tokio::time::Instant>,
) -> (Outcome, Option<JobMessage>) {
    let client = match rt.client().await {
        Ok(Some(c)) => c,
        Ok(None) => return (Outcome::Stopped("no Compliance Access Key (revoked or missing)".into()), None),
        Err(e) => return (Outcome::Failed { error: e.to_string(), retryable: true }, None),
    };
    // --- source binding (issue 10): a job enqueued for another source (e.g. in flight when a
    // deployment switched from Synthetic=true to false) must not run on this state
    match crate::binding::check_bound(rt.state.as_ref(), rt.source_mode, &client.config().base_url).await {
        Ok(()) => {}
        Err(e @ crate::binding::BindingError::Mismatch { .. }) => {
            tracing::error!(reason = %e, "job of another source dropped");
            return (Outcome::Stopped(e.to_string()), None);
        }
        Err(e) => return (Outcome::Failed { error: e.to_string(), retryable: e.is_retryable() }, None),
    }
    // --- end source binding
    let mut continuation = None;
    let mut ctx = rt.context(client, &msg.run_id, deadline);
    ctx.spawner = Some(Arc::new(super::QueueSpawner {
        queue: rt.queue.clone(),
        run_id: msg.run_id.clone(),
        schedule_time: msg.schedule_time,
    }));
    let stats = Arc::new(JobStats::default());
    rt.observer.started(&msg.job, key, stats.clone());
    let t0 = std::time::Instant::now();
    let res = run_job(&ctx, &msg.job, &stats).await;
    let (req, _, rl, _) = stats.calls.snapshot();
    let (outcome, result) = match res {
        Ok(_) => (Outcome::Done { records: stats.total_records() }, JobResult::Done),
        Err(SyncError::Deadline) => {
            continuation = Some(JobMessage { continuation: msg.continuation + 1, deferrals: 0, ..msg.clone() });
            (Outcome::Continued, JobResult::Continued)
        }
        Err(e) => {
            let (error, retryable) = (e.to_string(), e.is_retryable());
            tracing::error!(%error, retryable, "job failed; its checkpoint did not move past committed data");
            (Outcome::Failed { error: error.clone(), retryable }, JobResult::Failed { error, retryable })
        }
    };
    rt.observer.finished(&msg.job, key, &stats, &result, t0.elapsed());
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
