#!/usr/bin/env bash
# Persistence benchmark: durable score writes/s through HTTP with group commit
# versus one transaction per write, and GET /api/leaderboard throughput.
# Needs wrk and a release build (cargo build --release -p roomcore). Targets
# 127.0.0.1 only. Usage: storage/bench/run.sh [duration_secs] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-10}
CONNS=${2:-64}
BIN=${BIN:-target/release/roomcore}
PORT=${PORT:-18181}
LUA=storage/bench/post_scores.lua
WORK=$(mktemp -d /tmp/roomcore-persist-bench.XXXXXX)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

start() { # $1 = label, rest = env assignments
  local label=$1; shift
  rm -rf "$WORK/data"
  env "$@" LOG_LEVEL=warn "$BIN" --listen "127.0.0.1:$PORT" --shards 2 --data-dir "$WORK/data" >/dev/null &
  PID=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.05; done
  : > "$WORK/tokens"
  for _ in $(seq 64); do
    { curl -sf -X POST "127.0.0.1:$PORT/api/auth/guest"; echo; } \
      | sed -E 's/.*"token":"([^"]+)".*/\1/' >> "$WORK/tokens"
  done
  echo "== $label"
}

stop() {
  { curl -s "127.0.0.1:$PORT/health"; echo; } | sed -E 's/.*"storage":(\{[^}]*\}).*/storage: \1/'
  kill "$PID"; wait "$PID" 2>/dev/null || true
}

for sync in full normal; do
  for batch in 512 1; do
    start "POST /api/scores synchronous=$sync batch_max=$batch" \
      STORAGE_SYNCHRONOUS=$sync STORAGE_BATCH_MAX=$batch
    wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "$LUA" "http://127.0.0.1:$PORT" -- "$WORK/tokens" \
      | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors"
    stop
  done
done

start "GET /api/leaderboard (board of 100, limit=10)" STORAGE_SYNCHRONOUS=normal
wrk -t2 -c"$CONNS" -d3s -s "$LUA" "http://127.0.0.1:$PORT" -- "$WORK/tokens" >/dev/null
wrk -t2 -c"$CONNS" -d"${DUR}s" --latency "http://127.0.0.1:$PORT/api/leaderboard?game=bench&limit=10" \
  | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors"
stop
