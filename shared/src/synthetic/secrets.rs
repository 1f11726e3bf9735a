//! Realistic sensitive strings (and look-alike non-secrets) for the downstream DLP feature.
//!
//! Every value is assembled at runtime from pieces so that the source tree itself never
//! contains a literal that a secret scanner would flag.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::seq::SliceRandom;
use rand::Rng;

use super::ids;

/// Category of a planted sensitive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SensitiveKind {
    CreditCard,
    Ssn,
    AwsAccessKey,
    AwsSecretKey,
    GithubToken,
    SlackToken,
    AnthropicKey,
    PrivateKey,
    Jwt,
    Password,
    BearerToken,
    Email,
    Phone,
    Ipv4,
    Ipv6,
}

impl SensitiveKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SensitiveKind::CreditCard => "credit_card",
            SensitiveKind::Ssn => "ssn",
            SensitiveKind::AwsAccessKey => "aws_access_key",
            SensitiveKind::AwsSecretKey => "aws_secret_key",
            SensitiveKind::GithubToken => "github_token",
            SensitiveKind::SlackToken => "slack_token",
            SensitiveKind::AnthropicKey => "anthropic_key",
            SensitiveKind::PrivateKey => "private_key",
            SensitiveKind::Jwt => "jwt",
            SensitiveKind::Password => "password",
            SensitiveKind::BearerToken => "bearer_token",
            SensitiveKind::Email => "email",
            SensitiveKind::Phone => "phone",
            SensitiveKind::Ipv4 => "ipv4",
            SensitiveKind::Ipv6 => "ipv6",
        }
    }
}

/// One sensitive value planted in a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    pub kind: SensitiveKind,
    pub value: String,
}

/// Luhn check digit for the given digit string (without check digit).
pub fn luhn_check_digit(partial: &str) -> u32 {
    let mut sum = 0u32;
    for (i, c) in partial.chars().rev().enumerate() {
        let mut d = c.to_digit(10).unwrap_or(0);
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    (10 - (sum % 10)) % 10
}

/// True if the digits (separators ignored) pass the Luhn check.
pub fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 2 {
        return false;
    }
    let mut sum = 0;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut d = *d;
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

fn digits<R: Rng + ?Sized>(rng: &mut R, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}

/// Luhn-valid card number (Visa / Mastercard / Amex / Discover), formatted plain or grouped.
pub fn credit_card<R: Rng + ?Sized>(rng: &mut R) -> String {
    let (prefix, len): (String, usize) = match rng.gen_range(0..4) {
        0 => ("4".to_string(), 16),
        1 => (format!("5{}", rng.gen_range(1..=5)), 16),
        2 => (if rng.gen_bool(0.5) { "34" } else { "37" }.to_string(), 15),
        _ => ("6011".to_string(), 16),
    };
    let mut body = prefix;
    let rest = len - 1 - body.len();
    body.push_str(&digits(rng, rest));
    let check = luhn_check_digit(&body);
    body.push(char::from_digit(check, 10).unwrap_or('0'));
    let sep = match rng.gen_range(0..3) {
        0 => "",
        1 => " ",
        _ => "-",
    };
    if sep.is_empty() {
        return body;
    }
    let groups: &[usize] = if len == 15 { &[4, 6, 5] } else { &[4, 4, 4, 4] };
    let mut out = Vec::new();
    let mut pos = 0;
    for g in groups {
        out.push(&body[pos..pos + g]);
        pos += g;
    }
    out.join(sep)
}

/// A 16-digit number that fails the Luhn check (tricky non-secret: order/reference number).
pub fn non_luhn_16<R: Rng + ?Sized>(rng: &mut R) -> String {
    let mut body = format!("4{}", digits(rng, 14));
    let check = (luhn_check_digit(&body) + 1 + rng.gen_range(0..8)) % 10;
    body.push(char::from_digit(check, 10).unwrap_or('1'));
    if luhn_valid(&body) {
        // cannot happen (check digit shifted by 1..=8), but stay safe
        body.pop();
        body.push(char::from_digit((check + 1) % 10, 10).unwrap_or('1'));
    }
    format!("{} {} {} {}", &body[0..4], &body[4..8], &body[8..12], &body[12..16])
}

/// SSN in `ddd-dd-dddd` with a valid area (001–665, 667–899), group 01–99, serial 0001–9999,
/// avoiding all-same digits and published sample numbers.
pub fn ssn<R: Rng + ?Sized>(rng: &mut R) -> String {
    loop {
        let area = rng.gen_range(1..900u32);
        if area == 666 {
            continue;
        }
        let group = rng.gen_range(1..100u32);
        let serial = rng.gen_range(1..10000u32);
        let s = format!("{area:03}-{group:02}-{serial:04}");
        let d: Vec<char> = s.chars().filter(|c| c.is_ascii_digit()).collect();
        if d.iter().all(|c| *c == d[0]) {
            continue;
        }
        let compact: String = d.iter().collect();
        if ["078051120", "219099999", "123456789"].contains(&compact.as_str()) {
            continue;
        }
        return s;
    }
}

/// AWS access key id (`AKIA` + 16 base32 chars) and a 40-char secret access key.
pub fn aws_keypair<R: Rng + ?Sized>(rng: &mut R) -> (String, String) {
    const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";
    let body: String = (0..16).map(|_| B32[rng.gen_range(0..B32.len())] as char).collect();
    let id = format!("{}{}{}", "AK", "IA", body);
    let secret: String = (0..40).map(|_| B64[rng.gen_range(0..B64.len())] as char).collect();
    (id, secret)
}

/// GitHub personal access token (`ghp_` + 36 alphanumerics).
pub fn github_token<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("{}{}_{}", "gh", "p", ids::alnum(rng, 36))
}

