//! DLP scanner for Compliance API content (user messages, chat files, project texts).
//!
//! ```
//! use shared::dlp::{Scanner, Severity, redacted_snippet};
//! let text = "my card is 4539 1488 0343 6467, thanks";
//! let found = Scanner::global().scan(text);
//! assert_eq!(found[0].detector, "credit_card");
//! assert_eq!(found[0].severity, Severity::Critical);
//! let snippet = redacted_snippet(text, &found, 0, 16);
//! assert!(!snippet.contains("4539"));
//! ```
//!
//! Design (dlp-notes §6): literal anchors (SIMD Teddy searchers, Aho-Corasick fallback) open
//! small windows in which only the relevant regexes run; `@`, `:` and digit runs are found
//! with memchr / a SWAR byte scan; every candidate is validated (Luhn + IIN, SSN rules,
//! numbering plans, JWT JSON, PEM body, entropy, placeholder filters); context hotwords
//! (one small case-insensitive Aho-Corasick per category, nearest word wins) adjust
//! confidence and are *required* for weak shapes; overlaps are resolved by specificity.
//! Matched values never leave this module except through [`Detection::value`], which callers
//! use only to fingerprint.
//!
//! # Policy decisions (where the product brief was silent)
//!
//! * **Severities** follow the product table; JWTs and HTTP Basic headers are HIGH (bearer
//!   credentials), `generic_secret` is CRITICAL ("API/secret keys").
//! * **Test and documentation values are not reported** by default (switches in
//!   [`ScannerConfig`]): processor test cards (4111…, 4242…), RFC 2606/5737/3849
//!   `example.com`, `192.0.2.x`, `2001:db8::`, loopback/unspecified IPs, `sk_test_` Stripe
//!   keys, AWS/Azurite documentation keys, the jwt.io sample token, `pk_live_` publishable keys.
//! * **SSN**: area 000/666/900–999, group 00, serial 0000, all-same digits and the published
//!   samples 078-05-1120, 219-09-9999, 123-45-6789, 457-55-5462 are rejected. Dashed SSNs
//!   are reported without context (MEDIUM confidence); spaced/dotted/bare 9 digits need an
//!   SSN word (`ssn`, `social security`, `social`, …) nearby.
//! * **Phones**: NANP numbers in `(415) 555-2671`, `415-555-2671`, `415.555.2671` or `+1`
//!   form, any `+`-international number of a known plan (`(0)` trunk allowed) and the
//!   distinctive national layouts `(028) 9018 0040`, `(11) 91234-5678` need no context; spaced
//!   or bare 10 digits, other national trunk-0 numbers (UK, DE, FR, JP, IN, BR, all 10–12
//!   digits), Indian `98220 41567` mobiles and `00`-prefixed numbers need a phone word nearby
//!   (`call`, `reach`, `escalate … to`, `mobile`, …) or a phone column header.
//!   555-0100..0199 (fictional) and N11/37X/96X codes are invalid. The hand-written plan rules
//!   were kept over the `phonenumber` crate (see `scripts/dlp-compare/phonenumber-eval/`).
//! * **Tables** (`table.rs`): in CSV/TSV/`;`/pipe/markdown/fixed-column tables the header of a
//!   value's column is its context — `ssn`/`phone`/`card`/`password` headers act as the
//!   category's hotword (a bare 9-digit SSN or 10-digit phone under them is reported), numeric
//!   look-alike headers (`order`, `zip`, `date`, `version`, `*_id`, `sku`, …) suppress, and any
//!   other header is neutral (words of other columns never count). Cells under a `password`
//!   header are checked as passwords.
//! * **IBANs** (HIGH: a bank account that can be debited, below cards/SSNs): two capitals, two
//!   check digits and the BBAN, compact or in groups of four, exactly the country's registry
//!   length, ISO 7064 mod-97 valid; MEDIUM without context, HIGH next to `iban`/`bank`/
//!   `account`/`sepa`/… or under an `iban` column; published examples (`DE89 3704 …`,
//!   `GB82 WEST …`) are documentation values. Numbers under an `iban` column are not phones or
//!   SSNs. Previews show only the country (`DE** …[22 chars]`).
//! * **IPs**: private ranges are reported (they reveal topology); all-single-digit dotted
//!   quads (`1.2.3.4`) need an IP word; version/OID words or a neighbouring `.digit`,
//!   `v`, `==`, `^`, `~` suppress. IPv6 needs one ≥ 3-hex-digit group (no `a::b`).
//! * **E-mail**: TLD must be in the embedded PSL list; `git@host:` SCP remotes and URL
//!   userinfo are not e-mails.
//! * **Passwords**: no entropy gate (people write `hunter2`), but values must not be
//!   placeholders, variable references, templates, masks, type names, booleans or common
//!   words; "is"-style sentences need a password-looking value (digit, symbol, inner
//!   capital or quotes). `changeme`, `password`, `secret`, `YOUR_PASSWORD` are placeholders.
//!   PINs are not detected (GPIO pins, pinned messages). URL userinfo passwords, `mysql -p`,
//!   `curl -u user:pass` and `--password X` are covered and reported as `password`.
//! * **Previews** never show digits of cards/SSNs (no BIN/last4) — only brand and length.
//! * **Identical values** are reported at every position (each must be redacted in
//!   snippets); dedupe by value downstream with [`fingerprint`].

