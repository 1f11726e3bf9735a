//! Detector catalogue and the candidate engine.
//!
//! Stage A (candidates) is split by anchor type so that clean text costs a few SIMD passes:
//! * five packed (Teddy) searchers of ≤ 16 case-sensitive literal anchors each (`sk-ant-`,
//!   `AKIA`, `ghp_`, `-----BEGIN`, `eyJ`, `pass`/`Pass`/`PASS`, `earer`, `ecret`, `key`, …),
//!   with an Aho-Corasick DFA fallback where SIMD is unavailable, plus `memmem("SK")` for
//!   Twilio. Each hit passes a cheap per-family precheck (an assignment or copula after a
//!   keyword, an `@` after `://`, …) and then opens a byte window for its detector families;
//!   overlapping windows are merged and only then is the family's regex run, on the window
//!   only. Generic `key = value` assignments are parsed by hand at the hit, without a regex;
//! * `memchr` over `@` for e-mail, over `:` for IPv6;
//! * a SWAR digit scan plus a digit-run tokenizer for cards, SSNs, phone numbers and IPv4.
//!
//! Stage B (validators) and C (context) live in the family modules; the engine resolves
//! overlaps (§6.5) at the end.

pub(crate) mod credentials;
pub(crate) mod network;
pub(crate) mod numeric;
pub(crate) mod tokens;

use crate::dlp::context::ContextMatcher;
use crate::dlp::finding::{Confidence, Severity};
use crate::dlp::table::{self, Header};
use crate::dlp::ScannerConfig;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use std::collections::BTreeMap;

/// Static description of a detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectorInfo {
    /// Stable snake_case id used in findings.
    pub id: &'static str,
    pub severity: Severity,
    /// Overlap priority: the higher one wins when spans of different detectors overlap
    /// (prefixed tokens > JWT > bearer > password > generic > card > SSN > phone > e-mail > IP).
    pub priority: u8,
    pub description: &'static str,
}

macro_rules! detector {
    ($name:ident, $id:literal, $sev:ident, $prio:literal, $desc:literal) => {
        pub const $name: DetectorInfo =
            DetectorInfo { id: $id, severity: Severity::$sev, priority: $prio, description: $desc };
    };
}

