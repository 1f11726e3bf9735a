//! What the console shows, computed from the lake and the state documents: findings filters
//! (parsed from a query string, with a message for every bad value), aggregations for the charts,
//! per-job health and the engine's run manifests. Pure functions over rows; no I/O here.

use crate::dlp::Severity;
use crate::streams::segment::JobState;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

pub const SEVERITIES: [Severity; 4] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low];
pub const DEFAULT_PER_PAGE: usize = 50;
const MAX_PER_PAGE: usize = 500;

pub fn parse_severity(s: &str) -> Option<Severity> {
    match s.trim().to_ascii_uppercase().as_str() {
        "CRITICAL" => Some(Severity::Critical),
        "HIGH" => Some(Severity::High),
        "MEDIUM" => Some(Severity::Medium),
        "LOW" => Some(Severity::Low),
        _ => None,
    }
}

pub fn severity_of(f: &Value) -> Severity {
    f.get("severity").and_then(Value::as_str).and_then(parse_severity).unwrap_or(Severity::None)
}

pub fn s<'a>(f: &'a Value, k: &str) -> &'a str {
    f.get(k).and_then(Value::as_str).unwrap_or("")
}

/// When the finding's content was created (else when it was detected).
pub fn when(f: &Value) -> Option<Timestamp> {
    ["source_created_at", "detected_at"]
        .iter()
        .find_map(|k| f.get(*k).and_then(Value::as_str).and_then(|s| Timestamp::parse(s).ok()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    When,
    Severity,
    Detector,
    User,
    Source,
}

impl SortKey {
    pub const ALL: [SortKey; 5] = [SortKey::When, SortKey::Severity, SortKey::Detector, SortKey::User, SortKey::Source];
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::When => "when",
            SortKey::Severity => "severity",
            SortKey::Detector => "detector",
            SortKey::User => "user",
            SortKey::Source => "source",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The findings filter of a page, an export or the JSON API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Any of these (empty = all).
    pub severity: Vec<Severity>,
    pub detector: Option<String>,
    pub source_kind: Option<String>,
    /// E-mail address (case-insensitive) or user id.
    pub user: Option<String>,
    pub org: Option<String>,
    pub fingerprint: Option<String>,
    pub sort: SortKey,
    /// Newest / highest first unless `dir=asc`.
    pub asc: bool,
    pub page: usize,
    pub per_page: usize,
    /// The raw values as entered, to refill the form.
    pub raw: Vec<(String, String)>,
}

const KNOWN: [&str; 12] = [
    "since",
    "until",
    "severity",
    "detector",
    "source_kind",
    "user",
    "org",
    "fingerprint",
    "sort",
    "dir",
    "page",
    "per_page",
];

/// A date (`YYYY-MM-DD`, as `<input type=date>` sends) or an RFC 3339 time. `end_of_day` turns a
/// bare date into the start of the next day (so `until=2026-11-02` includes all of Nov 2).
fn parse_time(v: &str, end_of_day: bool) -> Option<Timestamp> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let d = if end_of_day { d.succ_opt()? } else { d };
        return Some(Timestamp(d.and_hms_opt(0, 0, 0)?.and_utc()));
    }
    Timestamp::parse(v).ok()
}

