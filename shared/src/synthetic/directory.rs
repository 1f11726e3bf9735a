//! Directory and configuration of the synthetic tenant (spec §7.4 roles, §7.5 effective settings,
//! §7.6 groups): roles with permissions per organization, tenant-wide groups with members, the
//! effective settings of every linked organization (one row of each documented `type`) and the
//! parent's Compliance Access Keys. Generated from its own RNG stream, so adding it changes nothing
//! else a seed produces. [`Tenant::mutate`] flips settings, adds and deactivates keys, changes a
//! group's members and a role's permissions (what `compliance-lake diff` and the key-change
//! findings are tested on).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::ids::{self, rand_between, ts_z};
use super::Tenant;

/// Offset-less ISO 8601, as the docs' role and group examples show (`2025-03-12T18:22:41.123456`).
pub fn ts_naive(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// One role of one organization (`rbac_role_…`).
#[derive(Debug, Clone)]
pub struct Role {
    pub id: String,
    pub wire: Value,
    /// `{action, resource_id, resource_type}` in the order the API serves them.
    pub permissions: Vec<Value>,
}

/// One tenant-wide group (`rbac_group_…`).
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub wire: Value,
    /// `{user_id, email, created_at, updated_at}`.
    pub members: Vec<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Organization UUID → its roles.
    pub roles: BTreeMap<String, Vec<Role>>,
    pub groups: Vec<Group>,
    /// Organization UUID → its effective setting rows.
    pub settings: BTreeMap<String, Vec<Value>>,
    /// The parent's Compliance Access Keys (the same list for every linked organization).
    pub api_keys: Vec<Value>,
    /// Organizations whose settings endpoint answers 404 (feature not enabled).
    pub settings_disabled: BTreeSet<String>,
}

/// What a complete snapshot of each directory table holds (identities as `verify::identity`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryExpected {
    /// `{org_uuid}/{role_id}`.
    pub roles: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    /// `{group_id}/{user_id}`.
    pub group_members: BTreeSet<String>,
    /// Organization UUIDs whose settings are readable.
    pub org_settings: BTreeSet<String>,
    /// `{project_id}/{type}/{principal}/{granted_at}`.
    pub project_collaborators: BTreeSet<String>,
}

/// What one mutation changed in the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryMutation {
    /// `(org_uuid, setting name, old value, new value)`.
    pub flipped_settings: Vec<(String, String, Value, Value)>,
    pub added_keys: Vec<String>,
    pub deactivated_keys: Vec<String>,
    /// `(group_id, user_id)`.
    pub members_added: Vec<(String, String)>,
    pub members_removed: Vec<(String, String)>,
    /// `(org_uuid, role_id)` whose permissions changed.
    pub roles_changed: Vec<(String, String)>,
}

const ROLE_NAMES: &[(&str, &str)] = &[
    ("Owner", "Full control of the organization"),
    ("Admin", "Manage members, settings and billing"),
    ("Member", "Use Claude"),
    ("Claude Code User", "Use Claude Code"),
    ("Security Reviewer", "Read audit data and compliance exports"),
];
const ACTIONS: &[&str] = &[
    "chat",
    "claude_code",
    "manage_members",
    "manage_settings",
    "manage_billing",
    "view_audit_log",
    "manage_api_keys",
    "export_data",
    "manage_projects",
    "use_connectors",
    "manage_skills",
    "view_analytics",
];
const GROUPS: &[(&str, &str, &str)] = &[
    ("Engineering", "All engineers", "scim"),
    ("Security", "Security and compliance team", "direct"),
    ("Contractors", "External contractors (limited access)", "direct"),
    ("Leadership", "Executive team", "scim"),
];
const BOOLEANS: &[(&str, bool)] = &[
    ("ai_powered_artifacts_enabled", true),
    ("chat_enabled", true),
    ("claude_code_web_enabled", true),
    ("code_execution_enabled", true),
    ("code_execution_network_egress_enabled", false),
    ("content_redaction_enabled", true),
    ("directory_sync_enabled", true),
    ("hipaa_compliance_enabled", false),
    ("ip_allowlist_enabled", true),
    ("memory_enabled", false),
    ("skills_enabled", true),
    ("sso_claude_ai_enforced", true),
    ("sso_console_enforced", true),
    ("sso_enabled", true),
    ("web_search_enabled", true),
    ("work_across_apps_enabled", false),
];

