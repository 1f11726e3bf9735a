#!/usr/bin/env bash
# Builds the evaluation twice (with and without the phonenumber crate), prints the stripped
# binary sizes (their difference is what the crate adds to a binary) and the comparison table.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/compliance-lake/target}"
root=../../..
cargo build --release --quiet
cp "$CARGO_TARGET_DIR/release/phonenumber-eval" "$CARGO_TARGET_DIR/release/phonenumber-eval-plain"
cargo build --release --quiet --features pn
plain=$(stat -c %s "$CARGO_TARGET_DIR/release/phonenumber-eval-plain")
with=$(stat -c %s "$CARGO_TARGET_DIR/release/phonenumber-eval")
echo "release binary, stripped: phone.rs only $plain bytes; with phonenumber $with bytes; delta $((with - plain)) bytes"
"$CARGO_TARGET_DIR/release/phonenumber-eval" "$root/tests/fixtures/dlp/eval/dev.jsonl" "$root/tests/fixtures/dlp/eval/test.jsonl"
