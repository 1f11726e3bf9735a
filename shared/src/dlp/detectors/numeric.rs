//! Numeric PII from one digit-run tokenizer: payment cards, US SSNs, phone numbers, IPv4.
//!
//! A *region* is a run of digit groups joined by short separators (`-`, `.`, space, `(`,
//! `)`), with an optional leading `+` or `(`. Candidates are carved out of a region only at
//! space separators, so a long dashed/dotted identifier (UUID pieces, OIDs, versions, dates)
//! never yields a shorter match. Within one carve the order is card → SSN → phone, so a
//! Luhn-valid card never also reports as a phone or SSN.

use super::Scan;
use crate::dlp::context::{cat, Ctx};
use crate::dlp::detectors as d;
use crate::dlp::finding::Confidence;
use crate::dlp::phone::{e164_valid, nanp_valid, national_valid, National};
use crate::dlp::table::{self, Header};
use crate::dlp::validate::{
    card_brand, iban_is_documentation, iban_valid, ipv4_is_documentation, is_test_card, longest_sequence, luhn_valid,
    parse_ipv4_octets, ssn_valid,
};

const MAX_GROUPS: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Right {
    Clean,
    /// `:digits` (port) or `/digits` (CIDR) — fine for IPv4 only.
    PortOrCidr,
    Glued,
}

struct Region {
    start: usize,
    end: usize,
    plus: bool,
    paren: bool,
    glued_left: bool,
    right: Right,
    n: usize,
    groups: [(usize, usize); MAX_GROUPS],
}

impl Region {
    fn sep<'t>(&self, text: &'t [u8], i: usize) -> &'t [u8] {
        // separator between group i and i+1
        &text[self.groups[i].1..self.groups[i + 1].0]
    }
    fn glen(&self, i: usize) -> usize {
        self.groups[i].1 - self.groups[i].0
    }
}

#[inline]
fn sep_allowed(sep: &[u8]) -> bool {
    matches!(sep, b" " | b"-" | b"." | b")" | b") " | b")-" | b" (" | b"(" | b"\xc2\xa0")
}

pub(crate) fn scan_numeric(scan: &mut Scan<'_>) {
    let text = scan.text;
    let n = text.len();
    let mut i = 0;
    while i < n {
        match crate::dlp::validate::next_digit(text, i) {
            None => break,
            Some(k) => i = k,
        }
        // `DE89 3704 …`: two capitals glued to the run may start an IBAN.
        if i >= 2 && text[i - 1].is_ascii_uppercase() && text[i - 2].is_ascii_uppercase() {
            if let Some(end) = try_iban(scan, i - 2) {
                i = end;
                continue;
            }
        }
        // Fast path: a lone run of < 7 digits (years, ports, counts, latencies) cannot be
        // anything; skip it without building a region.
        let mut j = i;
        while j < n && text[j].is_ascii_digit() {
            j += 1;
        }
        // A run glued on the right to a letter or `_` is a one-group region glued to a word
        // (never a candidate), and so is every later run inside the same word that is also
        // followed by a letter (the IBAN start, checked above, needs a word start): skip to the
        // word's trailing digit run, the only one that can open a spaced region (hex ids,
        // hashes and identifiers cost one pass instead of one step per digit run).
        if j < n && (text[j].is_ascii_alphabetic() || text[j] == b'_') {
            let mut w = j + 1;
            while w < n && (text[w].is_ascii_alphanumeric() || text[w] == b'_') {
                w += 1;
            }
            let mut t = w;
            while t > j && text[t - 1].is_ascii_digit() {
                t -= 1;
            }
            // `t` starts the trailing run (glued on the left), or is the word end.
            i = t;
            continue;
        }
        if j - i < 7 {
            let mut k = j;
            while k < n && k - j < 3 && matches!(text[k], b' ' | b'-' | b'.' | b'(' | b')' | 0xc2 | 0xa0) {
                k += 1;
            }
            if !(k > j && k < n && text[k].is_ascii_digit()) {
                i = j;
                continue;
            }
        }
        let region = parse_region(text, i);
        i = region.end.max(i + 1);
        let digits: usize = (0..region.n).map(|g| region.glen(g)).sum();
        if digits < 4 {
            continue;
        }
        // Every carve of a region glued to a word on one side and without an internal space
        // touches that side, so nothing in it can validate (IPv4 allows `:port`/`/cidr`,
        // which are not glue).
        let spaced = (0..region.n.saturating_sub(1)).any(|g| matches!(region.sep(text, g), b" " | b"\xc2\xa0"));
        if !spaced && (region.glued_left || region.right == Right::Glued) {
            continue;
        }
        if digits < 7 && region.n != 4 {
            continue;
        }
        classify(scan, &region);
    }
}

