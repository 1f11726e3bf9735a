//! Serverless path report (bench binary, `cargo bench --bench serverless`; needs the emulators from
//! `scripts/setup-emulators.sh`). Prints:
//! 1. requests/s achieved vs the budget by 4 workers sharing the DynamoDB budget (target ≥ 90%),
//!    and DynamoDB calls per API call;
//! 2. the worker's peak memory processing one 5,000-record activities page end to end (fetch,
//!    parse, gzip, S3 put, DynamoDB checkpoint), with the fake API in a separate process.

#[path = "../tests/aws_harness/mod.rs"]
mod aws_harness;

use shared::api::ApiKey;
use shared::aws::init::{ensure_all, InitSpec};
use shared::aws::{runtime, AwsSettings, DynamoBudget, DynamoBudgetConfig, Encryption};
use shared::budget::RequestBudget;
use shared::serverless::settings::Settings;
use shared::serverless::worker::{work, Delivery, Outcome};
use shared::serverless::{ApiSettings, JobMessage};
use shared::streams::{Job, SyncConfig};
use shared::time::Timestamp;
use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let clients = aws_harness::moto().await;
        let (bucket, table, queue) = (aws_harness::unique("bench"), aws_harness::unique("bench"), aws_harness::unique("bench"));
        let out = ensure_all(&clients, &InitSpec::new(&bucket, &table, &queue)).await.expect("init");

        // 1. shared budget: 4 workers, each with its own DynamoBudget (as 4 Lambdas would), 25 s
        let budget = 600u32;
        // `cargo test --all-targets` runs bench binaries without `--bench`: a shorter smoke run
        let secs = if std::env::args().any(|a| a == "--bench") { 25.0 } else { 5.0 };
        let workers: Vec<Arc<DynamoBudget>> = (0..4)
            .map(|_| Arc::new(DynamoBudget::new(clients.dynamodb.clone(), &table, DynamoBudgetConfig::new("bench", budget))))
            .collect();
        let t0 = Instant::now();
        let mut handles = Vec::new();
        for w in &workers {
            let w = w.clone();
            handles.push(tokio::spawn(async move {
                let mut n = 0u64;
                while t0.elapsed().as_secs_f64() < secs {
                    w.acquire().await;
                    n += 1;
                }
                n
            }));
        }
        let mut tokens = 0;
        for h in handles {
            tokens += h.await.unwrap_or(0);
        }
        let el = t0.elapsed().as_secs_f64();
        let calls: u64 = workers.iter().map(|w| w.dynamodb_calls()).sum();
        println!("budget: 4 workers, {budget}/min: {tokens} tokens in {el:.1}s = {:.2} req/s = {:.1}% of budget; {:.2} DynamoDB calls per API call", tokens as f64 / el, 100.0 * (tokens as f64 / el * 60.0) / budget as f64, calls as f64 / tokens.max(1) as f64);

        // 2. peak memory for one 5,000-record page, fake API in its own process
        let mut fake = std::process::Command::new(env!("CARGO_BIN_EXE_compliance-lake"))
            .args(["fake-api", "--port", "0", "--activities", "5000", "--rate-limit", "0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("fake-api");
        let mut line = String::new();
        let mut fake_out = std::io::BufReader::new(fake.stdout.take().expect("stdout"));
        fake_out.read_line(&mut line).expect("read");
        // Keep reading the child's banner: a closed pipe would make its next println panic.
        let drain = std::thread::spawn(move || std::io::copy(&mut fake_out, &mut std::io::sink()));
        let base = line.split_whitespace().find(|w| w.starts_with("http://")).expect("url").to_string();
        let aws = AwsSettings {
            bucket,
            prefix: String::new(),
            table,
            queue_url: Some(out.queues.queue_url),
            secret_id: None,
            dlp_key_secret_id: None,
            encryption: Encryption::Aes256,
            tenant: "bench2".into(),
            budget_per_minute: 0,
            budget_sub_window: Duration::from_secs(1),
            key_cache_ttl: Duration::from_secs(60),
        };
        let cfg = SyncConfig { backfill_start: Some(Timestamp::now().minus(chrono::Duration::days(400))), activity_page_size: 5000, ..SyncConfig::default() };
        let settings = Settings { api: ApiSettings { base_url: base, ..ApiSettings::default() }, cfg, streams: Default::default(), synthetic_seed: None };
        let built = runtime::build(clients, aws, settings, Some(ApiKey::new(shared::fake_api::synthetic_key()))).await.expect("runtime");
        let before = vm_hwm_kib();
        let msg = JobMessage { job: Job::tenant("activities"), run_id: "bench".into(), schedule_time: Timestamp::now(), continuation: 0, deferrals: 0 };
        let t = Instant::now();
        let res = work(&built.runtime, vec![Delivery { message_id: "m".into(), body: serde_json::to_string(&msg).expect("json"), receive_count: 1 }], None, "bench").await;
        let after = vm_hwm_kib();
        let _ = fake.kill();
        let _ = fake.wait();
        let _ = drain.join();
        match &res[0].1 {
            Outcome::Done { records } => println!(
                "worker: activities job, one 5,000-record page: {records} records in {:.2}s; peak RSS {:.1} MiB (process high-water mark {:.1} MiB before the job, +{:.1} MiB during it)",
                t.elapsed().as_secs_f64(),
                after as f64 / 1024.0,
                before as f64 / 1024.0,
                after.saturating_sub(before) as f64 / 1024.0
            ),
            other => println!("worker: job did not finish: {other:?}"),
        }
    });
}
