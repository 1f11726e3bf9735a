//! DLP alerts: after a segment commits, its `dlp_findings` rows at or above a severity threshold are
//! published as events (`source: compliance-lake`, detail-type `DLP Finding`, the row itself as
//! detail — it is already redacted: snippet and keyed fingerprint, never the matched value).
//! Beyond `max_per_minute` events per job in a minute, the rest of a commit becomes one
//! `DLP Findings Summary` event (counts only), so a flood is one event, not 10,000 e-mails.
//! Alerts are best effort and after the commit: a failure is logged, never fails the job.

#[cfg(feature = "aws")]
pub mod eventbridge;

#[cfg(feature = "aws")]
pub use eventbridge::EventBridgeAlerts;

use crate::dlp::Severity;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SOURCE: &str = "compliance-lake";
pub const DETAIL_TYPE_FINDING: &str = "DLP Finding";
pub const DETAIL_TYPE_SUMMARY: &str = "DLP Findings Summary";
pub const DEFAULT_MAX_PER_MINUTE: u32 = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub detail_type: &'static str,
    pub detail: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("publishing DLP alerts to {target} failed: {reason}")]
    Publish { target: String, reason: String, retryable: bool },
    #[error("{failed} of {total} DLP alert events were rejected by {target} (first error: {first})")]
    Rejected { target: String, failed: usize, total: usize, first: String },
    #[error("alerts configuration: {0}")]
    Config(String),
}

impl AlertError {
    pub fn is_retryable(&self) -> bool {
        match self {
            AlertError::Publish { retryable, .. } => *retryable,
            AlertError::Rejected { .. } => true,
            AlertError::Config(_) => false,
        }
    }
}

/// Where events go (EventBridge in AWS, nothing locally, a vector in tests).
#[async_trait]
pub trait AlertPublisher: Send + Sync {
    async fn publish(&self, events: &[AlertEvent]) -> Result<(), AlertError>;
    fn describe(&self) -> String;
}

/// The no-op publisher (alerts off).
pub struct NoAlerts;

#[async_trait]
impl AlertPublisher for NoAlerts {
    async fn publish(&self, _events: &[AlertEvent]) -> Result<(), AlertError> {
        Ok(())
    }
    fn describe(&self) -> String {
        "no alerts".into()
    }
}

/// What one commit produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertReport {
    pub findings_events: usize,
    pub summarized: usize,
    pub failed: bool,
}

