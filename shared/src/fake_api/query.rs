//! Query-string parsing and validation with the API's error wording.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::errors::ApiError;

/// Parsed query string (decoded `key=value` pairs in order).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `application/x-www-form-urlencoded` component decoding (`+` → space, `%XX`).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "Did you mean" candidate for an unknown parameter.
fn hint(p: &str, allowed: &[&str]) -> Option<String> {
    // created_at[gte] -> created_at.gte
    if let Some(open) = p.find('[') {
        if p.ends_with(']') {
            let base = &p[..open];
            let inner = &p[open + 1..p.len() - 1];
            let dotted = format!("{base}.{inner}");
            if allowed.contains(&dotted.as_str()) {
                return Some(dotted);
            }
            // user_ids[0] -> user_ids[]
            let arr = format!("{base}[]");
            if allowed.contains(&arr.as_str()) {
                return Some(arr);
            }
        }
    }
    // created_at_gte / created_at-gte -> created_at.gte
    for sep in ["_", "-", ":"] {
        for op in ["gte", "gt", "lte", "lt"] {
            let suffix = format!("{sep}{op}");
            if let Some(base) = p.strip_suffix(&suffix) {
                let dotted = format!("{base}.{op}");
                if allowed.contains(&dotted.as_str()) {
                    return Some(dotted);
                }
            }
        }
    }
    // user_ids -> user_ids[]
    let arr = format!("{p}[]");
    if allowed.contains(&arr.as_str()) {
        return Some(arr);
    }
    if p.chars().count() >= 5 {
        let mut best: Option<(usize, &str)> = None;
        for a in allowed {
            let d = levenshtein(p, a);
            if d <= 2 && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, a));
            }
        }
        if let Some((_, a)) = best {
            return Some(a.to_string());
        }
    }
    None
}

/// Inclusive/exclusive time bounds from `<field>.gt/gte/lt/lte`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub gt: Option<DateTime<Utc>>,
    pub gte: Option<DateTime<Utc>>,
    pub lt: Option<DateTime<Utc>>,
    pub lte: Option<DateTime<Utc>>,
}

impl TimeRange {
    pub fn is_empty(&self) -> bool {
        self.gt.is_none() && self.gte.is_none() && self.lt.is_none() && self.lte.is_none()
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.gt.is_none_or(|b| t > b)
            && self.gte.is_none_or(|b| t >= b)
            && self.lt.is_none_or(|b| t < b)
            && self.lte.is_none_or(|b| t <= b)
    }
}

