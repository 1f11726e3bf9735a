//! The scheduler: on each scheduled event, check the key, take the schedule slot (idempotent for
//! the same schedule time), snapshot the organizations (the fan-out list), and enqueue one job per
//! (stream, organization).

use super::{HandlerError, JobMessage, Runtime};
use crate::keys::{self, KeyStatus};
use crate::store::StoreError;
use crate::streams::{run_job, Job, JobStats};
use crate::sync::plan_jobs;
use crate::time::Timestamp;
use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleOutcome {
    Enqueued {
        run_id: String,
        jobs: usize,
        organizations: usize,
    },
    /// This schedule time was already fanned out (an EventBridge retry or duplicate).
    AlreadyScheduled {
        run_id: String,
    },
    /// Nothing to do until an operator acts (key revoked or missing).
    Stopped {
        reason: String,
    },
}

/// Run id of a schedule time: the same event always maps to the same run.
pub fn run_id_for(t: Timestamp) -> String {
    format!("sched-{}", t.0.format("%Y%m%dT%H%M%SZ"))
}

pub async fn schedule(
    rt: &Runtime,
    schedule_time: Timestamp,
    deadline: Option<tokio::time::Instant>,
) -> Result<ScheduleOutcome, HandlerError> {
    if let Some(rec) = keys::load_record(rt.state.as_ref()).await? {
        if rec.status == KeyStatus::Revoked {
            let reason = format!("the Compliance Access Key {} was revoked at {}; register a new key (compliance-lake key register) to resume", rec.fingerprint, rec.revoked_at.map(|t| t.to_string()).unwrap_or_default());
            tracing::error!(%reason, "scheduler stopped");
            return Ok(ScheduleOutcome::Stopped { reason });
        }
    }
    let Some(client) = rt.client().await? else {
        let reason = format!(
            "no Compliance Access Key in {}; register one (compliance-lake key register) to resume",
            rt.keys.describe()
        );
        tracing::error!(%reason, "scheduler stopped");
        return Ok(ScheduleOutcome::Stopped { reason });
    };
    let run_id = run_id_for(schedule_time);
    let slot = format!("schedule/{run_id}");
    // Claim the slot; a claimed-but-unfinished slot (crash mid-fan-out) is redone, which is safe:
    // jobs are idempotent through their checkpoints and leases.
    let version = match rt.state.load(&slot).await? {
        Some(v) if v.value.get("status").and_then(|s| s.as_str()) == Some("enqueued") => {
            tracing::info!(%run_id, "schedule time already fanned out; nothing to do");
            return Ok(ScheduleOutcome::AlreadyScheduled { run_id });
        }
        Some(v) => Some(v.version),
        None => None,
    };
    let claimed = match rt.state.save(&slot, version, &json!({"status": "claimed", "at": Timestamp::now()})).await {
        Ok(v) => v,
        Err(StoreError::Conflict { .. }) => return Ok(ScheduleOutcome::AlreadyScheduled { run_id }),
        Err(e) => return Err(e.into()),
    };
    let ctx = rt.context(client, &run_id, deadline);
    let mut orgs = Vec::new();
    if rt.streams.has("organizations") || rt.streams.has("users") {
        let stats = JobStats::default();
        let res = run_job(&ctx, &Job::Organizations, &stats).await;
        if rt.emit_metrics {
            let lag =
                crate::observability::checkpoint_lag_secs(rt.state.as_ref(), &Job::Organizations.key(&rt.cfg)).await;
            crate::observability::emit_job_metrics(Job::Organizations.stream(), &stats, res.is_ok(), lag);
        }
        orgs = res?.org_uuids;
    }
    let jobs = plan_jobs(&orgs, &rt.cfg.org_ids, &rt.streams);
    let bodies: Vec<String> = jobs
        .iter()
        .map(|job| {
            serde_json::to_string(&JobMessage {
                job: job.clone(),
                run_id: run_id.clone(),
                schedule_time,
                continuation: 0,
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    let n = bodies.len();
    rt.queue.send(bodies).await?;
    rt.state
        .save(
            &slot,
            Some(claimed),
            &json!({"status": "enqueued", "jobs": n, "organizations": orgs.len(), "at": Timestamp::now()}),
        )
        .await?;
    tracing::info!(%run_id, jobs = n, organizations = orgs.len(), "fan-out enqueued");
    Ok(ScheduleOutcome::Enqueued { run_id, jobs: n, organizations: orgs.len() })
}
