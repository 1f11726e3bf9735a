//! Worker Lambda: wiring only. An SQS batch becomes one call to `shared::serverless::worker::work`;
//! failed messages are reported individually (`ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use shared::aws::runtime::{self, AwsRuntime};
use shared::serverless::deadline_from_epoch_ms;
use shared::serverless::worker::{self, Delivery};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::observability::init_lambda_logging();
    let rt = runtime::from_env().await.map_err(|e| {
        tracing::error!(error = %e, "cold start failed");
        e
    })?;
    let rt = &rt;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<SqsEvent>| handle(rt, ev))).await
}

async fn handle(rt: &AwsRuntime, ev: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let deadline = deadline_from_epoch_ms(ev.context.deadline);
    let owner = ev.context.request_id.clone();
    let batch: Vec<Delivery> = ev
        .payload
        .records
        .into_iter()
        .map(|r| Delivery {
            message_id: r.message_id.unwrap_or_default(),
            receive_count: r.attributes.get("ApproximateReceiveCount").and_then(|v| v.parse().ok()).unwrap_or(1),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let outcomes = worker::work(&rt.runtime, batch, Some(deadline), &owner).await;
    shared::observability::emit_worker_metrics(&outcomes);
    let mut resp = SqsBatchResponse::default();
    resp.batch_item_failures = outcomes
        .into_iter()
        .filter(|(_, o)| o.is_failure())
        .map(|(id, _)| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    Ok(resp)
}
