//! Tabular context (issue 11): for a value inside a table — delimited (CSV, TSV, `;`, pipes and
//! markdown) or fixed columns (a terminal or spreadsheet paste aligned with spaces) — the header
//! cell of its column. In a table the words next to a value are other cells, so the header is the
//! context: a value under `ssn` / `phone` / `password` / `card` gets that header's boost, a value
//! under `order` / `zip` / `date` / `version` / `…_id` is a hard negative, and any other header
//! is neutral (hotwords of other columns or of the header line never count for it).
//!
//! A table is a block of consecutive lines with the same cell count; its first line is the header
//! when it looks like one (alphabetic cells, no long digit runs). Lookups are bounded (lines of
//! ≤ 4 KiB, at most [`MAX_WALK`] lines walked up) and cached per scan, so a large CSV with one
//! value per row is walked once, not once per row.

use memchr::{memchr, memrchr};

/// What a column header says about the values under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    Ssn,
    Phone,
    Card,
    Password,
    /// `iban` columns: the IBAN detector's boost, a hard negative for the other numeric ones.
    Iban,
    /// Order numbers, dates, versions, zip codes, ids, amounts…: numeric look-alikes.
    Negative,
    /// Any other header (name, city, notes, email…).
    Other,
}

/// Longest line considered a table row.
const MAX_LINE: usize = 4096;
/// Lines walked up from a value to find its header (beyond the cached block).
const MAX_WALK: usize = 400;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delim {
    Byte(u8),
    /// Columns aligned with runs of ≥ 2 spaces.
    Fixed,
}

/// The last table block seen by a scan: lines starting in `rows_lo..=rows_hi` are known rows
/// under the header at `header`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cache {
    block: Option<Block>,
    /// Header class of the block's first columns (0 = not classified yet), so that a large
    /// table classifies each header cell once.
    classes: [u8; 32],
    /// Delimiter counts of the last two lines looked at (a row and the row above it), so that a
    /// table of `n` rows counts each line once instead of once per value and delimiter.
    counts: [Option<(usize, [usize; 4])>; 2],
}

const DELIMS: [u8; 4] = [b'\t', b'|', b';', b','];

/// `count_delim(line, d)` for the four delimiter bytes in one pass (same quote rule).
fn delim_counts(line: &[u8]) -> [usize; 4] {
    let mut n = [0usize; 4];
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b'\t' if !quoted => n[0] += 1,
            b'|' if !quoted => n[1] += 1,
            b';' if !quoted => n[2] += 1,
            b',' if !quoted => n[3] += 1,
            _ => {}
        }
    }
    n
}

impl Cache {
    fn counts_of(&mut self, text: &[u8], ls: usize, le: usize) -> [usize; 4] {
        if let Some((_, c)) = self.counts.iter().flatten().find(|(at, _)| *at == ls) {
            return *c;
        }
        let c = delim_counts(&text[ls..le]);
        self.counts = [Some((ls, c)), self.counts[0]];
        c
    }
}

fn encode(h: Header) -> u8 {
    match h {
        Header::Ssn => 1,
        Header::Phone => 2,
        Header::Card => 3,
        Header::Password => 4,
        Header::Negative => 5,
        Header::Other => 6,
        Header::Iban => 7,
    }
}

fn decode(c: u8) -> Option<Header> {
    Some(match c {
        1 => Header::Ssn,
        2 => Header::Phone,
        3 => Header::Card,
        4 => Header::Password,
        5 => Header::Negative,
        6 => Header::Other,
        7 => Header::Iban,
        _ => return None,
    })
}

#[derive(Clone, Copy, Debug)]
struct Block {
    delim: Delim,
    cells: usize,
    header: (usize, usize),
    rows_lo: usize,
    rows_hi: usize,
}

