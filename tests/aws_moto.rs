//! Integration tests against moto in server mode (started by the harness, one per test binary).

mod aws_harness;

use aws_harness::{ddb_cases, moto, unique};
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_sqs::types::QueueAttributeName;
use bytes::Bytes;
use shared::api::ApiKey;
use shared::aws::init::{ensure_all, ensure_bucket, ensure_queues, InitSpec};
use shared::aws::{AwsError, Encryption, S3ObjectSink, SecretKeySource, SqsWorkQueue};
use shared::store::{ObjectSink, WorkQueue};
use std::time::Duration;

// ---------- S3 ----------

#[tokio::test]
async fn s3_put_overwrite_list_delete() {
    let c = moto().await;
    let bucket = unique("lake");
    ensure_bucket(&c.s3, &bucket, &Encryption::Aes256, None).await.unwrap();
    let sink = S3ObjectSink::new(c.s3.clone(), &bucket, "/raw/").with_page_size(2);
    assert_eq!(sink.describe(), format!("s3://{bucket}/raw"));

    let k0 = "users/dt=2026-11-23/users-org-b1-00000.ndjson.gz";
    sink.put(k0, Bytes::from_static(b"\x1f\x8bfirst")).await.unwrap();
    sink.put(k0, Bytes::from_static(b"\x1f\x8bsecond")).await.unwrap();
    assert_eq!(sink.get(k0).await.unwrap().unwrap(), Bytes::from_static(b"\x1f\x8bsecond"));
    assert_eq!(sink.get("users/dt=2026-11-23/missing.ndjson.gz").await.unwrap(), None);

    // Stored under the prefix, with the right headers and encryption.
    let head = c.s3.head_object().bucket(&bucket).key(format!("raw/{k0}")).send().await.unwrap();
    assert_eq!(head.content_type(), Some("application/x-ndjson"));
    assert_eq!(head.content_encoding(), None);
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));

    // 7 keys with a page size of 2 → 4 pages; keys come back relative to the prefix, sorted.
    let mut want = Vec::new();
    for i in (0..6).rev() {
        let k = format!("users/dt=2026-11-23/users-org-b2-{i:05}.ndjson.gz");
        sink.put(&k, Bytes::from(vec![i as u8])).await.unwrap();
        want.push(k);
    }
    sink.put("chats/dt=2026-11-23/chats-x-b1-00000.ndjson.gz", Bytes::new()).await.unwrap();
    want.push(k0.to_string());
    want.sort();
    assert_eq!(sink.list("users/").await.unwrap(), want);
    assert_eq!(sink.list("users/dt=2026-11-23/users-org-b2-").await.unwrap().len(), 6);
    assert_eq!(sink.list("").await.unwrap().len(), 8);
    // An object outside the prefix is invisible.
    c.s3.put_object()
        .bucket(&bucket)
        .key("elsewhere/users/x")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    assert_eq!(sink.list("").await.unwrap().len(), 8);

    sink.delete(k0).await.unwrap();
    sink.delete(k0).await.unwrap(); // deleting a missing key is fine
    assert_eq!(sink.get(k0).await.unwrap(), None);
    assert_eq!(sink.list("users/").await.unwrap().len(), 6);

    assert!(sink.put("../escape", Bytes::new()).await.is_err());
    assert!(sink.put("a//b", Bytes::new()).await.is_err());

    // Empty prefix: keys are the object keys.
    let root = S3ObjectSink::new(c.s3.clone(), &bucket, "");
    assert_eq!(root.describe(), format!("s3://{bucket}"));
    assert!(root.list("raw/users/").await.unwrap().iter().all(|k| k.starts_with("raw/users/")));
}

#[tokio::test]
async fn s3_kms_encryption_and_errors() {
    let c = moto().await;
    let bucket = unique("lakekms");
    ensure_bucket(&c.s3, &bucket, &Encryption::Kms { key_id: None }, Some(30)).await.unwrap();
    let sink = S3ObjectSink::new(c.s3.clone(), &bucket, "p").with_encryption(Encryption::Kms { key_id: None });
    sink.put("t/dt=2026-01-01/a-00000.ndjson.gz", Bytes::from_static(b"x")).await.unwrap();
    let head = c.s3.head_object().bucket(&bucket).key("p/t/dt=2026-01-01/a-00000.ndjson.gz").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));

    // A missing bucket is a retryable backend error naming bucket and key.
    let gone = S3ObjectSink::new(c.s3.clone(), unique("nobucket"), "p");
    let err = gone.put("t/x.ndjson.gz", Bytes::new()).await.unwrap_err();
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("PutObject s3://nobucket-") && msg.contains("/p/t/x.ndjson.gz") && msg.contains("NoSuchBucket"),
        "{msg}"
    );
    assert!(!msg.contains("test/"), "no credentials in errors: {msg}");
    let err = gone.get("t/x.ndjson.gz").await.unwrap_err();
    assert!(
        err.is_retryable() && err.to_string().contains("NoSuchBucket"),
        "a missing bucket is not a missing key: {err}"
    );
}

