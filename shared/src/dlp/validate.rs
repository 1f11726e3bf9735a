//! Pure, allocation-light validators used by the detectors (dlp-notes §6 stage B).

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// ASCII letter, digit or `_`.
#[inline]
pub fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[inline]
pub fn byte_at(text: &[u8], i: usize) -> Option<u8> {
    text.get(i).copied()
}

#[inline]
pub fn prev_byte(text: &[u8], i: usize) -> Option<u8> {
    if i == 0 {
        None
    } else {
        text.get(i - 1).copied()
    }
}

/// Whether `hay` contains `needle` (non-empty). For the short haystacks of validators and
/// windows: `memchr` on the first byte, no per-call `memmem` searcher to build.
#[inline]
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    memchr::memchr_iter(first, hay).any(|p| hay[p + 1..].starts_with(rest))
}

/// ASCII case-insensitive [`contains`]; `needle` is given in lower case.
#[inline]
pub fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), hay)
        .any(|p| hay.get(p + 1..p + 1 + rest.len()).is_some_and(|w| w.eq_ignore_ascii_case(rest)))
}

/// Position of the first ASCII digit at or after `i` (SWAR, 8 bytes per step).
#[inline]
pub fn next_digit(b: &[u8], mut i: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while i + 8 <= b.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        let x = u64::from_le_bytes(w);
        // "has byte between 0x2F and 0x3A" (bit-twiddling hacks), exact for bytes < 0x80;
        // `& !x` drops bytes ≥ 0x80.
        let low7 = x & (LO * 127);
        let t = (LO * (127 + 0x3A)).wrapping_sub(low7) & !x & low7.wrapping_add(LO * (127 - 0x2F)) & HI;
        if t != 0 {
            return Some(i + (t.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < b.len() {
        if b[i].is_ascii_digit() {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Shannon entropy in bits per symbol (byte alphabet).
pub fn shannon_entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    let mut h = 0.0;
    for &c in counts.iter() {
        if c > 0 {
            let p = c as f64 / n;
            h -= p * p.log2();
        }
    }
    h
}

/// Character-class profile of a value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Classes {
    pub lower: usize,
    pub upper: usize,
    pub digit: usize,
    pub other: usize,
}

pub fn classes(s: &[u8]) -> Classes {
    let mut c = Classes::default();
    for &b in s {
        if b.is_ascii_lowercase() {
            c.lower += 1;
        } else if b.is_ascii_uppercase() {
            c.upper += 1;
        } else if b.is_ascii_digit() {
            c.digit += 1;
        } else {
            c.other += 1;
        }
    }
    c
}

pub fn is_hex(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_hexdigit)
}

/// `8-4-4-4-12` hex UUID, or 32 hex digits shaped like a v1–v8 UUID (version nibble and RFC
/// 4122 variant in place) — the "UUID without hyphens under an `*Id` key" false positive.
pub fn looks_like_uuid(s: &[u8]) -> bool {
    if s.len() == 36 {
        return s.iter().enumerate().all(
            |(i, &b)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                }
            },
        );
    }
    if s.len() == 32 && is_hex(s) {
        let version = s[12];
        let variant = s[16].to_ascii_lowercase();
        return (b'1'..=b'8').contains(&version) && matches!(variant, b'8' | b'9' | b'a' | b'b');
    }
    false
}

/// Longest run of one repeated byte.
pub fn longest_run(s: &[u8]) -> usize {
    let mut best = 0;
    let mut cur = 0;
    let mut last = None;
    for &b in s {
        if Some(b) == last {
            cur += 1;
        } else {
            cur = 1;
            last = Some(b);
        }
        best = best.max(cur);
    }
    best
}

/// Longest ascending/descending-by-one run (`abcdef`, `123456`, `987654`).
pub fn longest_sequence(s: &[u8]) -> usize {
    let mut best = 1.min(s.len());
    let mut up = 1;
    let mut down = 1;
    for w in s.windows(2) {
        let (a, b) = (w[0], w[1]);
        up = if a.is_ascii_alphanumeric() && b == a.wrapping_add(1) { up + 1 } else { 1 };
        down = if a.is_ascii_alphanumeric() && b.wrapping_add(1) == a { down + 1 } else { 1 };
        best = best.max(up).max(down);
    }
    best
}

/// Placeholder / documentation-value filter for machine secrets (keys, tokens).
///
/// True for values containing `EXAMPLE`/`example`, `xxxx`, `XXXX`, `****`, `<`/`>`, `${`,
/// `{{`, `…`, `...`, `REDACTED`, `your_`/`YOUR_`, `dummy`, `sample`, `placeholder`,
/// `fake`, `insert`, `replace`, `changeme`, or with a run of ≥ 6 identical characters or an
/// ascending/descending run of ≥ 8 (`abcdefgh`, `12345678`). One pass, no allocation.
pub fn is_placeholder_secret(v: &[u8]) -> bool {
    let n = v.len();
    let at = |i: usize, w: &[u8]| n - i >= w.len() && v[i..i + w.len()].eq_ignore_ascii_case(w);
    for (i, &byte) in v.iter().enumerate() {
        let hit = match byte {
            b'<' | b'>' => true,
            b'*' => at(i, b"****"),
            b'{' => at(i, b"{{"),
            b'$' => at(i, b"${"),
            b'.' => at(i, b"..."),
            0xe2 => at(i, "…".as_bytes()),
            c => match c | 0x20 {
                b'e' => at(i, b"example"),
                b'x' => at(i, b"xxxx"),
                b'r' => at(i, b"redacted") || at(i, b"replace"),
                b'y' => at(i, b"your_") || at(i, b"your-"),
                b'd' => at(i, b"dummy"),
                b's' => at(i, b"sample"),
                b'p' => at(i, b"placeholder"),
                b'f' => at(i, b"fake"),
                b'i' => at(i, b"insert"),
                b'c' => at(i, b"changeme"),
                _ => false,
            },
        };
        if hit {
            return true;
        }
    }
    longest_run(v) >= 6 || longest_sequence(v) >= 8
}

/// Published documentation/emulator credentials that must never alert (AWS docs, Azurite).
const KNOWN_EXAMPLES: [&[u8]; 3] = [
    b"AKIAIOSFODNN7EXAMPLE",
    b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    b"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
];

pub fn is_known_example(v: &[u8]) -> bool {
    KNOWN_EXAMPLES.contains(&v)
}

// ----------------------------------------------------------------------------------------
// Payment cards
// ----------------------------------------------------------------------------------------

/// Luhn (mod 10) check over ASCII digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.len() < 2 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &b) in digits.iter().rev().enumerate() {
        let mut d = (b - b'0') as u32;
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    UnionPay,
    Maestro,
}

