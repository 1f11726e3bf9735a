//! DLP alerts on EventBridge, against moto: an EventBridge rule on a custom bus forwards
//! `source: compliance-lake` events to an SQS queue we read back.
//! 1. `compliance-lake sync --backend aws --synthetic` (the demo tenant, as an operator runs it, with
//!    `COMPLIANCE_LAKE_ALERTS_EVENT_BUS` set) emits one `DLP Finding` event per CRITICAL/HIGH finding the lake holds —
//!    the same ids — and nothing below the threshold, and no planted value appears in any event.
//! 2. Over the rate limit (2 events per job per minute) each commit's excess becomes one
//!    `DLP Findings Summary`: individual events + summary counts = the CRITICAL/HIGH findings.

mod aws_harness;
mod common;

use common::*;
use serde_json::Value;
use shared::alerts::{Alerts, EventBridgeAlerts, DETAIL_TYPE_FINDING, DETAIL_TYPE_SUMMARY};
use shared::api::ApiKey;
use shared::aws::init::{ensure_all, InitSpec};
use shared::aws::{runtime, AwsClients, AwsSettings, Encryption, S3ObjectSink};
use shared::dlp::Severity;
use shared::serverless::driver::{drive, DriveOptions};
use shared::serverless::settings::Settings;
use shared::serverless::ApiSettings;
use shared::store::Table;
use shared::time::Timestamp;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// A custom bus with a rule sending our events to a fresh queue; returns (bus name, queue url).
async fn capture(clients: &AwsClients) -> (String, String) {
    let bus = aws_harness::unique("alerts");
    clients.eventbridge.create_event_bus().name(&bus).send().await.expect("create bus");
    let q = clients.sqs.create_queue().queue_name(aws_harness::unique("captured")).send().await.expect("queue");
    let url = q.queue_url().expect("url").to_string();
    let arn = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attrs")
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
        .expect("arn");
    clients
        .eventbridge
        .put_rule()
        .name("dlp-findings")
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["compliance-lake"]}"#)
        .send()
        .await
        .expect("rule");
    clients
        .eventbridge
        .put_targets()
        .rule("dlp-findings")
        .event_bus_name(&bus)
        .targets(aws_sdk_eventbridge::types::Target::builder().id("q").arn(arn).build().expect("target"))
        .send()
        .await
        .expect("targets");
    (bus, url)
}

/// Every event the rule delivered (raw message bodies).
async fn drain(clients: &AwsClients, url: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let r = clients
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let msgs = r.messages();
        if msgs.is_empty() {
            empty += 1;
            continue;
        }
        for m in msgs {
            out.push(m.body().unwrap_or_default().to_string());
            clients
                .sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .ok();
        }
    }
    out
}

async fn deployment(clients: &AwsClients) -> (AwsSettings, String, String, String) {
    let (bucket, table, queue) =
        (aws_harness::unique("lake"), aws_harness::unique("state"), aws_harness::unique("jobs"));
    let out = ensure_all(clients, &InitSpec::new(&bucket, &table, &queue)).await.expect("init");
    let aws = AwsSettings {
        bucket: bucket.clone(),
        prefix: String::new(),
        table: table.clone(),
        queue_url: Some(out.queues.queue_url),
        secret_id: None,
        encryption: Encryption::Aes256,
        tenant: "t".into(),
        budget_per_minute: 0,
        budget_sub_window: Duration::from_secs(1),
        key_cache_ttl: Duration::from_secs(60),
        dlp_key_secret_id: None,
    };
    (aws, bucket, table, queue)
}

fn severe(f: &Value) -> bool {
    matches!(f["severity"].as_str(), Some("CRITICAL" | "HIGH"))
}

