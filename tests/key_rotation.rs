//! The key rotation runbook (README) on the emulator: moto's Secrets Manager and DynamoDB, the fake
//! Compliance API, the CLI's `key register|status|revoke` and the Lambdas' handlers. Register A, sync;
//! register B, verify, revoke A; revoke B: the scheduler stops. The stack's secret is never deleted
//! (no drift) and no labelled version holds a revoked key.

mod aws_harness;
mod common;

use common::*;
use shared::aws::init::{ensure_all, InitSpec};
use shared::aws::{runtime, AwsClients, AwsSettings, Encryption};
use shared::fake_api::FakeKey;
use shared::serverless::driver::{drive, DriveOptions};
use shared::serverless::scheduler::ScheduleOutcome;
use shared::serverless::settings::Settings;
use shared::serverless::ApiSettings;
use shared::sync::StreamSelection;
use shared::time::Timestamp;
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_compliance-lake");

fn random_key() -> String {
    const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789";
    let bytes: Vec<u8> = (0..3).flat_map(|_| *uuid::Uuid::new_v4().as_bytes()).collect();
    format!("sk-ant-api01-{}", bytes.iter().map(|b| A[*b as usize % A.len()] as char).collect::<String>())
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

async fn cli(args: Vec<String>, key: Option<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut c = Command::new(BIN);
        c.args(&args)
            .env("AWS_ENDPOINT_URL", aws_harness::moto_endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("ANTHROPIC_COMPLIANCE_ACCESS_KEY");
        if let Some(k) = key {
            c.env("ANTHROPIC_COMPLIANCE_ACCESS_KEY", k);
        }
        c.output().unwrap()
    })
    .await
    .unwrap()
}

/// One scheduled run through the handlers, the key read from the secret (no cache).
async fn scheduled_run(
    clients: &AwsClients,
    aws: &AwsSettings,
    f: &shared::fake_api::FakeApiHandle,
) -> ScheduleOutcome {
    let settings = Settings {
        api: ApiSettings { base_url: f.base_url(), ..ApiSettings::default() },
        cfg: sync_cfg(f),
        streams: StreamSelection::parse("organizations,users").unwrap(),
        synthetic_seed: None,
    };
    let mut rt = runtime::build(clients.clone(), aws.clone(), settings, None).await.expect("runtime");
    rt.runtime.retry_base = Duration::from_millis(10);
    let r = drive(rt.runtime, Timestamp::now(), DriveOptions { workers: 2, ..DriveOptions::default() })
        .await
        .expect("drive");
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    r.schedule.expect("scheduled")
}