fn parse_region(text: &[u8], first: usize) -> Region {
    let n = text.len();
    let mut r = Region {
        start: first,
        end: first,
        plus: false,
        paren: false,
        glued_left: false,
        right: Right::Clean,
        n: 0,
        groups: [(0, 0); MAX_GROUPS],
    };
    // Lead: '(' and/or '+'.
    let mut lead = first;
    if lead > 0 && text[lead - 1] == b'(' {
        r.paren = true;
        lead -= 1;
    }
    if lead > 0 && text[lead - 1] == b'+' {
        r.plus = true;
        lead -= 1;
        if !r.paren && lead > 0 && text[lead - 1] == b'(' {
            lead -= 1; // "(+44) ..."
        }
    }
    r.start = lead;
    // Left glue.
    if lead > 0 {
        let p = text[lead - 1];
        let pp = if lead > 1 { Some(text[lead - 2]) } else { None };
        let first_len = text[first..].iter().take_while(|b| b.is_ascii_digit()).count();
        r.glued_left = p.is_ascii_alphanumeric()
            || (matches!(p, b'.' | b'-' | b'_' | b'/') && pp.is_some_and(|c| c.is_ascii_alphanumeric()))
            // `12:30` (time) — but `ssn:078-05-1120` is a label, and `0,(617) …` a CSV field
            || (p == b':' && lead == first && pp.is_some_and(|c| c.is_ascii_digit()))
            // `1,234` (thousands) — but `Park,4111…` is a CSV field
            // (1–3 digits before the comma, and not a dashed SSN/phone after it: in
            // `…9520,511-49-1656` the comma separates CSV cells).
            || (p == b','
                && lead == first
                && first_len == 3
                && (1..=3).contains(&text[..lead - 1].iter().rev().take_while(|b| b.is_ascii_digit()).count())
                && text.get(first + 3) != Some(&b'-'))
            || (p == b'_' || p == b'\\');
    }
    let mut j = first;
    loop {
        let gs = j;
        while j < n && text[j].is_ascii_digit() {
            j += 1;
        }
        if r.n == MAX_GROUPS {
            // Overlong run (a table of numbers): stop here and treat it as glued.
            r.right = Right::Glued;
            r.end = gs;
            while r.end < n && text[r.end].is_ascii_digit() {
                r.end += 1;
            }
            return r;
        }
        r.groups[r.n] = (gs, j);
        r.n += 1;
        // Separator followed by a digit?
        let mut k = j;
        while k < n && k - j < 3 && matches!(text[k], b' ' | b'-' | b'.' | b'(' | b')' | 0xc2 | 0xa0) {
            k += 1;
        }
        if k > j && k < n && text[k].is_ascii_digit() && sep_allowed(&text[j..k]) {
            j = k;
            continue;
        }
        break;
    }
    r.end = j;
    // Closing paren directly after the last group (e.g. "(0)" handled as sep already).
    let next = text.get(j).copied();
    let next2 = text.get(j + 1).copied();
    r.right = match next {
        None => Right::Clean,
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => Right::Glued,
        Some(b':') | Some(b'/') if next2.is_some_and(|c| c.is_ascii_digit()) => Right::PortOrCidr,
        Some(b'.') | Some(b'-') | Some(b'\\') | Some(b'/') | Some(b'@')
            if next2.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') =>
        {
            Right::Glued
        }
        // Thousands separator `…,234` glues; a CSV field separator does not.
        // (the group before the comma has 1–3 digits; `…9520,511-49-1656` is two CSV cells).
        Some(b',')
            if text[j + 1..].iter().take_while(|b| b.is_ascii_digit()).count() == 3
                && !text.get(j + 4).is_some_and(|b| b.is_ascii_digit() || *b == b'-')
                && r.n > 0
                && r.groups[r.n - 1].1 - r.groups[r.n - 1].0 <= 3 =>
        {
            Right::Glued
        }
        _ => Right::Clean,
    };
    r
}

