#!/usr/bin/env bash
# Measures the scale fake: build time, RSS, page latencies.
# usage: scripts/scale_fake_measure.sh BIN PORT [fake-api args...]
# e.g.   scripts/scale_fake_measure.sh target/release/compliance-lake 18787 --scale --users 100000 --chats 1000000 --activities 10000000 --projects 50000
BIN=$1; PORT=$2; shift 2
start=$(date +%s.%N)
"$BIN" fake-api --port "$PORT" --rate-limit 0 "$@" > /tmp/fake_$PORT.out 2>&1 &
pid=$!
for i in $(seq 1 600); do
  if grep -q "on http" /tmp/fake_$PORT.out 2>/dev/null; then break; fi
  sleep 0.1
done
ready=$(date +%s.%N)
echo "ready after $(echo "$ready - $start" | bc) s (process start to listening)"
cat /tmp/fake_$PORT.out | head -2
grep -E "VmRSS|VmHWM" /proc/$pid/status
KEY=$(grep "key (synthetic" /tmp/fake_$PORT.out | awk '{print $NF}')
B=http://127.0.0.1:$PORT/v1/compliance
t() { curl -s -o /tmp/body_$PORT -w "%{http_code} %{size_download}B %{time_total}s" -H "x-api-key: $KEY" "$1"; echo "  $2"; }
t "$B/activities?limit=5000&order=asc" "activities page 5000 asc"
LAST=$(python3 -c "import json;print(json.load(open('/tmp/body_$PORT'))['last_id'])")
t "$B/activities?limit=5000&order=asc&after_id=$LAST" "activities page 5000 after cursor"
t "$B/activities?limit=5000" "activities page 5000 desc"
t "$B/apps/chats?limit=1000&order_by=updated_at" "chats page 1000 by updated_at"
CID=$(python3 -c "import json;print(json.load(open('/tmp/body_$PORT'))['data'][0]['id'])")
LASTC=$(python3 -c "import json;print(json.load(open('/tmp/body_$PORT'))['last_id'])")
t "$B/apps/chats?limit=1000&order_by=updated_at&after_id=$LASTC" "chats page 1000 after cursor"
t "$B/apps/chats/$CID/messages?tool_result_max_chars=-1&tool_use_input_max_chars=-1" "messages of one chat"
t "$B/apps/projects?limit=100" "projects page 100"
grep -E "VmRSS|VmHWM" /proc/$pid/status
kill $pid