impl CardBrand {
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::Jcb => "jcb",
            CardBrand::Diners => "diners",
            CardBrand::UnionPay => "unionpay",
            CardBrand::Maestro => "maestro",
        }
    }
}

fn prefix_num(d: &[u8], n: usize) -> u32 {
    d.iter().take(n).fold(0u32, |acc, &b| acc * 10 + (b.wrapping_sub(b'0')) as u32)
}

/// Issuer (IIN) table with the lengths each brand issues. Returns `None` for unknown IINs or
/// lengths (e.g. a 16-digit number starting with 9, or a 13-digit Mastercard).
pub fn card_brand(d: &[u8]) -> Option<CardBrand> {
    let len = d.len();
    if !(12..=19).contains(&len) || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let p1 = prefix_num(d, 1);
    let p2 = prefix_num(d, 2);
    let p3 = prefix_num(d, 3);
    let p4 = prefix_num(d, 4);
    let p6 = prefix_num(d, 6);
    if p1 == 4 && matches!(len, 13 | 16 | 19) {
        return Some(CardBrand::Visa);
    }
    if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 {
        return Some(CardBrand::Mastercard);
    }
    if (p2 == 34 || p2 == 37) && len == 15 {
        return Some(CardBrand::Amex);
    }
    if (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622126..=622925).contains(&p6))
        && (16..=19).contains(&len)
    {
        return Some(CardBrand::Discover);
    }
    if (3528..=3589).contains(&p4) && (16..=19).contains(&len) {
        return Some(CardBrand::Jcb);
    }
    if ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39) && (14..=19).contains(&len) {
        return Some(CardBrand::Diners);
    }
    if p2 == 62 && (16..=19).contains(&len) {
        return Some(CardBrand::UnionPay);
    }
    if (p4 == 5018
        || p4 == 5020
        || p4 == 5038
        || p4 == 5893
        || p4 == 6304
        || p4 == 6759
        || p4 == 6761
        || p4 == 6762
        || p4 == 6763)
        && (12..=19).contains(&len)
    {
        return Some(CardBrand::Maestro);
    }
    None
}