fn classify(scan: &mut Scan<'_>, r: &Region) {
    let text = scan.text;
    let n = r.n;
    let is_space = |i: usize| matches!(r.sep(text, i), b" " | b"\xc2\xa0");
    let mut a = 0;
    while a < n {
        if a > 0 && !is_space(a - 1) {
            a += 1;
            continue;
        }
        let mut matched = false;
        let max_b = n.min(a + 8);
        let mut b = max_b;
        while b > a {
            if b < n && !is_space(b - 1) {
                b -= 1;
                continue;
            }
            if try_ipv4(scan, r, a, b) || try_card(scan, r, a, b) || try_ssn(scan, r, a, b) || try_phone(scan, r, a, b)
            {
                matched = true;
                break;
            }
            b -= 1;
        }
        if matched {
            a = b;
        } else {
            a += 1;
        }
    }
}

struct Carve {
    start: usize,
    end: usize,
    digits: [u8; 20],
    nd: usize,
    lens: [u8; 8],
    ng: usize,
    glued: bool,
    lead_plus: bool,
    lead_paren: bool,
    right: Right,
}

fn carve(text: &[u8], r: &Region, a: usize, b: usize) -> Option<Carve> {
    let ng = b - a;
    if ng > 8 {
        return None;
    }
    let mut c = Carve {
        start: if a == 0 { r.start } else { r.groups[a].0 },
        end: r.groups[b - 1].1,
        digits: [0; 20],
        nd: 0,
        lens: [0; 8],
        ng,
        glued: (a == 0 && r.glued_left) || (b == r.n && r.right == Right::Glued),
        lead_plus: a == 0 && r.plus,
        lead_paren: a == 0 && r.paren,
        right: if b == r.n { r.right } else { Right::Clean },
    };
    for (k, g) in (a..b).enumerate() {
        let (s, e) = r.groups[g];
        if c.nd + (e - s) > 20 {
            return None;
        }
        c.digits[c.nd..c.nd + (e - s)].copy_from_slice(&text[s..e]);
        c.nd += e - s;
        c.lens[k] = (e - s).min(255) as u8;
    }
    // Include a closing paren of "(0)" style leads only through separators; a lone '(' lead
    // without its ')' is not part of the value.
    if c.lead_paren && !(a + 1 < r.n && r.sep(text, a).starts_with(b")")) && !c.lead_plus {
        c.start = r.groups[a].0;
        c.lead_paren = false;
    }
    Some(c)
}

/// Separators between groups `a..b` of a region (no allocation).
fn seps_of<'t>(text: &'t [u8], r: &'t Region, a: usize, b: usize) -> impl Iterator<Item = &'t [u8]> + 't {
    (a..b.saturating_sub(1)).map(move |i| &text[r.groups[i].1..r.groups[i + 1].0])
}

/// The one separator used between groups `a..b` (empty for a single group), if uniform.
fn uniform_sep<'t>(text: &'t [u8], r: &'t Region, a: usize, b: usize) -> Option<&'t [u8]> {
    let mut it = seps_of(text, r, a, b);
    let first = match it.next() {
        None => return Some(&[]),
        Some(s) => s,
    };
    it.all(|s| s == first).then_some(first)
}

/// Context of a candidate: its table column's header when it sits in a table row (its category
/// → positive, a numeric look-alike header → negative), otherwise the prose hotwords around it.
/// Under any other header only the value's own row counts (a `| SSN | 536221234 |` row of a
/// field/value table), never the header line or other rows.
fn context(scan: &mut Scan<'_>, s: usize, e: usize, want: Header, category: u16) -> Ctx {
    let text = scan.text;
    match table::header_of(text, s, e, &mut scan.table) {
        Some(h) if h == want => Ctx::Positive,
        // An IBAN validates on its own (mod 97): an `account`/`ref` column does not silence it.
        Some(Header::Negative) if want == Header::Iban => scan.ctx.assess(text, s, e, category),
        Some(Header::Negative | Header::Iban) => Ctx::Negative,
        Some(_) => {
            let lo = s.saturating_sub(crate::dlp::context::WINDOW_BEFORE);
            let ls = memchr::memrchr(b'\n', &text[lo..s]).map_or(lo, |p| lo + p + 1);
            let hi = (e + crate::dlp::context::WINDOW_AFTER).min(text.len());
            let le = memchr::memchr(b'\n', &text[e..hi]).map_or(hi, |p| e + p);
            scan.ctx.assess_window(text, s, e, category, s - ls, le - e)
        }
        None => scan.ctx.assess(text, s, e, category),
    }
}

