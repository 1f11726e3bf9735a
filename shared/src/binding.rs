//! State bound to its source. A state store (a local `_state/`, a DynamoDB table) holds the
//! checkpoints of exactly one source: a tenant, reached at one base URL, in one mode (the real API
//! or the built-in synthetic tenant). The binding document records it; a sync whose source differs
//! refuses to resume (one line, with the `--reset-state` hint) instead of continuing from another
//! source's cursors and watermarks — which would skip the real backfill after a dry run, or mix two
//! tenants. `--reset-state` archives the old checkpoints (copies under `archive/<id>/…`, never
//! deleted) and starts a clean backfill.
//!
//! The API exposes no parent-organization id, so the tenant is identified by the UUIDs of its
//! linked organizations: two sources are the same tenant when they share at least one (a tenant
//! gaining or losing an organization is still itself). A key that cannot list organizations leaves
//! the tenant unknown; then only the mode and the base URL are compared.
//!
//! [`compare`] is pure (table-tested); [`check_or_bind`] does the I/O through the `StateStore`
//! trait, so it is the same on every backend.

use crate::api::{paths, ApiClient, ApiError, CallStats};
use crate::store::{StateStore, StoreError};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// State key of the binding document.
pub const BINDING_KEY: &str = "source/binding";
/// Archived checkpoints live under `archive/<archive id>/<original key>`.
pub const ARCHIVE_PREFIX: &str = "archive/";
/// Synthetic mode writes its objects under this prefix of the lake, never into the real tables.
pub const SYNTHETIC_PREFIX: &str = "synthetic";
/// The base URL recorded for the in-process synthetic tenant (its loopback port changes every run).
pub const SYNTHETIC_BASE_URL: &str = "synthetic:";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Real,
    Synthetic,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Real => "real",
            Mode::Synthetic => "synthetic",
        }
    }
}

/// Where data comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceIdentity {
    pub mode: Mode,
    /// Normalized (`https://api.anthropic.com`), or [`SYNTHETIC_BASE_URL`].
    pub base_url: String,
    /// UUIDs of the tenant's organizations; empty = unknown.
    #[serde(default)]
    pub organizations: BTreeSet<String>,
}

impl SourceIdentity {
    pub fn new(mode: Mode, base_url: &str, organizations: impl IntoIterator<Item = String>) -> Self {
        let base_url = match mode {
            Mode::Synthetic => SYNTHETIC_BASE_URL.to_string(),
            Mode::Real => normalize_base_url(base_url),
        };
        let organizations = organizations.into_iter().map(|o| o.trim().to_ascii_lowercase()).collect();
        SourceIdentity { mode, base_url, organizations }
    }

    /// `real tenant {9101…, +2} at https://api.anthropic.com` (org UUIDs shortened; they are not secret
    /// but a line should stay a line).
    pub fn describe(&self) -> String {
        let tenant = match self.organizations.len() {
            0 => "unknown tenant".to_string(),
            _ => format!("tenant {}", tenant_label(&self.organizations)),
        };
        match self.mode {
            Mode::Synthetic => format!("synthetic {tenant}"),
            Mode::Real => format!("real {tenant} at {}", self.base_url),
        }
    }
}

/// `{9101…, +2}`: the first organization UUID, shortened, and how many more.
fn tenant_label(orgs: &BTreeSet<String>) -> String {
    let first: String = orgs.iter().next().map(|o| o.chars().take(8).collect()).unwrap_or_default();
    match orgs.len() {
        0 | 1 => format!("{{{first}…}}"),
        n => format!("{{{first}…, +{}}}", n - 1),
    }
}

/// Lower-case scheme and host, default port dropped, no trailing slash, no query or fragment.
pub fn normalize_base_url(s: &str) -> String {
    match url::Url::parse(s.trim()) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => s.trim().trim_end_matches('/').to_string(),
    }
}

