//! Finding types, severity, redaction and keyed fingerprints.
//!
//! Product rule: a matched value never leaves the scanner. Everything in this module that
//! renders text ([`redacted_snippet`], [`redacted_preview`]) is built so that the raw value
//! cannot appear in its output:
//!
//! * snippets redact by **span** (never by string replace), every detection overlapping the
//!   window is replaced by `[REDACTED:<detector>]`, and the window is cut on char boundaries;
//! * previews print only a fixed, type-identifying public prefix (`sk-ant-api03-`, `AKIA`,
//!   `ghp_`, the PEM header, …) plus a length, or a digit-free mask for PII
//!   (`***-**-****` for SSNs, `visa …[16 digits]` for cards, `***@***.com` for e-mail);
//! * fingerprints are keyed HMAC-SHA256 (an unkeyed hash of an SSN or card number is
//!   brute-forceable).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// Severity of a detection (or of a whole text: the maximum over its detections).
///
/// Ordered `None < Low < Medium < High < Critical`; serialised as UPPERCASE strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// No signal.
    #[default]
    None,
    /// IP addresses.
    Low,
    /// E-mail addresses, phone numbers.
    Medium,
    /// Passwords shared in chat, bearer tokens, JWTs, basic-auth headers.
    High,
    /// SSNs, card numbers, API/secret keys, private key blocks.
    Critical,
}

impl Severity {
    /// Upper-case name as used in JSON (`"CRITICAL"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "NONE",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sure the detector is. Derived from format strength, checksums and context words.
///
/// * `High`: exact vendor format / checksum validated, or validated shape plus supporting context.
/// * `Medium`: validated shape, no supporting context (or strong shape with a negative hint).
/// * `Low`: validated but weak shape without context (e.g. a bare Luhn-valid 16-digit number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "LOW",
            Confidence::Medium => "MEDIUM",
            Confidence::High => "HIGH",
        }
    }
    /// One level down (saturating).
    pub(crate) fn down(self) -> Self {
        match self {
            Confidence::High => Confidence::Medium,
            _ => Confidence::Low,
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a scanned text came from (Compliance API data sources).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    ChatMessage,
    ChatFile,
    ProjectDescription,
    ProjectInstruction,
    ProjectFile,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::ChatMessage => "chat_message",
            SourceKind::ChatFile => "chat_file",
            SourceKind::ProjectDescription => "project_description",
            SourceKind::ProjectInstruction => "project_instruction",
            SourceKind::ProjectFile => "project_file",
        }
    }
    /// Attachments can be large: they are scanned in chunks with a total cap.
    pub fn is_attachment(self) -> bool {
        matches!(self, SourceKind::ChatFile | SourceKind::ProjectFile)
    }
}

/// One detection: which detector fired where. Holds **no** matched value; `start..end` are
/// UTF-8 byte offsets into the scanned text, always on char boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Detection {
    /// Stable snake_case detector id (see [`crate::dlp::DETECTORS`]).
    pub detector: &'static str,
    pub severity: Severity,
    pub start: usize,
    pub end: usize,
    pub confidence: Confidence,
}

impl Detection {
    /// The matched bytes, for callers that need them (fingerprinting). Never log this.
    pub fn value<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.start..self.end).unwrap_or("")
    }
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// A serialisable finding for storage/export: no raw value, only a preview, a keyed
/// fingerprint and (optionally) a redacted snippet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub detector: &'static str,
    pub severity: Severity,
    pub confidence: Confidence,
    /// UTF-8 byte offsets into the scanned text.
    pub start: usize,
    pub end: usize,
    pub redacted_preview: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

