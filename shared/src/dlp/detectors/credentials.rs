//! Keyword-anchored credentials: passwords in chat/config/URLs, bearer and basic auth,
//! JWTs, PEM private keys, AWS secret access keys and generic `secret=`/`api_key=` values.

use super::tokens::{re, Tokens};
use super::Scan;
use crate::dlp::context::{cat, Ctx};
use crate::dlp::detectors as d;
use crate::dlp::finding::Confidence;
use crate::dlp::validate::{
    b64_decode_lenient, classes, contains, contains_ci, is_hex, is_placeholder_secret, jwt_valid, longest_run,
    looks_like_uuid, prev_byte, shannon_entropy,
};
use memchr::memmem;
use regex::bytes::{Captures, Regex};

pub(crate) struct Credentials {
    aws_secret: Regex,
    pem_header: Regex,
    jwt: Regex,
    bearer: Regex,
    auth_token: Regex,
    basic: Regex,
    pw_kv: Regex,
    pw_nl: Regex,
    pw_quoted: Regex,
    pw_xml: Regex,
    pw_use: Regex,
    pw_chg: Regex,
    pw_cli: Regex,
    pw_cjk: Regex,
    pw_mysql: Regex,
    pw_curl: Regex,
    pw_bare: Regex,
    pw_pair: Regex,
    pw_up: Regex,
    url_creds: Regex,
}

const KW: &str = r"passw(?:or)?d|passwort|passcode|passphrase|pass|pwd|pw|kennwort|wachtwoord|senha|contraseña|contrasena|mot[ _]de[ _]passe|hasło|haslo|heslo|lösenord|losenord|passord|adgangskode|salasana|şifre|sifre|parola|kata[ _]sandi|mật[ _]khẩu";

const VALUE: &str =
    r#"(?:"(?P<q1>[^"\r\n]+)"|'(?P<q2>[^'\r\n]+)'|`(?P<q3>[^`\r\n]+)`|“(?P<q4>[^\r\n]+?)”|(?P<u>[^\s"'`,;]+))"#;

