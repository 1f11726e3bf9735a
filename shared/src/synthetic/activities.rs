//! Activity-feed record builders (types and fields from spec Appendix A).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::ids::{self, ts_z};
use super::{text, ActivityRecord, Tenant, UserProfile};

/// Build an activity record. Keys are emitted in alphabetical order with `organization_uuid`
/// last, as observed live.
pub(crate) fn build(
    id: String,
    created_at: DateTime<Utc>,
    activity_type: &str,
    org: Option<(&str, &str)>,
    actor: Value,
    extra: Vec<(&str, Value)>,
) -> ActivityRecord {
    let mut sorted: BTreeMap<String, Value> = BTreeMap::new();
    sorted.insert("actor".into(), actor.clone());
    sorted.insert("created_at".into(), json!(ts_z(created_at)));
    sorted.insert("id".into(), json!(id));
    sorted.insert("organization_id".into(), json!(org.map(|o| o.0)));
    sorted.insert("type".into(), json!(activity_type));
    for (k, v) in extra {
        sorted.insert(k.to_string(), v);
    }
    let mut wire = Map::new();
    for (k, v) in sorted {
        wire.insert(k, v);
    }
    wire.insert("organization_uuid".into(), json!(org.map(|o| o.1)));
    let actor_user_id = if actor.get("type").and_then(Value::as_str) == Some("user_actor") {
        actor.get("user_id").and_then(Value::as_str).map(str::to_string)
    } else {
        None
    };
    ActivityRecord {
        id,
        created_at,
        visible: true,
        activity_type: activity_type.to_string(),
        organization_id: org.map(|o| o.0.to_string()),
        organization_uuid: org.map(|o| o.1.to_string()),
        actor_user_id,
        wire: Value::Object(wire),
    }
}

fn sorted_obj(pairs: Vec<(&str, Value)>) -> Value {
    let mut b: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in pairs {
        b.insert(k.to_string(), v);
    }
    let mut m = Map::new();
    for (k, v) in b {
        m.insert(k, v);
    }
    Value::Object(m)
}

pub(crate) fn user_actor(u: &UserProfile) -> Value {
    sorted_obj(vec![
        ("email_address", json!(u.email)),
        ("ip_address", json!(u.ip_address)),
        ("type", json!("user_actor")),
        ("user_agent", json!(u.user_agent)),
        ("user_id", json!(u.id)),
    ])
}

/// Actor for automated actions whose user can no longer be resolved.
pub(crate) fn system_actor() -> Value {
    sorted_obj(vec![("service", json!("claude-ai-lifecycle")), ("type", json!("system_actor"))])
}

pub(crate) fn api_actor(api_key_id: &str, ip: &str, ua: &str) -> Value {
    sorted_obj(vec![
        ("api_key_id", json!(api_key_id)),
        ("ip_address", json!(ip)),
        ("type", json!("api_actor")),
        ("user_agent", json!(ua)),
    ])
}

fn scim_actor<R: Rng + ?Sized>(rng: &mut R, directory_id: &str) -> Value {
    sorted_obj(vec![
        ("directory_id", json!(directory_id)),
        ("idp_connection_type", json!(*["OktaSCIMV2", "AzureSCIMV2"].choose(rng).unwrap_or(&"OktaSCIMV2"))),
        ("type", json!("scim_directory_sync_actor")),
        ("workos_event_id", json!(format!("event_{}", ids::suffix(rng, 26)))),
    ])
}

/// Build the `compliance_api_accessed` row emitted for a request to the fake server.
#[allow(clippy::too_many_arguments)]
pub fn compliance_api_accessed(
    id: String,
    created_at: DateTime<Utc>,
    api_key_id: &str,
    ip: &str,
    user_agent: &str,
    request_id: &str,
    method: &str,
    url: &str,
    status: u16,
) -> ActivityRecord {
    build(
        id,
        created_at,
        "compliance_api_accessed",
        None,
        api_actor(api_key_id, ip, user_agent),
        vec![
            ("request_body", Value::Null),
            ("request_id", json!(request_id)),
            ("request_method", json!(method)),
            ("status_code", json!(status)),
            ("url", json!(url)),
        ],
    )
}

