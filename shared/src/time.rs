//! Timestamps as the Compliance API sends them: RFC 3339 with `Z`, with a numeric offset, or naive
//! (no offset, meaning UTC). Parsed into one UTC type; compared as instants, never as strings.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An instant in UTC. Serialises as RFC 3339 with microseconds and `Z`, the form the API sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a timestamp: {0:?} (expected RFC 3339, e.g. 2026-08-01T00:00:00Z)")]
pub struct TimestampError(pub String);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(Utc::now())
    }

    /// Parses `Z`, `+hh:mm` offsets, fractional seconds, naive forms (assumed UTC) and bare dates
    /// (midnight UTC). A space instead of `T` is accepted too.
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        let t = s.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return Ok(Timestamp(dt.with_timezone(&Utc)));
        }
        let with_t = t.replacen(' ', "T", 1);
        if let Ok(dt) = DateTime::parse_from_rfc3339(&with_t) {
            return Ok(Timestamp(dt.with_timezone(&Utc)));
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
            if let Ok(n) = NaiveDateTime::parse_from_str(&with_t, fmt) {
                return Ok(Timestamp(n.and_utc()));
            }
        }
        // offsets without colon (+0000) and other ISO 8601 variants
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
            if let Ok(dt) = DateTime::parse_from_str(&with_t, fmt) {
                return Ok(Timestamp(dt.with_timezone(&Utc)));
            }
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            if let Some(n) = d.and_hms_opt(0, 0, 0) {
                return Ok(Timestamp(n.and_utc()));
            }
        }
        Err(TimestampError(s.to_string()))
    }

    /// RFC 3339, microseconds, `Z`: what we send in filters (the API requires an explicit offset).
    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// The `dt=YYYY-MM-DD` partition value of this instant.
    pub fn date_partition(&self) -> String {
        self.0.format("%Y-%m-%d").to_string()
    }

    pub fn minus(&self, d: chrono::Duration) -> Self {
        Timestamp(self.0 - d)
    }

    pub fn plus(&self, d: chrono::Duration) -> Self {
        Timestamp(self.0 + d)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(d: DateTime<Utc>) -> Self {
        Timestamp(d)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_wire_form() {
        let z = Timestamp::parse("2026-09-21T01:41:57.039607Z").unwrap();
        let off = Timestamp::parse("2026-09-21T01:41:57.039607+00:00").unwrap();
        let naive = Timestamp::parse("2026-09-21T01:41:57.039607").unwrap();
        let shifted = Timestamp::parse("2026-09-21T03:41:57.039607+02:00").unwrap();
        let nocolon = Timestamp::parse("2026-09-21T01:41:57.039607+0000").unwrap();
        assert_eq!(z, off);
        assert_eq!(z, naive);
        assert_eq!(z, shifted);
        assert_eq!(z, nocolon);
        assert_eq!(z.to_rfc3339(), "2026-09-21T01:41:57.039607Z");
        assert_eq!(Timestamp::parse("2026-08-01").unwrap().to_rfc3339(), "2026-08-01T00:00:00.000000Z");
        assert_eq!(Timestamp::parse("2026-08-01 10:00:00").unwrap().to_rfc3339(), "2026-08-01T10:00:00.000000Z");
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("").is_err());
    }

    #[test]
    fn orders_as_instants_not_strings() {
        let a = Timestamp::parse("2026-09-21T03:00:00+02:00").unwrap();
        let b = Timestamp::parse("2026-09-21T01:30:00Z").unwrap();
        assert!(a < b);
    }
}