/// Maximum severity over a set of detections (`Severity::None` when empty).
pub fn max_severity(detections: &[Detection]) -> Severity {
    detections.iter().map(|d| d.severity).max().unwrap_or(Severity::None)
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Returns `±context_bytes` of `text` around detection `idx`, built so that no sensitive
/// value in the window is shown — not only the detection's own:
///
/// * **every** detection span that intersects the window is replaced by
///   `[REDACTED:<detector>]` (spans cut by the window edge too, so a neighbouring secret
///   never leaks half-shown);
/// * in the remaining context, [`mask_context`] rules replace with `[MASKED]` what a
///   detector may have missed: every word holding two or more digits (phone groups, SSNs,
///   account numbers, dates — this also hides digit runs of 6 or more, and any 6-byte stretch
///   of which 4 or more bytes are digits), long key-shaped words, e-mail-shaped words, and
///   the rest of the line after a secret hotword (`password`, `pwd`, `pass`, `secret`,
///   `token`, `pw`, `creds`, …; also when the hotword sits just before the window on the
///   same line);
/// * the window is cut on char boundaries (it may shrink by up to 3 bytes on each side);
/// * control characters (newlines, tabs) are rendered as spaces so the snippet fits one line;
/// * fail closed: if `idx` is out of range or the detection's span is not a valid span of
///   `text`, the result is just `[REDACTED]`; any other invalid span in `detections` makes the
///   snippet collapse to the marker of detection `idx` alone.
pub fn redacted_snippet(text: &str, detections: &[Detection], idx: usize, context_bytes: usize) -> String {
    let Some(target) = detections.get(idx) else {
        return "[REDACTED]".to_string();
    };
    let valid = |d: &Detection| {
        d.start < d.end && d.end <= text.len() && text.is_char_boundary(d.start) && text.is_char_boundary(d.end)
    };
    if !valid(target) {
        return "[REDACTED]".to_string();
    }
    let w_start = ceil_boundary(text, target.start.saturating_sub(context_bytes));
    let w_end = floor_boundary(text, target.end.saturating_add(context_bytes));
    let w_start = w_start.min(target.start);
    let w_end = w_end.max(target.end);

    // Per-byte state of the window: RAW, MASKED, or SPAN_BASE + index of a detection.
    let mut state = vec![RAW; w_end - w_start];
    for (k, d) in detections.iter().enumerate() {
        if d.end <= w_start || d.start >= w_end {
            continue;
        }
        if !valid(d) {
            return format!("[REDACTED:{}]", target.detector);
        }
        let (s, e) = (d.start.max(w_start) - w_start, d.end.min(w_end) - w_start);
        for st in &mut state[s..e] {
            if *st == RAW {
                *st = SPAN_BASE + k as u32;
            }
        }
    }
    mask_context(text.as_bytes(), w_start, w_end, &mut state);

    let mut out = String::with_capacity(w_end - w_start + 32);
    let mut i = 0;
    while i < state.len() {
        let st = state[i];
        let mut j = i + 1;
        while j < state.len() && state[j] == st {
            j += 1;
        }
        match st {
            RAW => push_clean(&mut out, &text[w_start + i..w_start + j]),
            MASKED => out.push_str("[MASKED]"),
            k => {
                out.push_str("[REDACTED:");
                out.push_str(detections[(k - SPAN_BASE) as usize].detector);
                out.push(']');
            }
        }
        i = j;
    }
    out
}

const RAW: u32 = 0;
const MASKED: u32 = 1;
const SPAN_BASE: u32 = 2;

/// Bytes that end a word for the context masks (all ASCII, so masks stay on char boundaries).
#[inline]
fn is_word_sep(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b',' | b';'
                | b'|'
                | b'"'
                | b'\''
                | b'`'
                | b'<'
                | b'>'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'('
                | b')'
                | b':'
                | b'='
                | b'/'
                | b'\\'
                | b'?'
                | b'&'
        )
}

/// A word after which the rest of the line is hidden (a value typically follows).
fn is_secret_hotword(w: &[u8]) -> bool {
    let w = w.strip_suffix(b".").unwrap_or(w);
    let l = w.to_ascii_lowercase();
    let l = l.as_slice();
    const EXACT: &[&[u8]] = &[
        b"pw",
        b"pwd",
        b"pass",
        b"passwd",
        b"passcode",
        b"passphrase",
        b"pin",
        b"secret",
        b"secrets",
        b"token",
        b"tokens",
        b"creds",
        b"cred",
        b"credential",
        b"credentials",
        b"passwort",
        b"kennwort",
        b"senha",
        b"passe",
        b"wachtwoord",
        b"haslo",
    ];
    const CONTAINS: &[&[u8]] = &[
        b"password",
        b"passwd",
        b"passwort",
        "contraseña".as_bytes(),
        "пароль".as_bytes(),
        "Пароль".as_bytes(),
        "hasło".as_bytes(),
    ];
    const SUFFIX: &[&[u8]] =
        &[b"secret", b"token", b"_pw", b"_pwd", b"_pass", b"-pass", b"apikey", b"api_key", b"api-key"];
    EXACT.contains(&l)
        || CONTAINS.iter().any(|c| memchr::memmem::find(l, c).is_some())
        || SUFFIX.iter().any(|s| l.ends_with(s))
}

