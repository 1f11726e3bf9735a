//! Requests per synced object for the newer streams: sessions (local, remote) and content objects
//! (chat artifacts with generated files, code artifacts), in a backfill and in an incremental run
//! after a tenant mutation. Counts come from the fake API's own per-endpoint counters (every request
//! it answered), divided by the rows the sync wrote of the object's table.
//!
//! Run: `cargo bench --bench requests` (a table per run; `cargo test` runs the same, it is small).

use shared::fake_api::FakeApiHandle;
use shared::store::Table;
use shared::streams::SyncConfig;
use shared::sync::RunReport;
use shared::synthetic::{MutationConfig, TenantConfig};
use std::collections::BTreeMap;

#[path = "support/local_sync.rs"]
mod local_sync;

/// An object kind: the endpoints whose requests it costs (substrings of the endpoint) and the
/// tables whose rows count it.
struct Kind {
    name: &'static str,
    endpoints: &'static [&'static str],
    tables: &'static [Table],
}

const KINDS: &[Kind] = &[
    Kind { name: "local session version", endpoints: &["/apps/sessions/local"], tables: &[Table::LocalSessions] },
    Kind { name: "remote session version", endpoints: &["/apps/sessions/remote"], tables: &[Table::RemoteSessions] },
    Kind {
        name: "chat artifact version or generated file",
        endpoints: &["/apps/artifacts", "/chats/generated-files"],
        tables: &[Table::ChatArtifacts, Table::GeneratedFiles],
    },
    Kind {
        name: "code artifact version",
        endpoints: &["/apps/code/artifacts"],
        tables: &[Table::CodeArtifactVersions],
    },
];

fn rows(report: &RunReport) -> BTreeMap<Table, u64> {
    let mut m = BTreeMap::new();
    for s in report.by_stream() {
        for (t, n) in s.records {
            *m.entry(t).or_default() += n;
        }
    }
    m
}

fn table(what: &str, fake: &FakeApiHandle, report: &RunReport) -> Vec<(String, f64)> {
    let by_endpoint = fake.stats().by_endpoint;
    let written = rows(report);
    println!("{what}:");
    println!("  {:<44} {:>9} {:>9} {:>13}", "object", "requests", "objects", "requests/obj");
    let mut out = Vec::new();
    for k in KINDS {
        let req: u64 =
            by_endpoint.iter().filter(|(e, _)| k.endpoints.iter().any(|p| e.contains(p))).map(|(_, n)| *n).sum();
        let n: u64 = k.tables.iter().map(|t| written.get(t).copied().unwrap_or(0)).sum();
        let per = if n == 0 { f64::NAN } else { req as f64 / n as f64 };
        println!("  {:<44} {:>9} {:>9} {:>13.2}", k.name, req, n, per);
        out.push((k.name.to_string(), per));
    }
    out
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = local_sync::runtime();
    let scale = if full { 4 } else { 1 };
    let tc = TenantConfig {
        seed: 11,
        orgs: 2,
        users_per_org: 10 * scale,
        chats_per_user: 3,
        messages_per_chat: 6,
        activities: 500,
        projects_per_org: 2,
        ..TenantConfig::default()
    };
    let start = shared::time::Timestamp(tc.start);
    let fake = local_sync::serve_unlimited(&rt, tc);
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = SyncConfig { backfill_start: Some(start), ..SyncConfig::default() };
    let r = local_sync::sync_once(&rt, &fake.base_url(), dir.path(), &cfg);
    let backfill = table("backfill", &fake, &r);
    fake.reset_stats();
    fake.with_tenant(|t| t.mutate(&MutationConfig::default()));
    let r = local_sync::sync_once(&rt, &fake.base_url(), dir.path(), &cfg);
    table("incremental run after a mutation", &fake, &r);
    // every kind was exercised by the backfill (a figure of NaN would mean the table is wrong)
    for (name, per) in &backfill {
        assert!(per.is_finite() && *per > 0.0, "{name}: no objects or no requests in the backfill");
    }
    rt.block_on(fake.shutdown());
}