/// A store's old binding, kept when `--reset-state` rebinds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Archived {
    pub binding_id: String,
    pub source: SourceIdentity,
    /// `archive/<id>/`: where its checkpoints were copied.
    pub archive: String,
    pub documents: usize,
    pub archived_at: Timestamp,
}

/// The binding document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    pub id: String,
    pub source: SourceIdentity,
    pub bound_at: Timestamp,
    #[serde(default)]
    pub previous: Vec<Archived>,
}

/// How a source compares with the one a state is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Same,
    /// Same source; the recorded organizations grow to this set (a new org, or a tenant first seen).
    Widened(BTreeSet<String>),
    /// Another source: one reason per difference.
    Differs(Vec<String>),
}

/// Pure comparison of the bound source with the current one.
pub fn compare(bound: &SourceIdentity, current: &SourceIdentity) -> Verdict {
    let mut why = Vec::new();
    if bound.mode != current.mode {
        why.push(format!("mode {} → {}", bound.mode.as_str(), current.mode.as_str()));
    }
    if bound.base_url != current.base_url {
        why.push(format!("base URL {} → {}", bound.base_url, current.base_url));
    }
    let (b, c) = (&bound.organizations, &current.organizations);
    if !b.is_empty() && !c.is_empty() && b.is_disjoint(c) {
        why.push(format!("tenant {} → {} (no organization in common)", tenant_label(b), tenant_label(c)));
    }
    if !why.is_empty() {
        return Verdict::Differs(why);
    }
    if c.is_subset(b) {
        Verdict::Same
    } else {
        Verdict::Widened(b.union(c).cloned().collect())
    }
}