fn try_ipv4(scan: &mut Scan<'_>, r: &Region, a: usize, b: usize) -> bool {
    let text = scan.text;
    if b - a != 4 || (a == 0 && (r.plus || r.paren)) {
        return false;
    }
    if seps_of(text, r, a, b).any(|s| s != b".") {
        return false;
    }
    // Part of a longer dotted run (OID, 5-part version)?
    if r.n > 4 && seps_of(text, r, 0, r.n).all(|s| s == b".") {
        return true; // consumed: nothing else applies to a dotted run
    }
    let s = r.groups[a].0;
    let e = r.groups[b - 1].1;
    let left_bad = a == 0 && r.glued_left || {
        // Version-spec operators: pkg@1.2.3.4, ==1.2.3.4, ^1.2.3.4, ~1.2.3.4, v1.2.3.4
        matches!(text.get(s.wrapping_sub(1)), Some(b'^' | b'~'))
            || (s >= 2 && text[s - 1] == b'=' && matches!(text[s - 2], b'=' | b'<' | b'>' | b'~' | b'!'))
            || (s >= 1 && matches!(text[s - 1], b'>' | b'<'))
    };
    let right_bad = b == r.n && r.right == Right::Glued;
    if left_bad || right_bad {
        return true;
    }
    let parts: [&[u8]; 4] = [
        &text[r.groups[a].0..r.groups[a].1],
        &text[r.groups[a + 1].0..r.groups[a + 1].1],
        &text[r.groups[a + 2].0..r.groups[a + 2].1],
        &text[r.groups[a + 3].0..r.groups[a + 3].1],
    ];
    let Some(o) = parse_ipv4_octets(&parts) else {
        return true;
    };
    let cfg = scan.cfg;
    if o[0] == 0 || o[0] >= 240 || (o[0] == 127 && !cfg.flag_loopback_ips) {
        return true;
    }
    if ipv4_is_documentation(o) && !cfg.flag_documentation_values {
        return true;
    }
    // Whole RFC-defined blocks (`10.0.0.0/8`, `192.168.0.0/16`, `0.0.0.0/0`) carry no
    // information about a network; a specific subnet (`10.8.0.0/16`) or host does.
    if text.get(e) == Some(&b'/') {
        let prefix: Vec<u8> = text[e + 1..].iter().take(3).take_while(|b| b.is_ascii_digit()).copied().collect();
        let whole_block = matches!(
            (o, prefix.as_slice()),
            ([10, 0, 0, 0], b"8")
                | ([172, 16, 0, 0], b"12")
                | ([192, 168, 0, 0], b"16")
                | ([100, 64, 0, 0], b"10")
                | ([169, 254, 0, 0], b"16")
        );
        if whole_block {
            return true;
        }
    }
    let ctx = scan.ctx.assess(text, s, e, cat::IP);
    // Version-shaped quads (`1.2.3.4`, `1.14.2.3`): small first octet, all octets < 100.
    let single_digits = o.iter().all(|&x| x < 10) || (o[0] < 10 && o.iter().all(|&x| x < 100));
    let private = o[0] == 10 || (o[0] == 172 && (16..=31).contains(&o[1])) || (o[0] == 192 && o[1] == 168);
    let conf = match ctx {
        Ctx::Negative => return true,
        Ctx::Positive => Confidence::High,
        Ctx::Neutral if single_digits => return true,
        Ctx::Neutral if private => Confidence::Medium,
        Ctx::Neutral => Confidence::Low,
    };
    scan.push(&d::IPV4, s, e, conf);
    true
}