detector!(
    PRIVATE_KEY,
    "private_key",
    Critical,
    100,
    "PEM/OpenSSH/PGP private key block (BEGIN … END, body ≥ 64 base64 chars)"
);
detector!(
    ANTHROPIC_API_KEY,
    "anthropic_api_key",
    Critical,
    95,
    "Anthropic key: sk-ant-api03-/admin01-/api01-/oat01-/ort01-"
);
detector!(
    OPENAI_API_KEY,
    "openai_api_key",
    Critical,
    92,
    "OpenAI key (sk-proj-/sk-svcacct-/sk-admin-, T3BlbkFJ marker)"
);
detector!(AWS_ACCESS_KEY_ID, "aws_access_key_id", Critical, 92, "AWS access key id (AKIA/ASIA/ABIA/ACCA + 16 base32)");
detector!(
    GITHUB_TOKEN,
    "github_token",
    Critical,
    92,
    "GitHub token (ghp_/gho_/ghu_/ghs_/ghr_/github_pat_), CRC32 checksum bump"
);
detector!(GITLAB_TOKEN, "gitlab_token", Critical, 92, "GitLab token (glpat-/gldt-/glrt-/glptt-/…)");
detector!(
    SLACK_TOKEN,
    "slack_token",
    Critical,
    92,
    "Slack token (xoxb-/xoxp-/xoxa-/xapp-…) with digit-group structure"
);
detector!(
    SLACK_WEBHOOK,
    "slack_webhook",
    Critical,
    93,
    "Slack incoming webhook URL (hooks.slack.com/services/T…/B…/…)"
);
detector!(STRIPE_LIVE_KEY, "stripe_live_key", Critical, 92, "Stripe live secret/restricted key (sk_live_/rk_live_)");
detector!(
    STRIPE_TEST_KEY,
    "stripe_test_key",
    Medium,
    91,
    "Stripe test key (sk_test_/rk_test_); only with flag_stripe_test_keys"
);
detector!(GOOGLE_API_KEY, "google_api_key", Critical, 92, "Google/GCP API key (AIza + 35)");
detector!(NPM_TOKEN, "npm_token", Critical, 92, "npm access token (npm_ + 36)");
detector!(SENDGRID_API_KEY, "sendgrid_api_key", Critical, 92, "SendGrid API key (SG.<22>.<43>)");
detector!(TWILIO_API_KEY, "twilio_api_key", Critical, 90, "Twilio API key SID (SK + 32 hex)");
detector!(
    AZURE_STORAGE_KEY,
    "azure_storage_key",
    Critical,
    92,
    "Azure storage account key / SharedAccessKey in a connection string"
);
detector!(HUGGINGFACE_TOKEN, "huggingface_token", Critical, 92, "Hugging Face access token (hf_ + 34 letters)");
detector!(JWT, "jwt", High, 80, "JSON Web Token whose header/payload decode to JSON with alg");
detector!(
    AWS_SECRET_ACCESS_KEY,
    "aws_secret_access_key",
    Critical,
    78,
    "AWS secret access key (40 chars, entropy, keyword or key id nearby)"
);
detector!(BASIC_AUTH, "basic_auth", High, 72, "HTTP Basic authorization header decoding to user:password");
detector!(BEARER_TOKEN, "bearer_token", High, 70, "Bearer token (Authorization: Bearer …)");
detector!(PASSWORD, "password", High, 65, "Password stated in chat, config or a URL");
detector!(
    GENERIC_SECRET,
    "generic_secret",
    Critical,
    60,
    "secret=/api_key=/token= assignment with a high-entropy value"
);
detector!(CREDIT_CARD, "credit_card", Critical, 50, "Payment card number (IIN + length + Luhn)");
detector!(IBAN, "iban", High, 48, "International bank account number (ISO 13616 country length, mod-97 check digits)");
detector!(US_SSN, "us_ssn", Critical, 45, "US Social Security number (area/group/serial rules)");
detector!(PHONE_NUMBER, "phone_number", Medium, 40, "Phone number (E.164 country plans, NANP rules)");
detector!(EMAIL, "email", Medium, 30, "E-mail address with a real TLD");
detector!(IPV6, "ipv6", Low, 21, "IPv6 address (std parse)");
detector!(IPV4, "ipv4", Low, 20, "IPv4 address (octets ≤ 255, not part of a longer dotted number)");

/// All detectors, for documentation and UIs.
pub const DETECTORS: &[DetectorInfo] = &[
    PRIVATE_KEY,
    ANTHROPIC_API_KEY,
    OPENAI_API_KEY,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    GITHUB_TOKEN,
    GITLAB_TOKEN,
    SLACK_TOKEN,
    SLACK_WEBHOOK,
    STRIPE_LIVE_KEY,
    STRIPE_TEST_KEY,
    GOOGLE_API_KEY,
    NPM_TOKEN,
    SENDGRID_API_KEY,
    TWILIO_API_KEY,
    AZURE_STORAGE_KEY,
    HUGGINGFACE_TOKEN,
    JWT,
    BASIC_AUTH,
    BEARER_TOKEN,
    PASSWORD,
    GENERIC_SECRET,
    CREDIT_CARD,
    IBAN,
    US_SSN,
    PHONE_NUMBER,
    EMAIL,
    IPV6,
    IPV4,
];

/// Looks a detector up by id.
pub fn detector_info(id: &str) -> Option<&'static DetectorInfo> {
    DETECTORS.iter().find(|d| d.id == id)
}

/// A validated candidate before overlap resolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub info: &'static DetectorInfo,
    pub start: usize,
    pub end: usize,
    pub confidence: Confidence,
}

/// Per-scan state handed to the family modules.
pub(crate) struct Scan<'a> {
    pub text: &'a [u8],
    pub cfg: &'a ScannerConfig,
    pub ctx: &'a ContextMatcher,
    pub out: Vec<Candidate>,
    /// Last table block seen (tabular context for numeric PII, see [`crate::dlp::table`]).
    pub table: crate::dlp::table::Cache,
}

impl Scan<'_> {
    pub fn push(&mut self, info: &'static DetectorInfo, start: usize, end: usize, c: Confidence) {
        if start < end && end <= self.text.len() {
            self.out.push(Candidate { info, start, end, confidence: c });
        }
    }
}

/// Rows of a password column read below its header.
const TABLE_ROWS: usize = 10_000;