/// Slack bot/user token (`xoxb-…` / `xoxp-…`).
pub fn slack_token<R: Rng + ?Sized>(rng: &mut R) -> String {
    let kind = if rng.gen_bool(0.5) { "b" } else { "p" };
    format!("{}{}-{}-{}-{}", "xox", kind, digits(rng, 12), digits(rng, 13), ids::alnum(rng, 24))
}

/// Anthropic API key in the `sk-ant-api03-` shape (93 word chars + `AA`).
pub fn anthropic_key<R: Rng + ?Sized>(rng: &mut R) -> String {
    const W: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let body: String = (0..93).map(|_| W[rng.gen_range(0..W.len())] as char).collect();
    format!("{}-{}-{}{}-{}AA", "sk", "ant", "api", "03", body)
}

/// PEM private key block with a plausible base64 body (random bytes after a DER-ish prefix).
pub fn private_key_pem<R: Rng + ?Sized>(rng: &mut R) -> String {
    let label = ["RSA ", "EC ", "OPENSSH ", ""].choose(rng).copied().unwrap_or("");
    let mut der = vec![0x30u8, 0x82, 0x04, 0xa4, 0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01];
    let n = rng.gen_range(300..600);
    der.extend((0..n).map(|_| rng.gen::<u8>()));
    let b64 = STANDARD.encode(&der);
    let lines: Vec<String> = b64.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let what = ["PRIV", "ATE KEY"].concat();
    format!("-----BEGIN {label}{what}-----\n{}\n-----END {label}{what}-----", lines.join("\n"))
}

