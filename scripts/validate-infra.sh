#!/usr/bin/env bash
# Offline validation of infra/ (SAM template, CDK app, IAM, Athena definitions vs the code's output).
#
#   bash scripts/validate-infra.sh [STORE_DIR]
#
# STORE_DIR: the output of `compliance-lake demo --store STORE_DIR`. Without it, the demo is run into a
# temporary directory with `cargo run --locked --bin compliance-lake` (set COMPLIANCE_LAKE_BIN to use
# an already built binary instead).
#
# Installs what it needs, idempotently, into git-ignored directories: infra/.venv (pip: SAM CLI,
# cfn-lint, duckdb, sqlglot; infra/requirements.txt) and infra/cdk/node_modules (npm ci). Network:
# only PyPI and npm, and only when those are missing or their pins changed. Build outputs go to
# infra/.build/ and infra/cdk/cdk.out/ (git-ignored).
#
# Prints one PASS/FAIL line per check and a closing "infra: N passed, M failed"; exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/infra/.venv
BUILD=$ROOT/infra/.build
CDK=$ROOT/infra/cdk
export SAM_CLI_TELEMETRY=0 CDK_DISABLE_CLI_TELEMETRY=true DO_NOT_TRACK=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/compliance-lake/target}"
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
mkdir -p "$BUILD"
LOG=$BUILD/validate.log
: >"$LOG"
PASSED=0
FAILED=0
T0=$SECONDS
FAILS=()  # each failure's line (with the first lines of its output), repeated at the end

fail() {
  echo "FAIL $1"
  [ -n "${2:-}" ] && printf '%s\n' "$2" | tail -n 40 | sed 's/^/    /'
  # the summary keeps the output's marked lines (✗, error, panicked) and its last lines
  FAILS+=("$1${2:+$'\n'$( { printf '%s\n' "$2" | grep -E '✗|[Ee]rror|panicked' | head -n 12; printf '%s\n' "$2" | tail -n 8; } | sed 's/^/      /')}")
  FAILED=$((FAILED + 1))
}

step() { printf '\n==> %s\n' "$*"; }

