//! The DLP scanner's tests in one binary: its API, the labelled evaluation and quality gates, the
//! property tests (robustness, snippet safety) and tabular PII. `cargo test --test dlp eval::` runs
//! one module.

#[path = "../../benches/support/textgen.rs"]
mod textgen;

mod api;
mod eval;
mod quality;
mod robustness;
mod snippets;
mod tabular;
