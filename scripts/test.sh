#!/usr/bin/env bash
# The one test command (README): every check of the project, installing what it needs.
# Needs only the Rust toolchain plus crates.io, PyPI and npm (Java 17 for DynamoDB Local).
#   1. formatting and clippy (-D warnings)
#   2. AWS emulators for the integration tests (moto server; DynamoDB Local)
#   3. every unit and integration test (fake Compliance API over real HTTP, moto, DynamoDB Local),
#      and the console's browser test (Debian chromium + playwright-core)
#   4. deployment templates and Athena queries, validated offline (scripts/validate-infra.sh)
#   5. Lambda packaging: cargo lambda build --release --arm64 for every function
#   6. fuzz smoke run: every cargo-fuzz target for FUZZ_SECONDS (default 5) seconds (scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/compliance-lake/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
step() { printf '\n==> %s  [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }

step "toolchain: $(rustc --version)"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, -D warnings)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "AWS emulators (moto server, DynamoDB Local)"
bash scripts/setup-emulators.sh
export REQUIRE_DYNAMODB_LOCAL="${REQUIRE_DYNAMODB_LOCAL:-$([ -n "${CI:-}" ] && command -v java >/dev/null && echo 1 || echo 0)}"

step "cargo test (unit, fake API over HTTP, fault and property tests, moto and DynamoDB Local)"
cargo test --locked --workspace --all-targets --no-fail-fast

step "browser: compliance-lake console in headless Chromium (scripts/browser-test.sh)"
bash scripts/browser-test.sh

step "fuzz smoke run: ${FUZZ_SECONDS:-5} s per target (longer: bash scripts/fuzz.sh 600)"
FUZZ_PROFILE="${FUZZ_PROFILE:-dev}" FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$(dirname "$CARGO_TARGET_DIR")/fuzz-target}" \
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-5}"

step "infrastructure: SAM + CDK templates, IAM, Athena queries over demo output (offline)"
# the CLI the test step built (`cargo run` alone would resolve features differently and rebuild)
COMPLIANCE_LAKE_BIN="${COMPLIANCE_LAKE_BIN:-$CARGO_TARGET_DIR/debug/compliance-lake}" bash scripts/validate-infra.sh

step "Lambda packaging: cargo lambda build --release --arm64"
bash scripts/package-lambdas.sh

step "all checks passed"