impl Filter {
    /// Parses a query string. Every bad value is reported (all of them, in the page), never a 500.
    pub fn parse(query: &str) -> Result<Filter, Vec<String>> {
        let mut f = Filter { page: 1, per_page: DEFAULT_PER_PAGE, ..Filter::default() };
        let mut errors = Vec::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let (k, v) = (k.into_owned(), v.trim().to_string());
            if v.is_empty() {
                continue;
            }
            f.raw.push((k.clone(), v.clone()));
            let shown: String = v.chars().take(60).collect();
            match k.as_str() {
                "since" => match parse_time(&v, false) {
                    Some(t) => f.since = Some(t),
                    None => errors.push(format!("since: “{shown}” is not a date (YYYY-MM-DD) or an RFC 3339 time")),
                },
                "until" => match parse_time(&v, true) {
                    Some(t) => f.until = Some(t),
                    None => errors.push(format!("until: “{shown}” is not a date (YYYY-MM-DD) or an RFC 3339 time")),
                },
                "severity" => {
                    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        match parse_severity(part) {
                            Some(sv) if !f.severity.contains(&sv) => f.severity.push(sv),
                            Some(_) => {}
                            None => errors.push(format!(
                                "severity: “{}” is not one of CRITICAL, HIGH, MEDIUM, LOW",
                                part.chars().take(60).collect::<String>()
                            )),
                        }
                    }
                }
                "detector" => f.detector = Some(v),
                "source_kind" => f.source_kind = Some(v),
                "user" => f.user = Some(v),
                "org" => f.org = Some(v),
                "fingerprint" => f.fingerprint = Some(v),
                "sort" => match SortKey::parse(&v) {
                    Some(sk) => f.sort = sk,
                    None => errors.push(format!(
                        "sort: “{shown}” is not one of {}",
                        SortKey::ALL.map(SortKey::as_str).join(", ")
                    )),
                },
                "dir" => match v.as_str() {
                    "asc" => f.asc = true,
                    "desc" => f.asc = false,
                    _ => errors.push(format!("dir: “{shown}” is not asc or desc")),
                },
                "page" => match v.parse::<usize>() {
                    Ok(n) if n >= 1 => f.page = n,
                    _ => errors.push(format!("page: “{shown}” is not a page number (1, 2, …)")),
                },
                "per_page" => match v.parse::<usize>() {
                    Ok(n) if (1..=MAX_PER_PAGE).contains(&n) => f.per_page = n,
                    _ => errors.push(format!("per_page: “{shown}” is not a number from 1 to {MAX_PER_PAGE}")),
                },
                _ => errors.push(format!(
                    "unknown filter “{}”; known: {}",
                    k.chars().take(40).collect::<String>(),
                    KNOWN.join(", ")
                )),
            }
        }
        if let (Some(a), Some(b)) = (f.since, f.until) {
            if a >= b {
                errors.push("since must be before until".into());
            }
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(errors)
        }
    }

    pub fn matches(&self, f: &Value) -> bool {
        let t = when(f);
        let eq = |want: &Option<String>, k: &str| want.as_deref().is_none_or(|w| s(f, k) == w);
        self.since.is_none_or(|a| t.is_some_and(|t| t >= a))
            && self.until.is_none_or(|b| t.is_some_and(|t| t < b))
            && (self.severity.is_empty() || self.severity.contains(&severity_of(f)))
            && eq(&self.detector, "detector")
            && eq(&self.source_kind, "source_kind")
            && eq(&self.fingerprint, "fingerprint")
            && self.org.as_deref().is_none_or(|o| s(f, "organization_uuid") == o)
            && self.user.as_deref().is_none_or(|u| s(f, "user_id") == u || s(f, "user_email").eq_ignore_ascii_case(u))
    }

    /// The filtered rows, sorted as asked (ties broken by id so paging is stable).
    pub fn apply<'a>(&self, rows: &'a [Value]) -> Vec<&'a Value> {
        let mut out: Vec<&Value> = rows.iter().filter(|r| self.matches(r)).collect();
        out.sort_by(|a, b| {
            let o = match self.sort {
                SortKey::When => when(a).cmp(&when(b)),
                SortKey::Severity => severity_of(a).cmp(&severity_of(b)).then_with(|| when(a).cmp(&when(b))),
                SortKey::Detector => s(a, "detector").cmp(s(b, "detector")),
                SortKey::User => s(a, "user_email").cmp(s(b, "user_email")),
                SortKey::Source => s(a, "source_kind").cmp(s(b, "source_kind")),
            }
            .then_with(|| s(a, "id").cmp(s(b, "id")));
            if self.asc {
                o
            } else {
                o.reverse()
            }
        });
        out
    }

    /// The query string of this filter with some parameters replaced (`None` removes one).
    pub fn query_with(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.raw {
            if !changes.iter().any(|(c, _)| c == k) {
                ser.append_pair(k, v);
            }
        }
        for (k, v) in changes {
            if let Some(v) = v {
                ser.append_pair(k, v);
            }
        }
        ser.finish()
    }

    pub fn raw_value(&self, k: &str) -> &str {
        self.raw.iter().find(|(rk, _)| rk == k).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// Counts by severity, per time bucket, for the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Bucket length in days (1 or 7).
    pub bucket_days: i64,
    /// (bucket start date, counts in `SEVERITIES` order).
    pub buckets: Vec<(chrono::NaiveDate, [u64; 4])>,
}

