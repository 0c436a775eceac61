#!/usr/bin/env bash
# Load run on loopback for sending messages (issue 3): POST /conversations/{id}/messages on
# chatagent, whose bot talks to an instant fake OpenAI-compatible provider, next to nginx
# reverse-proxying a POST to the same fake provider (one request in, one call out), in the
# same run. Each round measures both at 64 and at 256 connections; the script reports the
# medians over the rounds.
#
#   benchmarks/run-send.sh [build-dir] [duration-seconds] [rounds]
#
# chatagent's side does the whole job: the user message is stored durably (WAL synced,
# group commit), the provider's SSE stream is read, the answer is stored durably, then the
# response is sent. Needs wrk and nginx (scripts/install-deps.sh installs both).
set -euo pipefail
build=${1:-build}
duration=${2:-10}
rounds=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/chatagent"
fake_bin="$root/$build/benchmarks/fake_provider"
for b in "$bin" "$fake_bin"; do
  [ -x "$b" ] || { echo "no $b: run 'make build' (with benchmarks) first" >&2; exit 1; }
done
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "wrk and nginx needed" >&2; exit 1; }

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

CHATAGENT_RATE_LIMIT_USER=100000000 CHATAGENT_RATE_LIMIT_ANONYMOUS=100000000 \
  "$bin" serve --port 0 --data-dir "$work/data" > "$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do grep -q "listening on" "$work/server.log" 2>/dev/null && break; sleep 0.05; done
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
[ -n "$port" ] || { echo "chatagent did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
api="http://127.0.0.1:$port/api/v1"

token=$(curl -s -X POST "$api/auth/register" -H 'Content-Type: application/json' \
  -d '{"username":"bench","email":"bench@example.com","password":"benchmark-password"}' |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "registration failed" >&2; exit 1; }
bot=$(curl -s -X POST "$api/bots/" -H "Authorization: Bearer $token" \
  -d "{\"name\":\"bench\",\"llm_config\":{\"provider\":\"openai_compatible\",\"base_url\":\"http://127.0.0.1:$fport/v1\",\"model\":\"bench\"}}" |
  sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
# One conversation per connection at most: 256 of them, used round-robin.
{
  echo "local paths = {"
  for _ in $(seq 1 256); do
    c=$(curl -s -X POST "$api/conversations/" -H "Authorization: Bearer $token" \
      -d "{\"bot_id\":\"$bot\"}" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
    echo "  \"/api/v1/conversations/$c/messages\","
  done
  echo "}"
  cat <<LUA
local i = 0
local headers = {["Authorization"] = "Bearer $token", ["Content-Type"] = "application/json"}
request = function()
  i = i + 1
  return wrk.format("POST", paths[(i % #paths) + 1], headers, '{"content":"hello there"}')
end
LUA
} > "$work/send.lua"
cat > "$work/proxy.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"hello there"}],"stream":true}'
LUA

# nginx: the same provider call behind a reverse proxy.
mkdir -p "$work/nginx"
chmod 755 "$work"
nport=$((port + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null; do nport=$((nport + 1)); done
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  upstream provider { server 127.0.0.1:$fport; keepalive 256; }
  server {
    listen 127.0.0.1:$nport;
    location / {
      proxy_pass http://provider;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" > "$work/nginx/out.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf -X POST "http://127.0.0.1:$nport/v1/chat/completions" -d '{"model":"m"}' >/dev/null && break
  sleep 0.05
done

run() { # name conns url script
  local out rps p50 p99 errors
  out=$(wrk -t1 -c"$2" -d"${duration}s" --latency -s "$4" "$3")
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(printf '%s\n' "$out" | awk '$1=="50%" {print $2}')
  p99=$(printf '%s\n' "$out" | awk '$1=="99%" {print $2}')
  errors=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $NF}')
  echo "| $round | $1 | $2 | $rps | $p50 | $p99 | ${errors:-0} |"
  if [ -n "$errors" ] && [ "$errors" != "0" ]; then
    echo "$1 answered $errors non-2xx responses: the run is invalid" >&2
    exit 1
  fi
  echo "$rps" >> "$work/$1-$2.rps"
}
median() { sort -g "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Warm up both.
wrk -t1 -c8 -d2s -s "$work/send.lua" "http://127.0.0.1:$port" >/dev/null
wrk -t1 -c8 -d2s -s "$work/proxy.lua" "http://127.0.0.1:$nport/v1/chat/completions" >/dev/null
echo "wrk -t1 -d${duration}s, $rounds rounds, $(nproc) cores"
echo
echo "| round | server | connections | req/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
  for c in 64 256; do
    run chatagent "$c" "http://127.0.0.1:$port" "$work/send.lua"
    run nginx-proxy "$c" "http://127.0.0.1:$nport/v1/chat/completions" "$work/proxy.lua"
  done
done
echo
for c in 64 256; do
  a=$(median "$work/chatagent-$c.rps")
  b=$(median "$work/nginx-proxy-$c.rps")
  echo "$c connections: median req/s chatagent $a, nginx proxy $b, ratio $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.0f", 100*a/b}')%"
done
stored=$(curl -s "$api/conversations/?limit=1" -H "Authorization: Bearer $token" | grep -o '"message_count":[0-9]*' | head -1)
echo "(a conversation afterwards: $stored)"