/// Cheap gate before the table lookup of a keyword hit `s..e`: the word it sits in is a whole
/// cell — a delimiter, line end or a run of ≥ 2 spaces after it, and a delimiter, line start or
/// space before it (prose `passed the`, `password is` fail on the single space after).
fn header_cell_shaped(text: &[u8], s: usize, e: usize) -> bool {
    let cell_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'#' | b' ');
    let mut k = e;
    while k < text.len() && k - e < 32 && (text[k].is_ascii_alphanumeric() || matches!(text[k], b'_' | b'-' | b'.')) {
        k += 1;
    }
    let spaces = text[k..].iter().take_while(|b| **b == b' ').count();
    let after_ok = match text.get(k + spaces) {
        None => true,
        Some(b',' | b'\t' | b'|' | b';' | b'\n' | b'\r' | b'"') => true,
        Some(_) => spaces >= 2,
    };
    let mut b = s;
    while b > 0 && s - b < 32 && cell_byte(text[b - 1]) && text[b - 1] != b' ' {
        b -= 1;
    }
    let before_ok = b == 0 || matches!(text[b - 1], b',' | b'\t' | b'|' | b';' | b'\n' | b'"' | b' ');
    after_ok && before_ok
}

/// Detector families reached through literal anchors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Family {
    Anthropic,
    OpenAi,
    AwsKeyId,
    AwsSecret,
    Github,
    Gitlab,
    Slack,
    SlackWebhook,
    Stripe,
    Google,
    Npm,
    SendGrid,
    Twilio,
    Azure,
    HuggingFace,
    PrivateKey,
    Jwt,
    Authorization,
    Password,
    PasswordCmd,
    UrlCreds,
    Generic,
}

const FAMILY_COUNT: usize = Family::Generic as usize + 1;

type Target = (Family, usize, usize);

const PW: &[Target] = &[(Family::Password, 52, 240)];
const GEN: &[Target] = &[(Family::Generic, 66, 330)];
const SECRET_T: &[Target] = &[(Family::Generic, 66, 330), (Family::AwsSecret, 10, 260)];
const AUTH: &[Target] = &[(Family::Authorization, 44, 4200)];
const AWS_ID: &[Target] = &[(Family::AwsKeyId, 0, 24), (Family::AwsSecret, 260, 300)];

