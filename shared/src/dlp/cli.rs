//! CLI helpers (the product wires these to clap). Nothing here ever prints a matched value:
//! output carries detector, severity, offsets, a type-only preview and a span-redacted snippet.

use super::{redacted_preview, redacted_snippet, Scanner, Severity};
use serde::Serialize;
use std::io::{BufRead, Write};

/// Bytes of context on each side of a finding in printed snippets.
pub const SNIPPET_CONTEXT: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum DlpCliError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot serialise finding: {0}")]
    Json(#[from] serde_json::Error),
}

/// A malformed input line. The message never quotes input content (serde_json's own messages
/// can echo values, so only the error category and column are kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Totals of one `scan_jsonl` run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Non-empty input lines read.
    pub lines: usize,
    /// Records scanned (valid lines).
    pub records: usize,
    /// Records with at least one finding.
    pub records_with_findings: usize,
    pub findings: usize,
    pub bad_lines: usize,
    /// Records longer than the document cap (only their head was scanned).
    pub truncated_records: usize,
    pub max_severity: Severity,
    /// One entry per malformed line.
    pub errors: Vec<LineError>,
}

/// Scans one named text and writes one human-readable line per finding:
/// `name:LINE:COL: SEVERITY detector (confidence) preview | snippet`.
/// Returns the number of findings.
pub fn scan_plain(name: &str, text: &str, out: &mut impl Write) -> std::io::Result<usize> {
    let report = Scanner::global().scan_document(text);
    let dets = &report.detections;
    for (i, d) in dets.iter().enumerate() {
        let (line, col) = line_col(text, d.start);
        writeln!(
            out,
            "{name}:{line}:{col}: {} {} ({}) {} | {}",
            d.severity,
            d.detector,
            d.confidence,
            redacted_preview(d.detector, d.value(text)),
            redacted_snippet(text, dets, i, SNIPPET_CONTEXT)
        )?;
    }
    if report.truncated {
        writeln!(
            out,
            "{name}: note: only the first {} of {} bytes were scanned",
            report.scanned_bytes, report.total_bytes
        )?;
    }
    Ok(dets.len())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let head = &text.as_bytes()[..offset.min(text.len())];
    let line = memchr::memchr_iter(b'\n', head).count() + 1;
    let line_start = memchr::memrchr(b'\n', head).map(|p| p + 1).unwrap_or(0);
    let col = text.get(line_start..offset).map(|s| s.chars().count() + 1).unwrap_or(1);
    (line, col)
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    id: &'a serde_json::Value,
    detector: &'static str,
    severity: Severity,
    confidence: super::Confidence,
    start: usize,
    end: usize,
    preview: &'a str,
    redacted: &'a str,
}

fn classify_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "malformed JSON",
        Category::Data => "wrong field type",
        Category::Eof => "truncated JSON",
    };
    format!("{what} at column {}", e.column())
}

/// Fast-path shape of an input record: the text is borrowed from the line when it has no
/// escapes. Anything this does not accept (a missing or mistyped field, duplicate keys) is
/// parsed again as a [`serde_json::Value`] ([`record_slow`]), which decides as before.
#[derive(serde::Deserialize)]
struct Record<'a> {
    id: Option<serde_json::Value>,
    #[serde(borrow)]
    text: Option<std::borrow::Cow<'a, str>>,
}

/// The slow path for a line the fast path refused: `Ok((id, text))` for a valid record (e.g.
/// one with a duplicated key, where the last value wins as in a [`serde_json::Map`]), else why
/// it is not one. The message never quotes input content.
fn record_slow(line: &[u8]) -> Result<(serde_json::Value, String), String> {
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| classify_json_error(&e))?;
    let serde_json::Value::Object(mut obj) = value else {
        return Err("expected a JSON object".to_string());
    };
    let Some(id) = obj.remove("id").filter(|v| v.is_string() || v.is_number()) else {
        return Err("missing `id` (string or number)".to_string());
    };
    match obj.remove("text") {
        Some(serde_json::Value::String(text)) => Ok((id, text)),
        _ => Err("missing `text` (string)".to_string()),
    }
}

