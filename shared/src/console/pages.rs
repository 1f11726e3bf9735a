//! The console's pages: Findings (filters, chart, top lists, table, detail, export), Health (jobs,
//! freshness, runs and manifests with an on-demand verify) and Keys (record, register, revoke).

use super::data::{self, s, when, Filter, SortKey, SEVERITIES};
use super::html::{badge, bar_list, chart, esc, page, sev_color, Tab};
use super::{form_fields, AppState, IdPath, Lake, Query};
use crate::keys::{self, KeyRecord, KeyStatus};
use crate::store::StoreError;
use crate::time::Timestamp;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

type St = State<Arc<AppState>>;

pub fn plain(msg: &str) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{msg}\n")).into_response()
}

fn fmt_time(t: Option<Timestamp>) -> String {
    t.map(|t| t.0.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "—".into())
}

fn fmt_str_time(v: &str) -> String {
    if v.is_empty() {
        return "—".into();
    }
    Timestamp::parse(v).map(|t| fmt_time(Some(t))).unwrap_or_else(|_| v.to_string())
}

fn store_failure(st: &AppState, tab: Tab, e: &StoreError) -> Response {
    tracing::warn!(error = %e, "console could not read the store");
    let body = format!(
        "<h1>The lake could not be read</h1><div class=\"error\">{}</div><p class=\"muted\">Reload to try again.</p>",
        esc(&e.to_string())
    );
    (StatusCode::SERVICE_UNAVAILABLE, Html(page("Unavailable", tab, &st.backend.describe, &[], &body))).into_response()
}

fn user_label(f: &Value) -> String {
    let e = s(f, "user_email");
    if e.is_empty() {
        s(f, "user_id").to_string()
    } else {
        e.to_string()
    }
}

fn org_label(l: &Lake, uuid: &str) -> String {
    match l.orgs.get(uuid) {
        Some(n) if !n.is_empty() => n.clone(),
        _ if uuid.is_empty() => "—".into(),
        _ => uuid.chars().take(8).collect::<String>() + "…",
    }
}

// ---------------------------------------------------------------- Findings

fn filter_form(f: &Filter, l: &Lake) -> String {
    let opts = |name: &str, values: Vec<(String, String)>| {
        let cur = f.raw_value(name);
        let mut o = String::from("<option value=\"\">any</option>");
        for (v, label) in values {
            o.push_str(&format!(
                "<option value=\"{}\"{}>{}</option>",
                esc(&v),
                if v == cur { " selected" } else { "" },
                esc(&label)
            ));
        }
        o
    };
    let distinct = |k: &str| {
        let mut v: Vec<String> = l.findings.iter().map(|r| s(r, k).to_string()).filter(|x| !x.is_empty()).collect();
        v.sort();
        v.dedup();
        v.into_iter().map(|x| (x.clone(), x)).collect::<Vec<_>>()
    };
    let sev_opts = SEVERITIES.iter().map(|x| (x.as_str().to_string(), x.as_str().to_string())).collect();
    let mut orgs: Vec<(String, String)> = distinct("organization_uuid")
        .into_iter()
        .map(|(u, _)| {
            let label = org_label(l, &u);
            (u, label)
        })
        .collect();
    orgs.sort_by(|a, b| a.1.cmp(&b.1));
    let input = |name: &str, label: &str, ty: &str, ph: &str| {
        format!(
            "<label>{label}<input type=\"{ty}\" name=\"{name}\" value=\"{}\" placeholder=\"{ph}\"></label>",
            esc(f.raw_value(name))
        )
    };
    let hidden: String = ["sort", "dir", "fingerprint", "per_page"]
        .iter()
        .filter(|k| !f.raw_value(k).is_empty())
        .map(|k| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(f.raw_value(k))))
        .collect();
    format!(
        "<form class=\"filters card\" method=\"get\" action=\"/findings\" id=\"filters\">{}{}\
<label>Severity<select name=\"severity\" id=\"f-severity\">{}</select></label>\
<label>Detector<select name=\"detector\" id=\"f-detector\">{}</select></label>\
<label>Source<select name=\"source_kind\" id=\"f-source\">{}</select></label>\
{}<label>Organization<select name=\"org\" id=\"f-org\">{}</select></label>{hidden}\
<div class=\"actions\"><button type=\"submit\" id=\"apply\">Apply</button><a class=\"button secondary\" href=\"/findings\">Reset</a></div></form>",
        input("since", "From", "text", "YYYY-MM-DD"),
        input("until", "To", "text", "YYYY-MM-DD"),
        opts("severity", sev_opts),
        opts("detector", distinct("detector")),
        opts("source_kind", distinct("source_kind")),
        input("user", "User", "text", "e-mail or user id"),
        opts("org", orgs),
    )
}