/// Header class of the column holding `start..end`, or `None` when the value is not in a table
/// row under a header.
pub(crate) fn header_of(text: &[u8], start: usize, end: usize, cache: &mut Cache) -> Option<Header> {
    let (ls, le) = line_at(text, start)?;
    if end > le {
        return None; // spans lines: not a cell
    }
    let line = &text[ls..le];
    // Fast exit for prose: a row has a delimiter byte or a run of two spaces.
    // (SIMD searches: any delimiter byte anywhere, or two spaces in a row.)
    if memchr::memchr3(b'\t', b'|', b';', line).is_none() && memchr(b',', line).is_none() && !two_spaces(line) {
        return None;
    }
    let (ps, pe) = prev_line(text, ls)?;
    let prev = &text[ps..pe];
    // The first line of a paragraph (blank line above) starts its block: no header above it
    // (`find_block` would stop at the blank line).
    if blank(prev) {
        return None;
    }
    let here = cache.counts_of(text, ls, le);
    let above = cache.counts_of(text, ps, pe);
    // A comma can be a delimiter or part of a value (`44,205.49` in a fixed-column paste): try
    // each delimiter the line shares with the one above, then fixed columns.
    for delim in DELIMS.map(Delim::Byte).into_iter().chain([Delim::Fixed]) {
        // `shares` and `cell_count`, from the cached counts for the delimiter bytes.
        let cells = match delim {
            Delim::Byte(d) => {
                let k = DELIMS.iter().position(|&x| x == d).unwrap_or(0);
                let n = here[k];
                if !(n >= 1 && (above[k] == n || (d == b'|' && is_rule(prev)))) {
                    continue;
                }
                n
            }
            Delim::Fixed => {
                if !shares(line, prev, delim) {
                    continue;
                }
                cell_count(line, delim)
            }
        };
        if let Some(block) = find_block(text, ls, delim, cells, cache) {
            let (hs, he) = block.header;
            let col = column_at(text, ls, start, delim, (hs, he))?;
            if let Some(h) = cache.classes.get(col).copied().and_then(decode) {
                return Some(h);
            }
            let class = classify(header_cell(&text[hs..he], col, delim)?);
            if let Some(slot) = cache.classes.get_mut(col) {
                *slot = encode(class);
            }
            return Some(class);
        }
    }
    None
}

/// If `pos` is inside the header cell of a table's column (the first line of a block of lines
/// with the same cell count), returns that cell's class and the spans of the column's cells in
/// the rows below (trimmed, non-empty), at most `max_rows`.
pub(crate) fn column_below(text: &[u8], pos: usize, max_rows: usize) -> Option<(Header, Vec<(usize, usize)>)> {
    let (hs, he) = line_at(text, pos)?;
    let header = &text[hs..he];
    let mut next = he + 1;
    let first = next_line(text, next)?;
    let delim = pick_delim(&text[first.0..first.1], header)?;
    let cells = cell_count(header, delim);
    // The header is the first line of its block: the line above must not continue it.
    if let Some(p) = prev_line(text, hs) {
        if !blank(&text[p.0..p.1]) && same_shape(&text[p.0..p.1], delim, cells) {
            return None;
        }
    }
    if !looks_like_header(header, delim) {
        return None;
    }
    let col = header_column_of(header, pos - hs, delim)?;
    let class = classify(header_cell(header, col, delim)?);
    let mut rows = Vec::new();
    while rows.len() < max_rows {
        let Some((rs, re)) = next_line(text, next) else { break };
        let row = &text[rs..re];
        if blank(row) || !same_shape(row, delim, cells) {
            break;
        }
        next = re + 1;
        if is_rule(row) {
            continue;
        }
        if let Some(span) = cell_span(text, (rs, re), col, delim, (hs, he)) {
            rows.push(span);
        }
    }
    if rows.is_empty() {
        None
    } else {
        Some((class, rows))
    }
}

fn line_at(text: &[u8], pos: usize) -> Option<(usize, usize)> {
    let pos = pos.min(text.len());
    let lo = pos.saturating_sub(MAX_LINE);
    let ls = match memrchr(b'\n', &text[lo..pos]) {
        Some(p) => lo + p + 1,
        None if lo == 0 => 0,
        None => return None,
    };
    let hi = (pos + MAX_LINE).min(text.len());
    let le = match memchr(b'\n', &text[pos..hi]) {
        Some(p) => pos + p,
        None if hi == text.len() => text.len(),
        None => return None,
    };
    let le = if le > ls && text[le - 1] == b'\r' { le - 1 } else { le };
    Some((ls, le.max(ls)))
}

