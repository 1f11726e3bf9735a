//! Hand-written phone numbering-plan rules: NANP (+1) area/exchange rules and an E.164
//! country-code table with national significant number (NSN) lengths.
//!
//! Chosen over a libphonenumber port for cold start and binary size: the table below is a few
//! hundred bytes and needs no init. It validates structure (country code exists, NSN length is
//! one that country uses, no trunk `0` after the country code except Italy/Côte d'Ivoire-style
//! plans), not assignment of individual ranges.

/// `(country code, min NSN length, max NSN length)`. Sorted by code for binary search.
const COUNTRY_CODES: &[(u16, u8, u8)] = &[
    (1, 10, 10),
    (7, 10, 10),
    (20, 8, 10),
    (27, 9, 9),
    (30, 10, 10),
    (31, 9, 9),
    (32, 8, 9),
    (33, 9, 9),
    (34, 9, 9),
    (36, 8, 9),
    (39, 6, 11),
    (40, 9, 9),
    (41, 9, 9),
    (43, 7, 13),
    (44, 9, 10),
    (45, 8, 8),
    (46, 7, 9),
    (47, 8, 8),
    (48, 9, 9),
    (49, 7, 12),
    (51, 8, 9),
    (52, 10, 10),
    (53, 8, 8),
    (54, 10, 11),
    (55, 10, 11),
    (56, 9, 9),
    (57, 10, 10),
    (58, 10, 10),
    (60, 8, 10),
    (61, 9, 9),
    (62, 8, 12),
    (63, 8, 10),
    (64, 8, 10),
    (65, 8, 8),
    (66, 8, 9),
    (81, 9, 10),
    (82, 8, 10),
    (84, 9, 10),
    (86, 10, 11),
    (90, 10, 10),
    (91, 10, 10),
    (92, 9, 10),
    (93, 9, 9),
    (94, 9, 9),
    (95, 7, 10),
    (98, 10, 10),
    (212, 9, 9),
    (213, 8, 9),
    (216, 8, 8),
    (218, 9, 9),
    (220, 7, 7),
    (221, 9, 9),
    (223, 8, 8),
    (225, 10, 10),
    (233, 9, 9),
    (234, 8, 10),
    (237, 9, 9),
    (250, 9, 9),
    (251, 9, 9),
    (254, 9, 9),
    (255, 9, 9),
    (256, 9, 9),
    (260, 9, 9),
    (263, 9, 9),
    (351, 9, 9),
    (352, 6, 11),
    (353, 7, 9),
    (354, 7, 7),
    (355, 8, 9),
    (356, 8, 8),
    (357, 8, 8),
    (358, 6, 12),
    (359, 8, 9),
    (370, 8, 8),
    (371, 8, 8),
    (372, 7, 8),
    (373, 8, 8),
    (374, 8, 8),
    (375, 9, 9),
    (376, 6, 6),
    (377, 8, 9),
    (380, 9, 9),
    (381, 8, 9),
    (382, 8, 8),
    (385, 8, 9),
    (386, 8, 8),
    (387, 8, 8),
    (389, 8, 8),
    (420, 9, 9),
    (421, 9, 9),
    (423, 7, 7),
    (502, 8, 8),
    (503, 8, 8),
    (504, 8, 8),
    (505, 8, 8),
    (506, 8, 8),
    (507, 7, 8),
    (591, 8, 8),
    (593, 8, 9),
    (595, 9, 9),
    (598, 8, 8),
    (852, 8, 8),
    (853, 8, 8),
    (855, 8, 9),
    (880, 10, 10),
    (886, 8, 9),
    (960, 7, 7),
    (961, 7, 8),
    (962, 8, 9),
    (963, 9, 9),
    (964, 10, 10),
    (965, 8, 8),
    (966, 9, 9),
    (968, 8, 8),
    (971, 8, 9),
    (972, 8, 9),
    (973, 8, 8),
    (974, 8, 8),
    (977, 10, 10),
    (992, 9, 9),
    (994, 9, 9),
    (995, 9, 9),
    (996, 9, 9),
    (998, 9, 9),
];

