//! Snippet safety (issue 11): no finding's snippet shows any sensitive value of the text —
//! neither its own match nor a neighbour's, found or not.
//!
//! * `csv_paste_row_values_never_in_snippets`: the regression from the issue (a
//!   `name,email,phone,ssn` paste where an e-mail finding's snippet showed the raw SSN and phone).
//! * `planted_values_never_in_snippets` (proptest): any text made of filler and planted values
//!   of every detector family, in prose, CSV, TSV or markdown rows; for every finding and any
//!   context width, the snippet contains no planted value of ≥ 6 bytes and no 6-byte
//!   substring of a planted value of which 4 or more bytes are digits. The same holds when the
//!   snippet is built from *only* the finding itself (every neighbour missed by the
//!   detectors), which exercises the context masks on their own.

use proptest::prelude::*;
use shared::dlp::{redacted_snippet, Detection, Scanner};

fn b58(rng: &mut impl FnMut() -> u64, n: usize) -> String {
    const A: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    (0..n).map(|_| A[(rng() % A.len() as u64) as usize] as char).collect()
}

/// Every planted value and its mostly-digit 6-byte windows must be absent from `snippet`.
fn assert_clean(snippet: &str, planted: &[String], what: &str) -> Result<(), TestCaseError> {
    for v in planted {
        if v.len() >= 6 {
            prop_assert!(!snippet.contains(v.as_str()), "{what}: snippet shows a planted value: {snippet}");
        }
        let b = v.as_bytes();
        for w in b.windows(6) {
            if w.iter().filter(|c| c.is_ascii_digit()).count() >= 4 {
                if let Ok(s) = std::str::from_utf8(w) {
                    prop_assert!(!snippet.contains(s), "{what}: snippet shows digits of a planted value: {snippet}");
                }
            }
        }
    }
    Ok(())
}

fn check_text(text: &str, planted: &[String], ctx: usize) -> Result<(), TestCaseError> {
    let dets = Scanner::global().scan(text);
    for i in 0..dets.len() {
        let snip = redacted_snippet(text, &dets, i, ctx);
        assert_clean(&snip, planted, "all detections")?;
        let alone: [Detection; 1] = [dets[i]];
        let snip = redacted_snippet(text, &alone, 0, ctx);
        assert_clean(&snip, planted, "own detection only")?;
    }
    Ok(())
}

#[test]
fn csv_paste_row_values_never_in_snippets() {
    let rows = [
        ["Aurelia Dvorak", "aurelia.dvorak@copperbeech.io", "617.686.3941", "531-60-2283"],
        ["Chidi Okonkwo", "c_okonkwo@tidewater-mfg.com", "+1 415 927 7024", "402719935"],
        ["Freya Lindqvist", "freya@quillstone.org", "(312) 846-0071", "518 40 2273"],
    ];
    let mut text = String::from("name,email,phone,ssn\n");
    for r in &rows {
        text.push_str(&r.join(","));
        text.push('\n');
    }
    let dets = Scanner::global().scan(&text);
    let emails = dets.iter().filter(|d| d.detector == "email").count();
    assert_eq!(emails, 3, "every e-mail is found");
    let values: Vec<&str> = rows.iter().flat_map(|r| r[1..].iter().copied()).collect();
    for ctx in [8, 24, 32, 64, 200] {
        for i in 0..dets.len() {
            for set in [&dets[..], std::slice::from_ref(&dets[i])] {
                let idx = if set.len() == 1 { 0 } else { i };
                let snip = redacted_snippet(&text, set, idx, ctx);
                for v in &values {
                    assert!(!snip.contains(v), "ctx {ctx}: a row value is visible: {snip}");
                    let digits: String = v.chars().filter(char::is_ascii_digit).collect();
                    for w in digits.as_bytes().windows(4) {
                        let w = std::str::from_utf8(w).unwrap_or("");
                        assert!(!snip.contains(w), "ctx {ctx}: digits of a row value are visible: {snip}");
                    }
                }
            }
        }
    }
    // The names (not sensitive here) stay readable, so the snippet is still useful.
    let first_email = dets.iter().position(|d| d.detector == "email").unwrap_or(0);
    let snip = redacted_snippet(&text, &dets, first_email, 32);
    assert!(snip.contains("[REDACTED:email]"), "{snip}");
    assert!(snip.contains("Dvorak"), "{snip}");
}

#[test]
fn hotword_masks_rest_of_line_even_before_window() {
    let text = "ops note: user admin, password correcthorsebattery for the staging box\nnext line 415-927-7024 call";
    let dets = Scanner::global().scan(text);
    assert!(dets.iter().any(|d| d.detector == "phone_number"), "the phone number is found");
    for d in &dets {
        for ctx in [4, 16, 40, 120] {
            let s = redacted_snippet(text, std::slice::from_ref(d), 0, ctx);
            assert!(!s.contains("correcthorse"), "{s}");
            assert!(!s.contains("927-7024"), "{s}");
        }
    }
}