pub async fn findings(State(st): St, q: Query) -> Response {
    let lake = match st.lake().await {
        Ok(l) => l,
        Err(e) => return store_failure(&st, Tab::Findings, &e),
    };
    let query = q.0.unwrap_or_default();
    let (f, errors) = match Filter::parse(&query) {
        Ok(f) => (f, vec![]),
        Err(errs) => {
            // Keep what was typed in the form, show every problem, list nothing.
            let raw =
                url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            (Filter { raw, ..Filter::default() }, errs)
        }
    };
    let mut body = String::from("<h1>DLP findings</h1>");
    body.push_str(&filter_form(&f, &lake));
    if !errors.is_empty() {
        let html = page("Findings", Tab::Findings, &st.backend.describe, &errors, &body);
        return (StatusCode::BAD_REQUEST, Html(html)).into_response();
    }
    let rows = f.apply(&lake.findings);
    let counts = data::count_by_severity(&rows);
    body.push_str("<div class=\"grid g4\" id=\"tiles\">");
    for (sev, n) in SEVERITIES.iter().zip(counts) {
        let href = format!("/findings?{}", f.query_with(&[("severity", Some(sev.as_str())), ("page", None)]));
        body.push_str(&format!(
            "<div class=\"tile {}\"><a href=\"{}\"><div class=\"n\" data-testid=\"count-{}\">{n}</div><div class=\"l\">{}</div></a></div>",
            super::html::sev_class(*sev),
            esc(&href),
            sev.as_str(),
            sev.as_str()
        ));
    }
    body.push_str("</div>");
    // legend swatches are SVG: inline styles are not allowed under the CSP
    let legend_svg: String = SEVERITIES
        .iter()
        .map(|x| {
            format!(
                "<span><svg width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\" rx=\"2\" fill=\"{}\"/></svg> {}</span>",
                sev_color(*x),
                x.as_str()
            )
        })
        .collect();
    let h = data::histogram(&rows);
    body.push_str(&format!(
        "<div class=\"card\"><h2>Findings per {} by severity</h2>{}<div class=\"legend\">{legend_svg}</div></div>",
        if h.bucket_days == 1 { "day" } else { "week" },
        chart(&h)
    ));
    let link = |k: &str, v: &str| format!("/findings?{}", f.query_with(&[(k, Some(v)), ("page", None)]));
    let users: Vec<(String, String, u64)> =
        data::top(&rows, "user_email", 8).into_iter().map(|(u, n)| (u.clone(), link("user", &u), n)).collect();
    let dets: Vec<(String, String, u64)> =
        data::top(&rows, "detector", 8).into_iter().map(|(d, n)| (d.clone(), link("detector", &d), n)).collect();
    body.push_str(&format!(
        "<div class=\"grid g2\"><div class=\"card\"><h2>Top users</h2>{}</div><div class=\"card\"><h2>Top detectors</h2>{}</div></div>",
        bar_list(&users, "top-users"),
        bar_list(&dets, "top-detectors")
    ));
    // table
    let total = rows.len();
    let pages = total.div_ceil(f.per_page).max(1);
    let pg = f.page.min(pages);
    let start = (pg - 1) * f.per_page;
    let th = |key: SortKey, label: &str| {
        let (dir, mark) = if f.sort == key {
            (if f.asc { "desc" } else { "asc" }, if f.asc { " ▲" } else { " ▼" })
        } else {
            ("desc", "")
        };
        let href =
            format!("/findings?{}", f.query_with(&[("sort", Some(key.as_str())), ("dir", Some(dir)), ("page", None)]));
        format!(
            "<th><a href=\"{}\"{} data-sort=\"{}\">{label}{mark}</a></th>",
            esc(&href),
            if f.sort == key { " class=\"sorted\"" } else { "" },
            key.as_str()
        )
    };
    let export = |fmt: &str| format!("/findings/export.{fmt}?{}", f.query_with(&[("page", None), ("per_page", None)]));
    body.push_str(&format!(
        "<div class=\"card\"><div class=\"pager\"><h2 class=\"grow\">{total} finding(s)</h2><span class=\"actions\"><a class=\"button secondary\" id=\"export-csv\" href=\"{}\">Export CSV</a><a class=\"button secondary\" id=\"export-jsonl\" href=\"{}\">Export JSONL</a></span></div>\
<table id=\"findings\"><thead><tr>{}{}{}<th>Source</th>{}<th>Organization</th><th>Redacted snippet</th></tr></thead><tbody>",
        esc(&export("csv")),
        esc(&export("jsonl")),
        th(SortKey::When, "When"),
        th(SortKey::Severity, "Severity"),
        th(SortKey::Detector, "Detector"),
        th(SortKey::User, "User"),
    ));
    for r in rows.iter().skip(start).take(f.per_page) {
        let id = s(r, "id");
        let href = format!("/findings/{}", url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>());
        let _ = write!(
            body,
            "<tr data-id=\"{}\" data-href=\"{}\"><td class=\"when\"><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"user\">{}</td><td>{}</td><td class=\"snip\">{}</td></tr>",
            esc(id),
            esc(&href),
            esc(&href),
            fmt_time(when(r)),
            badge(data::severity_of(r)),
            esc(s(r, "detector")),
            esc(s(r, "source_kind")),
            esc(&user_label(r)),
            esc(&org_label(&lake, s(r, "organization_uuid"))),
            esc(s(r, "redacted"))
        );
    }
    body.push_str("</tbody></table>");
    let nav = |p: usize, label: &str, id: &str| {
        let p = p.to_string();
        let q = f.query_with(&[("page", Some(p.as_str()))]);
        format!("<a class=\"button secondary\" id=\"{id}\" href=\"/findings?{}\">{label}</a>", esc(&q))
    };
    body.push_str(&format!(
        "<div class=\"pager\">{}<span id=\"page-info\">page {pg} of {pages}</span>{}</div></div>",
        if pg > 1 { nav(pg - 1, "← previous", "prev") } else { String::new() },
        if pg < pages { nav(pg + 1, "next →", "next") } else { String::new() },
    ));
    Html(page("Findings", Tab::Findings, &st.backend.describe, &[], &body)).into_response()
}