/// Parse an RFC 3339 timestamp the way the API validates it.
pub fn parse_timestamp(param: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    let v = v.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive_ok = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f").is_ok()
        || NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M").is_ok()
        || NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok();
    if naive_ok {
        return Err(ApiError::invalid(format!("{param}: Input should have timezone info")));
    }
    let reason = if v.len() < 10 {
        "input is too short"
    } else if !v.chars().take(4).all(|c| c.is_ascii_digit()) {
        "invalid character in year"
    } else if !v[4..].starts_with('-') {
        "invalid date separator, expected `-`"
    } else if v.len() > 10 && matches!(v.as_bytes()[10], b'T' | b't' | b' ' | b'_') {
        "unexpected extra characters at the end of the input"
    } else {
        "invalid datetime separator, expected `T`, `t`, `_` or space"
    };
    Err(ApiError::invalid(format!("{param}: Input should be a valid datetime or date, {reason}")))
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut pairs = Vec::new();
        if let Some(raw) = raw {
            for part in raw.split('&') {
                if part.is_empty() {
                    continue;
                }
                let (k, v) = match part.split_once('=') {
                    Some((k, v)) => (k, v),
                    None => (part, ""),
                };
                pairs.push((percent_decode(k), percent_decode(v)));
            }
        }
        Query { pairs }
    }

    /// Reject the first unknown parameter (400 with a "Did you mean" hint for near misses).
    pub fn check_allowed(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for (k, _) in &self.pairs {
            if !allowed.contains(&k.as_str()) {
                let msg = match hint(k, allowed) {
                    Some(h) => format!("Unknown query parameter: '{k}'. Did you mean '{h}'?"),
                    None => format!("Unknown query parameter: '{k}'."),
                };
                return Err(ApiError::invalid(msg));
            }
        }
        Ok(())
    }

    /// Last value of a scalar parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// All values of an array parameter (`key[]`), in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// An integer parameter with bounds; `Ok(None)` when absent.
    pub fn int(&self, key: &str, min: i64, max: Option<i64>) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n: i64 = v.trim().parse().map_err(|_| {
            ApiError::invalid(format!("{key}: Input should be a valid integer, unable to parse string as an integer"))
        })?;
        if n < min {
            return Err(ApiError::invalid(format!("{key}: Input should be greater than or equal to {min}")));
        }
        if let Some(max) = max {
            if n > max {
                return Err(ApiError::invalid(format!("{key}: Input should be less than or equal to {max}")));
            }
        }
        Ok(Some(n))
    }

    /// `limit` with the endpoint's default and max.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        Ok(self.int("limit", 1, Some(max as i64))?.map(|n| n as usize).unwrap_or(default))
    }

    /// `<field>.gt/gte/lt/lte`.
    pub fn range(&self, field: &str) -> Result<TimeRange, ApiError> {
        let mut r = TimeRange::default();
        for (op, slot) in [("gt", &mut r.gt), ("gte", &mut r.gte), ("lt", &mut r.lt), ("lte", &mut r.lte)] {
            let key = format!("{field}.{op}");
            if let Some(v) = self.get(&key) {
                *slot = Some(parse_timestamp(&key, v)?);
            }
        }
        Ok(r)
    }

    /// Validate an enum parameter; returns the value or the default.
    pub fn choice<'a>(&'a self, key: &str, options: &[&'a str], default: &'a str) -> Result<&'a str, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if options.contains(&v) => Ok(v),
            Some(_) => {
                let opts: Vec<String> = options.iter().map(|o| format!("'{o}'")).collect();
                let text = match opts.len() {
                    0 => String::new(),
                    1 => opts[0].clone(),
                    n => format!("{} or {}", opts[..n - 1].join(", "), opts[n - 1]),
                };
                Err(ApiError::invalid(format!("{key}: Input should be {text}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints() {
        let allowed = ["created_at.gte", "user_ids[]", "limit", "order_by"];
        assert_eq!(hint("created_at[gte]", &allowed).as_deref(), Some("created_at.gte"));
        assert_eq!(hint("user_ids", &allowed).as_deref(), Some("user_ids[]"));
        assert_eq!(hint("user_ids[0]", &allowed).as_deref(), Some("user_ids[]"));
        assert_eq!(hint("orderby", &allowed).as_deref(), Some("order_by"));
        assert_eq!(hint("organization_uuid", &allowed), None);
    }

    #[test]
    fn decode() {
        assert_eq!(percent_decode("a%5B%5D+b%3"), "a[] b%3");
        let q = Query::parse(Some("activity_types%5B%5D=x&activity_types[]=y&limit=5"));
        assert_eq!(q.all("activity_types[]"), vec!["x", "y"]);
        assert_eq!(q.get("limit"), Some("5"));
    }

    #[test]
    fn timestamps() {
        assert!(parse_timestamp("t", "2026-01-01T00:00:00Z").is_ok());
        assert!(parse_timestamp("t", "2026-01-01T00:00:00.123456+02:00").is_ok());
        let e = parse_timestamp("created_at.gte", "2026-01-01T00:00:00").unwrap_err();
        assert_eq!(e.message, "created_at.gte: Input should have timezone info");
        let e = parse_timestamp("created_at.gte", "yesterday").unwrap_err();
        assert!(e.message.contains("valid datetime"));
    }
}
