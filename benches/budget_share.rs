//! Fair shared budget (issue #9, item 5): `cargo bench --bench budget_share -- [--adapter local|dynamo]
//! [--minutes 10] [--workers 8] [--late-at-secs 120] [--budget 600]`.
//!
//! K workers plus one started late send real requests (through `ApiClient`, so the
//! `anthropic-ratelimit-*` headers feed the adapter) to the fake API, whose limiter enforces the
//! same budget per 60 s. `local`: one `LocalBudget` shared by every worker, as the CLI runs them.
//! `dynamo`: one `DynamoBudget` per worker on one moto table, as separate Lambdas (needs
//! `scripts/setup-emulators.sh`, or `MOTO_PYTHON`); `dynamodb-local`: the same on DynamoDB Local,
//! whose conditional writes are atomic like DynamoDB's (moto's are not: concurrent conditional
//! `ADD`s can both pass, so on moto the counter over-grants and the fake answers some 429s). Prints a per-minute table: requests per
//! worker, total, limiter 429s, the late starter's share of a fair split.

#[path = "../tests/aws_harness/mod.rs"]
mod aws_harness;
#[path = "support/fairness.rs"]
mod fairness;

use shared::aws::{DynamoBudget, DynamoBudgetConfig};
use shared::budget::{LocalBudget, RequestBudget};
use std::sync::Arc;
use std::time::Duration;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: u64) -> u64 {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: a smoke run in scaled time
    // (3-s windows, the local adapter); `cargo bench` runs the real 10 minutes
    let smoke = !std::env::args().any(|a| a == "--bench");
    let adapter = if smoke { "local".into() } else { arg("--adapter").unwrap_or_else(|| "local".into()) };
    let o = if smoke {
        fairness::Options {
            budget: 150,
            window: Duration::from_secs(3),
            windows: 2,
            workers: 4,
            late_at: Duration::from_secs(3),
        }
    } else {
        fairness::Options {
            budget: num("--budget", 600) as u32,
            window: Duration::from_secs(60),
            windows: num("--minutes", 10) as u32,
            workers: num("--workers", 8) as usize,
            late_at: Duration::from_secs(num("--late-at-secs", 120)),
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let report = rt.block_on(async {
        match adapter.as_str() {
            "dynamo" | "dynamodb-local" => {
                let clients = if adapter == "dynamo" {
                    aws_harness::moto().await
                } else {
                    let ep =
                        aws_harness::dynamodb_local_endpoint().expect("DynamoDB Local (scripts/setup-emulators.sh)");
                    aws_harness::clients(ep).await
                };
                let table = aws_harness::ddb_cases::new_table(&clients.dynamodb, "fair").await;
                let budgets: Vec<Arc<DynamoBudget>> = (0..=o.workers)
                    .map(|_| {
                        Arc::new(DynamoBudget::new(
                            clients.dynamodb.clone(),
                            &table,
                            DynamoBudgetConfig::new("fair", o.budget),
                        ))
                    })
                    .collect();
                let r = fairness::run(&o, |i| budgets[i].clone() as Arc<dyn RequestBudget>).await;
                let calls: u64 = budgets.iter().map(|b| b.dynamodb_calls()).sum();
                println!(
                    "shared counter grants {}/60 s for a budget of {}; DynamoDB calls per API call: {:.2}",
                    shared::aws::budget::granted_per_minute(o.budget),
                    o.budget,
                    calls as f64 / r.total.max(1) as f64
                );
                for (i, b) in budgets.iter().enumerate() {
                    println!(
                        "  worker {i}: {:?}, other tools given up: {}/min",
                        b.counters(),
                        b.other_tools_per_minute()
                    );
                }
                r
            }
            _ => {
                let shared: Arc<dyn RequestBudget> = Arc::new(LocalBudget::with_window(o.budget, o.window, 0.97));
                fairness::run(&o, |_| shared.clone()).await
            }
        }
    });
    println!(
        "adapter {adapter}{}: {} workers + 1 late starter at {} s, budget and fake limit {} per {} s, {} windows",
        if smoke { " (smoke run; `cargo bench --bench budget_share` runs 10 minutes)" } else { "" },
        o.workers,
        o.late_at.as_secs(),
        o.budget,
        o.window.as_secs(),
        o.windows
    );
    print!("{}", report.table(&o));
}