async fn filtered(st: &AppState, q: Query) -> Result<(Arc<Lake>, Filter), Response> {
    let lake = st.lake().await.map_err(|e| store_failure(st, Tab::Findings, &e))?;
    let f = Filter::parse(&q.0.unwrap_or_default()).map_err(|errs| {
        (StatusCode::BAD_REQUEST, plain(&format!("bad filter: {}", errs.join("; ")))).into_response()
    })?;
    Ok((lake, f))
}

pub async fn export_csv(State(st): St, q: Query) -> Response {
    let (lake, f) = match filtered(&st, q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let rows = f.apply(&lake.findings);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"dlp-findings.csv\""),
        ],
        data::csv(&rows),
    )
        .into_response()
}

pub async fn export_jsonl(State(st): St, q: Query) -> Response {
    let (lake, f) = match filtered(&st, q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut out = String::new();
    for r in f.apply(&lake.findings) {
        out.push_str(&r.to_string());
        out.push('\n');
    }
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"dlp-findings.jsonl\""),
        ],
        out,
    )
        .into_response()
}

/// Counts of the filtered set (what the tiles and the chart show), for scripts and tests.
pub async fn summary_json(State(st): St, q: Query) -> Response {
    let (lake, f) = match filtered(&st, q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let rows = f.apply(&lake.findings);
    let c = data::count_by_severity(&rows);
    let by_sev: serde_json::Map<String, Value> =
        SEVERITIES.iter().zip(c).map(|(s, n)| (s.as_str().to_string(), json!(n))).collect();
    let h = data::histogram(&rows);
    let body = json!({
        "total": rows.len(),
        "by_severity": by_sev,
        "bucket_days": h.bucket_days,
        "buckets": h.buckets.iter().map(|(d, c)| json!({"start": d.to_string(), "counts": c})).collect::<Vec<_>>(),
        "top_users": data::top(&rows, "user_email", 10),
        "top_detectors": data::top(&rows, "detector", 10),
    });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

pub async fn finding_detail(State(st): St, id: IdPath) -> Response {
    let lake = match st.lake().await {
        Ok(l) => l,
        Err(e) => return store_failure(&st, Tab::Findings, &e),
    };
    let Some(f) = lake.findings.iter().find(|r| s(r, "id") == id.0.as_str()) else {
        let body = "<h1>Finding not found</h1><p>It may belong to another store. <a href=\"/findings\">Back to findings</a></p>";
        return (StatusCode::NOT_FOUND, Html(page("Not found", Tab::Findings, &st.backend.describe, &[], body)))
            .into_response();
    };
    let fp = s(f, "fingerprint");
    let others: Vec<&Value> = lake
        .findings
        .iter()
        .filter(|r| !fp.is_empty() && s(r, "fingerprint") == fp && s(r, "id") != s(f, "id"))
        .collect();
    let chat_id = s(f, "chat_id");
    let (chat_name, chat_href) = lake.chats.get(chat_id).cloned().unwrap_or_default();
    let project_id = s(f, "project_id");
    let dash = |v: &str| if v.is_empty() { "—".to_string() } else { esc(v) };
    let chat = if chat_id.is_empty() {
        "—".into()
    } else {
        let name = if chat_name.is_empty() { "(untitled chat)".to_string() } else { chat_name };
        match chat_href {
            Some(h) => format!(
                "{} <a href=\"{}\" rel=\"noreferrer noopener\" target=\"_blank\" id=\"chat-link\">open in Claude ↗</a> <span class=\"muted\"><code>{}</code></span>",
                esc(&name),
                esc(&h),
                esc(chat_id)
            ),
            None => format!("{} <span class=\"muted\"><code>{}</code></span>", esc(&name), esc(chat_id)),
        }
    };
    let project = if project_id.is_empty() {
        "—".into()
    } else {
        format!(
            "{} <span class=\"muted\"><code>{}</code></span>",
            esc(lake.projects.get(project_id).map(String::as_str).unwrap_or("")),
            esc(project_id)
        )
    };
    let session =
        ["session_id", "local_session_id", "remote_session_id"].iter().map(|k| s(f, k)).find(|v| !v.is_empty());
    let seen = if others.is_empty() {
        "not seen anywhere else".to_string()
    } else {
        format!(
            "<a id=\"seen-elsewhere\" href=\"/findings?fingerprint={}\">seen in {} other place(s)</a>",
            url::form_urlencoded::byte_serialize(fp.as_bytes()).collect::<String>(),
            others.len()
        )
    };
    let mut body = format!(
        "<p><a href=\"/findings\">← all findings</a></p><h1>{} {}</h1>\
<div class=\"card\"><h2>Redacted snippet</h2><pre id=\"snippet\">{}</pre><p class=\"muted\">Bytes {}–{} of the source; the matched value is never stored.</p></div>\
<div class=\"grid g2\"><div class=\"card\"><h2>Finding</h2><dl class=\"kv\">\
<dt>Detector</dt><dd>{}</dd><dt>Severity</dt><dd>{}</dd><dt>Confidence</dt><dd>{}</dd>\
<dt>Fingerprint</dt><dd><code id=\"fingerprint\">{}</code><br>{seen}</dd>\
<dt>Detected</dt><dd>{}</dd><dt>Finding id</dt><dd><code>{}</code></dd><dt>Run</dt><dd><code>{}</code></dd></dl></div>\
<div class=\"card\"><h2>Context</h2><dl class=\"kv\" id=\"context\">\
<dt>Source</dt><dd>{} <span class=\"muted\"><code>{}</code></span></dd>\
<dt>User</dt><dd>{}</dd><dt>Organization</dt><dd>{}</dd>\
<dt>Chat</dt><dd id=\"chat\">{chat}</dd><dt>Message time</dt><dd id=\"message-time\">{}</dd><dt>Message</dt><dd>{}</dd>\
<dt>Project</dt><dd>{project}</dd><dt>File</dt><dd>{}</dd><dt>Session</dt><dd>{}</dd></dl></div></div>",
        badge(data::severity_of(f)),
        esc(s(f, "detector")),
        esc(s(f, "redacted")),
        f.get("start").map(Value::to_string).unwrap_or_default(),
        f.get("end").map(Value::to_string).unwrap_or_default(),
        esc(s(f, "detector")),
        badge(data::severity_of(f)),
        esc(&f.get("confidence").map(Value::to_string).unwrap_or_default()),
        dash(fp),
        fmt_str_time(s(f, "detected_at")),
        esc(s(f, "id")),
        dash(f.pointer("/_ingest/run_id").and_then(Value::as_str).unwrap_or("")),
        esc(s(f, "source_kind")),
        esc(s(f, "source_id")),
        dash(&user_label(f)),
        esc(&org_label(&lake, s(f, "organization_uuid"))),
        fmt_str_time(s(f, "source_created_at")),
        dash(s(f, "message_id")),
        dash(s(f, "file_id")),
        dash(session.unwrap_or("")),
    );
    if !others.is_empty() {
        body.push_str("<div class=\"card\"><h2>The same value elsewhere</h2><table id=\"others\"><thead><tr><th>When</th><th>Source</th><th>User</th><th>Where</th></tr></thead><tbody>");
        for o in others.iter().take(50) {
            let href = format!(
                "/findings/{}",
                url::form_urlencoded::byte_serialize(s(o, "id").as_bytes()).collect::<String>()
            );
            let place = [s(o, "chat_id"), s(o, "project_id"), s(o, "source_id")]
                .into_iter()
                .find(|v| !v.is_empty())
                .unwrap_or("");
            let _ = write!(
                body,
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&href),
                fmt_time(when(o)),
                esc(s(o, "source_kind")),
                esc(&user_label(o)),
                esc(place)
            );
        }
        body.push_str("</tbody></table></div>");
    }
    Html(page("Finding", Tab::Findings, &st.backend.describe, &[], &body)).into_response()
}

// ---------------------------------------------------------------- Health

pub async fn health(State(st): St) -> Response {
    let lake = match st.lake().await {
        Ok(l) => l,
        Err(e) => return store_failure(&st, Tab::Health, &e),
    };
    let state = st.backend.state.as_ref();
    let mut docs = Vec::new();
    let keys_list = match state.keys("").await {
        Ok(k) => k,
        Err(e) => return store_failure(&st, Tab::Health, &e),
    };
    let streams: Vec<&str> = crate::streams::specs().map(|s| s.name).collect();
    for k in keys_list {
        if !streams.iter().any(|s| k == *s || k.starts_with(&format!("{s}/"))) {
            continue;
        }
        match state.load(&k).await {
            Ok(Some(v)) => docs.push((k, v.value)),
            Ok(None) => {}
            Err(e) => return store_failure(&st, Tab::Health, &e),
        }
    }
    let now = Timestamp::now();
    let alarm = st.cfg.freshness_alarm.as_secs() as i64;
    let jobs = data::job_health(&docs, &streams, &lake.quarantine, now, alarm);
    let key = keys::load_record(state).await.ok().flatten();
    let stale = jobs.iter().filter(|j| j.stale).count();
    let total: u64 = jobs.iter().filter_map(|j| j.state.as_ref()).map(|s| s.records_written).sum();
    let quarantined: usize = lake.quarantine.values().sum();
    let mut body = String::from("<h1>Sync health</h1>");
    body.push_str(&format!(
        "<div class=\"grid g4\"><div class=\"tile {}\"><div class=\"n\" id=\"stale-jobs\">{stale}</div><div class=\"l\">jobs past the freshness alarm ({})</div></div>\
<div class=\"tile\"><div class=\"n\">{}</div><div class=\"l\">jobs</div></div>\
<div class=\"tile\"><div class=\"n\">{total}</div><div class=\"l\">records written</div></div>\
<div class=\"tile {}\"><div class=\"n\" id=\"quarantined\">{quarantined}</div><div class=\"l\">quarantined items</div></div></div>",
        if stale > 0 { "critical" } else { "low" },
        data::human_age(alarm),
        jobs.len(),
        if quarantined > 0 { "high" } else { "" }
    ));
    body.push_str("<div class=\"card\"><h2>Streams and organizations</h2><table id=\"jobs\"><thead><tr><th>Stream</th><th>Organization / job</th><th>Last successful run</th><th>Records written</th><th>Freshness</th><th>Committed head</th><th>Last error</th><th>Quarantined</th></tr></thead><tbody>");
    for j in &jobs {
        let st_ = j.state.as_ref();
        let fresh = match j.age_secs {
            None => "<span class=\"pill bad\">never</span>".to_string(),
            Some(a) if j.stale => format!("<span class=\"pill bad\">{} ago</span>", data::human_age(a)),
            Some(a) => format!("<span class=\"pill ok\">{} ago</span>", data::human_age(a)),
        };
        let scope = match &j.org {
            Some(o) => format!("{} <span class=\"muted\"><code>{}</code></span>", esc(&org_label(&lake, o)), esc(o)),
            None if j.job == j.stream => "<span class=\"muted\">tenant-wide</span>".into(),
            None => format!("<code>{}</code>", esc(&j.job)),
        };
        let run = st_.and_then(|s| s.last_run_id.clone()).unwrap_or_default();
        let run_cell = if run.is_empty() {
            "—".into()
        } else {
            format!(
                "<a href=\"/runs/{}\"><code>{}</code></a><br><span class=\"muted\">{}</span>",
                esc(&run),
                esc(&run),
                fmt_time(st_.and_then(|s| s.last_commit_at))
            )
        };
        // the committed head: its manifest sequence number (segments committed so far)
        let pending = st_
            .and_then(|s| s.head.as_ref())
            .map(|h| format!("<span class=\"muted\">manifest #{}</span>", h.seq))
            .unwrap_or_else(|| "—".into());
        let _ = write!(
            body,
            "<tr data-stream=\"{}\" data-job=\"{}\"><td><strong>{}</strong></td><td>{scope}</td><td>{run_cell}</td><td>{}</td><td class=\"fresh\">{fresh}</td><td>{pending}</td><td>{}</td><td>{}</td></tr>",
            esc(&j.stream),
            esc(&j.job),
            esc(&j.stream),
            st_.map(|s| s.records_written.to_string()).unwrap_or_else(|| "0".into()),
            j.last_error.as_deref().map(esc).unwrap_or_else(|| "—".into()),
            j.quarantined
        );
    }
    body.push_str("</tbody></table></div>");
    // budget use
    let (req, rl) = key.as_ref().map(|k| (k.requests, k.rate_limited)).unwrap_or((0, 0));
    let manifest_requests: usize = lake.manifests.iter().map(|m| m.requests.len()).sum();
    body.push_str(&format!(
        "<div class=\"card\"><h2>Budget use</h2><dl class=\"kv\"><dt>API requests (key record)</dt><dd>{req}</dd><dt>Rate-limited (429)</dt><dd>{rl}</dd><dt>Requests in run manifests</dt><dd>{manifest_requests}</dd><dt>Last key error</dt><dd>{}</dd></dl>\
<p class=\"muted\">The key record counts use on the serverless path; local syncs print theirs in the sync summary.</p></div>",
        key.as_ref().and_then(|k| k.last_error.as_deref()).map(esc).unwrap_or_else(|| "—".into())
    ));
    // runs
    body.push_str("<div class=\"card\"><h2>Runs</h2>");
    if lake.manifests.is_empty() {
        let mut runs: HashMap<String, (Vec<String>, Option<Timestamp>)> = HashMap::new();
        for j in &jobs {
            if let Some(s) = &j.state {
                if let Some(r) = &s.last_run_id {
                    let e = runs.entry(r.clone()).or_default();
                    e.0.push(j.job.clone());
                    e.1 = e.1.max(s.last_commit_at);
                }
            }
        }
        let mut runs: Vec<_> = runs.into_iter().collect();
        runs.sort_by_key(|b| std::cmp::Reverse(b.1 .1));
        body.push_str("<p class=\"muted\" id=\"no-manifests\">This store has no run manifests (<code>_manifests/</code>, written by engine v2); runs below come from the jobs' last commits.</p>");
        body.push_str("<table id=\"runs\"><thead><tr><th>Run</th><th>Last commit</th><th>Jobs last committed by it</th></tr></thead><tbody>");
        for (run, (jobs, t)) in runs {
            let _ = write!(
                body,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&run),
                fmt_time(t),
                esc(&jobs.join(", "))
            );
        }
    } else {
        body.push_str("<table id=\"runs\"><thead><tr><th>Run</th><th>First commit</th><th>Last commit</th><th>Jobs</th><th>Segments</th><th>Objects</th><th>Records</th><th>Requests</th></tr></thead><tbody>");
        for r in data::runs_from_manifests(&lake.manifests) {
            let _ = write!(
                body,
                "<tr><td><a href=\"/runs/{}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.run_id),
                esc(&r.run_id),
                fmt_str_time(r.first_commit.as_deref().unwrap_or("")),
                fmt_str_time(r.last_commit.as_deref().unwrap_or("")),
                r.jobs.len(),
                r.segments,
                r.objects,
                r.records,
                r.requests
            );
        }
    }
    body.push_str("</tbody></table></div>");
    Html(page("Health", Tab::Health, &st.backend.describe, &[], &body)).into_response()
}

