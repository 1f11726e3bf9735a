//! `compliance-lake dlp scan` and `compliance-lake findings`.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;
use shared::dlp::{cli as dlp_cli, Severity};
use shared::store::{LocalObjectSink, Table};
use shared::time::Timestamp;
use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum DlpCmd {
    /// Scan files (or stdin with `-`) and print findings; values are always redacted.
    Scan(ScanArgs),
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Input is JSON lines `{"id": …, "text": …}`; output is one JSON finding per line
    /// (`id`, `detector`, `severity`, `start`, `end` — UTF-8 byte offsets — and `redacted`).
    #[arg(long)]
    pub jsonl: bool,
    /// Files to scan; `-` or nothing reads standard input.
    pub files: Vec<PathBuf>,
}

pub fn run_dlp(cmd: DlpCmd) -> anyhow::Result<ExitCode> {
    let DlpCmd::Scan(a) = cmd;
    let inputs: Vec<PathBuf> = if a.files.is_empty() { vec![PathBuf::from("-")] } else { a.files };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut bad = 0usize;
    for path in inputs {
        let is_stdin = path.as_os_str() == "-";
        let reader: Box<dyn Read> = if is_stdin {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?)
        };
        if a.jsonl {
            let stats = dlp_cli::scan_jsonl(BufReader::new(reader), &mut out)?;
            for e in &stats.errors {
                eprintln!("{}: {e}", path.display());
            }
            bad += stats.errors.len();
        } else {
            let mut bytes = Vec::new();
            BufReader::new(reader).read_to_end(&mut bytes).with_context(|| format!("reading {}", path.display()))?;
            let text = String::from_utf8_lossy(&bytes);
            dlp_cli::scan_plain(&path.display().to_string(), &text, &mut out)?;
        }
    }
    out.flush()?;
    Ok(if bad > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

#[derive(Args, Debug)]
pub struct FindingsArgs {
    /// The store a sync wrote.
    #[arg(long, env = "COMPLIANCE_LAKE_STORE", default_value = "compliance-lake-store")]
    pub store: PathBuf,
    /// Only findings in content created at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only findings in content created before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Minimum severity: CRITICAL, HIGH, MEDIUM, LOW.
    #[arg(long)]
    pub severity: Option<String>,
    /// Only this user (email address or user id).
    #[arg(long)]
    pub user: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// At most this many rows (newest first).
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
}

fn when(f: &Value) -> Option<Timestamp> {
    ["source_created_at", "detected_at"]
        .iter()
        .find_map(|k| f.get(*k).and_then(Value::as_str).and_then(|s| Timestamp::parse(s).ok()))
}

pub async fn load_findings(store: &std::path::Path) -> anyhow::Result<Vec<Value>> {
    if !store.join("_state").is_dir() {
        anyhow::bail!(
            "{} is not a compliance-lake store (no _state/); run a sync first or pass --store",
            store.display()
        );
    }
    let sink = LocalObjectSink::new(store)?;
    Ok(shared::verify::read_table(&sink, Table::DlpFindings).await?)
}

pub async fn run_findings(a: FindingsArgs) -> anyhow::Result<ExitCode> {
    let since = a.since.as_deref().map(Timestamp::parse).transpose().context("--since")?;
    let until = a.until.as_deref().map(Timestamp::parse).transpose().context("--until")?;
    let min = match a.severity.as_deref() {
        Some(s) => Some(
            serde_json::from_value::<Severity>(Value::String(s.to_ascii_uppercase()))
                .map_err(|_| anyhow::anyhow!("--severity {s:?}: expected CRITICAL, HIGH, MEDIUM or LOW"))?,
        ),
        None => None,
    };
    let mut rows: Vec<Value> = load_findings(&a.store)
        .await?
        .into_iter()
        .filter(|f| {
            let t = when(f);
            let sev = f
                .get("severity")
                .and_then(|s| serde_json::from_value::<Severity>(s.clone()).ok())
                .unwrap_or(Severity::None);
            since.is_none_or(|s| t.is_some_and(|t| t >= s))
                && until.is_none_or(|u| t.is_some_and(|t| t < u))
                && min.is_none_or(|m| sev >= m)
                && a.user.as_deref().is_none_or(|u| {
                    f.get("user_id").and_then(Value::as_str) == Some(u)
                        || f.get("user_email").and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case(u))
                })
        })
        .collect();
    rows.sort_by_key(|f| std::cmp::Reverse(when(f)));
    rows.truncate(a.limit);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        for r in &rows {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let s = |f: &Value, k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    writeln!(
        out,
        "{:<20} {:<9} {:<22} {:<19} {:<28} {:<34} redacted",
        "when", "severity", "detector", "source", "user", "where"
    )?;
    for f in &rows {
        let place = if !s(f, "chat_id").is_empty() { s(f, "chat_id") } else { s(f, "project_id") };
        let t = when(f).map(|t| t.0.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
        let redacted: String = s(f, "redacted").chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        writeln!(
            out,
            "{:<20} {:<9} {:<22} {:<19} {:<28} {:<34} {}",
            t,
            s(f, "severity"),
            s(f, "detector"),
            s(f, "source_kind"),
            s(f, "user_email"),
            place,
            redacted
        )?;
    }
    writeln!(out, "{} finding(s)", rows.len())?;
    Ok(ExitCode::SUCCESS)
}

/// Counts by severity and by source kind (for `demo` and summaries).
pub fn summarize(findings: &[Value]) -> String {
    use std::collections::BTreeMap;
    let mut by_sev: BTreeMap<std::cmp::Reverse<Severity>, u64> = BTreeMap::new();
    let mut by_src: BTreeMap<String, u64> = BTreeMap::new();
    for f in findings {
        if let Some(sev) = f.get("severity").and_then(|s| serde_json::from_value::<Severity>(s.clone()).ok()) {
            *by_sev.entry(std::cmp::Reverse(sev)).or_default() += 1;
        }
        *by_src.entry(f.get("source_kind").and_then(Value::as_str).unwrap_or("?").to_string()).or_default() += 1;
    }
    let sev: Vec<String> = by_sev.iter().map(|(s, n)| format!("{} {n}", s.0.as_str())).collect();
    let src: Vec<String> = by_src.iter().map(|(s, n)| format!("{s} {n}")).collect();
    format!("by severity: {}\n  by source:   {}", sev.join(" · "), src.join(" · "))
}
