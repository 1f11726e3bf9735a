//! Vendor tokens with a literal prefix: exact charset/length, boundary checks, entropy and the
//! placeholder filter; checksums where the format has one.

use super::{Family, Scan};
use crate::dlp::context::{cat, Ctx};
use crate::dlp::detectors as d;
use crate::dlp::finding::Confidence;
use crate::dlp::validate::{classes, github_checksum_ok, is_hex, is_placeholder_secret, prev_byte, shannon_entropy};
use regex::bytes::{Regex, RegexBuilder};

pub(crate) fn re(pattern: &str) -> Regex {
    RegexBuilder::new(pattern).unicode(false).build().expect("constant DLP regex must compile")
}

pub(crate) struct Tokens {
    anthropic: Regex,
    openai: Regex,
    pub(crate) aws_key_id: Regex,
    github: Regex,
    gitlab: Regex,
    slack: Regex,
    slack_webhook: Regex,
    stripe: Regex,
    google: Regex,
    npm: Regex,
    sendgrid: Regex,
    twilio: Regex,
    azure: Regex,
    huggingface: Regex,
}

/// Bytes that glue a token to a preceding/following word (so the match is only a fragment).
#[inline]
fn glue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

#[inline]
fn token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

impl Tokens {
    pub fn new() -> Self {
        Tokens {
            anthropic: re(r"sk-ant-[a-z]{2,8}[0-9]{2}-[A-Za-z0-9_\-]{20,}"),
            openai: re(r"sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"),
            aws_key_id: re(r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}"),
            github: re(r"gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{82,}"),
            gitlab: re(r"gl(?:pat|dt|rt|ptt|cbt|soat|ft|imt|agent)-[A-Za-z0-9_\-]{20,}"),
            slack: re(
                r"xox[abposre]-[0-9A-Za-z\-]{10,}|xoxe\.xox[bp]-[0-9]-[A-Za-z0-9\-]{40,}|xapp-[0-9]-[A-Z0-9]{8,14}-[0-9]{8,15}-[a-f0-9]{30,}",
            ),
            slack_webhook: re(r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{20,}"),
            stripe: re(r"[rs]k_(?:live|test)_[0-9A-Za-z]{16,}"),
            google: re(r"AIza[0-9A-Za-z_\-]{35}"),
            npm: re(r"npm_[A-Za-z0-9]{36}"),
            sendgrid: re(r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"),
            twilio: re(r"SK[0-9a-fA-F]{32}"),
            azure: re(r"(?:AccountKey|SharedAccessKey|accountkey)\s*=\s*([A-Za-z0-9+/]{40,}={0,2})"),
            huggingface: re(r"hf_[A-Za-z]{34}"),
        }
    }

    pub fn run(&self, fam: Family, scan: &mut Scan<'_>, ws: usize, we: usize) {
        let text = scan.text;
        let win = &text[ws..we];
        let regex = match fam {
            Family::Anthropic => &self.anthropic,
            Family::OpenAi => &self.openai,
            Family::AwsKeyId => &self.aws_key_id,
            Family::Github => &self.github,
            Family::Gitlab => &self.gitlab,
            Family::Slack => &self.slack,
            Family::SlackWebhook => &self.slack_webhook,
            Family::Stripe => &self.stripe,
            Family::Google => &self.google,
            Family::Npm => &self.npm,
            Family::SendGrid => &self.sendgrid,
            Family::Twilio => &self.twilio,
            Family::Azure => &self.azure,
            Family::HuggingFace => &self.huggingface,
            _ => return,
        };
        if fam == Family::Azure {
            for caps in regex.captures_iter(win) {
                if let Some(g) = caps.get(1) {
                    let (s, e) = (ws + g.start(), ws + g.end());
                    self.azure_key(scan, s, e);
                }
            }
            return;
        }
        for m in regex.find_iter(win) {
            let (s, e) = (ws + m.start(), ws + m.end());
            if matches!(prev_byte(text, s), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
                continue;
            }
            // The regexes are greedy over the token charset: a following token char means the
            // match hit a length cap inside a longer string.
            let next = text.get(e).copied();
            let val = &text[s..e];
            let conf = match fam {
                Family::Anthropic => anthropic(val, next),
                Family::OpenAi => openai(val, next),
                Family::AwsKeyId => aws_key_id(val, next),
                Family::Github => github(val, next),
                Family::Gitlab => gitlab(val, next),
                Family::Slack => slack(val, next),
                Family::SlackWebhook => slack_webhook(val, next),
                Family::Stripe => stripe(val, next, scan.cfg.flag_stripe_test_keys),
                Family::Google => google(val, next),
                Family::Npm => npm(val, next),
                Family::SendGrid => sendgrid(val, next),
                Family::Twilio => twilio(val, next),
                Family::HuggingFace => huggingface(val, next),
                _ => None,
            };
            let Some(mut conf) = conf else { continue };
            let info = match fam {
                Family::Anthropic => &d::ANTHROPIC_API_KEY,
                Family::OpenAi => &d::OPENAI_API_KEY,
                Family::AwsKeyId => &d::AWS_ACCESS_KEY_ID,
                Family::Github => &d::GITHUB_TOKEN,
                Family::Gitlab => &d::GITLAB_TOKEN,
                Family::Slack => &d::SLACK_TOKEN,
                Family::SlackWebhook => &d::SLACK_WEBHOOK,
                Family::Stripe if val.starts_with(b"sk_test_") || val.starts_with(b"rk_test_") => &d::STRIPE_TEST_KEY,
                Family::Stripe => &d::STRIPE_LIVE_KEY,
                Family::Google => &d::GOOGLE_API_KEY,
                Family::Npm => &d::NPM_TOKEN,
                Family::SendGrid => &d::SENDGRID_API_KEY,
                Family::Twilio => &d::TWILIO_API_KEY,
                Family::HuggingFace => &d::HUGGINGFACE_TOKEN,
                _ => continue,
            };
            if fam == Family::Twilio && window_contains_ci(text, s, e, 120, b"twilio") {
                conf = Confidence::High;
            }
            if scan.ctx.assess(text, s, e, cat::SECRET) == Ctx::Negative {
                conf = conf.down();
            }
            scan.push(info, s, e, conf);
        }
    }

    fn azure_key(&self, scan: &mut Scan<'_>, s: usize, e: usize) {
        let text = scan.text;
        let v = &text[s..e];
        if matches!(text.get(e), Some(b) if glue(*b) || *b == b'=') {
            return;
        }
        if crate::dlp::validate::is_known_example(v) || is_placeholder_secret(v) || shannon_entropy(v) < 4.0 {
            return;
        }
        let core = v.iter().filter(|&&b| b != b'=').count();
        let conf = if (v.len() == 88 && v.ends_with(b"==")) || (v.len() == 44 && v.ends_with(b"=")) {
            Confidence::High
        } else if core >= 40 {
            Confidence::Medium
        } else {
            return;
        };
        scan.push(&d::AZURE_STORAGE_KEY, s, e, conf);
    }
}

pub(crate) fn window_contains_ci(text: &[u8], s: usize, e: usize, radius: usize, needle: &[u8]) -> bool {
    let ws = s.saturating_sub(radius);
    let we = (e + radius).min(text.len());
    text[ws..we].windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

fn ok_random(body: &[u8], min_entropy: f64) -> bool {
    !is_placeholder_secret(body) && shannon_entropy(body) >= min_entropy
}

fn anthropic(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(token_char) {
        return None;
    }
    // sk-ant-<family>-<body>
    let rest = &v[7..];
    let dash = rest.iter().position(|&b| b == b'-')?;
    let family = &rest[..dash];
    let body = &rest[dash + 1..];
    if body.len() > 250 || !ok_random(body, 3.5) {
        return None;
    }
    let known = matches!(family, b"api01" | b"api02" | b"api03" | b"admin01" | b"oat01" | b"ort01" | b"sid01");
    if matches!(family, b"api03" | b"admin01") && body.len() == 95 && body.ends_with(b"AA") {
        return Some(Confidence::High);
    }
    if known && body.len() >= 80 {
        Some(Confidence::High)
    } else if (known && body.len() >= 32) || body.len() >= 40 {
        Some(Confidence::Medium)
    } else {
        None
    }
}

fn openai(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(token_char) {
        return None;
    }
    let body = &v[3..];
    if !ok_random(body, 3.5) {
        return None;
    }
    if v.windows(8).any(|w| w == b"T3BlbkFJ") {
        return Some(Confidence::High);
    }
    if body.len() >= 80 {
        return Some(Confidence::Medium);
    }
    None
}

fn aws_key_id(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let tail = &v[4..];
    if is_placeholder_secret(v) || shannon_entropy(tail) < 3.0 {
        return None;
    }
    Some(Confidence::High)
}

fn github(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    if let Some(body) = v.strip_prefix(b"github_pat_") {
        if !ok_random(body, 3.5) {
            return None;
        }
        let structured = body.len() == 82 && body[22] == b'_';
        return Some(if structured { Confidence::High } else { Confidence::Medium });
    }
    let body = &v[4..];
    if !ok_random(body, 3.0) {
        return None;
    }
    if body.len() == 36 && github_checksum_ok(body) {
        Some(Confidence::High)
    } else {
        Some(Confidence::Medium)
    }
}

fn gitlab(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(token_char) {
        return None;
    }
    let dash = v.iter().position(|&b| b == b'-')?;
    let body = &v[dash + 1..];
    if body.len() > 80 || !ok_random(body, 3.0) {
        return None;
    }
    if v.starts_with(b"glpat-") && body.len() == 20 {
        Some(Confidence::High)
    } else {
        Some(Confidence::Medium)
    }
}

fn slack(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(token_char) || is_placeholder_secret(v) {
        return None;
    }
    if v.starts_with(b"xapp-") {
        return Some(Confidence::High);
    }
    let segs: Vec<&[u8]> = v.split(|&b| b == b'-').skip(1).collect();
    let numeric = segs.iter().filter(|s| s.len() >= 6 && s.iter().all(u8::is_ascii_digit)).count();
    let last = segs.last().copied().unwrap_or(b"");
    let random_tail = last.len() >= 16
        && last.iter().all(u8::is_ascii_alphanumeric)
        && shannon_entropy(last) >= 3.0
        && !last.iter().all(u8::is_ascii_digit);
    if numeric >= 2 && random_tail {
        Some(Confidence::High)
    } else if v.len() >= 40 && random_tail {
        Some(Confidence::Medium)
    } else {
        None
    }
}

fn slack_webhook(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(token_char) || is_placeholder_secret(v) {
        return None;
    }
    let path_start = v.windows(16).position(|w| w == b"hooks.slack.com/")? + 16;
    let mut segs = v[path_start..].split(|&b| b == b'/').filter(|s| !s.is_empty());
    let kind = segs.next()?;
    let rest: Vec<&[u8]> = segs.collect();
    let id_ok = |s: &[u8], first: u8| {
        s.first() == Some(&first)
            && (9..=13).contains(&s.len())
            && s.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    let secret_ok = |s: &[u8]| s.len() >= 20 && s.iter().all(u8::is_ascii_alphanumeric) && shannon_entropy(s) >= 3.5;
    match kind {
        b"services" if rest.len() == 3 && id_ok(rest[0], b'T') && id_ok(rest[1], b'B') && secret_ok(rest[2]) => {
            Some(Confidence::High)
        }
        b"workflows" | b"triggers"
            if rest.len() >= 3 && id_ok(rest[0], b'T') && rest.last().is_some_and(|s| secret_ok(s)) =>
        {
            Some(Confidence::High)
        }
        _ => None,
    }
}

fn stripe(v: &[u8], next: Option<u8>, allow_test: bool) -> Option<Confidence> {
    if next.is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let test = v.starts_with(b"sk_test_") || v.starts_with(b"rk_test_");
    if test && !allow_test {
        return None;
    }
    let body = &v[8..];
    if body.len() < 20 || body.len() > 247 || !ok_random(body, 3.0) {
        return None;
    }
    Some(Confidence::High)
}

fn google(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(token_char) || !ok_random(&v[4..], 3.5) {
        return None;
    }
    Some(Confidence::High)
}

fn npm(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let body = &v[4..];
    if !ok_random(body, 3.5) {
        return None;
    }
    let c = classes(body);
    if c.digit == 0 || c.upper + c.lower == 0 {
        return None;
    }
    if github_checksum_ok(body) {
        Some(Confidence::High)
    } else {
        Some(Confidence::Medium)
    }
}

fn sendgrid(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(token_char) || !ok_random(&v[3..], 3.5) {
        return None;
    }
    Some(Confidence::High)
}

fn twilio(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let body = &v[2..];
    if !is_hex(body) || !ok_random(body, 3.0) {
        return None;
    }
    Some(Confidence::Medium)
}

fn huggingface(v: &[u8], next: Option<u8>) -> Option<Confidence> {
    if next.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let body = &v[3..];
    let c = classes(body);
    if c.upper < 2 || c.lower < 2 || !ok_random(body, 3.5) {
        return None;
    }
    Some(Confidence::High)
}