/// One planted value with its context, as it would appear in chat, and the value itself.
fn planted(kind: u8, r: &mut impl FnMut() -> u64) -> (String, String) {
    let d = |r: &mut dyn FnMut() -> u64, n: usize| -> String {
        (0..n).map(|_| char::from(b'0' + (r() % 10) as u8)).collect()
    };
    match kind % 13 {
        0 => {
            let v = format!("{}-{}-{}", 100 + r() % 600, 10 + r() % 89, 1000 + r() % 8999);
            (format!("ssn {v}"), v)
        }
        1 => {
            let v = format!("{}{}", 100 + r() % 600, d(r, 6));
            (format!("SSN: {v}"), v)
        }
        2 => {
            let v = format!("({}) {}-{}", 200 + r() % 700, 200 + r() % 700, d(r, 4));
            (format!("call {v}"), v)
        }
        3 => {
            let v = format!("+44 20 {} {}", d(r, 4), d(r, 4));
            (format!("phone {v}"), v)
        }
        4 => {
            let v = format!("{}.{}.{}", 200 + r() % 700, 200 + r() % 700, d(r, 4));
            (format!("reach me at {v}"), v)
        }
        5 => {
            let v =
                format!("{}.{}@{}.com", b58(r, 5).to_lowercase(), b58(r, 4).to_lowercase(), b58(r, 6).to_lowercase());
            (format!("mail {v}"), v)
        }
        6 => {
            let v = format!(
                "AKIA{}",
                (0..16).map(|_| b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[(r() % 32) as usize] as char).collect::<String>()
            );
            (format!("key {v}"), v)
        }
        7 => {
            let v = format!("ghp_{}", b58(r, 36));
            (v.clone(), v)
        }
        8 => {
            let words = ["Summer", "Harbor", "Quartz", "Velvet", "correct", "maple"];
            let nd = (r() % 5) as usize;
            let v = format!("{}{}{}", words[(r() % 6) as usize], d(r, nd), ["!", "$", "", "#"][(r() % 4) as usize]);
            let forms = ["password: ", "pwd ", "pw: ", "creds: admin/", "the password is "];
            (format!("{}{v}", forms[(r() % 5) as usize]), v)
        }
        9 => {
            let v = format!("10.{}.{}.{}", r() % 255, r() % 255, 1 + r() % 250);
            (format!("host {v}"), v)
        }
        10 => {
            let v = format!("4{}", d(r, 15));
            (format!("card {v}"), v)
        }
        12 => {
            let v = iban_de(&d(r, 18), r().is_multiple_of(2));
            (format!("IBAN {v}"), v)
        }
        _ => {
            let v = format!("sk-ant-api03-{}AA", b58(r, 93));
            (format!("ANTHROPIC_API_KEY={v}"), v)
        }
    }
}

/// A valid German IBAN for an 18-digit BBAN, compact or in groups of four.
fn iban_de(bban: &str, grouped: bool) -> String {
    // Check digits: 98 - (BBAN ‖ "DE00" as digits, D=13 E=14) mod 97.
    let rem = format!("{bban}131400").bytes().fold(0u32, |r, b| (r * 10 + (b - b'0') as u32) % 97);
    let compact = format!("DE{:02}{bban}", 98 - rem);
    if !grouped {
        return compact;
    }
    let chars: Vec<char> = compact.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

const FILLER: &[&str] = &[
    "the",
    "quarterly",
    "report",
    "is",
    "ready",
    "for",
    "review",
    "thanks",
    "ok",
    "Bob",
    "on",
    "Friday",
    "see",
    "row",
    "below",
    "and",
    "then",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn planted_values_never_in_snippets(
        seed in any::<u64>(),
        items in proptest::collection::vec((any::<u8>(), any::<bool>(), 0usize..4), 1..12),
        layout in 0u8..4,
        ctx in 4usize..96,
    ) {
        let mut state = seed | 1;
        let mut rng = move || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        let mut text = String::new();
        let mut values = Vec::new();
        let sep = match layout { 0 => " ", 1 => ",", 2 => "\t", _ => " | " };
        for (k, (kind, plant, nfill)) in items.iter().enumerate() {
            for _ in 0..*nfill {
                text.push_str(FILLER[(rng() % FILLER.len() as u64) as usize]);
                text.push_str(sep);
            }
            if *plant {
                let (with_ctx, value) = planted(*kind, &mut rng);
                text.push_str(&with_ctx);
                values.push(value);
            } else {
                text.push_str(FILLER[(rng() % FILLER.len() as u64) as usize]);
            }
            text.push_str(if layout > 0 && k % 3 == 2 { "\n" } else { sep });
        }
        check_text(&text, &values, ctx)?;
    }
}
