#!/usr/bin/env bash
# Builds every Lambda function for arm64 (provided.al2023) with cargo-lambda + zig from PyPI into
# target/lambda/<function>/bootstrap — the artifacts infra/template.yaml and the CDK app deploy.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/compliance-lake/target}"
VENV=.venv-lambda
if ! "$VENV/bin/cargo-lambda" --version >/dev/null 2>&1; then
  python3 -m venv "$VENV"
  PIP_NO_CACHE_DIR=1 "$VENV/bin/pip" install -q --disable-pip-version-check 'cargo-lambda==1.9.2' 'ziglang==0.17.1'
fi
if ! rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$'; then
  rustup target add aarch64-unknown-linux-gnu || {
    echo "ERROR: the aarch64 standard library could not be installed (rustup target add aarch64-unknown-linux-gnu); arm64 Lambda builds need it" >&2
    exit 1
  }
fi
export PATH="$PWD/$VENV/bin:$PATH"
cargo lambda build --release --arm64 --package scheduler --package worker --lambda-dir "$CARGO_TARGET_DIR/lambda"
mkdir -p target
rm -rf target/lambda && ln -s "$CARGO_TARGET_DIR/lambda" target/lambda
for f in scheduler worker; do
  b="target/lambda/$f/bootstrap"
  [ -x "$b" ] || { echo "ERROR: $b missing" >&2; exit 1; }
  file "$b" 2>/dev/null | grep -q aarch64 || { echo "ERROR: $b is not an arm64 binary" >&2; exit 1; }
  echo "ok: $b ($(du -h "$b" | cut -f1))"
done