pub mod cli;
pub mod context;
pub mod detectors;
pub mod finding;
pub(crate) mod phone;
pub(crate) mod table;
pub(crate) mod tld;
pub mod validate;

pub use detectors::{detector_info, DetectorInfo, DETECTORS};
pub use finding::{
    fingerprint, max_severity, normalize_value, redacted_preview, redacted_snippet, Confidence, Detection, Finding,
    FingerprintKey, Severity, SourceKind,
};

use context::ContextMatcher;
use detectors::Engine;
use std::sync::OnceLock;

/// Policy switches for contested cases (dlp-notes §6.6). Defaults favour precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannerConfig {
    /// Drop detections below this confidence (default `Low`: emit everything that validated).
    pub min_confidence: Confidence,
    /// Report published processor test card numbers (4111 1111 1111 1111, 4242…). Default off.
    pub flag_test_cards: bool,
    /// Report RFC 2606/5737/3849 documentation values (`example.com`, `192.0.2.x`,
    /// `2001:db8::`). Default off.
    pub flag_documentation_values: bool,
    /// Report loopback/unspecified addresses (127.0.0.0/8, ::1). Default off.
    pub flag_loopback_ips: bool,
    /// Report Stripe `sk_test_`/`rk_test_` keys (as `stripe_test_key`, MEDIUM). Default off.
    pub flag_stripe_test_keys: bool,
    /// Attachment chunk size in bytes (default 1 MiB).
    pub chunk_size: usize,
    /// Overlap between chunks (default 16 KiB; a 4096-bit PEM is ~3.3 KB, 8192-bit ~6.5 KB).
    pub chunk_overlap: usize,
    /// Attachments are scanned up to this many bytes (default 8 MiB); the report says when
    /// the rest was skipped.
    pub max_document_bytes: usize,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            min_confidence: Confidence::Low,
            flag_test_cards: false,
            flag_documentation_values: false,
            flag_loopback_ips: false,
            flag_stripe_test_keys: false,
            chunk_size: 1 << 20,
            chunk_overlap: 16 << 10,
            max_document_bytes: 8 << 20,
        }
    }
}

/// Result of scanning a (possibly large) document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Sorted by start; offsets into the full text.
    pub detections: Vec<Detection>,
    /// Bytes actually scanned (≤ `max_document_bytes`, cut on a char boundary).
    pub scanned_bytes: usize,
    pub total_bytes: usize,
    /// True when the text was longer than the cap and its tail was not scanned.
    pub truncated: bool,
}

impl ScanReport {
    pub fn max_severity(&self) -> Severity {
        max_severity(&self.detections)
    }
}

/// The compiled scanner. Cheap to share (`Send + Sync`); build once.
pub struct Scanner {
    cfg: ScannerConfig,
    engine: Engine,
    ctx: ContextMatcher,
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<Scanner> = OnceLock::new();

impl Scanner {
    /// Compiles all automata and regexes with the default configuration.
    pub fn new() -> Self {
        Self::with_config(ScannerConfig::default())
    }

    pub fn with_config(cfg: ScannerConfig) -> Self {
        Scanner { cfg, engine: Engine::new(), ctx: ContextMatcher::new() }
    }

    /// Process-wide scanner with the default configuration, compiled on first use.
    pub fn global() -> &'static Scanner {
        GLOBAL.get_or_init(Scanner::new)
    }

    pub fn config(&self) -> &ScannerConfig {
        &self.cfg
    }

    /// Scans one text (a chat message, a project field) in full. Detections are sorted by
    /// start, non-overlapping, with UTF-8 byte offsets on char boundaries.
    pub fn scan(&self, text: &str) -> Vec<Detection> {
        match strip_zero_width(text) {
            None => self.scan_raw(text),
            Some((shadow, map)) => {
                let mut out = self.scan_raw(&shadow);
                for d in out.iter_mut() {
                    let s = map[d.start];
                    let e = map[d.end - 1] + 1;
                    d.start = s;
                    d.end = ceil_char(text, e);
                }
                out
            }
        }
    }

