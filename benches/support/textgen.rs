//! Deterministic generator of chat-like text (prose, markdown, code, logs, JSON) for the DLP
//! benchmark and the clean-text false-positive test. "Clean" text contains the usual hard
//! negatives of real chats — versions, dates, UUIDs, hashes, prices, ports — but no secret
//! or PII. `with_findings` inserts synthetic secrets/PII at a given rate.
#![allow(dead_code)]

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| b"0123456789abcdef"[self.below(16)] as char).collect()
    }
    pub fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n).map(|_| A[self.below(A.len())] as char).collect()
    }
}

const WORDS: &[&str] = &[
    "the",
    "a",
    "we",
    "you",
    "can",
    "should",
    "would",
    "please",
    "help",
    "me",
    "with",
    "this",
    "that",
    "function",
    "error",
    "service",
    "deploy",
    "review",
    "summary",
    "customer",
    "report",
    "meeting",
    "draft",
    "email",
    "quarter",
    "budget",
    "team",
    "project",
    "roadmap",
    "data",
    "model",
    "query",
    "table",
    "results",
    "why",
    "does",
    "it",
    "fail",
    "when",
    "I",
    "run",
    "tests",
    "build",
    "pipeline",
    "config",
    "update",
    "feature",
    "release",
    "notes",
    "user",
    "account",
    "settings",
    "page",
    "button",
    "layout",
    "design",
    "issue",
    "bug",
    "fix",
    "and",
    "or",
    "but",
    "also",
    "then",
    "because",
    "before",
    "after",
    "during",
    "about",
    "into",
    "latency",
    "memory",
    "cache",
    "database",
    "index",
    "migration",
    "schema",
    "contract",
    "invoice",
    "policy",
    "document",
    "section",
    "paragraph",
    "translate",
    "rewrite",
    "shorter",
    "formal",
    "tone",
    "bullet",
    "points",
    "analysis",
    "trend",
    "growth",
    "revenue",
    "cost",
    "vendor",
    "timeline",
    "risk",
    "owner",
    "status",
    "blocked",
    "approved",
    "pending",
    "key",
    "token",
    "password",
    "secret",
    "phone",
    "card",
    "number",
    "address",
    "server",
    "version",
];

const CODE: &[&str] = &[
    "```rust\nfn parse(input: &str) -> Result<Vec<u32>, ParseIntError> {\n    input.split(',').map(|s| s.trim().parse()).collect()\n}\n```\n",
    "```python\ndef handler(event, context):\n    items = event.get(\"items\", [])\n    total = sum(i[\"price\"] * i[\"qty\"] for i in items)\n    return {\"statusCode\": 200, \"body\": json.dumps({\"total\": total})}\n```\n",
    "```js\nexport async function load(id) {\n  const res = await fetch(`/api/v2/items/${id}`);\n  if (!res.ok) throw new Error(`HTTP ${res.status}`);\n  return res.json();\n}\n```\n",
    "```sql\nSELECT c.id, c.name, SUM(o.total) AS revenue\nFROM customers c JOIN orders o ON o.customer_id = c.id\nWHERE o.created_at >= '2024-01-01'\nGROUP BY c.id, c.name ORDER BY revenue DESC LIMIT 20;\n```\n",
    "```yaml\nservices:\n  web:\n    image: nginx:1.25.3\n    ports:\n      - \"8080:80\"\n    environment:\n      - LOG_LEVEL=info\n      - WORKERS=4\n```\n",
    "```bash\nkubectl rollout status deployment/api -n prod --timeout=120s\ngit rebase -i HEAD~3 && cargo test --release -- --nocapture\n```\n",
    "```json\n{\"name\": \"web-app\", \"version\": \"2.14.0\", \"dependencies\": {\"react\": \"^18.2.0\", \"zod\": \"3.22.4\"}}\n```\n",
    "```go\nfunc (s *Server) Get(ctx context.Context, id string) (*Item, error) {\n\tctx, cancel := context.WithTimeout(ctx, 3*time.Second)\n\tdefer cancel()\n\treturn s.store.Find(ctx, id)\n}\n```\n",
];

fn sentence(r: &mut Rng, out: &mut String) {
    let n = 6 + r.below(14);
    for i in 0..n {
        let w = r.pick(WORDS);
        if i == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(w);
        }
        if r.below(40) == 0 {
            out.push(',');
        }
    }
    out.push_str(r.pick(&[".", ".", ".", "?", "!"]));
    out.push(' ');
}

/// Clean hard-negative fragments: numbers and identifiers that are not PII or secrets.
fn noise(r: &mut Rng, out: &mut String) {
    match r.below(12) {
        0 => out.push_str(&format!("version {}.{}.{} ", r.below(5), r.below(30), r.below(20))),
        1 => out.push_str(&format!(
            "on 2024-{:02}-{:02} at {:02}:{:02} ",
            1 + r.below(12),
            1 + r.below(28),
            r.below(24),
            r.below(60)
        )),
        2 => out.push_str(&format!("request {}-{}-4{}-a{}-{} ", r.hex(8), r.hex(4), r.hex(3), r.hex(3), r.hex(12))),
        3 => out.push_str(&format!("commit {} ", r.hex(40))),
        4 => out.push_str(&format!("${}.{:02} ", r.below(100_000), r.below(100))),
        5 => out.push_str(&format!("{}% of {} users ", r.below(100), r.below(50_000))),
        6 => out.push_str(&format!("port {} ", 1024 + r.below(60_000))),
        7 => out.push_str(&format!("issue #{} ", r.below(20_000))),
        8 => out.push_str(&format!("took {} ms ", r.below(5000))),
        9 => out.push_str(&format!("npm i lodash@4.17.{} ", r.below(30))),
        10 => out.push_str(&format!("sha256:{} ", r.hex(64))),
        _ => out.push_str(&format!("page {} of {} ", r.below(40), 40 + r.below(100))),
    }
}