/// The setting flipped by every mutation (SSO enforcement: what auditors ask about first).
pub const FLIPPED_SETTING: &str = "sso_claude_ai_enforced";

fn directory_rng(t: &Tenant, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(t.config.seed ^ 0xD1EC_7081_0000_0000 ^ salt)
}

fn permission(action: &str, org_uuid: &str) -> Value {
    json!({"action": action, "resource_id": org_uuid, "resource_type": "organization"})
}

fn settings_rows(rng: &mut ChaCha8Rng, domain: &str, i: usize) -> Vec<Value> {
    let mut rows: Vec<Value> = vec![json!({
        "name": "data_retention_periods", "type": "data_retention",
        "value": if i.is_multiple_of(2) {
            json!({"chat": {"type": "fixed", "timescale": "day", "duration": 90},
                   "project": {"type": "fixed", "timescale": "month", "duration": 12},
                   "local_session": {"type": "indefinite"}})
        } else {
            json!({"all": {"type": "fixed", "timescale": "day", "duration": 365}})
        },
    })];
    for (name, on) in BOOLEANS {
        // rows the org's admins cannot change are omitted (absence is not "off")
        if *name == "hipaa_compliance_enabled" && i % 2 == 1 {
            continue;
        }
        rows.push(json!({"name": name, "type": "boolean", "value": on}));
    }
    rows.push(json!({"name": "account_session_duration_seconds", "type": "integer",
        "value": if i.is_multiple_of(2) { json!(43_200) } else { Value::Null }}));
    rows.push(json!({"name": "claude_code_default_worker_environment_id", "type": "string",
        "value": format!("env_01{}", ids::suffix(rng, 22))}));
    rows.push(json!({"name": "claude_code_default_worker_pool_id", "type": "string", "value": null}));
    rows.push(json!({"name": "allowed_invite_domains", "type": "string_list", "value": [domain]}));
    rows.push(json!({"name": "disabled_admin_request_types", "type": "string_list", "value": []}));
    rows.push(json!({"name": "ip_allowlist_ip_ranges", "type": "string_list",
        "value": ["10.0.0.0/8", format!("192.0.2.{}/32", rng.gen_range(1..250))]}));
    rows.push(json!({"name": "sso_provisioning_mode", "type": "provisioning_mode",
        "value": if i.is_multiple_of(2) { "scim_advanced" } else { "jit_permissive" }}));
    rows
}

fn api_key(
    rng: &mut ChaCha8Rng,
    id: Option<String>,
    name: &str,
    scopes: &[&str],
    active: bool,
    at: DateTime<Utc>,
    by: &str,
) -> Value {
    json!({
        "type": "compliance_api_key",
        "id": id.unwrap_or_else(|| ids::tagged_id(rng, "apikey_")),
        "name": name,
        "scopes": scopes,
        "is_active": active,
        "created_at": ts_z(at),
        "created_by_id": by,
        "expires_at": null,
    })
}