/// Literal anchors, in SIMD (Teddy) groups of ≤ 16 so that each group keeps one bucket per
/// pattern (measured: one 62-pattern searcher ~0.6 GB/s, four 16-pattern groups ~1.4 GB/s).
/// Each anchor opens a window `[start - back, end + fwd]` for its families. Keyword anchors
/// are spelled as case variants or as a distinctive substring (`earer` for Bearer/bearer,
/// `ecret` for secret/Secret) so the searchers stay case-sensitive.
const ANCHOR_GROUPS: &[&[(&str, &[Target])]] = &[
    &[
        ("sk-ant-", &[(Family::Anthropic, 0, 300)]),
        ("sk-proj-", &[(Family::OpenAi, 0, 320)]),
        ("sk-svcacct-", &[(Family::OpenAi, 0, 320)]),
        ("sk-admin-", &[(Family::OpenAi, 0, 320)]),
        ("T3BlbkFJ", &[(Family::OpenAi, 260, 260)]),
        ("AKIA", AWS_ID),
        ("ASIA", AWS_ID),
        ("ABIA", &[(Family::AwsKeyId, 0, 24)]),
        ("ACCA", &[(Family::AwsKeyId, 0, 24)]),
        ("ghp_", &[(Family::Github, 0, 260)]),
        ("gho_", &[(Family::Github, 0, 260)]),
        ("ghu_", &[(Family::Github, 0, 260)]),
        ("ghs_", &[(Family::Github, 0, 260)]),
        ("ghr_", &[(Family::Github, 0, 260)]),
        ("github_pat_", &[(Family::Github, 0, 260)]),
        ("glpat-", &[(Family::Gitlab, 0, 100)]),
    ],
    &[
        ("gldt-", &[(Family::Gitlab, 0, 100)]),
        ("glrt-", &[(Family::Gitlab, 0, 100)]),
        ("xox", &[(Family::Slack, 0, 260)]),
        ("xapp-", &[(Family::Slack, 0, 260)]),
        ("hooks.slack.com", &[(Family::SlackWebhook, 8, 200)]),
        ("k_live_", &[(Family::Stripe, 1, 260)]),
        ("k_test_", &[(Family::Stripe, 1, 260)]),
        ("AIza", &[(Family::Google, 0, 40)]),
        ("npm_", &[(Family::Npm, 0, 42)]),
        ("SG.", &[(Family::SendGrid, 0, 72)]),
        ("hf_", &[(Family::HuggingFace, 0, 40)]),
        ("AccountKey", &[(Family::Azure, 0, 120)]),
        ("-----BEGIN", &[(Family::PrivateKey, 0, 80)]),
        ("eyJ", &[(Family::Jwt, 0, 8192)]),
        ("ароль", PW),
        ("ПАРОЛЬ", PW),
    ],
    &[
        ("パスワード", PW),
        ("密码", PW),
        ("密碼", PW),
        ("비밀번호", PW),
        ("ontrase", PW),
        ("senha", PW),
        ("Senha", PW),
        ("ennwort", PW),
        ("achtwoord", PW),
        ("mysql", &[(Family::PasswordCmd, 0, 280)]),
        ("curl", &[(Family::PasswordCmd, 0, 280)]),
        ("://", &[(Family::UrlCreds, 24, 220)]),
        ("earer", AUTH),
        ("EARER", AUTH),
        ("uthorization", AUTH),
        ("UTHORIZATION", AUTH),
    ],
    &[
        ("pass", PW),
        ("Pass", PW),
        ("PASS", PW),
        ("pwd", PW),
        ("PWD", PW),
        ("Pwd", PW),
        ("ecret", SECRET_T),
        ("ECRET", SECRET_T),
        ("oken", GEN),
        ("OKEN", GEN),
        ("key", GEN),
        ("Key", GEN),
        ("KEY", GEN),
        ("AccessKey", &[(Family::Azure, 6, 120), (Family::AwsSecret, 16, 260), (Family::Generic, 70, 330)]),
        // creds / Creds, credential(s) / Credential(s): `creds: admin/X`, `creds are ops / X`.
        ("reds", PW),
        ("redential", PW),
    ],
    &[
        ("pw:", PW),
        ("pw=", PW),
        ("PW:", PW),
        ("PW=", PW),
        ("Pw:", PW),
        (" pw ", PW),
        (" PW ", PW),
        ("asło", PW),
        ("ASŁO", PW),
        ("heslo", PW),
        ("Heslo", PW),
        ("senord", PW),
        ("passord", PW),
        ("gangskode", PW),
        ("salasana", PW),
        ("ifre", PW),
    ],
];

/// One anchor group: a packed SIMD searcher where available, Aho-Corasick otherwise.
enum AnchorFinder {
    Packed(aho_corasick::packed::Searcher),
    Ac(AhoCorasick),
}

struct AnchorGroup {
    finder: AnchorFinder,
    targets: Vec<&'static [Target]>,
}

/// Compiled engine: anchor searchers plus every family's regexes.
pub(crate) struct Engine {
    groups: Vec<AnchorGroup>,
    twilio: memchr::memmem::Finder<'static>,
    pub tokens: tokens::Tokens,
    pub creds: credentials::Credentials,
}

impl Engine {
    pub fn new() -> Self {
        let groups = ANCHOR_GROUPS
            .iter()
            .map(|group| {
                let pats: Vec<&str> = group.iter().map(|(p, _)| *p).collect();
                let packed = aho_corasick::packed::Config::new()
                    .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
                    .builder()
                    .extend(pats.iter())
                    .build();
                let finder = match packed {
                    Some(p) => AnchorFinder::Packed(p),
                    None => AnchorFinder::Ac(
                        AhoCorasickBuilder::new()
                            .match_kind(MatchKind::LeftmostFirst)
                            .kind(Some(AhoCorasickKind::DFA))
                            .build(&pats)
                            .expect("anchor automaton must build"),
                    ),
                };
                AnchorGroup { finder, targets: group.iter().map(|(_, t)| *t).collect() }
            })
            .collect();
        Engine {
            groups,
            twilio: memchr::memmem::Finder::new("SK"),
            tokens: tokens::Tokens::new(),
            creds: credentials::Credentials::new(),
        }
    }

