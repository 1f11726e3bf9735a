//! Per-page processing cost: parse + paginate + enrich + NDJSON encode + gzip for a 5,000-activity
//! page (the API's maximum activities page). Guard: < 100 ms per page on one core of this 2-core
//! machine (measured 80 ms ≈ 62k activities/s with a build running alongside) — far above what the
//! 600 requests/min API budget can feed (10 pages/s would need only 1 page per 100 ms).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::{json, Value};
use shared::api::paginate::{interpret, Family};
use shared::store::ndjson;
use shared::streams::{enrich, Ingest};

fn page_body(n: usize) -> Vec<u8> {
    let data: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "actor": {"email_address": format!("user{i}@example.com"), "ip_address": "203.0.113.7", "type": "user_actor",
                          "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                          "user_id": format!("user_01{i:020}")},
                "claude_chat_id": format!("claude_chat_01{i:020}"),
                "claude_project_id": null,
                "created_at": format!("2026-09-21T04:{:02}:{:02}.609122Z", (i / 60) % 60, i % 60),
                "id": format!("activity_01{i:020}"),
                "organization_id": "org_01AAAAAAAAAAAAAAAAAAAAAA",
                "type": "claude_chat_created",
                "organization_uuid": "11111111-1111-1111-1111-111111111111"
            })
        })
        .collect();
    serde_json::to_vec(&json!({"data": data, "has_more": true, "first_id": "a", "last_id": "b"})).unwrap_or_default()
}

fn process(body: &[u8]) -> usize {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let page = interpret(Family::Cursor { items: "data" }, v, None, "/v1/compliance/activities").expect("page");
    let ingest = Ingest {
        run_id: "run-bench",
        fetched_at: "2026-11-23T00:00:00.000000Z".into(),
        stream: "activities",
        endpoint: "/v1/compliance/activities",
        job: "activities",
        request_id: Some("req_bench"),
    };
    let recs: Vec<Value> = page.items.into_iter().map(|a| enrich(a, &[], &ingest)).collect();
    ndjson::encode_gz(&recs).map(|b| b.len()).unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let body = page_body(5000);
    let mut g = c.benchmark_group("page");
    g.throughput(Throughput::Elements(5000));
    g.sample_size(20);
    g.bench_function("activities_5000_parse_encode_gzip", |b| {
        b.iter_batched(|| body.clone(), |b| process(&b), BatchSize::LargeInput)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
