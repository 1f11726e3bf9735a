//! Gzip NDJSON encoding: one JSON object per line, `\n`-terminated.

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use std::io::Write;

pub fn encode_gz(records: &[Value]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(records.len() * 256), Compression::new(6));
    let mut line = Vec::with_capacity(4096);
    for r in records {
        line.clear();
        serde_json::to_writer(&mut line, r)?;
        line.push(b'\n');
        enc.write_all(&line)?;
    }
    enc.finish()
}

/// Decodes what [`encode_gz`] wrote (used by tests, `findings` and verification tools).
pub fn decode_gz(bytes: &[u8]) -> std::io::Result<Vec<Value>> {
    use std::io::{BufRead, BufReader};
    let dec = flate2::read::MultiGzDecoder::new(bytes);
    let mut out = Vec::new();
    for line in BufReader::new(dec).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?);
    }
    Ok(out)
}

/// Gzip of any bytes (state objects).
pub fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(raw)?;
    enc.finish()
}

/// The bytes inside a gzip stream.
pub fn gunzip(gz: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_values_exact() {
        let recs = vec![json!({"a": 1, "big": 123456789012345678901234567890u128.to_string()}), json!({"f": 1.10})];
        // arbitrary_precision keeps numbers as written
        let raw: Value = serde_json::from_str(r#"{"n": 1.10, "huge": 123456789012345678901234567890}"#).unwrap();
        let mut all = recs.clone();
        all.push(raw);
        let back = decode_gz(&encode_gz(&all).unwrap()).unwrap();
        assert_eq!(back, all);
        assert_eq!(serde_json::to_string(&back[2]).unwrap(), r#"{"n":1.10,"huge":123456789012345678901234567890}"#);
    }
}