impl Tenant {
    /// Generates the directory (called once at the end of [`Tenant::generate`]).
    pub(crate) fn generate_directory(&mut self) {
        let mut rng = directory_rng(self, 0);
        let (start, end) = (self.config.start, self.now);
        let mut d = Directory::default();
        for (i, o) in self.orgs.iter().enumerate() {
            let mut roles = Vec::new();
            for (ri, (name, desc)) in ROLE_NAMES.iter().enumerate() {
                let created = rand_between(&mut rng, o.created_at, start);
                let id = ids::tagged_id(&mut rng, "rbac_role_");
                let n = match ri {
                    0 => ACTIONS.len(), // the owner role holds every permission (paged in tests)
                    1 => 8,
                    _ => 2 + ri,
                };
                let perms = ACTIONS.iter().take(n).map(|a| permission(a, &o.uuid)).collect();
                roles.push(Role {
                    id: id.clone(),
                    wire: json!({"id": id, "name": name, "description": desc,
                        "created_at": ts_naive(created), "updated_at": ts_naive(created)}),
                    permissions: perms,
                });
            }
            roles.sort_by(|a, b| a.id.cmp(&b.id));
            d.roles.insert(o.uuid.clone(), roles);
            d.settings.insert(o.uuid.clone(), settings_rows(&mut rng, &self.domain, i));
            // a third organization has the settings feature off: its endpoint answers 404
            if i == 2 {
                d.settings_disabled.insert(o.uuid.clone());
            }
        }
        let users: Vec<(String, String)> = self.users.values().map(|u| (u.id.clone(), u.email.clone())).collect();
        let first_role: Vec<String> = d.roles.values().filter_map(|r| r.get(2).map(|x| x.id.clone())).take(2).collect();
        for (gi, (name, desc, source)) in GROUPS.iter().enumerate() {
            let created = rand_between(&mut rng, start - Duration::days(30), start);
            let id = ids::tagged_id(&mut rng, "rbac_group_");
            let mut members: Vec<(String, String)> =
                users.choose_multiple(&mut rng, (users.len() / 2 + gi).min(users.len())).cloned().collect();
            members.sort();
            let members = members
                .into_iter()
                .map(|(uid, email)| {
                    let at = rand_between(&mut rng, created, end - Duration::hours(1));
                    json!({"user_id": uid, "email": email, "created_at": ts_naive(at), "updated_at": ts_naive(at)})
                })
                .collect();
            d.groups.push(Group {
                id: id.clone(),
                wire: json!({"id": id, "name": name, "description": desc, "source_type": source,
                    "roles": if gi == 0 { json!(first_role) } else if gi == 2 { Value::Null } else { json!([]) },
                    "created_at": ts_naive(created), "updated_at": ts_naive(created)}),
                members,
            });
        }
        d.groups.sort_by(|a, b| a.id.cmp(&b.id));
        let owner = self.orgs.first().and_then(|o| o.members.first()).map(|m| m.user_id.clone()).unwrap_or_default();
        let ours = super::api_key_id_for(&crate::fake_api::synthetic_key());
        let k0 = start - Duration::days(60);
        d.api_keys = vec![
            api_key(&mut rng, None, "Legacy settings export", &["read:compliance_org_settings"], false, k0, &owner),
            api_key(
                &mut rng,
                Some(ours),
                "compliance-lake",
                &["read:compliance_activities", "read:compliance_user_data", "read:compliance_org_data"],
                true,
                k0 + Duration::days(10),
                &owner,
            ),
            api_key(
                &mut rng,
                None,
                "SIEM forwarder",
                &["read:compliance_activities"],
                true,
                k0 + Duration::days(20),
                &owner,
            ),
        ];
        self.directory = d;
    }