/// Threshold, rate limit and publisher. One per runtime, shared by its jobs.
pub struct Alerts {
    publisher: Arc<dyn AlertPublisher>,
    pub min_severity: Severity,
    pub max_per_minute: u32,
    /// job → (start of its current minute, events sent in it).
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

fn parse_severity(s: &str) -> Option<Severity> {
    match s.trim().to_ascii_uppercase().as_str() {
        "CRITICAL" => Some(Severity::Critical),
        "HIGH" => Some(Severity::High),
        "MEDIUM" => Some(Severity::Medium),
        "LOW" => Some(Severity::Low),
        _ => None,
    }
}

impl Alerts {
    pub fn new(publisher: Arc<dyn AlertPublisher>, min_severity: Severity, max_per_minute: u32) -> Self {
        Alerts { publisher, min_severity, max_per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// From the environment: `COMPLIANCE_LAKE_ALERTS_EVENT_BUS` (name or ARN; unset or empty = alerts off, `None`),
    /// `COMPLIANCE_LAKE_ALERTS_MIN_SEVERITY` (default HIGH), `COMPLIANCE_LAKE_ALERTS_MAX_PER_MINUTE` (per job, default 20).
    #[cfg(feature = "aws")]
    pub async fn from_env(clients: Option<&crate::aws::AwsClients>) -> Result<Option<Arc<Alerts>>, AlertError> {
        Self::from_lookup(|k| std::env::var(k).ok(), clients).await
    }

    #[cfg(feature = "aws")]
    pub async fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        clients: Option<&crate::aws::AwsClients>,
    ) -> Result<Option<Arc<Alerts>>, AlertError> {
        let Some(bus) = get("COMPLIANCE_LAKE_ALERTS_EVENT_BUS").filter(|b| !b.trim().is_empty()) else {
            return Ok(None);
        };
        if get("COMPLIANCE_LAKE_ALERTS_MIN_SEVERITY").is_some_and(|s| s.trim().eq_ignore_ascii_case("off")) {
            return Ok(None);
        }
        let min = match get("COMPLIANCE_LAKE_ALERTS_MIN_SEVERITY").filter(|s| !s.trim().is_empty()) {
            None => Severity::High,
            Some(s) => parse_severity(&s).ok_or_else(|| {
                AlertError::Config(format!(
                    "COMPLIANCE_LAKE_ALERTS_MIN_SEVERITY {s:?}: expected CRITICAL, HIGH, MEDIUM or LOW"
                ))
            })?,
        };
        let max = match get("COMPLIANCE_LAKE_ALERTS_MAX_PER_MINUTE").filter(|s| !s.trim().is_empty()) {
            None => DEFAULT_MAX_PER_MINUTE,
            Some(s) => s.trim().parse::<u32>().map_err(|_| {
                AlertError::Config(format!("COMPLIANCE_LAKE_ALERTS_MAX_PER_MINUTE {s:?}: expected a whole number"))
            })?,
        };
        let client = match clients {
            Some(c) => c.eventbridge.clone(),
            None => crate::aws::AwsClients::from_env().await.eventbridge,
        };
        Ok(Some(Arc::new(Alerts::new(Arc::new(EventBridgeAlerts::new(client, bus.trim())), min, max))))
    }

    /// Takes up to `want` event slots of `job`'s current minute; returns how many were granted.
    fn take(&self, job: &str, want: usize) -> usize {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let e = w.entry(job.to_string()).or_insert((now, 0));
        if now.duration_since(e.0) >= Duration::from_secs(60) {
            *e = (now, 0);
        }
        let free = self.max_per_minute.saturating_sub(e.1) as usize;
        let n = want.min(free);
        e.1 += n as u32;
        n
    }

    /// Call with the `dlp_findings` rows of a segment right after its checkpoint was saved.
    pub async fn on_commit(&self, stream: &str, job: &str, run_id: &str, findings: &[Value]) -> AlertReport {
        let due: Vec<&Value> = findings.iter().filter(|f| severity_of(f) >= self.min_severity).collect();
        if due.is_empty() {
            return AlertReport::default();
        }
        let granted = self.take(job, due.len());
        let events = plan(&due, granted, self.min_severity, stream, job, run_id);
        let report = AlertReport { findings_events: granted, summarized: due.len() - granted, failed: false };
        match self.publisher.publish(&events).await {
            Ok(()) => {
                tracing::info!(
                    job,
                    events = events.len(),
                    findings = granted,
                    summarized = report.summarized,
                    "DLP alerts published"
                );
                report
            }
            Err(e) => {
                tracing::warn!(job, error = %e, retryable = e.is_retryable(), "DLP alerts not published (the segment is committed; alerts are best effort)");
                AlertReport { failed: true, ..report }
            }
        }
    }
}

fn severity_of(f: &Value) -> Severity {
    f.get("severity").and_then(Value::as_str).and_then(parse_severity).unwrap_or(Severity::None)
}

/// The events of one commit: the first `individual` findings (most severe first) one each, the
/// rest as one summary with counts by severity and detector.
pub fn plan(
    due: &[&Value],
    individual: usize,
    min: Severity,
    stream: &str,
    job: &str,
    run_id: &str,
) -> Vec<AlertEvent> {
    let mut sorted: Vec<&Value> = due.to_vec();
    sorted.sort_by_key(|f| std::cmp::Reverse(severity_of(f)));
    let mut out: Vec<AlertEvent> = sorted
        .iter()
        .take(individual)
        .map(|f| AlertEvent { detail_type: DETAIL_TYPE_FINDING, detail: (*f).clone() })
        .collect();
    let rest = &sorted[individual.min(sorted.len())..];
    if !rest.is_empty() {
        let mut by_sev: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_det: BTreeMap<&str, u64> = BTreeMap::new();
        let mut users: Vec<&str> = Vec::new();
        for f in rest {
            *by_sev.entry(severity_of(f).as_str()).or_default() += 1;
            *by_det.entry(f.get("detector").and_then(Value::as_str).unwrap_or("?")).or_default() += 1;
            if let Some(u) = f.get("user_email").and_then(Value::as_str) {
                if !users.contains(&u) && users.len() < 20 {
                    users.push(u);
                }
            }
        }
        out.push(AlertEvent {
            detail_type: DETAIL_TYPE_SUMMARY,
            detail: json!({
                "summary": true,
                "reason": "rate limit: more DLP findings than the per-minute alert limit for this job",
                "stream": stream,
                "job": job,
                "run_id": run_id,
                "min_severity": min.as_str(),
                "count": rest.len(),
                "individually_alerted": individual,
                "by_severity": by_sev,
                "by_detector": by_det,
                "users": users,
                "first_finding_id": rest.first().and_then(|f| f.get("id")).cloned(),
            }),
        });
    }
    out
}

/// Collects events in memory (tests).
#[derive(Default)]
pub struct MemoryAlerts(pub Mutex<Vec<AlertEvent>>);

#[async_trait]
impl AlertPublisher for MemoryAlerts {
    async fn publish(&self, events: &[AlertEvent]) -> Result<(), AlertError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(events);
        Ok(())
    }
    fn describe(&self) -> String {
        "memory".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, sev: &str) -> Value {
        json!({"id": id, "severity": sev, "detector": "aws_access_key", "user_email": "a@x.com", "redacted": "key [REDACTED]"})
    }

