//! API-level tests: types, serde, redaction, previews, fingerprints, chunked scanning.

use crate::textgen;

use shared::dlp::cli::{scan_jsonl, scan_plain};
use shared::dlp::{
    fingerprint, max_severity, redacted_preview, redacted_snippet, Confidence, Detection, FingerprintKey, Scanner,
    ScannerConfig, Severity, SourceKind, DETECTORS,
};

const ANTHROPIC: &str =
    "sk-ant-api03-GTd7FguoV8FWnFbB0JxXujr4qqaaABvvLOzAxzXMcU1vsHiQMaRiNTN9Ox98whGcTZc1UWb5fxzpF7STG7nVLe3lARUsRAA";
const CARD: &str = "4539 1488 0343 6467";

#[test]
fn severity_order_and_serde() {
    assert!(Severity::None < Severity::Low);
    assert!(Severity::Low < Severity::Medium);
    assert!(Severity::Medium < Severity::High);
    assert!(Severity::High < Severity::Critical);
    assert_eq!(serde_json::to_string(&Severity::Critical).unwrap(), "\"CRITICAL\"");
    assert_eq!(serde_json::to_string(&Severity::None).unwrap(), "\"NONE\"");
    let s: Severity = serde_json::from_str("\"MEDIUM\"").unwrap();
    assert_eq!(s, Severity::Medium);
    assert_eq!(serde_json::to_string(&Confidence::High).unwrap(), "\"HIGH\"");
    assert_eq!(max_severity(&[]), Severity::None);
}

#[test]
fn source_kind_serde() {
    let all = [
        (SourceKind::ChatMessage, "chat_message"),
        (SourceKind::ChatFile, "chat_file"),
        (SourceKind::ProjectDescription, "project_description"),
        (SourceKind::ProjectInstruction, "project_instruction"),
        (SourceKind::ProjectFile, "project_file"),
        (SourceKind::LocalSessionMessage, "local_session_message"),
        (SourceKind::RemoteSessionMessage, "remote_session_message"),
    ];
    for (k, name) in all {
        assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{name}\""));
        assert_eq!(k.as_str(), name);
        let back: SourceKind = serde_json::from_str(&format!("\"{name}\"")).unwrap();
        assert_eq!(back, k);
    }
}

#[test]
fn product_severity_table() {
    let sev = |id: &str| DETECTORS.iter().find(|d| d.id == id).map(|d| d.severity).unwrap();
    for id in ["us_ssn", "credit_card", "anthropic_api_key", "aws_access_key_id", "private_key", "generic_secret"] {
        assert_eq!(sev(id), Severity::Critical, "{id}");
    }
    for id in ["password", "bearer_token", "jwt", "basic_auth"] {
        assert_eq!(sev(id), Severity::High, "{id}");
    }
    for id in ["email", "phone_number"] {
        assert_eq!(sev(id), Severity::Medium, "{id}");
    }
    for id in ["ipv4", "ipv6"] {
        assert_eq!(sev(id), Severity::Low, "{id}");
    }
    let mut ids: Vec<&str> = DETECTORS.iter().map(|d| d.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), DETECTORS.len(), "detector ids are unique");
}

#[test]
fn global_is_shared() {
    assert!(std::ptr::eq(Scanner::global(), Scanner::global()));
}

#[test]
fn scan_sorted_non_overlapping_and_snippet_redacts_all() {
    let text = format!("key {ANTHROPIC} and card {CARD}, mail ann.lee@northwind-traders.com");
    let dets = Scanner::global().scan(&text);
    let ids: Vec<&str> = dets.iter().map(|d| d.detector).collect();
    assert_eq!(ids, ["anthropic_api_key", "credit_card", "email"]);
    assert!(dets.windows(2).all(|w| w[0].end <= w[1].start));
    assert_eq!(max_severity(&dets), Severity::Critical);
    // A window wide enough to include all three: every span is redacted.
    let snip = redacted_snippet(&text, &dets, 1, 400);
    assert!(!snip.contains("sk-ant-api03-GTd"));
    assert!(!snip.contains("4539"));
    assert!(!snip.contains("ann.lee"));
    assert!(snip.contains("[REDACTED:anthropic_api_key]"));
    assert!(snip.contains("[REDACTED:credit_card]"));
    assert!(snip.contains("[REDACTED:email]"));
    // A narrow window that cuts the neighbouring key: the visible part is still a marker.
    let snip = redacted_snippet(&text, &dets, 1, 12);
    assert!(!snip.contains("AA "), "{snip}");
    assert!(snip.starts_with("[REDACTED:anthropic_api_key]"), "{snip}");
    // Fail closed.
    assert_eq!(redacted_snippet(&text, &dets, 99, 10), "[REDACTED]");
    let bogus = [Detection {
        detector: "email",
        severity: Severity::Medium,
        start: 5,
        end: 10_000,
        confidence: Confidence::High,
    }];
    assert_eq!(redacted_snippet(&text, &bogus, 0, 10), "[REDACTED]");
}

