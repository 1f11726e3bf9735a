//! DLP scanner benchmarks.
//!
//! Targets (one core):
//! * ≥ 300 MB/s on clean chat-like text (prose, markdown, code, logs; ~1 MB, no secrets);
//! * per-message latency for 2 KB messages well under 1 ms (p99 target < 1 ms for ≤ 16 KB);
//! * `Scanner::new()` (one-time compile of all automata and regexes) < 20 ms.
//!
//! * ≥ 150 MB/s on text with ~1 finding per KB (cards, e-mails, keys, passwords, phones, IPs,
//!   tokens, small CSV pastes, chat-shorthand credentials).
//!
//! Also measured: a ~1 MiB CSV export with three findings per row (the table-context path),
//! and a 4 MiB attachment through the chunked document path.
//!
//! Run (scanner only, no AWS SDK in the build):
//! `cargo bench -p shared --no-default-features --bench dlp_scan -- --warm-up-time 1 --measurement-time 3`.
//! The workspace's `benches/dlp.rs` runs the same benchmarks (`cargo bench --bench dlp`).

include!("common/dlp.rs");