impl Credentials {
    pub fn new() -> Self {
        let pw_kv = format!(
            r#"(?i)(?P<key>[a-z0-9_.\-]*(?:{KW})[a-z0-9_.\-]*)(?:["'`\]])?[ \t]*(?P<sep>:=|=>|==|=|:|：)[ \t]*{VALUE}"#
        );
        let pw_nl = format!(
            r#"(?i)(?P<key>(?:(?:my|the|our|your|his|her|their|this|that|new|old|current|temp|temporary|admin|root|default|wifi|wi-fi|vpn|db|database|account|email|login|master|user|server|router|laptop|computer|phone|das|la|le|el|o|a|het|mein|mi|mon|ma|meu|minha|mijn)[ \t]+)*(?:{KW}))(?:[ \t]+(?:for|to|on|of|at|für|pour|para|de|del|della|dello|di|da|do|dos|das|du|des|per|voor|van)[ \t]+[^\n.!?:]+?)?(?:[ \t]+(?P<sep>is[ \t]+now|is[ \t]+still|is[ \t]+set[ \t]+to|is|was|will[ \t]+be|should[ \t]+be|has[ \t]+been[ \t]+(?:changed|set|reset|updated)[ \t]+to|ist|est|es|é|è|era|lautet|-|–|—)(?:[ \t]*:[ \t]*|[ \t]+)|[ \t]*(?::|：)[ \t]*){VALUE}"#
        );
        let pw_quoted = format!(
            r#"(?i)(?P<key>{KW})[ \t]+(?:"(?P<q1>[^"\r\n]+)"|'(?P<q2>[^'\r\n]+)'|`(?P<q3>[^`\r\n]+)`|“(?P<q4>[^\r\n]+?)”)"#
        );
        let pw_xml = format!(
            r#"(?i)(?:(?:key|name)[ \t]*=[ \t]*"(?P<key>[^"<>\r\n]*(?:{KW})[^"<>\r\n]*)"[ \t]+value[ \t]*=[ \t]*"(?P<q1>[^"\r\n]+)"|<(?P<tag>[a-z_:\-]*(?:password|passwd|pwd)[a-z_\-]*)>(?P<q2>[^<\r\n]+)</)"#
        );
        let pw_use = format!(
            r#"(?i)\buse[ \t]+{VALUE}[ \t]+as[ \t]+(?:the[ \t]+|my[ \t]+|your[ \t]+|a[ \t]+|our[ \t]+)?(?:new[ \t]+|temporary[ \t]+|temp[ \t]+|initial[ \t]+)?(?:password|passwd|pwd|passcode|passphrase)"#
        );
        let pw_chg = format!(
            r#"(?i)(?:changed|reset|set|updated|changing|resetting|change|update)[ \t]+(?:(?:my|the|your|our|his|her|their|its)[ \t]+)?(?:[a-z\-]{{2,20}}[ \t]+)?(?:password|passwd|pwd|passcode|passphrase)[ \t]+to[ \t]*:?[ \t]*{VALUE}"#
        );
        let pw_cli = r#"(?i)(?:^|[\s"'])--?(?:password|passwd|pass|pwd|db-password|db-pass)[ \t]+(?:"(?P<q1>[^"\r\n]+)"|'(?P<q2>[^'\r\n]+)'|(?P<u>[^\s"'`\-][^\s"'`]*))"#;
        let pw_cjk = r#"(?:パスワード|密码|密碼|비밀번호|пароль|Пароль|ПАРОЛЬ)[ \t]*(?:は|是|는|은|:|：|=|—|-)?[ \t]*(?:「(?P<q1>[^\r\n]+?)」|"(?P<q2>[^"\r\n]+)"|(?P<u>[\x21-\x7e]{3,}))"#;
        let pw_mysql = r#"(?i)(?:mysql|mysqldump|mysqladmin)[^\n]*?[ \t]-p(?:"(?P<q1>[^"\r\n]+)"|'(?P<q2>[^'\r\n]+)'|(?P<u>[^\s"'`\-][^\s"'`]{2,}))"#;
        let pw_curl = r#"(?i)curl[^\n]*?[ \t](?:-u|--user)[ \t]+["']?[^:\s"']+:(?P<u>[^\s"'@]+)"#;
        // Chat shorthand (issue 11): `user admin, password Summer1097$`, `login a / pwd X`,
        // `wifi pw X` — keyword, spaces, value; the value must look like a password.
        let pw_bare =
            r#"(?i)(?P<key>password|passwd|passwort|kennwort|passcode|pwd|pw|pass)[ \t]+(?P<u>[^\s"'`,;()<>\[\]{}]+)"#;
        // `creds: admin/X`, `creds are ops / X`, `credentials for the box are ops/X`.
        let pw_pair = r#"(?i)(?P<key>creds|credentials?|logins?)(?:[ \t]+(?:for|to|on|of)[ \t]+[^\n:=]{1,40}?)?(?:[ \t]*[:=][ \t]*|[ \t]+(?:are|is)[ \t]+(?::[ \t]*)?)(?P<user>[^\s/:,;|"'`]{1,64})[ \t]*(?:/|:|\|)[ \t]*(?P<u>[^\s"'`,;]+)"#;
        // `u: admin / p: X`, `user=admin p=X`.
        let pw_up = r#"(?i)(?P<key>u|usr|user|username|login)[ \t]*[:=][ \t]*[^\s/,;|]+[ \t]*(?:/|,|;|\|)?[ \t]*p[ \t]*[:=][ \t]*(?P<u>[^\s"'`,;]+)"#;
        Credentials {
            aws_secret: re(r"[A-Za-z0-9/+]{40,}"),
            pem_header: re(r"\A-----BEGIN (?P<label>(?:[A-Z0-9]+ )*)PRIVATE KEY(?P<block> BLOCK)?-----"),
            jwt: re(r"eyJ[A-Za-z0-9_\-]+\.ey[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),
            bearer: re(r"(?i)\bbearer[ \t]+(?P<tok>[A-Za-z0-9\-._~+/]+=*)"),
            auth_token: re(
                r#"(?i)authorization["']?[ \t]*[:=][ \t]*["']?(?:token)[ \t]+(?P<tok>[A-Za-z0-9\-._~+/]+=*)"#,
            ),
            basic: re(r#"(?i)authorization["']?[ \t]*[:=][ \t]*["']?basic[ \t]+(?P<tok>[A-Za-z0-9+/]{8,}={0,2})"#),
            pw_kv: re(&pw_kv),
            pw_nl: re(&pw_nl),
            pw_quoted: re(&pw_quoted),
            pw_xml: re(&pw_xml),
            pw_use: re(&pw_use),
            pw_chg: re(&pw_chg),
            pw_cli: re(pw_cli),
            pw_cjk: re(pw_cjk),
            pw_mysql: re(pw_mysql),
            pw_curl: re(pw_curl),
            pw_bare: re(pw_bare),
            pw_pair: re(pw_pair),
            pw_up: re(pw_up),
            url_creds: re(r#"(?i)[a-z][a-z0-9+.\-]+://(?P<user>[^\s:/@"'<>]*):(?P<u>[^\s/@"'<>]+)@[a-z0-9.\-\[]"#),
        }
    }

    // ------------------------------------------------------------------------------------
    // AWS secret access key
    // ------------------------------------------------------------------------------------

    pub fn aws_secret(&self, tokens: &Tokens, scan: &mut Scan<'_>, ws: usize, we: usize) {
        let text = scan.text;
        for m in self.aws_secret.find_iter(&text[ws..we]) {
            let (s, e) = (ws + m.start(), ws + m.end());
            let v = &text[s..e];
            if v.len() != 40 || text.get(e) == Some(&b'=') {
                continue;
            }
            if matches!(prev_byte(text, s), Some(b) if b.is_ascii_alphanumeric() || b == b'/' || b == b'+') {
                continue;
            }
            let c = classes(v);
            if c.upper == 0 || c.lower == 0 || c.digit == 0 || is_hex(v) {
                continue;
            }
            if is_placeholder_secret(v) || shannon_entropy(v) < 4.0 {
                continue;
            }
            // Required context: an AWS secret keyword, or a valid access key id nearby.
            let kw = scan.ctx.assess_window(text, s, e, cat::AWS, 200, 60) == Ctx::Positive;
            let akid = {
                let a = s.saturating_sub(260);
                let b = (e + 260).min(text.len());
                tokens.aws_key_id.find_iter(&text[a..b]).any(|k| {
                    let ks = a + k.start();
                    !matches!(prev_byte(text, ks), Some(p) if p.is_ascii_alphanumeric())
                        && !is_placeholder_secret(k.as_bytes())
                })
            };
            let conf = match (kw, akid) {
                (true, _) => Confidence::High,
                (false, true) => Confidence::Medium,
                _ => continue,
            };
            scan.push(&d::AWS_SECRET_ACCESS_KEY, s, e, conf);
        }
    }

    // ------------------------------------------------------------------------------------
    // PEM private keys
    // ------------------------------------------------------------------------------------

    pub fn private_key(&self, scan: &mut Scan<'_>, ws: usize) {
        let text = scan.text;
        // The window opened at a "-----BEGIN" hit; there may be several hits merged.
        let mut from = ws;
        let limit = text.len();
        while let Some(off) = memmem::find(&text[from..(from + 96).min(limit)], b"-----BEGIN") {
            let hs = from + off;
            from = hs + 10;
            let head_end = (hs + 96).min(limit);
            let Some(caps) = self.pem_header.captures(&text[hs..head_end]) else {
                continue;
            };
            let Some(whole) = caps.get(0) else { continue };
            let body_start = hs + whole.end();
            let label = caps.name("label").map(|m| m.as_bytes()).unwrap_or(b"");
            let block = caps.name("block").is_some();
            let mut end_marker = Vec::with_capacity(48);
            end_marker.extend_from_slice(b"-----END ");
            end_marker.extend_from_slice(label);
            end_marker.extend_from_slice(b"PRIVATE KEY");
            if block {
                end_marker.extend_from_slice(b" BLOCK");
            }
            end_marker.extend_from_slice(b"-----");
            let search_end = (body_start + 32 * 1024).min(limit);
            let found = memmem::find(&text[body_start..search_end], &end_marker);
            let (body_end, span_end, complete) = match found {
                Some(o) => (body_start + o, body_start + o + end_marker.len(), true),
                None => {
                    // Truncated paste: take the base64 run that follows.
                    let mut i = body_start;
                    while i < search_end {
                        let b = text[i];
                        if b.is_ascii_alphanumeric()
                            || matches!(b, b'+' | b'/' | b'=' | b'\n' | b'\r' | b' ' | b'\t' | b'\\')
                        {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    (i, i, false)
                }
            };
            let body = &text[body_start..body_end];
            let Some(b64_len) = pem_body_ok(body) else {
                continue;
            };
            let conf = if complete && b64_len >= 64 {
                Confidence::High
            } else if !complete && b64_len >= 256 {
                Confidence::Medium
            } else {
                continue;
            };
            let mut span_end = span_end;
            while span_end > body_start && text[span_end - 1].is_ascii_whitespace() {
                span_end -= 1;
            }
            scan.push(&d::PRIVATE_KEY, hs, span_end, conf);
            from = span_end.max(from);
            if from >= limit {
                break;
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // JWT
    // ------------------------------------------------------------------------------------

    pub fn jwt(&self, scan: &mut Scan<'_>, ws: usize, we: usize) {
        let text = scan.text;
        for m in self.jwt.find_iter(&text[ws..we]) {
            let (s, e) = (ws + m.start(), ws + m.end());
            if matches!(prev_byte(text, s), Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+' | b'/'))
            {
                continue;
            }
            // A following '.' + token char would make it a 4+ segment token (JWE etc.).
            if text.get(e) == Some(&b'.')
                && text.get(e + 1).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            {
                continue;
            }
            if e == we && we < text.len() {
                continue; // cut by the window; a 8 KiB JWT is not a bearer credential we handle
            }
            if !jwt_valid(&text[s..e]) {
                continue;
            }
            let conf = if scan.ctx.assess(text, s, e, cat::SECRET) == Ctx::Negative {
                Confidence::Medium
            } else {
                Confidence::High
            };
            scan.push(&d::JWT, s, e, conf);
        }
    }

    // ------------------------------------------------------------------------------------
    // Authorization headers
    // ------------------------------------------------------------------------------------

    pub fn authorization(&self, scan: &mut Scan<'_>, ws: usize, we: usize) {
        let text = scan.text;
        let win = &text[ws..we];
        for re in [&self.bearer, &self.auth_token] {
            for caps in re.captures_iter(win) {
                let Some(t) = caps.name("tok") else { continue };
                let (s, e) = (ws + t.start(), ws + t.end());
                let tok = &text[s..e];
                if !bearer_token_ok(tok) {
                    continue;
                }
                if matches!(text.get(e), Some(b) if b.is_ascii_alphanumeric()) {
                    continue;
                }
                let has_auth = {
                    let a = s.saturating_sub(60);
                    text[a..s].windows(13).any(|w| w.eq_ignore_ascii_case(b"authorization"))
                };
                let conf = if has_auth { Confidence::High } else { Confidence::Medium };
                scan.push(&d::BEARER_TOKEN, s, e, conf);
            }
        }
        for caps in self.basic.captures_iter(win) {
            let Some(t) = caps.name("tok") else { continue };
            let (s, e) = (ws + t.start(), ws + t.end());
            if matches!(text.get(e), Some(b) if b.is_ascii_alphanumeric()) {
                continue;
            }
            let Some(decoded) = b64_decode_lenient(&text[s..e]) else {
                continue;
            };
            let Ok(plain) = std::str::from_utf8(&decoded) else {
                continue;
            };
            let Some((user, pass)) = plain.split_once(':') else {
                continue;
            };
            if user.is_empty()
                || pass.len() < 3
                || plain.chars().any(|c| c.is_control())
                || pass.eq_ignore_ascii_case(user)
                || is_stopword(pass.as_bytes())
                || is_password_placeholder(pass.as_bytes())
            {
                continue;
            }
            scan.push(&d::BASIC_AUTH, s, e, Confidence::High);
        }
    }

    // ------------------------------------------------------------------------------------
    // Passwords
    // ------------------------------------------------------------------------------------

    pub fn password(&self, scan: &mut Scan<'_>, ws: usize, we: usize) {
        let text = scan.text;
        // The "use X as the password" form puts the value before the anchor.
        let ws_use = ws.saturating_sub(160);
        let win = &text[ws..we];
        // Literal prefilters: bytes each regex cannot match without (exact, so recall is
        // unchanged); most windows opened by a password word in prose have none of them.
        let assign = memchr::memchr3(b':', b'=', 0xEF, win).is_some(); // `：` is EF BC 9A
        let quote = memchr::memchr3(b'"', b'\'', b'`', win).is_some() || memchr::memchr(0xE2, win).is_some();
        let mut pos = if assign { 0 } else { win.len() };
        while pos < win.len() {
            let Some(caps) = self.pw_kv.captures_at(win, pos) else {
                break;
            };
            let (Some(key), Some(sep)) = (caps.name("key"), caps.name("sep")) else {
                break;
            };
            pos = sep.end().max(pos + 1);
            let Some((vs, ve, quoted)) = value_of(&caps) else {
                continue;
            };
            let key_abs = ws + key.start();
            if matches!(prev_byte(text, key_abs), Some(b) if b.is_ascii_alphanumeric()) {
                continue;
            }
            if !password_key_ok(key.as_bytes()) {
                continue;
            }
            let sep_b = sep.as_bytes();
            let style = if sep_b == b":" || sep_b == "：".as_bytes() {
                Style::Colon
            } else {
                let spaced = text.get(ws + sep.start() - 1).is_some_and(|b| *b == b' ' || *b == b'\t');
                let upper_key = key.as_bytes().iter().any(u8::is_ascii_uppercase)
                    && !key.as_bytes().iter().any(u8::is_ascii_lowercase);
                Style::Assign { code_like: spaced && !upper_key }
            };
            self.emit_password(scan, ws + vs, ws + ve, quoted, style);
        }
        for (re, possible) in [(&self.pw_nl, true), (&self.pw_quoted, quote)] {
            let mut pos = if possible { 0 } else { win.len() };
            while pos < win.len() {
                let Some(caps) = re.captures_at(win, pos) else {
                    break;
                };
                let (Some(key), Some(whole)) = (caps.name("key"), caps.get(0)) else {
                    break;
                };
                // A match glued to a preceding word ("so the…" matched from "o the…",
                // "bypass is…" from "pass is…"): retry one byte later.
                if matches!(prev_byte(text, ws + key.start()), Some(b) if b.is_ascii_alphanumeric()) {
                    pos = key.start() + 1;
                    continue;
                }
                pos = whole.end().max(pos + 1);
                if !password_key_ok(key.as_bytes()) {
                    continue;
                }
                if let Some((vs, ve, quoted)) = value_of(&caps) {
                    self.emit_password(scan, ws + vs, ws + ve, quoted, Style::Natural);
                }
            }
        }
        // `key="…" value="…"` needs `=` and `"`; `<password>…</password>` needs `</`.
        let xml = (memchr::memchr(b'=', win).is_some() && memchr::memchr(b'"', win).is_some()) || contains(win, b"</");
        for caps in self.pw_xml.captures_iter(if xml { win } else { &[] }) {
            let key = caps.name("key").or_else(|| caps.name("tag"));
            if !key.is_some_and(|k| password_key_ok(k.as_bytes())) {
                continue;
            }
            if let Some((vs, ve, _)) = value_of(&caps) {
                self.emit_password(scan, ws + vs, ws + ve, true, Style::Assign { code_like: false });
            }
        }
        // `--password X`/`-p X`/`--db-pass X` need a dash before `-`, `p` or `d`.
        let dash =
            memchr::memchr_iter(b'-', win).any(|p| matches!(win.get(p + 1), Some(b'-' | b'p' | b'P' | b'd' | b'D')));
        for (re, possible) in [(&self.pw_chg, true), (&self.pw_cli, dash)] {
            for caps in re.captures_iter(if possible { win } else { &[] }) {
                if let Some((vs, ve, quoted)) = value_of(&caps) {
                    self.emit_password(scan, ws + vs, ws + ve, quoted, Style::Natural);
                }
            }
        }
        for caps in self.pw_cjk.captures_iter(if win.is_ascii() { &[] } else { win }) {
            if let Some((vs, ve, quoted)) = value_of(&caps) {
                self.emit_password(scan, ws + vs, ws + ve, quoted, Style::Natural);
            }
        }
        self.password_shorthand(scan, ws, we);
        let win_use = &text[ws_use..we];
        let use_word = contains_ci(win_use, b"use") && contains_ci(win_use, b"as");
        for caps in self.pw_use.captures_iter(if use_word { win_use } else { &[] }) {
            if let Some((vs, ve, quoted)) = value_of(&caps) {
                self.emit_password(scan, ws_use + vs, ws_use + ve, quoted, Style::Natural);
            }
        }
    }

    /// Chat shorthand forms (issue 11). Every value goes through the `Natural` rules (must
    /// hold a digit, a symbol, an inner capital or non-ASCII), so `password reset`,
    /// `pass the logs` or `creds: see the vault` stay quiet; the short keywords `pw`/`pass`
    /// additionally need a user/login word earlier on the line.
    fn password_shorthand(&self, scan: &mut Scan<'_>, ws: usize, we: usize) {
        let text = scan.text;
        let win = &text[ws..we];
        // `u: a / p: X` needs two `:`/`=`.
        let assign2 = memchr::memchr2_iter(b':', b'=', win).nth(1).is_some();
        // `password X`: the match is `keyword[ \t]+value`, so a plain find and a split at the
        // first blank give both groups (no capture engine for the most frequent form).
        let mut pos = 0;
        while pos < win.len() {
            let Some(m) = self.pw_bare.find_at(win, pos) else {
                break;
            };
            let (ms, me) = (m.start(), m.end());
            if matches!(prev_byte(text, ws + ms), Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                pos = ms + 1;
                continue;
            }
            pos = me.max(pos + 1);
            let whole = &win[ms..me];
            let key_len = whole.iter().position(|b| *b == b' ' || *b == b'\t').unwrap_or(whole.len());
            let vs = ms + key_len + whole[key_len..].iter().take_while(|b| **b == b' ' || **b == b'\t').count();
            let kw = whole[..key_len].to_ascii_lowercase();
            if (kw == b"pw" || kw == b"pass") && !pair_context(text, ws + ms) {
                continue;
            }
            // "Passwort vergessen?", "password reset!": a sentence mark is not a symbol.
            let v = &win[vs..me];
            let core = &v[..v.iter().rposition(|b| !matches!(b, b'?' | b'!' | b'.')).map_or(0, |p| p + 1)];
            let shaped = core.iter().any(|b| b.is_ascii_digit() || (b.is_ascii_punctuation() && *b != b'-'))
                || core.iter().skip(1).any(u8::is_ascii_uppercase)
                || core.iter().any(|b| *b >= 0x80);
            if shaped {
                self.emit_password(scan, ws + vs, ws + me, false, Style::Natural);
            }
        }
        for (k, re) in [&self.pw_pair, &self.pw_up].into_iter().enumerate() {
            let k = k + 1;
            let possible = k == 1 || assign2;
            let mut pos = if possible { 0 } else { win.len() };
            while pos < win.len() {
                let Some(caps) = re.captures_at(win, pos) else {
                    break;
                };
                let (Some(key), Some(whole)) = (caps.name("key"), caps.get(0)) else {
                    break;
                };
                if matches!(prev_byte(text, ws + key.start()), Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    pos = key.start() + 1;
                    continue;
                }
                pos = whole.end().max(pos + 1);
                if k == 1 {
                    // `creds: admin/X` — a user that is itself a common word is prose.
                    if caps.name("user").is_some_and(|u| is_stopword(u.as_bytes())) {
                        continue;
                    }
                }
                if let Some((vs, ve, quoted)) = value_of(&caps) {
                    self.emit_password(scan, ws + vs, ws + ve, quoted, Style::Natural);
                }
            }
        }
    }

    /// A password-column cell found by the table hook (detectors/mod.rs): the value rules of
    /// `password: value` apply (quoted, password-looking, or a whole cell of ≥ 6 chars).
    pub fn table_cell(&self, scan: &mut Scan<'_>, s: usize, e: usize) {
        self.emit_password(scan, s, e, false, Style::Colon);
    }

    pub fn password_cmd(&self, scan: &mut Scan<'_>, ws: usize, we: usize) {
        let text = scan.text;
        let win = &text[ws..we];
        for re in [&self.pw_mysql, &self.pw_curl] {
            for caps in re.captures_iter(win) {
                if let Some((vs, ve, quoted)) = value_of(&caps) {
                    self.emit_password(scan, ws + vs, ws + ve, quoted, Style::Cmd);
                }
            }
        }
    }

    pub fn url_creds(&self, scan: &mut Scan<'_>, ws: usize, we: usize) {
        let text = scan.text;
        for caps in self.url_creds.captures_iter(&text[ws..we]) {
            let (Some(user), Some(pass)) = (caps.name("user"), caps.name("u")) else {
                continue;
            };
            let p = pass.as_bytes();
            if p.eq_ignore_ascii_case(user.as_bytes()) {
                continue;
            }
            self.emit_password(scan, ws + pass.start(), ws + pass.end(), false, Style::Url);
        }
    }

    fn emit_password(&self, scan: &mut Scan<'_>, s: usize, e: usize, quoted: bool, style: Style) {
        let text = scan.text;
        let (s, e) = if quoted { trim_ws(text, s, e) } else { trim_unquoted(text, s, e) };
        if s >= e {
            return;
        }
        let v = &text[s..e];
        let line_end = quoted
            || text[e..].iter().take_while(|b| **b == b' ' || **b == b'\t').count() + e == text.len()
            || matches!(text[e..].iter().find(|b| **b != b' ' && **b != b'\t'), Some(b'\n') | Some(b'\r') | None);
        if !password_value_ok(v, quoted, style, line_end) {
            return;
        }
        let conf = match style {
            Style::Natural | Style::Url | Style::Cmd => Confidence::High,
            Style::Colon | Style::Assign { .. } if quoted => Confidence::High,
            _ => Confidence::Medium,
        };
        scan.push(&d::PASSWORD, s, e, conf);
    }

    // ------------------------------------------------------------------------------------
    // Generic secret assignments
    // ------------------------------------------------------------------------------------

    /// Generic `key = value` at an anchor hit `s..e` inside the key. Parsed by hand (no
    /// regex): key = the identifier around the hit, then optional closing quote, ≤ 3 spaces,
    /// `:`/`=`/`:=`/`=>`, ≤ 3 spaces, a quoted or bare value. Returns the end of the key so
    /// the caller can skip further anchors inside the same key.
    pub fn generic_at(&self, scan: &mut Scan<'_>, s: usize, e: usize) -> usize {
        let text = scan.text;
        let n = text.len();
        let key_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
        let mut ks = s;
        while ks > 0 && s - ks < 64 && key_char(text[ks - 1]) {
            ks -= 1;
        }
        while ks < s && !text[ks].is_ascii_alphabetic() {
            ks += 1;
        }
        let mut ke = e;
        while ke < n && ke - e < 48 && key_char(text[ke]) {
            ke += 1;
        }
        if !generic_key_ok(&text[ks..ke]) {
            return ke;
        }
        let mut k = ke;
        if k < n && matches!(text[k], b'"' | b'\'' | b'`' | b']') {
            k += 1;
        }
        let sp = k;
        while k < n && k - sp < 3 && matches!(text[k], b' ' | b'\t') {
            k += 1;
        }
        match text.get(k..(k + 2).min(n)) {
            Some(b":=") | Some(b"=>") => k += 2,
            Some(b"==") | Some(b"::") => return ke,
            Some(t) if t.first() == Some(&b':') || t.first() == Some(&b'=') => k += 1,
            _ => return ke,
        }
        let sp = k;
        while k < n && k - sp < 3 && matches!(text[k], b' ' | b'\t') {
            k += 1;
        }
        let (vs, ve, quoted) = match text.get(k) {
            Some(&q) if q == b'"' || q == b'\'' => {
                let vs = k + 1;
                let mut ve = vs;
                while ve < n && ve - vs <= 300 && text[ve] != q && text[ve] != b'\n' && text[ve] != b'\r' {
                    ve += 1;
                }
                if text.get(ve) != Some(&q) {
                    return ke;
                }
                (vs, ve, true)
            }
            Some(_) => {
                let vs = k;
                let mut ve = vs;
                while ve < n
                    && ve - vs <= 300
                    && (text[ve].is_ascii_alphanumeric()
                        || matches!(text[ve], b'_' | b'-' | b'+' | b'/' | b'=' | b'.' | b'~'))
                {
                    ve += 1;
                }
                let (vs, ve) = trim_unquoted(text, vs, ve);
                if matches!(text.get(ve), Some(b) if !b.is_ascii_whitespace() && !matches!(b, b',' | b';' | b')' | b'}' | b']' | b'"' | b'\'' | b'&' | b'.' | b'`'))
                {
                    return ke; // value continues with characters we do not model
                }
                (vs, ve, false)
            }
            None => return ke,
        };
        let _ = quoted;
        if vs >= ve {
            return ke;
        }
        let v = &text[vs..ve];
        if has_vendor_prefix(v) || crate::dlp::validate::is_known_example(v) {
            return ke; // a specific detector owns it (or it is a published example)
        }
        let Some(mut conf) = generic_value(v) else {
            return ke;
        };
        if scan.ctx.assess(text, vs, ve, cat::SECRET) == Ctx::Negative {
            return ke;
        }
        if conf == Confidence::Medium && key_is_strong(&text[ks..ke]) {
            conf = Confidence::High;
        }
        scan.push(&d::GENERIC_SECRET, vs, ve, conf);
        ke
    }
}

/// Values owned by a specific detector: skip the generic rule for them.
fn has_vendor_prefix(v: &[u8]) -> bool {
    const P: &[&[u8]] = &[
        b"sk-",
        b"sk_live_",
        b"rk_live_",
        b"sk_test_",
        b"rk_test_",
        b"AKIA",
        b"ASIA",
        b"ghp_",
        b"gho_",
        b"ghu_",
        b"ghs_",
        b"ghr_",
        b"github_pat_",
        b"glpat-",
        b"xox",
        b"xapp-",
        b"AIza",
        b"npm_",
        b"SG.",
        b"hf_",
        b"eyJ",
        b"https://hooks.slack.com",
    ];
    P.iter().any(|p| v.starts_with(p))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// `password: value`
    Colon,
    /// `password = value`; `code_like` when spaced and lower-case (a code assignment).
    Assign { code_like: bool },
    /// "my password is value", "use value as the password", `--password value`
    Natural,
    /// `scheme://user:value@host`
    Url,
    /// `mysql -pvalue`, `curl -u user:value`
    Cmd,
}

/// A user/login word earlier on the same line (≤ 64 bytes before `at`): `user admin, pass X`,
/// `login a / pw X`, `wifi pw X`.
fn pair_context(text: &[u8], at: usize) -> bool {
    let from = at.saturating_sub(64);
    let seg = &text[from..at];
    let seg = match memchr::memrchr(b'\n', seg) {
        Some(p) => &seg[p + 1..],
        None => seg,
    };
    let l = seg.to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "user", "login", "log in", "username", "u:", "admin", "root", "ssh", "wifi", "wi-fi", "account", "acct",
        "email", "mail", "@", "/", "vpn", "router", "ssid",
    ];
    WORDS.iter().any(|w| contains(&l, w.as_bytes()))
}

fn value_of(caps: &Captures<'_>) -> Option<(usize, usize, bool)> {
    for name in ["q1", "q2", "q3", "q4"] {
        if let Some(m) = caps.name(name) {
            return Some((m.start(), m.end(), true));
        }
    }
    caps.name("u").map(|m| (m.start(), m.end(), false))
}

fn trim_ws(text: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && text[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && text[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    (s, e)
}

/// Strips sentence punctuation glued to an unquoted value (`hunter2.` → `hunter2`); `!` and
/// `?` are kept because they are common password characters.
fn trim_unquoted(text: &[u8], s: usize, mut e: usize) -> (usize, usize) {
    while e > s && matches!(text[e - 1], b'.' | b',' | b';' | b':' | b')' | b']' | b'}' | b'>') {
        e -= 1;
    }
    (s, e)
}

/// Splits an identifier into lower-case components on `_ . - space` and camelCase humps.
fn components(key: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    let s = String::from_utf8_lossy(key);
    for ch in s.chars() {
        if ch == '_' || ch == '.' || ch == '-' || ch == ' ' || ch == '\t' {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        cur.extend(ch.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const PW_KEYWORDS: &[&str] = &[
    "password",
    "passwd",
    "passwort",
    "passcode",
    "passphrase",
    "pass",
    "pwd",
    "kennwort",
    "wachtwoord",
    "senha",
    "contraseña",
    "contrasena",
    "passe",
    "passwords",
    "pw",
    "hasło",
    "haslo",
    "heslo",
    "lösenord",
    "losenord",
    "passord",
    "adgangskode",
    "salasana",
    "şifre",
    "sifre",
    "parola",
    "sandi",
    "khẩu",
];

const PASS_PREFIXES: &[&str] = &[
    "db", "pg", "root", "admin", "user", "my", "smtp", "mail", "ftp", "wifi", "ssh", "sql", "redis", "ldap", "app",
    "api", "sa", "vnc", "key", "store", "mysql", "sudo", "login",
];

const PW_META: &[&str] = &[
    "hash",
    "hashed",
    "hashes",
    "digest",
    "salt",
    "salted",
    "policy",
    "policies",
    "length",
    "len",
    "min",
    "max",
    "minlength",
    "maxlength",
    "minlen",
    "maxlen",
    "reset",
    "resets",
    "forgot",
    "forget",
    "forgotten",
    "field",
    "fields",
    "label",
    "labels",
    "hint",
    "hints",
    "prompt",
    "strength",
    "expires",
    "expiry",
    "expiration",
    "expired",
    "expire",
    "changed",
    "change",
    "updated",
    "update",
    "rule",
    "rules",
    "regex",
    "pattern",
    "validator",
    "validation",
    "validate",
    "type",
    "file",
    "path",
    "dir",
    "required",
    "require",
    "requires",
    "enabled",
    "enable",
    "disabled",
    "env",
    "var",
    "variable",
    "name",
    "id",
    "column",
    "col",
    "input",
    "placeholder",
    "history",
    "age",
    "lock",
    "locked",
    "lockout",
    "attempts",
    "attempt",
    "count",
    "error",
    "errors",
    "message",
    "msg",
    "text",
    "title",
    "mismatch",
    "visible",
    "visibility",
    "toggle",
    "icon",
    "button",
    "form",
    "page",
    "url",
    "link",
    "endpoint",
    "command",
    "cmd",
    "flag",
    "option",
    "options",
    "arg",
    "args",
    "param",
    "params",
    "less",
    "manager",
    "store",
    "vault",
    "provider",
    "mode",
    "encoder",
    "encrypted",
    "encryption",
    "protected",
    "protect",
    "check",
    "verify",
    "verified",
    "match",
    "matches",
    "last",
    "get",
    "is",
    "has",
    "use",
    "allow",
    "no",
    "show",
    "hide",
    "complexity",
    "score",
    "entropy",
    "generator",
    "generate",
    "size",
    "chars",
    "format",
    "question",
    "spec",
    "schema",
    "property",
    "prop",
    "ref",
    "reference",
    "source",
    "src",
    "widget",
    "component",
    "view",
    "screen",
    "dialog",
    "modal",
    "handler",
    "callback",
    "listener",
    "event",
    "service",
    "route",
    "controller",
    "test",
    "tests",
    "mock",
    "fake",
    "dummy",
    "example",
    "sample",
    "template",
    "timeout",
    "ttl",
    "interval",
    "period",
    "days",
    "rotation",
    "storage",
    "through",
    "thru",
    "port",
    "word",
    "words",
    "book",
    "able",
    "ing",
    "ed",
    "es",
    "age",
];

/// Key of a `key: value` password assignment: one component must be a password keyword
/// (or end with one, `PGPASSWORD`), none may be metadata (`password_hash`, `min_password_length`).
fn password_key_ok(key: &[u8]) -> bool {
    let comps = components(key);
    let mut found = false;
    for c in &comps {
        if PW_KEYWORDS.contains(&c.as_str()) {
            found = true;
            continue;
        }
        if PW_META.contains(&c.as_str()) {
            return false;
        }
        if let Some(pre) =
            c.strip_suffix("password").or_else(|| c.strip_suffix("passwd")).or_else(|| c.strip_suffix("pwd"))
        {
            if !pre.is_empty() && pre.len() <= 12 {
                found = true;
                continue;
            }
        }
        if let Some(pre) = c.strip_suffix("pass") {
            if PASS_PREFIXES.contains(&pre) {
                found = true;
                continue;
            }
        }
        if let Some(rest) = c.strip_prefix("password") {
            if PW_META.contains(&rest) {
                return false;
            }
        }
    }
    found
}

const STOPWORDS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "passphrase",
    "passcode",
    "changeme",
    "changeit",
    "change_me",
    "changethis",
    "yourpassword",
    "your_password",
    "mypassword",
    "my_password",
    "newpassword",
    "new_password",
    "oldpassword",
    "none",
    "null",
    "nil",
    "undefined",
    "empty",
    "blank",
    "required",
    "optional",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "str",
    "string",
    "int",
    "integer",
    "bool",
    "boolean",
    "text",
    "varchar",
    "char",
    "bytes",
    "hidden",
    "masked",
    "redacted",
    "todo",
    "tbd",
    "n/a",
    "na",
    "same",
    "example",
    "sample",
    "dummy",
    "placeholder",
    "here",
    "below",
    "above",
    "following",
    "this",
    "that",
    "it",
    "not",
    "incorrect",
    "wrong",
    "invalid",
    "expired",
    "correct",
    "too",
    "very",
    "case-sensitive",
    "stored",
    "saved",
    "set",
    "reset",
    "the",
    "a",
    "an",
    "my",
    "your",
    "our",
    "their",
    "his",
    "her",
    "its",
    "being",
    "still",
    "also",
    "now",
    "missing",
    "weak",
    "strong",
    "long",
    "short",
    "hashed",
    "encrypted",
    "protected",
    "unknown",
    "different",
    "changed",
    "updated",
    "secure",
    "insecure",
    "forgotten",
    "lost",
    "needed",
    "need",
    "needs",
    "managed",
    "rotated",
    "generated",
    "random",
    "provided",
    "supplied",
    "given",
    "sent",
    "shared",
    "written",
    "listed",
    "attached",
    "included",
    "configured",
    "defined",
    "specified",
    "kept",
    "visible",
    "valid",
    "accepted",
    "rejected",
    "ignored",
    "used",
    "unused",
    "known",
    "public",
    "private",
    "ok",
    "okay",
    "fine",
    "good",
    "bad",
    "great",
    "simple",
    "easy",
    "hard",
    "complex",
    "complicated",
    "identical",
    "mine",
    "yours",
    "what",
    "which",
    "where",
    "when",
    "how",
    "why",
    "who",
    "whatever",
    "something",
    "anything",
    "nothing",
    "everything",
    "again",
    "already",
    "just",
    "only",
    "there",
    "then",
    "than",
    "like",
    "and",
    "or",
    "but",
    "if",
    "of",
    "in",
    "at",
    "by",
    "for",
    "from",
    "with",
    "without",
    "into",
    "about",
    "after",
    "before",
    "between",
    "during",
    "through",
    "under",
    "over",
    "via",
    "per",
    "see",
    "check",
    "please",
    "pls",
    "enter",
    "type",
    "input",
    "mandatory",
    "xxx",
    "xxxx",
    "secretstring",
    "securestring",
    "secretstr",
    "sensitive",
    "confidential",
    "authentication",
    "manager",
    "reset.",
    "expired.",
    "incorrect.",
    "wrong.",
    "length",
    "policy",
    "field",
    "prompt",
    "auth",
    "login",
    "credentials",
    "token",
    "user",
    "username",
    "email",
    "default",
    "omitted",
    "unset",
    "env",
    "environment",
    "variable",
    "config",
    "vault",
    "1password",
    "lastpass",
    "bitwarden",
    "keychain",
    "keepass",
    "secrets",
    "correct-horse-battery-staple",
    "stdin",
    "prompted",
    "interactive",
    "ask",
    "asked",
    "asks",
    "whatever you want",
    "yours",
    "mypass",
    "your-password",
    "your_password_here",
    "yourpasswordhere",
    "foobar",
    "foo",
    "bar",
    "baz",
    "qux",
    "test",
    "testing",
    "tested",
    "abc",
    "asdf",
    "be",
    "is",
    "was",
    "are",
    "were",
    "been",
    "will",
    "would",
    "should",
    "could",
    "can",
    "cannot",
    "can't",
    "isn't",
    "doesn't",
    "don't",
    "won't",
    "didn't",
    "wasn't",
    "so",
    "to",
    "too",
    "as",
    "all",
    "any",
    "some",
    "each",
    "every",
    "more",
    "less",
    "most",
    "least",
    "much",
    "many",
    "few",
    "one",
    "two",
    "three",
    "first",
    "second",
    "last",
    "next",
    "previous",
    "current",
    "old",
    "new",
    "temporary",
    "temp",
    "permanent",
    "initial",
    "final",
];

fn is_stopword(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    STOPWORDS.iter().any(|w| w.as_bytes() == lower.as_slice())
}

const REF_MARKERS: &[&str] = &[
    "process.env",
    "os.environ",
    "getenv",
    "env(",
    "env[",
    "env.",
    "secrets.",
    "vault:",
    "config.",
    "settings.",
    "args.",
    "self.",
    "this.",
    "request.",
    "params",
    "req.",
    "input(",
    "prompt(",
    "getpass",
    "system.getenv",
    "import.meta",
    "os.getenv",
    "secretkeyref",
    "valuefrom",
    "${",
    "{{",
    "}}",
    "<%",
    "%>",
    "#{",
    "->",
    "::",
    "%s",
    "%(",
    "$(",
    "xxxx",
    "****",
    "…",
    "...",
    "redacted",
    "example",
    "placeholder",
    "your_password",
    "yourpassword",
    "your-password",
    "<password>",
    "changeme",
    "•",
    "●",
];

/// Variable references, templates, masks and placeholders that are not a password.
fn is_password_placeholder(v: &[u8]) -> bool {
    if v.is_empty() {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if REF_MARKERS.iter().any(|m| contains(&lower, m.as_bytes())) {
        return true;
    }
    let first = v[0];
    let last = v[v.len() - 1];
    let rest = &v[1..];
    // A leading sigil marks a reference unless the rest is clearly password material:
    // `$DB_PASS`/`${X}` are variables but `$ummer2024` is not; `%PW%`/`%(pw)s` are
    // templates but `%mSyQD2LdOLe6o` is not.
    let sigil_ref = match first {
        // (a second `$` is a crypt/PHC hash: `$argon2id$v=19$…`, `$2b$12$…`)
        b'$' => {
            matches!(rest.first(), Some(b'{') | Some(b'(') | None)
                || rest.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_')
                || rest.contains(&b'$')
        }
        b'%' => last == b'%' || matches!(rest.first(), Some(b'(') | Some(b'{') | None) || rest.len() <= 2,
        b'#' => !(rest.first().is_some_and(u8::is_ascii_alphanumeric) && v.iter().any(u8::is_ascii_digit)),
        b'&' | b'@' | b'*' | b'<' | b'[' | b'{' | b'(' | b'/' | b'~' => true,
        _ => false,
    };
    if sigil_ref {
        return true;
    }
    if (first == b'<' && last == b'>') || (first == b'[' && last == b']') {
        return true;
    }
    // YAML tags / CloudFormation intrinsics: `!vault |`, `!Ref DbPassword`, `!Sub …`.
    // Tags are a lower-case word or CamelCase words (`!vault`, `!GetAtt`), not random case.
    if first == b'!' && v.len() > 1 && rest.iter().all(|b| b.is_ascii_alphabetic()) {
        let lower_word = rest.iter().all(u8::is_ascii_lowercase);
        let camel = rest[0].is_ascii_uppercase()
            && rest.windows(2).all(|w| !(w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase()))
            && !rest.last().is_some_and(u8::is_ascii_uppercase);
        if lower_word || camel {
            return true;
        }
    }
    // All one character (by char, so "••••" counts too).
    if let Ok(s) = std::str::from_utf8(v) {
        let mut chars = s.chars();
        if let Some(c0) = chars.next() {
            if chars.all(|c| c == c0) {
                return true;
            }
        }
    }
    if lower.starts_with(b"your")
        || lower.starts_with(b"enter")
        || lower.starts_with(b"insert")
        || lower.starts_with(b"replace")
        || lower.starts_with(b"example")
        || lower.starts_with(b"sample")
        || lower.starts_with(b"dummy")
        || lower.starts_with(b"some_")
        || lower.starts_with(b"my_")
        || lower.starts_with(b"the_")
    {
        return true;
    }
    // A call or a dotted/indexed reference: getPassword(), config.db.password, creds["pw"].
    if v.contains(&b'(')
        && v.iter().take_while(|b| **b != b'(').all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
    {
        return true;
    }
    let ident_dotted = v.contains(&b'.')
        && v.split(|&b| b == b'.').all(|seg| {
            !seg.is_empty()
                && (seg[0].is_ascii_alphabetic() || seg[0] == b'_')
                && seg.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        });
    if ident_dotted {
        return true;
    }
    if v.contains(&b'[') && v.contains(&b']') {
        return true;
    }
    false
}

fn password_value_ok(v: &[u8], quoted: bool, style: Style, line_end: bool) -> bool {
    let nchars = String::from_utf8_lossy(v).chars().count();
    if !(4..=128).contains(&nchars) {
        return false;
    }
    if quoted && v.iter().filter(|b| **b == b' ').count() > 3 {
        return false; // a sentence in quotes, not a password
    }
    let core_start = v.iter().position(|b| b.is_ascii_alphanumeric() || *b >= 0x80).unwrap_or(v.len());
    let core_end = v.iter().rposition(|b| b.is_ascii_alphanumeric() || *b >= 0x80).map_or(core_start, |p| p + 1);
    if is_stopword(v) || is_stopword(&v[core_start..core_end.max(core_start)]) || is_password_placeholder(v) {
        return false;
    }
    if v.windows(3).any(|w| w == b"://") {
        return false;
    }
    let c = classes(v);
    let letters = c.lower + c.upper;
    let non_ascii = v.iter().any(|b| *b >= 0x80);
    let symbols = v.iter().filter(|b| b.is_ascii_punctuation() && !matches!(b, b'-' | b'\'' | b'.' | b'_')).count();
    let inner_upper = v.iter().skip(1).any(u8::is_ascii_uppercase) && c.lower > 0;
    let secretish = c.digit > 0 || symbols > 0 || inner_upper || non_ascii;
    let identifier = v.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    let has_kw = {
        let l = v.to_ascii_lowercase();
        ["pass", "pwd", "secret", "token", "cred", "key"].iter().any(|k| contains(&l, k.as_bytes()))
    };
    if identifier && has_kw && !quoted && c.digit == 0 {
        return false; // a variable named like a password: password = new_password
    }
    if letters == 0 && !non_ascii && !(c.other == 0 && c.digit >= 6) {
        return false; // numbers, ratios, times, percentages: `12/12`, `100%`, `1234`
    }
    if identifier && c.digit == 0 && v.contains(&b'_') && !quoted {
        return false; // snake_case identifier: `PASS: test_login`
    }
    if crate::dlp::validate::longest_sequence(v) >= 8 || longest_run(v) >= 6 {
        return false;
    }
    match style {
        Style::Url | Style::Cmd => true,
        Style::Natural => quoted || secretish,
        Style::Colon => quoted || secretish || (line_end && nchars >= 6),
        Style::Assign { code_like } => {
            if quoted {
                true
            } else if code_like {
                // `password = something` in code: an identifier without digits is a variable.
                !(identifier && c.digit == 0)
            } else {
                true
            }
        }
    }
}

fn bearer_token_ok(tok: &[u8]) -> bool {
    if tok.len() < 16 || tok.len() > 4096 {
        return false;
    }
    if is_placeholder_secret(tok) || tok.starts_with(b"$") {
        return false;
    }
    let c = classes(tok);
    if c.digit == 0 && (c.upper == 0 || c.lower == 0) {
        return false;
    }
    shannon_entropy(tok) >= 3.0
}

// ----------------------------------------------------------------------------------------
// Generic secrets
// ----------------------------------------------------------------------------------------

const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "access",
    "secret",
    "private",
    "signing",
    "encryption",
    "master",
    "auth",
    "client",
    "app",
    "service",
    "account",
    "subscription",
    "license",
    "consumer",
    "admin",
    "write",
    "read",
    "webhook",
    "shared",
    "sas",
    "storage",
    "deploy",
    "ingest",
    "sdk",
    "server",
    "integration",
    "partner",
    "merchant",
    "x",
];

const TOKEN_NOT_SECRET: &[&str] = &[
    "csrf",
    "xsrf",
    "page",
    "next",
    "continuation",
    "sync",
    "max",
    "num",
    "total",
    "input",
    "output",
    "cancellation",
    "cancel",
    "id",
    "prompt",
    "completion",
    "reasoning",
    "cached",
    "stop",
    "bos",
    "eos",
    "pad",
    "unk",
    "sep",
    "cls",
    "mask",
    "special",
    "vocab",
    "n",
    "verification",
    "csrfmiddleware",
    "anti",
    "forgery",
    "request",
    "cursor",
    "resume",
    "paging",
    "pagination",
    "design",
    "lexer",
    "parser",
    "ast",
    "syntax",
    "cache",
];

const GENERIC_META: &[&str] = &[
    "id",
    "ids",
    "name",
    "names",
    "type",
    "types",
    "url",
    "uri",
    "urls",
    "endpoint",
    "path",
    "file",
    "filename",
    "dir",
    "length",
    "len",
    "size",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "exp",
    "header",
    "count",
    "limit",
    "version",
    "field",
    "label",
    "env",
    "var",
    "prefix",
    "suffix",
    "format",
    "hash",
    "pattern",
    "regex",
    "enabled",
    "required",
    "ref",
    "arn",
    "location",
    "source",
    "policy",
    "rotation",
    "created",
    "updated",
    "usage",
    "hint",
    "description",
    "desc",
    "provider",
    "store",
    "manager",
    "mode",
    "min",
    "index",
    "kind",
    "region",
    "tokens",
    "tokenizer",
    "counter",
    "class",
    "scope",
    "scopes",
    "audience",
    "issuer",
    "duration",
    "timeout",
    "lifetime",
    "public",
    "publishable",
    "pub",
    "fingerprint",
    "thumbprint",
    "checksum",
    "sha",
    "md5",
    "sha1",
    "sha256",
    "integrity",
    "etag",
    "commit",
    "revision",
    "version",
    "algorithm",
    "alg",
    "length",
    "bits",
    "user",
    "username",
    "owner",
    "email",
    "account",
    "project",
    "tenant",
    "key",
    "keys",
    "secret",
    "secrets",
    "token",
];

/// `api_key`, `client_secret`, `AUTH_TOKEN`, `x-api-key`, `secretKey` …, but not `client_id`,
/// `secret_name`, `max_tokens`, `next_page_token`, `public_key`, `csrf_token`.
fn generic_key_ok(key: &[u8]) -> bool {
    let comps = components(key);
    if comps.is_empty() {
        return false;
    }
    let mut secretish = false;
    for (i, c) in comps.iter().enumerate() {
        let prev = if i > 0 { Some(comps[i - 1].as_str()) } else { None };
        match c.as_str() {
            "secret" | "apikey" | "secretkey" | "accesskey" | "privatekey" | "authkey" | "masterkey" | "signingkey"
            | "encryptionkey" | "clientkey" | "passkey" => secretish = true,
            "token" | "accesstoken" | "authtoken" | "apitoken" | "refreshtoken" => {
                if prev.is_some_and(|p| TOKEN_NOT_SECRET.contains(&p)) {
                    return false;
                }
                secretish = true
            }
            "key" if prev.is_some_and(|p| KEY_QUALIFIERS.contains(&p)) => secretish = true,
            _ => {}
        }
    }
    if !secretish {
        return false;
    }
    let Some(last) = comps.last() else {
        return false;
    };
    // The last component decides what the value is: `secret_name` is a name.
    let last_is_secret_word = matches!(
        last.as_str(),
        "secret"
            | "key"
            | "token"
            | "apikey"
            | "secretkey"
            | "accesskey"
            | "privatekey"
            | "authkey"
            | "masterkey"
            | "signingkey"
            | "encryptionkey"
            | "clientkey"
            | "passkey"
            | "accesstoken"
            | "authtoken"
            | "apitoken"
            | "refreshtoken"
            | "secrets"
    );
    if !last_is_secret_word && GENERIC_META.contains(&last.as_str()) {
        return false;
    }
    if comps.iter().any(|c| matches!(c.as_str(), "public" | "publishable" | "pub" | "csrf" | "xsrf")) {
        return false;
    }
    if comps.last().is_some_and(|c| c == "keys" || c == "tokens") {
        return false;
    }
    true
}

fn key_is_strong(key: &[u8]) -> bool {
    let comps = components(key);
    comps.windows(2).any(|w| {
        matches!(
            (w[0].as_str(), w[1].as_str()),
            ("api", "key")
                | ("secret", "key")
                | ("client", "secret")
                | ("access", "token")
                | ("auth", "token")
                | ("api", "secret")
                | ("private", "key")
                | ("api", "token")
        )
    }) || comps.iter().any(|c| c == "apikey" || c == "secretkey")
}

/// Value checks for generic secrets: length, entropy, mixed classes, no UUID/path/identifier.
fn generic_value(v: &[u8]) -> Option<Confidence> {
    if v.len() < 16 || v.len() > 256 {
        return None;
    }
    if v.iter().any(|b| b.is_ascii_whitespace()) || is_placeholder_secret(v) {
        return None;
    }
    if matches!(v[0], b'$' | b'%' | b'{' | b'<' | b'/' | b'.' | b'~') {
        return None;
    }
    if looks_like_uuid(v) || v.starts_with(b"eyJ") {
        return None;
    }
    if v.windows(3).any(|w| w == b"://") || v.contains(&b'@') {
        return None;
    }
    let lower = v.to_ascii_lowercase();
    for p in ["sha256-", "sha384-", "sha512-", "sha1-", "md5-", "bearer", "pk_live_", "pk_test_"] {
        if lower.starts_with(p.as_bytes()) {
            return None;
        }
    }
    // Dotted identifiers and paths: settings.SECRET_KEY, a/b/c.txt
    let dotted = v.contains(&b'.')
        && v.split(|&b| b == b'.').all(|seg| {
            !seg.is_empty()
                && (seg[0].is_ascii_alphabetic() || seg[0] == b'_')
                && seg.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        });
    if dotted {
        return None;
    }
    let c = classes(v);
    if c.digit == 0 || c.lower + c.upper == 0 {
        return None;
    }
    let h = shannon_entropy(v);
    let hex = is_hex(v);
    if hex {
        if h < 3.0 || v.len() < 20 {
            return None;
        }
    } else if h < 3.5 {
        return None;
    }
    // snake/kebab identifiers with a version digit: my_service_name_v2
    let words = v
        .split(|b| matches!(b, b'_' | b'-' | b'.'))
        .filter(|w| w.len() >= 3 && w.iter().all(u8::is_ascii_lowercase))
        .count();
    let segs = v.split(|b| matches!(b, b'_' | b'-' | b'.')).count();
    if segs >= 3 && words * 2 >= segs {
        return None;
    }
    if h >= 4.0 && v.len() >= 24 {
        Some(Confidence::High)
    } else {
        Some(Confidence::Medium)
    }
}

/// Validates a PEM body; returns the number of base64 characters.
fn pem_body_ok(body: &[u8]) -> Option<usize> {
    let mut b64 = Vec::with_capacity(body.len());
    let lower = body.to_ascii_lowercase();
    for bad in [&b"..."[..], "…".as_bytes(), b"<", b"redacted", b"xxxx", b"your", b"[", b"insert", b"paste"] {
        if memmem::find(&lower, bad).is_some() {
            return None;
        }
    }
    // Skip RFC 1421 headers (Proc-Type, DEK-Info, Comment) line by line.
    for line in body.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.contains(&b':') && !line.contains(&b'\\') {
            continue;
        }
        let mut j = 0;
        while j < line.len() {
            let b = line[j];
            if b == b'\\' && matches!(line.get(j + 1), Some(b'n') | Some(b'r')) {
                j += 2;
                continue;
            }
            if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=') {
                b64.push(b);
            } else if !b.is_ascii_whitespace() {
                // A ':' header inside a JSON-escaped body, e.g. "Proc-Type: 4,ENCRYPTED\n".
                if b == b':' || b == b',' || b == b'-' {
                    j += 1;
                    continue;
                }
                return None;
            }
            j += 1;
        }
    }
    if b64.len() < 64 || shannon_entropy(&b64) < 4.5 || longest_run(&b64) >= 12 {
        return None;
    }
    Some(b64.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_components() {
        assert_eq!(components(b"dbPassword"), vec!["db", "password"]);
        assert!(password_key_ok(b"DB_PASSWORD"));
        assert!(password_key_ok(b"PGPASSWORD"));
        assert!(!password_key_ok(b"password_hash"));
        assert!(!password_key_ok(b"min_password_length"));
        assert!(!password_key_ok(b"passport"));
        assert!(!password_key_ok(b"bypass"));
        assert!(generic_key_ok(b"api_key"));
        assert!(generic_key_ok(b"STRIPE_SECRET"));
        assert!(generic_key_ok(b"clientSecret"));
        assert!(!generic_key_ok(b"client_id"));
        assert!(!generic_key_ok(b"secret_name"));
        assert!(!generic_key_ok(b"max_tokens"));
        assert!(!generic_key_ok(b"next_page_token"));
        assert!(!generic_key_ok(b"public_key"));
        assert!(!generic_key_ok(b"tokenizationId"));
    }

    #[test]
    fn password_values() {
        assert!(password_value_ok(b"hunter2x!", false, Style::Natural, true));
        assert!(!password_value_ok(b"********", false, Style::Colon, true));
        assert!(!password_value_ok(b"${DB_PASSWORD}", false, Style::Colon, true));
        assert!(!password_value_ok(b"<password>", false, Style::Colon, true));
        assert!(!password_value_ok(b"{{password}}", false, Style::Colon, true));
        assert!(!password_value_ok(b"YOUR_PASSWORD", false, Style::Colon, true));
        assert!(!password_value_ok(b"incorrect", false, Style::Natural, true));
        assert!(!password_value_ok(b"os.environ", false, Style::Assign { code_like: true }, true));
    }
}
