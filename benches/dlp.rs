//! DLP scanner benchmarks.
//!
//! Targets (one core):
//! * ≥ 300 MB/s on clean chat-like text (prose, markdown, code, logs; ~1 MB, no secrets);
//! * per-message latency for 2 KB messages well under 1 ms (p99 target < 1 ms for ≤ 16 KB);
//! * `Scanner::new()` (one-time compile of all automata and regexes) < 20 ms.
//!
//! * ≥ 150 MB/s on text with ~1 finding per KB (cards, e-mails, keys, passwords, phones, IPs,
//!   tokens, small CSV pastes, chat-shorthand credentials).
//!
//! Also measured: a ~1 MiB CSV export with three findings per row (the table-context path),
//! and a 4 MiB attachment through the chunked document path.
//!
//! Run: `cargo bench --bench dlp -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shared::dlp::Scanner;

#[path = "support/textgen.rs"]
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

criterion_group!(benches, throughput, latency, compile);
criterion_main!(benches);
