//! Scheduler Lambda: wiring only. An EventBridge scheduled event becomes one call to
//! `shared::serverless::scheduler::schedule_streams` with the event's time (idempotent per schedule
//! time) and, for a rule with its own cadence, the streams its detail names.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use shared::aws::runtime::{self, AwsRuntime};
use shared::serverless::{deadline_from_epoch_ms, scheduler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::observability::init_lambda_logging();
    let rt = runtime::from_env().await.map_err(|e| {
        tracing::error!(error = %e, "cold start failed");
        e
    })?;
    let rt = &rt;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<EventBridgeEvent<Value>>| handle(rt, ev))).await
}

async fn handle(rt: &AwsRuntime, ev: LambdaEvent<EventBridgeEvent<Value>>) -> Result<Value, Error> {
    // a manual invoke may carry no time: schedule "now" (idempotency then holds per second)
    let time = ev.payload.time.map(shared::time::Timestamp).unwrap_or_else(shared::time::Timestamp::now);
    let deadline = deadline_from_epoch_ms(ev.context.deadline);
    // a rule with its own cadence names its streams in the detail (`{"streams": ["remote_sessions"]}`)
    let only: Option<Vec<String>> = ev
        .payload
        .detail
        .get("streams")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect());
    let outcome = scheduler::schedule_streams(&rt.runtime, time, only.as_deref(), Some(deadline)).await?;
    shared::observability::emit_schedule_metrics(&outcome);
    Ok(json!({ "outcome": format!("{outcome:?}") }))
}
