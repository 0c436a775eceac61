#!/usr/bin/env bash
# Ingestion throughput over HTTP (issue 4): one generated document of about CHUNKS chunks
# (600 characters each) uploaded to a base with the built-in local embedder; the time from
# the upload's request to the document's `ready` (text read, chunked, embedded, stored
# durably in RocksDB, indexed) gives chunks/s.
#
#   benchmarks/run-ingest.sh [build-dir] [chunks]
set -euo pipefail
build=${1:-build}
chunks=${2:-20000}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/chatagent"
gen="$root/$build/benchmarks/knowledge_bench"
for b in "$bin" "$gen"; do
  [ -x "$b" ] || { echo "no $b: run 'make build' (with benchmarks) first" >&2; exit 1; }
done
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$gen" --text "$chunks" > "$work/doc.txt"
CHATAGENT_RATE_LIMIT_USER=100000000 CHATAGENT_MAX_UPLOAD_BYTES=$((256 << 20)) \
  "$bin" serve --port 0 --data-dir "$work/data" > "$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do grep -q "listening on" "$work/server.log" 2>/dev/null && break; sleep 0.05; done
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/server.log" | grep -o '[0-9]*$')
api="http://127.0.0.1:$port/api/v1"
token=$(curl -s -X POST "$api/auth/register" -H 'Content-Type: application/json' \
  -d '{"username":"bench","email":"bench@example.com","password":"benchmark-password"}' |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
kb=$(curl -s -X POST "$api/knowledge/bases" -H "Authorization: Bearer $token" \
  -d '{"name":"bench","chunk_size":600,"chunk_overlap":60}' | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
start=$(date +%s.%N)
doc=$(curl -s -X POST "$api/knowledge/bases/$kb/documents" -H "Authorization: Bearer $token" \
  -F "file=@$work/doc.txt" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
[ -n "$doc" ] || { echo "upload failed" >&2; exit 1; }
answered=$(date +%s.%N)
while :; do
  d=$(curl -s "$api/knowledge/bases/$kb/documents/$doc" -H "Authorization: Bearer $token")
  case "$d" in
    *'"status":"ready"'*) break ;;
    *'"status":"failed"'*) echo "ingestion failed: $d" >&2; exit 1 ;;
  esac
  sleep 0.05
done
done_at=$(date +%s.%N)
n=$(printf '%s' "$d" | grep -o '"chunk_count":[0-9]*' | grep -o '[0-9]*$')
size=$(stat -c %s "$work/doc.txt")
awk -v n="$n" -v s="$start" -v a="$answered" -v e="$done_at" -v b="$size" 'BEGIN {
  printf "%d chunks (%.1f MB): upload answered in %.2f s, ready after %.2f s: %.0f chunks/s\n",
         n, b / 1e6, a - s, e - s, n / (e - s) }'
