//! Scheduler Lambda: wiring only. An EventBridge scheduled event becomes one call to
//! `shared::serverless::scheduler::schedule` with the event's time (idempotent per schedule time).

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
    let outcome = scheduler::schedule(&rt.runtime, time, Some(deadline)).await?;
    shared::observability::emit_schedule_metrics(&outcome);
    Ok(json!({ "outcome": format!("{outcome:?}") }))
}