/// Country codes whose NSN legitimately keeps a leading 0 after the country code.
const LEADING_ZERO_OK: &[u16] = &[39, 225, 242];

fn lookup(cc: u16) -> Option<(u8, u8)> {
    COUNTRY_CODES.binary_search_by_key(&cc, |e| e.0).ok().map(|i| (COUNTRY_CODES[i].1, COUNTRY_CODES[i].2))
}

fn num(d: &[u8]) -> u32 {
    d.iter().fold(0, |a, &b| a * 10 + (b - b'0') as u32)
}

/// NANP rules for a 10-digit national number `NPA NXX XXXX`:
/// * NPA: `[2-9][0-8][0-9]`, not an N11 service code, not 37X/96X (reserved), not 555;
/// * NXX: `[2-9][0-9][0-9]`, not N11, not 958/959 (test);
/// * `555-0100..0199` is the fictional range and is rejected.
pub fn nanp_valid(d: &[u8]) -> bool {
    if d.len() != 10 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let npa = &d[0..3];
    let nxx = &d[3..6];
    let line = &d[6..10];
    if npa[0] < b'2' || npa[1] == b'9' || (npa[1] == b'1' && npa[2] == b'1') {
        return false;
    }
    let npa_n = num(npa);
    if (370..=379).contains(&npa_n) || (960..=969).contains(&npa_n) || npa_n == 555 {
        return false;
    }
    if nxx[0] < b'2' || (nxx[1] == b'1' && nxx[2] == b'1') {
        return false;
    }
    let nxx_n = num(nxx);
    if nxx_n == 958 || nxx_n == 959 {
        return false;
    }
    if nxx_n == 555 && (100..=199).contains(&num(line)) {
        return false;
    }
    // All-same or ascending digits (e.g. 234-567-8901 is structurally valid but a placeholder).
    if d.iter().all(|&b| b == d[0]) || d == b"2345678901" {
        return false;
    }
    true
}

/// Validates international digits (everything after `+`): country code from the table, NSN
/// length in range, no trunk `0` (except where the plan keeps it), NANP rules for `+1`.
/// Returns the country code length on success.
pub fn e164_valid(d: &[u8]) -> Option<usize> {
    if !(8..=15).contains(&d.len()) || !d.iter().all(u8::is_ascii_digit) || d[0] == b'0' {
        return None;
    }
    for cc_len in 1..=3 {
        let cc = num(&d[..cc_len]) as u16;
        if let Some((min, max)) = lookup(cc) {
            let nsn = &d[cc_len..];
            if nsn.len() < min as usize || nsn.len() > max as usize {
                return None;
            }
            if nsn.first() == Some(&b'0') && !LEADING_ZERO_OK.contains(&cc) {
                return None;
            }
            if cc == 1 && !nanp_valid(nsn) {
                return None;
            }
            if nsn.iter().all(|&b| b == nsn[0]) {
                return None;
            }
            return Some(cc_len);
        }
    }
    None
}

/// How much a national-format number says by its layout alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum National {
    /// A layout used for phone numbers only: a trunk-0 area code in parentheses
    /// (`(028) 9018 0040`, `(030) 1234 5678`) or a Brazilian `(11) 91234-5678`.
    Distinctive,
    /// A plausible national number that needs a phone word or a phone column:
    /// `020 7946 0958`, `07911 123456` (UK), `030 12345678`, `0171 2345678` (DE),
    /// `01 44 55 66 77` (FR), `03-5412-8890`, `090-1234-5678` (JP), `011 2345 6789`,
    /// `98220 41567` (IN).
    NeedsContext,
}

