//! Cost of the commit protocol per segment (bench binary: `cargo bench --bench commit`), on the
//! local store and, when the emulators are installed (`scripts/setup-emulators.sh`), on S3 +
//! DynamoDB (moto). For a segment of 2,000 activity-shaped records with random base58 ids it
//! reports storage requests, bytes written and wall time of today's protocol (stage → manifest →
//! conditional save → publish → clean up) next to the previous one's operation sequence (pending
//! marker save → parts written in place → listing for stale parts → conditional save), replayed on
//! the same backend with the same bytes.
//! Guard: the new protocol costs ≤ 3 × the old one's wall time per segment on the local store.

#[path = "../tests/aws_harness/mod.rs"]
mod aws_harness;

use async_trait::async_trait;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shared::api::{ApiClient, ApiKey, ClientConfig};
use shared::budget::LocalBudget;
use shared::serverless::Runtime;
use shared::store::{ndjson, ObjectSink, StateStore, StoreError, Table};
use shared::streams::segment::Segment;
use shared::streams::{JobContext, JobStats, SyncConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Counts {
    puts: AtomicU64,
    put_bytes: AtomicU64,
    gets: AtomicU64,
    lists: AtomicU64,
    deletes: AtomicU64,
    copies: AtomicU64,
}

struct Counting {
    inner: Arc<dyn ObjectSink>,
    c: Arc<Counts>,
}

#[async_trait]
impl ObjectSink for Counting {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.c.puts.fetch_add(1, Ordering::Relaxed);
        self.c.put_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        self.inner.put(key, body).await
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        self.c.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.c.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.c.deletes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(key).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        self.c.copies.fetch_add(1, Ordering::Relaxed);
        self.inner.copy(from, to).await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

const B58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn records(rng: &mut rand::rngs::StdRng, n: usize) -> Vec<serde_json::Value> {
    let id = |rng: &mut rand::rngs::StdRng, p: &str| {
        let s: String = (0..24).map(|_| B58[rng.gen_range(0..B58.len())] as char).collect();
        format!("{p}{s}")
    };
    (0..n)
        .map(|i| {
            json!({
                "id": id(rng, "activity_"),
                "created_at": format!("2026-11-30T{:02}:{:02}:{:02}.{:03}Z", (i / 3600) % 24, (i / 60) % 60, i % 60, i % 1000),
                "organization_id": id(rng, "org_"),
                "organization_uuid": "8c6a1f3e-5b2d-4e7a-9f10-2d3c4b5a6e7f",
                "actor": {"type": "user_actor", "email_address": format!("{}@example.com", id(rng, "u")), "user_id": id(rng, "user_"), "ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0"},
                "type": "claude_chat_created",
                "claude_chat_id": id(rng, "claude_chat_"),
                "_ingest": {"run_id": "run-bench", "fetched_at": "2026-11-30T12:00:00Z", "stream": "activities", "endpoint": "/v1/compliance/activities", "job": "activities", "request_id": id(rng, "req_")},
            })
        })
        .collect()
}

struct Figures {
    requests: f64,
    bytes: f64,
    ms: f64,
}

fn snapshot(c: &Counts) -> (u64, u64) {
    let ops = c.puts.load(Ordering::Relaxed)
        + c.gets.load(Ordering::Relaxed)
        + c.lists.load(Ordering::Relaxed)
        + c.deletes.load(Ordering::Relaxed)
        + c.copies.load(Ordering::Relaxed);
    (ops, c.put_bytes.load(Ordering::Relaxed))
}

/// Today's protocol: `segments` commits of one segment each through the real `Segment`.
async fn new_protocol(
    ctx: &JobContext,
    counts: &Counts,
    saves: &AtomicU64,
    recs: &[serde_json::Value],
    segments: usize,
) -> Figures {
    let stats = JobStats::default();
    let (mut seg, _) =
        Segment::open(ctx, &stats, "activities", "activities".into(), &[Table::Activities]).await.expect("open");
    let (ops0, bytes0) = snapshot(counts);
    let t0 = Instant::now();
    for i in 0..segments {
        for r in recs {
            seg.push(Table::Activities, r.clone());
        }
        seg.commit(json!({"segment": i})).await.expect("commit");
        saves.fetch_add(1, Ordering::Relaxed);
    }
    let (ops1, bytes1) = snapshot(counts);
    let n = segments as f64;
    Figures {
        requests: (ops1 - ops0) as f64 / n + 1.0,
        bytes: (bytes1 - bytes0) as f64 / n,
        ms: t0.elapsed().as_secs_f64() * 1000.0 / n,
    }
}

/// The previous protocol's operations, replayed: pending save, part put in place, stale-part list, save.
async fn old_protocol(
    sink: &dyn ObjectSink,
    state: &dyn StateStore,
    counts: &Counts,
    recs: &[serde_json::Value],
    segments: usize,
) -> Figures {
    let (ops0, bytes0) = snapshot(counts);
    let t0 = Instant::now();
    let mut version = state.load("old-activities").await.expect("load").map(|v| v.version);
    for i in 0..segments {
        version = Some(state.save("old-activities", version, &json!({"pending": {"batch": i}})).await.expect("save"));
        let body = ndjson::encode_gz(recs).expect("gzip");
        let key = format!("old_activities/dt=2026-11-30/activities-b{i:06}-00000.ndjson.gz");
        sink.put(&key, Bytes::from(body)).await.expect("put");
        let _ = sink.list(&format!("old_activities/dt=2026-11-30/activities-b{i:06}-")).await.expect("list");
        version = Some(state.save("old-activities", version, &json!({"checkpoint": i})).await.expect("save"));
    }
    let (ops1, bytes1) = snapshot(counts);
    let n = segments as f64;
    Figures {
        requests: (ops1 - ops0) as f64 / n + 2.0,
        bytes: (bytes1 - bytes0) as f64 / n,
        ms: t0.elapsed().as_secs_f64() * 1000.0 / n,
    }
}

fn row(name: &str, f: &Figures) {
    println!("  {name:<34} {:>8.1} requests {:>10.0} bytes written {:>9.2} ms", f.requests, f.bytes, f.ms);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let recs = records(&mut rng, 2_000);
        // `cargo test --all-targets` runs bench binaries without `--bench`: a smoke run
        let segments = if std::env::args().any(|a| a == "--bench") { 20 } else { 3 };
        let client = ApiClient::new(
            ClientConfig::new("http://127.0.0.1:9", ApiKey::new("sk-ant-api01-bench")),
            Arc::new(LocalBudget::unlimited()),
        )
        .expect("client");
        println!("commit protocol, per segment of {} records ({} segments):", recs.len(), segments);

        // local store
        let dir = tempfile::tempdir().expect("tmp");
        let counts = Arc::new(Counts::default());
        let mut engine =
            Runtime::local_with_client(dir.path(), client.clone(), SyncConfig::default(), 1).expect("runtime");
        engine.sink = Arc::new(Counting { inner: engine.sink.clone(), c: counts.clone() });
        let ctx = engine.context(client.clone(), "run-bench", None);
        let saves = AtomicU64::new(0);
        println!("local store:");
        let old = old_protocol(engine.sink.as_ref(), engine.state.as_ref(), &counts, &recs, segments).await;
        let new = new_protocol(&ctx, &counts, &saves, &recs, segments).await;
        row("previous (in place, pending marker)", &old);
        row("staged + manifest + publish", &new);
        println!(
            "  ratio new/old: {:.2}× requests, {:.2}× bytes, {:.2}× time",
            new.requests / old.requests,
            new.bytes / old.bytes,
            new.ms / old.ms
        );
        assert!(new.ms <= old.ms * 3.0 + 5.0, "guard: ≤ 3× the old protocol's time on the local store");

        // S3 + DynamoDB on moto
        let py = std::env::var("MOTO_PYTHON").unwrap_or_else(|_| ".venv-aws/bin/python".into());
        if !std::path::Path::new(&py).exists() {
            println!("emulator: skipped (run scripts/setup-emulators.sh)");
            return;
        }
        let clients = aws_harness::moto().await;
        let (bucket, table, queue) =
            (aws_harness::unique("bench"), aws_harness::unique("bench"), aws_harness::unique("bench"));
        shared::aws::init::ensure_all(&clients, &shared::aws::init::InitSpec::new(&bucket, &table, &queue))
            .await
            .expect("init");
        let counts = Arc::new(Counts::default());
        let s3: Arc<dyn ObjectSink> = Arc::new(shared::aws::S3ObjectSink::new(clients.s3.clone(), &bucket, "raw"));
        let ddb: Arc<dyn StateStore> = Arc::new(shared::aws::DynamoStateStore::new(clients.dynamodb.clone(), &table));
        let mut engine =
            Runtime::local_with_client(dir.path(), client.clone(), SyncConfig::default(), 1).expect("runtime");
        engine.sink = Arc::new(Counting { inner: s3, c: counts.clone() });
        engine.state = ddb;
        let ctx = engine.context(client, "run-bench", None);
        println!("S3 + DynamoDB (moto):");
        let old = old_protocol(engine.sink.as_ref(), engine.state.as_ref(), &counts, &recs, segments).await;
        let new = new_protocol(&ctx, &counts, &saves, &recs, segments).await;
        row("previous (in place, pending marker)", &old);
        row("staged + manifest + publish", &new);
        println!(
            "  ratio new/old: {:.2}× requests, {:.2}× bytes, {:.2}× time",
            new.requests / old.requests,
            new.bytes / old.bytes,
            new.ms / old.ms
        );
        let _ = Duration::ZERO;
    });
}