# Runs a command whose own output is PASS/FAIL lines (the Python checkers): counts them.
checks() {
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  printf '%s\n' "$out"
  printf '%s\n' "$out" >>"$LOG"
  PASSED=$((PASSED + $(printf '%s\n' "$out" | grep -c '^PASS ')))
  local line
  while IFS= read -r line; do
    FAILS+=("${line#FAIL }")
    FAILED=$((FAILED + 1))
  done < <(printf '%s\n' "$out" | grep '^FAIL ')
  if [ "$rc" -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL '; then
    fail "$*: exited $rc" "$out"
  fi
}

# Runs a tool as one check: PASS if it exits 0, else FAIL with its output.
check() {
  local name=$1 out rc
  shift
  local t=$SECONDS
  out=$("$@" 2>&1)
  rc=$?
  printf '== %s\n%s\n' "$name" "$out" >>"$LOG"
  if [ "$rc" -eq 0 ]; then
    echo "PASS $name ($((SECONDS - t)) s)"
    PASSED=$((PASSED + 1))
  else
    fail "$name: exit $rc" "$out"
  fi
  return "$rc"
}

finish() {
  printf '\nlog: %s (%d s)\n' "${LOG#"$ROOT"/}" "$((SECONDS - T0))"
  # Repeat the failures last: CI shows only the tail of a long output.
  if [ "${#FAILS[@]}" -gt 0 ]; then
    echo "failed checks:"
    printf '  FAIL %s\n' "${FAILS[@]}"
  fi
  echo "infra: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}

# ---------------------------------------------------------------------------------------------
step "tooling (infra/.venv, infra/cdk/node_modules)"
stamp_py=$(cat infra/requirements.txt; python3 --version 2>&1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$stamp_py" ]; then
  rm -rf "$VENV"
  check "install Python tools (pip -r infra/requirements.txt)" \
    bash -c "python3 -m venv '$VENV' && '$VENV/bin/pip' install -q --upgrade pip && '$VENV/bin/pip' install -q -r infra/requirements.txt" \
    && printf '%s' "$stamp_py" >"$VENV/.installed"
else
  echo "Python tools: up to date ($("$VENV/bin/cfn-lint" --version 2>&1), $("$VENV/bin/sam" --version 2>&1))"
fi
stamp_js=$(cat "$CDK/package-lock.json"; node --version 2>&1)
if [ ! -d "$CDK/node_modules" ] || [ "$(cat "$CDK/node_modules/.installed" 2>/dev/null)" != "$stamp_js" ]; then
  check "install CDK (npm ci in infra/cdk)" bash -c "cd '$CDK' && npm ci --no-audit --no-fund --loglevel=error" \
    && printf '%s' "$stamp_js" >"$CDK/node_modules/.installed"
else
  echo "CDK: up to date (aws-cdk $("$CDK/node_modules/.bin/cdk" --version 2>/dev/null | cut -d' ' -f1))"
fi
if [ ! -x "$VENV/bin/python" ] || [ ! -x "$CDK/node_modules/.bin/cdk" ]; then
  fail "tooling: install failed (see above)"
  finish
fi
PY=$VENV/bin/python

# ---------------------------------------------------------------------------------------------
step "SAM template (infra/template.yaml)"
checks "$PY" scripts/athena_check.py gen --check
check "cfn-lint infra/template.yaml" "$VENV/bin/cfn-lint" infra/template.yaml
check "sam validate --lint" "$VENV/bin/sam" validate --lint --template-file infra/template.yaml
checks "$PY" scripts/infra_check.py translate infra/template.yaml "$BUILD/sam-translated.json"
check "cfn-lint on the SAM-translated template" "$VENV/bin/cfn-lint" "$BUILD/sam-translated.json"

# ---------------------------------------------------------------------------------------------
step "CDK app (infra/cdk)"
# Synth-only: real artifacts from target/lambda are used when built, a placeholder otherwise.
rm -rf "$CDK/cdk.out"
check "cdk synth" bash -c "cd '$CDK' && ./node_modules/.bin/cdk synth --no-notices --quiet -c placeholderAssets=true"
CDK_TEMPLATE=$CDK/cdk.out/ComplianceLake.template.json
if [ -f "$CDK_TEMPLATE" ]; then
  check "cfn-lint on the CDK synth output" "$VENV/bin/cfn-lint" "$CDK_TEMPLATE"
  checks "$PY" scripts/infra_check.py parity "$BUILD/sam-translated.json" "$CDK_TEMPLATE"
  TEMPLATES=("$BUILD/sam-translated.json" "$CDK_TEMPLATE")
else
  TEMPLATES=("$BUILD/sam-translated.json")
fi

# ---------------------------------------------------------------------------------------------
step "governance and alert switches on and off (templates resolved per scenario)"
# Each scenario is the stack as deployed with that set of parameters: conditions evaluated, resources
# of false conditions dropped. Linted, then IAM/governance-checked like the full templates.
RESOLVED=()
for sc in off on mixed; do
  for t in "${TEMPLATES[@]}"; do
    kind=$([ "$t" = "$BUILD/sam-translated.json" ] && echo sam || echo cdk)
    checks "$PY" scripts/infra_check.py resolve "$t" "$sc" "$BUILD/$kind-$sc.json"
    [ -f "$BUILD/$kind-$sc.json" ] && RESOLVED+=("$BUILD/$kind-$sc.json")
  done
done
check "cfn-lint on the resolved templates (${#RESOLVED[@]}: SAM and CDK x off/on/mixed)" \
  "$VENV/bin/cfn-lint" "${RESOLVED[@]}"
checks "$PY" scripts/infra_check.py governance "${RESOLVED[@]}"

# ---------------------------------------------------------------------------------------------
step "IAM, environment and metrics vs the Rust code"
checks "$PY" scripts/infra_check.py iam "${TEMPLATES[@]}" "${RESOLVED[@]}"
checks "$PY" scripts/infra_check.py env "${TEMPLATES[@]}"
checks "$PY" scripts/infra_check.py metrics "${TEMPLATES[@]}"

# ---------------------------------------------------------------------------------------------
step "deploy in three commands (Makefile, samconfig.toml)"
check "make -n build (the one build command: arm64 functions + the CLI)" make -n build
checks "$PY" scripts/infra_check.py samconfig samconfig.toml
check "sam validate from the repository root (reads samconfig.toml)" "$VENV/bin/sam" validate

# ---------------------------------------------------------------------------------------------
step "Athena definitions vs the demo output"
STORE=${1:-}
if [ -z "$STORE" ]; then
  STORE=$(mktemp -d "${TMPDIR:-/tmp}/compliance-lake-infra-demo.XXXXXX")
  trap 'rm -rf "$STORE"' EXIT
  if [ -n "${COMPLIANCE_LAKE_BIN:-}" ]; then
    demo=("$COMPLIANCE_LAKE_BIN" demo --no-progress --store "$STORE")
  else
    demo=(cargo run --locked --quiet --bin compliance-lake -- demo --no-progress --store "$STORE")
  fi
  check "demo run (${demo[*]})" "${demo[@]}"
fi
if [ -d "$STORE" ]; then
  checks "$PY" scripts/athena_check.py schema "$STORE"
  checks "$PY" scripts/athena_check.py queries "$STORE"
else
  fail "athena: $STORE is not a directory"
fi

finish
