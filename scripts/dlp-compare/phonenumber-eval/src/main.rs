//! Validator-level comparison of the scanner's numbering-plan rules (`phone.rs`, compiled in
//! unchanged) with the `phonenumber` crate (libphonenumber metadata), on the phone values of the
//! DLP evaluation set (positives, by country) and on the numeric look-alikes of its hard
//! negatives (order numbers, dates, versions, zip+4, ids… that must not validate).
//!
//! Both see the same candidate string, without context words: this measures the validators, not
//! the detector (tests/dlp/eval.rs measures the detector). The crate is tried with the regions
//! US, GB, DE, FR, IN, BR, JP (a free-text scanner does not know the writer's country; the first
//! region in which the number is valid wins, as Presidio does with its region list).
//!
//! Usage: phonenumber-eval EVAL.jsonl… (prints one table; `bash run.sh` builds both variants and
//! adds the binary-size difference).

#[allow(dead_code)]
#[path = "../../../../shared/src/dlp/phone.rs"]
mod phone;

use std::collections::BTreeMap;
use std::time::Instant;

/// The scanner's decision for a candidate written `s` (mirrors detectors/numeric.rs: `+` →
/// E.164 table, 10/11 digits → NANP, else the national rules), without context.
fn ours(s: &str) -> bool {
    let t = s.trim();
    let plus = t.starts_with('+') || t.starts_with("(+");
    let paren_first = t.starts_with('(') && !t.starts_with("(+");
    let mut groups: Vec<&str> = Vec::new();
    let mut digits = Vec::new();
    for g in t.split(|c: char| !c.is_ascii_digit()).filter(|g| !g.is_empty()) {
        groups.push(g);
    }
    // "+44 (0)20 …": the (0) trunk group is dropped for E.164.
    let trunk_in_parens = t.contains("(0)");
    for (k, g) in groups.iter().enumerate() {
        if plus && trunk_in_parens && k > 0 && *g == "0" {
            continue;
        }
        digits.extend_from_slice(g.as_bytes());
    }
    if plus {
        return phone::e164_valid(&digits).is_some();
    }
    let lens: Vec<u8> = groups.iter().map(|g| g.len().min(255) as u8).collect();
    let nanp_layout = |l: &[u8]| matches!(l, [3, 3, 4] | [10] | [11]);
    if digits.len() == 10 && nanp_layout(&lens) && phone::nanp_valid(&digits) {
        return true;
    }
    if digits.len() == 11 && digits[0] == b'1' && lens.first() == Some(&1) && nanp_layout(&lens[1..]) {
        return phone::nanp_valid(&digits[1..]);
    }
    phone::national_valid(&digits, &lens, paren_first).is_some()
}

#[cfg(feature = "pn")]
fn crate_valid(s: &str) -> bool {
    use phonenumber::country::Id;
    if s.trim_start().starts_with('+') {
        return phonenumber::parse(None, s).map(|n| phonenumber::is_valid(&n)).unwrap_or(false);
    }
    [Id::US, Id::GB, Id::DE, Id::FR, Id::IN, Id::BR, Id::JP]
        .into_iter()
        .any(|r| phonenumber::parse(Some(r), s).map(|n| phonenumber::is_valid(&n)).unwrap_or(false))
}

#[cfg(not(feature = "pn"))]
fn crate_valid(_s: &str) -> bool {
    false
}

/// Numeric look-alikes in a negative record: runs of digits joined by ` -.()/+` with ≥ 7 digits.
fn lookalikes(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !(b[i].is_ascii_digit() || b[i] == b'+' || b[i] == b'(') {
            i += 1;
            continue;
        }
        let s = i;
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_digit() || matches!(b[j], b' ' | b'-' | b'.' | b'(' | b')' | b'+')) {
            j += 1;
        }
        let mut e = j;
        while e > s && !b[e - 1].is_ascii_digit() {
            e -= 1;
        }
        let cand = &text[s..e];
        if cand.bytes().filter(u8::is_ascii_digit).count() >= 7 {
            out.push(cand.trim().to_string());
        }
        i = j.max(i + 1);
    }
    out
}

#[derive(Default)]
struct Row {
    n: usize,
    ours: usize,
    krate: usize,
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: phonenumber-eval EVAL.jsonl…");
        std::process::exit(2);
    }
    let mut pos: Vec<(String, String)> = Vec::new();
    let mut neg: Vec<String> = Vec::new();
    for f in &files {
        let raw = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        for line in raw.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{f}: {e}"));
            let text = v["text"].as_str().unwrap_or("");
            let labels = v["labels"].as_array().cloned().unwrap_or_default();
            for l in &labels {
                if l["detector"] == "phone_number" {
                    let (s, e) = (l["start"].as_u64().unwrap_or(0) as usize, l["end"].as_u64().unwrap_or(0) as usize);
                    let country = l["country"].as_str().unwrap_or("??").to_string();
                    pos.push((country, text[s..e].to_string()));
                }
            }
            if labels.is_empty() {
                neg.extend(lookalikes(text));
            }
        }
    }

    // First call of the crate loads its metadata database: measure it apart.
    let t0 = Instant::now();
    let _ = crate_valid("+1 415 927 7024");
    let crate_init = t0.elapsed();

    let mut by: BTreeMap<String, Row> = BTreeMap::new();
    for (c, s) in &pos {
        let r = by.entry(c.clone()).or_default();
        r.n += 1;
        r.ours += ours(s) as usize;
        r.krate += crate_valid(s) as usize;
    }
    let mut nrow = Row { n: neg.len(), ..Row::default() };
    for s in &neg {
        nrow.ours += ours(s) as usize;
        nrow.krate += crate_valid(s) as usize;
    }

    // Speed: every positive and negative, repeated.
    let all: Vec<&str> = pos.iter().map(|p| p.1.as_str()).chain(neg.iter().map(String::as_str)).collect();
    let reps = 50;
    let t = Instant::now();
    let mut acc = 0usize;
    for _ in 0..reps {
        for s in &all {
            acc += ours(s) as usize;
        }
    }
    let ours_ns = t.elapsed().as_nanos() as f64 / (reps * all.len()) as f64;
    let t = Instant::now();
    for _ in 0..reps {
        for s in &all {
            acc += crate_valid(s) as usize;
        }
    }
    let crate_ns = t.elapsed().as_nanos() as f64 / (reps * all.len()) as f64;

    println!("positives by country (accepted / n)        phone.rs     phonenumber");
    let (mut tn, mut to, mut tk) = (0, 0, 0);
    for (c, r) in &by {
        println!(
            "  {c:<8} n={:<4}                         {:>4} ({:>5.1}%)  {:>4} ({:>5.1}%)",
            r.n,
            r.ours,
            100.0 * r.ours as f64 / r.n as f64,
            r.krate,
            100.0 * r.krate as f64 / r.n as f64
        );
        tn += r.n;
        to += r.ours;
        tk += r.krate;
    }
    println!(
        "  {:<8} n={tn:<4}                         {to:>4} ({:>5.1}%)  {tk:>4} ({:>5.1}%)",
        "ALL",
        100.0 * to as f64 / tn as f64,
        100.0 * tk as f64 / tn as f64
    );
    println!(
        "look-alikes in hard negatives accepted     {:>4}/{:<4}    {:>4}/{:<4}",
        nrow.ours, nrow.n, nrow.krate, nrow.n
    );
    println!("validation time per candidate              {ours_ns:>7.0} ns   {crate_ns:>9.0} ns");
    println!("first call (crate metadata load)                          {:>9.2} ms", crate_init.as_secs_f64() * 1e3);
    std::hint::black_box(acc);
}