    #[tokio::test]
    async fn threshold_and_rate_limit() {
        let mem = Arc::new(MemoryAlerts::default());
        let a = Alerts::new(mem.clone(), Severity::High, 3);
        let rows = vec![f("1", "CRITICAL"), f("2", "LOW"), f("3", "HIGH"), f("4", "MEDIUM")];
        let r = a.on_commit("chats", "chats", "run-1", &rows).await;
        assert_eq!(r, AlertReport { findings_events: 2, summarized: 0, failed: false });
        let ev = mem.0.lock().unwrap().clone();
        assert_eq!(ev.len(), 2);
        assert!(ev.iter().all(|e| e.detail_type == DETAIL_TYPE_FINDING));
        assert_eq!(ev[0].detail["id"], "1");
        // 1 slot left this minute: 1 finding event + 1 summary for the other 3
        let more: Vec<Value> = (10..14).map(|i| f(&i.to_string(), "CRITICAL")).collect();
        let r = a.on_commit("chats", "chats", "run-1", &more).await;
        assert_eq!(r, AlertReport { findings_events: 1, summarized: 3, failed: false });
        let ev = mem.0.lock().unwrap().clone();
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[3].detail_type, DETAIL_TYPE_SUMMARY);
        assert_eq!(ev[3].detail["count"], 3);
        assert_eq!(ev[3].detail["by_severity"]["CRITICAL"], 3);
        // another job has its own minute
        let r = a.on_commit("projects", "projects", "run-1", &more[..1]).await;
        assert_eq!(r.findings_events, 1);
    }

    #[tokio::test]
    async fn env_configuration() {
        let none = Alerts::from_lookup(|_| None, None).await.unwrap();
        assert!(none.is_none());
        let bad = Alerts::from_lookup(
            |k| match k {
                "COMPLIANCE_LAKE_ALERTS_EVENT_BUS" => Some("bus".into()),
                "COMPLIANCE_LAKE_ALERTS_MIN_SEVERITY" => Some("SEVERE".into()),
                _ => None,
            },
            None,
        )
        .await;
        assert!(matches!(bad, Err(AlertError::Config(_))));
    }
}
