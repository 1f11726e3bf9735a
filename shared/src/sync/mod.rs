//! A sync run as the operator sees it: which streams, the fan-out plan, and the observer the engine
//! feeds (progress bars, the summary table, EMF metrics). There is one engine: a local `sync` runs
//! the scheduler and worker handlers of [`crate::serverless`] over the local adapters, exactly as
//! the Lambdas run them over S3, DynamoDB and SQS ([`run_local`]).

use crate::budget::BudgetStats;
use crate::serverless::driver::{drive, DriveOptions};
use crate::serverless::{HandlerError, Runtime};
use crate::store::Table;
use crate::streams::{Job, JobStats};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
        StreamSelection(crate::streams::specs().map(|s| s.name.to_string()).collect())
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
            if let Some(crate::streams::Scope::Shards { parent }) = crate::streams::find(name).map(|s| s.spec().scope) {
                return Err(format!("{name} runs as part of {parent}; select {parent}"));
            }
            out.push(name.to_string());
        }
        if out.is_empty() {
            return Err("no stream selected".into());
        }
        Ok(StreamSelection(out))
    }

    /// Whether a stream runs: selected by name, or a sharded part of a selected stream.
    pub fn has(&self, name: &str) -> bool {
        if let Some(crate::streams::Scope::Shards { parent }) = crate::streams::find(name).map(|s| s.spec().scope) {
            return self.has(parent);
        }
        self.0.iter().any(|s| s == name)
    }
}

/// Pure fan-out: the jobs of a run given the organizations listed (root streams are the
/// scheduler's own and never planned).
pub fn plan_jobs(orgs: &[String], org_filter: &[String], sel: &StreamSelection, shards: u32) -> Vec<Job> {
    use crate::streams::Scope;
    let mut jobs = Vec::new();
    for spec in crate::streams::specs().filter(|s| sel.has(s.name)) {
        match spec.scope {
            Scope::Root => {}
            Scope::Tenant => jobs.push(Job::tenant(spec.name)),
            // every shard each run: a shard job whose parent handed out nothing ends at once, and one
            // whose hand-off message was lost catches up here
            Scope::Shards { .. } => jobs.extend((0..shards.max(1)).map(|k| Job::shard(spec.name, k, shards.max(1)))),
            Scope::PerOrg => {
                // `--org-ids` may name orgs by UUID or by tagged `org_…` id; only UUIDs select orgs here.
                let uuid_filters: Vec<&String> = org_filter.iter().filter(|f| !f.starts_with("org_")).collect();
                for o in orgs {
                    if uuid_filters.is_empty() || uuid_filters.iter().any(|f| f.eq_ignore_ascii_case(o)) {
                        jobs.push(Job::per_org(spec.name, o.clone()));
                    }
                }
            }
        }
    }
    jobs
}

/// How one run of a job ended, as the engine reports it to observers.
#[derive(Debug, Clone, PartialEq)]
pub enum JobResult {
    Done,
    /// Deadline reached: progress committed, a continuation is queued.
    Continued,
    Failed {
        error: String,
        retryable: bool,
    },
}

/// What the engine tells the outside while it works: the CLI draws bars and a summary from it, the
/// Lambdas emit EMF metrics from it. Every job run (scheduler's organizations job included) is
/// reported once when it starts and once when it ends.
pub trait Observer: Send + Sync {
    fn started(&self, _job: &Job, _key: &str, _stats: Arc<JobStats>) {}
    fn finished(&self, _job: &Job, _key: &str, _stats: &JobStats, _result: &JobResult, _took: Duration) {}
}

pub struct NoObserver;
impl Observer for NoObserver {}

/// EMF metrics per finished job (Lambda).
pub struct EmfObserver;
impl Observer for EmfObserver {
    fn finished(&self, job: &Job, _key: &str, stats: &JobStats, result: &JobResult, _took: Duration) {
        let ok = !matches!(result, JobResult::Failed { .. });
        crate::observability::emit_job_metrics(job.stream(), stats, ok, stats.checkpoint_lag_secs());
    }
}