    fn scan_raw(&self, text: &str) -> Vec<Detection> {
        let cands = self.engine.run(text.as_bytes(), &self.cfg, &self.ctx);
        let mut out = Vec::with_capacity(cands.len());
        for c in cands {
            if c.confidence < self.cfg.min_confidence {
                continue;
            }
            let start = floor_char(text, c.start);
            let end = ceil_char(text, c.end);
            if start >= end {
                continue;
            }
            out.push(Detection {
                detector: c.info.id,
                severity: c.info.severity,
                start,
                end,
                confidence: c.confidence,
            });
        }
        // Char-boundary widening can create touching/overlapping spans; keep them disjoint.
        out.dedup_by(|b, a| b.start < a.end);
        out
    }

    /// Scans by [`SourceKind`]: attachments go through [`Scanner::scan_document`].
    pub fn scan_source(&self, kind: SourceKind, text: &str) -> ScanReport {
        if kind.is_attachment() {
            self.scan_document(text)
        } else {
            let detections = self.scan(text);
            ScanReport { detections, scanned_bytes: text.len(), total_bytes: text.len(), truncated: false }
        }
    }

    /// Scans a large text in `chunk_size` chunks overlapping by `chunk_overlap`, up to
    /// `max_document_bytes`. A detection is owned by the chunk in which it starts before the
    /// middle of the overlap, so every detection is reported once and sees at least half the
    /// overlap of context on each side.
    pub fn scan_document(&self, text: &str) -> ScanReport {
        let total = text.len();
        let cap = floor_char(text, self.cfg.max_document_bytes.min(total));
        let truncated = cap < total;
        let body = &text[..cap];
        let chunk = self.cfg.chunk_size.max(4096);
        let overlap = self.cfg.chunk_overlap.min(chunk / 2);
        if body.len() <= chunk {
            return ScanReport { detections: self.scan(body), scanned_bytes: cap, total_bytes: total, truncated };
        }
        let mut detections: Vec<Detection> = Vec::new();
        let mut start = 0usize;
        loop {
            let end = floor_char(body, (start + chunk).min(body.len()));
            let last = end >= body.len();
            // Next chunk starts `overlap` before this one ends.
            let next_start = if last { body.len() } else { floor_char(body, end - overlap) };
            let own_until = if last { usize::MAX } else { next_start + overlap / 2 };
            let own_from = if start == 0 { 0 } else { start + overlap / 2 };
            for mut d in self.scan(&body[start..end]) {
                d.start += start;
                d.end += start;
                if d.start >= own_from && d.start < own_until {
                    detections.push(d);
                }
            }
            if last {
                break;
            }
            start = next_start.max(start + 1);
        }
        detections.sort_by_key(|d| (d.start, d.end));
        detections.dedup_by(|b, a| b.start < a.end);
        ScanReport { detections, scanned_bytes: cap, total_bytes: total, truncated }
    }

    /// Convenience: detections turned into storable [`Finding`]s (preview, optional keyed
    /// fingerprint, optional redacted snippet of `snippet_context` bytes each side).
    pub fn findings(
        &self,
        text: &str,
        detections: &[Detection],
        key: Option<&FingerprintKey>,
        snippet_context: Option<usize>,
    ) -> Vec<Finding> {
        detections
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let value = d.value(text);
                Finding {
                    detector: d.detector,
                    severity: d.severity,
                    confidence: d.confidence,
                    start: d.start,
                    end: d.end,
                    redacted_preview: redacted_preview(d.detector, value),
                    fingerprint: key.map(|k| fingerprint(k, d.detector, value.as_bytes())),
                    snippet: snippet_context.map(|c| redacted_snippet(text, detections, i, c)),
                }
            })
            .collect()
    }
}

fn floor_char(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Zero-width characters that split tokens (U+200B..U+200D, U+2060, U+FEFF, U+00AD).
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}')
}

/// If `text` contains zero-width characters, returns a shadow copy without them plus a map
/// from each shadow byte to its original byte offset.
fn strip_zero_width(text: &str) -> Option<(String, Vec<usize>)> {
    let bytes = text.as_bytes();
    let has = memchr::memchr3_iter(0xE2, 0xEF, 0xC2, bytes).any(|i| {
        matches!(
            bytes.get(i..(i + 3).min(bytes.len())),
            Some([0xE2, 0x80, 0x8B..=0x8D]) | Some([0xE2, 0x81, 0xA0]) | Some([0xEF, 0xBB, 0xBF])
        ) || bytes.get(i..i + 2) == Some(&[0xC2, 0xAD][..])
    });
    if !has {
        return None;
    }
    let mut shadow = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len() + 1);
    for (i, c) in text.char_indices() {
        if is_zero_width(c) {
            continue;
        }
        let before = shadow.len();
        shadow.push(c);
        for k in 0..(shadow.len() - before) {
            map.push(i + k);
        }
    }
    map.push(text.len());
    Some((shadow, map))
}
