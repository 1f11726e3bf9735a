//! Word pools and small text builders for realistic-looking synthetic content.

use rand::seq::SliceRandom;
use rand::Rng;

pub const FIRST_NAMES: &[&str] = &[
    "Alice", "Bruno", "Chloé", "Dmitri", "Elena", "Farah", "Gustavo", "Hiroshi", "Ines", "Jamal", "Kofi", "Lena",
    "Mateo", "Nadia", "Oren", "Priya", "Quinn", "Rosa", "Sven", "Tamar", "Uma", "Victor", "Wen", "Ximena", "Yusuf",
    "Zoë", "Aarav", "Beatriz", "Connor", "Dana",
];

pub const LAST_NAMES: &[&str] = &[
    "Anderson",
    "Bauer",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fujita",
    "García",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "O'Brien",
    "Petrov",
    "Quintero",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Umar",
    "Varga",
    "Whitfield",
    "Xu",
    "Yilmaz",
    "Zimmermann",
];

pub const COMPANIES: &[(&str, &str)] = &[
    ("Northwind Labs", "northwindlabs.com"),
    ("Contoso Analytics", "contoso-analytics.com"),
    ("Globex Systems", "globexsystems.io"),
    ("Initech Health", "initech-health.com"),
    ("Umbrella Logistics", "umbrella-logistics.net"),
];

pub const ORG_UNITS: &[&str] =
    &["Engineering", "Legal", "Sales", "Marketing", "Finance", "Research", "Support", "People Ops"];

pub const CHAT_TOPICS: &[&str] = &[
    "Quarterly planning draft",
    "Debugging flaky CI job",
    "Rewrite onboarding email",
    "SQL query for churn cohort",
    "Summarize vendor contract",
    "Terraform module review",
    "Customer escalation reply",
    "Board deck outline",
    "Kubernetes OOMKilled pods",
    "Translate release notes to German",
    "Expense policy questions",
    "Incident postmortem template",
    "Regex for log parsing",
    "Pricing page copy ideas",
    "Interview question bank",
    "Data retention policy summary",
    "Python pandas groupby help",
    "Security questionnaire answers",
    "Roadmap prioritization",
    "Testing file attachments with Claude",
];

pub const USER_PROMPTS: &[&str] = &[
    "Can you help me draft a short summary of the attached notes for the leadership sync?",
    "Why does this query return duplicate rows after the join?",
    "Rewrite this paragraph so it sounds less formal but still professional.",
    "What are the main risks in this rollout plan?",
    "Give me three options for naming the new internal tool.",
    "Explain the difference between a left join and a semi join with an example.",
    "Turn these bullet points into a customer-facing announcement.",
    "Can you review this function for edge cases?",
    "Summarize the key obligations in section 4 of the agreement.",
    "Write a test plan for the checkout flow migration.",
    "How should we structure the retention policy for chat logs?",
    "Propose an agenda for a 45-minute design review.",
    "What does this stack trace mean and how do I fix it?",
    "Make this SQL faster; the table has about 40 million rows.",
    "Draft a polite follow-up to a vendor who missed the deadline.",
];

pub const ASSISTANT_REPLIES: &[&str] = &[
    "Here's a concise summary organized by theme, with the open decisions called out at the end.",
    "The duplicates come from the one-to-many relationship in the join; aggregate before joining or use DISTINCT ON.",
    "Sure — here is a friendlier version that keeps the key commitments intact.",
    "The biggest risks are the data migration window, the lack of a rollback path, and the on-call coverage gap.",
    "A few options: Beacon, Ledgerline, and Tidewater. Each has a short rationale below.",
    "A left join keeps every row from the left table; a semi join only filters the left table by existence in the right.",
    "Here's a draft announcement with a short headline, the customer impact, and a clear call to action.",
    "I found two edge cases: empty input and integer overflow when the counter wraps.",
    "Section 4 requires 30 days' notice for termination and caps liability at fees paid in the prior 12 months.",
    "Here's a test plan covering happy paths, payment failures, retries, and idempotency of the order webhook.",
    "I'd separate legal hold from routine retention and define per-data-type periods with an audit trail.",
    "Proposed agenda: context (5 min), proposal walkthrough (15), open questions (15), decision and owners (10).",
    "The trace shows a null dereference in the session middleware; the token refresh path skips initialization.",
    "An index on (customer_id, created_at) plus rewriting the correlated subquery as a window function should help.",
    "Here's a polite but firm follow-up that restates the deadline and asks for a revised date.",
];

pub const FILE_BODIES: &[&str] = &[
    "Meeting notes\n- Agreed to move the launch by one week\n- Owners: platform team\n- Follow-up: confirm budget with finance\n",
    "id,region,revenue,churn\n1,EMEA,120000,0.04\n2,NA,340000,0.03\n3,APAC,98000,0.06\n",
    "# Runbook\n\n1. Drain the node\n2. Snapshot the volume\n3. Apply the patch\n4. Re-enable scheduling\n",
    "{\n  \"service\": \"orders\",\n  \"replicas\": 3,\n  \"timeout_ms\": 2500\n}\n",
    "Draft policy: chat transcripts are retained for 90 days unless a legal hold applies.\n",
];

pub const PROJECT_NAMES: &[&str] = &[
    "Customer Support Playbook",
    "Q3 Marketing Launch",
    "Platform Migration",
    "Legal Contract Review",
    "Sales Enablement",
    "Security Compliance Program",
    "Data Science Sandbox",
    "Hiring Pipeline",
    "Finance Close Checklist",
    "Product Requirements Hub",
];

pub const MODELS: &[&str] = &["claude-sonnet-5", "claude-opus-5", "claude-opus-4-1", "claude-haiku-4-5"];

pub const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Claude/1.4.2 (Macintosh; darwin 24.1.0; arm64) Electron/33.2.0",
    "Claude/1.9.0 CFNetwork/1568.200.51 Darwin/24.1.0 (iPhone; iOS 18.1)",
];

pub fn pick<'a, R: Rng + ?Sized>(rng: &mut R, pool: &[&'a str]) -> &'a str {
    pool.choose(rng).copied().unwrap_or("")
}

/// ASCII-only lowercase slug of a name for e-mail local parts.
pub fn ascii_slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let mapped = match c {
            'é' | 'è' | 'ê' => 'e',
            'ë' => 'e',
            'á' | 'à' => 'a',
            'í' => 'i',
            'ó' | 'ö' => 'o',
            'ú' | 'ü' => 'u',
            'ç' => 'c',
            _ => c,
        };
        if mapped.is_ascii_alphanumeric() {
            out.push(mapped.to_ascii_lowercase());
        }
    }
    out
}

/// Lowercase, hyphen-separated ASCII slug for file names (`"Board deck outline"` → `board-deck-outline`).
pub fn file_slug(s: &str) -> String {
    s.split_whitespace().map(ascii_slug).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-")
}