#[test]
fn snippet_cuts_on_char_boundaries() {
    let text = format!("日本語のテキスト、カード番号は {CARD} です。よろしく。");
    let dets = Scanner::global().scan(&text);
    assert_eq!(dets.len(), 1);
    for ctx in 0..40 {
        let s = redacted_snippet(&text, &dets, 0, ctx);
        assert!(s.contains("[REDACTED:credit_card]"));
        assert!(!s.contains("4539"));
    }
}

#[test]
fn eof_secret_and_two_secrets() {
    let text = format!("first {ANTHROPIC}\nsecond ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5");
    let dets = Scanner::global().scan(&text);
    assert_eq!(dets.len(), 2);
    assert_eq!(dets[1].end, text.len());
}

#[test]
fn previews_never_contain_values() {
    let cases = [
        ("anthropic_api_key", ANTHROPIC, "sk-ant-api03-…[108 chars]"),
        ("aws_access_key_id", "AKIAZ7QW3RTY5UIOP2LK", "AKIA…[20 chars]"),
        ("credit_card", CARD, "visa …[16 digits]"),
        ("us_ssn", "536-22-1234", "***-**-****"),
        ("email", "ann.lee@northwind-traders.com", "***@***.com"),
        ("phone_number", "+44 20 3123 4567", "+44 …[12 digits]"),
        ("ipv4", "10.0.0.12", "IPv4 (private)"),
        ("password", "hunter2x!", "********"),
        ("github_token", "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5", "ghp_…[40 chars]"),
    ];
    for (det, value, want) in cases {
        let p = redacted_preview(det, value);
        assert_eq!(p, want, "{det}");
        assert!(!p.contains(value));
    }
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----";
    let p = redacted_preview("private_key", pem);
    assert!(p.starts_with("-----BEGIN RSA PRIVATE KEY-----…["), "{p}");
    // Short or odd values never echo themselves either.
    for v in ["", "a", "sk-ant-", "AKIA", "x@y"] {
        for d in DETECTORS {
            let p = redacted_preview(d.id, v);
            assert!(v.len() < 4 || !p.contains(v), "{} {v:?} -> {p}", d.id);
        }
    }
}

#[test]
fn fingerprints_are_keyed_and_normalised() {
    let k1 = FingerprintKey::new(b"tenant-one-secret".to_vec());
    let k2 = FingerprintKey::from_hex("00112233445566778899aabbccddeeff").unwrap();
    let a = fingerprint(&k1, "credit_card", b"4539 1488 0343 6467");
    let b = fingerprint(&k1, "credit_card", b"4539148803436467");
    let c = fingerprint(&k2, "credit_card", b"4539148803436467");
    let d = fingerprint(&k1, "us_ssn", b"4539148803436467");
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a, b, "formatting does not change the fingerprint");
    assert_ne!(b, c, "different tenant keys");
    assert_ne!(b, d, "detector is part of the MAC input");
    assert_eq!(
        fingerprint(&k1, "email", b"Ann.Lee@Northwind.com"),
        fingerprint(&k1, "email", b"ann.lee@northwind.com")
    );
    assert_eq!(format!("{k1:?}"), "FingerprintKey([REDACTED])");
}

#[test]
fn findings_carry_no_value() {
    let text = format!("pw: Tr0ub4dor&3 and {ANTHROPIC}");
    let sc = Scanner::global();
    let dets = sc.scan(&text);
    let key = FingerprintKey::new(b"k".to_vec());
    let findings = sc.findings(&text, &dets, Some(&key), Some(24));
    let json = serde_json::to_string(&findings).unwrap();
    assert!(!json.contains("Tr0ub4dor"));
    assert!(!json.contains("GTd7FguoV8FW"));
    assert!(json.contains("\"fingerprint\""));
    assert!(json.contains("\"severity\":\"CRITICAL\""));
}

