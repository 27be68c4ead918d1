#!/usr/bin/env bash
# HTTP API benchmark (not a test): wrk against a daemon on loopback.
#   - GET /api/v1/jobs/{id}: requests per second
#   - POST /api/v1/jobs: latency p50 / p99 (the queue is paused, so this measures the API and
#     the committed insert, not job execution)
# with 64 connections (CONNS) for 10 s each (DURATION).
#
# Usage: bench/api.sh            starts $SURGEOND (default build/release/surgeond; build it with
#                                `make`) on a free loopback port with a temporary data dir and the
#                                demo model, and stops it afterwards
#        bench/api.sh URL        uses a running daemon; set TOKEN if it has --token-file, and
#                                BENCH_SPEC to a job spec valid there (default: a diagnose job of
#                                model "demo"); the queue is paused during the run and resumed after
# Needs: wrk, curl, python3 (Debian packages wrk, curl).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-64}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
BENCH_SPEC=${BENCH_SPEC:-'{"kind": "diagnose", "model": "demo", "texts": ["The quick brown fox jumps over the lazy dog."]}'}
TOKEN=${TOKEN:-}

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ $# -ge 1 ]; then
  url=$1
else
  bin=${SURGEOND:-build/release/surgeond}
  [ -x "$bin" ] || { echo "bench/api.sh: $bin not found (run make)" >&2; exit 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  url="http://127.0.0.1:$port"
  mkdir -p "$work/data" "$work/models" "$work/corpora"
  "$bin" demo-model --out "$work/models/demo" >/dev/null
  "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --model-root "$work/models" \
    --corpus-root "$work/corpora" 2>"$work/daemon.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf "$url/api/v1/healthz" >/dev/null && break; sleep 0.1; done
fi

auth=()
[ -n "$TOKEN" ] && auth=(-H "Authorization: Bearer $TOKEN")
curl -sf -X POST "${auth[@]}" "$url/api/v1/queue/pause" >/dev/null
id=$(curl -sf -X POST "${auth[@]}" -H 'Content-Type: application/json' -d "$BENCH_SPEC" \
       "$url/api/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = [[$BENCH_SPEC]]
wrk.headers["Content-Type"] = "application/json"
LUA
[ -n "$TOKEN" ] && echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\"" >>"$work/post.lua"

echo "== GET /api/v1/jobs/$id  ($CONNS connections, $DURATION)"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$url/api/v1/jobs/$id" | tee "$work/get.txt"
echo
echo "== POST /api/v1/jobs  ($CONNS connections, $DURATION)"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$work/post.lua" "$url/api/v1/jobs" | tee "$work/post.txt"

if [ $# -ge 1 ]; then curl -sf -X POST "${auth[@]}" "$url/api/v1/queue/resume" >/dev/null; fi

get_rps=$(awk '/Requests\/sec/ {print $2}' "$work/get.txt")
post_p50=$(awk '$1 == "50%" {print $2}' "$work/post.txt")
post_p99=$(awk '$1 == "99%" {print $2}' "$work/post.txt")
post_rps=$(awk '/Requests\/sec/ {print $2}' "$work/post.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/post.txt" "$work/get.txt" | paste -sd+ | bc 2>/dev/null || true)
echo
echo "summary: GET /api/v1/jobs/{id} ${get_rps} req/s (target >= 10000);" \
     "POST /api/v1/jobs p50 ${post_p50} p99 ${post_p99} (target p99 <= 10ms), ${post_rps} req/s;" \
     "non-2xx responses: ${non2xx:-0}"
