//! `AwsClients::from_env` honours `AWS_ENDPOINT_URL` and switches S3 to path style (an emulator on
//! `localhost` has no `<bucket>.localhost` names). Its own binary: it sets process environment.

mod aws_harness;

use bytes::Bytes;
use shared::aws::init::{ensure_bucket, ensure_table};
use shared::aws::{AwsClients, AwsSettings};
use shared::budget::RequestBudget;
use shared::store::{ObjectSink, StateStore};

#[tokio::test]
async fn clients_from_environment_reach_the_emulator() {
    let ep = aws_harness::moto_endpoint().replace("127.0.0.1", "localhost");
    for (k, v) in [
        ("AWS_ENDPOINT_URL", ep.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ] {
        std::env::set_var(k, v);
    }
    assert!(shared::aws::config::endpoint_override_in_env());
    let bucket = aws_harness::unique("envlake");
    let table = aws_harness::unique("envstate");
    for (k, v) in [
        ("COMPLIANCE_LAKE_BUCKET", bucket.as_str()),
        ("COMPLIANCE_LAKE_PREFIX", "p/"),
        ("COMPLIANCE_LAKE_TABLE", table.as_str()),
        ("COMPLIANCE_LAKE_BUDGET_PER_MINUTE", "60"),
    ] {
        std::env::set_var(k, v);
    }
    let settings = AwsSettings::from_env().unwrap();
    let c = AwsClients::from_env().await;
    ensure_bucket(&c.s3, &bucket, &settings.encryption, None).await.unwrap();
    ensure_table(&c.dynamodb, &table).await.unwrap();

    let sink = settings.object_sink(&c);
    assert_eq!(sink.describe(), format!("s3://{bucket}/p"));
    sink.put("t/dt=2026-01-01/a-00000.ndjson.gz", Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(sink.list("t/").await.unwrap(), vec!["t/dt=2026-01-01/a-00000.ndjson.gz".to_string()]);
    let s = settings.state_store(&c);
    assert_eq!(s.save("k", None, &serde_json::json!(1)).await.unwrap(), 1);
    let budget = settings.budget(&c);
    budget.acquire().await;
    assert_eq!((budget.per_minute(), budget.counters().tokens), (60, 1));
    assert!(settings.leases(&c).acquire("j", "w", std::time::Duration::from_secs(5)).await.unwrap().is_some());
    assert!(settings.work_queue(&c).is_none() && settings.key_source(&c).is_none());
}
