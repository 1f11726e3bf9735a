//! Quality gate for the DLP scanner on the labelled corpus (`tests/fixtures/dlp/corpus.jsonl`).
//!
//! Scoring: a label is found when a detection of the same detector overlaps it; a detection
//! overlapping no label of its detector is a false positive. Gates: overall precision and
//! recall ≥ 0.95, every detector with ≥ 10 labels ≥ 0.90 on both. Also asserts that no
//! preview or snippet contains a raw matched value.
//!
//! `holdout_report` scores `holdout.jsonl` and `holdout2.jsonl` (written after tuning)
//! without gating.
//! Set `DLP_DEBUG=1` to print every miss and false positive with its case id.

use serde::Deserialize;
use shared::dlp::{redacted_preview, redacted_snippet, Scanner};
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Label {
    detector: String,
    start: usize,
    end: usize,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    text: String,
    labels: Vec<Label>,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    labels: usize,
    found: usize,
    detections: usize,
    matched: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        if self.detections == 0 {
            1.0
        } else {
            self.matched as f64 / self.detections as f64
        }
    }
    fn recall(&self) -> f64 {
        if self.labels == 0 {
            1.0
        } else {
            self.found as f64 / self.labels as f64
        }
    }
}

fn load(path: &str) -> Vec<Case> {
    let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    raw.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path}:{}: {e}", i + 1)))
        .collect()
}

struct Score {
    per: BTreeMap<String, Counts>,
    total: Counts,
    leaks: Vec<String>,
    cases: usize,
    negatives: usize,
}

fn score(cases: &[Case]) -> Score {
    let scanner = Scanner::global();
    let debug = std::env::var("DLP_DEBUG").is_ok();
    let mut per: BTreeMap<String, Counts> = BTreeMap::new();
    let mut leaks = Vec::new();
    for c in cases {
        let dets = scanner.scan(&c.text);
        for l in &c.labels {
            let e = per.entry(l.detector.clone()).or_default();
            e.labels += 1;
            let found = dets.iter().any(|d| d.detector == l.detector && d.start < l.end && l.start < d.end);
            if found {
                e.found += 1;
            } else if debug {
                let others: Vec<&str> =
                    dets.iter().filter(|d| d.start < l.end && l.start < d.end).map(|d| d.detector).collect();
                eprintln!("MISS {} {} {}..{} (overlapping: {:?})", c.id, l.detector, l.start, l.end, others);
            }
        }
        for (i, d) in dets.iter().enumerate() {
            let e = per.entry(d.detector.to_string()).or_default();
            e.detections += 1;
            let ok = c.labels.iter().any(|l| l.detector == d.detector && d.start < l.end && l.start < d.end);
            if ok {
                e.matched += 1;
            } else if debug {
                eprintln!(
                    "FP   {} {} {}..{} {:?} | {}",
                    c.id,
                    d.detector,
                    d.start,
                    d.end,
                    d.confidence,
                    redacted_snippet(&c.text, &dets, i, 30)
                );
            }
            // Leak checks: the raw value never appears in preview or snippet.
            let value = d.value(&c.text);
            if value.chars().count() >= 4 {
                let preview = redacted_preview(d.detector, value);
                let snippet = redacted_snippet(&c.text, &dets, i, 40);
                if preview.contains(value) || snippet.contains(value) {
                    leaks.push(format!("{} {}", c.id, d.detector));
                }
            }
        }
    }
    let mut total = Counts::default();
    for v in per.values() {
        total.labels += v.labels;
        total.found += v.found;
        total.detections += v.detections;
        total.matched += v.matched;
    }
    Score { per, total, leaks, cases: cases.len(), negatives: cases.iter().filter(|c| c.labels.is_empty()).count() }
}

fn print_table(title: &str, s: &Score) {
    println!("\n{title}: {} cases ({} without labels)", s.cases, s.negatives);
    println!(
        "{:<24} {:>6} {:>5} {:>5} {:>5} {:>9} {:>7}",
        "detector", "labels", "TP", "FP", "FN", "precision", "recall"
    );
    for (k, v) in &s.per {
        println!(
            "{:<24} {:>6} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
            k,
            v.labels,
            v.found,
            v.detections - v.matched,
            v.labels - v.found,
            v.precision(),
            v.recall()
        );
    }
    let t = s.total;
    println!(
        "{:<24} {:>6} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
        "OVERALL",
        t.labels,
        t.found,
        t.detections - t.matched,
        t.labels - t.found,
        t.precision(),
        t.recall()
    );
}

#[test]
fn corpus_quality_gate() {
    let cases = load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dlp/corpus.jsonl"));
    assert!(cases.len() >= 400, "corpus too small: {}", cases.len());
    let s = score(&cases);
    print_table("corpus.jsonl", &s);
    assert!(s.negatives * 10 >= s.cases * 4, "need ≥ 40% negatives");
    assert!(s.leaks.is_empty(), "raw values leaked in previews/snippets: {:?}", s.leaks);
    let t = s.total;
    assert!(t.precision() >= 0.95, "overall precision {:.3} < 0.95", t.precision());
    assert!(t.recall() >= 0.95, "overall recall {:.3} < 0.95", t.recall());
    for (k, v) in &s.per {
        if v.labels >= 10 {
            assert!(v.precision() >= 0.90, "{k}: precision {:.3} < 0.90", v.precision());
            assert!(v.recall() >= 0.90, "{k}: recall {:.3} < 0.90", v.recall());
        }
    }
}

/// Held-out batches, reported and never gated. `holdout.jsonl` was scored once before three
/// fixes it prompted (see its generator); `holdout2.jsonl` was written after those fixes.
#[test]
fn holdout_report() {
    for name in ["holdout.jsonl", "holdout2.jsonl"] {
        let path = format!("{}/tests/fixtures/dlp/{name}", env!("CARGO_MANIFEST_DIR"));
        if !std::path::Path::new(&path).exists() {
            println!("no {name}");
            continue;
        }
        let s = score(&load(&path));
        print_table(&format!("{name} (reported, not gated)"), &s);
        assert!(s.leaks.is_empty(), "raw values leaked: {:?}", s.leaks);
    }
}