/// The line ending just before `ls` (which starts a line).
fn prev_line(text: &[u8], ls: usize) -> Option<(usize, usize)> {
    if ls == 0 {
        return None;
    }
    line_at(text, ls - 1)
}

/// The line starting at `ls`, if any.
fn next_line(text: &[u8], ls: usize) -> Option<(usize, usize)> {
    if ls >= text.len() {
        return None;
    }
    line_at(text, ls)
}

/// A run of two spaces (fixed columns), without building a `memmem` searcher per call.
fn two_spaces(line: &[u8]) -> bool {
    memchr::memchr_iter(b' ', line).any(|p| line.get(p + 1) == Some(&b' '))
}

fn blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// A markdown rule (`|---|:--:|`) or an ASCII box line (`+-----+----+`).
fn is_rule(line: &[u8]) -> bool {
    line.contains(&b'-') && line.iter().all(|b| matches!(b, b'|' | b'-' | b':' | b' ' | b'+' | b'=' | b'\t'))
}

/// Counts `d` outside double quotes (CSV quoting).
fn count_delim(line: &[u8], d: u8) -> usize {
    let mut n = 0;
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if b == d && !quoted {
            n += 1;
        }
    }
    n
}

/// Starts (char offsets) of the cells of a fixed-column line: text runs separated by ≥ 2 spaces.
fn fixed_starts(line: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut chars = 0usize;
    let mut spaces = 2usize; // the line start counts as a gap
    for &b in line {
        let cont = (b & 0xC0) == 0x80;
        if b == b' ' {
            spaces += 1;
        } else if !cont {
            if spaces >= 2 {
                starts.push(chars);
            }
            spaces = 0;
        }
        if !cont {
            chars += 1;
        }
    }
    starts
}

/// `fixed_starts(line).len()` without building the list.
fn fixed_count(line: &[u8]) -> usize {
    let mut n = 0;
    let mut spaces = 2usize;
    for &b in line {
        if b == b' ' {
            spaces += 1;
        } else if (b & 0xC0) != 0x80 {
            if spaces >= 2 {
                n += 1;
            }
            spaces = 0;
        }
    }
    n
}

/// Whether a line and the line above it can be rows of one table with delimiter `delim`: the
/// same count (≥ 1) of a delimiter byte, or ≥ 2 cells separated by runs of spaces in both.
fn shares(line: &[u8], prev: &[u8], delim: Delim) -> bool {
    match delim {
        Delim::Byte(d) => {
            let n = count_delim(line, d);
            n >= 1 && (count_delim(prev, d) == n || (d == b'|' && is_rule(prev)))
        }
        Delim::Fixed => fixed_count(line) >= 2 && fixed_count(prev) >= 2,
    }
}

/// The first delimiter `line` shares with `prev` (see [`shares`]).
fn pick_delim(line: &[u8], prev: &[u8]) -> Option<Delim> {
    [b'\t', b'|', b';', b','].map(Delim::Byte).into_iter().chain([Delim::Fixed]).find(|&d| shares(line, prev, d))
}

fn cell_count(line: &[u8], delim: Delim) -> usize {
    match delim {
        Delim::Byte(d) => count_delim(line, d),
        Delim::Fixed => fixed_count(line),
    }
}

fn same_shape(line: &[u8], delim: Delim, cells: usize) -> bool {
    match delim {
        Delim::Byte(b'|') => is_rule(line) || count_delim(line, b'|') == cells,
        Delim::Byte(d) => count_delim(line, d) == cells,
        // Fixed columns: a row has at least two aligned cells (values may hold single spaces,
        // and empty cells change the count).
        Delim::Fixed => fixed_count(line) >= 2,
    }
}

/// A header line: no digit run of 4 or more, and most cells start with a letter.
fn looks_like_header(line: &[u8], delim: Delim) -> bool {
    let mut run = 0;
    for &b in line {
        if b.is_ascii_digit() {
            run += 1;
            if run >= 4 {
                return false;
            }
        } else {
            run = 0;
        }
    }
    let cells: Vec<&[u8]> = match delim {
        Delim::Byte(d) => line.split(|&b| b == d).map(trim_cell).filter(|c| !c.is_empty()).collect(),
        Delim::Fixed => line.split(|&b| b == b' ').filter(|c| !c.is_empty()).collect(),
    };
    if cells.is_empty() {
        return false;
    }
    let alpha = cells.iter().filter(|c| c[0].is_ascii_alphabetic() || c[0] >= 0x80 || c[0] == b'#').count();
    alpha * 4 >= cells.len() * 3
}

