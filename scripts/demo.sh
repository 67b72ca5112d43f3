#!/usr/bin/env bash
# Shows mode 1 locking up and its fix on the embedded SQLite default, with curl.
# usage: scripts/demo.sh PATH/TO/target-app
set -euo pipefail
app=${1:?usage: scripts/demo.sh PATH/TO/target-app}
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT

start() { # flags...
  "$app" "$@" >"$out/stdout" 2>"$out/stderr" &
  for _ in $(seq 100); do grep -q listening "$out/stdout" 2>/dev/null && break; sleep 0.1; done
  base=$(sed 's/listening on //' "$out/stdout")
}
flood() { # path: 32 concurrent requests, each given 6 s
  rm -f "$out/codes"
  for _ in $(seq 32); do curl -s -m 6 -o /dev/null -w '%{http_code}\n' "$base$1" >>"$out/codes" & done
}
gauges() {
  curl -s "$base/debug/pool" | tr -d '\n ' |
    sed -E 's/.*"pool":\{"max":([0-9]+),"min":[0-9]+,"open":[0-9]+,"idle":[0-9]+,"in_use":([0-9]+),"waiting":([0-9]+).*"blocking":\{"threads":([0-9]+),"busy":([0-9]+),"queued":([0-9]+)\}.*"pending":([0-9]+).*/pool in use \2\/\1, waiting \3 | blocking busy \5\/\4, queued \6 | teardowns pending \7/'
}

echo "== mode 1: sync handler, teardown on the same pool (threads 8, pool 4, 32 clients)"
start --threads 8 --pool-max 4 --acquire-timeout none --teardown shared
flood /mode1/dependency
for t in 1 2 3 4; do sleep 1; echo "  t=${t}s  $(gauges)"; done
wait $(jobs -p | tail -n +2) 2>/dev/null || true
echo "  answers: $(sort "$out/codes" | uniq -c | tr '\n' ' ')(000 = no answer in 6 s)"
kill %1; wait 2>/dev/null || true

echo "== the fix: session per operation (same threads, pool and load)"
start --threads 8 --pool-max 4 --acquire-timeout none --teardown shared
flood "/mode1/per-operation?hold_ms=200"
wait $(jobs -p | tail -n +2) 2>/dev/null || true
echo "  answers: $(sort "$out/codes" | uniq -c | tr '\n' ' ')"
echo "  $(gauges)"
