//! The engine of one sync run, as the scheduler + workers of the serverless design but in one
//! process: the organizations snapshot runs first (it is the fan-out list), then one job per
//! (stream, org) goes on the work queue and N workers drain it. Every job has its own checkpoint,
//! so one failing job never holds back the others; the run reports each job's outcome.

use crate::budget::BudgetStats;
use crate::store::{LocalQueue, Table, WorkQueue};
use crate::streams::{run_job, Job, JobContext, JobStats, SyncError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Builds the context of a run on the local backend (a store directory).
pub fn local_context(
    client: crate::api::ApiClient,
    store: &std::path::Path,
    cfg: crate::streams::SyncConfig,
    failpoints: crate::streams::FailPoints,
) -> Result<JobContext, crate::store::StoreError> {
    Ok(JobContext {
        client,
        sink: Arc::new(crate::store::LocalObjectSink::new(store)?),
        state: Arc::new(crate::store::LocalStateStore::new(store)?),
        cfg: Arc::new(cfg),
        run_id: new_run_id(),
        failpoints,
        now: crate::time::Timestamp::now(),
        deadline: None,
        dlp: Some(Arc::new(crate::streams::dlp::DlpContext::new(crate::streams::dlp::DlpContext::key_for_store(
            store,
        )?))),
        alerts: None,
    })
}

/// `run-<UTC time>-<8 hex>`: sortable, unique.
pub fn new_run_id() -> String {
    format!(
        "run-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Which streams a run covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSelection(pub Vec<String>);

impl Default for StreamSelection {
    fn default() -> Self {
        StreamSelection(crate::streams::STREAMS.iter().map(|s| s.name.to_string()).collect())
    }
}

impl StreamSelection {
    pub fn parse(s: &str) -> Result<Self, String> {
        let all = Self::default();
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            if !all.0.iter().any(|a| a == name) {
                return Err(format!("unknown stream {name:?}; known: {}", all.0.join(", ")));
            }
            out.push(name.to_string());
        }
        if out.is_empty() {
            return Err("no stream selected".into());
        }
        Ok(StreamSelection(out))
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|s| s == name)
    }
}

/// Pure fan-out: the jobs of a run given the organizations listed.
pub fn plan_jobs(orgs: &[String], org_filter: &[String], sel: &StreamSelection) -> Vec<Job> {
    let mut jobs = Vec::new();
    if sel.has("users") {
        for o in orgs {
            // `--org-ids` may name orgs by UUID or by tagged `org_…` id; only UUIDs can select users.
            let uuid_filters: Vec<&String> = org_filter.iter().filter(|f| !f.starts_with("org_")).collect();
            if uuid_filters.is_empty() || uuid_filters.iter().any(|f| f.eq_ignore_ascii_case(o)) {
                jobs.push(Job::Users { org_uuid: o.clone() });
            }
        }
    }
    if sel.has("activities") {
        jobs.push(Job::Activities);
    }
    if sel.has("chats") {
        jobs.push(Job::Chats);
    }
    if sel.has("projects") {
        jobs.push(Job::Projects);
    }
    jobs
}

/// Hooks for progress display; the CLI draws bars, tests pass [`NoProgress`].
pub trait Progress: Send + Sync {
    fn started(&self, _job: &Job, _key: &str, _stats: Arc<JobStats>) {}
    fn finished(&self, _key: &str, _error: Option<&SyncError>) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}

#[derive(Debug)]
pub struct JobReport {
    pub job: Job,
    pub key: String,
    pub stats: Arc<JobStats>,
    pub duration: Duration,
    pub attempts: u32,
    pub error: Option<String>,
}

#[derive(Debug)]
pub struct RunReport {
    pub run_id: String,
    pub jobs: Vec<JobReport>,
    pub duration: Duration,
    pub budget: BudgetStats,
}

/// One line of the summary table.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StreamSummary {
    pub stream: String,
    pub jobs: u64,
    pub failed: u64,
    pub records: BTreeMap<Table, u64>,
    pub pages: u64,
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub duplicates_skipped: u64,
    pub duration: Duration,
}

impl RunReport {
    pub fn ok(&self) -> bool {
        self.jobs.iter().all(|j| j.error.is_none())
    }

    pub fn failures(&self) -> Vec<(&str, &str)> {
        self.jobs.iter().filter_map(|j| j.error.as_deref().map(|e| (j.key.as_str(), e))).collect()
    }

    pub fn by_stream(&self) -> Vec<StreamSummary> {
        let mut m: BTreeMap<&str, StreamSummary> = BTreeMap::new();
        for j in &self.jobs {
            let s = m
                .entry(j.job.stream())
                .or_insert_with(|| StreamSummary { stream: j.job.stream().into(), ..Default::default() });
            s.jobs += 1;
            s.failed += j.error.is_some() as u64;
            for (t, n) in j.stats.records() {
                *s.records.entry(t).or_default() += n;
            }
            let (req, ret, rl, _) = j.stats.calls.snapshot();
            s.pages += j.stats.pages.load(std::sync::atomic::Ordering::Relaxed);
            s.requests += req;
            s.retries += ret;
            s.rate_limited += rl;
            s.duplicates_skipped += j.stats.skipped_duplicates.load(std::sync::atomic::Ordering::Relaxed);
            // jobs of one stream run in parallel: report the longest
            s.duration = s.duration.max(j.duration);
        }
        let order: Vec<&str> = crate::streams::STREAMS.iter().map(|s| s.name).collect();
        let mut v: Vec<StreamSummary> = m.into_values().collect();
        v.sort_by_key(|s| order.iter().position(|n| *n == s.stream).unwrap_or(usize::MAX));
        v
    }

