#!/usr/bin/env bash
# Fuzzes the parsers of untrusted input for SECONDS seconds per target (default 60):
#   api_responses  every API model, both paginators' page interpreter, error bodies, header values
#   ndjson         the gzip NDJSON reader (and the writer, by round trip)
#   dlp_scanner    the DLP scanner (messages and chunked attachments): spans on char boundaries
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]        e.g. bash scripts/fuzz.sh 600 dlp_scanner
#   (SECONDS 0: build the targets only)
#
# Only the stable toolchain is needed: cargo-fuzz (installed from crates.io into the fuzz target dir
# if missing) builds with `-s none`: no sanitizer, and then cargo-fuzz passes no `-Z` flag at all
# (only stable `-C` coverage flags), so neither nightly nor RUSTC_BOOTSTRAP is needed. (A sanitizer
# build would: `RUSTC_BOOTSTRAP=1 cargo fuzz build -s address` on a stable rustc.) Corpora start from the
# seeds in fuzz/seeds/ (fake API responses; regenerate with scripts/fuzz-seeds.sh) and grow in
# fuzz/corpus/ (git-ignored). A crash or a hang (>10 s on one input) fails the run and leaves the
# input in fuzz/artifacts/<target>/. Prints one line per target: execs, exec/s, corpus, crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(api_responses ndjson dlp_scanner)
FUZZ_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/compliance-lake/fuzz-target}
# FUZZ_PROFILE=dev (the test command's smoke run): `cargo fuzz build --dev`, unoptimised. A release
# fuzz build compiles every dependency with `-C codegen-units=1` (cargo-fuzz forces it for ThinLTO):
# worth it for long runs, not for 5 seconds per target.
PROFILE_FLAGS=()
[ "${FUZZ_PROFILE:-release}" = dev ] && PROFILE_FLAGS=(--dev)
CARGO_FUZZ_VERSION=0.13.1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
unset CARGO_TARGET_DIR

FUZZ_BIN=$FUZZ_TARGET_DIR/tools/bin/cargo-fuzz
if ! "$FUZZ_BIN" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION (crates.io) into $FUZZ_TARGET_DIR/tools"
  cargo install --locked --quiet --root "$FUZZ_TARGET_DIR/tools" --target-dir "$FUZZ_TARGET_DIR/tools-build" \
    cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

cd fuzz
t0=$SECONDS
"$FUZZ_BIN" build -s none "${PROFILE_FLAGS[@]}" --target-dir "$FUZZ_TARGET_DIR"
echo "fuzz targets built in $((SECONDS - t0)) s"
# libFuzzer reads -max_total_time=0 as "no limit": 0 means build only
if ! [ "$SECS" -gt 0 ] 2>/dev/null; then
  echo "fuzz: SECONDS=$SECS, targets built, not run"
  exit 0
fi
status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log=$(mktemp)
  set +e
  "$FUZZ_BIN" run -s none "${PROFILE_FLAGS[@]}" --target-dir "$FUZZ_TARGET_DIR" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  corpus=$(find "corpus/$t" -type f | wc -l)
  echo "fuzz $t: ${SECS}s, ${execs:-?} execs (${rate:-?}/s), corpus $corpus, crashes/hangs $crashes, exit $rc"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    status=1
    tail -n 40 "$log" | sed 's/^/    /'
  fi
  rm -f "$log"
done
exit $status