    /// Runs every stage over `text` and returns resolved candidates sorted by start.
    pub fn run(&self, text: &[u8], cfg: &ScannerConfig, ctx: &ContextMatcher) -> Vec<Candidate> {
        let mut scan = Scan { text, cfg, ctx, out: Vec::new(), table: Default::default() };

        // Stage A1: literal anchors → windows per family.
        let mut hits: Vec<(usize, usize, &'static [Target])> = Vec::new();
        for g in &self.groups {
            match &g.finder {
                AnchorFinder::Packed(p) => {
                    for m in p.find_iter(text) {
                        hits.push((m.start(), m.end(), g.targets[m.pattern().as_usize()]));
                    }
                }
                AnchorFinder::Ac(ac) => {
                    for m in ac.find_iter(text) {
                        hits.push((m.start(), m.end(), g.targets[m.pattern().as_usize()]));
                    }
                }
            }
        }
        for s in self.twilio.find_iter(text) {
            hits.push((s, s + 2, &[(Family::Twilio, 0, 36)]));
        }
        // The `u: admin / p: X` shorthand (` p:`, `/p:`, `\tp:`, `\np:`, ` p=`, ` P:`), found
        // from the rarer `:`/`=` instead of a sixth anchor pass over the whole text.
        for i in memchr::memchr2_iter(b':', b'=', text) {
            if i < 2 {
                continue;
            }
            let (p, lead) = (text[i - 1], text[i - 2]);
            let ok = match (p, text[i]) {
                (b'p', b':') => matches!(lead, b' ' | b'/' | b'\t' | b'\n'),
                (b'p', b'=') | (b'P', b':') => lead == b' ',
                _ => false,
            };
            if ok {
                hits.push((i - 2, i + 1, PW));
            }
        }
        if !hits.is_empty() {
            hits.sort_unstable_by_key(|h| h.0);
            let mut windows: [Vec<(usize, usize)>; FAMILY_COUNT] = Default::default();
            let mut generic_done = 0usize;
            let mut table_done = 0usize;
            for &(s, e, targets) in &hits {
                for &(fam, back, fwd) in targets {
                    // A password keyword that is a table's column header: its cells.
                    if fam == Family::Password && s >= table_done && header_cell_shaped(text, s, e) {
                        table_done = e;
                        if let Some((Header::Password, cells)) = table::column_below(text, s, TABLE_ROWS) {
                            table_done = cells.last().map_or(e, |c| c.1);
                            for (cs, ce) in cells {
                                self.creds.table_cell(&mut scan, cs, ce);
                            }
                        }
                    }
                    if !precheck(fam, text, s, e) {
                        continue;
                    }
                    if fam == Family::Generic {
                        // Parsed at the hit, no window; several anchors in one key run once.
                        if s >= generic_done {
                            generic_done = self.creds.generic_at(&mut scan, s, e);
                        }
                        continue;
                    }
                    let ws = s.saturating_sub(back);
                    let we = e.saturating_add(fwd).min(text.len());
                    let list = &mut windows[fam as usize];
                    match list.last_mut() {
                        Some(last) if ws <= last.1 => {
                            last.0 = last.0.min(ws);
                            last.1 = last.1.max(we);
                        }
                        _ => list.push((ws, we)),
                    }
                }
            }
            for (i, list) in windows.iter().enumerate() {
                for &(ws, we) in list {
                    self.run_family(FAMILIES[i], &mut scan, ws, we);
                }
            }
        }

        // Stage A2/A3: e-mail, IPv6, numeric PII.
        network::scan_emails(&mut scan);
        network::scan_ipv6(&mut scan);
        numeric::scan_numeric(&mut scan);

        resolve_overlaps(scan.out)
    }

    fn run_family(&self, fam: Family, scan: &mut Scan<'_>, ws: usize, we: usize) {
        match fam {
            Family::Anthropic
            | Family::OpenAi
            | Family::AwsKeyId
            | Family::Github
            | Family::Gitlab
            | Family::Slack
            | Family::SlackWebhook
            | Family::Stripe
            | Family::Google
            | Family::Npm
            | Family::SendGrid
            | Family::Twilio
            | Family::Azure
            | Family::HuggingFace => self.tokens.run(fam, scan, ws, we),
            Family::AwsSecret => self.creds.aws_secret(&self.tokens, scan, ws, we),
            Family::PrivateKey => self.creds.private_key(scan, ws),
            Family::Jwt => self.creds.jwt(scan, ws, we),
            Family::Authorization => self.creds.authorization(scan, ws, we),
            Family::Password => self.creds.password(scan, ws, we),
            Family::PasswordCmd => self.creds.password_cmd(scan, ws, we),
            Family::UrlCreds => self.creds.url_creds(scan, ws, we),
            // Parsed at each anchor hit in `run`, never through a window.
            Family::Generic => {}
        }
    }
}

const FAMILIES: [Family; FAMILY_COUNT] = [
    Family::Anthropic,
    Family::OpenAi,
    Family::AwsKeyId,
    Family::AwsSecret,
    Family::Github,
    Family::Gitlab,
    Family::Slack,
    Family::SlackWebhook,
    Family::Stripe,
    Family::Google,
    Family::Npm,
    Family::SendGrid,
    Family::Twilio,
    Family::Azure,
    Family::HuggingFace,
    Family::PrivateKey,
    Family::Jwt,
    Family::Authorization,
    Family::Password,
    Family::PasswordCmd,
    Family::UrlCreds,
    Family::Generic,
];

#[inline]
fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// After an anchor: the rest of the identifier, an optional closing quote, up to 3 spaces,
/// then an assignment (`:`, `=`, `：`). Returns the position after the operator.
#[inline]
fn assignment_after(text: &[u8], e: usize) -> Option<usize> {
    let n = text.len();
    let mut k = e;
    while k < n && k - e < 48 && is_key_char(text[k]) {
        k += 1;
    }
    if k < n && matches!(text[k], b'"' | b'\'' | b'`' | b']') {
        k += 1;
    }
    let sp = k;
    while k < n && k - sp < 3 && (text[k] == b' ' || text[k] == b'\t') {
        k += 1;
    }
    match text.get(k) {
        Some(b':') | Some(b'=') => Some(k + 1),
        Some(0xEF) if text.get(k + 1..k + 3) == Some(&[0xBC, 0x9A][..]) => Some(k + 3),
        _ => None,
    }
}

/// Words that can follow a password keyword in the natural-language forms.
const PW_FOLLOW: &[&[u8]] = &[
    b"is ",
    b"is:",
    b"ist ",
    b"est ",
    b"es ",
    "é ".as_bytes(),
    b"was ",
    b"are ",
    b"era ",
    b"lautet",
    b"will ",
    b"should ",
    b"has ",
    b"to ",
    b"for ",
    b"on ",
    b"of ",
    b"at ",
    "für ".as_bytes(),
    b"pour ",
    b"para ",
    b"de ",
    b"voor ",
    b"van ",
    b"du ",
    b"da ",
    b"do ",
    b"del ",
    b"di ",
    b"per ",
    "è ".as_bytes(),
    "は".as_bytes(),
    "是".as_bytes(),
    "는".as_bytes(),
    "은".as_bytes(),
    "：".as_bytes(),
    b"\"",
    b"'",
    b"`",
    "—".as_bytes(),
    "–".as_bytes(),
    b"- ",
];

fn ends_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[hay.len() - needle.len()..].eq_ignore_ascii_case(needle)
}