/// Collects one [`JobReport`] per job key for the run summary, forwarding to an inner observer.
pub struct RunCollector {
    inner: Arc<dyn Observer>,
    jobs: Mutex<BTreeMap<String, JobReport>>,
}

impl RunCollector {
    pub fn new(inner: Arc<dyn Observer>) -> Arc<Self> {
        Arc::new(RunCollector { inner, jobs: Mutex::new(BTreeMap::new()) })
    }

    pub fn reports(&self) -> Vec<JobReport> {
        let g = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<JobReport> = g.values().cloned().collect();
        let order: Vec<&str> = crate::streams::specs().map(|s| s.name).collect();
        v.sort_by_key(|r| (order.iter().position(|n| *n == r.job.stream()).unwrap_or(usize::MAX), r.key.clone()));
        v
    }
}

impl Observer for RunCollector {
    fn started(&self, job: &Job, key: &str, stats: Arc<JobStats>) {
        {
            let mut g = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            let r = g.entry(key.to_string()).or_insert_with(|| JobReport {
                job: job.clone(),
                key: key.to_string(),
                stats: Vec::new(),
                duration: Duration::ZERO,
                attempts: 0,
                error: None,
            });
            r.attempts += 1;
            r.stats.push(stats.clone());
        }
        self.inner.started(job, key, stats);
    }

    fn finished(&self, job: &Job, key: &str, stats: &JobStats, result: &JobResult, took: Duration) {
        if let Some(r) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(key) {
            r.duration += took;
            r.error = match result {
                JobResult::Failed { error, .. } => Some(error.clone()),
                _ => None,
            };
        }
        self.inner.finished(job, key, stats, result, took);
    }
}

/// One job over a run: every attempt and continuation of it, summed.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub job: Job,
    pub key: String,
    /// One entry per attempt or continuation.
    pub stats: Vec<Arc<JobStats>>,
    pub duration: Duration,
    pub attempts: u32,
    pub error: Option<String>,
}

impl JobReport {
    pub fn total_records(&self) -> u64 {
        self.stats.iter().map(|s| s.total_records()).sum()
    }

    /// (requests, retries, rate-limited, bytes) over every attempt.
    pub fn calls(&self) -> (u64, u64, u64, u64) {
        self.stats
            .iter()
            .map(|s| s.calls.snapshot())
            .fold((0, 0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3))
    }

    pub fn segments(&self) -> u64 {
        self.stats.iter().map(|s| s.segments.load(std::sync::atomic::Ordering::Relaxed)).sum()
    }
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
            for st in &j.stats {
                for (t, n) in st.records() {
                    *s.records.entry(t).or_default() += n;
                }
                let (req, ret, rl, _) = st.calls.snapshot();
                s.pages += st.pages.load(std::sync::atomic::Ordering::Relaxed);
                s.requests += req;
                s.retries += ret;
                s.rate_limited += rl;
                s.duplicates_skipped += st.skipped_duplicates.load(std::sync::atomic::Ordering::Relaxed);
            }
            // jobs of one stream run in parallel: report the longest
            s.duration = s.duration.max(j.duration);
        }
        let order: Vec<&str> = crate::streams::specs().map(|s| s.name).collect();
        let mut v: Vec<StreamSummary> = m.into_values().collect();
        v.sort_by_key(|s| order.iter().position(|n| *n == s.stream).unwrap_or(usize::MAX));
        v
    }

    pub fn total_records(&self) -> u64 {
        self.jobs.iter().flat_map(|j| j.stats.iter()).map(|s| s.total_records()).sum()
    }
}