pub fn histogram(rows: &[&Value]) -> Histogram {
    let dates: Vec<(chrono::NaiveDate, Severity)> =
        rows.iter().filter_map(|r| Some((when(r)?.0.date_naive(), severity_of(r)))).collect();
    let (Some(min), Some(max)) = (dates.iter().map(|d| d.0).min(), dates.iter().map(|d| d.0).max()) else {
        return Histogram { bucket_days: 1, buckets: vec![] };
    };
    let span = (max - min).num_days() + 1;
    let bucket_days = if span > 92 { 7 } else { 1 };
    let n = (span + bucket_days - 1) / bucket_days;
    let mut buckets: Vec<(chrono::NaiveDate, [u64; 4])> =
        (0..n).map(|i| (min + chrono::Duration::days(i * bucket_days), [0; 4])).collect();
    for (d, sev) in dates {
        let i = ((d - min).num_days() / bucket_days) as usize;
        if let (Some(b), Some(j)) = (buckets.get_mut(i), SEVERITIES.iter().position(|x| *x == sev)) {
            b.1[j] += 1;
        }
    }
    Histogram { bucket_days, buckets }
}

pub fn count_by_severity(rows: &[&Value]) -> [u64; 4] {
    let mut c = [0u64; 4];
    for r in rows {
        if let Some(j) = SEVERITIES.iter().position(|x| *x == severity_of(r)) {
            c[j] += 1;
        }
    }
    c
}

