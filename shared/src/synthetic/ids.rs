//! Identifier and timestamp helpers shared by the generator and the fake server.

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use rand::Rng;

/// Base58-ish alphabet used for the `…_01<suffix>` identifiers (no `0`, `O`, `I`, `l`).
pub const ID_ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Random string of `len` characters drawn from [`ID_ALPHABET`].
pub fn suffix<R: Rng + ?Sized>(rng: &mut R, len: usize) -> String {
    (0..len).map(|_| ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())] as char).collect()
}

/// `"{prefix}01"` followed by a 22-character suffix, e.g. `activity_01LwHSAQJR5WGxgb9tq4KHCQ`.
pub fn tagged_id<R: Rng + ?Sized>(rng: &mut R, prefix: &str) -> String {
    format!("{prefix}01{}", suffix(rng, 22))
}

/// Random (version 4 layout) UUID, drawn from the given RNG so generation stays deterministic.
pub fn uuid<R: Rng + ?Sized>(rng: &mut R) -> String {
    let bytes: [u8; 16] = rng.gen();
    uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string()
}

/// Random lowercase hex string.
pub fn hex<R: Rng + ?Sized>(rng: &mut R, len: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..len).map(|_| HEX[rng.gen_range(0..16)] as char).collect()
}

/// Random string over `[A-Za-z0-9]`.
pub fn alnum<R: Rng + ?Sized>(rng: &mut R, len: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len).map(|_| A[rng.gen_range(0..A.len())] as char).collect()
}

/// Wire form used on activities, chats, messages, users, projects: microseconds + `Z`.
pub fn ts_z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Offset form (`+00:00`) with microseconds, as observed on the organizations list and inside cursors.
pub fn ts_offset(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// Truncate to whole microseconds (what the wire can carry).
pub fn trunc_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.timestamp_micros();
    Utc.timestamp_micros(micros).single().unwrap_or(t)
}

/// Truncate to whole seconds.
pub fn trunc_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0).single().unwrap_or(t)
}

/// A uniformly random instant in `[start, end)` with microsecond precision.
pub fn rand_between<R: Rng + ?Sized>(rng: &mut R, start: DateTime<Utc>, end: DateTime<Utc>) -> DateTime<Utc> {
    let a = start.timestamp_micros();
    let b = end.timestamp_micros();
    if b <= a {
        return trunc_micros(start);
    }
    let v = rng.gen_range(a..b);
    Utc.timestamp_micros(v).single().unwrap_or(start)
}

/// Random duration between `lo_ms` and `hi_ms` milliseconds, with microsecond jitter.
pub fn rand_ms<R: Rng + ?Sized>(rng: &mut R, lo_ms: i64, hi_ms: i64) -> Duration {
    let lo = lo_ms * 1000;
    let hi = (hi_ms * 1000).max(lo + 1);
    Duration::microseconds(rng.gen_range(lo..hi))
}