    /// Time passing for the directory (called by [`Tenant::mutate`]).
    pub(crate) fn mutate_directory(&mut self, prev: DateTime<Utc>, now: DateTime<Utc>) -> DirectoryMutation {
        let mut rng = directory_rng(self, self.mutations);
        let lo = prev + Duration::microseconds(1);
        let mut m = DirectoryMutation::default();
        let owner = self.orgs.first().and_then(|o| o.members.first()).map(|x| x.user_id.clone()).unwrap_or_default();
        let d = &mut self.directory;
        // SSO enforcement flipped in the first organization with readable settings
        let org = d.settings.keys().find(|o| !d.settings_disabled.contains(*o)).cloned();
        if let Some(org) = org {
            if let Some(rows) = d.settings.get_mut(&org) {
                for r in rows.iter_mut() {
                    if r.get("name").and_then(Value::as_str) == Some(FLIPPED_SETTING) {
                        let old = r.get("value").cloned().unwrap_or(Value::Null);
                        let new = Value::Bool(old.as_bool() != Some(true));
                        r["value"] = new.clone();
                        m.flipped_settings.push((org.clone(), FLIPPED_SETTING.to_string(), old, new));
                    }
                }
            }
        }
        // a new Compliance Access Key, and another one (never ours) deactivated
        let ours = super::api_key_id_for(&crate::fake_api::synthetic_key());
        if let Some(k) = d.api_keys.iter_mut().find(|k| {
            k.get("is_active").and_then(Value::as_bool) == Some(true)
                && k.get("id").and_then(Value::as_str) != Some(ours.as_str())
        }) {
            k["is_active"] = json!(false);
            m.deactivated_keys.push(k.get("id").and_then(Value::as_str).unwrap_or_default().to_string());
        }
        let at = rand_between(&mut rng, lo, now);
        let n = d.api_keys.len();
        let k = api_key(&mut rng, None, &format!("Export key {n}"), &["read:compliance_user_data"], true, at, &owner);
        m.added_keys.push(k.get("id").and_then(Value::as_str).unwrap_or_default().to_string());
        d.api_keys.push(k);
        // a group's members change: one user joins, one leaves
        let users: Vec<(String, String)> = self.users.values().map(|u| (u.id.clone(), u.email.clone())).collect();
        if let Some(g) = d.groups.first_mut() {
            let outside: Vec<&(String, String)> = users
                .iter()
                .filter(|(u, _)| {
                    !g.members.iter().any(|x| x.get("user_id").and_then(Value::as_str) == Some(u.as_str()))
                })
                .collect();
            if let Some((uid, email)) = outside.choose(&mut rng).map(|x| (*x).clone()) {
                let at = rand_between(&mut rng, lo, now);
                g.members.push(
                    json!({"user_id": uid, "email": email, "created_at": ts_naive(at), "updated_at": ts_naive(at)}),
                );
                m.members_added.push((g.id.clone(), uid));
            }
            if g.members.len() > 1 {
                let gone = g.members.remove(0);
                m.members_removed
                    .push((g.id.clone(), gone.get("user_id").and_then(Value::as_str).unwrap_or_default().to_string()));
            }
            g.wire["updated_at"] = json!(ts_naive(now));
        }
        // a role gains a permission
        if let Some((org, roles)) = d.roles.iter_mut().next() {
            if let Some(r) = roles.iter_mut().find(|r| r.permissions.len() < ACTIONS.len()) {
                let have: BTreeSet<String> = r
                    .permissions
                    .iter()
                    .filter_map(|p| p.get("action").and_then(Value::as_str))
                    .map(String::from)
                    .collect();
                if let Some(a) = ACTIONS.iter().find(|a| !have.contains(**a)) {
                    r.permissions.push(permission(a, org));
                    r.wire["updated_at"] = json!(ts_naive(now));
                    m.roles_changed.push((org.clone(), r.id.clone()));
                }
            }
        }
        m
    }

    /// `GET /organizations/{org}/roles` items (`None`: unknown organization).
    pub fn roles_json(&self, org: &str) -> Option<Vec<Value>> {
        self.org(org)?;
        Some(self.directory.roles.get(org).map(|r| r.iter().map(|x| x.wire.clone()).collect()).unwrap_or_default())
    }

    pub fn role_json(&self, org: &str, role: &str) -> Option<Value> {
        self.directory.roles.get(org)?.iter().find(|r| r.id == role).map(|r| r.wire.clone())
    }

    pub fn role_permissions_json(&self, org: &str, role: &str) -> Option<Vec<Value>> {
        self.directory.roles.get(org)?.iter().find(|r| r.id == role).map(|r| r.permissions.clone())
    }

