#!/usr/bin/env bash
# WebSocket load on loopback (issue 3): for each size (1,000 and 10,000 by default) a fresh
# server, that many conversations each with one authenticated WebSocket, then user messages
# at a fixed total rate answered by an instant fake provider that stamps every chunk with
# the time it left (CLOCK_MONOTONIC), so the client sees what the server adds to a chunk's
# way. Memory figures are growth of the server's RSS divided by the count.
#
#   benchmarks/run-ws.sh [build-dir] [rate-per-second] [seconds] [sizes...]
set -euo pipefail
build=${1:-build}
rate=${2:-1000}
seconds=${3:-10}
shift $(($# < 3 ? $# : 3))
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/chatagent"
fake_bin="$root/$build/benchmarks/fake_provider"
load_bin="$root/$build/benchmarks/ws_load"
for b in "$bin" "$fake_bin" "$load_bin"; do
  [ -x "$b" ] || { echo "no $b: run 'make build' (with benchmarks) first" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$fake_bin" > "$work/fake.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening "$work/fake.log" 2>/dev/null && break; sleep 0.05; done
fport=$(awk '/listening on/ {print $3}' "$work/fake.log")

echo "$(nproc) cores; $rate messages/s for ${seconds}s; 16 chunks per answer"
for n in "${sizes[@]}"; do
  rm -rf "$work/data"
  CHATAGENT_RATE_LIMIT_USER=100000000 CHATAGENT_MAX_CONNECTIONS=$((n + 1000)) \
    "$bin" serve --port 0 --data-dir "$work/data" > "$work/server.log" 2>&1 &
  spid=$!
  pids+=("$spid")
  for _ in $(seq 1 300); do grep -q "listening on" "$work/server.log" 2>/dev/null && break; sleep 0.05; done
  port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] || { echo "chatagent did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
  api="http://127.0.0.1:$port/api/v1"
  token=$(curl -s -X POST "$api/auth/register" -H 'Content-Type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"benchmark-password"}' |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  [ -n "$token" ] || { echo "registration failed" >&2; exit 1; }
  bot=$(curl -s -X POST "$api/bots/" -H "Authorization: Bearer $token" \
    -d "{\"name\":\"bench\",\"llm_config\":{\"provider\":\"openai_compatible\",\"base_url\":\"http://127.0.0.1:$fport/v1\",\"model\":\"stamp\"}}" |
    sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
  echo
  echo "| $n conversations | |"
  echo "|---|---|"
  status=0
  "$load_bin" "$port" "$token" "$bot" "$spid" "$n" "$rate" "$seconds" || status=$?
  kill "$spid"
  wait "$spid" 2>/dev/null || true
  if [ "$status" != 0 ]; then
    echo "the run with $n conversations failed; server log:" >&2
    tail -20 "$work/server.log" >&2
    exit 1
  fi
done
