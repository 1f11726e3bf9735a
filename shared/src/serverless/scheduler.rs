//! The scheduler: on each scheduled event, check the key, take the schedule slot (idempotent for
//! the same schedule time), snapshot the organizations (the fan-out list), and enqueue one job per
//! (stream, organization).

use super::{HandlerError, JobMessage, Runtime};
use crate::keys::{self, KeyStatus};
use crate::store::StoreError;
use crate::streams::{run_job, Job, JobStats};
use crate::sync::JobResult;
use crate::sync::{plan_jobs, StreamSelection};
use crate::time::Timestamp;
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleOutcome {
    Enqueued {
        run_id: String,
        jobs: usize,
        organizations: usize,
        /// The job messages enqueued (the driver re-sends those of its run that went missing).
        messages: Vec<String>,
    },
    /// This schedule time was already fanned out (an EventBridge retry or duplicate).
    AlreadyScheduled { run_id: String },
    /// Nothing to do until an operator acts (key revoked or missing).
    Stopped { reason: String },
}

/// Run id of a schedule time: the same event always maps to the same run.
pub fn run_id_for(t: Timestamp) -> String {
    format!("sched-{}", t.0.format("%Y%m%dT%H%M%S%3fZ"))
}

/// Run id of a scheduled event for a subset of the streams: its own run and schedule slot, so a
/// faster rule's event never takes the main schedule's slot at the same minute.
pub fn subset_run_id(t: Timestamp, only: &[String]) -> String {
    format!("{}-{}", run_id_for(t), only.join("+"))
}

/// The streams a scheduled event runs: the deployment's, or those of them the event names (a rule
/// with its own cadence, e.g. remote sessions polled more often so deleted sessions are caught).
/// A name that is no stream is an error; a stream the deployment does not sync is left out.
pub fn event_streams(deployed: &StreamSelection, only: Option<&[String]>) -> Result<StreamSelection, String> {
    let Some(only) = only else { return Ok(deployed.clone()) };
    let asked = StreamSelection::parse(&only.join(","))?;
    Ok(StreamSelection(asked.0.into_iter().filter(|s| deployed.has(s)).collect()))
}

pub async fn schedule(
    rt: &Runtime,
    schedule_time: Timestamp,
    deadline: Option<tokio::time::Instant>,
) -> Result<ScheduleOutcome, HandlerError> {
    schedule_streams(rt, schedule_time, None, deadline).await
}

/// [`schedule`] for the streams an event names (`None`: every stream of the deployment).
pub async fn schedule_streams(
    rt: &Runtime,
    schedule_time: Timestamp,
    only: Option<&[String]>,
    deadline: Option<tokio::time::Instant>,
) -> Result<ScheduleOutcome, HandlerError> {
    let sel = event_streams(&rt.streams, only)
        .map_err(|e| HandlerError::Api(crate::api::ApiError::Config(format!("scheduled event: {e}"))))?;
    if sel.0.is_empty() {
        let reason = format!("none of the event's streams {only:?} is synced by this deployment");
        tracing::warn!(%reason, "nothing scheduled");
        return Ok(ScheduleOutcome::Stopped { reason });
    }
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
    // --- source binding (issue 10): never resume another tenant's, base URL's or mode's checkpoints
    let identity = crate::binding::probe_identity(&client, rt.source_mode).await?;
    match crate::binding::check_or_bind(rt.state.as_ref(), &identity, rt.reset_state).await {
        Err(e @ crate::binding::BindingError::Mismatch { .. }) => {
            let reason = e.to_string();
            tracing::error!(%reason, "scheduler stopped");
            return Ok(ScheduleOutcome::Stopped { reason });
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    // --- end source binding
    let run_id = match only {
        Some(_) => subset_run_id(schedule_time, &sel.0),
        None => run_id_for(schedule_time),
    };
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
    let mut orgs_failed = None;
    if sel.has("organizations") || sel.has("users") {
        let stats = Arc::new(JobStats::default());
        let key = Job::organizations().key(&rt.cfg);
        rt.observer.started(&Job::organizations(), &key, stats.clone());
        let t0 = std::time::Instant::now();
        let res = run_job(&ctx, &Job::organizations(), &stats).await;
        let result = match &res {
            Ok(_) => JobResult::Done,
            Err(e) => JobResult::Failed { error: e.to_string(), retryable: e.is_retryable() },
        };
        rt.observer.finished(&Job::organizations(), &key, &stats, &result, t0.elapsed());
        match res {
            Ok(out) => orgs = out.org_uuids,
            // The other streams do not depend on the organization list (an activities-only key
            // still syncs activities): fan them out and report the failure.
            Err(e) => {
                tracing::error!(error = %e, "organizations failed; per-organization jobs are not planned this run");
                orgs_failed = Some(e);
            }
        }
    }
    let jobs = plan_jobs(&orgs, &rt.cfg.org_ids, &sel, rt.cfg.chat_shards);
    let bodies: Vec<String> = jobs
        .iter()
        .map(|job| {
            serde_json::to_string(&JobMessage {
                job: job.clone(),
                run_id: run_id.clone(),
                schedule_time,
                continuation: 0,
                deferrals: 0,
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    let n = bodies.len();
    rt.queue.send(bodies.clone()).await?;
    rt.state
        .save(
            &slot,
            Some(claimed),
            &json!({"status": "enqueued", "jobs": n, "organizations": orgs.len(), "at": Timestamp::now()}),
        )
        .await?;
    tracing::info!(%run_id, jobs = n, organizations = orgs.len(), organizations_failed = orgs_failed.is_some(), "fan-out enqueued");
    Ok(ScheduleOutcome::Enqueued { run_id, jobs: n, organizations: orgs.len(), messages: bodies })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_may_run_a_subset_of_the_deployed_streams() {
        let deployed = StreamSelection::parse("activities,chats,remote_sessions").unwrap();
        assert_eq!(event_streams(&deployed, None).unwrap(), deployed);
        let only = ["remote_sessions".to_string()];
        assert_eq!(event_streams(&deployed, Some(&only)).unwrap().0, vec!["remote_sessions".to_string()]);
        // a stream this deployment does not sync is left out; an unknown name is an error
        assert!(event_streams(&deployed, Some(&["local_sessions".to_string()])).unwrap().0.is_empty());
        assert!(event_streams(&deployed, Some(&["remote_sesions".to_string()])).is_err());
        // its own run (and schedule slot): never the main schedule's at the same minute
        let t = Timestamp::parse("2026-12-02T12:00:00Z").unwrap();
        assert_ne!(subset_run_id(t, &only), run_id_for(t));
        assert_eq!(subset_run_id(t, &only), "sched-20261202T120000000Z-remote_sessions");
    }
}