    /// `GET /organizations/{org}/settings` (`None`: unknown org or the feature is not enabled).
    pub fn settings_json(&self, org: &str) -> Option<Value> {
        if self.directory.settings_disabled.contains(org) {
            return None;
        }
        let rows = self.directory.settings.get(org)?;
        Some(json!({
            "type": "effective_organization_settings",
            "organization_id": org,
            "settings": rows,
            "api_keys": self.directory.api_keys,
        }))
    }

    pub fn groups_json(&self) -> Vec<Value> {
        self.directory.groups.iter().map(|g| g.wire.clone()).collect()
    }

    pub fn group_json(&self, id: &str) -> Option<Value> {
        self.directory.groups.iter().find(|g| g.id == id).map(|g| g.wire.clone())
    }

    pub fn group_members_json(&self, id: &str) -> Option<Vec<Value>> {
        self.directory.groups.iter().find(|g| g.id == id).map(|g| g.members.clone())
    }

    /// What a complete snapshot of each directory table holds now.
    pub fn directory_expected(&self) -> DirectoryExpected {
        let d = &self.directory;
        let mut e = DirectoryExpected::default();
        for (org, roles) in &d.roles {
            for r in roles {
                e.roles.insert(format!("{org}/{}", r.id));
            }
        }
        for g in &d.groups {
            e.groups.insert(g.id.clone());
            for m in &g.members {
                e.group_members.insert(format!("{}/{}", g.id, m.get("user_id").and_then(Value::as_str).unwrap_or("")));
            }
        }
        e.org_settings = d.settings.keys().filter(|o| !d.settings_disabled.contains(*o)).cloned().collect();
        for p in &self.projects {
            for c in self.project_collaborators_json(&p.id).unwrap_or_default() {
                e.project_collaborators.insert(collaborator_identity(&p.id, &c));
            }
        }
        e
    }
}

/// `{project_id}/{type}/{principal}/{granted_at}`: a collaborator row's identity in one snapshot.
pub fn collaborator_identity(project_id: &str, c: &Value) -> String {
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
    let ty = s("type");
    let principal = match ty {
        "user" => s("user_id"),
        "group" => s("group_id"),
        "organization" => s("organization_uuid"),
        "organization_role" => s("organization_role"),
        _ => "",
    };
    format!("{project_id}/{ty}/{principal}/{}", s("granted_at"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{MutationConfig, TenantConfig};

    #[test]
    fn directory_is_deterministic_and_mutates() {
        let a = Tenant::generate(TenantConfig::small());
        let b = Tenant::generate(TenantConfig::small());
        assert_eq!(a.groups_json(), b.groups_json());
        let org = a.orgs[0].uuid.clone();
        assert_eq!(a.settings_json(&org), b.settings_json(&org));
        let s = a.settings_json(&org).unwrap();
        let types: BTreeSet<&str> =
            s["settings"].as_array().unwrap().iter().filter_map(|r| r["type"].as_str()).collect();
        for t in ["boolean", "integer", "string", "string_list", "provisioning_mode", "data_retention"] {
            assert!(types.contains(t), "{t}");
        }
        let mut t = a;
        let m = t.mutate(&MutationConfig::at(t.now + Duration::hours(1)));
        let d = &m.directory;
        assert_eq!(d.flipped_settings.len(), 1);
        assert_eq!(d.added_keys.len(), 1);
        assert_eq!(d.deactivated_keys.len(), 1);
        assert_eq!((d.members_added.len(), d.members_removed.len()), (1, 1));
        assert_eq!(d.roles_changed.len(), 1);
        let after = t.settings_json(&d.flipped_settings[0].0).unwrap();
        let row = after["settings"].as_array().unwrap().iter().find(|r| r["name"] == FLIPPED_SETTING).unwrap();
        assert_eq!(row["value"], json!(false));
    }
}