fn trim_cell(c: &[u8]) -> &[u8] {
    let c = c.trim_ascii();
    let c = c.strip_prefix(b"\"").unwrap_or(c);
    let c = c.strip_suffix(b"\"").unwrap_or(c);
    c.trim_ascii()
}

/// Finds the block of the line at `ls` and its header, reusing the cached block when the walk
/// reaches one of its rows.
fn find_block(text: &[u8], ls: usize, delim: Delim, cells: usize, cache: &mut Cache) -> Option<Block> {
    let mut top = ls;
    let mut walked = 0;
    loop {
        if let Some(b) = cache.block {
            if b.delim == delim && b.cells == cells && top >= b.rows_lo && top <= b.rows_hi {
                let nb = Block { rows_hi: b.rows_hi.max(ls), ..b };
                cache.block = Some(nb);
                return Some(nb);
            }
        }
        let Some((ps, pe)) = prev_line(text, top) else { break };
        let prev = &text[ps..pe];
        if blank(prev) || prev.trim_ascii_start().starts_with(b"```") || !same_shape(prev, delim, cells) {
            break;
        }
        top = ps;
        walked += 1;
        if walked > MAX_WALK {
            return None;
        }
    }
    if top == ls {
        return None; // the value's own line is the first of its block: no header above it
    }
    // The header is the block's first line — unless a line of prose with the same cell count
    // sits above it ("Hi, here it is:" over `name,phone`): then the first of the top lines that
    // names a known column wins.
    let mut header = None;
    let mut at = top;
    for _ in 0..4 {
        if at >= ls {
            break;
        }
        let (hs, he) = line_at(text, at)?;
        let line = &text[hs..he];
        if !is_rule(line) && looks_like_header(line, delim) {
            if header.is_none() {
                header = Some((hs, he));
            }
            if names_known_column(line, delim) {
                header = Some((hs, he));
                break;
            }
        }
        at = he + 1;
    }
    let (hs, he) = header?;
    let b = Block { delim, cells, header: (hs, he), rows_lo: he + 1, rows_hi: ls };
    if cache.block.is_none_or(|old| old.header != b.header || old.delim != b.delim) {
        cache.classes = [0; 32];
    }
    cache.block = Some(b);
    Some(b)
}

/// Whether some cell of a header line is a column the scanner knows (not [`Header::Other`]).
fn names_known_column(line: &[u8], delim: Delim) -> bool {
    let n = match delim {
        Delim::Byte(d) => count_delim(line, d) + 1,
        Delim::Fixed => fixed_starts(line).len(),
    };
    (0..n.min(64)).any(|c| header_cell(line, c, delim).is_some_and(|cell| classify(cell) != Header::Other))
}

fn char_count(s: &[u8]) -> usize {
    s.iter().filter(|b| (**b & 0xC0) != 0x80).count()
}

/// Column index of byte `pos` in the row starting at `ls`.
fn column_at(text: &[u8], ls: usize, pos: usize, delim: Delim, header: (usize, usize)) -> Option<usize> {
    match delim {
        Delim::Byte(d) => Some(count_delim(&text[ls..pos], d)),
        Delim::Fixed => {
            let chars = char_count(&text[ls..pos]);
            // The last header cell starting at or before the value (one column of slack for
            // right-aligned numbers).
            fixed_starts(&text[header.0..header.1]).iter().rposition(|&s| s <= chars + 1)
        }
    }
}

/// Column index of a byte offset inside the header line itself.
fn header_column_of(header: &[u8], off: usize, delim: Delim) -> Option<usize> {
    match delim {
        Delim::Byte(d) => Some(count_delim(&header[..off], d)),
        Delim::Fixed => {
            let chars = char_count(&header[..off]);
            fixed_starts(header).iter().rposition(|&s| s <= chars)
        }
    }
}