    pub fn total_records(&self) -> u64 {
        self.jobs.iter().map(|j| j.stats.total_records()).sum()
    }
}

pub struct RunOptions {
    pub workers: usize,
    pub streams: StreamSelection,
    /// Attempts per job in all; a retryable failure (or a deadline continuation) is re-queued.
    pub max_job_attempts: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { workers: 4, streams: StreamSelection::default(), max_job_attempts: 2 }
    }
}

async fn run_one(ctx: &JobContext, job: &Job, progress: &dyn Progress, attempts: u32) -> JobReport {
    let key = job.key(&ctx.cfg);
    let stats = Arc::new(JobStats::default());
    progress.started(job, &key, stats.clone());
    let span = tracing::info_span!("job", run_id = %ctx.run_id, stream = job.stream(), job = %key);
    let _e = span.enter();
    let t0 = Instant::now();
    tracing::info!("job started");
    let res = run_job(ctx, job, &stats).await;
    let duration = t0.elapsed();
    let error = match &res {
        Ok(_) => {
            tracing::info!(records = stats.total_records(), ms = duration.as_millis() as u64, "job finished");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, retryable = e.is_retryable(), "job failed; its checkpoint did not advance past durable data");
            Some(e.to_string())
        }
    };
    progress.finished(&key, res.as_ref().err());
    JobReport { job: job.clone(), key, stats, duration, attempts, error }
}

/// Runs a whole sync: organizations first, then everything else through the queue.
pub async fn run(ctx: JobContext, opts: RunOptions, progress: Arc<dyn Progress>) -> RunReport {
    let t0 = Instant::now();
    let mut reports = Vec::new();
    let mut orgs = Vec::new();
    let need_orgs = opts.streams.has("organizations") || opts.streams.has("users");
    if need_orgs {
        let key = Job::Organizations.key(&ctx.cfg);
        let stats = Arc::new(JobStats::default());
        progress.started(&Job::Organizations, &key, stats.clone());
        let t = Instant::now();
        let res = run_job(&ctx, &Job::Organizations, &stats).await;
        progress.finished(&key, res.as_ref().err());
        let error = match res {
            Ok(out) => {
                orgs = out.org_uuids;
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "organizations failed; per-organization jobs cannot be planned");
                Some(e.to_string())
            }
        };
        reports.push(JobReport { job: Job::Organizations, key, stats, duration: t.elapsed(), attempts: 1, error });
    }
    let jobs = plan_jobs(&orgs, &ctx.cfg.org_ids, &opts.streams);
    let queue = Arc::new(LocalQueue::new(opts.max_job_attempts.max(1)));
    let bodies: Vec<String> = jobs.iter().filter_map(|j| serde_json::to_string(j).ok()).collect();
    let _ = queue.send(bodies).await;
    let results = Arc::new(tokio::sync::Mutex::new(BTreeMap::<String, JobReport>::new()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..opts.workers.max(1) {
        let (ctx, queue, progress, results) = (ctx.clone(), queue.clone(), progress.clone(), results.clone());
        workers.spawn(async move {
            loop {
                let msgs = match queue.receive(1).await {
                    Ok(m) => m,
                    Err(_) => break,
                };
                let Some(msg) = msgs.into_iter().next() else {
                    if queue.is_idle() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let Ok(job) = serde_json::from_str::<Job>(&msg.body) else {
                    tracing::error!(body = %msg.body, "unreadable job message dropped");
                    let _ = queue.ack(&msg.id).await;
                    continue;
                };
                let report = run_one(&ctx, &job, progress.as_ref(), msg.receive_count).await;
                let retry = report.error.is_some() && msg.receive_count < opts.max_job_attempts;
                let retryable = retry && {
                    // re-run only what may succeed later
                    let e = report.error.as_deref().unwrap_or("");
                    !e.contains("401") && !e.contains("403") && !e.contains("404") && !e.contains("400")
                };
                let key = report.key.clone();
                results.lock().await.insert(key, report);
                if retryable {
                    let _ = queue.release(&msg.id).await;
                } else {
                    let _ = queue.ack(&msg.id).await;
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let mut map = std::mem::take(&mut *results.lock().await);
    for j in &jobs {
        if let Some(r) = map.remove(&j.key(&ctx.cfg)) {
            reports.push(r);
        }
    }
    RunReport { run_id: ctx.run_id.clone(), jobs: reports, duration: t0.elapsed(), budget: ctx.client.budget().stats() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out() {
        let sel = StreamSelection::default();
        let jobs = plan_jobs(&["a".into(), "b".into()], &[], &sel);
        assert_eq!(jobs.len(), 5);
        let jobs = plan_jobs(&["a".into(), "b".into()], &["B".into()], &sel);
        assert_eq!(jobs.iter().filter(|j| matches!(j, Job::Users { .. })).count(), 1);
        let jobs = plan_jobs(&["a".into()], &["org_01x".into()], &sel);
        assert_eq!(jobs.iter().filter(|j| matches!(j, Job::Users { .. })).count(), 1);
        assert!(StreamSelection::parse("activities,nope").is_err());
        let only = StreamSelection::parse("activities").unwrap();
        assert_eq!(plan_jobs(&["a".into()], &[], &only), vec![Job::Activities]);
    }
}
