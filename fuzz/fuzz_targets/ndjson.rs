//! The NDJSON reader: arbitrary bytes as a gzip stream, and arbitrary bytes as the lines inside a
//! valid gzip stream. No panic; whatever decodes re-encodes to the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::store::ndjson::{decode_gz, encode_gz};
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let _ = decode_gz(data);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if enc.write_all(data).is_err() {
        return;
    }
    let Ok(gz) = enc.finish() else { return };
    if let Ok(records) = decode_gz(&gz) {
        let again = decode_gz(&encode_gz(&records).expect("encode")).expect("re-decode what we wrote");
        assert_eq!(again, records, "round trip changed the records");
    }
});