/// Publicly documented processor test numbers (Stripe, Braintree, Adyen, PayPal docs).
/// Not flagged unless `ScannerConfig::flag_test_cards` is set (Purview behaviour).
const TEST_CARDS: &[&str] = &[
    "4111111111111111",
    "4242424242424242",
    "4000056655665556",
    "4012888888881881",
    "4222222222222",
    "4005519200000004",
    "4009348888881881",
    "4012000033330026",
    "4012000077777777",
    "4217651111111119",
    "4500600000000061",
    "4000000000000002",
    "4000000000009995",
    "4000000000000077",
    "4000000000003220",
    "5555555555554444",
    "5200828282828210",
    "5105105105105100",
    "5431111111111111",
    "2223003122003222",
    "2223000048400011",
    "2222400010000008",
    "378282246310005",
    "371449635398431",
    "378734493671000",
    "341111111111111",
    "6011111111111117",
    "6011000990139424",
    "6011000991300009",
    "3530111333300000",
    "3566002020360505",
    "3566111111111113",
    "30569309025904",
    "38520000023237",
    "36227206271667",
    "6200000000000005",
    "6200000000000047",
    "6759649826438453",
];

pub fn is_test_card(digits: &[u8]) -> bool {
    TEST_CARDS.iter().any(|t| t.as_bytes() == digits)
}

// ----------------------------------------------------------------------------------------
// US SSN
// ----------------------------------------------------------------------------------------

/// SSN structural rules: area not 000/666/900–999, group not 00, serial not 0000, not all the
/// same digit, and not a published sample / advertising number.
///
/// Sample denylist (decision): `078-05-1120` (Woolworth wallet card), `219-09-9999` (1940s SSA
/// pamphlet), `123-45-6789` (the canonical placeholder; SSA calls it invalid),
/// `457-55-5462` (Lifelock ad). `987-65-4320..4329` are already excluded by the 9xx rule.
/// Truncated patterns like `98765432` are *not* used (they over-block, presidio #2074).
pub fn ssn_valid(d: &[u8]) -> bool {
    if d.len() != 9 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let area = prefix_num(d, 3);
    let group = prefix_num(&d[3..], 2);
    let serial = prefix_num(&d[5..], 4);
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    if d.iter().all(|&b| b == d[0]) {
        return false;
    }
    const SAMPLES: [&[u8]; 4] = [b"078051120", b"219099999", b"123456789", b"457555462"];
    !SAMPLES.contains(&d)
}

// ----------------------------------------------------------------------------------------
// Base64 / JWT
// ----------------------------------------------------------------------------------------

/// Decodes base64url or standard base64, with or without padding.
pub fn b64_decode_lenient(s: &[u8]) -> Option<Vec<u8>> {
    let trimmed = {
        let mut e = s.len();
        while e > 0 && s[e - 1] == b'=' {
            e -= 1;
        }
        &s[..e]
    };
    if trimmed.iter().any(|&b| b == b'-' || b == b'_') {
        URL_SAFE_NO_PAD.decode(trimmed).ok()
    } else {
        STANDARD_NO_PAD.decode(trimmed).ok().or_else(|| URL_SAFE_NO_PAD.decode(trimmed).ok())
    }
}

/// The jwt.io sample token signature (documentation example, never a live credential).
const JWT_DOC_SIGNATURES: [&[u8]; 2] =
    [b"SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", b"XbPfbIHMI6arZ3Y922BhjWgQzWXcXNrz0ogtVhfEd2o"];