fn parse(bodies: &[String]) -> Vec<Value> {
    bodies.iter().map(|b| serde_json::from_str::<Value>(b).expect("event json")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_sync_with_backend_aws_emits_one_event_per_critical_or_high_finding() {
    let clients = aws_harness::moto().await;
    let (aws, bucket, table, queue) = deployment(&clients).await;
    let (bus, url) = capture(&clients).await;
    let tenant =
        shared::synthetic::Tenant::generate(shared::synthetic::TenantConfig { seed: 42, ..Default::default() });
    let start = Timestamp(tenant.config.start).to_rfc3339();
    let t0 = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_compliance-lake"))
        .args(["sync", "--backend", "aws", "--synthetic", "--seed", "42", "--backfill-start", &start])
        .args(["--bucket", &bucket, "--table", &table, "--queue", &queue, "--budget-per-minute", "0", "--no-progress"])
        .env("AWS_ENDPOINT_URL", aws_harness::moto_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("COMPLIANCE_LAKE_ALERTS_EVENT_BUS", &bus)
        .env("COMPLIANCE_LAKE_ALERTS_MAX_PER_MINUTE", "100000")
        .env("COMPLIANCE_LAKE_LOG", "shared::alerts=info")
        .output()
        .expect("run compliance-lake");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "sync --backend aws failed:\n{stdout}\n{stderr}");
    eprintln!("sync --backend aws (demo tenant) on moto in {:?}", t0.elapsed());

    // synthetic data lives under its own prefix (never the real tables)
    let prefix = if aws.prefix.is_empty() {
        shared::binding::SYNTHETIC_PREFIX.to_string()
    } else {
        format!("{}/{}", aws.prefix, shared::binding::SYNTHETIC_PREFIX)
    };
    let s3 = S3ObjectSink::new(clients.s3.clone(), &aws.bucket, &prefix);
    let findings = shared::verify::read_table(&s3, Table::DlpFindings).await.expect("findings");
    let want: BTreeSet<String> =
        findings.iter().filter(|f| severe(f)).map(|f| f["id"].as_str().unwrap().to_string()).collect();
    assert!(!want.is_empty(), "the demo tenant has CRITICAL/HIGH findings");
    let bodies = drain(&clients, &url).await;
    let events = parse(&bodies);
    assert!(events.iter().all(|e| e["source"] == "compliance-lake" && e["detail-type"] == DETAIL_TYPE_FINDING));
    let got: Vec<String> = events.iter().map(|e| e["detail"]["id"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(got.len(), want.len(), "one event per CRITICAL/HIGH finding, no duplicates");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);
    // the detail is the dlp_findings row (same shape), redacted
    let row = findings.iter().find(|f| f["id"] == events[0]["detail"]["id"]).unwrap();
    assert_eq!(&events[0]["detail"], row);
    for p in &tenant.planted {
        for b in bodies.iter().chain([stdout.to_string(), stderr.to_string()].iter()) {
            assert!(!b.contains(&p.value), "planted {:?} value in an event or the log", p.kind);
        }
    }
    eprintln!(
        "{} findings in the lake, {} CRITICAL/HIGH → {} PutEvents entries, no planted value ({} planted)",
        findings.len(),
        want.len(),
        events.len(),
        tenant.planted.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_the_rate_a_flood_becomes_a_summary_event() {
    let clients = aws_harness::moto().await;
    let (aws, ..) = deployment(&clients).await;
    let (bus, url) = capture(&clients).await;
    let f = fake(small_tenant(61), open_cfg()).await;
    let settings = Settings {
        api: ApiSettings { base_url: f.base_url(), ..ApiSettings::default() },
        cfg: sync_cfg(&f),
        streams: Default::default(),
        synthetic_seed: None,
    };
    let mut rt =
        runtime::build(clients.clone(), aws.clone(), settings, Some(ApiKey::new(shared::fake_api::synthetic_key())))
            .await
            .expect("runtime");
    let per_minute = 2;
    rt.runtime.alerts = Some(Arc::new(Alerts::new(
        Arc::new(EventBridgeAlerts::new(clients.eventbridge.clone(), &bus)),
        Severity::High,
        per_minute,
    )));
    let r = drive(rt.runtime.clone(), Timestamp::now(), DriveOptions { workers: 4, ..DriveOptions::default() })
        .await
        .expect("drive");
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let s3 = S3ObjectSink::new(clients.s3.clone(), &aws.bucket, &aws.prefix);
    let findings = shared::verify::read_table(&s3, Table::DlpFindings).await.expect("findings");
    let severe_n = findings.iter().filter(|f| severe(f)).count();
    let events = parse(&drain(&clients, &url).await);
    let singles = events.iter().filter(|e| e["detail-type"] == DETAIL_TYPE_FINDING).count();
    let summaries: Vec<&Value> = events.iter().filter(|e| e["detail-type"] == DETAIL_TYPE_SUMMARY).collect();
    let summarized: u64 = summaries.iter().map(|e| e["detail"]["count"].as_u64().unwrap_or(0)).sum();
    assert!(severe_n > per_minute as usize * 2, "enough findings to flood ({severe_n})");
    assert!(!summaries.is_empty(), "a summary when over the rate");
    assert_eq!(singles + summarized as usize, severe_n, "every CRITICAL/HIGH finding is alerted or summarized");
    // per job: at most `per_minute` individual events
    let mut per_job = std::collections::BTreeMap::<String, u32>::new();
    for e in events.iter().filter(|e| e["detail-type"] == DETAIL_TYPE_FINDING) {
        *per_job.entry(e["detail"]["_ingest"]["job"].as_str().unwrap_or("?").to_string()).or_default() += 1;
    }
    assert!(per_job.values().all(|n| *n <= per_minute), "{per_job:?}");
    let planted = f.with_tenant(|t| t.planted.clone());
    for e in &events {
        let s = e.to_string();
        assert!(planted.iter().all(|p| !s.contains(&p.value)), "a planted value in an event");
    }
    eprintln!(
        "{severe_n} CRITICAL/HIGH findings at {per_minute}/min/job → {singles} finding events + {} summary events ({summarized} summarized)",
        summaries.len()
    );
    f.shutdown().await;
}
