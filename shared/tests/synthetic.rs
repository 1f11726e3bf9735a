//! Generator tests: determinism, wire shapes, planted DLP strings, mutation semantics.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use shared::synthetic::{luhn_valid, MutationConfig, SensitiveKind, Tenant, TenantConfig};

fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    let end = Utc.with_ymd_and_hms(2026, 9, 21, 12, 0, 0).unwrap();
    (end - Duration::days(45), end)
}

fn cfg() -> TenantConfig {
    let (s, e) = window();
    TenantConfig::default().with_window(s, e)
}

fn parse(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn same_seed_same_json_different_seed_different() {
    let a = serde_json::to_string(&Tenant::generate(cfg()).to_wire_json()).unwrap();
    let b = serde_json::to_string(&Tenant::generate(cfg()).to_wire_json()).unwrap();
    assert_eq!(a, b);
    let c = serde_json::to_string(&Tenant::generate(cfg().with_seed(43)).to_wire_json()).unwrap();
    assert_ne!(a, c);
    // mutations are deterministic too
    let (_, end) = window();
    let mut t1 = Tenant::generate(cfg());
    let mut t2 = Tenant::generate(cfg());
    let s1 = t1.mutate(&MutationConfig::at(end + Duration::hours(2)));
    let s2 = t2.mutate(&MutationConfig::at(end + Duration::hours(2)));
    assert_eq!(s1, s2);
    assert_eq!(serde_json::to_string(&t1.to_wire_json()).unwrap(), serde_json::to_string(&t2.to_wire_json()).unwrap());
}

#[test]
fn counts_and_id_shapes() {
    let c = cfg();
    let t = Tenant::generate(c.clone());
    let e = t.expected();
    assert_eq!(e.organizations.len(), c.orgs);
    // every org has its own users plus the tenant owner in the other orgs
    assert_eq!(e.users.len(), c.orgs * c.users_per_org + (c.orgs - 1));
    assert_eq!(e.activities.len(), c.activities);
    assert!(t.activities.iter().any(|a| !a.visible), "late-indexed rows exist");
    assert_eq!(e.chats.len(), c.orgs * c.users_per_org * c.chats_per_user);
    assert_eq!(e.projects.len(), c.orgs * c.projects_per_org);
    let avg = e.chat_messages.len() as f64 / e.chats.len() as f64;
    assert!((4.0..=9.0).contains(&avg), "avg messages {avg}");

    let suffix_ok = |id: &str, prefix: &str| {
        id.strip_prefix(prefix).is_some_and(|s| s.len() == 22 && s.chars().all(|c| c.is_ascii_alphanumeric()))
    };
    for a in &t.activities {
        assert!(suffix_ok(&a.id, "activity_01"), "{}", a.id);
        let ts = a.wire["created_at"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 27, "{ts}");
        assert!(parse(ts) <= t.now);
        assert!(a.wire["actor"]["type"].is_string());
        let keys: Vec<&String> = a.wire.as_object().unwrap().keys().collect();
        assert_eq!(keys.last().unwrap().as_str(), "organization_uuid");
    }
    for o in &t.orgs {
        assert!(o.wire["created_at"].as_str().unwrap().ends_with("+00:00"));
        assert!(suffix_ok(&o.org_id, "org_01"));
        for m in &o.members {
            assert!(suffix_ok(&m.user_id, "user_01"));
        }
    }
    let roles: BTreeSet<&str> = t.orgs.iter().flat_map(|o| o.members.iter().map(|m| m.role.as_str())).collect();
    assert_eq!(roles.len(), 9, "all documented roles appear: {roles:?}");
    let types: BTreeSet<&str> = t.activities.iter().map(|a| a.activity_type.as_str()).collect();
    for ty in [
        "sso_login_succeeded",
        "claude_chat_created",
        "claude_file_uploaded",
        "claude_project_created",
        "compliance_api_accessed",
        "scim_user_updated",
        "x_future_workflow_executed",
    ] {
        assert!(types.contains(ty), "{ty}");
    }
    let actor_types: BTreeSet<&str> = t.activities.iter().filter_map(|a| a.wire["actor"]["type"].as_str()).collect();
    for at in
        ["user_actor", "api_actor", "scim_directory_sync_actor", "unauthenticated_user_actor", "x_future_robot_actor"]
    {
        assert!(actor_types.contains(at), "{at}");
    }
    assert!(t.activities.iter().any(|a| a.wire.get("x_future_field").is_some()));
}

#[test]
fn message_shapes() {
    let t = Tenant::generate(cfg());
    let mut saw = BTreeMap::new();
    for c in &t.chats {
        for k in [
            "id",
            "name",
            "created_at",
            "updated_at",
            "deleted_at",
            "organization_id",
            "organization_uuid",
            "project_id",
            "model",
            "user",
            "href",
        ] {
            assert!(c.wire.get(k).is_some(), "chat field {k}");
        }
        assert!(c.wire["href"].as_str().unwrap().ends_with(&c.uuid));
        let last = c.messages.last().map(|m| m.created_at).unwrap_or(c.created_at);
        if c.deleted_at.is_none() {
            assert_eq!(c.updated_at, last);
        }
        for (i, m) in c.messages.iter().enumerate() {
            let role = m.wire["role"].as_str().unwrap();
            assert_eq!(role, if i % 2 == 0 { "user" } else { "assistant" });
            for k in ["files", "generated_files", "artifacts"] {
                let v = &m.wire[k];
                assert!(v.is_null() || v.as_array().is_some_and(|a| !a.is_empty()));
                if !v.is_null() {
                    *saw.entry(k).or_insert(0) += 1;
                }
            }
            if i > 0 {
                assert!(m.created_at > c.messages[i - 1].created_at);
            }
            for b in m.wire["content"].as_array().unwrap() {
                let ty = b["type"].as_str().unwrap();
                *saw.entry(ty).or_insert(0) += 1;
                if ty == "tool_use" {
                    let input = b["input"].as_str().expect("input is a string");
                    let _: Value = serde_json::from_str(input).unwrap();
                }
            }
        }
        if c.deleted_at.is_some() {
            assert_eq!(c.wire["name"], "");
            for m in &c.messages {
                assert_eq!(m.wire["content"], serde_json::json!([]));
                assert!(m.wire["files"].is_null());
            }
        }
    }
    for k in ["files", "generated_files", "artifacts", "text", "tool_use", "tool_result"] {
        assert!(saw.get(k).copied().unwrap_or(0) > 0, "{k}: {saw:?}");
    }
    assert!(t.chats.iter().any(|c| c.deleted_at.is_some()));
    // files: metadata consistent, some binary, some text
    assert!(t.files.values().any(|f| std::str::from_utf8(&f.content).is_err()));
    assert!(t.files.values().any(|f| std::str::from_utf8(&f.content).is_ok()));
    for f in t.files.values().filter(|f| !f.deleted) {
        let meta = t.file_json(&f.id).unwrap();
        assert_eq!(meta["size_bytes"], f.content.len());
        assert_eq!(meta["md5"].as_str().unwrap().len(), 32);
    }
}

#[test]
fn planted_secrets_are_real_shapes_and_present() {
    let t = Tenant::generate(cfg());
    let kinds: BTreeSet<SensitiveKind> = t.planted.iter().map(|p| p.kind).collect();
    assert!(kinds.len() >= 15, "{kinds:?}");
    let record_kinds: BTreeSet<&str> = t.planted.iter().map(|p| p.record_kind).collect();
    assert!(record_kinds.contains("chat_message"), "{record_kinds:?}");
    assert!(record_kinds.contains("project") || record_kinds.contains("project_document"));
    for p in &t.planted {
        let text = match p.record_kind {
            "chat_message" => t.message_json(&p.record_id).unwrap().to_string(),
            "file" => String::from_utf8(t.file_content(&p.record_id).unwrap().to_vec()).unwrap(),
            "project" => t.project_detail_json(&p.record_id).unwrap().to_string(),
            "project_document" => t.document_json(&p.record_id).unwrap()["content"].as_str().unwrap().to_string(),
            other => panic!("{other}"),
        };
        let needle = serde_json::to_string(&p.value).unwrap();
        let needle = needle.trim_matches('"');
        assert!(text.contains(&p.value) || text.contains(needle), "{:?} not found in {}", p.value, p.record_id);
        match p.kind {
            SensitiveKind::CreditCard => assert!(luhn_valid(&p.value), "{}", p.value),
            SensitiveKind::Ssn => {
                let parts: Vec<u32> = p.value.split('-').map(|x| x.parse().unwrap()).collect();
                assert!(parts[0] > 0 && parts[0] != 666 && parts[0] < 900);
                assert!(parts[1] > 0 && parts[2] > 0);
            }
            SensitiveKind::AwsAccessKey => {
                assert!(p.value.starts_with("AKIA") && p.value.len() == 20);
                assert!(p.value[4..].chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
            }
            SensitiveKind::GithubToken => assert_eq!(p.value.len(), 40),
            SensitiveKind::AnthropicKey => {
                assert!(p.value.starts_with("sk-ant-api03-") && p.value.ends_with("AA"))
            }
            SensitiveKind::Jwt => assert_eq!(p.value.split('.').count(), 3),
            SensitiveKind::PrivateKey => assert!(p.value.contains("PRIVATE KEY-----")),
            _ => {}
        }
    }
}

#[test]
fn mutate_grows_and_hides_late_rows_behind_cursor() {
    let (_, end) = window();
    let mut t = Tenant::generate(cfg());
    let before = t.expected();
    let hidden_before: BTreeSet<String> = t.activities.iter().filter(|a| !a.visible).map(|a| a.id.clone()).collect();
    let newest = t.newest_visible_activity().unwrap().created_at;
    let m = MutationConfig::at(end + Duration::hours(3));
    let s = t.mutate(&m);
    let after = t.expected();
    assert_eq!(s.newest_visible_before, Some(newest));
    assert_eq!(t.now, end + Duration::hours(3));
    assert!(after.activities.is_superset(&before.activities));
    assert_eq!(after.activities.len(), before.activities.len() + s.new_activity_ids.len() + s.late_activity_ids.len());
    assert!(s.new_activity_ids.len() >= m.new_activities);
    // late rows sit behind the old newest visible activity and are visible now
    assert_eq!(s.late_activity_ids.len(), m.late_activities + hidden_before.len());
    for id in &s.late_activity_ids {
        let a = t.activities.iter().find(|a| &a.id == id).unwrap();
        assert!(a.visible);
        assert!(a.created_at < newest, "{id} not behind cursor");
    }
    for id in &s.new_activity_ids {
        let a = t.activities.iter().find(|a| &a.id == id).unwrap();
        assert!(a.created_at > end && a.created_at <= t.now);
    }
    assert_eq!(s.hidden_activity_ids.len(), m.hidden_activities);
    assert!(after.users.len() == before.users.len() + m.new_users - m.removed_users);
    assert_eq!(after.chats.len(), before.chats.len() + m.new_chats);
    assert!(after.chat_messages.len() > before.chat_messages.len());
    assert_eq!(after.projects.len(), before.projects.len() + m.new_projects);
    assert!(after.project_documents.len() >= before.project_documents.len() + m.new_documents);
    for id in &s.appended_chat_ids {
        let c = t.chat(id).unwrap();
        assert!(c.updated_at > end);
    }
    for id in &s.soft_deleted_chat_ids {
        let c = t.chat(id).unwrap();
        assert!(c.deleted_at.is_some());
        assert_eq!(c.wire["name"], "");
        assert!(c.updated_at > end);
        for m in &c.messages {
            assert_eq!(m.wire["content"], serde_json::json!([]));
            assert!(m.wire["artifacts"].is_null());
        }
    }
    for id in &s.updated_project_ids {
        assert!(t.project(id).unwrap().updated_at > end);
    }
    // removed user vanished from the users list but kept its activities
    for (org, uid) in &s.removed_users {
        assert!(!after.users.contains(&format!("{org}/{uid}")));
    }
}