fn try_card(scan: &mut Scan<'_>, r: &Region, a: usize, b: usize) -> bool {
    let text = scan.text;
    let Some(c) = carve(text, r, a, b) else {
        return false;
    };
    if !(13..=19).contains(&c.nd) || c.glued || c.lead_plus || c.lead_paren || c.right != Right::Clean {
        return false;
    }
    let digits = &c.digits[..c.nd];
    let Some(sep) = uniform_sep(text, r, a, b) else {
        return false;
    };
    if !(sep.is_empty() || sep == b" " || sep == b"-") {
        return false;
    }
    let lens = &c.lens[..c.ng];
    let layout_ok = c.ng == 1
        || matches!(
            lens,
            [4, 4, 4, 4]
                | [4, 6, 5]
                | [4, 4, 4, 3]
                | [4, 6, 4]
                | [4, 4, 4, 2]
                | [4, 4, 5]
                | [4, 4, 4, 1]
                | [4, 4, 4, 4, 1]
                | [4, 4, 4, 4, 2]
                | [4, 4, 4, 4, 3]
        );
    if !layout_ok || card_brand(digits).is_none() || !luhn_valid(digits) {
        return false;
    }
    if is_test_card(digits) && !scan.cfg.flag_test_cards {
        return true; // consumed: a known test PAN is neither a phone nor an SSN
    }
    if digits.iter().all(|&x| x == digits[0]) {
        return true;
    }
    let conf = match context(scan, c.start, c.end, Header::Card, cat::CARD) {
        Ctx::Negative => return true,
        Ctx::Positive => Confidence::High,
        Ctx::Neutral if c.ng > 1 => Confidence::Medium,
        Ctx::Neutral => Confidence::Low,
    };
    scan.push(&d::CREDIT_CARD, c.start, c.end, conf);
    true
}

fn try_ssn(scan: &mut Scan<'_>, r: &Region, a: usize, b: usize) -> bool {
    let text = scan.text;
    let Some(c) = carve(text, r, a, b) else {
        return false;
    };
    if c.nd != 9 || c.glued || c.lead_plus || c.lead_paren || c.right != Right::Clean {
        return false;
    }
    let lens = &c.lens[..c.ng];
    let Some(sep) = uniform_sep(text, r, a, b) else {
        return false;
    };
    let dashed = lens == [3, 2, 4] && sep == b"-";
    let spaced = lens == [3, 2, 4] && (sep == b" " || sep == b".");
    let bare = c.ng == 1;
    if !(dashed || spaced || bare) {
        return false;
    }
    if !ssn_valid(&c.digits[..9]) {
        return dashed; // an invalid dashed SSN is consumed (not a phone either)
    }
    let conf = match context(scan, c.start, c.end, Header::Ssn, cat::SSN) {
        Ctx::Negative => return dashed,
        Ctx::Positive => Confidence::High,
        Ctx::Neutral if dashed => Confidence::Medium,
        Ctx::Neutral => return false,
    };
    scan.push(&d::US_SSN, c.start, c.end, conf);
    true
}

