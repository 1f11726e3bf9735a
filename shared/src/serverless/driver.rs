//! Runs the serverless path in one process: the scheduler handler, then N concurrent workers that
//! drain the queue through the very same worker handler the Lambda uses. This is how tests,
//! operators and reviewers exercise the distributed path without deploying.

use super::scheduler::{schedule, ScheduleOutcome};
use super::worker::{work, Delivery, Outcome};
use super::{HandlerError, Runtime};
use crate::store::{QueueMessage, StoreError, WorkQueue};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// This run's unfinished jobs: job key → (its newest message, when it was sent). A job is finished
/// when a run of it that *started after* its newest message was sent ends; so work handed to a job
/// while it was already running (a chats commit waking a busy shard) is never left behind.
struct Tracker {
    run_id: String,
    cfg: Arc<crate::streams::SyncConfig>,
    jobs: Mutex<BTreeMap<String, (String, tokio::time::Instant)>>,
    done: tokio::sync::watch::Sender<bool>,
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (String, tokio::time::Instant)>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn key_of(&self, body: &str) -> Option<String> {
        let m = serde_json::from_str::<super::JobMessage>(body).ok()?;
        (m.run_id == self.run_id).then(|| m.job.key(&self.cfg))
    }

    fn sent(&self, bodies: &[String]) {
        let now = tokio::time::Instant::now();
        let mut jobs = self.lock();
        for b in bodies {
            if let Some(k) = self.key_of(b) {
                jobs.insert(k, (b.clone(), now));
            }
        }
    }

    /// A delivery of `key` that started at `started` ended; `force`: ended for good (dead letter,
    /// terminal failure, stop) whatever was sent since.
    fn ended(&self, key: &str, started: tokio::time::Instant, force: bool) {
        let mut jobs = self.lock();
        if jobs.get(key).is_some_and(|(_, sent)| force || started >= *sent) {
            jobs.remove(key);
        }
        if jobs.is_empty() {
            let _ = self.done.send(true);
        }
    }

    fn outstanding(&self) -> usize {
        self.lock().len()
    }

    fn bodies(&self) -> Vec<String> {
        self.lock().values().map(|(b, _)| b.clone()).collect()
    }
}

/// The queue as this run's workers see it: every message of this run sent through it (fan-out,
/// continuations, deferrals, jobs handed work) is tracked.
struct TrackingQueue {
    inner: Arc<dyn WorkQueue>,
    tracker: Arc<Tracker>,
}

#[async_trait::async_trait]
impl WorkQueue for TrackingQueue {
    async fn send(&self, bodies: Vec<String>) -> Result<(), StoreError> {
        self.tracker.sent(&bodies);
        self.inner.send(bodies).await
    }
    async fn send_delayed(&self, bodies: Vec<String>, delay: Duration) -> Result<(), StoreError> {
        self.tracker.sent(&bodies);
        self.inner.send_delayed(bodies, delay).await
    }
    async fn receive(&self, max: usize) -> Result<Vec<QueueMessage>, StoreError> {
        self.inner.receive(max).await
    }
    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.inner.ack(id).await
    }
    async fn release(&self, id: &str) -> Result<(), StoreError> {
        self.inner.release(id).await
    }
    async fn dead_letter(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.dead_letter(id).await
    }
    async fn depth(&self) -> Result<Option<u64>, StoreError> {
        self.inner.depth().await
    }
}

#[derive(Debug, Default)]
pub struct DriveReport {
    pub schedule: Option<ScheduleOutcome>,
    pub outcomes: Vec<(String, Outcome)>,
    pub records: u64,
    /// Deliveries of this run that ended without success: terminal failures, dead letters, and
    /// retryable failures still outstanding when the run gave up.
    pub unresolved: Vec<(String, Outcome)>,
    /// Per job of this run: the longest continuation chain it ran (deadline continuations in a row).
    pub chains: BTreeMap<String, u32>,
}

impl DriveReport {
    /// The job with the longest continuation chain, and its length.
    pub fn longest_chain(&self) -> Option<(&str, u32)> {
        self.chains.iter().max_by_key(|(_, n)| **n).map(|(k, n)| (k.as_str(), *n))
    }

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
    let (done_tx, done_rx) = tokio::sync::watch::channel(jobs == 0);
    let tracker = Arc::new(Tracker {
        run_id: run_id.clone(),
        cfg: rt.cfg.clone(),
        jobs: Mutex::new(BTreeMap::new()),
        done: done_tx,
    });
    tracker.sent(&bodies);
    let mut rt = rt;
    rt.queue = Arc::new(TrackingQueue { inner: rt.queue.clone(), tracker: tracker.clone() });
    let last_progress = Arc::new(Mutex::new(tokio::time::Instant::now()));
    let outcomes = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let unresolved = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let records = Arc::new(AtomicU64::new(0));
    let chains = Arc::new(tokio::sync::Mutex::new(BTreeMap::new()));
    let stop_at = tokio::time::Instant::now() + opts.max_wall;
    let mut set = tokio::task::JoinSet::new();
    for w in 0..opts.workers.max(1) {
        let (rt, outcomes, unresolved, records, tracker, chains) =
            (rt.clone(), outcomes.clone(), unresolved.clone(), records.clone(), tracker.clone(), chains.clone());
        let last_progress = last_progress.clone();
        let mut done_rx = done_rx.clone();
        let resend_after = opts.resend_after;
        let run_id = run_id.clone();
        let batch_size = opts.batch_size.max(1);
        let (invocation, hard_kill, max_receives) = (opts.invocation, opts.hard_kill, opts.max_receives);
        set.spawn(async move {
            let mut n = 0u64;
            while tokio::time::Instant::now() < stop_at && tracker.outstanding() > 0 {
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
                        let missing: Vec<String> = tracker.bodies();
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
                let started = tokio::time::Instant::now();
                let deadline = started + invocation;
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
                        Outcome::Done { .. } | Outcome::Stopped(_) => (Next::Ack, true),
                        // replaced by the continuation / the deferred copy it enqueued
                        Outcome::Continued | Outcome::Deferred => (Next::Ack, false),
                        // another worker holds the job: its run decides when the job has ended (a
                        // holder killed later is redelivered, or re-sent by the stall check). Taking
                        // the duplicate for the end let a drive stop with a walk half done.
                        Outcome::Duplicate => (Next::Ack, false),
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
                    if let (true, Some(k)) = (ours, &job_key) {
                        match &o {
                            Outcome::Done { .. } => tracker.ended(k, started, false),
                            // replaced by the continuation / the deferred copy it sent (tracked),
                            // or the holder's to end
                            Outcome::Continued | Outcome::Deferred | Outcome::Duplicate => {}
                            _ if ended => tracker.ended(k, started, true),
                            _ => {}
                        }
                    }
                    if let (true, Some(k), Some(m)) = (ours, &job_key, &parsed) {
                        let mut c = chains.lock().await;
                        let e = c.entry(k.clone()).or_insert(0);
                        *e = (*e).max(m.continuation + u32::from(matches!(o, Outcome::Continued)));
                    }
                    outcomes.lock().await.push((id, o));
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    report.outcomes = std::mem::take(&mut *outcomes.lock().await);
    report.unresolved = std::mem::take(&mut *unresolved.lock().await);
    report.chains = std::mem::take(&mut *chains.lock().await);
    let left = tracker.outstanding();
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