/// Stable `apikey_01…` id derived from a key string (no secret material in it).
pub fn api_key_id_for(key: &str) -> String {
    let h = super::wire::md5_hex(key.as_bytes());
    let mut out = String::from("apikey_01");
    for b in h.bytes().take(22) {
        out.push(ids::ID_ALPHABET[(b as usize) % ids::ID_ALPHABET.len()] as char);
    }
    out
}

/// Context shared by the random-activity generator.
#[derive(Debug, Clone)]
pub(crate) struct FillCtx {
    pub directory_id: String,
    pub api_key_id: String,
    pub api_ip: String,
    pub admin_key_id: String,
}

impl FillCtx {
    pub fn new<R: Rng + ?Sized>(rng: &mut R) -> Self {
        FillCtx {
            directory_id: format!("directory_{}", ids::suffix(rng, 26)),
            api_key_id: ids::tagged_id(rng, "apikey_"),
            api_ip: super::secrets::ipv4(rng),
            admin_key_id: ids::tagged_id(rng, "apikey_"),
        }
    }
}

/// Per-org lookup tables for the random-activity generator (built once per batch).
pub(crate) struct FillIndex<'a> {
    chats: Vec<Vec<&'a super::ChatRecord>>,
    projects: Vec<Vec<&'a super::ProjectRecord>>,
    files: Vec<&'a super::FileRecord>,
    artifacts: Vec<&'a super::ArtifactRecord>,
}

impl<'a> FillIndex<'a> {
    pub fn build(t: &'a Tenant) -> Self {
        let chats = t.orgs.iter().map(|o| t.chats.iter().filter(|c| c.organization_uuid == o.uuid).collect()).collect();
        let projects =
            t.orgs.iter().map(|o| t.projects.iter().filter(|p| p.organization_uuid == o.uuid).collect()).collect();
        FillIndex {
            chats,
            projects,
            files: t.files.values().filter(|f| !f.deleted).collect(),
            artifacts: t.artifacts.values().collect(),
        }
    }
}