/// Reads JSON Lines (`{"id": …, "text": "…"}` per line), writes one JSON finding per line:
/// `{"id","detector","severity","confidence","start","end","preview","redacted"}` with UTF-8
/// byte offsets into that record's `text`. Malformed lines are counted and described in
/// [`Stats::errors`] (by line number) and do not stop the run; blank lines are skipped.
/// Records are scanned like attachments (chunked, capped; see [`Stats::truncated_records`]).
///
/// Output is buffered here (64 KiB, flushed before returning), so `out` may be an unbuffered
/// or line-buffered handle such as a locked stdout; the line, snippet and preview buffers are
/// reused from record to record.
pub fn scan_jsonl(mut input: impl BufRead, out: &mut impl Write) -> Result<Stats, DlpCliError> {
    let scanner = Scanner::global();
    let mut stats = Stats::default();
    let mut out = std::io::BufWriter::with_capacity(64 << 10, out);
    let mut buf: Vec<u8> = Vec::with_capacity(8 << 10);
    let mut snippet = super::finding::SnippetBuf::default();
    let mut preview = String::new();
    let mut lineno = 0usize;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        lineno += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        stats.lines += 1;
        // A struct also deserialises from a JSON array: only objects take the fast path.
        let object = line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let parsed = if object { serde_json::from_slice::<Record<'_>>(line).ok() } else { None };
        let (id, text) = match parsed {
            Some(Record { id: Some(id), text: Some(text) }) if id.is_string() || id.is_number() => (id, text),
            _ => match record_slow(line) {
                Ok((id, text)) => (id, std::borrow::Cow::Owned(text)),
                Err(message) => {
                    stats.bad_lines += 1;
                    stats.errors.push(LineError { line: lineno, message });
                    continue;
                }
            },
        };
        let text: &str = &text;
        stats.records += 1;
        let report = scanner.scan_document(text);
        if report.truncated {
            stats.truncated_records += 1;
        }
        let dets = &report.detections;
        if !dets.is_empty() {
            stats.records_with_findings += 1;
        }
        let disjoint = super::finding::disjoint_sorted(dets);
        for (i, d) in dets.iter().enumerate() {
            preview.clear();
            super::finding::write_preview(&mut preview, d.detector, d.value(text));
            let f = JsonFinding {
                id: &id,
                detector: d.detector,
                severity: d.severity,
                confidence: d.confidence,
                start: d.start,
                end: d.end,
                preview: &preview,
                redacted: if disjoint {
                    snippet.render_disjoint(text, dets, i, SNIPPET_CONTEXT)
                } else {
                    snippet.render(text, dets, i, SNIPPET_CONTEXT)
                },
            };
            serde_json::to_writer(&mut out, &f)?;
            out.write_all(b"\n")?;
            stats.findings += 1;
            stats.max_severity = stats.max_severity.max(d.severity);
        }
    }
    out.flush()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_reports_bad_lines_and_continues() {
        let input = b"{\"id\":1,\"text\":\"card 4539 1488 0343 6467\"}\n{oops\n\n{\"id\":\"b\"}\n{\"id\":3,\"text\":\"mail ann.lee@northwind-mail.com\"}\n";
        let mut out = Vec::new();
        let stats = scan_jsonl(&input[..], &mut out).expect("io");
        assert_eq!(stats.records, 2);
        assert_eq!(stats.bad_lines, 2);
        assert_eq!(stats.errors[0].line, 2);
        assert_eq!(stats.errors[1].line, 4);
        assert_eq!(stats.findings, 2);
        let s = String::from_utf8(out).expect("utf8");
        assert!(!s.contains("4539 1488"));
        assert!(!s.contains("ann.lee@"));
        assert!(s.contains("\"detector\":\"credit_card\""));
    }

    #[test]
    fn plain_output() {
        let mut out = Vec::new();
        let n = scan_plain("msg", "line one\nmy password is hunter2x!", &mut out).expect("io");
        assert_eq!(n, 1);
        let s = String::from_utf8(out).expect("utf8");
        assert!(s.starts_with("msg:2:16: HIGH password"), "{s}");
        assert!(!s.contains("hunter2x"));
    }
}