/// Whether a word (no separators inside) should be hidden from a snippet's context.
fn word_is_sensitive(w: &[u8]) -> bool {
    let digits = w.iter().filter(|b| b.is_ascii_digit()).count();
    if digits >= 2 {
        return true;
    }
    // e-mail shaped: something@something.something
    if let Some(at) = memchr::memchr(b'@', w) {
        if at > 0 && w[at + 1..].contains(&b'.') {
            return true;
        }
    }
    // key/token shaped: long, and not a plain lower-case (or capitalised) word.
    w.len() >= 16 && !w[1..].iter().all(|b| b.is_ascii_lowercase() || *b == b'-' || *b >= 0x80)
}

/// Context masks of [`redacted_snippet`] over `state` (the window `w_start..w_end` of `text`):
/// sets `MASKED` on raw bytes of sensitive words and after secret hotwords, then joins masks
/// separated only by phone-style separators so `+1 415 927 7024` becomes one marker.
fn mask_context(text: &[u8], w_start: usize, w_end: usize, state: &mut [u32]) {
    let mark = |state: &mut [u32], s: usize, e: usize| {
        let (s, e) = (s.max(w_start), e.min(w_end));
        if s < e {
            for st in &mut state[s - w_start..e - w_start] {
                if *st == RAW {
                    *st = MASKED;
                }
            }
        }
    };
    // Look back on the current line (≤ 160 bytes) so a hotword just before the window still
    // hides the value at its start.
    let line_start = memchr::memrchr(b'\n', &text[w_start.saturating_sub(160)..w_start])
        .map(|p| w_start.saturating_sub(160) + p + 1)
        .unwrap_or(w_start.saturating_sub(160));
    let mut hide_until_eol = false;
    let mut i = line_start;
    while i < w_end {
        let b = text[i];
        if b == b'\n' {
            hide_until_eol = false;
            i += 1;
            continue;
        }
        if is_word_sep(b) {
            if hide_until_eol && !b.is_ascii_whitespace() {
                mark(state, i, i + 1);
            }
            i += 1;
            continue;
        }
        let ws = i;
        while i < text.len() && !is_word_sep(text[i]) {
            i += 1;
        }
        let word = &text[ws..i];
        if hide_until_eol || word_is_sensitive(word) {
            mark(state, ws, i);
        }
        if is_secret_hotword(word) {
            hide_until_eol = true;
        }
    }
    // Join MASKED runs separated by ≤ 3 bytes of ` -.()+/`.
    let n = state.len();
    let mut k = 0;
    while k < n {
        if state[k] != MASKED {
            k += 1;
            continue;
        }
        let mut g = k + 1;
        while g < n
            && state[g] == RAW
            && g - k <= 3
            && matches!(text[w_start + g], b' ' | b'-' | b'.' | b'(' | b')' | b'+' | b'/')
        {
            g += 1;
        }
        if g < n && g > k + 1 && state[g] == MASKED {
            for st in &mut state[k + 1..g] {
                *st = MASKED;
            }
        }
        k = g.max(k + 1);
    }
}