// ---------- DynamoDB (shared cases) ----------

#[tokio::test]
async fn dynamodb_state_conditional_semantics() {
    ddb_cases::state_conditional_semantics(moto().await.dynamodb).await;
}

#[tokio::test]
async fn dynamodb_state_concurrent_saves() {
    ddb_cases::state_concurrent_saves(moto().await.dynamodb).await;
}

#[tokio::test]
async fn dynamodb_lease_semantics() {
    if moto_races_conditional_writes() {
        return;
    }
    ddb_cases::lease_semantics(moto().await.dynamodb).await;
}

/// moto's conditional writes are not atomic under concurrent requests (two racing PutItems with
/// the same condition can both succeed; seen on a loaded machine). The cases that test exactly that
/// atomicity run on DynamoDB Local (`tests/aws_dynamodb_local.rs`), which is required in CI; here
/// they are skipped when it is.
fn moto_races_conditional_writes() -> bool {
    let skip = std::env::var("REQUIRE_DYNAMODB_LOCAL").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("SKIPPED on moto (non-atomic conditional writes): this case runs on DynamoDB Local");
    }
    skip
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_budget_cap_and_throughput() {
    if moto_races_conditional_writes() {
        return;
    }
    ddb_cases::budget_cap_and_throughput(moto().await.dynamodb, "moto").await;
}

