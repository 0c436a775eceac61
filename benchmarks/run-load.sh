#!/usr/bin/env bash
# Load run on loopback: GET /api/v1/auth/me on chatagent vs. nginx serving a static JSON
# file of the same size, same wrk settings, same run. Prints a Markdown table.
#
#   benchmarks/run-load.sh [build-dir] [duration-seconds] [connections] [rounds]
#
# Both servers share the machine with wrk and the VM's neighbours, so one run of each says
# little: the script runs `rounds` rounds (default 5), each measuring both servers back to
# back in alternating order, and compares the medians.
#
# Needs wrk and nginx (scripts/install-deps.sh installs both). Sends traffic to 127.0.0.1 only.
set -euo pipefail
build=${1:-build}
duration=${2:-10}
conns=${3:-64}
rounds=${4:-5}
threads=${WRK_THREADS:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benchmarks/nginx.sh
. "$root/benchmarks/nginx.sh"
bin="$root/$build/chatagent"
[ -x "$bin" ] || { echo "no $bin: run 'make build' first" >&2; exit 1; }
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  echo "wrk and nginx needed" >&2
  exit 1
fi

work=$(mktemp -d)
server_pid=""
nginx_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; then
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$nginx_pid" ]; then
    kill "$nginx_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# chatagent, with rate limits out of the way (the limiter still runs on every request).
CHATAGENT_RATE_LIMIT_USER=100000000 CHATAGENT_RATE_LIMIT_ANONYMOUS=100000000 \
  "$bin" serve --port 0 --data-dir "$work/data" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$work/server.log" 2>/dev/null && break
  sleep 0.05
done
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
[ -n "$port" ] || { echo "chatagent did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

reg=$(curl -s -X POST "http://127.0.0.1:$port/api/v1/auth/register" \
  -H 'Content-Type: application/json' \
  -d '{"username":"bench","email":"bench@example.com","password":"benchmark-password"}')
token=$(printf '%s' "$reg" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "registration failed: $reg" >&2; exit 1; }
me=$(curl -s "http://127.0.0.1:$port/api/v1/auth/me" -H "Authorization: Bearer $token")

# nginx: the same JSON body as a static file.
mkdir -p "$work/www" "$work/nginx"
chmod 755 "$work" "$work/www" # nginx workers run as an unprivileged user
printf '%s' "$me" > "$work/www/me.json"
static_conf() { # port
  cat <<CONF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/json;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$1;
    root $work/www;
    location = /api/v1/auth/me { try_files /me.json =404; }
  }
}
CONF
}
start_nginx "$work/nginx" static_conf "http://127.0.0.1:PORT/api/v1/auth/me" || exit 1

run() { # name url round
  local out
  out=$(wrk -t"$threads" -c"$conns" -d"${duration}s" --latency -H "Authorization: Bearer $token" "$2")
  local rps p50 p99 non2xx
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(printf '%s\n' "$out" | awk '$1=="50%" {print $2}')
  p99=$(printf '%s\n' "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $NF}')
  echo "| $3 | $1 | $rps | $p50 | $p99 | ${non2xx:-0} |"
  if [ -n "$non2xx" ] && [ "$non2xx" != "0" ]; then
    echo "$1 answered $non2xx non-2xx responses: the run is invalid" >&2
    exit 1
  fi
  echo "$rps" >> "$work/$1.rps"
}

median() { sort -g "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Warm up both, then measure.
wrk -t1 -c8 -d2s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/auth/me" >/dev/null
wrk -t1 -c8 -d2s "http://127.0.0.1:$nport/api/v1/auth/me" >/dev/null
echo "wrk -t$threads -c$conns -d${duration}s, $rounds rounds, $(nproc) cores, body $(wc -c < "$work/www/me.json") bytes"
echo
echo "| round | server | req/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then
    run chatagent "http://127.0.0.1:$port/api/v1/auth/me" "$round"
    run nginx "http://127.0.0.1:$nport/api/v1/auth/me" "$round"
  else
    run nginx "http://127.0.0.1:$nport/api/v1/auth/me" "$round"
    run chatagent "http://127.0.0.1:$port/api/v1/auth/me" "$round"
  fi
done
a=$(median "$work/chatagent.rps")
b=$(median "$work/nginx.rps")
ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.0f", 100*a/b}')
echo
echo "median req/s: chatagent $a, nginx $b"
echo "chatagent/nginx (medians): ${ratio}%"
