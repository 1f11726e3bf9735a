//! HTML building blocks: escaping, the page frame, the inline SVG chart, and the two static
//! assets (CSS, a little JS) served from the binary — no build step, no third-party origin.

use super::data::{Histogram, SEVERITIES};
use crate::dlp::Severity;

/// Escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

pub fn sev_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::None => "none",
    }
}

pub fn sev_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#b42318",
        Severity::High => "#e8590c",
        Severity::Medium => "#d9a400",
        Severity::Low => "#4c7bd9",
        Severity::None => "#888888",
    }
}

pub fn badge(s: Severity) -> String {
    format!("<span class=\"sev sev-{}\">{}</span>", sev_class(s), s.as_str())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Findings,
    Health,
    Keys,
}

/// The page frame: header, navigation, optional error banner, body.
pub fn page(title: &str, tab: Tab, source: &str, errors: &[String], body: &str) -> String {
    let nav = |t: Tab, href: &str, label: &str| {
        format!(
            "<a href=\"{href}\"{}>{label}</a>",
            if t == tab { " class=\"active\" aria-current=\"page\"" } else { "" }
        )
    };
    let banner = if errors.is_empty() {
        String::new()
    } else {
        let items: String = errors.iter().map(|e| format!("<li>{}</li>", esc(e))).collect();
        format!("<div class=\"error\" role=\"alert\" id=\"errors\"><strong>Please fix the filter:</strong><ul>{items}</ul></div>")
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} · compliance-lake</title><link rel=\"stylesheet\" href=\"/static/app.css\"><script src=\"/static/app.js\" defer></script></head>\
<body><header><div class=\"brand\"><span class=\"logo\">◆</span> compliance-lake <span class=\"muted\">console</span></div>\
<nav>{n1}{n2}{n3}</nav><div class=\"source\" title=\"data source\">{src}</div></header><main>{banner}{body}</main>\
<footer>Findings hold redacted snippets and keyed fingerprints only — never the matched value.</footer></body></html>",
        t = esc(title),
        n1 = nav(Tab::Findings, "/findings", "Findings"),
        n2 = nav(Tab::Health, "/health", "Health"),
        n3 = nav(Tab::Keys, "/keys", "Keys"),
        src = esc(source),
    )
}

/// Stacked bars of findings per day (or week) and severity, with axis labels and a tooltip per bar.
pub fn chart(h: &Histogram) -> String {
    if h.buckets.is_empty() {
        return "<p class=\"muted\">No findings in this range.</p>".into();
    }
    let (w, ht, left, bottom, top) = (960.0f64, 240.0f64, 44.0f64, 28.0f64, 10.0f64);
    let plot_h = ht - bottom - top;
    let max = h.buckets.iter().map(|b| b.1.iter().sum::<u64>()).max().unwrap_or(1).max(1) as f64;
    let nice = nice_max(max);
    let n = h.buckets.len() as f64;
    let slot = (w - left - 8.0) / n;
    let bw = (slot * 0.72).clamp(1.5, 48.0);
    let mut svg = format!(
        "<svg id=\"chart\" class=\"chart\" viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"findings per {} by severity\">",
        if h.bucket_days == 1 { "day" } else { "week" }
    );
    for i in 0..=4 {
        let v = nice * i as f64 / 4.0;
        let y = top + plot_h - plot_h * v / nice;
        svg.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e6e8ec\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" class=\"axis\">{}</text>",
            w - 4.0,
            left - 6.0,
            y + 4.0,
            v.round() as u64
        ));
    }
    let label_every = ((n / 10.0).ceil() as usize).max(1);
    for (i, (date, counts)) in h.buckets.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bw) / 2.0;
        let mut y = top + plot_h;
        let total: u64 = counts.iter().sum();
        let tip: Vec<String> = SEVERITIES
            .iter()
            .zip(counts)
            .filter(|(_, c)| **c > 0)
            .map(|(s, c)| format!("{} {c}", s.as_str()))
            .collect();
        svg.push_str(&format!(
            "<g class=\"bar\" data-date=\"{date}\" data-total=\"{total}\"><title>{}{}: {}</title>",
            if h.bucket_days == 7 { "week of " } else { "" },
            date,
            if tip.is_empty() { "none".into() } else { tip.join(", ") }
        ));
        for (sev, c) in SEVERITIES.iter().zip(counts) {
            if *c == 0 {
                continue;
            }
            let bh = plot_h * *c as f64 / nice;
            y -= bh;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"{}\" data-severity=\"{}\" data-count=\"{c}\"/>",
                sev_color(*sev),
                sev.as_str()
            ));
        }
        svg.push_str("</g>");
        if i % label_every == 0 {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" class=\"axis\">{}</text>",
                x + bw / 2.0,
                ht - 8.0,
                date.format("%b %-d")
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

fn nice_max(v: f64) -> f64 {
    if v <= 40.0 {
        return ((v / 4.0).ceil() * 4.0).max(4.0); // whole-number grid lines
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return (m * mag).max(4.0);
        }
    }
    10.0 * mag
}