/// The `n` most frequent values of a field (ties by value), with counts.
pub fn top(rows: &[&Value], key: &str, n: usize) -> Vec<(String, u64)> {
    let mut m: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows {
        let v = s(r, key);
        if !v.is_empty() {
            *m.entry(v).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = m.into_iter().map(|(k, c)| (k.to_string(), c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Fixed CSV columns of an export (a finding row never holds the matched value).
pub const CSV_COLUMNS: [&str; 19] = [
    "id",
    "source_created_at",
    "detected_at",
    "severity",
    "detector",
    "confidence",
    "source_kind",
    "source_id",
    "chat_id",
    "message_id",
    "project_id",
    "file_id",
    "user_id",
    "user_email",
    "organization_uuid",
    "start",
    "end",
    "fingerprint",
    "redacted",
];

/// One CSV cell: quoted, and a leading `= + - @` defused so a spreadsheet never runs it.
pub fn csv_cell(v: &Value) -> String {
    let raw = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let raw = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{raw}") } else { raw };
    format!("\"{}\"", raw.replace('"', "\"\""))
}

pub fn csv(rows: &[&Value]) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for r in rows {
        let cells: Vec<String> = CSV_COLUMNS.iter().map(|c| csv_cell(r.get(*c).unwrap_or(&Value::Null))).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// A run manifest as the engine (v2) writes it under `_manifests/<stream>/dt=…/<job>-<seq>.json`.
/// Every field defaults, so an older or newer manifest still renders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    pub manifest_version: u32,
    pub stream: String,
    pub job: String,
    pub run_id: String,
    pub seq: u64,
    pub committed_at: Option<String>,
    pub checkpoint_before: Value,
    pub checkpoint_after: Value,
    pub records_time_range: Value,
    pub requests: Vec<ManifestRequest>,
    pub objects: Vec<ManifestObject>,
    pub prev_sha256: Option<String>,
    /// Not in the document: where it was read from, and the SHA-256 of its bytes.
    #[serde(skip)]
    pub key: String,
    #[serde(skip)]
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManifestRequest {
    pub endpoint: String,
    pub query: Value,
    pub request_id: Option<String>,
    pub at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManifestObject {
    pub key: String,
    pub table: String,
    pub bytes: u64,
    pub records: u64,
    pub sha256: String,
}

/// One run, from its manifests (or, in a store without manifests, from job states).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    pub run_id: String,
    pub first_commit: Option<String>,
    pub last_commit: Option<String>,
    pub jobs: Vec<String>,
    pub segments: usize,
    pub objects: usize,
    pub records: u64,
    pub bytes: u64,
    pub requests: usize,
}

pub fn runs_from_manifests(ms: &[Manifest]) -> Vec<RunSummary> {
    let mut by: BTreeMap<&str, RunSummary> = BTreeMap::new();
    for m in ms {
        let r = by.entry(&m.run_id).or_insert_with(|| RunSummary { run_id: m.run_id.clone(), ..Default::default() });
        if !r.jobs.contains(&m.job) {
            r.jobs.push(m.job.clone());
        }
        r.segments += 1;
        r.objects += m.objects.len();
        r.records += m.objects.iter().map(|o| o.records).sum::<u64>();
        r.bytes += m.objects.iter().map(|o| o.bytes).sum::<u64>();
        r.requests += m.requests.len();
        if let Some(c) = &m.committed_at {
            if r.first_commit.as_ref().is_none_or(|f| c < f) {
                r.first_commit = Some(c.clone());
            }
            if r.last_commit.as_ref().is_none_or(|l| c > l) {
                r.last_commit = Some(c.clone());
            }
        }
    }
    let mut v: Vec<RunSummary> = by.into_values().collect();
    v.sort_by(|a, b| b.last_commit.cmp(&a.last_commit).then_with(|| b.run_id.cmp(&a.run_id)));
    v
}

/// One job's row on the health page.
#[derive(Debug, Clone, PartialEq)]
pub struct JobHealth {
    pub stream: String,
    pub job: String,
    /// Organization UUID for per-organization jobs.
    pub org: Option<String>,
    pub state: Option<JobState>,
    /// Seconds since the newest checkpoint advance (`None`: never).
    pub age_secs: Option<i64>,
    pub stale: bool,
    pub last_error: Option<String>,
    pub quarantined: usize,
}

/// Health rows: every job state document, plus a "never synced" row for a stream without any.
pub fn job_health(
    states: &[(String, Value)],
    streams: &[&str],
    quarantine: &HashMap<String, usize>,
    now: Timestamp,
    alarm_secs: i64,
) -> Vec<JobHealth> {
    let mut out = Vec::new();
    for (key, v) in states {
        let stream = key.split('/').next().unwrap_or("").to_string();
        let stream = streams.iter().find(|s| stream == **s || stream.starts_with(&format!("{s}/"))).copied();
        let Some(stream) = stream else { continue };
        let st: Option<JobState> = serde_json::from_value(v.clone()).ok();
        let org = key.strip_prefix("users/").map(|o| o.split('/').next().unwrap_or(o).to_string());
        let age = st.as_ref().and_then(|s| s.last_commit_at).map(|t| (now.0 - t.0).num_seconds().max(0));
        out.push(JobHealth {
            stream: stream.to_string(),
            job: key.clone(),
            org,
            age_secs: age,
            stale: age.is_none_or(|a| a > alarm_secs),
            last_error: v.get("last_error").and_then(Value::as_str).map(str::to_string),
            quarantined: quarantine.get(key.as_str()).copied().unwrap_or(0),
            state: st,
        });
    }
    for s in streams {
        if !out.iter().any(|j| j.stream == *s) {
            out.push(JobHealth {
                stream: s.to_string(),
                job: s.to_string(),
                org: None,
                state: None,
                age_secs: None,
                stale: true,
                last_error: None,
                quarantined: quarantine.get(*s).copied().unwrap_or(0),
            });
        }
    }
    let order = |s: &str| streams.iter().position(|x| *x == s).unwrap_or(usize::MAX);
    out.sort_by(|a, b| order(&a.stream).cmp(&order(&b.stream)).then_with(|| a.job.cmp(&b.job)));
    out
}

/// "3 min", "2 h 5 min", "4 d 1 h".
pub fn human_age(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, (secs % 86_400) / 3600, (secs % 3600) / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{secs} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows() -> Vec<Value> {
        vec![
            json!({"id":"a","severity":"CRITICAL","detector":"aws_access_key","user_email":"Jane@x.com","user_id":"u1","source_kind":"chat_message","source_created_at":"2026-11-01T10:00:00Z","organization_uuid":"o1","fingerprint":"f1"}),
            json!({"id":"b","severity":"HIGH","detector":"password","user_email":"bob@x.com","user_id":"u2","source_kind":"chat_message","source_created_at":"2026-11-02T10:00:00Z","organization_uuid":"o1","fingerprint":"f2"}),
            json!({"id":"c","severity":"LOW","detector":"ipv4","user_email":"jane@x.com","user_id":"u1","source_kind":"project_description","source_created_at":"2026-11-03T10:00:00Z","organization_uuid":"o2","fingerprint":"f1"}),
        ]
    }

    fn ids(f: &Filter, r: &[Value]) -> Vec<String> {
        f.apply(r).iter().map(|v| s(v, "id").to_string()).collect()
    }

    #[test]
    fn filters_select_the_expected_rows() {
        let r = rows();
        assert_eq!(ids(&Filter::parse("").unwrap(), &r), ["c", "b", "a"]);
        assert_eq!(ids(&Filter::parse("user=jane%40x.com").unwrap(), &r), ["c", "a"]);
        assert_eq!(ids(&Filter::parse("user=u2").unwrap(), &r), ["b"]);
        assert_eq!(ids(&Filter::parse("severity=high,critical&dir=asc").unwrap(), &r), ["a", "b"]);
        assert_eq!(ids(&Filter::parse("since=2026-11-02&until=2026-11-02").unwrap(), &r), ["b"]);
        assert_eq!(ids(&Filter::parse("org=o2").unwrap(), &r), ["c"]);
        assert_eq!(ids(&Filter::parse("fingerprint=f1&sort=severity").unwrap(), &r), ["a", "c"]);
        assert_eq!(ids(&Filter::parse("source_kind=chat_message&detector=password").unwrap(), &r), ["b"]);
    }

    #[test]
    fn bad_values_are_all_reported() {
        let e = Filter::parse("severity=BOGUS&since=yesterday&page=0&sort=x&what=1").unwrap_err();
        assert_eq!(e.len(), 5, "{e:?}");
        assert!(e[0].contains("severity: “BOGUS” is not one of CRITICAL, HIGH, MEDIUM, LOW"));
        assert!(e[1].starts_with("since: “yesterday”"));
        let e = Filter::parse("since=2026-11-05&until=2026-11-01").unwrap_err();
        assert_eq!(e, ["since must be before until"]);
    }

    #[test]
    fn histogram_counts_per_day_and_severity() {
        let r = rows();
        let all: Vec<&Value> = r.iter().collect();
        let h = histogram(&all);
        assert_eq!(h.bucket_days, 1);
        assert_eq!(h.buckets.len(), 3);
        assert_eq!(h.buckets[0].1, [1, 0, 0, 0]);
        assert_eq!(h.buckets[2].1, [0, 0, 0, 1]);
        assert_eq!(count_by_severity(&all), [1, 1, 0, 1]);
        assert_eq!(top(&all, "user_id", 5), [("u1".to_string(), 2), ("u2".to_string(), 1)]);
    }

    #[test]
    fn csv_defuses_formulas_and_quotes() {
        assert_eq!(csv_cell(&json!("=HYPERLINK(\"x\")")), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell(&json!(3)), "\"3\"");
        assert_eq!(csv_cell(&Value::Null), "\"\"");
    }

    #[test]
    fn health_lists_every_stream_and_flags_stale_jobs() {
        let now = Timestamp::parse("2026-11-05T12:00:00Z").unwrap();
        let states = vec![
            (
                "activities".to_string(),
                json!({"checkpoint":{}, "last_commit_at":"2026-11-05T11:50:00Z", "records_written": 7}),
            ),
            ("users/o1".to_string(), json!({"checkpoint":{}, "last_commit_at":"2026-11-05T09:00:00Z"})),
            ("keys/current".to_string(), json!({})),
        ];
        let h = job_health(&states, &["organizations", "users", "activities"], &HashMap::new(), now, 3600);
        let names: Vec<&str> = h.iter().map(|j| j.job.as_str()).collect();
        assert_eq!(names, ["organizations", "users/o1", "activities"]);
        assert!(h[0].stale && h[0].state.is_none());
        assert!(h[1].stale && h[1].org.as_deref() == Some("o1"));
        assert!(!h[2].stale && h[2].age_secs == Some(600));
    }

    #[test]
    fn manifests_group_into_runs() {
        let m: Manifest =
            serde_json::from_value(json!({"run_id":"r1","job":"chats","committed_at":"2026-11-01T00:00:00Z",
            "objects":[{"key":"k","table":"chats","bytes":10,"records":3,"sha256":"00"}], "unknown_field": 1}))
            .unwrap();
        let m2 = Manifest { job: "activities".into(), committed_at: Some("2026-11-01T00:01:00Z".into()), ..m.clone() };
        let runs = runs_from_manifests(&[m, m2]);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].records, 6);
        assert_eq!(runs[0].jobs, ["chats", "activities"]);
        assert_eq!(runs[0].last_commit.as_deref(), Some("2026-11-01T00:01:00Z"));
    }
}