/// Cheap per-hit checks that keep frequent anchors from opening windows for nothing.
#[inline]
fn precheck(fam: Family, text: &[u8], s: usize, e: usize) -> bool {
    use crate::dlp::validate::prev_byte;
    let n = text.len();
    match fam {
        // `SK` + 32 hex, not glued to a preceding word.
        Family::Twilio => {
            !matches!(prev_byte(text, s), Some(b) if b.is_ascii_alphanumeric())
                && n >= e + 32
                && text[e..e + 32].iter().all(u8::is_ascii_hexdigit)
        }
        // A JWT starts a token: not preceded by a base64 character.
        Family::Jwt => {
            !matches!(prev_byte(text, s), Some(b) if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'_' || b == b'-')
        }
        // scheme://user:pass@ — an '@' before the next whitespace or '/'.
        Family::UrlCreds => {
            let end = (e + 200).min(n);
            text[e..end].iter().take_while(|b| !b.is_ascii_whitespace() && **b != b'/').any(|&b| b == b'@')
        }
        // key = value / key: value right after the identifier.
        Family::Generic => assignment_after(text, e).is_some(),
        Family::AwsSecret => {
            // AKIA/ASIA anchors always; keyword anchors need an assignment or a copula.
            text[s..e].starts_with(b"AKIA") || text[s..e].starts_with(b"ASIA") || {
                // `key = v`, `key: v`, "… is v", or a YAML `name:`/`value:` pair below.
                let end = (e + 80).min(n);
                let seg = &text[e..end];
                memchr::memchr2(b':', b'=', seg).is_some() || crate::dlp::validate::contains(seg, b" is ")
            }
        }
        Family::Password => {
            if assignment_after(text, e).is_some()
                || matches!(prev_byte(text, s), Some(b'-'))
                || matches!(text[e - 1], b':' | b'=' | b' ')
            {
                return true;
            }
            // Rest of the keyword, spaces, then a copula/preposition or a CJK particle.
            let follows = |k: usize| {
                let rest = &text[k..(k + 8).min(n)];
                PW_FOLLOW.iter().any(|w| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w))
            };
            if follows(e) {
                return true;
            }
            let mut k = e;
            while k < n && k - e < 16 && (text[k].is_ascii_alphabetic() || text[k] >= 0x80) {
                k += 1;
            }
            let sp = k;
            while k < n && k - sp < 3 && text[k] == b' ' {
                k += 1;
            }
            if follows(k) {
                return true;
            }
            // Chat shorthand `password Summer1097$`, `pwd Ocean1545*`: after the keyword and a
            // space, a token holding a digit or a symbol.
            if k > sp {
                let tok = text[k..(k + 64).min(n)].iter().take_while(|b| !b.is_ascii_whitespace());
                let mut tok = tok.peekable();
                if tok.peek().is_some()
                    && tok.any(|&b| {
                        b.is_ascii_digit() || (b.is_ascii_punctuation() && !matches!(b, b'.' | b',' | b'-' | b'\''))
                    })
                {
                    return true;
                }
            }
            // "use X as the password", "changed my password to X" handled above ("to ").
            let a = s.saturating_sub(48);
            let before = &text[a..s];
            let before = before.trim_ascii_end();
            ends_with_ci(before, b" as")
                || ends_with_ci(before, b" as the")
                || ends_with_ci(before, b" as my")
                || ends_with_ci(before, b" as your")
                || ends_with_ci(before, b" as a")
                || ends_with_ci(before, b" as new")
                || ends_with_ci(before, b" as the new")
                || ends_with_ci(before, b" as the temporary")
                || ends_with_ci(before, b" as our")
        }
        Family::PasswordCmd => {
            let end = (e + 260).min(n);
            let seg = &text[e..end];
            let seg = match memchr::memchr(b'\n', seg) {
                Some(nl) => &seg[..nl],
                None => seg,
            };
            seg.windows(3).any(|w| w == b" -p" || w == b" -u" || w == b" --")
        }
        Family::Authorization => {
            // bearer<ws>token, authorization: …
            matches!(text.get(e), Some(b' ') | Some(b'\t') | Some(b':') | Some(b'=') | Some(b'"') | Some(b'\''))
        }
        _ => true,
    }
}

/// Overlap resolution (dlp-notes §6.5): higher priority wins, then the longer span, then the
/// earlier start; identical spans from two detectors collapse to the higher-priority one.
fn resolve_overlaps(mut cands: Vec<Candidate>) -> Vec<Candidate> {
    if cands.len() <= 1 {
        return cands;
    }
    // Usual case: no two candidates overlap, so every one is accepted and the result is just
    // the candidates by start (the greedy pass below would accept each in turn).
    cands.sort_by_key(|c| (c.start, c.end)); // stable: ties keep push order, as before
    if cands.windows(2).all(|w| w[0].end <= w[1].start) {
        return cands;
    }
    cands.sort_by(|a, b| {
        b.info
            .priority
            .cmp(&a.info.priority)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
            .then(b.confidence.cmp(&a.confidence))
    });
    // start -> end of accepted spans (non-overlapping, so ordered by start == ordered by end).
    let mut accepted: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for (i, c) in cands.iter().enumerate() {
        let overlaps_prev = accepted.range(..c.end).next_back().is_some_and(|(_, &(e, _))| e > c.start);
        if !overlaps_prev {
            accepted.insert(c.start, (c.end, i));
        }
    }
    accepted.into_values().map(|(_, i)| cands[i]).collect()
}