fn push_clean(out: &mut String, s: &str) {
    for c in s.chars() {
        if c.is_control() {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
}

fn len_suffix(value: &str) -> String {
    format!("…[{} chars]", value.chars().count())
}

fn digits_count(value: &str) -> usize {
    value.bytes().filter(u8::is_ascii_digit).count()
}

/// Type-identifying preview of a matched value that never contains the value itself.
///
/// Policy (decided here because the product rule is "the matched value must never appear"):
///
/// * vendor keys/tokens: the fixed public prefix that identifies the key family plus the
///   length, e.g. `sk-ant-api03-…[108 chars]`, `AKIA…[20 chars]`, `ghp_…[40 chars]`;
///   the prefix is printed only when it is a known family marker and at least 8 characters
///   of the value remain hidden;
/// * private keys: the PEM header line (public) plus length;
/// * credit cards: brand and digit count, **no digits** (`visa …[16 digits]`) — BIN/last4 are
///   partial values and are deliberately not shown;
/// * SSNs: `***-**-****`; phone numbers: `+<country code> …[N digits]` for international
///   numbers, otherwise `…[N digits]`; e-mail: `***@***.<tld>`;
/// * IP addresses: version and class only (`IPv4 (private)`);
/// * passwords: `********` (not even the length);
/// * anything else: `…[N chars]`.
pub fn redacted_preview(detector: &str, value: &str) -> String {
    let v = value.trim();
    let prefixed = |prefix: &str| -> String {
        if v.starts_with(prefix) && v.len() >= prefix.len() + 8 {
            format!("{prefix}{}", len_suffix(v))
        } else {
            len_suffix(v)
        }
    };
    match detector {
        "anthropic_api_key" => {
            // sk-ant-<family>- : the family marker is public.
            let fam_end = v.get(7..).and_then(|rest| rest.find('-')).map(|i| 7 + i + 1).filter(|&e| e <= 20);
            match fam_end {
                Some(e) if v.starts_with("sk-ant-") => prefixed(&v[..e]),
                _ => prefixed("sk-ant-"),
            }
        }
        "openai_api_key" => {
            for p in ["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-"] {
                if v.starts_with(p) {
                    return prefixed(p);
                }
            }
            prefixed("sk-")
        }
        "aws_access_key_id" => {
            let p = v.get(..4).unwrap_or("");
            if matches!(p, "AKIA" | "ASIA" | "ABIA" | "ACCA") {
                prefixed(p)
            } else {
                len_suffix(v)
            }
        }
        "github_token" => {
            for p in ["github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
                if v.starts_with(p) {
                    return prefixed(p);
                }
            }
            len_suffix(v)
        }
        "gitlab_token" => match v.find('-') {
            Some(i) if i <= 6 && v.starts_with("gl") => prefixed(&v[..=i]),
            _ => len_suffix(v),
        },
        "slack_token" => match v.find('-') {
            Some(i) if i <= 9 && (v.starts_with("xox") || v.starts_with("xapp")) => prefixed(&v[..=i]),
            _ => len_suffix(v),
        },
        "slack_webhook" => {
            for p in [
                "https://hooks.slack.com/services/",
                "https://hooks.slack.com/workflows/",
                "https://hooks.slack.com/triggers/",
                "hooks.slack.com/services/",
                "hooks.slack.com/workflows/",
                "hooks.slack.com/triggers/",
            ] {
                if v.starts_with(p) {
                    return prefixed(p);
                }
            }
            len_suffix(v)
        }
        "stripe_live_key" | "stripe_test_key" => {
            for p in ["sk_live_", "rk_live_", "sk_test_", "rk_test_"] {
                if v.starts_with(p) {
                    return prefixed(p);
                }
            }
            len_suffix(v)
        }
        "google_api_key" => prefixed("AIza"),
        "npm_token" => prefixed("npm_"),
        "sendgrid_api_key" => prefixed("SG."),
        "twilio_api_key" => prefixed("SK"),
        "huggingface_token" => prefixed("hf_"),
        "jwt" => prefixed("eyJ"),
        "private_key" => {
            let header_end =
                v.find("-----").and_then(|first| v[first + 5..].find("-----").map(|second| first + 5 + second + 5));
            match header_end {
                Some(e) if v.starts_with("-----BEGIN ") && e + 8 <= v.len() => {
                    format!("{}{}", &v[..e], len_suffix(v))
                }
                _ => len_suffix(v),
            }
        }
        "credit_card" => {
            let digits: Vec<u8> = v.bytes().filter(u8::is_ascii_digit).collect();
            let brand = crate::dlp::validate::card_brand(&digits).map(|b| b.as_str()).unwrap_or("card");
            format!("{brand} …[{} digits]", digits.len())
        }
        "us_ssn" => "***-**-****".to_string(),
        "phone_number" => {
            let n = digits_count(v);
            match crate::dlp::phone::e164_country_code(v) {
                Some(cc) => format!("+{cc} …[{n} digits]"),
                None => format!("…[{n} digits]"),
            }
        }
        "email" => {
            let tld = v
                .rsplit_once('.')
                .map(|(_, t)| t)
                .filter(|t| t.len() <= 24 && t.bytes().all(|b| b.is_ascii_alphabetic()))
                .unwrap_or("");
            if tld.is_empty() {
                "***@***".to_string()
            } else {
                format!("***@***.{}", tld.to_ascii_lowercase())
            }
        }
        "ipv4" => match v.parse::<std::net::Ipv4Addr>() {
            Ok(ip) if ip.is_private() => "IPv4 (private)".to_string(),
            Ok(ip) if ip.is_loopback() => "IPv4 (loopback)".to_string(),
            Ok(ip) if ip.is_link_local() => "IPv4 (link-local)".to_string(),
            Ok(_) => "IPv4 (public)".to_string(),
            Err(_) => "IPv4".to_string(),
        },
        "ipv6" => match v.parse::<std::net::Ipv6Addr>() {
            Ok(ip) if (ip.segments()[0] & 0xffc0) == 0xfe80 => "IPv6 (link-local)".to_string(),
            Ok(ip) if (ip.segments()[0] & 0xfe00) == 0xfc00 => "IPv6 (unique-local)".to_string(),
            Ok(_) => "IPv6 (global)".to_string(),
            Err(_) => "IPv6".to_string(),
        },
        "password" => "********".to_string(),
        _ => len_suffix(v),
    }
}

/// Secret key for [`fingerprint`]. The bytes are wiped on drop and never printed by `Debug`.
pub struct FingerprintKey(Vec<u8>);

impl FingerprintKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        FingerprintKey(bytes.into())
    }
    /// Builds a key from a hex string (e.g. a tenant secret from the secrets manager).
    pub fn from_hex(s: &str) -> Result<Self, hex::FromHexError> {
        hex::decode(s.trim()).map(FingerprintKey)
    }
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
    /// Constant-time comparison of two keys (e.g. a migrated key against the stored one).
    pub fn same_as(&self, other: &FingerprintKey) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey([REDACTED])")
    }
}