/// JWT check: three base64url segments; header decodes to a JSON object with a string `alg`,
/// payload decodes to a JSON object; signature present unless `alg` is `none`.
/// Returns `false` for the jwt.io documentation sample.
pub fn jwt_valid(token: &[u8]) -> bool {
    let mut parts = token.split(|&b| b == b'.');
    let (Some(h), Some(p), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if h.len() < 10 || p.len() < 4 {
        return false;
    }
    let Some(hdr) = b64_decode_lenient(h) else {
        return false;
    };
    let Ok(serde_json::Value::Object(hdr)) = serde_json::from_slice::<serde_json::Value>(&hdr) else {
        return false;
    };
    let Some(serde_json::Value::String(alg)) = hdr.get("alg") else {
        return false;
    };
    let Some(pl) = b64_decode_lenient(p) else {
        return false;
    };
    if !matches!(serde_json::from_slice::<serde_json::Value>(&pl), Ok(serde_json::Value::Object(_))) {
        return false;
    }
    if !alg.eq_ignore_ascii_case("none") && sig.len() < 16 {
        return false;
    }
    !JWT_DOC_SIGNATURES.contains(&sig)
}

// ----------------------------------------------------------------------------------------
// CRC32 (GitHub / npm token checksum)
// ----------------------------------------------------------------------------------------

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Base62 of `n`, left-padded with `0` to `width`.
pub fn base62_padded(mut n: u32, width: usize) -> Vec<u8> {
    let mut out = vec![b'0'; width];
    let mut i = width;
    while n > 0 && i > 0 {
        i -= 1;
        out[i] = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// GitHub-style token checksum: the last 6 characters are base62(CRC32(random part)).
/// `body` is the 36 characters after the `ghp_` prefix. Used as a confidence bump only.
pub fn github_checksum_ok(body: &[u8]) -> bool {
    if body.len() != 36 {
        return false;
    }
    let (random, check) = body.split_at(30);
    base62_padded(crc32(random), 6) == check
}

// ----------------------------------------------------------------------------------------
// IPv4
// ----------------------------------------------------------------------------------------

/// Parses four decimal octets (no leading zeros except a lone `0`, each ≤ 255).
pub fn parse_ipv4_octets(parts: &[&[u8]]) -> Option<[u8; 4]> {
    if parts.len() != 4 {
        return None;
    }
    let mut out = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        if p.len() > 1 && p[0] == b'0' {
            return None;
        }
        let v = prefix_num(p, 3);
        if v > 255 {
            return None;
        }
        out[i] = v as u8;
    }
    Some(out)
}

/// RFC 5737 documentation ranges.
pub fn ipv4_is_documentation(o: [u8; 4]) -> bool {
    matches!((o[0], o[1], o[2]), (192, 0, 2) | (198, 51, 100) | (203, 0, 113))
}

/// IBAN lengths by country (ISO 13616 registry: the 2-letter code and the total length),
/// sorted by code for binary search.
const IBAN_LENGTHS: &[(&[u8; 2], u8)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// Total IBAN length of a country, if it uses IBANs.
pub fn iban_length(country: &[u8]) -> Option<usize> {
    let cc: [u8; 2] = country.try_into().ok()?;
    IBAN_LENGTHS.binary_search_by(|(c, _)| c.cmp(&&cc)).ok().map(|i| IBAN_LENGTHS[i].1 as usize)
}

/// ISO 7064 mod 97-10 check of a compact IBAN (upper-case letters and digits, no spaces):
/// the country's length, two check digits `02..=98`, and the number with its first four
/// characters moved to the end (letters as 10..35) ≡ 1 (mod 97). No allocation.
pub fn iban_valid(iban: &[u8]) -> bool {
    if iban.len() < 15 || iban.len() > 34 || iban_length(&iban[..2]) != Some(iban.len()) {
        return false;
    }
    if !iban[2].is_ascii_digit()
        || !iban[3].is_ascii_digit()
        || !iban[4..].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return false;
    }
    let check = (iban[2] - b'0') * 10 + (iban[3] - b'0');
    if !(2..=98).contains(&check) {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in iban[4..].iter().chain(&iban[..4]) {
        rem = if b.is_ascii_digit() {
            (rem * 10 + (b - b'0') as u32) % 97
        } else {
            (rem * 100 + (b - b'A' + 10) as u32) % 97
        };
    }
    rem == 1
}

/// Published IBAN examples (ISO 13616, bank and standards documentation) that must not alert.
pub fn iban_is_documentation(iban: &[u8]) -> bool {
    const EXAMPLES: &[&[u8]] = &[
        b"GB82WEST12345698765432",
        b"GB29NWBK60161331926819",
        b"DE89370400440532013000",
        b"FR1420041010050500013M02606",
        b"NL91ABNA0417164300",
        b"BE68539007547034",
        b"CH9300762011623852957",
        b"ES9121000418450200051332",
        b"IT60X0542811101000000123456",
        b"AT611904300234573201",
        b"GB33BUKB20201555555555",
        b"DE75512108001245126199",
    ];
    EXAMPLES.contains(&iban)
}

#[cfg(test)]
mod tests {
    #[test]
    fn iban_mod97_and_lengths() {
        use super::{iban_length, iban_valid};
        assert!(IBAN_LENGTHS_SORTED());
        assert!(iban_valid(b"GB82WEST12345698765432"));
        assert!(iban_valid(b"DE89370400440532013000"));
        assert!(iban_valid(b"NO9386011117947"));
        assert!(!iban_valid(b"GB82WEST12345698765433"), "one digit off");
        assert!(!iban_valid(b"GB28WEST12345698765432"), "check digits swapped");
        assert!(!iban_valid(b"DE8937040044053201300"), "too short for DE");
        assert!(!iban_valid(b"XX82WEST12345698765432"), "unknown country");
        assert!(!iban_valid(b"gb82west12345698765432"), "lower case");
        assert_eq!(iban_length(b"FR"), Some(27));
        assert_eq!(iban_length(b"US"), None);
    }

    #[allow(non_snake_case)]
    fn IBAN_LENGTHS_SORTED() -> bool {
        super::IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0)
    }

    use super::*;

    #[test]
    fn swar_digits_match_naive() {
        let mut bytes: Vec<u8> = (0u8..=255).collect();
        bytes.extend_from_slice("é9ü/0:9\u{1F600}5".as_bytes());
        for start in 0..bytes.len() {
            let naive = bytes[start..].iter().position(u8::is_ascii_digit).map(|p| p + start);
            assert_eq!(next_digit(&bytes, start), naive, "start {start}");
        }
        for b in 0u8..=255 {
            let v = [b'x', b'x', b, b'x', b'x', b'x', b'x', b'x', b'x'];
            assert_eq!(next_digit(&v, 0).is_some(), b.is_ascii_digit(), "byte {b}");
        }
    }

    #[test]
    fn luhn_and_brands() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert_eq!(card_brand(b"4111111111111111"), Some(CardBrand::Visa));
        assert_eq!(card_brand(b"2223003122003222"), Some(CardBrand::Mastercard));
        assert_eq!(card_brand(b"378282246310005"), Some(CardBrand::Amex));
        assert_eq!(card_brand(b"9781234567897"), None);
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn_valid(b"536221234"));
        assert!(!ssn_valid(b"078051120"));
        assert!(!ssn_valid(b"000221234"));
        assert!(!ssn_valid(b"666221234"));
        assert!(!ssn_valid(b"912221234"));
        assert!(!ssn_valid(b"536001234"));
        assert!(!ssn_valid(b"536220000"));
        assert!(!ssn_valid(b"123456789"));
    }

    #[test]
    fn uuid_shapes() {
        assert!(looks_like_uuid(b"550e8400-e29b-41d4-a716-446655440000"));
        assert!(looks_like_uuid(b"550e8400e29b41d4a716446655440000"));
        assert!(!looks_like_uuid(b"5f4dcc3b5aa765d61d8327deb882cf99"));
    }

    #[test]
    fn jwt_check() {
        // {"alg":"HS256","typ":"JWT"} . {"sub":"42"} . sig
        let t = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2ln";
        assert!(jwt_valid(t));
        assert!(!jwt_valid(b"eyJmb28iOiJiYXIifQ.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2ln"));
    }

    #[test]
    fn placeholders() {
        assert!(is_placeholder_secret(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(is_placeholder_secret(b"sk_live_xxxxxxxxxxxxxxxx"));
        assert!(is_placeholder_secret(b"abcdefghijklmnop1234"));
        assert!(!is_placeholder_secret(b"Q7fK2pLm9ZxR4tVb8NcW"));
    }
}
