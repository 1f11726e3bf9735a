//! E-mail (memchr on `@`, TLD from the embedded PSL list) and IPv6 (memchr on `:`,
//! `std::net` parse).

use super::Scan;
use crate::dlp::detectors as d;
use crate::dlp::finding::Confidence;
use crate::dlp::tld::TLDS;
use crate::dlp::validate::prev_byte;
use memchr::memchr_iter;
use std::net::Ipv6Addr;

#[inline]
fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

#[inline]
fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

pub(crate) fn is_tld(label: &[u8]) -> bool {
    if label.len() < 2 || label.len() > 24 || !label.iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    let mut buf = [0u8; 24];
    for (i, b) in label.iter().enumerate() {
        buf[i] = b.to_ascii_lowercase();
    }
    let l = &buf[..label.len()];
    TLDS.binary_search_by(|t| t.as_bytes().cmp(l)).is_ok()
}

/// RFC 2606/6761 names that never belong to a person.
fn is_documentation_domain(domain: &[u8]) -> bool {
    let d = domain.to_ascii_lowercase();
    let ends = |s: &[u8]| d.ends_with(s);
    d == b"example.com"
        || d == b"example.org"
        || d == b"example.net"
        || ends(b".example.com")
        || ends(b".example.org")
        || ends(b".example.net")
        || ends(b".example")
        || ends(b".test")
        || ends(b".invalid")
        || ends(b".localhost")
}

pub(crate) fn scan_emails(scan: &mut Scan<'_>) {
    let text = scan.text;
    let n = text.len();
    let mut last_end = 0usize;
    for at in memchr_iter(b'@', text) {
        if at < last_end || at == 0 {
            continue;
        }
        // Local part.
        let mut ls = at;
        while ls > 0 && at - ls <= 64 && is_local(text[ls - 1]) {
            ls -= 1;
        }
        if at - ls > 64 {
            continue;
        }
        while ls < at && matches!(text[ls], b'.' | b'-' | b'+') {
            ls += 1;
        }
        if ls == at {
            continue;
        }
        // Domain.
        let mut de = at + 1;
        while de < n && de - at <= 254 && is_domain(text[de]) {
            de += 1;
        }
        while de > at + 1 && matches!(text[de - 1], b'.' | b'-') {
            de -= 1;
        }
        if de <= at + 1 {
            continue;
        }
        last_end = de;
        let local = &text[ls..at];
        let domain = &text[at + 1..de];
        if local.ends_with(b".") || local.windows(2).any(|w| w == b"..") {
            continue;
        }
        if local.eq_ignore_ascii_case(b"git") {
            continue; // git@host: SSH/SCP remotes, not a person
        }
        // URL userinfo: scheme://user@host or scheme://user:pass@host.
        match prev_byte(text, ls) {
            Some(b'/') if ls >= 3 && &text[ls - 3..ls] == b"://" => continue,
            Some(b':') => {
                let a = ls.saturating_sub(80);
                if text[a..ls].windows(3).any(|w| w == b"://") {
                    continue;
                }
            }
            Some(b'@') => continue,
            _ => {}
        }
        // scp-style remote `user@host:path`.
        if text.get(de) == Some(&b':')
            && text.get(de + 1).is_some_and(|b| !b.is_ascii_whitespace() && !b.is_ascii_digit())
        {
            continue;
        }
        if text.get(de) == Some(&b'@') {
            continue;
        }
        let labels: Vec<&[u8]> = domain.split(|&b| b == b'.').collect();
        if labels.len() < 2 {
            continue;
        }
        if labels.iter().any(|l| l.is_empty() || l.len() > 63 || l[0] == b'-' || l[l.len() - 1] == b'-') {
            continue;
        }
        let Some(tld) = labels.last() else { continue };
        if !is_tld(tld) {
            continue;
        }
        // `icon@2x.png`-style asset names have a numeric-ish host label.
        if labels.len() == 2 && labels[0].len() <= 3 && labels[0][0].is_ascii_digit() {
            continue;
        }
        if !scan.cfg.flag_documentation_values && is_documentation_domain(domain) {
            continue;
        }
        scan.push(&d::EMAIL, ls, de, Confidence::High);
    }
}

#[inline]
fn is_v6_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':'
}

pub(crate) fn scan_ipv6(scan: &mut Scan<'_>) {
    let text = scan.text;
    let n = text.len();
    let mut last_end = 0usize;
    for p in memchr_iter(b':', text) {
        if p < last_end {
            continue;
        }
        let prev_ok = p > 0 && is_v6_char(text[p - 1]);
        let next_ok = p + 1 < n && is_v6_char(text[p + 1]);
        if !(prev_ok && next_ok || p + 1 < n && text[p + 1] == b':') {
            continue;
        }
        let mut s = p;
        while s > 0 && p - s < 40 && is_v6_char(text[s - 1]) {
            s -= 1;
        }
        let mut e = p + 1;
        while e < n
            && e - s < 46
            && (is_v6_char(text[e]) || text[e] == b'.' && text.get(e + 1).is_some_and(u8::is_ascii_digit))
        {
            e += 1;
        }
        last_end = e;
        // Token boundaries: not glued to identifiers (std::net, Foo::bar), not part of a
        // longer dotted/colon sequence.
        if matches!(prev_byte(text, s), Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            continue;
        }
        if matches!(text.get(e), Some(b) if b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-') {
            continue;
        }
        let tok = &text[s..e];
        let colons = tok.iter().filter(|b| **b == b':').count();
        let compressed = tok.windows(2).any(|w| w == b"::");
        if colons < 2 || !(compressed || colons == 7) {
            continue;
        }
        // At least one group of ≥ 3 hex digits (rules out `a::b`, `1::`, C++ scopes).
        let long_group =
            tok.split(|&b| b == b':').any(|g| g.len() >= 3 && g.iter().all(u8::is_ascii_hexdigit) || g.contains(&b'.'));
        if !long_group {
            continue;
        }
        let Ok(s_str) = std::str::from_utf8(tok) else {
            continue;
        };
        let Ok(ip) = s_str.parse::<Ipv6Addr>() else {
            continue;
        };
        if (ip.is_loopback() || ip.is_unspecified()) && !scan.cfg.flag_loopback_ips {
            continue;
        }
        let seg = ip.segments();
        if seg[0] == 0x2001 && seg[1] == 0x0db8 && !scan.cfg.flag_documentation_values {
            continue;
        }
        scan.push(&d::IPV6, s, e, Confidence::Medium);
    }
}
