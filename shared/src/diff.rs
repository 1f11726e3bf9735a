//! Change reports between two directory snapshots (`compliance-lake diff settings|roles|groups`):
//! what was added, removed and changed — the question auditors ask ("when was SSO enforcement
//! turned off?", "who joined the Security group?").
//!
//! A snapshot is the set of rows one run wrote for one scope (an organization for settings and
//! roles, the tenant for groups), timed by the newest `_ingest.fetched_at` among them. The latest
//! snapshot of each scope is compared with the latest one taken at or before `since` (or, without
//! `since`, with the one before it). Everything here is pure except [`load`], which reads the lake.

use crate::store::{ObjectSink, StoreError, Table};
use crate::verify::read_table;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKind {
    Settings,
    Roles,
    Groups,
}

impl DiffKind {
    pub fn parse(s: &str) -> Option<DiffKind> {
        match s {
            "settings" => Some(DiffKind::Settings),
            "roles" => Some(DiffKind::Roles),
            "groups" => Some(DiffKind::Groups),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            DiffKind::Settings => "settings",
            DiffKind::Roles => "roles",
            DiffKind::Groups => "groups",
        }
    }
}

/// `--since`: an RFC 3339 instant, or a duration back from `now` (`90m`, `24h`, `7d`, `2w`, `30s`).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 =
        num.parse().map_err(|_| format!("--since {s:?}: expected an RFC 3339 time or a duration like 24h, 7d"))?;
    let d = match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        "w" => chrono::Duration::weeks(n),
        _ => return Err(format!("--since {s:?}: unknown unit {unit:?} (use s, m, h, d or w)")),
    };
    Ok(now - d)
}

/// One snapshot of one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotRef {
    pub run_id: String,
    pub taken_at: String,
}

#[derive(Debug, Clone)]
struct Snap {
    at: DateTime<Utc>,
    r: SnapshotRef,
    rows: Vec<Value>,
}

/// A field whose value differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// One item added, removed or changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// What the item is: a setting's `name`, `api_key:<id>`, a role or group id.
    pub item: String,
    /// A readable name where the item has one (a role's or group's `name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Parts added to the item (a role's permissions, a group's members).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Change {
    fn new(change: &'static str, item: impl Into<String>) -> Self {
        Change { change, item: item.into(), name: None, fields: vec![], added: vec![], removed: vec![], note: None }
    }
}

/// The report of one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeDiff {
    /// Organization UUID (settings, roles) or `tenant` (groups).
    pub scope: String,
    pub from: Option<SnapshotRef>,
    pub to: SnapshotRef,
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffReport {
    pub kind: &'static str,
    pub since: Option<String>,
    pub scopes: Vec<ScopeDiff>,
}

impl DiffReport {
    pub fn total_changes(&self) -> usize {
        self.scopes.iter().map(|s| s.changes.len()).sum()
    }
}

fn str_at<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Rows grouped by scope, then by run, each group a snapshot sorted by time.
fn snapshots(rows: Vec<Value>, scope_of: impl Fn(&Value) -> String) -> BTreeMap<String, Vec<Snap>> {
    let mut by: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for r in rows {
        let Some(run) = r.pointer("/_ingest/run_id").and_then(Value::as_str).map(str::to_string) else { continue };
        by.entry((scope_of(&r), run)).or_default().push(r);
    }
    let mut out: BTreeMap<String, Vec<Snap>> = BTreeMap::new();
    for ((scope, run), rows) in by {
        let taken = rows.iter().filter_map(|r| r.pointer("/_ingest/fetched_at").and_then(Value::as_str)).max();
        let Some(taken) = taken.map(str::to_string) else { continue };
        let Some(at) = parse_ts(&taken) else { continue };
        out.entry(scope).or_default().push(Snap { at, r: SnapshotRef { run_id: run, taken_at: taken }, rows });
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.at.cmp(&b.at).then(a.r.run_id.cmp(&b.r.run_id)));
    }
    out
}

/// `(old, new)`: the latest snapshot and the one to compare it with.
fn pick(snaps: &[Snap], since: Option<DateTime<Utc>>) -> (Option<&Snap>, Option<&Snap>) {
    let Some(new) = snaps.last() else { return (None, None) };
    let old = match since {
        Some(t) => snaps.iter().rev().find(|s| s.at <= t),
        None => snaps.iter().rev().nth(1),
    };
    (old, Some(new))
}

