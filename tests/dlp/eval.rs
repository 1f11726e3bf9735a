//! DLP v2 evaluation (issue 11) on `tests/fixtures/dlp/eval/{dev,test}.jsonl`, a labelled set
//! kept apart from the tuning corpus (see `gen_eval.py` for how it is made).
//!
//! Scoring (as in `quality.rs`): a label is found when a detection of the same detector
//! overlaps it; a detection overlapping no label of its detector is a false positive.
//! Record-level severity accuracy: the maximum severity over a record's detections equals the
//! record's expected `severity`.
//!
//! Gates on the test split: recall ≥ 0.95 for tabular SSNs, tabular phones, prose phones and
//! chat-shorthand passwords, and for IBANs in tables and prose; overall precision ≥ 0.98; severity accuracy ≥ 0.95; no snippet
//! contains any labelled value. The dev split is reported only.
//! `DLP_DEBUG=1` prints each miss and false positive (values redacted).

use serde::Deserialize;
use shared::dlp::{max_severity, redacted_snippet, Scanner, Severity};
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Label {
    detector: String,
    start: usize,
    end: usize,
    class: String,
}

#[derive(Deserialize)]
struct Record {
    id: String,
    text: String,
    labels: Vec<Label>,
    severity: Severity,
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

struct Eval {
    per_class: BTreeMap<String, Counts>,
    per_detector: BTreeMap<String, Counts>,
    total: Counts,
    records: usize,
    severity_ok: usize,
    leaks: Vec<String>,
}

fn load(name: &str) -> Vec<Record> {
    let path = format!("{}/tests/fixtures/dlp/eval/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    raw.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path}:{}: {e}", i + 1)))
        .collect()
}

fn evaluate(records: &[Record]) -> Eval {
    let scanner = Scanner::global();
    let debug = std::env::var("DLP_DEBUG").is_ok();
    let mut ev = Eval {
        per_class: BTreeMap::new(),
        per_detector: BTreeMap::new(),
        total: Counts::default(),
        records: records.len(),
        severity_ok: 0,
        leaks: Vec::new(),
    };
    for r in records {
        let dets = scanner.scan(&r.text);
        for l in &r.labels {
            assert!(r.text.get(l.start..l.end).is_some(), "{}: label offsets not on char boundaries", r.id);
            let hit = dets.iter().any(|d| d.detector == l.detector && d.start < l.end && l.start < d.end);
            for key in [&l.class, &l.detector] {
                let map = if key == &l.class { &mut ev.per_class } else { &mut ev.per_detector };
                let e = map.entry(key.clone()).or_default();
                e.labels += 1;
                e.found += hit as usize;
            }
            if !hit && debug {
                let other: Vec<&str> =
                    dets.iter().filter(|d| d.start < l.end && l.start < d.end).map(|d| d.detector).collect();
                let masked = vec![shared::dlp::Detection {
                    detector: "label",
                    severity: Severity::None,
                    start: l.start,
                    end: l.end,
                    confidence: shared::dlp::Confidence::Low,
                }];
                eprintln!(
                    "MISS {} {} [{}] overlapping {:?} | {}",
                    r.id,
                    l.detector,
                    l.class,
                    other,
                    redacted_snippet(&r.text, &masked, 0, 40)
                );
            }
        }
        for (i, d) in dets.iter().enumerate() {
            let e = ev.per_detector.entry(d.detector.to_string()).or_default();
            e.detections += 1;
            let ok = r.labels.iter().any(|l| l.detector == d.detector && d.start < l.end && l.start < d.end);
            e.matched += ok as usize;
            if !ok && debug {
                eprintln!(
                    "FP   {} {} {:?} | {}",
                    r.id,
                    d.detector,
                    d.confidence,
                    redacted_snippet(&r.text, &dets, i, 40)
                );
            }
            // No snippet may show any labelled value of the record (not only its own).
            let snippet = redacted_snippet(&r.text, &dets, i, 48);
            for l in &r.labels {
                let v = &r.text[l.start..l.end];
                if v.chars().count() >= 6 && snippet.contains(v) {
                    ev.leaks.push(format!("{} {} shows a {}", r.id, d.detector, l.detector));
                }
            }
        }
        let got = max_severity(&dets);
        if got == r.severity {
            ev.severity_ok += 1;
        } else if debug {
            eprintln!("SEV  {} expected {} got {}", r.id, r.severity, got);
        }
    }
    for v in ev.per_detector.values() {
        ev.total.labels += v.labels;
        ev.total.found += v.found;
        ev.total.detections += v.detections;
        ev.total.matched += v.matched;
    }
    ev
}

fn print(title: &str, ev: &Eval) {
    println!("\n{title}: {} records", ev.records);
    println!("{:<20} {:>6} {:>5} {:>5} {:>7}", "class", "labels", "TP", "FN", "recall");
    for (k, v) in &ev.per_class {
        println!("{:<20} {:>6} {:>5} {:>5} {:>7.3}", k, v.labels, v.found, v.labels - v.found, v.recall());
    }
    println!(
        "{:<20} {:>6} {:>5} {:>5} {:>5} {:>9} {:>7}",
        "detector", "labels", "TP", "FP", "FN", "precision", "recall"
    );
    for (k, v) in &ev.per_detector {
        println!(
            "{:<20} {:>6} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
            k,
            v.labels,
            v.found,
            v.detections - v.matched,
            v.labels - v.found,
            v.precision(),
            v.recall()
        );
    }
    let t = ev.total;
    println!(
        "{:<20} {:>6} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
        "OVERALL",
        t.labels,
        t.found,
        t.detections - t.matched,
        t.labels - t.found,
        t.precision(),
        t.recall()
    );
    println!("record severity accuracy {:.3} ({}/{})", sev_acc(ev), ev.severity_ok, ev.records);
}

fn sev_acc(ev: &Eval) -> f64 {
    ev.severity_ok as f64 / ev.records.max(1) as f64
}

#[test]
fn eval_test_split_gate() {
    let records = load("test.jsonl");
    assert!(records.len() >= 300, "evaluation set too small: {}", records.len());
    let ev = evaluate(&records);
    print("eval/test.jsonl (gated)", &ev);
    assert!(ev.leaks.is_empty(), "labelled values visible in snippets: {:?}", ev.leaks);
    for class in ["tabular_ssn", "tabular_phone", "prose_phone", "chat_password"] {
        let c = ev.per_class.get(class).copied().unwrap_or_default();
        assert!(c.labels >= 100, "{class}: only {} labels", c.labels);
        assert!(c.recall() >= 0.95, "{class}: recall {:.3} < 0.95", c.recall());
    }
    for class in ["tabular_iban", "prose_iban"] {
        let c = ev.per_class.get(class).copied().unwrap_or_default();
        assert!(c.labels >= 40, "{class}: only {} labels", c.labels);
        assert!(c.recall() >= 0.95, "{class}: recall {:.3} < 0.95", c.recall());
    }
    let iban = ev.per_detector.get("iban").copied().unwrap_or_default();
    assert!(iban.precision() >= 0.98, "iban precision {:.3} < 0.98", iban.precision());
    assert!(ev.total.precision() >= 0.98, "overall precision {:.3} < 0.98", ev.total.precision());
    assert!(sev_acc(&ev) >= 0.95, "record severity accuracy {:.3} < 0.95", sev_acc(&ev));
}

#[test]
fn eval_dev_split_report() {
    let ev = evaluate(&load("dev.jsonl"));
    print("eval/dev.jsonl (reported)", &ev);
    assert!(ev.leaks.is_empty(), "labelled values visible in snippets: {:?}", ev.leaks);
}