fn log_line(r: &mut Rng, out: &mut String) {
    out.push_str(&format!(
        "2024-06-{:02}T{:02}:{:02}:{:02}.{:03}Z {} {} request_id={} latency_ms={} status={}\n",
        1 + r.below(28),
        r.below(24),
        r.below(60),
        r.below(60),
        r.below(1000),
        r.pick(&["INFO", "WARN", "DEBUG", "ERROR"]),
        r.pick(&["api.handler", "db.pool", "cache.lru", "auth.session", "queue.worker"]),
        r.hex(16),
        r.below(900),
        r.pick(&["200", "201", "404", "500", "503"])
    ));
}

/// About `size` bytes of clean chat-like text.
pub fn clean_text(seed: u64, size: usize) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(size + 1024);
    while out.len() < size {
        match r.below(10) {
            0 => out.push_str(r.pick(CODE)),
            1 => {
                for _ in 0..(2 + r.below(4)) {
                    log_line(&mut r, &mut out);
                }
            }
            2 => {
                out.push_str("\n- ");
                sentence(&mut r, &mut out);
                out.push_str("\n- ");
                sentence(&mut r, &mut out);
                out.push('\n');
            }
            3 => {
                out.push_str("## ");
                sentence(&mut r, &mut out);
                out.push('\n');
            }
            _ => {
                for _ in 0..(2 + r.below(5)) {
                    sentence(&mut r, &mut out);
                    if r.below(3) == 0 {
                        noise(&mut r, &mut out);
                    }
                }
                out.push_str("\n\n");
            }
        }
    }
    out
}

fn luhn_card(r: &mut Rng) -> String {
    let mut d: Vec<u32> = vec![4];
    while d.len() < 15 {
        d.push(r.below(10) as u32);
    }
    let mut sum = 0;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = x;
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    d.push((10 - sum % 10) % 10);
    let s: String = d.iter().map(|x| char::from(b'0' + *x as u8)).collect();
    format!("{} {} {} {}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
}

/// A valid-looking SSN (area 001–665, group ≥ 01, serial ≥ 0001).
fn ssn(r: &mut Rng) -> String {
    format!("{:03}{:02}{:04}", 1 + r.below(665), 1 + r.below(98), 1 + r.below(9998))
}

/// One synthetic finding with its surrounding phrase.
pub fn finding(r: &mut Rng) -> String {
    match r.below(11) {
        8 => format!("\nname,phone,ssn\nDana Ruiz,617.{}.{:04},{}\n", 200 + r.below(700), r.below(10_000), ssn(r)),
        9 => format!("login ops{} / pwd Ocean{}* for staging. ", r.below(100), 1000 + r.below(8999)),
        10 => format!("reach me on +44 20 {} {:04} later. ", 3000 + r.below(6000), r.below(10_000)),
        0 => format!("my card is {} thanks. ", luhn_card(r)),
        1 => {
            format!("email {}.{}@northwind-traders.com please. ", r.pick(&["ann", "bo", "cy"]), r.pick(&["lee", "ray"]))
        }
        2 => format!("ANTHROPIC_API_KEY=sk-ant-api03-{}AA\n", r.alnum(93)),
        3 => format!("my password is Maple#{} ok. ", 1000 + r.below(8999)),
        4 => format!("call me at (415) {}-{:04} tonight. ", 200 + r.below(300), r.below(10_000)),
        5 => {
            format!("export AWS_ACCESS_KEY_ID=AKIA{}\n", r.alnum(16).to_uppercase().replace(['0', '1', '8', '9'], "Q"))
        }
        6 => format!("server ip 10.{}.{}.{} is down. ", r.below(256), r.below(256), 1 + r.below(250)),
        _ => format!("token ghp_{} expired. ", r.alnum(36)),
    }
}

/// A spreadsheet paste: `rows` CSV rows of name, e-mail, phone and SSN under a header (three
/// findings per row; the worst case for the table-context path).
pub fn csv_export(seed: u64, rows: usize) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::from("name,email,phone,ssn,notes\n");
    for _ in 0..rows {
        let first = r.pick(&["Ann", "Bo", "Chidi", "Daria", "Emeka", "Freya"]);
        let last = r.pick(&["Lee", "Ray", "Okafor", "Lindqvist", "Dvorak"]);
        out.push_str(&format!(
            "{first} {last},{}.{}@northwind-traders.com,({}) {}-{:04},{},{}\n",
            first.to_lowercase(),
            last.to_lowercase(),
            200 + r.below(700),
            200 + r.below(700),
            r.below(10_000),
            ssn(&mut r),
            r.pick(&["renewal due", "moved to ops", "n/a", "call after 5pm"])
        ));
    }
    out
}

/// Clean text with roughly one finding per `every` bytes.
pub fn with_findings(seed: u64, size: usize, every: usize) -> String {
    let clean = clean_text(seed, size);
    let mut r = Rng::new(seed ^ 0xdead_beef);
    let mut out = String::with_capacity(size + size / every * 64);
    let mut last = 0;
    let mut next = every / 2;
    for (i, c) in clean.char_indices() {
        if i >= next && c == ' ' {
            out.push_str(&clean[last..i + 1]);
            out.push_str(&finding(&mut r));
            last = i + 1;
            next = i + every;
        }
    }
    out.push_str(&clean[last..]);
    out
}