/// Top-level fields that differ, ignoring provenance and the fields listed in `skip`.
fn field_changes(old: &Value, new: &Value, skip: &[&str]) -> Vec<FieldChange> {
    let empty = Map::new();
    let (o, n) = (old.as_object().unwrap_or(&empty), new.as_object().unwrap_or(&empty));
    let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    keys.into_iter()
        .filter(|k| !k.starts_with('_') && !skip.contains(&k.as_str()))
        .filter_map(|k| {
            let (a, b) = (o.get(k).cloned().unwrap_or(Value::Null), n.get(k).cloned().unwrap_or(Value::Null));
            (a != b).then(|| FieldChange { field: k.clone(), old: a, new: b })
        })
        .collect()
}

/// Added / removed / changed between two keyed item sets.
fn diff_items(
    old: &BTreeMap<String, Value>,
    new: &BTreeMap<String, Value>,
    skip: &[&str],
    name_of: impl Fn(&Value) -> Option<String>,
    mut parts: impl FnMut(&str, &Value, &Value, &mut Change),
) -> Vec<Change> {
    let mut out = Vec::new();
    for (k, n) in new {
        match old.get(k) {
            None => {
                let mut c = Change::new("added", k.clone());
                c.name = name_of(n);
                out.push(c);
            }
            Some(o) => {
                let mut c = Change::new("changed", k.clone());
                c.name = name_of(n);
                c.fields = field_changes(o, n, skip);
                parts(k, o, n, &mut c);
                if !c.fields.is_empty() || !c.added.is_empty() || !c.removed.is_empty() || c.note.is_some() {
                    out.push(c);
                }
            }
        }
    }
    for (k, o) in old {
        if !new.contains_key(k) {
            let mut c = Change::new("removed", k.clone());
            c.name = name_of(o);
            out.push(c);
        }
    }
    out
}

/// Settings rows by `name` (their `value` compared) and Compliance Access Keys as `api_key:<id>`.
fn settings_items(snap: &Snap) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    // one row per organization per snapshot; should a run hold two, the later fetch wins
    let mut rows: Vec<&Value> = snap.rows.iter().collect();
    rows.sort_by_key(|r| r.pointer("/_ingest/fetched_at").and_then(Value::as_str).unwrap_or("").to_string());
    for r in rows {
        for s in r.get("settings").and_then(Value::as_array).into_iter().flatten() {
            if let Some(n) = str_at(s, "name") {
                m.insert(n.to_string(), s.clone());
            }
        }
        for k in r.get("api_keys").and_then(Value::as_array).into_iter().flatten() {
            if let Some(id) = str_at(k, "id") {
                m.insert(format!("api_key:{id}"), k.clone());
            }
        }
    }
    m
}

fn by_id(rows: &[Value]) -> BTreeMap<String, Value> {
    rows.iter().filter_map(|r| Some((str_at(r, "id")?.to_string(), r.clone()))).collect()
}

fn permission_label(p: &Value) -> String {
    format!(
        "{} on {}:{}",
        str_at(p, "action").unwrap_or("?"),
        str_at(p, "resource_type").unwrap_or("?"),
        str_at(p, "resource_id").unwrap_or("?")
    )
}

fn set_diff(old: &BTreeSet<String>, new: &BTreeSet<String>, c: &mut Change) {
    c.added.extend(new.difference(old).cloned());
    c.removed.extend(old.difference(new).cloned());
}

fn name_of(v: &Value) -> Option<String> {
    str_at(v, "name").map(str::to_string)
}