/// A horizontal bar list (top users, top detectors), each row a filter link.
pub fn bar_list(rows: &[(String, String, u64)], id: &str) -> String {
    let max = rows.iter().map(|r| r.2).max().unwrap_or(1).max(1) as f64;
    if rows.is_empty() {
        return "<p class=\"muted\">—</p>".into();
    }
    let mut o = format!("<ol class=\"bars\" id=\"{id}\">");
    for (label, href, n) in rows {
        o.push_str(&format!(
            "<li><a href=\"{}\"><span class=\"label\">{}</span><span class=\"n\">{n}</span><svg class=\"meter\" viewBox=\"0 0 100 6\" preserveAspectRatio=\"none\"><rect width=\"{:.1}\" height=\"6\" rx=\"2\" fill=\"#5b6b8c\"/></svg></a></li>",
            esc(href),
            esc(label),
            100.0 * *n as f64 / max
        ));
    }
    o.push_str("</ol>");
    o
}

pub const CSS: &str = r#"
:root{--fg:#1d2433;--muted:#6b7385;--line:#e3e6ec;--bg:#f6f7f9;--card:#fff;--accent:#3554d1;
--crit:#b42318;--high:#e8590c;--med:#b58900;--low:#4c7bd9;--ok:#1f8a4c;--bad:#c4320a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;gap:28px;padding:0 28px;height:54px;background:#141a2a;color:#fff}
.brand{font-weight:600;font-size:15px;letter-spacing:.2px;white-space:nowrap}.brand .logo{color:#7c93ff}.brand .muted{color:#9aa3b8;font-weight:400}
nav{display:flex;gap:4px}nav a{color:#c9cfdd;text-decoration:none;padding:8px 14px;border-radius:6px}
nav a:hover{background:#242c42;color:#fff}nav a.active{background:#2d3650;color:#fff}
.source{margin-left:auto;color:#9aa3b8;font-size:12px;max-width:40%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
main{max-width:1280px;margin:0 auto;padding:22px 28px 40px}
footer{max-width:1280px;margin:0 auto;padding:0 28px 30px;color:var(--muted);font-size:12px}
h1{font-size:20px;margin:0 0 14px}h2{font-size:15px;margin:0 0 10px}
.muted{color:var(--muted)}a{color:var(--accent)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin-bottom:18px}
.grid{display:grid;gap:18px;margin-bottom:18px}.grid>.card{margin-bottom:0}.g2{grid-template-columns:1fr 1fr}.g4{grid-template-columns:repeat(4,1fr)}
@media(max-width:900px){.g2,.g4{grid-template-columns:1fr}}
.tile{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 16px;border-left:5px solid var(--line)}
.tile .n{font-size:26px;font-weight:650}.tile .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.5px}
.tile.critical{border-left-color:var(--crit)}.tile.high{border-left-color:var(--high)}.tile.medium{border-left-color:var(--med)}.tile.low{border-left-color:var(--low)}
.tile a{color:inherit;text-decoration:none}
form.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:3px}
input,select{font:inherit;padding:6px 8px;border:1px solid #cfd4de;border-radius:6px;background:#fff;min-width:120px}
button,.button{font:inherit;padding:7px 14px;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
.button.secondary,button.secondary{background:#fff;color:var(--accent)}button.danger{background:var(--bad);border-color:var(--bad)}
.actions{display:flex;gap:8px;margin-left:auto}
.error{background:#fff1f0;border:1px solid #f4b7b0;color:#8a1c12;border-radius:8px;padding:10px 14px;margin-bottom:16px}.error ul{margin:6px 0 0 18px;padding:0}
.notice{background:#eef7f1;border:1px solid #b5dfc4;color:#165c33;border-radius:8px;padding:10px 14px;margin-bottom:16px}
table{width:100%;border-collapse:collapse;font-size:13px}th,td{text-align:left;padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;white-space:nowrap}th a{color:inherit;text-decoration:none}th a.sorted{color:var(--fg)}
tr:hover td{background:#fafbfd}td.snip,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
td.when{white-space:nowrap}td.snip{max-width:380px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:#3b4254}
pre{background:#f3f4f7;border:1px solid var(--line);padding:12px;border-radius:8px;white-space:pre-wrap;word-break:break-all}
.sev{display:inline-block;font-size:11px;font-weight:700;padding:2px 7px;border-radius:10px;color:#fff;letter-spacing:.3px}
.sev-critical{background:var(--crit)}.sev-high{background:var(--high)}.sev-medium{background:var(--med)}.sev-low{background:var(--low)}.sev-none{background:#999}
.pill{display:inline-block;font-size:11px;font-weight:600;padding:2px 8px;border-radius:10px}
.pill.ok{background:#e3f4ea;color:var(--ok)}.pill.bad{background:#fde8e4;color:var(--bad)}.pill.warn{background:#fff4d6;color:#8a6100}
.chart{width:100%;height:auto;display:block}.chart .axis{font-size:11px;fill:#7a8194}
.legend{display:flex;gap:14px;font-size:12px;color:var(--muted);margin-top:6px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
ol.bars{list-style:none;margin:0;padding:0}ol.bars li a{display:grid;grid-template-columns:1fr auto;gap:2px 10px;padding:5px 0;color:inherit;text-decoration:none}
ol.bars .label{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}ol.bars .n{font-weight:600}ol.bars .meter{grid-column:1/3;width:100%;height:6px;background:#eef0f4;border-radius:2px}
.pager{display:flex;gap:12px;align-items:center;justify-content:flex-end;margin-top:12px}
dl.kv{display:grid;grid-template-columns:190px 1fr;gap:6px 14px;margin:0}dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-all}
.check-ok{color:var(--ok);font-weight:600}.check-fail{color:var(--bad);font-weight:600}
"#;

pub const JS: &str = r#"
// Progressive enhancement only: every page works without it.
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('form.filters select').forEach(function (s) {
    s.addEventListener('change', function () { s.form.requestSubmit(); });
  });
  // keep filter URLs short: empty fields are not submitted
  document.querySelectorAll('form.filters').forEach(function (f) {
    f.addEventListener('submit', function () {
      f.querySelectorAll('input, select').forEach(function (i) { if (i.value === '') { i.disabled = true; } });
    });
  });
  document.querySelectorAll('form[data-confirm]').forEach(function (f) {
    f.addEventListener('submit', function (e) {
      if (!window.confirm(f.getAttribute('data-confirm'))) { e.preventDefault(); }
    });
  });
  document.querySelectorAll('tr[data-href]').forEach(function (tr) {
    tr.addEventListener('click', function (e) {
      if (e.target.closest('a')) { return; }
      window.location = tr.getAttribute('data-href');
    });
  });
});
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(super::esc("<a href=\"x\">'&"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
    }
}