/// Issue #9 item 5: what this tool's workers spent is read from the shared counter, so only the
/// rest of `limit − remaining` counts as another tool's use (siblings never freeze each other).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_budget_tells_siblings_from_other_tools() {
    use shared::aws::{DynamoBudget, DynamoBudgetConfig};
    use shared::budget::RequestBudget;
    let ddb = moto().await.dynamodb;
    let table = ddb_cases::new_table(&ddb, "share").await;
    let tenant = unique("tenant");
    let workers: Vec<DynamoBudget> =
        (0..3).map(|_| DynamoBudget::new(ddb.clone(), &table, DynamoBudgetConfig::new(&tenant, 600))).collect();
    for _ in 0..12 {
        for w in &workers {
            w.acquire().await;
        }
    }
    let ours = workers[0].spent_last_minute().await.unwrap();
    assert_eq!(ours, 36, "every worker's tokens are in the shared count");
    // the server saw exactly our 36: nobody else
    assert_eq!(workers[1].probe_other_tools(600, 600 - 36).await.unwrap(), 0);
    assert_eq!(workers[1].per_minute(), 600);
    // another tool spent 250 more: given up by this worker for a minute, never below 1
    assert_eq!(workers[2].probe_other_tools(600, 600 - 36 - 250).await.unwrap(), 250);
    assert_eq!((workers[2].per_minute(), workers[2].other_tools_per_minute()), (350, 250));
    // it stops when the server's count is ours again
    assert_eq!(workers[2].probe_other_tools(600, 600 - 36).await.unwrap(), 0);
    assert_eq!(workers[2].per_minute(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_budget_pause_is_shared() {
    ddb_cases::budget_pause_is_shared(moto().await.dynamodb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "75 s: run with --ignored to check a full sliding minute"]
async fn dynamodb_budget_full_minute() {
    ddb_cases::budget_full_minute(moto().await.dynamodb, "moto").await;
}

// ---------- SQS ----------

#[tokio::test]
async fn sqs_send_receive_release_ack_dlq() {
    let c = moto().await;
    let name = unique("jobs");
    let q = ensure_queues(&c.sqs, &name, 2, Duration::from_secs(30)).await.unwrap();
    let queue = SqsWorkQueue::new(c.sqs.clone(), &q.queue_url).with_wait_time(Duration::from_secs(1));
    let dlq = SqsWorkQueue::new(c.sqs.clone(), &q.dlq_url).with_wait_time(Duration::from_secs(1));

    let bodies: Vec<String> = (0..25).map(|i| format!(r#"{{"job":"users/org-{i}"}}"#)).collect();
    queue.send(bodies.clone()).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..10 {
        let batch = queue.receive(10).await.unwrap();
        got.extend(batch);
        if got.len() >= 25 {
            break;
        }
    }
    assert_eq!(got.len(), 25);
    let mut seen: Vec<String> = got.iter().map(|m| m.body.clone()).collect();
    seen.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(seen, want);
    assert!(got.iter().all(|m| m.receive_count == 1));
    assert!(queue.receive(10).await.unwrap().is_empty(), "in-flight messages are invisible");

    // Ack 22, release 3.
    for m in &got[..22] {
        queue.ack(&m.id).await.unwrap();
    }
    for m in &got[22..] {
        queue.release(&m.id).await.unwrap();
    }
    let again = collect(&queue, 3).await;
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|m| m.receive_count == 2), "{again:?}");
    // Release once more: maxReceiveCount = 2, so the next receive moves them to the DLQ.
    for m in &again {
        queue.release(&m.id).await.unwrap();
    }
    assert!(queue.receive(10).await.unwrap().is_empty());
    let dead = collect(&dlq, 3).await;
    assert_eq!(dead.len(), 3);
    let mut dead_bodies: Vec<_> = dead.iter().map(|m| m.body.clone()).collect();
    dead_bodies.sort();
    let mut released: Vec<_> = got[22..].iter().map(|m| m.body.clone()).collect();
    released.sort();
    assert_eq!(dead_bodies, released);
}

async fn collect(q: &SqsWorkQueue, n: usize) -> Vec<shared::store::QueueMessage> {
    let mut out = Vec::new();
    for _ in 0..6 {
        out.extend(q.receive(10).await.unwrap());
        if out.len() >= n {
            break;
        }
    }
    out
}

#[tokio::test]
async fn sqs_visibility_timeout_redelivers() {
    let c = moto().await;
    let q = ensure_queues(&c.sqs, &unique("vis"), 5, Duration::from_secs(30)).await.unwrap();
    let queue = SqsWorkQueue::new(c.sqs.clone(), &q.queue_url)
        .with_wait_time(Duration::from_secs(1))
        .with_visibility_timeout(Duration::from_secs(1));
    queue.send(vec!["a".into()]).await.unwrap();
    let m = queue.receive(1).await.unwrap();
    assert_eq!(m.len(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let m2 = collect(&queue, 1).await;
    assert_eq!(m2.len(), 1);
    assert_eq!(m2[0].receive_count, 2);
    queue.ack(&m2[0].id).await.unwrap();
    assert!(queue.receive(1).await.unwrap().is_empty());
    assert_eq!(queue.receive(0).await.unwrap(), vec![]);
}

#[tokio::test]
async fn sqs_send_to_missing_queue_is_backend_error() {
    let c = moto().await;
    let url = format!("{}/123456789012/{}", aws_harness::moto_endpoint(), unique("gone"));
    let queue = SqsWorkQueue::new(c.sqs.clone(), &url).with_wait_time(Duration::ZERO);
    let err = queue.send(vec!["x".into()]).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(err.to_string().contains("SendMessageBatch"), "{err}");
}

// ---------- Secrets Manager ----------

#[tokio::test]
async fn secrets_put_get_cache_rotate_delete() {
    let c = moto().await;
    let id = unique("cl-key");
    let src = SecretKeySource::new(c.secrets.clone(), &id).with_ttl(Duration::from_secs(2));
    match src.get().await {
        Err(AwsError::NotFound { what }) => assert!(what.contains(&id)),
        other => panic!("expected NotFound, got {other:?}"),
    }
    let k1 = ApiKey::new("sk-ant-api01-first-secret-value-111");
    src.put(&k1, None).await.unwrap();
    assert_eq!(src.get().await.unwrap().expose(), k1.expose());

    // Rotation by someone else: the cache keeps serving the old key until its TTL.
    let reader = SecretKeySource::new(c.secrets.clone(), &id).with_ttl(Duration::from_secs(2));
    assert_eq!(reader.get().await.unwrap().expose(), k1.expose());
    let k2 = ApiKey::new("sk-ant-api01-second-secret-value-222");
    src.put(&k2, None).await.unwrap();
    assert_eq!(reader.get().await.unwrap().expose(), k1.expose(), "cached");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(reader.get().await.unwrap().expose(), k2.expose(), "refetched after the TTL");
    let k3 = ApiKey::new("sk-ant-api01-third-secret-value-333");
    src.put(&k3, None).await.unwrap();
    reader.invalidate().await;
    assert_eq!(reader.get().await.unwrap().expose(), k3.expose(), "refetched after invalidate");

    // JSON form.
    c.secrets
        .put_secret_value()
        .secret_id(&id)
        .secret_string(r#"{"api_key":"sk-ant-api01-json-444"}"#)
        .send()
        .await
        .unwrap();
    reader.invalidate().await;
    assert_eq!(reader.get().await.unwrap().expose(), "sk-ant-api01-json-444");

    // Nothing prints the value.
    let dbg = format!("{reader:?} {src:?}");
    assert!(!dbg.contains("secret-value") && !dbg.contains("json-444"), "{dbg}");
    assert!(dbg.contains("sha256:"), "{dbg}");

    // Soft delete, then put restores; force delete removes.
    src.delete(false).await.unwrap();
    let err = SecretKeySource::new(c.secrets.clone(), &id).get().await.unwrap_err();
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
    assert!(!err.to_string().contains("secret-value"), "{err}");
    src.put(&k1, None).await.unwrap();
    assert_eq!(SecretKeySource::new(c.secrets.clone(), &id).get().await.unwrap().expose(), k1.expose());
    src.delete(true).await.unwrap();
    assert!(matches!(SecretKeySource::new(c.secrets.clone(), &id).get().await, Err(AwsError::NotFound { .. })));
    src.delete(true).await.unwrap(); // already gone: fine
}

// ---------- init ----------

#[tokio::test]
async fn init_is_idempotent() {
    let c = moto().await;
    let mut spec = InitSpec::new(unique("lake"), unique("state"), unique("work"));
    let a = ensure_all(&c, &spec).await.unwrap();
    spec.visibility_timeout = Duration::from_secs(120);
    spec.max_receive_count = 3;
    let b = ensure_all(&c, &spec).await.unwrap();
    assert_eq!(a.queues, b.queues);
    assert!(a.queues.dlq_url.ends_with(&format!("{}-dlq", spec.queue)));
    assert!(a.queues.queue_arn.starts_with("arn:aws:sqs:"));

    // moto answers GetBucketVersioning with an XML root the SDK rejects; check versioning by effect.
    for body in ["v1", "v2"] {
        c.s3.put_object().bucket(&spec.bucket).key("probe").body(body.as_bytes().to_vec().into()).send().await.unwrap();
    }
    let versions = c.s3.list_object_versions().bucket(&spec.bucket).prefix("probe").send().await.unwrap();
    assert_eq!(versions.versions().len(), 2, "versioning is enabled");
    let pab = c.s3.get_public_access_block().bucket(&spec.bucket).send().await.unwrap();
    let pab = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        (pab.block_public_acls(), pab.ignore_public_acls(), pab.block_public_policy(), pab.restrict_public_buckets()),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let enc = c.s3.get_bucket_encryption().bucket(&spec.bucket).send().await.unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default().map(|d| d.sse_algorithm()),
        Some(&ServerSideEncryption::Aes256)
    );

    let ttl = c.dynamodb.describe_time_to_live().table_name(&spec.table).send().await.unwrap();
    assert_eq!(ttl.time_to_live_description().and_then(|d| d.attribute_name()), Some("expires_at"));
    let t = c.dynamodb.describe_table().table_name(&spec.table).send().await.unwrap();
    assert_eq!(
        t.table().and_then(|t| t.billing_mode_summary()).and_then(|b| b.billing_mode()),
        Some(&aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
    );

    let attrs = c
        .sqs
        .get_queue_attributes()
        .queue_url(&b.queues.queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs.get(&QueueAttributeName::VisibilityTimeout).map(String::as_str), Some("120"));
    let redrive: serde_json::Value =
        serde_json::from_str(attrs.get(&QueueAttributeName::RedrivePolicy).unwrap()).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], serde_json::json!(b.queues.dlq_arn));
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), "3");

    assert!(matches!(ensure_queues(&c.sqs, "x.fifo", 5, Duration::from_secs(30)).await, Err(AwsError::Invalid(_))));
}
