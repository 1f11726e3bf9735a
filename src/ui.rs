//! Terminal output: one progress line per job while it runs, a per-stream summary table at the end.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use shared::streams::{Job, JobStats};
use shared::sync::{JobResult, Observer, RunReport};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, (ProgressBar, Arc<JobStats>)>>,
    enabled: bool,
}

impl Bars {
    pub fn new(enabled: bool) -> Arc<Self> {
        let target = if enabled { ProgressDrawTarget::stderr_with_hz(8) } else { ProgressDrawTarget::hidden() };
        let b = Arc::new(Bars {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            enabled,
        });
        if enabled {
            let weak = Arc::downgrade(&b);
            tokio::spawn(async move {
                while let Some(b) = weak.upgrade() {
                    b.tick();
                    drop(b);
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            });
        }
        b
    }

    fn tick(&self) {
        let g = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        for (pb, stats) in g.values() {
            let (req, retries, rl, _) = stats.calls.snapshot();
            pb.set_message(format!(
                "{} records · {} pages · {} requests{}{}",
                stats.total_records(),
                stats.pages.load(std::sync::atomic::Ordering::Relaxed),
                req,
                if retries > 0 { format!(" · {retries} retries") } else { String::new() },
                if rl > 0 { format!(" · {rl}×429") } else { String::new() },
            ));
        }
    }

    pub fn clear(&self) {
        let _ = self.multi.clear();
    }
}

impl Observer for Bars {
    fn started(&self, _job: &Job, key: &str, stats: Arc<JobStats>) {
        if !self.enabled {
            return;
        }
        let pb = self.multi.add(ProgressBar::new_spinner());
        pb.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {prefix:<28} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_prefix(key.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        self.bars.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_string(), (pb, stats));
    }

    fn finished(&self, _job: &Job, key: &str, _stats: &JobStats, result: &JobResult, _took: Duration) {
        self.tick();
        if let Some((pb, _)) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).remove(key) {
            match result {
                JobResult::Done => pb.finish_with_message(format!("done · {}", pb.message())),
                JobResult::Continued => pb.finish_with_message(format!("continued · {}", pb.message())),
                JobResult::Failed { error, .. } => pb.abandon_with_message(format!("FAILED · {error}")),
            }
        }
    }
}

fn fmt_dur(d: Duration) -> String {
    if d.as_secs() >= 60 {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// The per-stream table: records, pages, requests, retries, 429s, duration.
pub fn summary_table(report: &RunReport) -> String {
    let mut out = String::new();
    let header = ["stream", "records", "pages", "requests", "retries", "429s", "dups skipped", "duration", "status"];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in report.by_stream() {
        let recs = s.records.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(", ");
        rows.push(vec![
            s.stream.clone(),
            if recs.is_empty() { "0".into() } else { recs },
            s.pages.to_string(),
            s.requests.to_string(),
            s.retries.to_string(),
            s.rate_limited.to_string(),
            s.duplicates_skipped.to_string(),
            fmt_dur(s.duration),
            if s.failed == 0 {
                format!("ok ({} job{})", s.jobs, if s.jobs == 1 { "" } else { "s" })
            } else {
                format!("FAILED {}/{}", s.failed, s.jobs)
            },
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:<w$}", c, w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    out.push_str(&line(header.iter().map(|s| s.to_string()).collect()));
    out.push_str(&line(widths.iter().map(|w| "─".repeat(*w)).collect()));
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

pub fn print_summary(report: &RunReport, store: &std::path::Path) {
    println!("\n{}", summary_table(report));
    let b = &report.budget;
    println!(
        "run {} · {} records in {} · {} API requests · budget {}/min, waited {:.1}s for it, {} rate-limit answer(s)",
        report.run_id,
        report.total_records(),
        fmt_dur(report.duration),
        report.by_stream().iter().map(|s| s.requests).sum::<u64>(),
        b.per_minute,
        b.waited.as_secs_f64(),
        b.rate_limited,
    );
    println!("store: {}", store.display());
    for (job, err) in report.failures() {
        println!("FAILED {job}: {err}");
    }
}
