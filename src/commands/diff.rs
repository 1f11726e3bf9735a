//! `compliance-lake diff settings|roles|groups`: what changed between two directory snapshots of a
//! local store (added, removed, changed items), as a table or as JSON (`shared::diff`).

use anyhow::Context;
use clap::Args;
use shared::diff::{self, Change, DiffKind, DiffReport};
use shared::store::LocalObjectSink;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// What to compare: `settings` (org_settings, by setting name, and the Compliance Access Keys),
    /// `roles` (by role id, with permission changes) or `groups` (by group id, with member changes).
    pub what: String,
    /// Compare the latest snapshot with the latest one taken at or before this: an RFC 3339 time or
    /// a duration back from now (`24h`, `7d`). Default: the snapshot before the latest.
    #[arg(long)]
    pub since: Option<String>,
    /// The store a sync wrote.
    #[arg(long, env = "COMPLIANCE_LAKE_STORE", default_value = "compliance-lake-store")]
    pub store: PathBuf,
    /// Machine output: the whole report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: DiffArgs) -> anyhow::Result<ExitCode> {
    let kind =
        DiffKind::parse(&a.what).with_context(|| format!("diff {:?}: expected settings, roles or groups", a.what))?;
    let since = match &a.since {
        Some(s) => Some(diff::parse_since(s, chrono::Utc::now()).map_err(anyhow::Error::msg)?),
        None => None,
    };
    if !a.store.join("_state").is_dir() {
        anyhow::bail!(
            "{} is not a compliance-lake store (no _state/); run a sync first or pass --store",
            a.store.display()
        );
    }
    let sink = LocalObjectSink::new(&a.store).with_context(|| format!("opening {}", a.store.display()))?;
    let report = diff::load(&sink, kind, since).await.with_context(|| format!("reading {}", a.store.display()))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

fn lines(c: &Change) -> Vec<String> {
    let mut out = Vec::new();
    for f in &c.fields {
        let field = if f.field == "value" { String::new() } else { format!("{}: ", f.field) };
        out.push(format!("{field}{} → {}", short(&f.old), short(&f.new)));
    }
    out.extend(c.added.iter().map(|a| format!("+ {a}")));
    out.extend(c.removed.iter().map(|r| format!("- {r}")));
    out.extend(c.note.iter().cloned());
    out
}

fn print_human(r: &DiffReport) {
    if r.scopes.is_empty() {
        println!("no {} snapshots in this store (run a sync with the {} stream)", r.kind, stream_of(r.kind));
        return;
    }
    for s in &r.scopes {
        let from = s.from.as_ref().map(|f| format!("{} ({})", f.taken_at, f.run_id)).unwrap_or_else(|| "-".into());
        println!("{} of {}: {} → {} ({})", r.kind, s.scope, from, s.to.taken_at, s.to.run_id);
        if let Some(n) = &s.note {
            println!("  {n}");
            continue;
        }
        if s.changes.is_empty() {
            println!("  no changes");
            continue;
        }
        println!("  {:<8} {:<44} DETAIL", "CHANGE", "ITEM");
        for c in &s.changes {
            let item = match &c.name {
                Some(n) if !c.item.contains(n.as_str()) => format!("{} ({n})", c.item),
                _ => c.item.clone(),
            };
            let detail = lines(c);
            let first = detail.first().cloned().unwrap_or_default();
            println!("  {:<8} {:<44} {first}", c.change, item);
            for d in detail.iter().skip(1) {
                println!("  {:<8} {:<44} {d}", "", "");
            }
        }
    }
    println!("{} change(s)", r.total_changes());
}

fn stream_of(kind: &str) -> &'static str {
    match kind {
        "settings" => "org_settings",
        "roles" => "roles",
        _ => "groups",
    }
}
