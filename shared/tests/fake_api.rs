//! The fake Compliance API over real HTTP on loopback.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Duration as CDuration, TimeZone, Utc};
use md5::{Digest, Md5};
use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use shared::fake_api::{
    serve, synthetic_admin_key, synthetic_key, FakeApiConfig, FakeApiHandle, FakeKey, Faults, OversizedBody, RateLimit,
    ScriptedFault, SCOPE_ACTIVITIES, SCOPE_ORG_DATA,
};
use shared::synthetic::{MutationConfig, Tenant, TenantConfig};

fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 21, 12, 0, 0).unwrap()
}

fn tenant() -> Tenant {
    Tenant::generate(TenantConfig::default().with_window(end() - CDuration::days(45), end()))
}

fn small_tenant() -> Tenant {
    Tenant::generate(TenantConfig::small().with_window(end() - CDuration::days(45), end()))
}

async fn start(t: Tenant, cfg: FakeApiConfig) -> (FakeApiHandle, Api) {
    let h = serve("127.0.0.1:0".parse().unwrap(), t, cfg).await.unwrap();
    let api = Api { base: h.base_url(), client: Client::new(), key: Some(synthetic_key()) };
    (h, api)
}

struct Api {
    base: String,
    client: Client,
    key: Option<String>,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("invalid json ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }
    fn header(&self, k: &str) -> Option<String> {
        self.headers.get(k).map(|v| v.to_str().unwrap().to_string())
    }
    fn message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap().to_string()
    }
}

impl Api {
    async fn req(&self, method: reqwest::Method, path: &str, key: Option<&str>) -> Resp {
        let mut rb = self
            .client
            .request(method, format!("{}/v1/compliance{}", self.base, path))
            .header("anthropic-version", "2023-06-01");
        if let Some(k) = key {
            rb = rb.header("x-api-key", k);
        }
        let r = rb.send().await.unwrap();
        Resp { status: r.status(), headers: r.headers().clone(), bytes: r.bytes().await.unwrap().to_vec() }
    }
    async fn get(&self, path: &str) -> Resp {
        self.req(reqwest::Method::GET, path, self.key.as_deref()).await
    }
    async fn get_with(&self, path: &str, key: Option<&str>) -> Resp {
        self.req(reqwest::Method::GET, path, key).await
    }
    async fn ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.bytes));
        r.json()
    }
    async fn bad(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status, 400, "{path}: {}", String::from_utf8_lossy(&r.bytes));
        let v = r.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["request_id"].as_str().unwrap().starts_with("req_"));
        r.message()
    }

    /// Walk a cursor endpoint with `after_id`, returning every item in order.
    async fn walk_cursor(&self, path: &str, data_key: &str) -> (Vec<Value>, usize) {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}after_id={}", enc(c)),
                None => path.to_string(),
            };
            let v = self.ok(&url).await;
            pages += 1;
            let data = v[data_key].as_array().unwrap().clone();
            out.extend(data);
            if !v["has_more"].as_bool().unwrap() {
                break;
            }
            cursor = Some(v["last_id"].as_str().unwrap().to_string());
            assert!(pages < 10_000);
        }
        (out, pages)
    }

    /// Walk a page-token endpoint.
    async fn walk_pages(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &page {
                Some(p) => format!("{path}{sep}page={}", enc(p)),
                None => path.to_string(),
            };
            let v = self.ok(&url).await;
            out.extend(v["data"].as_array().unwrap().clone());
            assert_eq!(v["has_more"].as_bool().unwrap(), !v["next_page"].is_null());
            match v["next_page"].as_str() {
                Some(p) => page = Some(p.to_string()),
                None => break,
            }
        }
        out
    }
}

/// Minimal percent-encoding for query values.
fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|v| v["id"].as_str().unwrap().to_string()).collect()
}

fn unique(ids: &[String]) -> BTreeSet<String> {
    let s: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(s.len(), ids.len(), "duplicates in walk");
    s
}