/// Compares the snapshots of one scope.
fn diff_scope(
    kind: DiffKind,
    scope: &str,
    old: Option<&Snap>,
    new: &Snap,
    members: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
) -> ScopeDiff {
    let mut d = ScopeDiff {
        scope: scope.to_string(),
        from: old.map(|s| s.r.clone()),
        to: new.r.clone(),
        changes: vec![],
        note: None,
    };
    let Some(old) = old else {
        d.note = Some("no earlier snapshot to compare with".into());
        return d;
    };
    if old.r.run_id == new.r.run_id {
        d.note = Some("no snapshot taken since".into());
        return d;
    }
    d.changes = match kind {
        DiffKind::Settings => {
            let label = |v: &Value| {
                if str_at(v, "type") == Some("compliance_api_key") {
                    name_of(v)
                } else {
                    None
                }
            };
            diff_items(&settings_items(old), &settings_items(new), &[], label, |_, _, _, _| {})
        }
        DiffKind::Roles => {
            diff_items(&by_id(&old.rows), &by_id(&new.rows), &["permissions", "updated_at"], name_of, |_, o, n, c| {
                let perms = |v: &Value| -> BTreeSet<String> {
                    v.get("permissions").and_then(Value::as_array).into_iter().flatten().map(permission_label).collect()
                };
                set_diff(&perms(o), &perms(n), c);
            })
        }
        DiffKind::Groups => {
            let none = BTreeMap::new();
            let (mo, mn) = (members.get(&old.r.run_id).unwrap_or(&none), members.get(&new.r.run_id).unwrap_or(&none));
            diff_items(
                &by_id(&old.rows),
                &by_id(&new.rows),
                &["updated_at", "members_error"],
                name_of,
                |id, o, n, c| {
                    let complete = |v: &Value| str_at(v, "members_status").is_none_or(|s| s == "complete");
                    if !complete(o) || !complete(n) {
                        c.note = Some(
                            "members were not readable in one of the snapshots (403); member changes unknown".into(),
                        );
                        return;
                    }
                    let empty = BTreeSet::new();
                    set_diff(mo.get(id).unwrap_or(&empty), mn.get(id).unwrap_or(&empty), c);
                },
            )
        }
    };
    d
}

/// The report for `kind` from the tables' rows (pure; [`load`] reads them from a lake).
pub fn diff(kind: DiffKind, rows: Vec<Value>, member_rows: Vec<Value>, since: Option<DateTime<Utc>>) -> DiffReport {
    let scope_of = |r: &Value| match kind {
        DiffKind::Groups => "tenant".to_string(),
        _ => str_at(r, "organization_uuid").unwrap_or("").to_string(),
    };
    // run id → group id → members (`user_id (email)`)
    let mut members: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for m in &member_rows {
        let (Some(run), Some(g), Some(u)) =
            (m.pointer("/_ingest/run_id").and_then(Value::as_str), str_at(m, "group_id"), str_at(m, "user_id"))
        else {
            continue;
        };
        let label = match str_at(m, "email") {
            Some(e) => format!("{u} ({e})"),
            None => u.to_string(),
        };
        members.entry(run.to_string()).or_default().entry(g.to_string()).or_default().insert(label);
    }
    let mut scopes = Vec::new();
    for (scope, snaps) in snapshots(rows, scope_of) {
        let (old, new) = pick(&snaps, since);
        if let Some(new) = new {
            scopes.push(diff_scope(kind, &scope, old, new, &members));
        }
    }
    DiffReport { kind: kind.as_str(), since: since.map(|t| t.to_rfc3339()), scopes }
}