/// National (no `+`) numbers of the plans the product sees most (UK, DE, FR, JP, IN, BR; NANP
/// is [`nanp_valid`]). `digits` are the number's digits, `lens` its digit-group lengths,
/// `paren_first` whether the first group was written in parentheses.
///
/// Rules: trunk `0` then a non-zero digit, 10–12 digits in 2–5 groups whose first group (trunk +
/// area code) has 2–5 digits; or a Brazilian area code `(DD)` + `9XXXX-XXXX` / `[2-5]XXX-XXXX`;
/// or an Indian mobile `[6-9]XXXX XXXXX`.
pub fn national_valid(digits: &[u8], lens: &[u8], paren_first: bool) -> Option<National> {
    if !digits.iter().all(u8::is_ascii_digit) || lens.is_empty() || digits.len() < 10 {
        return None;
    }
    if digits[0] == b'0' {
        if digits[1] == b'0' || digits.len() > 12 || !(2..=5).contains(&lens.len()) {
            return None;
        }
        if !(2..=5).contains(&lens[0]) || lens[1..].iter().any(|&l| l < 2) {
            return None;
        }
        if digits[1..].iter().all(|&b| b == digits[1]) {
            return None;
        }
        if paren_first && lens[0] >= 3 {
            return Some(National::Distinctive);
        }
        return Some(National::NeedsContext);
    }
    // Brazil: (DD) 9XXXX-XXXX mobile or (DD) [2-5]XXX-XXXX landline.
    if paren_first && lens.len() == 3 && lens[0] == 2 && lens[2] == 4 && digits[1] != b'0' {
        let first = digits[2];
        if (lens[1] == 5 && first == b'9') || (lens[1] == 4 && (b'2'..=b'5').contains(&first)) {
            return Some(National::Distinctive);
        }
        return None;
    }
    // India: 10-digit mobile written 5 + 5.
    if lens == [5, 5] && (b'6'..=b'9').contains(&digits[0]) {
        return Some(National::NeedsContext);
    }
    None
}

/// Country code of a `+`-prefixed phone value (used by the redacted preview).
pub fn e164_country_code(value: &str) -> Option<u16> {
    let v = value.trim_start_matches(|c: char| c == '(' || c.is_whitespace());
    let rest = v.strip_prefix('+')?;
    let digits: Vec<u8> = rest.bytes().filter(u8::is_ascii_digit).collect();
    let cc_len = e164_valid(&digits)?;
    Some(num(&digits[..cc_len]) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanp() {
        assert!(nanp_valid(b"4155552671"));
        assert!(!nanp_valid(b"4155550123")); // fictional
        assert!(!nanp_valid(b"1235552671")); // NPA starts with 1
        assert!(!nanp_valid(b"9115552671")); // N11
        assert!(!nanp_valid(b"4191552671")); // NXX starts with 1
    }

    #[test]
    fn e164() {
        assert_eq!(e164_valid(b"442079460958"), Some(2));
        assert_eq!(e164_valid(b"4915123456789"), Some(2));
        assert_eq!(e164_valid(b"14155552671"), Some(1));
        assert_eq!(e164_valid(b"4402079460958"), None); // trunk 0 after +44
        assert_eq!(e164_valid(b"2999123456"), None); // no such code
        assert_eq!(e164_country_code("+44 20 7946 0958"), Some(44));
    }

    #[test]
    fn national() {
        use National::*;
        assert_eq!(national_valid(b"02890180040", &[3, 4, 4], true), Some(Distinctive));
        assert_eq!(national_valid(b"02079460958", &[3, 4, 4], false), Some(NeedsContext));
        assert_eq!(national_valid(b"07911123456", &[5, 6], false), Some(NeedsContext));
        assert_eq!(national_valid(b"03012345678", &[3, 8], false), Some(NeedsContext));
        assert_eq!(national_valid(b"0144556677", &[2, 2, 2, 2, 2], false), Some(NeedsContext));
        assert_eq!(national_valid(b"0354128890", &[2, 4, 4], false), Some(NeedsContext));
        assert_eq!(national_valid(b"11912345678", &[2, 5, 4], true), Some(Distinctive));
        assert_eq!(national_valid(b"2134567890", &[2, 4, 4], true), Some(Distinctive));
        assert_eq!(national_valid(b"9822041567", &[5, 5], false), Some(NeedsContext));
        assert_eq!(national_valid(b"0012345678", &[4, 6], false), None); // 00 prefix
        assert_eq!(national_valid(b"01234", &[5], false), None);
        assert_eq!(national_valid(b"11812345678", &[2, 5, 4], true), None); // BR mobile starts with 9
        assert_eq!(national_valid(b"5822041567", &[5, 5], false), None);
    }

    #[test]
    fn table_sorted() {
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