/// What [`check_or_bind`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum BindOutcome {
    /// A fresh state, now bound.
    Bound {
        binding_id: String,
    },
    /// State from before source binding existed, now bound to the current source.
    Adopted {
        binding_id: String,
        documents: usize,
    },
    Matched {
        binding_id: String,
    },
    /// `--reset-state`: the old checkpoints were archived and the state rebound.
    Reset {
        binding_id: String,
        archive: String,
        documents: usize,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// Terminal: an operator decides (`--reset-state`, or point the sync back at its source).
    #[error("this state belongs to another source ({reasons}; bound to {bound}, this run is {current}); refusing to resume from its checkpoints: re-run with --reset-state to archive them and start a clean backfill")]
    Mismatch { reasons: String, bound: String, current: String },
    #[error("the source binding {key} is unreadable: {reason}; re-run with --reset-state to rebind")]
    Corrupt { key: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("identifying the source: {0}")]
    Api(#[from] ApiError),
}

impl BindingError {
    pub fn is_retryable(&self) -> bool {
        match self {
            BindingError::Mismatch { .. } | BindingError::Corrupt { .. } => false,
            BindingError::Store(e) => e.is_retryable() || matches!(e, StoreError::Conflict { .. }),
            BindingError::Api(e) => e.is_retryable(),
        }
    }
}

/// Identifies the source the client reaches: one request (`GET /organizations`, first page).
/// A key without `read:compliance_org_data` (403) leaves the tenant unknown.
pub async fn probe_identity(client: &ApiClient, mode: Mode) -> Result<SourceIdentity, BindingError> {
    let q = vec![("limit".to_string(), "1000".to_string())];
    let orgs = match client.get_json(paths::ORGANIZATIONS, &q, &CallStats::default()).await {
        Ok(r) => r
            .body
            .get("data")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|o| o.get("uuid").and_then(Value::as_str)).map(str::to_string).collect())
            .unwrap_or_default(),
        Err(ApiError::Forbidden { .. }) => {
            tracing::warn!("the key cannot list organizations; the state is bound to the base URL and mode only");
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    Ok(SourceIdentity::new(mode, &client.config().base_url, orgs))
}

/// The worker's check (no API call): the state must be bound to this mode and base URL (the
/// tenant was checked by the scheduler that enqueued the job). A state not bound yet passes.
pub async fn check_bound(state: &dyn StateStore, mode: Mode, base_url: &str) -> Result<(), BindingError> {
    let Some(v) = state.load(BINDING_KEY).await? else { return Ok(()) };
    let b: Binding = serde_json::from_value(v.value)
        .map_err(|e| BindingError::Corrupt { key: BINDING_KEY.into(), reason: e.to_string() })?;
    let current = SourceIdentity::new(mode, base_url, Vec::new());
    match compare(&b.source, &current) {
        Verdict::Differs(reasons) => Err(BindingError::Mismatch {
            reasons: reasons.join(", "),
            bound: b.source.describe(),
            current: current.describe(),
        }),
        _ => Ok(()),
    }
}

/// Whether a state key is a job checkpoint (what a reset archives): `<stream>` or `<stream>/…`.
fn is_checkpoint_key(key: &str) -> bool {
    crate::streams::specs().any(|s| key == s.name || key.starts_with(&format!("{}/", s.name)))
}

/// Copies every checkpoint to `archive/<id>/<key>` and replaces it with an empty state (keeping its
/// version line, so a stale writer still fails its conditional save). Returns how many.
async fn archive_checkpoints(state: &dyn StateStore, archive_id: &str) -> Result<usize, BindingError> {
    let mut n = 0;
    for key in state.keys("").await?.into_iter().filter(|k| is_checkpoint_key(k)) {
        let Some(doc) = state.load(&key).await? else { continue };
        if doc.value.get("reset").is_some() {
            continue; // already empty (an earlier reset)
        }
        let copy = json!({"key": key, "version": doc.version, "value": doc.value, "archived_at": Timestamp::now()});
        match state.save(&format!("{ARCHIVE_PREFIX}{archive_id}/{key}"), None, &copy).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // Every field of a job state defaults: this reads as "no checkpoint yet".
        let empty = json!({"reset": {"at": Timestamp::now(), "archive": format!("{ARCHIVE_PREFIX}{archive_id}/")}});
        state.save(&key, Some(doc.version), &empty).await?;
        n += 1;
    }
    Ok(n)
}

fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Checks the state against `current` and binds it when it is fresh (or predates binding).
/// With `reset`, the old checkpoints are archived and the state is bound to `current` whatever it
/// was bound to before.
pub async fn check_or_bind(
    state: &dyn StateStore,
    current: &SourceIdentity,
    reset: bool,
) -> Result<BindOutcome, BindingError> {
    for _ in 0..5 {
        let loaded = state.load(BINDING_KEY).await?;
        let (version, bound) = match &loaded {
            None => (None, None),
            Some(v) => match serde_json::from_value::<Binding>(v.value.clone()) {
                Ok(b) => (Some(v.version), Some(b)),
                Err(e) if reset => {
                    tracing::warn!(error = %e, "unreadable source binding replaced (--reset-state)");
                    (Some(v.version), None)
                }
                Err(e) => return Err(BindingError::Corrupt { key: BINDING_KEY.into(), reason: e.to_string() }),
            },
        };
        let binding_id = new_id("bind");
        let outcome = if reset {
            let archive_id = new_id("reset");
            let documents = archive_checkpoints(state, &archive_id).await?;
            let mut previous = bound.as_ref().map(|b| b.previous.clone()).unwrap_or_default();
            if let Some(b) = &bound {
                previous.push(Archived {
                    binding_id: b.id.clone(),
                    source: b.source.clone(),
                    archive: format!("{ARCHIVE_PREFIX}{archive_id}/"),
                    documents,
                    archived_at: Timestamp::now(),
                });
            }
            let doc = Binding { id: binding_id.clone(), source: current.clone(), bound_at: Timestamp::now(), previous };
            (doc, BindOutcome::Reset { binding_id, archive: format!("{ARCHIVE_PREFIX}{archive_id}/"), documents })
        } else if let Some(b) = bound {
            match compare(&b.source, current) {
                Verdict::Same => return Ok(BindOutcome::Matched { binding_id: b.id }),
                Verdict::Widened(organizations) => {
                    let id = b.id.clone();
                    let doc = Binding { source: SourceIdentity { organizations, ..b.source.clone() }, ..b };
                    (doc, BindOutcome::Matched { binding_id: id })
                }
                Verdict::Differs(reasons) => {
                    return Err(BindingError::Mismatch {
                        reasons: reasons.join(", "),
                        bound: b.source.describe(),
                        current: current.describe(),
                    })
                }
            }
        } else {
            let documents = state.keys("").await?.into_iter().filter(|k| is_checkpoint_key(k)).count();
            let doc = Binding {
                id: binding_id.clone(),
                source: current.clone(),
                bound_at: Timestamp::now(),
                previous: vec![],
            };
            if documents == 0 {
                (doc, BindOutcome::Bound { binding_id })
            } else {
                tracing::warn!(documents, source = %current.describe(), "checkpoints from before source binding: bound to this run's source (if this state ever synced another source, re-run with --reset-state)");
                (doc, BindOutcome::Adopted { binding_id, documents })
            }
        };
        let (doc, outcome) = outcome;
        let value = serde_json::to_value(&doc).map_err(|e| StoreError::Backend(e.to_string()))?;
        match state.save(BINDING_KEY, version, &value).await {
            Ok(_) => {
                tracing::info!(source = %current.describe(), ?outcome, "source binding");
                return Ok(outcome);
            }
            // someone bound it at the same moment: compare with what they wrote
            Err(StoreError::Conflict { .. }) if !reset => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Backend("the source binding kept changing under us; try again".into()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalStateStore;

    fn orgs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }
    const A: &str = "91012d09-e48b-438e-a489-1bebfd8fa6f9";
    const B: &str = "3c5e7a21-0f4d-4b8e-9a61-52d7c8e0b4af";
    const C: &str = "e8b2f0c4-6a1d-47f3-b95e-0d2c4a6f8e13";

    #[test]
    fn compare_table() {
        let real = |o: &[&str]| SourceIdentity::new(Mode::Real, "https://api.anthropic.com/", orgs(o));
        let syn = |o: &[&str]| SourceIdentity::new(Mode::Synthetic, "http://127.0.0.1:41873", orgs(o));
        let cases: Vec<(SourceIdentity, SourceIdentity, &str)> = vec![
            (real(&[A, B]), real(&[B, A]), "same"),
            (real(&[A, B]), real(&[A]), "same"), // an org unlinked: still the tenant
            (real(&[A]), real(&[A, C]), "widened"),
            (real(&[]), real(&[A]), "widened"), // tenant learnt
            (real(&[A]), real(&[]), "same"),    // key cannot list orgs now: base URL + mode decide
            (real(&[A]), real(&[C]), "differs:tenant"),
            (syn(&[A]), real(&[A]), "differs:mode"),
            (real(&[A]), syn(&[A]), "differs:mode"),
            (syn(&[A]), SourceIdentity::new(Mode::Synthetic, "http://127.0.0.1:5", orgs(&[A])), "same"),
            (real(&[A]), SourceIdentity::new(Mode::Real, "https://eu.proxy.example/", orgs(&[A])), "differs:base URL"),
            (real(&[A]), SourceIdentity::new(Mode::Real, "HTTPS://API.ANTHROPIC.COM:443", orgs(&[A])), "same"),
        ];
        for (bound, current, want) in cases {
            let got = compare(&bound, &current);
            let ok = match (want, &got) {
                ("same", Verdict::Same) => true,
                ("widened", Verdict::Widened(o)) => o.is_superset(&current.organizations),
                (w, Verdict::Differs(r)) if w.starts_with("differs:") => r.iter().any(|r| r.starts_with(&w[8..])),
                _ => false,
            };
            assert!(ok, "{} vs {}: want {want}, got {got:?}", bound.describe(), current.describe());
        }
    }

    #[tokio::test]
    async fn bind_refuse_reset_archives() {
        let dir = tempfile::tempdir().unwrap();
        let st = LocalStateStore::new(dir.path()).unwrap();
        let syn = SourceIdentity::new(Mode::Synthetic, "http://127.0.0.1:1", orgs(&[A]));
        let real = SourceIdentity::new(Mode::Real, "https://api.anthropic.com", orgs(&[B]));
        assert!(matches!(check_or_bind(&st, &syn, false).await.unwrap(), BindOutcome::Bound { .. }));
        st.save("activities", None, &json!({"checkpoint": {"watermark": "2026-11-30T10:00:00Z"}})).await.unwrap();
        st.save("users/9a1f", None, &json!({"checkpoint": null})).await.unwrap();
        assert!(matches!(check_or_bind(&st, &syn, false).await.unwrap(), BindOutcome::Matched { .. }));
        let e = check_or_bind(&st, &real, false).await.unwrap_err();
        let line = e.to_string();
        assert!(
            !line.contains('\n') && line.contains("--reset-state") && line.contains("mode synthetic → real"),
            "{line}"
        );
        assert!(!e.is_retryable());
        assert_eq!(st.load("activities").await.unwrap().unwrap().version, 1, "nothing touched by a refusal");
        let BindOutcome::Reset { archive, documents, .. } = check_or_bind(&st, &real, true).await.unwrap() else {
            panic!("not reset")
        };
        assert_eq!(documents, 2);
        let archived = st.load(&format!("{archive}activities")).await.unwrap().unwrap();
        assert_eq!(archived.value["value"]["checkpoint"]["watermark"], "2026-11-30T10:00:00Z");
        let now = st.load("activities").await.unwrap().unwrap();
        assert_eq!(now.version, 2, "reset advances the version line");
        let js: crate::streams::segment::JobState = serde_json::from_value(now.value).unwrap();
        assert_eq!(js, crate::streams::segment::JobState::default(), "a reset checkpoint reads as a first run");
        assert!(matches!(check_or_bind(&st, &real, false).await.unwrap(), BindOutcome::Matched { .. }));
        let b: Binding = serde_json::from_value(st.load(BINDING_KEY).await.unwrap().unwrap().value).unwrap();
        assert_eq!(b.previous.len(), 1);
        assert_eq!(b.previous[0].source.mode, Mode::Synthetic);
    }

    #[tokio::test]
    async fn workers_check_mode_and_base_url() {
        let dir = tempfile::tempdir().unwrap();
        let st = LocalStateStore::new(dir.path()).unwrap();
        assert!(check_bound(&st, Mode::Real, "https://api.anthropic.com").await.is_ok(), "unbound state passes");
        let syn = SourceIdentity::new(Mode::Synthetic, "http://127.0.0.1:1", orgs(&[A]));
        check_or_bind(&st, &syn, false).await.unwrap();
        assert!(check_bound(&st, Mode::Synthetic, "http://127.0.0.1:2").await.is_ok());
        let e = check_bound(&st, Mode::Real, "https://api.anthropic.com").await.unwrap_err();
        assert!(matches!(e, BindingError::Mismatch { .. }), "{e}");
    }

    #[tokio::test]
    async fn legacy_state_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let st = LocalStateStore::new(dir.path()).unwrap();
        st.save("chats", None, &json!({"checkpoint": {"after_id": "claude_chat_01Hx"}})).await.unwrap();
        st.save("keys/current", None, &json!({})).await.unwrap();
        let real = SourceIdentity::new(Mode::Real, "https://api.anthropic.com", orgs(&[A]));
        assert!(matches!(check_or_bind(&st, &real, false).await.unwrap(), BindOutcome::Adopted { documents: 1, .. }));
    }
}
