//! The DLP scanner on arbitrary text, as a message (whole text) and as an attachment (chunked, with
//! a small chunk size so chunk seams are exercised): no panic, spans inside the text and on char
//! boundaries, sorted and disjoint; snippets, previews and fingerprints never panic and a snippet
//! never carries the matched value of a long secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::dlp::{redacted_snippet, Detection, FingerprintKey, Scanner, ScannerConfig, SourceKind};
use std::sync::OnceLock;

fn chunked() -> &'static Scanner {
    static S: OnceLock<Scanner> = OnceLock::new();
    S.get_or_init(|| {
        Scanner::with_config(ScannerConfig {
            chunk_size: 4096,
            chunk_overlap: 512,
            max_document_bytes: 64 << 10,
            ..Default::default()
        })
    })
}

fn check(text: &str, dets: &[Detection]) {
    let mut last_end = 0;
    for (i, d) in dets.iter().enumerate() {
        assert!(d.start < d.end && d.end <= text.len(), "span {}..{} outside 0..{}", d.start, d.end, text.len());
        assert!(
            text.is_char_boundary(d.start) && text.is_char_boundary(d.end),
            "span {}..{} not on char boundaries",
            d.start,
            d.end
        );
        assert!(d.start >= last_end, "spans overlap or are unsorted");
        last_end = d.end;
        let snippet = redacted_snippet(text, dets, i, 32);
        let value = d.value(text);
        if value.len() >= 24 && value.chars().all(|c| c.is_ascii_alphanumeric()) {
            assert!(!snippet.contains(value), "snippet carries the matched value");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s = Scanner::global();
    let dets = s.scan(&text);
    check(&text, &dets);
    let key = FingerprintKey::new(vec![7u8; 32]);
    let _ = s.findings(&text, &dets, Some(&key), Some(16));
    let report = chunked().scan_source(SourceKind::ChatFile, &text);
    assert!(report.scanned_bytes <= text.len() && text.is_char_boundary(report.scanned_bytes));
    check(&text, &report.detections);
});
