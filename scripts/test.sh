#!/usr/bin/env bash
# The one test command (README): formatting, lints, every unit and integration test.
# Installs what it needs; needs only crates.io (and later PyPI/npm for the AWS emulator and linters).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/compliance-lake/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
step() { printf '\n==> %s\n' "$*"; }

step "toolchain: $(rustc --version)"
for c in rustfmt clippy; do
  if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$c"
  fi
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test (unit + integration against the fake API over real HTTP)"
cargo test --locked --workspace --all-targets

step "benchmarks compile (run them with: cargo bench)"
cargo bench --locked --workspace --no-run
