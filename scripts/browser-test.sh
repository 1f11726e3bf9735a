#!/usr/bin/env bash
# Browser test of `compliance-lake console` in a real headless Chromium (tests/browser/).
# Installs Debian's chromium only when missing, and playwright-core (no browser download) into
# tests/browser/node_modules (ignored). Screenshots go to tests/browser/screenshots/ (ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/compliance-lake/target}"
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
# the binary as the test step builds it: the same packages and targets as `cargo test --workspace
# --all-targets` (without `--workspace`, feature unification differs and half the dependency graph
# is compiled again), so after the test step nothing is rebuilt
cargo test --locked --workspace --all-targets --no-run
BIN="$CARGO_TARGET_DIR/debug/compliance-lake" CHROMIUM="$(command -v chromium)" node tests/browser/console.test.mjs