/// One run's manifests; `?verify=1` re-reads every object and checks its size and SHA-256, and
/// each manifest's `prev_sha256` against the previous manifest of its job.
pub async fn run_detail(State(st): St, run: IdPath, q: Query) -> Response {
    let lake = match st.lake().await {
        Ok(l) => l,
        Err(e) => return store_failure(&st, Tab::Health, &e),
    };
    let verify = q.0.as_deref().is_some_and(|q| q.split('&').any(|p| p == "verify=1"));
    let mut ms: Vec<&data::Manifest> = lake.manifests.iter().filter(|m| m.run_id == run.0).collect();
    ms.sort_by(|a, b| a.job.cmp(&b.job).then(a.seq.cmp(&b.seq)));
    let mut body = format!("<p><a href=\"/health\">← health</a></p><h1>Run <code>{}</code></h1>", esc(&run.0));
    if ms.is_empty() {
        body.push_str("<div class=\"card\"><p class=\"muted\">No manifests for this run in the store (engine v1 stores have none; see the jobs on the health page).</p></div>");
        return Html(page("Run", Tab::Health, &st.backend.describe, &[], &body)).into_response();
    }
    if !verify {
        body.push_str(&format!(
            "<p><a class=\"button\" id=\"verify\" href=\"/runs/{}?verify=1\">Verify objects</a> <span class=\"muted\">re-reads every object of the run and checks size and SHA-256</span></p>",
            esc(&run.0)
        ));
    }
    let (mut ok, mut bad) = (0usize, 0usize);
    for m in &ms {
        let chain = if !verify {
            String::new()
        } else {
            let prev = lake.manifests.iter().find(|p| p.job == m.job && p.seq + 1 == m.seq);
            match (&m.prev_sha256, prev) {
                (None, _) if m.seq == 0 => "<span class=\"check-ok\">first of its job</span>".into(),
                (Some(h), Some(p)) if *h == p.sha256 => "<span class=\"check-ok\">chain ✓</span>".into(),
                (Some(_), Some(_)) => {
                    bad += 1;
                    "<span class=\"check-fail\">chain ✗ (prev_sha256 differs from the previous manifest)</span>".into()
                }
                _ => "<span class=\"muted\">previous manifest not in the store</span>".into(),
            }
        };
        let _ = write!(
            body,
            "<div class=\"card manifest\"><h2>{} · <code>{}</code> · segment {} {chain}</h2><dl class=\"kv\"><dt>Committed</dt><dd>{}</dd><dt>Checkpoint</dt><dd><code>{}</code> → <code>{}</code></dd><dt>Records time range</dt><dd><code>{}</code></dd><dt>Requests</dt><dd>{}</dd><dt>Manifest</dt><dd><code>{}</code></dd></dl>\
<table><thead><tr><th>Object</th><th>Table</th><th>Records</th><th>Bytes</th><th>SHA-256</th>{}</tr></thead><tbody>",
            esc(&m.stream),
            esc(&m.job),
            m.seq,
            fmt_str_time(m.committed_at.as_deref().unwrap_or("")),
            esc(&m.checkpoint_before.to_string()),
            esc(&m.checkpoint_after.to_string()),
            esc(&m.records_time_range.to_string()),
            m.requests.len(),
            esc(&m.key),
            if verify { "<th>Verify</th>" } else { "" }
        );
        for o in &m.objects {
            let check = if !verify {
                String::new()
            } else {
                use sha2::{Digest, Sha256};
                let res = match st.backend.sink.get(&o.key).await {
                    Ok(Some(b)) if b.len() as u64 == o.bytes && hex::encode(Sha256::digest(&b)) == o.sha256 => Ok(()),
                    Ok(Some(b)) => Err(format!("differs ({} bytes)", b.len())),
                    Ok(None) => Err("missing".to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match res {
                    Ok(()) => {
                        ok += 1;
                        "<td class=\"check-ok\">✓</td>".into()
                    }
                    Err(e) => {
                        bad += 1;
                        format!("<td class=\"check-fail\">✗ {}</td>", esc(&e))
                    }
                }
            };
            let _ = write!(
                body,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td>{check}</tr>",
                esc(&o.key),
                esc(&o.table),
                o.records,
                o.bytes,
                esc(&o.sha256.chars().take(16).collect::<String>())
            );
        }
        body.push_str("</tbody></table></div>");
    }
    if verify {
        let cls = if bad == 0 { "notice" } else { "error" };
        body = body.replacen(
            "</h1>",
            &format!(
                "</h1><div class=\"{cls}\" id=\"verify-result\">verify: {ok} object(s) match, {bad} problem(s)</div>"
            ),
            1,
        );
    }
    Html(page("Run", Tab::Health, &st.backend.describe, &[], &body)).into_response()
}

// ---------------------------------------------------------------- Keys

fn key_card(r: Option<&KeyRecord>) -> String {
    let Some(r) = r else {
        return "<div class=\"card\" id=\"key-record\"><h2>Registered key</h2><p class=\"muted\" id=\"no-key\">No key registered yet.</p></div>".into();
    };
    let status = match r.status {
        KeyStatus::Active => "<span class=\"pill ok\" id=\"key-status\">active</span>".to_string(),
        KeyStatus::Revoked => {
            format!("<span class=\"pill bad\" id=\"key-status\">revoked</span> {}", fmt_time(r.revoked_at))
        }
    };
    let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { esc(&v.join(", ")) };
    format!(
        "<div class=\"card\" id=\"key-record\"><h2>Registered key</h2><dl class=\"kv\"><dt>Fingerprint</dt><dd><code id=\"key-fingerprint\">{}</code></dd><dt>Kind</dt><dd>{}</dd><dt>Status</dt><dd>{status}</dd>\
<dt>Scopes seen</dt><dd id=\"scopes\">{}</dd><dt>Scopes missing</dt><dd>{}</dd><dt>Registered</dt><dd>{}</dd><dt>Last success</dt><dd>{}</dd><dt>Last error</dt><dd>{}{}</dd>\
<dt>Use</dt><dd>{} requests, {} rate-limited</dd></dl></div>",
        esc(&r.fingerprint),
        esc(&r.kind),
        list(&r.scopes_observed),
        list(&r.scopes_missing),
        fmt_time(Some(r.registered_at)),
        fmt_time(r.last_success_at),
        fmt_time(r.last_error_at),
        r.last_error.as_deref().map(|e| format!(": {}", esc(e))).unwrap_or_default(),
        r.requests,
        r.rate_limited
    )
}

async fn keys_page(
    st: &AppState,
    notice: Option<String>,
    errors: Vec<String>,
    checks: String,
    status: StatusCode,
) -> Response {
    let rec = match keys::load_record(st.backend.state.as_ref()).await {
        Ok(r) => r,
        Err(e) => return store_failure(st, Tab::Keys, &e),
    };
    let mut body = String::from("<h1>Compliance Access Key</h1>");
    if let Some(n) = notice {
        body.push_str(&format!("<div class=\"notice\" id=\"notice\">{}</div>", esc(&n)));
    }
    if !errors.is_empty() {
        let items: String = errors.iter().map(|e| format!("<li>{}</li>", esc(e))).collect();
        body.push_str(&format!("<div class=\"error\" role=\"alert\" id=\"key-error\"><ul>{items}</ul></div>"));
    }
    body.push_str(&checks);
    body.push_str(&key_card(rec.as_ref()));
    match &st.backend.vault {
        None => body.push_str("<div class=\"card\"><p class=\"muted\">Register and revoke need a place for the key: start the console with <code>--secret-id</code> on the AWS backend.</p></div>"),
        Some(v) => {
            body.push_str(&format!(
                "<div class=\"grid g2\"><form class=\"card\" method=\"post\" action=\"/keys/register\" id=\"register\" autocomplete=\"off\"><h2>Register a key</h2>\
<p class=\"muted\">Validated live against <code>{}</code>, one request per scope, then kept in {}. The key is not shown again.</p>\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><p><input type=\"password\" name=\"key\" id=\"key-input\" placeholder=\"sk-ant-api01-…\" autocomplete=\"new-password\" spellcheck=\"false\" size=\"48\"></p><button type=\"submit\" id=\"register-submit\">Validate and register</button></form>\
<form class=\"card\" method=\"post\" action=\"/keys/revoke\" id=\"revoke\" data-confirm=\"Revoke the key? Scheduled syncs stop until a new key is registered.\"><h2>Revoke</h2>\
<p class=\"muted\">Deletes the stored key and marks the record revoked; the scheduler stops at its next run with a logged reason. Also revoke the key in claude.ai.</p>\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" class=\"danger\" id=\"revoke-submit\"{}>Revoke key</button></form></div>",
                esc(&st.cfg.api_base_url),
                esc(&v.describe()),
                st.csrf,
                st.csrf,
                if rec.is_some() { "" } else { " disabled" }
            ));
        }
    }
    (status, Html(page("Keys", Tab::Keys, &st.backend.describe, &[], &body))).into_response()
}

pub async fn keys(State(st): St) -> Response {
    keys_page(&st, None, vec![], String::new(), StatusCode::OK).await
}

fn csrf_ok(st: &AppState, form: &HashMap<String, String>) -> bool {
    form.get("csrf").is_some_and(|c| super::same(c, &st.csrf))
}

pub async fn key_register(State(st): St, body: Bytes) -> Response {
    let form = form_fields(&body);
    drop(body);
    if !csrf_ok(&st, &form) {
        return (StatusCode::FORBIDDEN, plain("403 — stale form; reload the page")).into_response();
    }
    let Some(vault) = st.backend.vault.clone() else {
        return keys_page(
            &st,
            None,
            vec!["no place to keep the key on this backend".into()],
            String::new(),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let key = crate::api::ApiKey::new(form.get("key").cloned().unwrap_or_default());
    drop(form);
    let _g = st.key_ops.lock().await;
    let client = match st.client(key.clone()) {
        Ok(c) => c,
        Err(e) => {
            return keys_page(&st, None, vec![format!("not registered: {e}")], String::new(), StatusCode::BAD_REQUEST)
                .await
        }
    };
    let probe = keys::probe(&client).await;
    let mut checks = String::from("<div class=\"card\" id=\"checks\"><h2>Live validation</h2><table><tbody>");
    for c in &probe.checks {
        let _ = match &c.result {
            Ok(()) => write!(
                checks,
                "<tr><td class=\"check-ok\">ok</td><td><code>{}</code></td><td>{}</td></tr>",
                c.scope, c.what
            ),
            Err(e) => write!(
                checks,
                "<tr><td class=\"check-fail\">FAIL</td><td><code>{}</code></td><td>{}</td></tr>",
                c.scope,
                esc(&e.to_string())
            ),
        };
    }
    checks.push_str("</tbody></table></div>");
    if let Some(e) = probe.fatal() {
        tracing::info!(fingerprint = %key.fingerprint(), "key registration refused by the API");
        return keys_page(&st, None, vec![format!("not registered: {e}")], checks, StatusCode::BAD_REQUEST).await;
    }
    if probe.observed().is_empty() {
        let why = probe.checks.iter().find_map(|c| c.result.as_ref().err()).map(|e| e.to_string()).unwrap_or_default();
        return keys_page(
            &st,
            None,
            vec![format!("not registered: no scope works: {why}")],
            checks,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    if let Err(e) = vault.put(&key).await {
        return keys_page(&st, None, vec![format!("not registered: {e}")], checks, StatusCode::BAD_GATEWAY).await;
    }
    let rec = KeyRecord {
        fingerprint: key.fingerprint(),
        kind: format!("{:?}", probe.kind),
        scopes_observed: probe.observed(),
        scopes_missing: probe.missing(),
        status: KeyStatus::Active,
        registered_at: Timestamp::now(),
        revoked_at: None,
        last_success_at: Some(Timestamp::now()),
        last_error: None,
        last_error_at: None,
        requests: 0,
        rate_limited: 0,
    };
    if let Err(e) = keys::save_record(st.backend.state.as_ref(), &rec).await {
        return keys_page(
            &st,
            None,
            vec![format!("the key was stored but its record was not saved: {e}")],
            checks,
            StatusCode::BAD_GATEWAY,
        )
        .await;
    }
    tracing::info!(fingerprint = %rec.fingerprint, scopes = rec.scopes_observed.len(), "key registered from the console");
    let missing = if rec.scopes_missing.is_empty() {
        String::new()
    } else {
        format!(" — missing: {}", rec.scopes_missing.join(", "))
    };
    let notice = format!(
        "Registered key {} in {} ({} of 3 scopes observed{missing}).",
        rec.fingerprint,
        vault.describe(),
        rec.scopes_observed.len()
    );
    keys_page(&st, Some(notice), vec![], checks, StatusCode::OK).await
}

pub async fn key_revoke(State(st): St, body: Bytes) -> Response {
    let form = form_fields(&body);
    if !csrf_ok(&st, &form) {
        return (StatusCode::FORBIDDEN, plain("403 — stale form; reload the page")).into_response();
    }
    let Some(vault) = st.backend.vault.clone() else {
        return keys_page(
            &st,
            None,
            vec!["no place to keep the key on this backend".into()],
            String::new(),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let _g = st.key_ops.lock().await;
    if let Err(e) = vault.delete().await {
        return keys_page(&st, None, vec![format!("not revoked: {e}")], String::new(), StatusCode::BAD_GATEWAY).await;
    }
    if let Err(e) = keys::update_record(st.backend.state.as_ref(), |r| {
        r.status = KeyStatus::Revoked;
        r.revoked_at = Some(Timestamp::now());
    })
    .await
    {
        return keys_page(
            &st,
            None,
            vec![format!("the key was deleted but its record was not updated: {e}")],
            String::new(),
            StatusCode::BAD_GATEWAY,
        )
        .await;
    }
    tracing::info!("key revoked from the console");
    keys_page(
        &st,
        Some(format!("Revoked: the key was deleted from {}; the scheduler stops at its next run.", vault.describe())),
        vec![],
        String::new(),
        StatusCode::OK,
    )
    .await
}
