//! Logs and metrics of the functions: JSON logs through `tracing` (with the job span's fields),
//! and CloudWatch Embedded Metric Format lines (namespace `ComplianceLake`, PascalCase names) that
//! the alarms in `infra/` are built on.

use crate::serverless::scheduler::ScheduleOutcome;
use crate::serverless::worker::Outcome;
use serde_json::json;

pub const NAMESPACE: &str = "ComplianceLake";

/// One EMF line: `metrics` are (name, unit, value); `dims` become one dimension set.
pub fn emf(dims: &[(&str, &str)], metrics: &[(&str, &str, f64)]) -> String {
    let mut root = serde_json::Map::new();
    let dim_names: Vec<&str> = dims.iter().map(|(k, _)| *k).collect();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dim_names],
                "Metrics": metrics.iter().map(|(n, u, _)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
            }]
        }),
    );
    for (k, v) in dims {
        root.insert((*k).into(), json!(v));
    }
    for (n, _, v) in metrics {
        root.insert((*n).into(), json!(v));
    }
    serde_json::Value::Object(root).to_string()
}

/// EMF goes to stdout, where Lambda's log agent extracts it.
pub fn put(dims: &[(&str, &str)], metrics: &[(&str, &str, f64)]) {
    println!("{}", emf(dims, metrics));
}

pub fn emit_schedule_metrics(o: &ScheduleOutcome) {
    match o {
        ScheduleOutcome::Enqueued { jobs, organizations, .. } => put(
            &[("Function", "scheduler")],
            &[("JobsEnqueued", "Count", *jobs as f64), ("Organizations", "Count", *organizations as f64)],
        ),
        ScheduleOutcome::Stopped { .. } => put(&[("Function", "scheduler")], &[("SchedulerStopped", "Count", 1.0)]),
        ScheduleOutcome::AlreadyScheduled { .. } => {}
    }
}

pub fn emit_worker_metrics(outcomes: &[(String, Outcome)]) {
    for (_, o) in outcomes {
        match o {
            Outcome::Failed { .. } => put(&[("Function", "worker")], &[("FailedDeliveries", "Count", 1.0)]),
            Outcome::Continued => put(&[("Function", "worker")], &[("JobContinuations", "Count", 1.0)]),
            _ => {}
        }
    }
}

/// Seconds between now and the job's newest committed checkpoint (`last_commit_at` of its state
/// document); `None` when it never committed or the state cannot be read.
pub async fn checkpoint_lag_secs(state: &dyn crate::store::StateStore, job_key: &str) -> Option<f64> {
    let v = state.load(job_key).await.ok()??;
    let st: crate::streams::segment::JobState = serde_json::from_value(v.value).ok()?;
    let t = st.last_commit_at?;
    Some(((chrono::Utc::now() - t.0).num_milliseconds().max(0) as f64) / 1000.0)
}