#[test]
fn zero_width_characters_do_not_hide_secrets() {
    let text = "token ghp_aB3dE5fG7hI9jK1\u{200B}lM3nO5pQ7rS9tU1vW3xY5 ok";
    let dets = Scanner::global().scan(text);
    assert_eq!(dets.len(), 1);
    let d = dets[0];
    assert_eq!(d.detector, "github_token");
    assert!(text.is_char_boundary(d.start) && text.is_char_boundary(d.end));
    assert_eq!(&text[d.start..d.start + 4], "ghp_");
    assert!(text[..d.end].ends_with("xY5"));
}

fn document_with_secrets(size: usize) -> String {
    let mut r = textgen::Rng::new(99);
    let clean = textgen::clean_text(42, size);
    let pem_body: String = (0..52)
        .map(|i| {
            let mut line = r.alnum(64);
            if i == 0 {
                line.replace_range(0..3, "MII");
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n");
    let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----");
    // Insert findings at a stride that walks across chunk boundaries.
    let mut out = String::new();
    let mut last = 0;
    let mut i = 0;
    for (pos, c) in clean.char_indices() {
        if c == ' ' && pos >= last + 1500 + (i % 7) * 97 {
            out.push_str(&clean[last..=pos]);
            if i % 10 == 3 {
                out.push_str(&pem);
                out.push(' ');
            } else {
                out.push_str(&textgen::finding(&mut r));
            }
            last = pos + 1;
            i += 1;
        }
    }
    out.push_str(&clean[last..]);
    out
}

#[test]
fn chunked_scan_matches_whole_scan() {
    let text = document_with_secrets(300_000);
    let whole = Scanner::global().scan(&text);
    assert!(whole.len() > 100);
    let cfg = ScannerConfig { chunk_size: 32 * 1024, chunk_overlap: 12 * 1024, ..ScannerConfig::default() };
    let chunked = Scanner::with_config(cfg).scan_document(&text);
    assert!(!chunked.truncated);
    assert_eq!(chunked.scanned_bytes, text.len());
    assert_eq!(chunked.detections, whole);
    assert!(whole.iter().filter(|d| d.detector == "private_key").count() >= 10);
}

#[test]
fn document_cap_sets_truncated() {
    let text = document_with_secrets(200_000);
    let cfg = ScannerConfig {
        chunk_size: 16 * 1024,
        chunk_overlap: 4 * 1024,
        max_document_bytes: 50_000,
        ..ScannerConfig::default()
    };
    let report = Scanner::with_config(cfg).scan_document(&text);
    assert!(report.truncated);
    assert!(report.scanned_bytes <= 50_000);
    assert_eq!(report.total_bytes, text.len());
    assert!(report.detections.iter().all(|d| d.end <= 50_000));
    // Attachments go through the document path, messages do not.
    let sc = Scanner::global();
    assert!(!sc.scan_source(SourceKind::ChatMessage, &text).truncated);
}

#[test]
fn cli_helpers_never_print_values() {
    let mut out = Vec::new();
    let n = scan_plain("a.txt", &format!("x\n{ANTHROPIC}\npassword: Tr0ub4dor&3"), &mut out).unwrap();
    assert_eq!(n, 2);
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("a.txt:2:1: CRITICAL anthropic_api_key"), "{s}");
    assert!(!s.contains("Tr0ub4dor") && !s.contains("GTd7FguoV8FW"));

    let input = format!(
        "{}\nnot json\n{}\n",
        serde_json::json!({"id": "m1", "text": format!("card {CARD}")}),
        serde_json::json!({"id": 7, "text": "nothing here"})
    );
    let mut out = Vec::new();
    let stats = scan_jsonl(input.as_bytes(), &mut out).unwrap();
    assert_eq!((stats.records, stats.bad_lines, stats.findings), (2, 1, 1));
    assert_eq!(stats.errors[0].line, 2);
    assert!(stats.errors[0].to_string().starts_with("line 2: malformed JSON"));
    let line: serde_json::Value = serde_json::from_slice(out.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["id"], "m1");
    assert_eq!(line["detector"], "credit_card");
    assert_eq!(line["severity"], "CRITICAL");
    assert_eq!(line["start"], 5);
    assert_eq!(line["end"], 5 + CARD.len());
    assert!(!String::from_utf8(out).unwrap().contains("4539"));
}
