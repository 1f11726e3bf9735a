//! Runs the serverless path in one process: the scheduler handler, then N concurrent workers that
//! drain the queue through the very same worker handler the Lambda uses. This is how tests,
//! operators and reviewers exercise the distributed path without deploying.

use super::scheduler::{schedule, ScheduleOutcome};
use super::worker::{work, Delivery, Outcome};
use super::{HandlerError, Runtime};
use crate::time::Timestamp;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct DriveReport {
    pub schedule: Option<ScheduleOutcome>,
    pub outcomes: Vec<(String, Outcome)>,
    pub records: u64,
    /// Deliveries of this run that ended without success: terminal failures, dead letters, and
    /// retryable failures still outstanding when the run gave up.
    pub unresolved: Vec<(String, Outcome)>,
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
    /// Kill an invocation at its deadline as Lambda does: its future is dropped, nothing after it
    /// runs (no ack, no lease release); the queue redelivers the message after its visibility timeout.
    pub hard_kill: bool,
    /// Receives after which a message counts as dead-lettered (the queue's redrive setting).
    pub max_receives: u32,
    /// With this run's jobs unfinished and nothing received for this long, re-send them: a message
    /// can sit invisible for the whole visibility timeout (a dead process's long poll took it). The
    /// duplicate is harmless: the job resumes from its committed checkpoint.
    pub resend_after: Duration,
}

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions {
            workers: 4,
            invocation: Duration::from_secs(900),
            batch_size: 1,
            max_wall: Duration::from_secs(3600),
            hard_kill: false,
            max_receives: 3,
            resend_after: Duration::from_secs(45),
        }
    }
}