/// Per-job metrics from its counters (called after each job). `CheckpointAdvanced` counts a job
/// that completed successfully — the stream is current even when nothing new arrived — which is
/// what the per-stream freshness alarms watch; `JobFailures` counts the others. `BudgetWaitMs` is
/// the time the job's requests waited for budget tokens; `CheckpointLagSeconds` (when known) is
/// now − the job's newest committed checkpoint (see [`checkpoint_lag_secs`]).
pub fn emit_job_metrics(stream: &str, stats: &crate::streams::JobStats, succeeded: bool, lag_secs: Option<f64>) {
    use std::sync::atomic::Ordering;
    let (req, _, rl, _) = stats.calls.snapshot();
    put(
        &[("Stream", stream)],
        &[
            ("BudgetWaitMs", "Milliseconds", stats.calls.budget_wait_ms()),
            ("RecordsWritten", "Count", stats.total_records() as f64),
            ("Pages", "Count", stats.pages.load(Ordering::Relaxed) as f64),
            ("ApiRequests", "Count", req as f64),
            ("RateLimited", "Count", rl as f64),
            ("CheckpointAdvanced", "Count", if succeeded { 1.0 } else { 0.0 }),
            ("JobFailures", "Count", if succeeded { 0.0 } else { 1.0 }),
            // items this job holds skipped after failing (a gauge per job: Maximum is what to alarm on)
            ("QuarantinedItems", "Count", stats.quarantined.load(Ordering::Relaxed) as f64),
            ("UnscannedFiles", "Count", stats.unscanned_files.load(Ordering::Relaxed) as f64),
        ],
    );
    if let Some(lag) = lag_secs {
        put(&[("Stream", stream)], &[("CheckpointLagSeconds", "Seconds", lag)]);
    }
    // the activities job only: our own requests' newest row in the feed (SelfAuditHeartbeatAlarm)
    if let Some(lag) = stats.self_audit_lag_secs() {
        put(&[("Stream", stream)], &[("SelfAuditLagSeconds", "Seconds", lag)]);
    }
    if let Some(line) = transparency_metric(stream, stats) {
        println!("{line}");
    }
    if let Some(line) = key_change_metric(stream, stats) {
        println!("{line}");
    }
    let findings = stats.records().get(&crate::store::Table::DlpFindings).copied().unwrap_or(0);
    if findings > 0 {
        put(&[("Stream", stream)], &[("DlpFindings", "Count", findings as f64)]);
    }
}

/// `TransparencyFindings` (dimension `Stream`): the transparency-log verification failures a job
/// wrote (`transparency_findings` rows), the metric the `TransparencyLogAlarm` watches; `None`
/// when there were none.
pub fn transparency_metric(stream: &str, stats: &crate::streams::JobStats) -> Option<String> {
    if stream == crate::streams::directory::org_settings::SPEC.name {
        return None; // its rows are key changes: `ComplianceKeyChanges`
    }
    let n = stats.records().get(&crate::store::Table::TransparencyFindings).copied().unwrap_or(0);
    (n > 0).then(|| emf(&[("Stream", stream)], &[("TransparencyFindings", "Count", n as f64)]))
}

/// `ComplianceKeyChanges` (dimension `Stream` = `org_settings`): Compliance Access Keys that appeared,
/// were deactivated or vanished since the previous settings snapshot (the `transparency_findings`
/// rows the `org_settings` stream wrote); `None` for other streams or when there were none.
pub fn key_change_metric(stream: &str, stats: &crate::streams::JobStats) -> Option<String> {
    if stream != crate::streams::directory::org_settings::SPEC.name {
        return None;
    }
    let n = stats.records().get(&crate::store::Table::TransparencyFindings).copied().unwrap_or(0);
    (n > 0).then(|| emf(&[("Stream", stream)], &[("ComplianceKeyChanges", "Count", n as f64)]))
}

/// JSON logs for Lambda: one object per line with the current span's fields (run id, stream, job,
/// message id), filter from `RUST_LOG` (default `info`). Called once at cold start.
pub fn init_lambda_logging() {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn emf_shape() {
        let line = super::emf(&[("Stream", "activities")], &[("RecordsWritten", "Count", 5.0)]);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ComplianceLake");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0], "Stream");
        assert_eq!(v["RecordsWritten"], 5.0);
        assert_eq!(v["Stream"], "activities");
    }

    #[tokio::test]
    async fn checkpoint_lag_from_the_job_state() {
        use crate::store::{LocalStateStore, StateStore};
        let dir = tempfile::tempdir().unwrap();
        let state = LocalStateStore::new(dir.path()).unwrap();
        assert_eq!(super::checkpoint_lag_secs(&state, "activities").await, None);
        let t = crate::time::Timestamp::now().minus(chrono::Duration::seconds(90));
        state.save("activities", None, &serde_json::json!({"checkpoint": {}, "last_commit_at": t})).await.unwrap();
        let lag = super::checkpoint_lag_secs(&state, "activities").await.unwrap();
        assert!((90.0..100.0).contains(&lag), "{lag}");
    }
}
