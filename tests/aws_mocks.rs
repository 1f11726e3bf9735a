//! Error paths an emulator cannot produce, with aws-smithy-mocks.

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::{ConditionalCheckFailedException, ProvisionedThroughputExceededException};
use aws_sdk_dynamodb::types::AttributeValue as AV;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use bytes::Bytes;
use serde_json::json;
use shared::aws::{DynamoBudget, DynamoBudgetConfig, DynamoStateStore, LeaseManager, S3ObjectSink};
use shared::budget::RequestBudget;
use shared::store::{ObjectSink, StateStore, StoreError};
use std::time::Duration;

fn throttled() -> ProvisionedThroughputExceededException {
    ProvisionedThroughputExceededException::builder()
        .message("Throughput exceeds the current capacity of your table")
        .meta(
            ErrorMetadata::builder()
                .code("ProvisionedThroughputExceededException")
                .message("Throughput exceeds the current capacity of your table")
                .build(),
        )
        .build()
}

fn ccf(version: Option<&str>) -> ConditionalCheckFailedException {
    let mut b = ConditionalCheckFailedException::builder().message("The conditional request failed").meta(
        ErrorMetadata::builder()
            .code("ConditionalCheckFailedException")
            .message("The conditional request failed")
            .build(),
    );
    if let Some(v) = version {
        b = b.item("version", AV::N(v.into())).item("pk", AV::S("state#jobs/a".into()));
    }
    b.build()
}

#[tokio::test]
async fn dynamodb_throttling_is_a_retryable_backend_error() {
    let rule = mock!(aws_sdk_dynamodb::Client::put_item)
        .then_error(|| PutItemError::ProvisionedThroughputExceededException(throttled()));
    let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1))));
    let s = DynamoStateStore::new(ddb, "cl-state");
    let err = s.save("jobs/a", Some(4), &json!({"x": 1})).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("dynamodb://cl-state/state#jobs/a") && msg.contains("ProvisionedThroughputExceededException"),
        "{msg}"
    );
    assert_eq!(rule.num_calls(), 3, "the SDK retried throttling itself before giving up");
}

#[tokio::test]
async fn conditional_check_race_is_a_conflict() {
    let with_item = mock!(aws_sdk_dynamodb::Client::put_item)
        .then_error(|| PutItemError::ConditionalCheckFailedException(ccf(Some("7"))));
    let ddb = mock_client!(aws_sdk_dynamodb, [&with_item]);
    let s = DynamoStateStore::new(ddb, "cl-state");
    match s.save("jobs/a", Some(6), &json!({})).await {
        Err(e @ StoreError::Conflict { expected: Some(6), found: Some(7), .. }) => {
            // Retryable: the other writer's commit won; a later run resumes from it.
            assert!(e.is_retryable());
            assert!(e.to_string().contains("jobs/a"));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let without_item = mock!(aws_sdk_dynamodb::Client::put_item)
        .then_error(|| PutItemError::ConditionalCheckFailedException(ccf(None)));
    let ddb = mock_client!(aws_sdk_dynamodb, [&without_item]);
    let s = DynamoStateStore::new(ddb, "cl-state");
    assert!(matches!(
        s.save("jobs/a", None, &json!({})).await,
        Err(StoreError::Conflict { expected: None, found: None, .. })
    ));
}

#[tokio::test]
async fn corrupt_state_item_is_reported() {
    let rule = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| {
        GetItemOutput::builder().item("pk", AV::S("state#jobs/a".into())).item("value", AV::S("{}".into())).build()
    });
    let ddb = mock_client!(aws_sdk_dynamodb, [&rule]);
    let s = DynamoStateStore::new(ddb, "cl-state");
    assert!(matches!(s.load("jobs/a").await, Err(StoreError::Corrupt { .. })));
}

#[tokio::test]
async fn lease_throttling_is_an_error_not_a_lost_lease() {
    let rule = mock!(aws_sdk_dynamodb::Client::update_item)
        .then_error(|| UpdateItemError::ProvisionedThroughputExceededException(throttled()));
    let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], |c| c.retry_config(RetryConfig::disabled()));
    let leases = LeaseManager::new(ddb, "cl-state");
    let err = leases.acquire("users/x", "w1", Duration::from_secs(30)).await.unwrap_err();
    assert!(err.is_retryable() && err.to_string().contains("lease#users/x"), "{err}");
}

#[tokio::test]
async fn budget_waits_through_dynamodb_errors() {
    let rule = mock!(aws_sdk_dynamodb::Client::update_item)
        .sequence()
        .error(|| UpdateItemError::ProvisionedThroughputExceededException(throttled()))
        .times(2)
        .output(|| UpdateItemOutput::builder().attributes("n", AV::N("1".into())).build())
        .build();
    let ddb =
        mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule], |c| c.retry_config(RetryConfig::disabled()));
    let b = DynamoBudget::new(ddb, "cl-state", DynamoBudgetConfig::new("tenant", 600));
    let t0 = std::time::Instant::now();
    b.acquire().await;
    let c = b.counters();
    assert_eq!((c.errors, c.tokens, c.dynamodb_calls), (2, 1, 3), "{c:?}");
    assert!(t0.elapsed() >= Duration::from_millis(300), "backed off 100 + 200 ms");
    assert_eq!(b.stats().acquired, 1);
}

#[tokio::test]
async fn s3_500_is_a_retryable_backend_error() {
    const BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>";
    let rule =
        mock!(aws_sdk_s3::Client::put_object).sequence().http_status(500, Some(BODY.into())).repeatedly().build();
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule], |c| c.retry_config(
        aws_sdk_s3::config::retry::RetryConfig::standard()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(1))
    ));
    let sink = S3ObjectSink::new(s3, "lake-bucket", "raw");
    let err = sink.put("users/dt=2026-11-23/u-b-00000.ndjson.gz", Bytes::from_static(b"x")).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)));
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("s3://lake-bucket/raw/users/dt=2026-11-23/u-b-00000.ndjson.gz") && msg.contains("InternalError"),
        "{msg}"
    );
    assert_eq!(rule.num_calls(), 2);

    let get = mock!(aws_sdk_s3::Client::get_object).sequence().http_status(500, Some(BODY.into())).repeatedly().build();
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get], |c| c
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()));
    let err = S3ObjectSink::new(s3, "lake-bucket", "").get("a/b").await.unwrap_err();
    assert!(err.is_retryable() && err.to_string().contains("GetObject s3://lake-bucket/a/b"), "{err}");
}