/// Reads the tables of `kind` from a lake and reports.
pub async fn load(
    sink: &dyn ObjectSink,
    kind: DiffKind,
    since: Option<DateTime<Utc>>,
) -> Result<DiffReport, StoreError> {
    let (rows, members) = match kind {
        DiffKind::Settings => (read_table(sink, Table::OrgSettings).await?, vec![]),
        DiffKind::Roles => (read_table(sink, Table::Roles).await?, vec![]),
        DiffKind::Groups => (read_table(sink, Table::Groups).await?, read_table(sink, Table::GroupMembers).await?),
    };
    Ok(diff(kind, rows, members, since))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingest(run: &str, at: &str) -> Value {
        json!({"run_id": run, "fetched_at": at})
    }

    fn settings(run: &str, at: &str, sso: bool, keys: Value) -> Value {
        json!({"organization_uuid": "o1", "settings": [
            {"name": "sso_claude_ai_enforced", "type": "boolean", "value": sso},
            {"name": "chat_enabled", "type": "boolean", "value": true}],
            "api_keys": keys, "_ingest": ingest(run, at)})
    }

    #[test]
    fn since_parses_times_and_durations() {
        let now = Utc::now();
        assert_eq!(parse_since("24h", now).unwrap(), now - chrono::Duration::hours(24));
        assert_eq!(parse_since("7d", now).unwrap(), now - chrono::Duration::days(7));
        assert_eq!(parse_since("2026-01-01T00:00:00Z", now).unwrap().to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("3y", now).is_err());
    }

    #[test]
    fn settings_flip_and_key_changes() {
        let k =
            |id: &str, active: bool| json!({"type": "compliance_api_key", "id": id, "name": id, "is_active": active});
        let rows = vec![
            settings("r1", "2026-01-01T00:00:00Z", true, json!([k("a", true), k("b", true)])),
            settings("r2", "2026-01-02T00:00:00Z", true, json!([k("a", true), k("b", true)])),
            settings("r3", "2026-01-03T00:00:00Z", false, json!([k("a", true), k("b", false), k("c", true)])),
        ];
        let r = diff(DiffKind::Settings, rows.clone(), vec![], None);
        let s = &r.scopes[0];
        assert_eq!(s.from.as_ref().unwrap().run_id, "r2");
        assert_eq!(s.to.run_id, "r3");
        let by: BTreeMap<&str, &Change> = s.changes.iter().map(|c| (c.item.as_str(), c)).collect();
        let sso = by["sso_claude_ai_enforced"];
        assert_eq!(sso.change, "changed");
        assert_eq!(sso.fields, vec![FieldChange { field: "value".into(), old: json!(true), new: json!(false) }]);
        assert_eq!(by["api_key:b"].fields[0].field, "is_active");
        assert_eq!(by["api_key:c"].change, "added");
        assert!(!by.contains_key("chat_enabled"));
        // --since before the second snapshot: compared with the first
        let since = parse_ts("2026-01-01T12:00:00Z");
        assert_eq!(diff(DiffKind::Settings, rows.clone(), vec![], since).scopes[0].from.as_ref().unwrap().run_id, "r1");
        // --since after the latest: nothing changed since
        let since = parse_ts("2026-01-05T00:00:00Z");
        let r = diff(DiffKind::Settings, rows, vec![], since);
        assert!(r.scopes[0].changes.is_empty() && r.scopes[0].note.is_some());
    }

    #[test]
    fn roles_and_groups() {
        let role = |run: &str, at: &str, perms: Value| {
            json!({"id": "rbac_role_1", "name": "Admin", "organization_uuid": "o1", "permissions": perms,
                   "updated_at": at, "_ingest": ingest(run, at)})
        };
        let p = |a: &str| json!({"action": a, "resource_type": "organization", "resource_id": "o1"});
        let rows = vec![
            role("r1", "2026-01-01T00:00:00Z", json!([p("chat")])),
            role("r2", "2026-01-02T00:00:00Z", json!([p("chat"), p("export_data")])),
        ];
        let r = diff(DiffKind::Roles, rows, vec![], None);
        let c = &r.scopes[0].changes[0];
        assert_eq!(
            (c.change, c.added.clone(), c.fields.len()),
            ("changed", vec!["export_data on organization:o1".into()], 0)
        );

        let g = |run: &str, at: &str, status: &str| json!({"id": "rbac_group_1", "name": "Security", "members_status": status, "_ingest": ingest(run, at)});
        let m = |run: &str, u: &str| json!({"group_id": "rbac_group_1", "user_id": u, "_ingest": ingest(run, "x")});
        let groups = vec![g("r1", "2026-01-01T00:00:00Z", "complete"), g("r2", "2026-01-02T00:00:00Z", "complete")];
        let members = vec![m("r1", "u1"), m("r1", "u2"), m("r2", "u2"), m("r2", "u3")];
        let r = diff(DiffKind::Groups, groups.clone(), members.clone(), None);
        let c = &r.scopes[0].changes[0];
        assert_eq!((c.added.clone(), c.removed.clone()), (vec!["u3".to_string()], vec!["u1".to_string()]));
        let mut forbidden = groups;
        forbidden[1] = g("r2", "2026-01-02T00:00:00Z", "forbidden");
        let r = diff(DiffKind::Groups, forbidden, members, None);
        let c = &r.scopes[0].changes[0];
        assert!(c.added.is_empty() && c.note.is_some(), "{c:?}");
    }
}