async fn value(clients: &AwsClients, secret: &str, stage: &str) -> Option<String> {
    let out = clients.secrets.get_secret_value().secret_id(secret).version_stage(stage).send().await.ok()?;
    out.secret_string().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_the_access_key_without_drift() {
    let clients = aws_harness::moto().await;
    let (bucket, table, queue) =
        (aws_harness::unique("lake"), aws_harness::unique("state"), aws_harness::unique("jobs"));
    let out = ensure_all(&clients, &InitSpec::new(&bucket, &table, &queue)).await.expect("init");
    // the stack creates the secret empty
    let secret = aws_harness::unique("cl-access-key");
    clients.secrets.create_secret().name(&secret).send().await.expect("create secret");
    let aws = AwsSettings {
        bucket,
        prefix: String::new(),
        table: table.clone(),
        queue_url: Some(out.queues.queue_url),
        secret_id: Some(secret.clone()),
        dlp_key_secret_id: None,
        encryption: Encryption::Aes256,
        tenant: "t".into(),
        budget_per_minute: 0,
        budget_sub_window: Duration::from_secs(1),
        key_cache_ttl: Duration::from_secs(0),
    };
    let f = fake(small_tenant(71), open_cfg()).await;
    let (a, b) = (random_key(), random_key());
    let (fa, fb) = (shared::api::ApiKey::new(&a).fingerprint(), shared::api::ApiKey::new(&b).fingerprint());
    f.set_keys(vec![FakeKey::full_access(&a), FakeKey::full_access(&b)]);
    let key_cmd = |cmd: &str, extra: &[&str]| {
        let mut v: Vec<String> =
            ["key", cmd, "--secret-id", &secret, "--table", &table, "--api-base-url", &f.base_url()]
                .iter()
                .map(|s| s.to_string())
                .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };

    // 1. key A registered (validated live) and used by a scheduled run
    let o = cli(key_cmd("register", &[]), Some(a.clone())).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(value(&clients, &secret, "AWSCURRENT").await.as_deref(), Some(a.as_str()));
    assert!(matches!(scheduled_run(&clients, &aws, &f).await, ScheduleOutcome::Enqueued { .. }));

    // 2. key B registered: current B, A kept as AWSPREVIOUS until revoked
    let o = cli(key_cmd("register", &[]), Some(b.clone())).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("key revoke --fingerprint {fa}")), "{}", text(&o));
    assert_eq!(value(&clients, &secret, "AWSCURRENT").await.as_deref(), Some(b.as_str()));
    assert_eq!(value(&clients, &secret, "AWSPREVIOUS").await.as_deref(), Some(a.as_str()));
    let o = cli(key_cmd("status", &[]), None).await;
    let t = text(&o);
    assert!(
        o.status.success()
            && t.contains(&fb)
            && t.contains(&format!("previous key  {fa}"))
            && t.contains("NOT REVOKED"),
        "{t}"
    );

    // 3. verify: the workers use B (A no longer accepted by the API)
    f.set_keys(vec![FakeKey::full_access(&b)]);
    assert!(matches!(scheduled_run(&clients, &aws, &f).await, ScheduleOutcome::Enqueued { .. }));

    // 4. revoke A: gone from the secret, B untouched, the secret still exists
    let o = cli(key_cmd("revoke", &["--fingerprint", &fa]), None).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(value(&clients, &secret, "AWSPREVIOUS").await, None, "the old key is still labelled");
    assert_eq!(value(&clients, &secret, "AWSCURRENT").await.as_deref(), Some(b.as_str()));
    let o = cli(key_cmd("status", &[]), None).await;
    assert!(o.status.success() && !text(&o).contains("NOT REVOKED"), "{}", text(&o));
    assert!(matches!(scheduled_run(&clients, &aws, &f).await, ScheduleOutcome::Enqueued { .. }));

    // 5. revoke the current key: value cleared (no key material), record revoked, scheduler stops;
    //    the stack's secret is not deleted (no drift)
    let o = cli(key_cmd("revoke", &[]), None).await;
    assert!(o.status.success(), "{}", text(&o));
    let d = clients.secrets.describe_secret().secret_id(&secret).send().await.expect("secret still exists");
    assert!(d.deleted_date().is_none(), "the secret was scheduled for deletion (stack drift)");
    let cur = value(&clients, &secret, "AWSCURRENT").await.unwrap_or_default();
    assert!(cur.contains(&fb) && !cur.contains(&b) && !cur.contains(&a), "{cur}");
    assert_eq!(value(&clients, &secret, "AWSPREVIOUS").await, None);
    let labelled = d.version_ids_to_stages().map(|m| m.values().filter(|s| !s.is_empty()).count()).unwrap_or(0);
    assert_eq!(labelled, 1, "only the marker version carries a label");
    match scheduled_run(&clients, &aws, &f).await {
        ScheduleOutcome::Stopped { reason } => assert!(reason.contains("revoked"), "{reason}"),
        o => panic!("scheduler ran with a revoked key: {o:?}"),
    }
    let o = cli(key_cmd("status", &[]), None).await;
    assert!(!o.status.success() && text(&o).contains("Revoked"), "{}", text(&o));
    for k in [&a, &b] {
        assert!(!text(&o).contains(&k[13..]), "a key printed");
    }
    f.shutdown().await;
}