/// Byte range of delimited cell `col` in `line` (untrimmed), quotes respected.
fn delimited_cell(line: &[u8], col: usize, d: u8) -> Option<(usize, usize)> {
    let mut quoted = false;
    let mut idx = 0;
    let mut start = 0;
    for (i, &b) in line.iter().enumerate() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == d && !quoted {
            if idx == col {
                return Some((start, i));
            }
            idx += 1;
            start = i + 1;
        }
    }
    (idx == col).then_some((start, line.len()))
}

/// Byte range of the chars `s..e` (char offsets) of a line.
fn char_range_to_bytes(line: &[u8], s: usize, e: usize) -> (usize, usize) {
    let mut chars = 0usize;
    let (mut bs, mut be) = (line.len(), line.len());
    for (i, &b) in line.iter().enumerate() {
        if (b & 0xC0) == 0x80 {
            continue;
        }
        if chars == s {
            bs = i;
        }
        if chars == e {
            be = i;
            break;
        }
        chars += 1;
    }
    (bs.min(be), be)
}

/// Text of header cell `col`.
fn header_cell(header: &[u8], col: usize, delim: Delim) -> Option<&[u8]> {
    match delim {
        Delim::Byte(d) => delimited_cell(header, col, d).map(|(s, e)| trim_cell(&header[s..e])),
        Delim::Fixed => {
            let starts = fixed_starts(header);
            let s = *starts.get(col)?;
            let e = starts.get(col + 1).copied().unwrap_or(usize::MAX);
            let (bs, be) = char_range_to_bytes(header, s, e);
            Some(header[bs..be].trim_ascii())
        }
    }
}

/// Byte span of cell `col` in a row (trimmed of spaces and quotes), for [`column_below`].
fn cell_span(
    text: &[u8],
    row: (usize, usize),
    col: usize,
    delim: Delim,
    header: (usize, usize),
) -> Option<(usize, usize)> {
    let (rs, re) = row;
    let line = &text[rs..re];
    let (mut s, mut e) = match delim {
        Delim::Byte(d) => delimited_cell(line, col, d)?,
        Delim::Fixed => {
            let starts = fixed_starts(&text[header.0..header.1]);
            let cs = *starts.get(col)?;
            let ce = starts.get(col + 1).copied().unwrap_or(usize::MAX);
            char_range_to_bytes(line, cs, ce)
        }
    };
    while s < e && (line[s].is_ascii_whitespace() || line[s] == b'"') {
        s += 1;
    }
    while e > s && (line[e - 1].is_ascii_whitespace() || line[e - 1] == b'"') {
        e -= 1;
    }
    (s < e).then_some((rs + s, rs + e))
}