fn try_phone(scan: &mut Scan<'_>, r: &Region, a: usize, b: usize) -> bool {
    let text = scan.text;
    let Some(c) = carve(text, r, a, b) else {
        return false;
    };
    if !(7..=15).contains(&c.nd) || c.glued || c.right != Right::Clean {
        return false;
    }
    // At most 7 separators (a carve has ≤ 8 groups).
    let mut seps: [&[u8]; 8] = [&[]; 8];
    let mut nsep = 0;
    for s in seps_of(text, r, a, b) {
        seps[nsep] = s;
        nsep += 1;
    }
    let all = &seps[..nsep];
    let digits = &c.digits[..c.nd];
    if digits.iter().all(|&x| x == digits[0]) || longest_sequence(digits) >= 8 {
        return false;
    }
    let lens = &c.lens[..c.ng];
    let mixed_dots = all.iter().any(|s| *s == b".") && all.iter().any(|s| *s != b".");
    // Context only once a shape validated (tables and hotwords cost more than the rules).
    let (cs, ce) = (c.start, c.end);
    let ctx_of = |scan: &mut Scan<'_>| context(scan, cs, ce, Header::Phone, cat::PHONE);

    if c.lead_plus {
        // International: drop a "(0)" trunk group: +44 (0)20 …
        let mut dbuf = [0u8; 20];
        let mut nd = 0;
        for k in 0..c.ng {
            let (gs, ge) = r.groups[a + k];
            let grp = &text[gs..ge];
            let before = if k > 0 { all[k - 1] } else { b"" };
            let after = all.get(k).copied().unwrap_or(b"");
            if k > 0 && grp == b"0" && before.ends_with(b"(") && after.starts_with(b")") {
                continue;
            }
            dbuf[nd..nd + grp.len()].copy_from_slice(grp);
            nd += grp.len();
        }
        if mixed_dots || e164_valid(&dbuf[..nd]).is_none() {
            return false;
        }
        let conf = match ctx_of(scan) {
            Ctx::Negative => return true,
            Ctx::Positive => Confidence::High,
            Ctx::Neutral => Confidence::Medium,
        };
        scan.push(&d::PHONE_NUMBER, c.start, c.end, conf);
        return true;
    }

    // NANP: (415) 555-2671, 415-555-2671, 415.555.2671, 1-415-555-2671, 4155552671.
    let (nanp_digits, lens_nat): (Option<&[u8]>, &[u8]) = match (c.nd, lens) {
        (10, _) => (Some(digits), lens),
        (11, _) if digits[0] == b'1' => (Some(&digits[1..]), if lens.first() == Some(&1) { &lens[1..] } else { lens }),
        _ => (None, lens),
    };
    if let Some(nd) = nanp_digits {
        let layout = matches!(lens_nat, [3, 3, 4] | [10] | [11]);
        if layout && nanp_valid(nd) {
            let seps: &[&[u8]] = if c.nd == 11 && lens.first() == Some(&1) { &all[1..] } else { all };
            let paren_style = (c.lead_paren || seps.first().is_some_and(|s| s.starts_with(b" (") || *s == b"("))
                && seps.iter().any(|s| s.starts_with(b")"));
            let dashed = !seps.is_empty() && seps.iter().all(|s| *s == b"-");
            let dotted = !seps.is_empty() && seps.iter().all(|s| *s == b".");
            let strong = paren_style || dashed || dotted;
            let conf = match ctx_of(scan) {
                Ctx::Negative => return true,
                Ctx::Positive => Confidence::High,
                Ctx::Neutral if strong => Confidence::Medium,
                Ctx::Neutral => return false,
            };
            let start = if c.lead_paren { r.start.max(c.start) } else { c.start };
            scan.push(&d::PHONE_NUMBER, start, c.end, conf);
            return true;
        }
    }

    // "00" international prefix.
    if digits.len() >= 10 && digits.starts_with(b"00") && c.ng >= 2 && !mixed_dots {
        if e164_valid(&digits[2..]).is_none() {
            return false;
        }
        return match ctx_of(scan) {
            Ctx::Positive => {
                scan.push(&d::PHONE_NUMBER, c.start, c.end, Confidence::Medium);
                true
            }
            Ctx::Negative => true,
            Ctx::Neutral => false,
        };
    }

    // National formats (trunk 0, Brazilian area code in parentheses, Indian mobiles): a
    // distinctive layout is enough (`(028) 9018 0040`, `(11) 91234-5678`); others need a phone
    // word or a phone column (`020 7946 0958`, `030 12345678`, `01 44 55 66 77`, `03-5412-8890`).
    let paren_first = c.lead_paren && all.first().is_some_and(|s| s.starts_with(b")"));
    let uniform_dots = !all.is_empty() && all.iter().all(|s| *s == b".");
    if mixed_dots || (uniform_dots && !lens.iter().all(|&l| l == 2)) {
        return false;
    }
    let Some(kind) = national_valid(digits, lens, paren_first) else {
        return false;
    };
    let start = if c.lead_paren { r.start.max(c.start) } else { c.start };
    let conf = match (ctx_of(scan), kind) {
        (Ctx::Negative, _) => return true,
        (Ctx::Positive, _) => Confidence::High,
        (Ctx::Neutral, National::Distinctive) => Confidence::Medium,
        (Ctx::Neutral, National::NeedsContext) => return false,
    };
    scan.push(&d::PHONE_NUMBER, start, c.end, conf);
    true
}