/// HS256-shaped JWT whose header and payload decode to JSON.
pub fn jwt<R: Rng + ?Sized>(rng: &mut R, subject: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let iat: u64 = rng.gen_range(1_780_000_000..1_800_000_000);
    let payload = format!(r#"{{"sub":"{subject}","iat":{iat},"exp":{},"scope":"read write"}}"#, iat + 3600);
    let payload = URL_SAFE_NO_PAD.encode(payload.as_bytes());
    let sig_bytes: Vec<u8> = (0..32).map(|_| rng.gen()).collect();
    let sig = URL_SAFE_NO_PAD.encode(sig_bytes);
    format!("{header}.{payload}.{sig}")
}

/// Opaque bearer token.
pub fn bearer<R: Rng + ?Sized>(rng: &mut R) -> String {
    ids::alnum(rng, 40)
}

/// Human-ish password with mixed classes.
pub fn password<R: Rng + ?Sized>(rng: &mut R) -> String {
    let words = ["Summer", "Falcon", "Orchid", "Granite", "Harbor", "Velvet", "Maple", "Comet"];
    let syms = ["!", "#", "$", "%", "&", "*", "@"];
    format!(
        "{}{}{}{}",
        words.choose(rng).copied().unwrap_or("Maple"),
        rng.gen_range(10..99),
        syms.choose(rng).copied().unwrap_or("!"),
        ids::alnum(rng, 4)
    )
}

/// US phone number in one of a few common formats (no 555 exchanges).
pub fn phone<R: Rng + ?Sized>(rng: &mut R) -> String {
    let area = [212, 415, 617, 312, 206, 512, 303, 646, 718, 425].choose(rng).copied().unwrap_or(415);
    let mut exch = rng.gen_range(201..999);
    if exch == 555 {
        exch = 556;
    }
    let line = rng.gen_range(1000..9999);
    match rng.gen_range(0..3) {
        0 => format!("({area}) {exch}-{line}"),
        1 => format!("+1 {area}-{exch}-{line}"),
        _ => format!("{area}.{exch}.{line}"),
    }
}

/// Public-looking IPv4 address.
pub fn ipv4<R: Rng + ?Sized>(rng: &mut R) -> String {
    let first = [34, 52, 81, 91, 104, 145, 185, 212].choose(rng).copied().unwrap_or(34);
    format!("{first}.{}.{}.{}", rng.gen_range(0..256), rng.gen_range(0..256), rng.gen_range(1..255))
}

/// Public-looking IPv6 address.
pub fn ipv6<R: Rng + ?Sized>(rng: &mut R) -> String {
    let first = ["2a02", "2600", "2a01", "2607", "2001"].choose(rng).copied().unwrap_or("2a02");
    format!(
        "{first}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
        rng.gen_range(1..0xffffu32),
        rng.gen_range(0..0xffffu32),
        rng.gen_range(0..0xffffu32),
        rng.gen_range(0..0xffffu32),
        rng.gen_range(0..0xffffu32),
        rng.gen_range(0..0xffffu32),
        rng.gen_range(1..0xffffu32)
    )
}

/// Number of distinct sensitive-sentence templates (`which` is taken modulo this).
pub const SENSITIVE_TEMPLATES: usize = 16;

/// A natural sentence carrying one (or two) sensitive values; `which` selects the template
/// (cycle through `0..SENSITIVE_TEMPLATES` to cover every kind).
pub fn sensitive_sentence<R: Rng + ?Sized>(rng: &mut R, which: usize, domain: &str) -> (String, Vec<Planted>) {
    let p = |kind: SensitiveKind, value: &str| Planted { kind, value: value.to_string() };
    match which % SENSITIVE_TEMPLATES {
        0 => {
            let c = credit_card(rng);
            let exp = format!("{:02}/{}", rng.gen_range(1..13), rng.gen_range(27..32));
            (
                format!(
                    "Can you charge the conference fee to my corporate card {c}, expiry {exp}? The CVV is {}.",
                    rng.gen_range(100..999)
                ),
                vec![p(SensitiveKind::CreditCard, &c)],
            )
        }
        1 => {
            let s = ssn(rng);
            (
                format!("For the HR onboarding form my SSN is {s}, please fill it into section 2."),
                vec![p(SensitiveKind::Ssn, &s)],
            )
        }
        2 => {
            let (id, secret) = aws_keypair(rng);
            (
                format!("The deploy script fails with these credentials: aws_access_key_id = {id} and aws_secret_access_key = {secret}. What am I doing wrong?"),
                vec![p(SensitiveKind::AwsAccessKey, &id), p(SensitiveKind::AwsSecretKey, &secret)],
            )
        }
        3 => {
            let t = github_token(rng);
            (
                format!("I exported GITHUB_TOKEN={t} but the push to our private repo is still rejected."),
                vec![p(SensitiveKind::GithubToken, &t)],
            )
        }
        4 => {
            let t = slack_token(rng);
            (
                format!("Our alerting bot uses the Slack token {t}; why does chat.postMessage return not_in_channel?"),
                vec![p(SensitiveKind::SlackToken, &t)],
            )
        }
        5 => {
            let k = anthropic_key(rng);
            (
                format!("Here is the key from the console, {k} — can you write a curl example that uses it?"),
                vec![p(SensitiveKind::AnthropicKey, &k)],
            )
        }
        6 => {
            let k = private_key_pem(rng);
            (
                format!("Why does ssh say 'invalid format' for this key?\n\n{k}\n"),
                vec![p(SensitiveKind::PrivateKey, &k)],
            )
        }
        7 => {
            let j = jwt(rng, &format!("svc-billing@{domain}"));
            (format!("Decode this token and tell me when it expires: {j}"), vec![p(SensitiveKind::Jwt, &j)])
        }
        8 => {
            let pw = password(rng);
            (
                format!("The shared admin account for the staging dashboard is ops-admin and the password is {pw} — rotate it after the demo."),
                vec![p(SensitiveKind::Password, &pw)],
            )
        }
        9 => {
            let b = bearer(rng);
            (
                format!("My request looks like: curl -H \"Authorization: Bearer {b}\" https://api.internal.{domain}/v2/orders and it returns 403."),
                vec![p(SensitiveKind::BearerToken, &b)],
            )
        }
        10 => {
            let names = ["maria.gonzalez", "t.nguyen", "priya.patel", "d.okafor", "lena.schmidt"];
            let e = format!(
                "{}@{}",
                names.choose(rng).copied().unwrap_or("t.nguyen"),
                ["gmail.com", "outlook.com", "protonmail.com", "yahoo.com"].choose(rng).copied().unwrap_or("gmail.com")
            );
            let ph = phone(rng);
            (
                format!("Please send the signed contract to the candidate at {e} or call her on {ph}."),
                vec![p(SensitiveKind::Email, &e), p(SensitiveKind::Phone, &ph)],
            )
        }
        11 => {
            let ip = ipv4(rng);
            (
                format!("The suspicious logins all came from {ip}; should we add it to the blocklist?"),
                vec![p(SensitiveKind::Ipv4, &ip)],
            )
        }
        12 => {
            let ip = ipv6(rng);
            (
                format!("Our VPN gateway reports the client address as {ip} — is that inside our allocation?"),
                vec![p(SensitiveKind::Ipv6, &ip)],
            )
        }
        13 => {
            let ph = phone(rng);
            (
                format!("If the pager escalation fails, call the on-call lead directly at {ph}."),
                vec![p(SensitiveKind::Phone, &ph)],
            )
        }
        14 => {
            let pw = password(rng);
            (
                format!("Connection string for the reporting replica: postgres://report_ro:{pw}@db-replica-2.{domain}:5432/analytics — why is it timing out?"),
                vec![p(SensitiveKind::Password, &pw)],
            )
        }
        _ => {
            let s = ssn(rng);
            let c = credit_card(rng);
            (
                format!("Customer record to verify: SSN {s}, card on file {c}. Does this match the dispute?"),
                vec![p(SensitiveKind::Ssn, &s), p(SensitiveKind::CreditCard, &c)],
            )
        }
    }
}

/// A sentence with look-alike values that are NOT secrets (UUIDs, git SHAs, order numbers,
/// version strings, non-Luhn 16-digit references).
pub fn tricky_sentence<R: Rng + ?Sized>(rng: &mut R) -> String {
    match rng.gen_range(0..7) {
        0 => format!("The failing request id was {} — can you find it in the trace view?", ids::uuid(rng)),
        1 => format!("The regression started at commit {}; bisect points there.", ids::hex(rng, 40)),
        2 => format!(
            "Order number ORD-{}-{:06} shipped late; draft an apology to the customer.",
            rng.gen_range(2024..2027),
            rng.gen_range(1..999_999)
        ),
        3 => format!(
            "We upgraded from v{}.{}.{} to v{}.{}.{} and build {}.{}.{}.{} broke the plugin loader.",
            rng.gen_range(1..5),
            rng.gen_range(0..20),
            rng.gen_range(0..10),
            rng.gen_range(5..8),
            rng.gen_range(0..20),
            rng.gen_range(0..10),
            rng.gen_range(1..10),
            rng.gen_range(0..30),
            rng.gen_range(0..300),
            rng.gen_range(0..9000)
        ),
        4 => format!("Reference number {} on the invoice does not match our PO.", non_luhn_16(rng)),
        5 => format!("The container image digest is sha256:{} — is it the patched one?", ids::hex(rng, 64)),
        _ => format!(
            "Tracking code 1Z{}{} shows the parcel still in Memphis.",
            ids::alnum(rng, 6).to_uppercase(),
            digits(rng, 10)
        ),
    }
}