/// Lower-case components of a header cell: split on non-alphanumerics and camelCase humps.
fn components(cell: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(cell);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in s.chars() {
        if !ch.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        cur.extend(ch.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const SSN_WORDS: &[&str] = &["ssn", "ssns", "ssno", "socsec", "sozialversicherungsnummer"];
const PHONE_WORDS: &[&str] = &[
    "phone",
    "phones",
    "tel",
    "telephone",
    "mobile",
    "mob",
    "cell",
    "cellphone",
    "fax",
    "handy",
    "telefon",
    "telefone",
    "teléfono",
    "telefono",
    "téléphone",
    "portable",
    "celular",
    "whatsapp",
    "landline",
    "phoneno",
    "phonenumber",
    "mobil",
];
const CARD_WORDS: &[&str] =
    &["card", "cc", "ccn", "pan", "creditcard", "cardnumber", "cardno", "visa", "mastercard", "amex", "kreditkarte"];
const PASSWORD_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "pw",
    "passcode",
    "passphrase",
    "passwort",
    "kennwort",
    "senha",
    "contraseña",
    "wachtwoord",
    "motdepasse",
];
/// Headers of numeric look-alikes (hard negatives).
const NEGATIVE_WORDS: &[&str] = &[
    "order",
    "orders",
    "zip",
    "zipcode",
    "postcode",
    "postal",
    "plz",
    "date",
    "dob",
    "birthday",
    "version",
    "ver",
    "build",
    "release",
    "sku",
    "invoice",
    "inv",
    "tracking",
    "shipment",
    "account",
    "acct",
    "bic",
    "swift",
    "routing",
    "amount",
    "price",
    "total",
    "cost",
    "qty",
    "quantity",
    "isbn",
    "po",
    "ref",
    "reference",
    "case",
    "ticket",
    "id",
    "ids",
    "no",
    "uuid",
    "guid",
    "timestamp",
    "ts",
    "epoch",
    "time",
    "serial",
    "lot",
    "batch",
    "part",
    "item",
    "imei",
    "iccid",
    "txn",
    "transaction",
    "confirmation",
    "booking",
    "pnr",
    "policy",
    "claim",
    "patent",
    "year",
    "month",
    "day",
    "count",
    "size",
    "bytes",
    "port",
    "pid",
    "hash",
    "checksum",
    "latitude",
    "longitude",
    "lat",
    "lon",
    "lng",
    "salary",
    "balance",
    "score",
    "rank",
    "badge",
    "license",
    "licence",
    "vin",
    "code",
];
/// Components that make a category header describe something other than the value itself.
const META_WORDS: &[&str] = &[
    "type",
    "kind",
    "expiry",
    "exp",
    "expires",
    "expiration",
    "holder",
    "name",
    "brand",
    "status",
    "last4",
    "last",
    "hint",
    "hash",
    "hashed",
    "reset",
    "policy",
    "length",
    "changed",
    "updated",
    "verified",
    "country",
    "ext",
    "extension",
    "prefix",
    "issuer",
    "bank",
];

fn classify(cell: &[u8]) -> Header {
    let comps = components(cell);
    if comps.is_empty() {
        return Header::Other;
    }
    let has = |set: &[&str]| comps.iter().any(|c| set.contains(&c.as_str()));
    let joined = comps.join(" ");
    let ssn = has(SSN_WORDS)
        || joined.contains("social security")
        || joined.contains("soc sec")
        || joined.contains("social sec")
        || (comps[0] == "ss" && comps.get(1).is_none_or(|c| matches!(c.as_str(), "no" | "num" | "number" | "nr")));
    let phone = has(PHONE_WORDS) || joined.contains("contact number") || joined.contains("contact no");
    let card = has(CARD_WORDS) || joined.contains("credit card") || joined.contains("card number");
    let password = has(PASSWORD_WORDS) || joined.contains("mot de passe");
    let iban = has(&["iban", "ibans"]);
    if (ssn || phone || card || password || iban) && has(META_WORDS) {
        return Header::Other; // `phone_type`, `card_holder`, `password_hash`
    }
    // A category word wins over a negative one: `employee ssn`, `ssn no`, `order phone`.
    if ssn {
        Header::Ssn
    } else if phone {
        Header::Phone
    } else if password {
        Header::Password
    } else if card {
        Header::Card
    } else if iban {
        Header::Iban
    } else if has(NEGATIVE_WORDS) || comps.iter().any(|c| c.len() > 3 && c.len() <= 10 && c.ends_with("id")) {
        Header::Negative
    } else {
        Header::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> Option<Header> {
        let s = text.find(needle).expect("needle");
        header_of(text.as_bytes(), s, s + needle.len(), &mut Cache::default())
    }

    #[test]
    fn csv_tsv_markdown_fixed() {
        let csv = "name,email,phone,ssn\nAnn,ann@x.io,4159277024,536221234\nBo,bo@x.io,6176863941,412739021\n";
        assert_eq!(at(csv, "536221234"), Some(Header::Ssn));
        assert_eq!(at(csv, "6176863941"), Some(Header::Phone));
        assert_eq!(at(csv, "bo@x.io"), Some(Header::Other));
        let tsv = "Name\tDOB\tSSN\nR. Okafor\t1981-04-02\t412739021\n";
        assert_eq!(at(tsv, "412739021"), Some(Header::Ssn));
        assert_eq!(at(tsv, "1981-04-02"), Some(Header::Negative));
        let md = "| Member | Social Security | Plan |\n|---|---|---|\n| K. Mbeki | 287306612 | PPO |";
        assert_eq!(at(md, "287306612"), Some(Header::Ssn));
        let fixed = "NAME          TEL               ROOM\nS. Nørgaard   +45 32 12 34 56   4.12\n";
        assert_eq!(at(fixed, "+45 32 12 34 56"), Some(Header::Phone));
        assert_eq!(at(fixed, "4.12"), Some(Header::Other));
        // A prose line with the same comma count above the header is not the header.
        let intro = "Hi, here it is:\nname,phone\nAnn,4159277024\n";
        assert_eq!(at(intro, "4159277024"), Some(Header::Phone));
        // Commas inside values of a fixed-column paste are not delimiters.
        let amounts =
            "item      amount      sku\nrotor     44,205.49   325-180-3135\nadapter   99,585.23   529-116-8572\n";
        assert_eq!(at(amounts, "529-116-8572"), Some(Header::Negative));
    }

    #[test]
    fn negatives_and_non_tables() {
        let csv = "item,order_id,zip\nwidget,412739021,94107-1234\n";
        assert_eq!(at(csv, "412739021"), Some(Header::Negative));
        assert_eq!(at(csv, "94107-1234"), Some(Header::Negative));
        assert_eq!(at("my ssn is 536221234", "536221234"), None);
        assert_eq!(at("ssn,phone\n", "phone"), None); // the header line itself
                                                      // A headerless block (first line is data) gives no header.
        assert_eq!(at("1,2,3\n4,5,536221234\n", "536221234"), None);
        // Prose lines with commas are not a table.
        assert_eq!(at("Hi Ann, thanks.\nMy number, as asked, is 4159277024", "4159277024"), None);
    }

    #[test]
    fn column_below_lists_cells() {
        let t = "service,username,password\nvpn,ops,Summer1097$\njira,ann,\"Ocean 1545*\"\n\nafter";
        let p = t.find("password").expect("header");
        let (h, cells) = column_below(t.as_bytes(), p, 100).expect("column");
        assert_eq!(h, Header::Password);
        let vals: Vec<&str> = cells.iter().map(|&(s, e)| &t[s..e]).collect();
        assert_eq!(vals, vec!["Summer1097$", "Ocean 1545*"]);
        let md = "| service | password |\n|---|---|\n| vpn | Harbor88!x |\n";
        let (h, cells) = column_below(md.as_bytes(), md.find("password").expect("h"), 10).expect("md");
        assert_eq!(h, Header::Password);
        assert_eq!(&md[cells[0].0..cells[0].1], "Harbor88!x");
    }

    #[test]
    fn cache_walks_a_long_table_once() {
        let mut t = String::from("name,phone\n");
        for i in 0..3000 {
            t.push_str(&format!("p{i},415927{i:04}\n"));
        }
        let b = t.as_bytes();
        let mut cache = Cache::default();
        let found = t
            .match_indices("415927")
            .filter(|(i, _)| header_of(b, *i, *i + 10, &mut cache) == Some(Header::Phone))
            .count();
        assert_eq!(found, 3000);
    }

    #[test]
    fn delim_counts_match_count_delim() {
        for line in [&b"a,\"b,c\",d\te|f;g"[..], b"", b"\"\"\",,,|", b"x\ty\tz"] {
            let c = delim_counts(line);
            for (k, d) in DELIMS.iter().enumerate() {
                assert_eq!(c[k], count_delim(line, *d));
            }
        }
    }

    #[test]
    fn header_classes() {
        assert_eq!(classify(b"social_security_number"), Header::Ssn);
        assert_eq!(classify(b"SSN#"), Header::Ssn);
        assert_eq!(classify(b"SS No"), Header::Ssn);
        assert_eq!(classify(b"Mobile #"), Header::Phone);
        assert_eq!(classify(b"contactPhone"), Header::Phone);
        assert_eq!(classify(b"Tel."), Header::Phone);
        assert_eq!(classify(b"phone_type"), Header::Other);
        assert_eq!(classify(b"card_number"), Header::Card);
        assert_eq!(classify(b"Password"), Header::Password);
        assert_eq!(classify(b"password_hash"), Header::Other);
        assert_eq!(classify(b"employee_id"), Header::Negative);
        assert_eq!(classify(b"order #"), Header::Negative);
        assert_eq!(classify(b"notes"), Header::Other);
        assert_eq!(classify(b"IBAN"), Header::Iban);
        assert_eq!(classify(b"iban_country"), Header::Other);
    }
}