/// An IBAN starting at `s` (country letters): compact (`DE89370400440532013000`) or in groups
/// of four separated by single spaces (`DE89 3704 0044 0532 0130 00`), exactly the country's
/// length, mod-97 valid, not glued to a word on either side, not a published example. Returns
/// the end of what it consumed (the IBAN, or nothing when it is not one).
fn try_iban(scan: &mut Scan<'_>, s: usize) -> Option<usize> {
    let text = scan.text;
    let n = text.len();
    if s > 0 && (text[s - 1].is_ascii_alphanumeric() || text[s - 1] == b'_') {
        return None;
    }
    if s + 4 > n || !text[s + 2].is_ascii_digit() || !text[s + 3].is_ascii_digit() {
        return None;
    }
    let want = crate::dlp::validate::iban_length(&text[s..s + 2])?;
    let ib = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let mut buf = [0u8; 34];
    buf[..4].copy_from_slice(&text[s..s + 4]);
    let mut len = 4;
    let mut k = s + 4;
    if text.get(k) == Some(&b' ') {
        // Grouped: ` XXXX` groups, the last one may be shorter.
        while len < want && text.get(k) == Some(&b' ') {
            let gs = k + 1;
            let mut ge = gs;
            while ge < n && ge - gs < 4 && ib(text[ge]) {
                ge += 1;
            }
            if ge == gs || len + (ge - gs) > want {
                return None;
            }
            buf[len..len + (ge - gs)].copy_from_slice(&text[gs..ge]);
            len += ge - gs;
            k = ge;
            if ge - gs < 4 {
                break;
            }
        }
    } else {
        while k < n && ib(text[k]) && len < 34 {
            buf[len] = text[k];
            len += 1;
            k += 1;
        }
    }
    if len != want || text.get(k).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return None;
    }
    let iban = &buf[..len];
    if !iban_valid(iban) {
        return None;
    }
    if iban_is_documentation(iban) && !scan.cfg.flag_documentation_values {
        return Some(k);
    }
    let conf = match context(scan, s, k, Header::Iban, cat::IBAN) {
        Ctx::Negative => return Some(k),
        Ctx::Positive => Confidence::High,
        Ctx::Neutral => Confidence::Medium,
    };
    scan.push(&d::IBAN, s, k, conf);
    Some(k)
}

#[cfg(test)]
mod tests {
    use crate::dlp::Scanner;

    fn ibans(text: &str) -> Vec<&str> {
        Scanner::global().scan(text).into_iter().filter(|d| d.detector == "iban").map(|d| d.value(text)).collect()
    }

    #[test]
    fn iban_compact_grouped_and_context() {
        assert_eq!(ibans("IBAN: DE44 5001 0517 5407 3249 31, BIC INGDDEFFXXX"), vec!["DE44 5001 0517 5407 3249 31"]);
        assert_eq!(ibans("wire it to GB78NWBK60161331926810 today"), vec!["GB78NWBK60161331926810"]);
        assert_eq!(ibans("FR76 3000 6000 0112 3456 7890 189"), vec!["FR76 3000 6000 0112 3456 7890 189"]);
        assert_eq!(ibans("konto NL44RABO0123456789."), vec!["NL44RABO0123456789"]);
        let table = "name,account,iban\nAnn,7781,ES2121000418450200051331\n";
        assert_eq!(ibans(table), vec!["ES2121000418450200051331"]);
        let d = Scanner::global().scan(table);
        assert_eq!(d.iter().find(|d| d.detector == "iban").map(|d| d.confidence), Some(crate::dlp::Confidence::High));
    }

    #[test]
    fn iban_hard_negatives() {
        // One digit off, wrong length for the country, unknown country, glued, lower case.
        assert!(ibans("IBAN DE44500105175407324932").is_empty());
        assert!(ibans("IBAN DE4450010517540732493").is_empty());
        assert!(ibans("IBAN XX44500105175407324931").is_empty());
        assert!(ibans("ref XDE44500105175407324931 and DE44500105175407324931x").is_empty());
        assert!(ibans("iban de44500105175407324931").is_empty());
        // Published examples are documentation values.
        assert!(ibans("e.g. DE89 3704 0044 0532 0130 00 or GB82 WEST 1234 5698 7654 32").is_empty());
        // Numbers under an IBAN column are not phones or SSNs.
        let t = "name,iban\nAnn,4159277024\nBo,536221234\n";
        assert!(Scanner::global().scan(t).is_empty(), "{:?}", Scanner::global().scan(t));
    }
}
