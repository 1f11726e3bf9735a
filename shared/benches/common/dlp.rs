// Body of the DLP benchmarks, shared by `shared/benches/dlp_scan.rs` and the workspace's
// `benches/dlp.rs` (`include!`d, so no inner doc comments here: targets and figures are in
// `dlp_scan.rs`).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shared::dlp::Scanner;

#[path = "../../../benches/support/textgen.rs"]
mod textgen;

fn throughput(c: &mut Criterion) {
    let scanner = Scanner::new();
    let clean = textgen::clean_text(7, 1 << 20);
    let dirty = textgen::with_findings(7, 1 << 20, 1024);
    let mut g = c.benchmark_group("throughput");
    g.throughput(Throughput::Bytes(clean.len() as u64));
    g.bench_function(BenchmarkId::new("clean", "1MiB"), |b| b.iter(|| black_box(scanner.scan(black_box(&clean)))));
    g.throughput(Throughput::Bytes(dirty.len() as u64));
    g.bench_function(BenchmarkId::new("one_finding_per_kb", "1MiB"), |b| {
        b.iter(|| black_box(scanner.scan(black_box(&dirty))))
    });
    let csv = textgen::csv_export(13, 12_000);
    g.throughput(Throughput::Bytes(csv.len() as u64));
    g.bench_function(BenchmarkId::new("csv_export_3_findings_per_row", "1MiB"), |b| {
        b.iter(|| black_box(scanner.scan(black_box(&csv))))
    });
    let attachment = textgen::with_findings(11, 4 << 20, 16 * 1024);
    g.throughput(Throughput::Bytes(attachment.len() as u64));
    g.bench_function(BenchmarkId::new("document_chunked", "4MiB"), |b| {
        b.iter(|| black_box(scanner.scan_document(black_box(&attachment))))
    });
    g.finish();
}

fn latency(c: &mut Criterion) {
    let scanner = Scanner::new();
    let clean = textgen::clean_text(3, 1 << 20);
    // 2 KB messages cut on char boundaries.
    let mut msgs: Vec<&str> = Vec::new();
    let mut start = 0;
    while start + 2048 < clean.len() && msgs.len() < 256 {
        let mut end = start + 2048;
        while !clean.is_char_boundary(end) {
            end += 1;
        }
        msgs.push(&clean[start..end]);
        start = end;
    }
    let dirty = textgen::with_findings(5, 1 << 20, 1024);
    let mut dmsgs: Vec<&str> = Vec::new();
    let mut start = 0;
    while start + 2048 < dirty.len() && dmsgs.len() < 256 {
        let mut end = start + 2048;
        while !dirty.is_char_boundary(end) {
            end += 1;
        }
        dmsgs.push(&dirty[start..end]);
        start = end;
    }
    let mut g = c.benchmark_group("latency");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("message_2KB_clean", |b| {
        b.iter(|| {
            i = (i + 1) % msgs.len();
            black_box(scanner.scan(black_box(msgs[i])))
        })
    });
    let mut j = 0;
    g.bench_function("message_2KB_two_findings", |b| {
        b.iter(|| {
            j = (j + 1) % dmsgs.len();
            black_box(scanner.scan(black_box(dmsgs[j])))
        })
    });
    g.finish();
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(20);
    g.bench_function("Scanner::new", |b| b.iter(|| black_box(Scanner::new())));
    g.finish();
}

/// Process CPU time (user + system) in clock ticks (1/100 s), from `/proc/self/stat`; 0 where
/// that file does not exist (the quick mode then does not run).
fn cpu_ticks() -> u64 {
    let st = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = st.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
}

/// `DLP_QUICK=<seconds>` (optionally `DLP_ONLY=<bench name prefix>|new`): throughput per CPU
/// second instead of wall time, one line per run, for A/B comparisons on a loaded machine where
/// other processes take the core away (run two binaries alternately and keep the best figure).
fn quick(_c: &mut Criterion) {
    let Ok(secs) = std::env::var("DLP_QUICK") else {
        return;
    };
    if cpu_ticks() == 0 {
        eprintln!("DLP_QUICK needs /proc/self/stat");
        return;
    }
    let secs: f64 = secs.parse().unwrap_or(2.0);
    let only = std::env::var("DLP_ONLY").unwrap_or_default();
    let scanner = Scanner::new();
    let texts = [
        ("clean", textgen::clean_text(7, 1 << 20)),
        ("one_finding_per_kb", textgen::with_findings(7, 1 << 20, 1024)),
        ("csv_export", textgen::csv_export(13, 12_000)),
        ("document_chunked", textgen::with_findings(11, 4 << 20, 16 * 1024)),
    ];
    let mut line = String::new();
    for (name, t) in &texts {
        if !only.is_empty() && !name.starts_with(&only) {
            continue;
        }
        let doc = *name == "document_chunked";
        let run = || {
            if doc {
                black_box(scanner.scan_document(black_box(t)).detections.len())
            } else {
                black_box(scanner.scan(black_box(t)).len())
            }
        };
        run();
        let c0 = cpu_ticks();
        let mut n = 0u64;
        while ((cpu_ticks() - c0) as f64) < secs * 100.0 {
            run();
            n += 1;
        }
        let cpu = (cpu_ticks() - c0) as f64 / 100.0;
        let mib = t.len() as f64 / 1048576.0;
        line.push_str(&format!("{name}: {:.0} MiB/s-cpu ({n} it) | ", mib * n as f64 / cpu));
    }
    if only.is_empty() || only == "new" {
        let c0 = cpu_ticks();
        let mut n = 0u64;
        while ((cpu_ticks() - c0) as f64) < secs * 100.0 {
            black_box(Scanner::new());
            n += 1;
        }
        line.push_str(&format!("new: {:.2} ms-cpu", (cpu_ticks() - c0) as f64 * 10.0 / n as f64));
    }
    println!("{line}");
}

/// `DLP_DUMP=<file>`: every detection over the labelled fixtures and many generated texts, one
/// line each, so that two builds of the scanner can be diffed (a speed change must not change
/// a single detection).
fn dump(_c: &mut Criterion) {
    let Ok(out) = std::env::var("DLP_DUMP") else {
        return;
    };
    let scanner = Scanner::new();
    let mut lines = String::new();
    let mut emit = |id: &str, text: &str, doc: bool| {
        let dets = if doc { scanner.scan_document(text).detections } else { scanner.scan(text) };
        for d in dets {
            lines.push_str(&format!("{id}\t{}\t{}\t{}\t{:?}\n", d.detector, d.start, d.end, d.confidence));
        }
    };
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/dlp");
    for f in ["corpus.jsonl", "holdout.jsonl", "holdout2.jsonl", "eval/dev.jsonl", "eval/test.jsonl"] {
        let raw = std::fs::read_to_string(format!("{root}/{f}")).unwrap_or_default();
        for (i, l) in raw.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            if let Some(t) = v.get("text").and_then(|t| t.as_str()) {
                emit(&format!("{f}:{i}"), t, false);
            }
        }
    }
    for seed in 0..24u64 {
        emit(&format!("clean:{seed}"), &textgen::clean_text(seed, 64 << 10), false);
        for every in [97usize, 256, 1024] {
            emit(&format!("findings:{seed}:{every}"), &textgen::with_findings(seed, 64 << 10, every), false);
        }
        emit(&format!("csv:{seed}"), &textgen::csv_export(seed, 300), false);
    }
    emit("document", &textgen::with_findings(11, 4 << 20, 16 * 1024), true);
    let _ = std::fs::write(&out, lines);
}

criterion_group!(benches, dump, quick, throughput, latency, compile);
criterion_main!(benches);
