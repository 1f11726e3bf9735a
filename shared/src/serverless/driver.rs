//! Runs the serverless path in one process: the scheduler handler, then N concurrent workers that
//! drain the queue through the very same worker handler the Lambda uses. This is how tests,
//! operators and reviewers exercise the distributed path without deploying.

use super::scheduler::{schedule, ScheduleOutcome};
use super::worker::{work, Delivery, Outcome};
use super::{HandlerError, Runtime};
use crate::time::Timestamp;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct DriveReport {
    pub schedule: Option<ScheduleOutcome>,
    pub outcomes: Vec<(String, Outcome)>,
    pub records: u64,
}

impl DriveReport {
    pub fn failures(&self) -> Vec<&(String, Outcome)> {
        self.outcomes.iter().filter(|(_, o)| o.is_failure()).collect()
    }
}

pub struct DriveOptions {
    pub workers: usize,
    /// Simulated invocation length (each worker invocation gets this deadline).
    pub invocation: Duration,
    pub batch_size: usize,
    /// Give up draining after this long.
    pub max_wall: Duration,
}

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions {
            workers: 4,
            invocation: Duration::from_secs(900),
            batch_size: 1,
            max_wall: Duration::from_secs(3600),
        }
    }
}

pub async fn drive(rt: Runtime, schedule_time: Timestamp, opts: DriveOptions) -> Result<DriveReport, HandlerError> {
    let sched = schedule(&rt, schedule_time, Some(tokio::time::Instant::now() + opts.invocation)).await?;
    let mut report = DriveReport { schedule: Some(sched), ..Default::default() };
    if !matches!(report.schedule, Some(ScheduleOutcome::Enqueued { .. })) {
        return Ok(report);
    }
    let outcomes = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let records = Arc::new(AtomicU64::new(0));
    let stop_at = tokio::time::Instant::now() + opts.max_wall;
    let mut set = tokio::task::JoinSet::new();
    for w in 0..opts.workers.max(1) {
        let (rt, outcomes, records) = (rt.clone(), outcomes.clone(), records.clone());
        let batch_size = opts.batch_size.max(1);
        let invocation = opts.invocation;
        set.spawn(async move {
            let mut empty = 0;
            let mut n = 0u64;
            while tokio::time::Instant::now() < stop_at {
                let msgs = match rt.queue.receive(batch_size).await {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                if msgs.is_empty() {
                    empty += 1;
                    let depth = rt.queue.depth().await.unwrap_or(None);
                    if depth == Some(0) || empty > 50 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                empty = 0;
                n += 1;
                let owner = format!("driver-w{w}-{n}");
                let deliveries: Vec<Delivery> = msgs
                    .iter()
                    .map(|m| Delivery {
                        message_id: m.id.clone(),
                        body: m.body.clone(),
                        receive_count: m.receive_count,
                    })
                    .collect();
                let res = work(&rt, deliveries, Some(tokio::time::Instant::now() + invocation), &owner).await;
                for (id, o) in res {
                    if let Outcome::Done { records: r } = o {
                        records.fetch_add(r, Ordering::Relaxed);
                    }
                    let ack = !o.is_failure();
                    let r = if ack { rt.queue.ack(&id).await } else { rt.queue.release(&id).await };
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "ack/release failed");
                    }
                    outcomes.lock().await.push((id, o));
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    report.outcomes = std::mem::take(&mut *outcomes.lock().await);
    report.records = records.load(Ordering::Relaxed);
    Ok(report)
}
