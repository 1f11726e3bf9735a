//! Issue 10 on the distributed path (moto): a `Synthetic=true` deployment writes under its own
//! prefix, never into the real tables; the DLP fingerprint key is a Secrets Manager secret, never a
//! state-table item (and a key an earlier version left in the table is moved into the secret).

mod aws_harness;

use shared::aws::init::{ensure_all, InitSpec};
use shared::aws::{runtime, AwsSettings, Encryption, S3ObjectSink};
use shared::serverless::driver::{drive, DriveOptions};
use shared::serverless::scheduler::ScheduleOutcome;
use shared::serverless::settings::Settings;
use shared::store::{ObjectSink, StateStore};
use shared::sync::StreamSelection;
use shared::time::Timestamp;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_prefix_and_dlp_key_in_secrets_manager() {
    let clients = aws_harness::moto().await;
    let (bucket, table, queue) =
        (aws_harness::unique("lake"), aws_harness::unique("state"), aws_harness::unique("jobs"));
    let out = ensure_all(&clients, &InitSpec::new(&bucket, &table, &queue)).await.expect("init");
    let aws = AwsSettings {
        bucket: bucket.clone(),
        prefix: "raw".into(),
        table: table.clone(),
        queue_url: Some(out.queues.queue_url),
        secret_id: None,
        dlp_key_secret_id: None,
        encryption: Encryption::Aes256,
        tenant: "t".into(),
        budget_per_minute: 0,
        budget_sub_window: Duration::from_secs(1),
        key_cache_ttl: Duration::from_secs(60),
    };
    // an earlier version kept the DLP key in the state table
    let state = aws.state_store(&clients);
    let legacy = "5f0e8a1c3b7d9e2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f";
    state.save(shared::aws::dlp_key::LEGACY_STATE_KEY, None, &serde_json::json!({ "hex": legacy })).await.unwrap();

    let settings = Settings {
        api: Default::default(),
        cfg: Default::default(),
        streams: StreamSelection::parse("organizations,users").unwrap(),
        synthetic_seed: Some(9),
    };
    let rt = runtime::build(clients.clone(), aws.clone(), settings, None).await.expect("runtime");
    let r = drive(rt.runtime.clone(), Timestamp::now(), DriveOptions { workers: 2, ..DriveOptions::default() })
        .await
        .expect("drive");
    assert!(matches!(r.schedule, Some(ScheduleOutcome::Enqueued { .. })), "{:?}", r.schedule);
    assert!(r.failures().is_empty(), "{:?}", r.failures());

    // every object under raw/synthetic/, none in the real tables
    let whole = S3ObjectSink::new(clients.s3.clone(), &bucket, "");
    let keys = whole.list("").await.unwrap();
    assert!(keys.iter().any(|k| k.starts_with("raw/synthetic/users/")), "{keys:?}");
    assert!(
        keys.iter().all(|k| k.starts_with("raw/synthetic/")),
        "a synthetic object outside raw/synthetic/: {keys:?}"
    );

    // the DLP key: moved into its secret (same key), gone from the table
    let secret = aws.dlp_key_secret();
    let v = clients.secrets.get_secret_value().secret_id(&secret).send().await.expect("DLP key secret");
    assert_eq!(v.secret_string(), Some(legacy));
    assert!(state.load(shared::aws::dlp_key::LEGACY_STATE_KEY).await.unwrap().is_none(), "key still in the table");
    assert!(state.keys("dlp/").await.unwrap().is_empty());
}