/// One random "background" activity at `at` for a random current member.
pub(crate) fn random_activity<R: Rng + ?Sized>(
    rng: &mut R,
    t: &Tenant,
    ctx: &FillCtx,
    idx: &FillIndex<'_>,
    at: DateTime<Utc>,
) -> Option<ActivityRecord> {
    // pick an org and a member
    let oi = rng.gen_range(0..t.orgs.len().max(1));
    let org = t.orgs.get(oi)?;
    let member = org.members.choose(rng)?;
    let user = t.users.get(&member.user_id)?;
    let org_ref = Some((org.org_id.as_str(), org.uuid.as_str()));
    let id = ids::tagged_id(rng, "activity_");
    let chats = idx.chats.get(oi)?;
    let projects = idx.projects.get(oi)?;
    let roll = rng.gen_range(0..1000);
    let mut rec = match roll {
        0..=159 => build(
            id,
            at,
            "sso_login_succeeded",
            None,
            user_actor(user),
            vec![("auth_method", json!("sso")), ("mfa_method", Value::Null)],
        ),
        160..=189 => build(
            id,
            at,
            "magic_link_login_succeeded",
            None,
            user_actor(user),
            vec![("auth_method", json!("magic_link")), ("mfa_method", json!("not_used"))],
        ),
        190..=219 => {
            let actor = sorted_obj(vec![
                ("ip_address", json!(user.ip_address)),
                ("type", json!("unauthenticated_user_actor")),
                ("unauthenticated_email_address", json!(user.email)),
                ("user_agent", json!(user.user_agent)),
            ]);
            let ty = if roll < 212 { "sso_login_initiated" } else { "sso_login_failed" };
            build(id, at, ty, None, actor, vec![])
        }
        220..=249 => build(id, at, "user_logged_out", None, user_actor(user), vec![]),
        250..=499 => {
            let c = chats.choose(rng)?;
            let ty = match roll {
                250..=419 => "claude_chat_viewed",
                420..=479 => "claude_chat_updated",
                _ => "claude_chat_settings_updated",
            };
            build(
                id,
                at,
                ty,
                org_ref,
                user_actor(user),
                vec![("claude_chat_id", json!(c.id)), ("claude_project_id", json!(c.project_id))],
            )
        }
        500..=549 => {
            let f = idx.files.choose(rng)?;
            build(
                id,
                at,
                "claude_file_viewed",
                org_ref,
                user_actor(user),
                vec![
                    ("claude_artifact_id", Value::Null),
                    ("claude_file_id", json!(f.id)),
                    ("claude_project_id", json!(f.project_id)),
                    ("filename", json!(f.filename)),
                ],
            )
        }
        550..=629 => {
            let p = projects.choose(rng)?;
            build(
                id,
                at,
                "claude_project_viewed",
                org_ref,
                user_actor(user),
                vec![("claude_project_id", json!(p.id)), ("preview_only", json!(rng.gen_bool(0.2)))],
            )
        }
        630..=659 => {
            let p = projects.choose(rng)?;
            let did = p.doc_ids.choose(rng)?;
            let d = t.documents.get(did)?;
            build(
                id,
                at,
                "claude_project_document_viewed",
                org_ref,
                user_actor(user),
                vec![
                    ("claude_project_document_id", json!(d.id)),
                    ("claude_project_id", json!(p.id)),
                    ("filename", json!(d.filename)),
                ],
            )
        }
        660..=689 => {
            let a = idx.artifacts.choose(rng)?;
            build(
                id,
                at,
                "claude_artifact_viewed",
                org_ref,
                user_actor(user),
                vec![("claude_artifact_id", json!(a.id)), ("claude_artifact_version_id", json!(a.version_id))],
            )
        }
        690..=809 => {
            let paths = [
                "/v1/compliance/activities?limit=1000",
                "/v1/compliance/apps/chats?order_by=updated_at&limit=500",
                "/v1/compliance/organizations",
                "/v1/compliance/apps/projects?limit=100",
            ];
            let rid = format!("req_011C{}", ids::suffix(rng, 20));
            compliance_api_accessed(
                id,
                at,
                &ctx.api_key_id,
                &ctx.api_ip,
                "python-httpx/0.28.1",
                &rid,
                "GET",
                &format!("https://api.anthropic.com{}", paths.choose(rng).unwrap_or(&paths[0])),
                200,
            )
        }
        810..=849 => build(
            id,
            at,
            "scim_user_updated",
            org_ref,
            scim_actor(rng, &ctx.directory_id),
            vec![("user_id", json!(user.id))],
        ),
        850..=869 => {
            let invitee = format!(
                "{}.{}@{}",
                text::ascii_slug(text::pick(rng, text::FIRST_NAMES)),
                text::ascii_slug(text::pick(rng, text::LAST_NAMES)),
                t.domain
            );
            build(
                id,
                at,
                "org_user_invite_sent",
                org_ref,
                user_actor(user),
                vec![
                    ("invited_email", json!(invitee)),
                    ("invited_rbac_group_ids", Value::Null),
                    ("invited_role", json!("user")),
                    ("invited_seat_tier", Value::Null),
                ],
            )
        }
        870..=884 => {
            let target = org.members.choose(rng)?;
            let tu = t.users.get(&target.user_id)?;
            build(
                id,
                at,
                "claude_user_role_updated",
                org_ref,
                user_actor(user),
                vec![
                    ("current_role", json!(target.role)),
                    ("previous_role", json!("user")),
                    ("user_email", json!(tu.email)),
                    ("user_id", json!(tu.id)),
                ],
            )
        }
        885..=904 => build(
            id,
            at,
            "rbac_role_assigned",
            org_ref,
            user_actor(user),
            vec![
                ("principal_id", json!(member.user_id)),
                ("principal_type", json!("user")),
                ("role_id", json!(ids::tagged_id(rng, "rbac_role_"))),
            ],
        ),
        905..=914 => {
            let actor = sorted_obj(vec![
                ("admin_api_key_id", json!(ctx.admin_key_id)),
                ("ip_address", json!(ctx.api_ip)),
                ("type", json!("admin_api_key_actor")),
                ("user_agent", json!("curl/8.9.1")),
            ]);
            build(
                id,
                at,
                "org_compliance_api_settings_updated",
                org_ref,
                actor,
                vec![("compliance_api_enabled", json!(true)), ("compliance_api_logging_enabled", json!(true))],
            )
        }
        915..=929 => build(
            id,
            at,
            "trusted_device_revoked",
            org_ref,
            sorted_obj(vec![("service", json!("device-trust-reaper")), ("type", json!("system_actor"))]),
            vec![
                ("reason", json!("superseded")),
                ("revoked_count", json!(1)),
                ("trusted_device_id", json!(ids::tagged_id(rng, "tdev_"))),
            ],
        ),
        930..=934 => build(
            id,
            at,
            "org_data_export_completed",
            org_ref,
            sorted_obj(vec![("email_address", Value::Null), ("type", json!("anthropic_actor"))]),
            vec![("export_type", json!("conversations"))],
        ),
        935..=944 => {
            // Unknown (future) activity type with unknown fields: must pass through downstream.
            build(
                id,
                at,
                "x_future_workflow_executed",
                org_ref,
                user_actor(user),
                vec![
                    ("x_workflow_id", json!(format!("wf_{}", ids::suffix(rng, 16)))),
                    ("x_detail", json!({"nested": [1, "a"], "ok": true})),
                ],
            )
        }
        945..=949 => {
            // Known type, unknown actor type.
            let c = chats.choose(rng)?;
            build(
                id,
                at,
                "claude_chat_viewed",
                org_ref,
                sorted_obj(vec![
                    ("robot_id", json!(format!("rbt_{}", ids::suffix(rng, 18)))),
                    ("type", json!("x_future_robot_actor")),
                ]),
                vec![("claude_chat_id", json!(c.id)), ("claude_project_id", json!(c.project_id))],
            )
        }
        _ => {
            let surface = *["claude-code", "claude-ai", "cowork"].choose(rng).unwrap_or(&"claude-code");
            build(
                id,
                at,
                "inference_hooks_request_denied",
                org_ref,
                user_actor(user),
                vec![
                    ("conversation_id", json!(ids::uuid(rng))),
                    ("reference_id", json!(ids::uuid(rng))),
                    ("request_id", json!(format!("msg_01{}", ids::suffix(rng, 22)))),
                    ("surface", json!(surface)),
                ],
            )
        }
    };
    if rng.gen_ratio(2, 100) {
        add_future_field(&mut rec.wire);
    }
    Some(rec)
}

/// Append an unknown extra field (forward-compat pass-through check).
/// On activities the key stays before the trailing `organization_uuid`.
pub(crate) fn add_future_field(wire: &mut Value) {
    if let Some(obj) = wire.as_object_mut() {
        let last_is_org = obj.keys().next_back().map(String::as_str) == Some("organization_uuid");
        let org = if last_is_org { obj.remove("organization_uuid") } else { None };
        obj.insert("x_future_field".into(), json!({"nested": [1, "a"]}));
        if let Some(org) = org {
            obj.insert("organization_uuid".into(), org);
        }
    }
}

pub(crate) fn scim_user_created<R: Rng + ?Sized>(
    rng: &mut R,
    ctx: &FillCtx,
    at: DateTime<Utc>,
    org: (&str, &str),
    user_id: &str,
) -> ActivityRecord {
    let id = ids::tagged_id(rng, "activity_");
    let actor = scim_actor(rng, &ctx.directory_id);
    build(id, at, "scim_user_created", Some(org), actor, vec![("user_id", json!(user_id))])
}