fn key_of(v: &Value, field: &str) -> (DateTime<Utc>, String) {
    (
        DateTime::parse_from_rfc3339(v[field].as_str().unwrap()).unwrap().with_timezone(&Utc),
        v["id"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn activities_walks_orders_and_cursors() {
    let (h, api) = start(tenant(), FakeApiConfig::default()).await;
    let expected = h.expected().activities;

    // default: desc, after_id walks into the past
    let (desc, pages) = api.walk_cursor("/activities?limit=97", "data").await;
    assert!(pages > 10);
    assert_eq!(unique(&ids(&desc)), expected);
    let keys: Vec<_> = desc.iter().map(|v| key_of(v, "created_at")).collect();
    assert!(keys.windows(2).all(|w| w[0] > w[1]), "strictly desc");
    // hidden (late-indexed) rows are not served
    let hidden: Vec<String> =
        h.with_tenant(|t| t.activities.iter().filter(|a| !a.visible).map(|a| a.id.clone()).collect());
    assert!(!hidden.is_empty());
    assert!(hidden.iter().all(|id| !expected.contains(id)));
    // served values are the tenant's wire values
    let sample = &desc[5];
    let id = sample["id"].as_str().unwrap();
    assert_eq!(Some(sample.clone()), h.with_tenant(|t| t.activity_json(id)));

    // asc
    let (asc, _) = api.walk_cursor("/activities?order=asc&limit=500", "data").await;
    let mut rev = ids(&desc);
    rev.reverse();
    assert_eq!(ids(&asc), rev);

    // before_id relative to desc order: reaches newer rows, nearest to the cursor
    let p1 = api.ok("/activities?limit=10").await;
    let p2 = api.ok(&format!("/activities?limit=10&after_id={}", enc(p1["last_id"].as_str().unwrap()))).await;
    let back = api.ok(&format!("/activities?limit=4&before_id={}", enc(p2["first_id"].as_str().unwrap()))).await;
    assert_eq!(ids(back["data"].as_array().unwrap()), ids(&desc[6..10]));
    assert_eq!(back["has_more"], true);
    let top = api.ok(&format!("/activities?before_id={}", enc(p1["first_id"].as_str().unwrap()))).await;
    assert_eq!(top["data"], serde_json::json!([]));
    assert_eq!(top["has_more"], false);
    assert!(top["first_id"].is_null() && top["last_id"].is_null());

    // cursor format: base64 JSON {"id", "created_at"}; raw activity ids accepted too
    let c = p1["last_id"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).unwrap();
    let dv: Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(dv["id"], desc[9]["id"]);
    assert!(dv["created_at"].as_str().unwrap().ends_with("+00:00"));
    let raw = api.ok(&format!("/activities?limit=10&after_id={}", desc[9]["id"].as_str().unwrap())).await;
    assert_eq!(raw["data"], p2["data"]);

    // errors
    assert_eq!(api.bad("/activities?after_id=garbage!").await, "Invalid activity_id format: 'garbage!'");
    assert_eq!(
        api.bad("/activities?after_id=x&before_id=y").await,
        "Only one of after_id and before_id may be provided."
    );
    assert_eq!(api.bad("/activities?limit=5001").await, "limit: Input should be less than or equal to 5000");
    assert_eq!(api.bad("/activities?limit=0").await, "limit: Input should be greater than or equal to 1");
    assert_eq!(api.bad("/activities?order=sideways").await, "order: Input should be 'desc' or 'asc'");
    h.shutdown().await;
}

#[tokio::test]
async fn activities_filters() {
    let (h, api) = start(tenant(), FakeApiConfig::default()).await;
    let all = api.ok("/activities?limit=5000").await["data"].as_array().unwrap().clone();
    let count = |f: &dyn Fn(&Value) -> bool| all.iter().filter(|a| f(a)).count();

    let v = api
        .ok("/activities?limit=5000&activity_types[]=claude_chat_created&activity_types%5B%5D=sso_login_succeeded")
        .await;
    let n = count(&|a| a["type"] == "claude_chat_created" || a["type"] == "sso_login_succeeded");
    assert_eq!(v["data"].as_array().unwrap().len(), n);
    assert!(n > 0);

    let v = api.ok("/activities?limit=5000&exclude_activity_types[]=compliance_api_accessed").await;
    assert_eq!(v["data"].as_array().unwrap().len(), count(&|a| a["type"] != "compliance_api_accessed"));
    assert_eq!(
        api.bad("/activities?activity_types[]=sso_login_succeeded&activity_types[]=nope").await,
        "activity_types[].1: Input is not one of the permitted values."
    );
    api.bad("/activities?activity_types[]=sso_login_succeeded&exclude_activity_types[]=user_logged_out").await;

    // org filter accepts org_… and uuid forms
    let (org_id, org_uuid) = h.with_tenant(|t| (t.orgs[1].org_id.clone(), t.orgs[1].uuid.clone()));
    let by_id = api.ok(&format!("/activities?limit=5000&organization_ids[]={org_id}")).await;
    let by_uuid = api.ok(&format!("/activities?limit=5000&organization_ids[]={org_uuid}")).await;
    assert_eq!(by_id["data"], by_uuid["data"]);
    assert_eq!(by_id["data"].as_array().unwrap().len(), count(&|a| a["organization_uuid"] == org_uuid.as_str()));

    // user filter (actor_ids[] and its alias user_ids[])
    let uid = all.iter().find_map(|a| a["actor"]["user_id"].as_str()).unwrap().to_string();
    let v = api.ok(&format!("/activities?limit=5000&user_ids[]={uid}")).await;
    let w = api.ok(&format!("/activities?limit=5000&actor_ids[]={uid}")).await;
    assert_eq!(v["data"], w["data"]);
    assert_eq!(v["data"].as_array().unwrap().len(), count(&|a| a["actor"]["user_id"] == uid.as_str()));

    // time window
    let lo = end() - CDuration::days(10);
    let hi = end() - CDuration::days(5);
    let v = api
        .ok(&format!(
            "/activities?limit=5000&created_at.gte={}&created_at.lt={}",
            enc(&lo.to_rfc3339()),
            enc(&hi.to_rfc3339())
        ))
        .await;
    let n = count(&|a| {
        let (t, _) = key_of(a, "created_at");
        t >= lo && t < hi
    });
    assert_eq!(v["data"].as_array().unwrap().len(), n);
    assert_eq!(
        api.bad("/activities?created_at.gte=2026-01-01T00:00:00").await,
        "created_at.gte: Input should have timezone info"
    );
    // an unencoded '+' arrives as a space, exactly like on the real API
    assert_eq!(
        api.bad("/activities?created_at.gte=2026-01-01T00:00:00+00:00").await,
        "created_at.gte: Input should be a valid datetime or date, unexpected extra characters at the end of the input"
    );
    api.ok("/activities?created_at.gte=2026-01-01T00:00:00%2B00:00").await;
    assert!(api
        .bad("/activities?created_at.gte=not-a-date")
        .await
        .starts_with("created_at.gte: Input should be a valid datetime or date"));
    h.shutdown().await;
}

#[tokio::test]
async fn unknown_params_and_paths() {
    let (h, api) = start(small_tenant(), FakeApiConfig::default()).await;
    assert_eq!(
        api.bad("/activities?created_at[gte]=2026-01-01T00:00:00Z").await,
        "Unknown query parameter: 'created_at[gte]'. Did you mean 'created_at.gte'?"
    );
    assert_eq!(
        api.bad("/apps/chats?user_ids=user_01x").await,
        "Unknown query parameter: 'user_ids'. Did you mean 'user_ids[]'?"
    );
    assert_eq!(api.bad("/apps/chats?organization_uuid=x").await, "Unknown query parameter: 'organization_uuid'.");
    assert_eq!(api.bad("/organizations?order=asc").await, "Unknown query parameter: 'order'.");
    // sessions are served now; their listing rejects `order` and `order_by` (observed live)
    assert_eq!(api.bad("/apps/sessions/local?order=desc").await, "Unknown query parameter: 'order'.");
    assert_eq!(api.bad("/apps/sessions/local?order_by=updated_at").await, "Unknown query parameter: 'order_by'.");
    for path in ["/organizations/me", "/nothing", "/apps/local_sessions", "/activities/"] {
        let r = api.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["error"]["type"], "not_found_error");
        assert_eq!(r.message(), "Not found");
    }
    let r = api.client.get(format!("{}/elsewhere", api.base)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    h.shutdown().await;
}

#[tokio::test]
async fn directory_endpoints() {
    let (h, api) = start(tenant(), FakeApiConfig::default()).await;
    let e = h.expected();
    let orgs = api.walk_pages("/organizations?limit=2").await;
    let org_uuids: Vec<String> = orgs.iter().map(|o| o["uuid"].as_str().unwrap().to_string()).collect();
    assert_eq!(org_uuids.iter().cloned().collect::<BTreeSet<_>>(), e.organizations);
    assert!(orgs[0]["created_at"].as_str().unwrap().ends_with("+00:00"));
    let one = api.ok("/organizations").await;
    assert_eq!(one["has_more"], false);
    assert!(one["next_page"].is_null());

    let mut users = BTreeSet::new();
    for org in &org_uuids {
        let list = api.walk_pages(&format!("/organizations/{org}/users?limit=3")).await;
        for u in &list {
            let id = u["id"].as_str().unwrap();
            assert!(users.insert(format!("{org}/{id}")));
            assert_eq!(Some(u.clone()), h.with_tenant(|t| t.user_json(org, id)));
        }
    }
    assert_eq!(users, e.users);
    let r = api.get("/organizations/00000000-0000-0000-0000-000000000000/users").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.message(),
        "The \"00000000-0000-0000-0000-000000000000\" organization does not exist or the requester is not authorized to access it."
    );
    assert_eq!(
        api.bad("/organizations?page=bogus").await,
        "The page parameter is not a valid cursor for this request."
    );
    h.shutdown().await;
}

#[tokio::test]
async fn chats_list_rules_and_orders() {
    let (h, api) = start(tenant(), FakeApiConfig::default()).await;
    let e = h.expected();
    let (by_created, _) = api.walk_cursor("/apps/chats?limit=7", "data").await;
    assert_eq!(unique(&ids(&by_created)), e.chats);
    let keys: Vec<_> = by_created.iter().map(|c| key_of(c, "created_at").0).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    let (by_updated, _) = api.walk_cursor("/apps/chats?order_by=updated_at&limit=9", "data").await;
    assert_eq!(unique(&ids(&by_updated)), e.chats);
    let keys: Vec<_> = by_updated.iter().map(|c| key_of(c, "updated_at").0).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    let c0 = &by_created[0];
    let id0 = c0["id"].as_str().unwrap();
    assert_eq!(Some(c0.clone()), h.with_tenant(|t| t.chat_json(id0)));

    // cursor shape: base64 {"k","t","id"} with padding; bound to order_by
    let p = api.ok("/apps/chats?limit=3").await;
    let last = p["last_id"].as_str().unwrap().to_string();
    let dv: Value = serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(&last).unwrap()).unwrap();
    assert_eq!(dv["k"], "created_at");
    assert!(by_created[2]["href"].as_str().unwrap().ends_with(dv["id"].as_str().unwrap()));
    assert_eq!(
        api.bad(&format!("/apps/chats?order_by=updated_at&after_id={}", enc(&last))).await,
        "Invalid pagination cursor for 'after_id'"
    );

    // per-user queries, before_id, project filter
    let user = c0["user"]["id"].as_str().unwrap().to_string();
    let mine: Vec<String> = by_created
        .iter()
        .filter(|c| c["user"]["id"] == user.as_str())
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let (got, _) = api.walk_cursor(&format!("/apps/chats?user_ids[]={user}&limit=1"), "data").await;
    assert_eq!(ids(&got), mine);
    let lastpage = api.ok(&format!("/apps/chats?user_ids[]={user}&limit=100")).await;
    let back = api
        .ok(&format!("/apps/chats?user_ids[]={user}&limit=1&before_id={}", enc(lastpage["last_id"].as_str().unwrap())))
        .await;
    assert_eq!(ids(back["data"].as_array().unwrap()), vec![mine[mine.len() - 2].clone()]);
    {
        let pc = by_created.iter().find(|c| c["project_id"].is_string()).expect("some chat is in a project");
        let (u, p) = (pc["user"]["id"].as_str().unwrap(), pc["project_id"].as_str().unwrap());
        let v = api.ok(&format!("/apps/chats?user_ids[]={u}&project_ids[]={p}")).await;
        assert!(v["data"].as_array().unwrap().iter().all(|c| c["project_id"] == p));
        assert!(!v["data"].as_array().unwrap().is_empty());
    }

    // documented 400s
    assert_eq!(
        api.bad("/apps/chats?updated_at.gte=2026-09-01T00:00:00Z").await,
        "updated_at filters on org-wide queries require order_by=updated_at."
    );
    api.ok("/apps/chats?order_by=updated_at&updated_at.gte=2026-09-01T00:00:00Z").await;
    api.bad(&format!("/apps/chats?user_ids[]={user}&order_by=updated_at")).await;
    api.bad(&format!("/apps/chats?user_ids[]={user}&updated_at.gte=2026-09-01T00:00:00Z")).await;
    api.bad(&format!("/apps/chats?before_id={}", enc(&last))).await;
    api.bad("/apps/chats?project_ids[]=claude_proj_01x").await;
    let many: String = (0..11).map(|i| format!("user_ids[]=user_{i}&")).collect();
    assert_eq!(
        api.bad(&format!("/apps/chats?{many}")).await,
        "user_ids[]: List should have at most 10 items after validation, not 11"
    );
    assert_eq!(api.bad("/apps/chats?limit=1001").await, "limit: Input should be less than or equal to 1000");
    h.shutdown().await;
}

#[tokio::test]
async fn chat_messages() {
    let (h, api) = start(tenant(), FakeApiConfig::default()).await;
    let chat_ids: Vec<String> = h.with_tenant(|t| t.chats.iter().map(|c| c.id.clone()).collect());
    let mut all = BTreeSet::new();
    for id in &chat_ids {
        let full = api.ok(&format!("/apps/chats/{id}/messages")).await;
        assert_eq!(full["has_more"], false);
        let mut expect = h.with_tenant(|t| t.chat_messages_response(id)).unwrap();
        let msgs = full["chat_messages"].as_array().unwrap().clone();
        if msgs.is_empty() {
            assert!(full["first_id"].is_null());
        }
        // the same object plus cursor fields
        let obj = expect.as_object_mut().unwrap();
        obj.insert("has_more".into(), full["has_more"].clone());
        obj.insert("first_id".into(), full["first_id"].clone());
        obj.insert("last_id".into(), full["last_id"].clone());
        assert_eq!(full, expect);
        for m in &msgs {
            assert!(all.insert(m["id"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(all, h.expected().chat_messages);

    // paging asc / desc with small limits
    let id = &chat_ids[0];
    let full = api.ok(&format!("/apps/chats/{id}/messages")).await;
    let want = ids(full["chat_messages"].as_array().unwrap());
    let (paged, pages) = api.walk_cursor(&format!("/apps/chats/{id}/messages?limit=3"), "chat_messages").await;
    assert_eq!(ids(&paged), want);
    assert!(pages >= 2);
    let (desc, _) = api.walk_cursor(&format!("/apps/chats/{id}/messages?limit=2&order=desc"), "chat_messages").await;
    let mut rev = want.clone();
    rev.reverse();
    assert_eq!(ids(&desc), rev);
    let p = api.ok(&format!("/apps/chats/{id}/messages?limit=2&order=asc")).await;
    let dv: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD.decode(p["first_id"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert!(dv["msg_uuid"].is_string());
    assert_eq!(p["id"].as_str(), Some(id.as_str()));
    assert!(p.get("data").is_none());

    let r = api.get("/apps/chats/claude_chat_01nope/messages").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "Chat conversation not found: 'claude_chat_01nope'");
    assert_eq!(
        api.bad(&format!("/apps/chats/{id}/messages?after_id=eyJ4IjoxfQ")).await,
        "Invalid pagination cursor for 'after_id'"
    );
    api.bad(&format!("/apps/chats/{id}/messages?limit=1001")).await;

    // tool limits truncate tool_use input (string) and mark truncated
    let with_tool = h.with_tenant(|t| {
        t.chats
            .iter()
            .find(|c| {
                c.messages
                    .iter()
                    .any(|m| m.wire["content"].as_array().is_some_and(|b| b.iter().any(|b| b["type"] == "tool_use")))
            })
            .map(|c| c.id.clone())
    });
    {
        let cid = with_tool.expect("tenant has tool_use blocks");
        let v = api.ok(&format!("/apps/chats/{cid}/messages?tool_use_input_max_chars=5")).await;
        let blocks: Vec<&Value> = v["chat_messages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["content"].as_array().unwrap())
            .filter(|b| b["type"] == "tool_use")
            .collect();
        assert!(blocks.iter().all(|b| b["input"].as_str().unwrap().chars().count() <= 5 && b["truncated"] == true));
    }
    h.shutdown().await;
}

#[tokio::test]
async fn files_and_projects() {
    let (h, api) = start(tenant(), FakeApiConfig::default()).await;
    let file_ids: Vec<String> = h.with_tenant(|t| t.expected().files.into_iter().collect());
    assert!(!file_ids.is_empty());
    for fid in &file_ids {
        let meta = api.ok(&format!("/apps/chats/files/{fid}")).await;
        assert_eq!(Some(meta.clone()), h.with_tenant(|t| t.file_json(fid)));
        let r = api.get(&format!("/apps/chats/files/{fid}/content")).await;
        assert_eq!(r.status, 200);
        let want = h.with_tenant(|t| t.file_content(fid).map(|b| b.to_vec())).unwrap();
        assert_eq!(r.bytes, want);
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&r.bytes));
        assert_eq!(r.header("content-md5"), Some(md5));
        let hex: String = Md5::digest(&r.bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(meta["md5"], hex.as_str());
        assert!(r.header("content-disposition").unwrap().starts_with("attachment; filename*=utf-8''"));
        assert!(r.header("content-type").is_some());
        assert_eq!(r.header("transfer-encoding").as_deref(), Some("chunked"));
        assert!(r.header("request-id").unwrap().starts_with("req_"));
    }
    // RFC 5987 encoding of a non-ASCII name
    let fancy =
        h.with_tenant(|t| t.files.values().find(|f| !f.deleted && f.filename.contains('é')).map(|f| f.id.clone()));
    let fid = fancy.expect("tenant has a non-ASCII file name");
    let r = api.get(&format!("/apps/chats/files/{fid}/content")).await;
    assert_eq!(
        r.header("content-disposition").unwrap(),
        "attachment; filename*=utf-8''Q3%20r%C3%A9sum%C3%A9%20%28final%29.txt"
    );
    let r = api
        .req(reqwest::Method::HEAD, &format!("/apps/chats/files/{}/content", file_ids[0]), Some(&synthetic_key()))
        .await;
    assert_eq!(r.status, 404);
    let r = api.get("/apps/chats/files/claude_file_01nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "File not found: claude_file_01nope");

    // projects
    let projects = api.walk_pages("/apps/projects?limit=2").await;
    assert_eq!(unique(&ids(&projects)), h.expected().projects);
    let mut docs = BTreeSet::new();
    for p in &projects {
        let pid = p["id"].as_str().unwrap();
        assert_eq!(Some(p.clone()), h.with_tenant(|t| t.project_json(pid)));
        let d = api.ok(&format!("/apps/projects/{pid}")).await;
        assert_eq!(Some(d.clone()), h.with_tenant(|t| t.project_detail_json(pid)));
        for k in ["description", "instructions", "chats_count", "attachments_count"] {
            assert!(d.get(k).is_some());
        }
        let atts = api.walk_pages(&format!("/apps/projects/{pid}/attachments?limit=1")).await;
        assert_eq!(atts.len() as u64, d["attachments_count"].as_u64().unwrap());
        for a in &atts {
            let aid = a["id"].as_str().unwrap();
            match a["type"].as_str().unwrap() {
                "project_doc" => {
                    let doc = api.ok(&format!("/apps/projects/documents/{aid}")).await;
                    assert_eq!(Some(doc.clone()), h.with_tenant(|t| t.document_json(aid)));
                    assert!(doc["content"].is_string());
                    docs.insert(aid.to_string());
                }
                "project_file" => {
                    let r = api.get(&format!("/apps/chats/files/{aid}/content")).await;
                    assert_eq!(r.status, 200);
                }
                other => panic!("{other}"),
            }
        }
    }
    assert_eq!(docs, h.expected().project_documents);
    // collaborators, document metadata, generated files, artifacts
    let pid = projects[0]["id"].as_str().unwrap();
    let collab = api.walk_pages(&format!("/apps/projects/{pid}/collaborators?limit=1")).await;
    assert_eq!(collab[0]["role"], "owner");
    assert_eq!(collab[0]["user_id"], projects[0]["user"]["id"]);
    let did = docs.iter().next().unwrap();
    let meta = api.ok(&format!("/apps/projects/documents/{did}/metadata")).await;
    let doc = api.ok(&format!("/apps/projects/documents/{did}")).await;
    assert_eq!(meta["size_bytes"].as_u64().unwrap() as usize, doc["content"].as_str().unwrap().len());
    let (gid, vid) = h.with_tenant(|t| {
        (
            t.generated_files.values().find(|g| !g.deleted).map(|g| g.id.clone()),
            t.artifacts.values().find(|a| !a.deleted).map(|a| a.version_id.clone()),
        )
    });
    let gid = gid.expect("generated file");
    let gmeta = api.ok(&format!("/apps/chats/generated-files/{gid}")).await;
    let r = api.get(&format!("/apps/chats/generated-files/{gid}/content")).await;
    assert_eq!(r.bytes.len() as u64, gmeta["size_bytes"].as_u64().unwrap());
    assert!(r.header("content-md5").is_some());
    let vid = vid.expect("artifact");
    let ameta = api.ok(&format!("/apps/artifacts/{vid}")).await;
    let acontent = api.ok(&format!("/apps/artifacts/{vid}/content")).await;
    assert_eq!(acontent["content"].as_str().unwrap().len() as u64, ameta["size_bytes"].as_u64().unwrap());
    let org = projects[0]["organization_uuid"].as_str().unwrap();
    let v = api.ok(&format!("/apps/projects?limit=100&organization_ids[]={org}")).await;
    assert!(v["data"].as_array().unwrap().iter().all(|p| p["organization_uuid"] == org));
    let r = api.get("/apps/projects/claude_proj_01nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "No project is found with the provided id.");
    let r = api.get("/apps/projects/documents/claude_proj_doc_01nope").await;
    assert_eq!(r.message(), "No project document found with the provided id.");
    api.bad("/apps/projects?limit=101").await;
    h.shutdown().await;
}

#[tokio::test]
async fn auth_matrix() {
    let limited = "sk-ant-api01-synthetic-org-data-only";
    let mut cfg = FakeApiConfig::default();
    cfg.keys.push(FakeKey::new(limited, &[SCOPE_ORG_DATA]));
    let (h, api) = start(small_tenant(), cfg).await;

    let unknown_path = api.get("/definitely/not/here").await;
    let unknown_body = unknown_path.json();
    for key in [None, Some("sk-ant-api03-synthetic-wrong-type"), Some("garbage")] {
        let r = api.get_with("/activities", key).await;
        assert_eq!(r.status, 404, "{key:?}");
        let mut b = r.json();
        b["request_id"] = unknown_body["request_id"].clone();
        assert_eq!(b, unknown_body);
        assert!(r.header("request-id").unwrap().starts_with("req_"));
        assert!(r.header("anthropic-ratelimit-requests-limit").is_none());
    }
    let r = api.get_with("/activities", Some("sk-ant-api01-synthetic-unknown")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    assert_eq!(r.message(), "API key is invalid.");
    let r = api.get_with("/activities", Some("sk-ant-admin01-synthetic-unknown")).await;
    assert_eq!(r.status, 401);

    let r = api.get_with("/apps/chats", Some(limited)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["type"], "permission_error");
    assert_eq!(
        r.message(),
        "Missing required scopes. Got: ['read:compliance_org_data'] Needed one of: ['read:compliance_user_data', 'read:org_audit']"
    );
    assert!(r.header("anthropic-ratelimit-requests-remaining").is_some());
    assert_eq!(api.get_with("/organizations", Some(limited)).await.status, 200);

    let admin = synthetic_admin_key();
    assert_eq!(api.get_with("/activities", Some(&admin)).await.status, 200);
    let r = api.get_with("/organizations", Some(&admin)).await;
    assert_eq!(r.status, 403);
    assert!(r.message().contains(SCOPE_ACTIVITIES));
    let r = api.get("/activities?limit=1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("anthropic-ratelimit-requests-limit").as_deref(), Some("600"));
    let reset = r.header("anthropic-ratelimit-requests-reset").unwrap();
    assert!(DateTime::parse_from_rfc3339(&reset).is_ok());
    h.shutdown().await;
}

#[tokio::test]
async fn rate_limiter() {
    let cfg = FakeApiConfig {
        rate_limit: Some(RateLimit { requests: 3, window: Duration::from_millis(1200) }),
        ..FakeApiConfig::default()
    };
    let (h, api) = start(small_tenant(), cfg).await;
    // auth failures are not counted
    for _ in 0..5 {
        assert_eq!(api.get_with("/activities", None).await.status, 404);
        assert_eq!(api.get_with("/activities", Some("sk-ant-api01-nope")).await.status, 401);
    }
    let r1 = api.get("/organizations").await;
    assert_eq!(r1.status, 200);
    assert_eq!(r1.header("anthropic-ratelimit-requests-remaining").as_deref(), Some("2"));
    // a scope failure counts
    let r2 = api.get_with("/organizations", Some(&synthetic_admin_key())).await;
    assert_eq!(r2.status, 403);
    let r3 = api.get("/organizations").await;
    assert_eq!(r3.header("anthropic-ratelimit-requests-remaining").as_deref(), Some("0"));
    let r4 = api.get("/organizations").await;
    assert_eq!(r4.status, 429);
    let b = r4.json();
    assert_eq!(b["error"]["type"], "rate_limit_error");
    assert!(r4.message().starts_with("Compliance API rate limit of 600 requests per minute"));
    let ra: u64 = r4.header("retry-after").unwrap().parse().unwrap();
    assert!(ra >= 1);
    assert_eq!(r4.header("anthropic-ratelimit-requests-remaining").as_deref(), Some("0"));
    assert!(r4.header("request-id").is_some());
    let s = h.stats();
    assert_eq!(s.rate_limited, 1);
    assert_eq!(s.count(429), 1);
    assert_eq!(s.count(401), 5);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(api.get("/organizations").await.status, 200);
    h.shutdown().await;
}

#[tokio::test]
async fn fault_injection() {
    let (h, api) = start(small_tenant(), FakeApiConfig::default()).await;
    // scripted one-shot faults, matched by substring, consumed in order
    h.set_faults(Faults::scripted(vec![
        ScriptedFault::new("/apps/chats", 503),
        ScriptedFault::new("/organizations", 500).with_header("x-should-retry", "false"),
        ScriptedFault::new("/activities", 200).with_body("{\"data\": [tru"),
    ]));
    let r = api.get("/organizations").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.header("x-should-retry").as_deref(), Some("false"));
    assert_eq!(api.get("/organizations").await.status, 200);
    assert_eq!(api.get("/apps/chats").await.status, 503);
    let r = api.get("/activities").await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.bytes).is_err());
    assert_eq!(api.get("/activities").await.status, 200);

    // injected 429 every 2nd request, with and without retry-after
    h.set_faults(Faults { rate_limit_every_nth: Some(2), rate_limit_retry_after: Some(7), ..Faults::default() });
    assert_eq!(api.get("/organizations").await.status, 200);
    let r = api.get("/organizations").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("7"));
    h.set_faults(Faults { rate_limit_every_nth: Some(1), rate_limit_retry_after: None, ..Faults::default() });
    let r = api.get("/organizations").await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_none());

    // transient 5xx every 3rd, some 500s non-retryable
    h.set_faults(Faults { error_every_nth: Some(1), non_retryable_500s: true, ..Faults::default() });
    let mut statuses = BTreeSet::new();
    let mut no_retry = 0;
    for _ in 0..40 {
        let r = api.get("/organizations").await;
        statuses.insert(r.status.as_u16());
        if r.header("x-should-retry").as_deref() == Some("false") {
            assert_eq!(r.status, 500);
            no_retry += 1;
        }
    }
    assert!(statuses.is_subset(&[500u16, 502, 503, 529].into_iter().collect()));
    assert!(statuses.len() >= 3, "{statuses:?}");
    assert!(no_retry > 0);

    // malformed JSON every 2nd, oversized bodies, latency
    h.set_faults(Faults {
        malformed_json_every_nth: Some(2),
        oversized_body: Some(OversizedBody { every_nth: 1, bytes: 200_000 }),
        latency: Some(Duration::from_millis(50)),
        ..Faults::default()
    });
    let t0 = std::time::Instant::now();
    let a = api.get("/organizations").await;
    assert!(t0.elapsed() >= Duration::from_millis(50));
    assert!(a.bytes.len() >= 200_000);
    assert!(a.json()["x_padding"].is_string());
    let b = api.get("/organizations").await;
    assert!(serde_json::from_slice::<Value>(&b.bytes).is_err());
    h.set_faults(Faults::none());

    let s = h.stats();
    assert_eq!(s.injected_scripted, 3);
    assert_eq!(s.injected_429, 2);
    assert_eq!(s.injected_5xx, 40 + 2);
    assert_eq!(s.injected_malformed, 1);
    assert_eq!(s.injected_oversized, 2);
    assert_eq!(s.rate_limited, 0);
    assert_eq!(s.requests as usize, s.request_log.len());
    assert!(s.request_log.iter().any(|l| l.path_and_query == "/v1/compliance/apps/chats"));
    h.shutdown().await;
}

#[tokio::test]
async fn mutation_between_syncs() {
    let (h, api) = start(tenant(), FakeApiConfig::default()).await;
    // "first sync": newest-first walk, remember first_id (newest) and the chats cursor
    let first = api.ok("/activities?limit=1000").await;
    let saved_first = first["first_id"].as_str().unwrap().to_string();
    let (chats, _) = api.walk_cursor("/apps/chats?order_by=updated_at&limit=50", "data").await;
    let chats_cursor =
        api.ok("/apps/chats?order_by=updated_at&limit=1000").await["last_id"].as_str().unwrap().to_string();
    assert_eq!(chats.len(), h.expected().chats.len());
    let before = h.expected();

    let summary = h.with_tenant(|t| {
        let now = t.now + CDuration::hours(6);
        t.mutate(&MutationConfig::at(now))
    });
    let after = h.expected();
    assert!(after.activities.len() > before.activities.len());
    assert!(after.chats.len() > before.chats.len());

    // catch-up with before_id=<saved first_id>: sees new rows, misses the late-indexed ones
    let mut caught = BTreeSet::new();
    let mut cursor = saved_first.clone();
    loop {
        let v = api.ok(&format!("/activities?limit=7&before_id={}", enc(&cursor))).await;
        for a in v["data"].as_array().unwrap() {
            caught.insert(a["id"].as_str().unwrap().to_string());
        }
        if !v["has_more"].as_bool().unwrap() {
            break;
        }
        cursor = v["first_id"].as_str().unwrap().to_string();
    }
    let new: BTreeSet<String> = summary.new_activity_ids.iter().cloned().collect();
    assert_eq!(caught, new);
    for late in &summary.late_activity_ids {
        assert!(!caught.contains(late));
        assert!(after.activities.contains(late));
    }
    // a full walk sees everything
    let (all, _) = api.walk_cursor("/activities?limit=1000", "data").await;
    assert_eq!(unique(&ids(&all)), after.activities);

    // chats: after the saved updated_at cursor come exactly the new / changed chats
    let (changed, _) = api
        .walk_cursor(&format!("/apps/chats?order_by=updated_at&limit=2&after_id={}", enc(&chats_cursor)), "data")
        .await;
    let changed: BTreeSet<String> = ids(&changed).into_iter().collect();
    let mut want: BTreeSet<String> = summary.new_chat_ids.iter().cloned().collect();
    want.extend(summary.appended_chat_ids.iter().cloned());
    want.extend(summary.soft_deleted_chat_ids.iter().cloned());
    assert_eq!(changed, want);
    for id in &summary.soft_deleted_chat_ids {
        let v = api.ok(&format!("/apps/chats/{id}/messages")).await;
        assert!(v["deleted_at"].is_string());
        assert_eq!(v["name"], "");
        for m in v["chat_messages"].as_array().unwrap() {
            assert_eq!(m["content"], serde_json::json!([]));
            assert!(m["files"].is_null() && m["generated_files"].is_null());
        }
    }
    // removed users vanish from the users list
    for (org, uid) in &summary.removed_users {
        let users = api.walk_pages(&format!("/organizations/{org}/users")).await;
        assert!(!ids(&users).contains(uid));
    }
    // updated projects show up with updated_at.gte
    let since = summary.previous_now.to_rfc3339();
    let v = api.ok(&format!("/apps/projects?limit=100&updated_at.gt={}", enc(&since))).await;
    let got: BTreeSet<String> = ids(v["data"].as_array().unwrap()).into_iter().collect();
    let mut want: BTreeSet<String> = summary.updated_project_ids.iter().cloned().collect();
    want.extend(summary.new_project_ids.iter().cloned());
    assert_eq!(got, want);
    h.shutdown().await;
}

#[tokio::test]
async fn access_activities_are_emitted() {
    let cfg = FakeApiConfig { emit_access_activities: true, ..FakeApiConfig::default() };
    let (h, api) = start(small_tenant(), cfg).await;
    let n0 = h.expected().activities.len();
    api.ok("/organizations").await;
    api.get_with("/organizations", None).await; // unauthenticated: no activity
    let r = api.get("/apps/chats?bogus=1").await;
    assert_eq!(r.status, 400);
    assert_eq!(h.expected().activities.len(), n0 + 2);
    let v = api.ok("/activities?limit=2&activity_types[]=compliance_api_accessed").await;
    let newest = &v["data"][0];
    assert_eq!(newest["actor"]["type"], "api_actor");
    assert_eq!(newest["status_code"], 400);
    assert_eq!(newest["request_method"], "GET");
    assert!(newest["url"].as_str().unwrap().ends_with("/v1/compliance/apps/chats?bogus=1"));
    assert_eq!(newest["request_id"].as_str(), r.header("request-id").as_deref());
    h.shutdown().await;
}

#[tokio::test]
async fn roles_groups_settings_paging_scopes_and_404s() {
    let (h, api) = start(tenant(), FakeApiConfig::default()).await;
    let e = h.expected().directory;
    let orgs: Vec<String> = h.with_tenant(|t| t.orgs.iter().map(|o| o.uuid.clone()).collect());
    // roles and their permissions, paged (limit 2 / 5): every item once, in a stable order
    let mut roles = BTreeSet::new();
    for org in &orgs {
        let list = api.walk_pages(&format!("/organizations/{org}/roles?limit=2")).await;
        assert_eq!(api.ok(&format!("/organizations/{org}/roles")).await["data"].as_array().unwrap().len(), list.len());
        for r in &list {
            let id = r["id"].as_str().unwrap();
            assert!(id.starts_with("rbac_role_") && roles.insert(format!("{org}/{id}")));
            let perms = api.walk_pages(&format!("/organizations/{org}/roles/{id}/permissions?limit=5")).await;
            assert_eq!(Some(perms.clone()), h.with_tenant(|t| t.role_permissions_json(org, id)));
            assert!(perms.iter().all(|p| p["resource_type"] == "organization" && p["action"].is_string()));
            assert_eq!(&api.ok(&format!("/organizations/{org}/roles/{id}")).await, r);
        }
    }
    assert_eq!(roles, e.roles);
    assert!(roles.len() >= orgs.len() * 5);
    let r = api.get(&format!("/organizations/{}/roles/rbac_role_01nope/permissions", orgs[0])).await;
    assert_eq!((r.status.as_u16(), r.message()), (404, "Role not found.".to_string()));
    let r = api.get("/organizations/00000000-0000-0000-0000-000000000000/roles").await;
    assert_eq!(r.status, 404);
    assert!(api.bad(&format!("/organizations/{}/roles?limit=1001", orgs[0])).await.contains("limit"));

    // groups (tenant-wide) and members, paged; name_prefix filters
    let groups = api.walk_pages("/groups?limit=1").await;
    assert_eq!(unique(&ids(&groups)), e.groups);
    assert!(groups.iter().any(|g| g["source_type"] == "scim") && groups.iter().any(|g| g["roles"].is_null()));
    let sec = api.ok("/groups?name_prefix=Sec").await;
    assert_eq!(sec["data"].as_array().unwrap().len(), 1);
    let mut members = BTreeSet::new();
    for g in &groups {
        let id = g["id"].as_str().unwrap();
        for m in api.walk_pages(&format!("/groups/{id}/members?limit=2")).await {
            assert!(m["email"].is_string() && m["created_at"].is_string());
            assert!(members.insert(format!("{id}/{}", m["user_id"].as_str().unwrap())));
        }
        assert_eq!(&api.ok(&format!("/groups/{id}")).await, g);
    }
    assert_eq!(members, e.group_members);
    let r = api.get("/groups/rbac_group_01nope/members").await;
    assert_eq!((r.status.as_u16(), r.message()), (404, "Group not found.".to_string()));
    assert_eq!(api.bad("/groups?page=bogus").await, "The page parameter is not a valid cursor for this request.");

    // settings: verbatim object per org, every documented row type, api_keys; 404 when not enabled
    let enabled = &e.org_settings;
    assert!(enabled.len() < orgs.len(), "the default tenant has one organization without settings");
    for org in &orgs {
        let r = api.get(&format!("/organizations/{org}/settings")).await;
        if enabled.contains(org) {
            assert_eq!(r.status, 200);
            let v = r.json();
            assert_eq!(
                (v["type"].as_str(), v["organization_id"].as_str()),
                (Some("effective_organization_settings"), Some(org.as_str()))
            );
            let types: BTreeSet<&str> =
                v["settings"].as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap()).collect();
            assert_eq!(types.len(), 6, "{types:?}");
            let keys = v["api_keys"].as_array().unwrap();
            assert!(
                keys.iter().any(|k| k["is_active"] == false) && keys.iter().all(|k| k["type"] == "compliance_api_key")
            );
            assert!(!r.bytes.windows(7).any(|w| w == b"sk-ant-"), "no secret in api_keys");
        } else {
            assert_eq!(r.status, 404);
            assert!(r.message().contains("not found in this organization's hierarchy"), "{}", r.message());
        }
    }
    // the settings endpoint alone answers a missing key with 401 (every other path: 404)
    let r = api.get_with(&format!("/organizations/{}/settings", orgs[0]), None).await;
    assert_eq!(r.status, 401);
    assert_eq!(api.get_with("/groups", None).await.status, 404);

    // scopes: roles, groups and settings need org_data; group members need user_data
    let org_key = format!("{}orgdataonly{}", shared::fake_api::COMPLIANCE_KEY_PREFIX, "0".repeat(32));
    let user_key = format!("{}activitiesonly{}", shared::fake_api::COMPLIANCE_KEY_PREFIX, "0".repeat(29));
    h.set_keys(vec![
        FakeKey::new(org_key.clone(), &[SCOPE_ORG_DATA]),
        FakeKey::new(user_key.clone(), &[SCOPE_ACTIVITIES]),
    ]);
    let gid = groups[0]["id"].as_str().unwrap();
    assert_eq!(api.get_with("/groups", Some(&org_key)).await.status, 200);
    assert_eq!(api.get_with(&format!("/organizations/{}/roles", orgs[0]), Some(&org_key)).await.status, 200);
    let r = api.get_with(&format!("/groups/{gid}/members"), Some(&org_key)).await;
    assert_eq!(r.status, 403);
    assert!(r.message().contains("read:compliance_user_data"), "{}", r.message());
    for p in [
        "/groups".to_string(),
        format!("/organizations/{}/settings", orgs[0]),
        format!("/organizations/{}/roles", orgs[0]),
    ] {
        let r = api.get_with(&p, Some(&user_key)).await;
        assert_eq!(r.status, 403, "{p}");
        assert!(r.message().contains("read:compliance_org_data"), "{}", r.message());
    }
    h.shutdown().await;
}

#[tokio::test]
async fn code_artifacts_listing_quirks_downloads_and_errors() {
    let (h, api) = start(small_tenant(), FakeApiConfig::default()).await;
    let arts = h.with_tenant(|t| t.content.code_artifacts.clone());
    assert!(arts.len() >= 6);
    // every artifact_type seen, the unknown one passed through; one without updated_at; one agent-published
    let types: BTreeSet<&str> = arts.iter().map(|a| a.artifact_type.as_str()).collect();
    assert!(types.contains("claude_docs") && types.contains("claude_sheets") && types.len() >= 3, "{types:?}");
    assert!(arts.iter().any(|a| a.updated_at.is_none()) && arts.iter().any(|a| a.owner_user_id.is_none()));
    // whole walk at limit 20: sorted by identifier, each once, listed versions ≤ 20
    let all = api.walk_pages("/apps/code/artifacts").await;
    let listed = ids(&all);
    assert_eq!(unique(&listed).len(), arts.len());
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "sorted by identifier");
    assert!(all.iter().all(|a| a["versions"].as_array().unwrap().len() <= 20));
    assert!(all.iter().any(|a| a["versions"].as_array().unwrap().len() == 20), "a long history is cut to 20");
    // filtered pages are short or empty while next_page is set; updated_at never matches a null
    let filtered = api.walk_pages("/apps/code/artifacts?limit=1&updated_at.gte=2000-01-01T00:00:00Z").await;
    assert_eq!(filtered.len(), arts.iter().filter(|a| a.updated_at.is_some()).count());
    let v = api.ok("/apps/code/artifacts?limit=100").await;
    assert_eq!(v["data"].as_array().unwrap().len(), arts.len());
    assert!(api.bad("/apps/code/artifacts?limit=101").await.contains("limit"));
    assert!(api.bad("/apps/code/artifacts?order=asc").await.contains("order"));
    assert!(api.bad("/apps/code/artifacts?organization_uuid=x").await.contains("organization_uuid"));
    assert!(api.bad("/apps/code/artifacts?page=bogus").await.contains("cursor"));
    // version download: a single file with Content-MD5 and the documented name
    let sheet = arts.iter().find(|a| a.artifact_type == "claude_sheets").unwrap();
    let ver = sheet.versions.last().unwrap();
    let r = api.get(&format!("/apps/code/artifacts/{}/versions/{}", sheet.id, ver.id)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, ver.content);
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&r.bytes));
    assert_eq!(r.header("content-md5"), Some(md5));
    assert_eq!(
        r.header("content-disposition").unwrap(),
        format!("attachment; filename*=utf-8''{}-{}.txt", sheet.id, ver.id)
    );
    // a Claude Doc version: 422 multi_file_unavailable, with or without multi_file_format=zip
    let doc = arts.iter().find(|a| a.artifact_type == "claude_docs").unwrap();
    for q in ["", "?multi_file_format=zip"] {
        let r = api.get(&format!("/apps/code/artifacts/{}/versions/{}{q}", doc.id, doc.versions[0].id)).await;
        assert_eq!(r.status, 422);
        assert_eq!(r.json()["error"]["details"]["error_code"], "multi_file_unavailable");
    }
    // unknown artifact, unknown version, a version rotated out of the listing: 404
    let long = arts.iter().find(|a| a.versions.len() > 20).unwrap();
    for p in [
        format!("/apps/code/artifacts/cart_01nope/versions/{}", ver.id),
        format!("/apps/code/artifacts/{}/versions/cart_ver_01nope", sheet.id),
        format!("/apps/code/artifacts/{}/versions/{}", long.id, long.versions[0].id),
    ] {
        assert_eq!(api.get(&p).await.status, 404, "{p}");
    }
    // a mutation publishes a new version: updated_at moves, the new version is listed first
    let m = h.with_tenant(|t| t.mutate(&MutationConfig::at(end() + CDuration::hours(1))));
    let id = m.content.updated_code_artifacts.first().expect("an updated artifact").clone();
    let after = api.walk_pages("/apps/code/artifacts").await;
    let a = after.iter().find(|a| a["id"] == id.as_str()).unwrap();
    let before = all.iter().find(|a| a["id"] == id.as_str()).unwrap();
    assert_ne!(a["updated_at"], before["updated_at"]);
    assert_eq!(a["published_version_id"], a["versions"][0]["id"]);
    // chat content: the new artifact version and generated file are served
    for vid in &m.content.new_artifact_versions {
        let meta = api.ok(&format!("/apps/artifacts/{vid}")).await;
        assert_eq!(meta["version_id"], vid.as_str());
        assert!(api.ok(&format!("/apps/artifacts/{vid}/content")).await["content"].is_string());
    }
    for gid in &m.content.new_generated_files {
        assert_eq!(api.ok(&format!("/apps/chats/generated-files/{gid}")).await["id"], gid.as_str());
        assert_eq!(api.get(&format!("/apps/chats/generated-files/{gid}/content")).await.status, 200);
    }
}