/// Runs one sync on a [`Runtime`] (local adapters or AWS): the scheduler handler fans out, N
/// workers drain the queue through the worker handler, and the observer hears every job.
pub async fn run_local(
    mut rt: Runtime,
    opts: DriveOptions,
    observer: Arc<dyn Observer>,
) -> Result<RunReport, HandlerError> {
    let t0 = Instant::now();
    let collector = RunCollector::new(observer);
    rt.observer = collector.clone();
    let budget = rt.budget.clone();
    let report = match drive(rt, crate::time::Timestamp::now(), opts).await {
        Ok(r) => r,
        // the scheduler itself failed (key rejected, state unreadable): a failed run, reported as such
        Err(e) => {
            let mut jobs = collector.reports();
            jobs.push(JobReport {
                job: Job::organizations(),
                key: "scheduler".into(),
                stats: vec![],
                duration: Duration::ZERO,
                attempts: 1,
                error: Some(e.to_string()),
            });
            return Ok(RunReport { run_id: String::new(), jobs, duration: t0.elapsed(), budget: budget.stats() });
        }
    };
    let mut jobs = collector.reports();
    // Deliveries that never ran a job (unreadable) or were given up on (dead-lettered) count too.
    for (id, o) in &report.unresolved {
        jobs.push(JobReport {
            job: Job::organizations(),
            key: format!("delivery {id}"),
            stats: vec![],
            duration: Duration::ZERO,
            attempts: 1,
            error: Some(format!("{o:?}")),
        });
    }
    let run_id = match &report.schedule {
        Some(crate::serverless::scheduler::ScheduleOutcome::Enqueued { run_id, .. }) => run_id.clone(),
        Some(crate::serverless::scheduler::ScheduleOutcome::AlreadyScheduled { run_id }) => run_id.clone(),
        Some(crate::serverless::scheduler::ScheduleOutcome::Stopped { reason }) => {
            jobs.push(JobReport {
                job: Job::organizations(),
                key: "scheduler".into(),
                stats: vec![],
                duration: Duration::ZERO,
                attempts: 1,
                error: Some(reason.clone()),
            });
            String::new()
        }
        None => String::new(),
    };
    Ok(RunReport { run_id, jobs, duration: t0.elapsed(), budget: budget.stats() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out() {
        let sel = StreamSelection::default();
        let jobs = plan_jobs(&["a".into(), "b".into()], &[], &sel, 4);
        let tenant = crate::streams::specs().filter(|s| s.scope == crate::streams::Scope::Tenant).count();
        let per_org = crate::streams::specs().filter(|s| s.scope == crate::streams::Scope::PerOrg).count();
        let sharded =
            crate::streams::specs().filter(|s| matches!(s.scope, crate::streams::Scope::Shards { .. })).count();
        assert_eq!(sharded, 2, "chat_messages and project_details");
        assert_eq!(jobs.len(), tenant + 2 * per_org + 4 * sharded, "{jobs:?}");
        assert_eq!(jobs.iter().filter(|j| j.stream == "transparency_checkpoints").count(), 2);
        let jobs = plan_jobs(&["a".into(), "b".into()], &["B".into()], &sel, 4);
        assert_eq!(jobs.iter().filter(|j| j.stream == "users").count(), 1);
        let jobs = plan_jobs(&["a".into()], &["org_01x".into()], &sel, 4);
        assert_eq!(jobs.iter().filter(|j| j.stream == "users").count(), 1);
        assert!(StreamSelection::parse("activities,nope").is_err());
        let only = StreamSelection::parse("activities").unwrap();
        assert_eq!(plan_jobs(&["a".into()], &[], &only, 4), vec![Job::tenant("activities")]);
        // chat messages come with chats, sharded
        let chats = StreamSelection::parse("chats").unwrap();
        let jobs = plan_jobs(&[], &[], &chats, 3);
        assert_eq!(jobs[0], Job::tenant("chats"));
        assert_eq!(
            jobs[1..],
            [Job::shard("chat_messages", 0, 3), Job::shard("chat_messages", 1, 3), Job::shard("chat_messages", 2, 3)]
        );
        assert_eq!(
            Job::shard("chat_messages", 1, 3).key(&crate::streams::SyncConfig::default()),
            "chat_messages/s001of003"
        );
    }
}