/// Runs one scheduled run to its end: it is over when every job *this run* enqueued has ended
/// (done, stopped, dropped as a duplicate, failed terminally or dead-lettered). Messages of other
/// runs that this driver happens to receive are worked too, but never waited for: a killed earlier
/// run's invisible messages cannot hold this one up.
pub async fn drive(rt: Runtime, schedule_time: Timestamp, opts: DriveOptions) -> Result<DriveReport, HandlerError> {
    let sched = schedule(&rt, schedule_time, Some(tokio::time::Instant::now() + opts.invocation)).await?;
    let mut report = DriveReport { schedule: Some(sched), ..Default::default() };
    let (run_id, jobs, bodies) = match &report.schedule {
        Some(ScheduleOutcome::Enqueued { run_id, jobs, messages, .. }) => {
            (run_id.clone(), *jobs as i64, messages.clone())
        }
        _ => return Ok(report),
    };
    let outstanding = Arc::new(AtomicI64::new(jobs));
    // job key → its latest message body, while unfinished
    let unfinished: Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>> =
        Arc::new(std::sync::Mutex::new(
            bodies
                .iter()
                .filter_map(|b| {
                    serde_json::from_str::<super::JobMessage>(b).ok().map(|m| (m.job.key(&rt.cfg), b.clone()))
                })
                .collect(),
        ));
    let last_progress = Arc::new(std::sync::Mutex::new(tokio::time::Instant::now()));
    // set when this run's last job ends: wakes workers out of a long poll
    let (done_tx, done_rx) = tokio::sync::watch::channel(jobs <= 0);
    let done_tx = Arc::new(done_tx);
    let outcomes = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let unresolved = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let records = Arc::new(AtomicU64::new(0));
    let stop_at = tokio::time::Instant::now() + opts.max_wall;
    let mut set = tokio::task::JoinSet::new();
    for w in 0..opts.workers.max(1) {
        let (rt, outcomes, unresolved, records, outstanding) =
            (rt.clone(), outcomes.clone(), unresolved.clone(), records.clone(), outstanding.clone());
        let (unfinished, last_progress) = (unfinished.clone(), last_progress.clone());
        let (done_tx, mut done_rx) = (done_tx.clone(), done_rx.clone());
        let resend_after = opts.resend_after;
        let run_id = run_id.clone();
        let batch_size = opts.batch_size.max(1);
        let (invocation, hard_kill, max_receives) = (opts.invocation, opts.hard_kill, opts.max_receives);
        set.spawn(async move {
            let mut n = 0u64;
            while tokio::time::Instant::now() < stop_at && outstanding.load(Ordering::SeqCst) > 0 {
                // never cancel a receive mid-poll: the queue would hand its messages to nobody
                let received = rt.queue.receive(batch_size).await;
                if *done_rx.borrow_and_update() {
                    // this run is over; what this poll took goes back to the queue now
                    if let Ok(msgs) = &received {
                        for m in msgs {
                            let _ = rt.queue.release(&m.id).await;
                        }
                    }
                    break;
                }
                let msgs = match received {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                if msgs.is_empty() {
                    let stalled = {
                        let mut t = last_progress.lock().unwrap_or_else(|p| p.into_inner());
                        let s = t.elapsed() >= resend_after;
                        if s {
                            *t = tokio::time::Instant::now();
                        }
                        s
                    };
                    if stalled {
                        let missing: Vec<String> =
                            unfinished.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
                        if !missing.is_empty() {
                            tracing::warn!(
                                jobs = missing.len(),
                                "this run's jobs are not visible in the queue; re-sending them"
                            );
                            if let Err(e) = rt.queue.send(missing).await {
                                tracing::warn!(error = %e, "re-send failed");
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    continue;
                }
                *last_progress.lock().unwrap_or_else(|p| p.into_inner()) = tokio::time::Instant::now();
                n += 1;
                let owner = format!("driver-{}-w{w}-{n}", std::process::id());
                let deliveries: Vec<Delivery> = msgs
                    .iter()
                    .map(|m| Delivery {
                        message_id: m.id.clone(),
                        body: m.body.clone(),
                        receive_count: m.receive_count,
                    })
                    .collect();
                let deadline = tokio::time::Instant::now() + invocation;
                let call = work(&rt, deliveries.clone(), Some(deadline), &owner);
                let res = if hard_kill {
                    match tokio::time::timeout_at(deadline, call).await {
                        Ok(r) => r,
                        Err(_) => {
                            tracing::warn!(worker = w, "invocation killed at its deadline (hard kill)");
                            continue;
                        }
                    }
                } else {
                    call.await
                };
                for ((id, o), d) in res.into_iter().zip(deliveries) {
                    let parsed = serde_json::from_str::<super::JobMessage>(&d.body).ok();
                    let ours = parsed.as_ref().is_none_or(|m| m.run_id == run_id);
                    let job_key = parsed.as_ref().map(|m| m.job.key(&rt.cfg));
                    if let Outcome::Done { records: r } = o {
                        records.fetch_add(r, Ordering::Relaxed);
                    }
                    // Typed outcomes decide: success is acked; a retryable failure is released
                    // (redelivered until the redrive limit); a terminal one is dead-lettered at once.
                    enum Next {
                        Ack,
                        Release,
                        DeadLetter,
                    }
                    let (next, mut ended) = match &o {
                        Outcome::Done { .. } | Outcome::Stopped(_) | Outcome::Duplicate => (Next::Ack, true),
                        // replaced by the continuation / the deferred copy it enqueued
                        Outcome::Continued | Outcome::Deferred => (Next::Ack, false),
                        Outcome::Failed { retryable: false, .. } => (Next::DeadLetter, false),
                        Outcome::Failed { retryable: true, .. } => (Next::Release, d.receive_count >= max_receives),
                    };
                    let r = match next {
                        Next::Ack => rt.queue.ack(&id).await,
                        Next::Release => rt.queue.release(&id).await,
                        // where the queue cannot dead-letter directly, redrive does it after the receives
                        Next::DeadLetter => rt.queue.dead_letter(&id).await.map(|direct| {
                            ended = direct || d.receive_count >= max_receives;
                        }),
                    };
                    if ended && o.is_failure() && ours {
                        unresolved.lock().await.push((id.clone(), o.clone()));
                    }
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "ack/release failed");
                    }
                    if ours {
                        let mut u = unfinished.lock().unwrap_or_else(|p| p.into_inner());
                        match (&job_key, ended) {
                            // a re-sent duplicate of a job already finished does not count twice
                            (Some(k), true) => {
                                if u.remove(k).is_some() && outstanding.fetch_sub(1, Ordering::SeqCst) <= 1 {
                                    let _ = done_tx.send(true);
                                }
                            }
                            (Some(k), false) => {
                                // continued or deferred: its newest message is the one to re-send
                                if let (Some(m), Some(b)) = (parsed.as_ref(), u.get_mut(k)) {
                                    let next = super::JobMessage {
                                        continuation: m.continuation + 1,
                                        deferrals: 0,
                                        ..m.clone()
                                    };
                                    if let Ok(s) = serde_json::to_string(&next) {
                                        *b = s;
                                    }
                                }
                            }
                            // an unreadable message is no job of this run
                            (None, _) => {}
                        }
                    }
                    outcomes.lock().await.push((id, o));
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    report.outcomes = std::mem::take(&mut *outcomes.lock().await);
    report.unresolved = std::mem::take(&mut *unresolved.lock().await);
    let left = outstanding.load(Ordering::SeqCst);
    if left > 0 {
        tracing::error!(jobs = left, "gave up waiting for this run's jobs (max wall time)");
        report.unresolved.push((
            "(run)".into(),
            Outcome::Failed {
                error: format!("{left} job(s) of this run did not finish within the run's time limit"),
                retryable: true,
            },
        ));
    }
    report.records = records.load(Ordering::Relaxed);
    Ok(report)
}
