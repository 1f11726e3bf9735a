//! Robustness: no panics on arbitrary input, spans in bounds and on char boundaries, sorted and
//! disjoint, and snippets/previews that never contain a matched value.

use proptest::prelude::*;
use shared::dlp::{redacted_preview, redacted_snippet, Detection, Scanner, ScannerConfig};

fn check_invariants(text: &str, dets: &[Detection]) -> Result<(), TestCaseError> {
    for (i, d) in dets.iter().enumerate() {
        prop_assert!(d.start < d.end, "empty span {d:?}");
        prop_assert!(d.end <= text.len());
        prop_assert!(text.is_char_boundary(d.start) && text.is_char_boundary(d.end));
        if i > 0 {
            prop_assert!(dets[i - 1].end <= d.start, "overlap/unsorted");
        }
        let value = &text[d.start..d.end];
        // The value may legitimately occur again outside every detection span; only then may
        // a snippet contain it.
        let mut elsewhere = false;
        let mut from = 0;
        while let Some(p) = text[from..].find(value) {
            let s = from + p;
            let e = s + value.len();
            if !dets.iter().any(|o| o.start < e && s < o.end) {
                elsewhere = true;
                break;
            }
            from = s + value.chars().next().map_or(1, char::len_utf8);
        }
        for ctx in [0usize, 7, 24, 200] {
            // Our own markers (`[REDACTED:password]`) are not leaks; strip them first.
            let mut snip = redacted_snippet(text, dets, i, ctx);
            for o in dets {
                snip = snip.replace(&format!("[REDACTED:{}]", o.detector), "\u{1}");
            }
            prop_assert!(elsewhere || !snip.contains(value), "snippet leaked {:?}", d.detector);
        }
        if value.chars().count() >= 4 {
            prop_assert!(!redacted_preview(d.detector, value).contains(value));
        }
    }
    Ok(())
}

const SECRETS: &[&str] = &[
    "4539 1488 0343 6467",
    "536-22-1234",
    "(415) 867-5309",
    "+44 20 3123 4567",
    "ann.lee@northwind-traders.com",
    "10.20.30.40",
    "2a01:4f8:c0c:1234::2",
    "AKIAZ7QW3RTY5UIOP2LK",
    "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
    "sk-ant-api03-GTd7FguoV8FWnFbB0JxXujr4qqaaABvvLOzAxzXMcU1vsHiQMaRiNTN9Ox98whGcTZc1UWb5fxzpF7STG7nVLe3lARUsRAA",
    "my password is Tr0ub4dor&3",
    "Authorization: Bearer 8f2kQ9zLm3Xv7RtY1pWn4bCd",
    "api_key = \"a8F3kd93LmQ2xZ7pR4tY8wB6nC1vE5hJ\"",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2ln",
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oJLwY0TzgKTRoAoGCCqGSM49\nAwEHoUQDQgAE7Fz4q8Yz1v2wWd5p8k9QZ3hX6tJcR1mN0bV7sA4eF2gH9iK3lP5o\n-----END EC PRIVATE KEY-----",
    "postgres://app:Xk92LmQ7pZ!@db.internal:5432/app",
];

fn small_chunk_scanner() -> &'static Scanner {
    use std::sync::OnceLock;
    static S: OnceLock<Scanner> = OnceLock::new();
    S.get_or_init(|| {
        Scanner::with_config(ScannerConfig {
            chunk_size: 4096,
            chunk_overlap: 1024,
            max_document_bytes: 16 * 1024,
            ..ScannerConfig::default()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(512), .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(text in any::<String>()) {
        let dets = Scanner::global().scan(&text);
        check_invariants(&text, &dets)?;
    }

    #[test]
    fn arbitrary_bytes_lossy(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let dets = Scanner::global().scan(&text);
        check_invariants(&text, &dets)?;
        let report = small_chunk_scanner().scan_document(&text);
        check_invariants(&text, &report.detections)?;
    }

    #[test]
    fn ascii_soup(text in "[ -~\\n\\t]{0,600}") {
        let dets = Scanner::global().scan(&text);
        check_invariants(&text, &dets)?;
    }

    #[test]
    fn digits_and_separators(text in "[0-9 .:()+/@-]{0,200}") {
        let dets = Scanner::global().scan(&text);
        check_invariants(&text, &dets)?;
    }

    #[test]
    fn embedded_secrets(
        pre in any::<String>(),
        post in any::<String>(),
        idx in 0usize..SECRETS.len(),
        sep_a in prop::sample::select(vec!["", " ", "\n", "é", "\u{200B}", "\"", ":", "日本"]),
        sep_b in prop::sample::select(vec!["", " ", "\n", ".", "\u{200B}", "\"", "x", "日本"]),
    ) {
        let text = format!("{pre}{sep_a}{}{sep_b}{post}", SECRETS[idx]);
        let dets = Scanner::global().scan(&text);
        check_invariants(&text, &dets)?;
        let report = small_chunk_scanner().scan_document(&text);
        check_invariants(&text, &report.detections)?;
    }

    /// Token soup of anchors, separators and fragments: drives every window/boundary path.
    #[test]
    fn anchor_soup(parts in proptest::collection::vec(prop::sample::select(vec![
        "sk-ant-api03-", "sk-proj-", "T3BlbkFJ", "AKIA", "ASIA", "ghp_", "github_pat_", "glpat-",
        "xoxb-", "hooks.slack.com/services/", "sk_live_", "AIza", "npm_", "SG.", "SK", "hf_",
        "AccountKey=", "-----BEGIN ", "RSA ", "PRIVATE KEY-----", "-----END ", "eyJ", "Bearer ",
        "Authorization: ", "Basic ", "password", "pwd", "pw:", " is ", ": ", "=", "\"", "'",
        "://", "@", ":", "::", ".", "-", "(", ")", "+", " ", "\n", "\\n", "é", "日本", "\u{200B}",
        "4539", "1488", "0343", "6467", "536", "22", "1234", "415", "867", "5309", "10", "255",
        "fe80", "2a01", "abcDEF123", "Zq8Rt5vW2xY7kL9mN3pQ", "secret", "api_key", "token", "ssn",
        "card", "phone", "ip", "version", "order", "mysql -p", "curl -u a:", "--password ",
    ]), 0..60)) {
        let text: String = parts.concat();
        let dets = Scanner::global().scan(&text);
        check_invariants(&text, &dets)?;
        let report = small_chunk_scanner().scan_document(&text);
        check_invariants(&text, &report.detections)?;
    }

    #[test]
    fn secret_in_clean_context_is_found(
        idx in 0usize..SECRETS.len(),
        pad in prop::sample::select(vec!["", "hello", "see below", "as discussed", "thanks, here it is"]),
    ) {
        let text = format!("note {pad} {} done", SECRETS[idx]);
        let dets = Scanner::global().scan(&text);
        prop_assert!(!dets.is_empty(), "nothing found in {:?}", idx);
        check_invariants(&text, &dets)?;
    }
}