impl Drop for FingerprintKey {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference into our own buffer.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// Normalises a matched value before fingerprinting so that formatting variants of the same
/// value correlate: digits only for cards/SSNs/phones (10-digit NANP numbers get a leading `1`),
/// lower-case for e-mail, whitespace and `\n` escapes removed for private keys, trimmed
/// otherwise.
pub fn normalize_value(detector: &str, value: &[u8]) -> Vec<u8> {
    match detector {
        "credit_card" | "us_ssn" => value.iter().copied().filter(u8::is_ascii_digit).collect(),
        "phone_number" => {
            let mut d: Vec<u8> = value.iter().copied().filter(u8::is_ascii_digit).collect();
            let plus = value.iter().find(|b| !b.is_ascii_whitespace() && **b != b'(') == Some(&b'+');
            if !plus && d.len() == 10 && d[0] >= b'2' {
                d.insert(0, b'1');
            }
            d
        }
        "email" => value.trim_ascii().to_ascii_lowercase(),
        "private_key" => {
            let mut out = Vec::with_capacity(value.len());
            let mut i = 0;
            while i < value.len() {
                let b = value[i];
                if b == b'\\' && matches!(value.get(i + 1), Some(b'n') | Some(b'r')) {
                    i += 2;
                    continue;
                }
                if !b.is_ascii_whitespace() {
                    out.push(b);
                }
                i += 1;
            }
            out
        }
        _ => value.trim_ascii().to_vec(),
    }
}

/// Keyed fingerprint of a matched value: `hex(HMAC-SHA256(key, detector ‖ 0x00 ‖
/// normalize(value)))[..32]` (128 bits). Use it to dedupe/correlate findings without storing
/// values; without the key it cannot be brute-forced even for 9-digit SSNs.
pub fn fingerprint(key: &FingerprintKey, detector: &str, value: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key.expose()) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this branch is unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(detector.as_bytes());
    mac.update(&[0]);
    mac.update(&normalize_value(detector, value));
    let tag = mac.finalize().into_bytes();
    let mut s = hex::encode(tag);
    s.truncate(32);
    s
}
