#!/usr/bin/env bash
# Regenerates the fuzz seed corpora (fuzz/seeds/<target>/) from the fake Compliance API's responses:
# list pages of every endpoint family, detail and error bodies (api_responses), their records as
# NDJSON, plain and gzip (ndjson), and the user texts and project fields of the synthetic tenant
# (dlp_scanner, whose synthetic texts carry planted secrets).
#   bash scripts/fuzz-seeds.sh        (needs the CLI: COMPLIANCE_LAKE_BIN, else cargo run)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=fuzz/seeds
BIN=${COMPLIANCE_LAKE_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --locked --quiet --bin compliance-lake
  BIN="${CARGO_TARGET_DIR:-target}/debug/compliance-lake"
fi
LOG=$(mktemp)
"$BIN" fake-api --port 0 --seed 7 --orgs 2 --users-per-org 3 --activities 40 --rate-limit 0 >"$LOG" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 100); do grep -q "key (synthetic" "$LOG" && break; sleep 0.1; done
BASE=$(sed -n 's/.* on \(http:[^ ]*\)$/\1/p' "$LOG" | head -1)
KEY=$(sed -n 's/.*key (synthetic, not a secret): //p' "$LOG" | head -1)
[ -n "$BASE" ] && [ -n "$KEY" ] || { cat "$LOG"; echo "fake-api did not start" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT/api_responses" "$OUT/ndjson" "$OUT/dlp_scanner"
n=0
get() { # get NAME PATH [KEY]
  curl -s -H "x-api-key: ${3:-$KEY}" -H "anthropic-version: 2023-06-01" "$BASE$2" -o "$OUT/api_responses/$1.json"
  n=$((n + 1))
}
get organizations "/v1/compliance/organizations"
ORG=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"][0]["uuid"])' "$OUT/api_responses/organizations.json")
get users "/v1/compliance/organizations/$ORG/users?limit=3"
get activities "/v1/compliance/activities?limit=6"
get activities_empty "/v1/compliance/activities?limit=5&created_at.gte=2099-01-01T00:00:00Z"
get chats "/v1/compliance/apps/chats?limit=3"
get projects "/v1/compliance/apps/projects?limit=2"
CHAT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"][0]["id"])' "$OUT/api_responses/chats.json")
PROJ=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"][0]["id"])' "$OUT/api_responses/projects.json")
get messages "/v1/compliance/apps/chats/$CHAT/messages?limit=4"
# more message texts for the DLP scanner (the synthetic tenant plants secrets and personal data)
mkdir -p "$OUT/.texts"
curl -s -H "x-api-key: $KEY" "$BASE/v1/compliance/apps/chats?limit=25" -o "$OUT/.texts/chats.json"
for c in $(python3 -c 'import json,sys; print(" ".join(d["id"] for d in json.load(open(sys.argv[1]))["data"]))' "$OUT/.texts/chats.json"); do
  curl -s -H "x-api-key: $KEY" "$BASE/v1/compliance/apps/chats/$c/messages" -o "$OUT/.texts/$c.json"
done
get project "/v1/compliance/apps/projects/$PROJ"
get attachments "/v1/compliance/apps/projects/$PROJ/attachments?limit=3"
get error_401 "/v1/compliance/organizations" "sk-ant-api01-not-a-registered-key-Qw3rTy"
get error_400 "/v1/compliance/activities?created_at%5Bgte%5D=2026-01-01T00:00:00Z"
get error_404 "/v1/compliance/apps/chats/claude_chat_doesnotexist/messages"
python3 - "$OUT" <<'PY'
import gzip, json, os, sys
out = sys.argv[1]
api = os.path.join(out, "api_responses")
texts = []
for name in sorted(os.listdir(api)):
    body = json.load(open(os.path.join(api, name)))
    items = body.get("data") or body.get("chat_messages") or []
    if items:
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in items)
        stem = name[:-5]
        open(os.path.join(out, "ndjson", stem + ".ndjson"), "w").write(lines)
        open(os.path.join(out, "ndjson", stem + ".ndjson.gz"), "wb").write(gzip.compress(lines.encode()))
    for m in body.get("chat_messages") or []:
        for block in m.get("content") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                texts.append(block["text"])
    for k in ("description", "instructions", "prompt_template"):
        if isinstance(body.get(k), str):
            texts.append(body[k])
extra = os.path.join(out, ".texts")
for name in sorted(os.listdir(extra)):
    for m in json.load(open(os.path.join(extra, name))).get("chat_messages") or []:
        for block in m.get("content") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                texts.append(block["text"])
import shutil
shutil.rmtree(extra)
# distinct texts, the longest (most varied) first
texts = sorted(set(texts), key=lambda t: (-len(t), t))
for i, t in enumerate(texts[:40]):
    open(os.path.join(out, "dlp_scanner", f"text-{i:02d}.txt"), "w").write(t)
print(f"seeds: {len(os.listdir(api))} responses, {len(os.listdir(os.path.join(out, 'ndjson')))} ndjson, {len(texts[:40])} texts")
PY
