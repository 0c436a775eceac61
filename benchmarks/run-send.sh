#!/usr/bin/env bash
# Load run on loopback for sending messages (issue 3): POST /conversations/{id}/messages on
# chatagent, whose bot talks to an instant fake OpenAI-compatible provider, next to nginx
# reverse-proxying a POST to the same fake provider (one request in, one call out), in the
# same run. Each round measures both at 64 and at 256 connections; the script reports the
# medians over the rounds.
#
#   benchmarks/run-send.sh [build-dir] [duration-seconds] [rounds]
#
# To look inside instead of comparing (after the warm-up, one chatagent run at 64
# connections, no nginx):
#   THREADS=1 benchmarks/run-send.sh ...   CPU time and context switches per message, by
#                                          server thread
#   PERF_OUT=file [PERF_ARGS="--call-graph dwarf"] benchmarks/run-send.sh ...
#                                          perf record of the server (default: -g)
#
# chatagent's side does the whole job: the user message is stored durably (WAL synced,
# group commit), the provider's SSE stream is read, the answer is stored durably, then the
# response is sent. Needs wrk and nginx (scripts/install-deps.sh installs both).
set -euo pipefail
build=${1:-build}
duration=${2:-10}
rounds=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benchmarks/nginx.sh
. "$root/benchmarks/nginx.sh"
bin="$root/$build/chatagent"
fake_bin="$root/$build/benchmarks/fake_provider"
for b in "$bin" "$fake_bin"; do
  [ -x "$b" ] || { echo "no $b: run 'make build' (with benchmarks) first" >&2; exit 1; }
done
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  echo "wrk and nginx needed" >&2
  exit 1
fi

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
fake_pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/fake.log" 2>/dev/null && break; sleep 0.05; done
fport=$(awk '/listening on/ {print $3}' "$work/fake.log")

# The token lasts as long as the longest run can (an hour by default: a longer run then
# measured 401s).
CHATAGENT_RATE_LIMIT_USER=100000000 CHATAGENT_RATE_LIMIT_ANONYMOUS=100000000 \
  CHATAGENT_JWT_TTL_SECONDS=$((30 * 86400)) "$bin" serve --port 0 --data-dir "$work/data" > "$work/server.log" 2>&1 &
pids+=($!)
server_pid=$!
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
conversations=256
{
  echo "local paths = {"
  for _ in $(seq 1 "$conversations"); do
    c=$(curl -s -X POST "$api/conversations/" -H "Authorization: Bearer $token" \
      -d "{\"bot_id\":\"$bot\"}" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
    echo "  \"/api/v1/conversations/$c/messages\","
  done
  echo "}"
  cat <<LUA
local i = 0
local headers = {["Authorization"] = "Bearer $token", ["Content-Type"] = "application/json"}
-- Each path's request is formatted once (after wrk.init has set the Host header), so
-- that the load generator's work per request stays as small as with nginx's static one.
local requests = nil
request = function()
  if not requests then
    requests = {}
    for k, path in ipairs(paths) do
      requests[k] = wrk.format("POST", path, headers, '{"content":"hello there"}')
    end
  end
  i = i + 1
  return requests[(i % #requests) + 1]
end
LUA
} > "$work/send.lua"
# The body nginx forwards is the prompt chatagent sends the provider once a conversation
# has its 100 recent messages (50 questions, 50 echoed answers): the provider does the
# same work for both servers, which share the two cores with it.
{
  printf '%s' '{"model":"bench","messages":['
  for _ in $(seq 1 50); do
    printf '%s' '{"role":"user","content":"hello there"},{"role":"assistant","content":"Echo: hello there"},'
  done
  printf '%s' '{"role":"user","content":"hello there"}],"temperature":0.7,"max_tokens":2000,"stream":true}'
} > "$work/prompt.json"
cat > "$work/proxy.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$(cat "$work/prompt.json")'
LUA

# nginx: the same provider call behind a reverse proxy.
mkdir -p "$work/nginx"
chmod 755 "$work"
proxy_conf() { # port
  cat <<CONF
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
    listen 127.0.0.1:$1;
    location / {
      proxy_pass http://provider;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
}
start_nginx "$work/nginx" proxy_conf -X POST "http://127.0.0.1:PORT/v1/chat/completions" \
  -d '{"model":"m"}' || exit 1
pids+=("$nginx_pid")

# CPU time (user + system, clock ticks) of processes and their children threads.
ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s}'; }
hz=$(getconf CLK_TCK)
# The whole machine's idle share (idle + iowait) between two readings of /proc/stat: a run
# with idle cores is bound by waits (WAL syncs, hand-offs), not by CPU.
cpu_times() { awk '/^cpu / {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6}' /proc/stat; }
idle_share() { # before after
  awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " ");
    printf "%.0f%%", 100 * (y[2] - x[2]) / (y[1] - x[1])}'
}

run() { # name conns url script pids...
  local out rps p50 p99 errors n before after fbefore fafter
  local name=$1 conns=$2 url=$3 script=$4
  shift 4
  before=$(ticks "$@")
  fbefore=$(ticks "$fake_pid")
  m0=$(cpu_times)
  out=$( { TIMEFORMAT='%3U %3S'; time wrk -t1 -c"$conns" -d"${duration}s" --latency -s "$script" "$url"; } 2>"$work/wrk.time")
  m1=$(cpu_times)
  after=$(ticks "$@")
  fafter=$(ticks "$fake_pid")
  n=$(printf '%s\n' "$out" | awk '/requests in/ {print $1}')
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(printf '%s\n' "$out" | awk '$1=="50%" {print $2}')
  p99=$(printf '%s\n' "$out" | awk '$1=="99%" {print $2}')
  errors=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $NF}')
  local cpu fcpu wcpu
  cpu=$(awk -v a="$before" -v b="$after" -v n="$n" -v hz="$hz" 'BEGIN {printf "%.0f", (b - a) * 1e6 / hz / n}')
  fcpu=$(awk -v a="$fbefore" -v b="$fafter" -v n="$n" -v hz="$hz" 'BEGIN {printf "%.0f", (b - a) * 1e6 / hz / n}')
  wcpu=$(tail -n 1 "$work/wrk.time" | awk -v n="$n" '{printf "%.0f", ($1 + $2) * 1e6 / n}')
  echo "| $round | $name | $conns | $rps | $p50 | $p99 | $cpu | $fcpu | $wcpu | $(idle_share "$m0" "$m1") | ${errors:-0} |"
  if [ -n "$errors" ] && [ "$errors" != "0" ]; then
    echo "$name answered $errors non-2xx responses: the run is invalid" >&2
    exit 1
  fi
  echo "$rps" >> "$work/$name-$conns.rps"
  echo "$cpu" >> "$work/$name-$conns.cpu"
}
median() { sort -g "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Warm up both; chatagent until every conversation has its 100 recent messages (50 sends
# each), so that every measured prompt is the full one. `wrk.thread:stop()` ends the
# sending, but wrk itself only exits when its duration is over: short runs, each going on
# from where the last stopped, until the sends are done (a few more, answered after a run
# closed its connections, do no harm: the prompt holds the 100 most recent messages).
{
  cat "$work/send.lua"
  cat <<'LUA'
local answered, wanted = 0, 0
init = function(args)
  i = tonumber(args[1])
  wanted = tonumber(args[2])
end
response = function(status, headers, body)
  answered = answered + 1
  if answered >= wanted then wrk.thread:stop() end
end
LUA
} > "$work/warm.lua"
warm_sends=$((50 * conversations))
sent=0
while [ "$sent" -lt "$warm_sends" ]; do
  n=$(wrk -t1 -c8 -d3s -s "$work/warm.lua" "http://127.0.0.1:$port" -- "$sent" \
    "$((warm_sends - sent))" | awk '/requests in/ {print $1}')
  [ "${n:-0}" -gt 0 ] || { echo "the warm-up got no answers" >&2; exit 1; }
  sent=$((sent + n))
done
wrk -t1 -c8 -d2s -s "$work/proxy.lua" "http://127.0.0.1:$nport/v1/chat/completions" >/dev/null
if [ -n "${PERF_OUT:-}" ]; then
  # A failed recording must not leave an older file to be read as this run's.
  rm -f "$PERF_OUT"
  # shellcheck disable=SC2086
  perf record ${PERF_ARGS:--g} -p "$server_pid" -o "$PERF_OUT" -- sleep "$duration" \
    2>"$work/perf.log" &
  perf_pid=$!
  wrk -t1 -c64 -d"${duration}s" --latency -s "$work/send.lua" "http://127.0.0.1:$port" |
    grep -E "Requests/sec|99%"
  wait "$perf_pid" || { echo "perf record failed:" >&2; cat "$work/perf.log" >&2; exit 1; }
  [ -s "$PERF_OUT" ] || { echo "perf record wrote nothing:" >&2; cat "$work/perf.log" >&2; exit 1; }
  exit 0
fi
if [ -n "${THREADS:-}" ]; then
  # Per thread name: context switches (voluntary + not) and CPU ticks (user + system).
  threads() {
    for t in /proc/"$server_pid"/task/*; do
      printf '%s %s %s\n' "$(tr ' ' _ < "$t/comm")" \
        "$(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status")" \
        "$(awk '{print $14 + $15}' "$t/stat")"
    done | awk '{c[$1] += $2; u[$1] += $3} END {for (k in c) print k, c[k], u[k]}' | sort
  }
  threads > "$work/threads0"
  m0=$(cpu_times)
  out=$(wrk -t1 -c64 -d"${duration}s" --latency -s "$work/send.lua" "http://127.0.0.1:$port")
  m1=$(cpu_times)
  threads > "$work/threads1"
  n=$(printf '%s\n' "$out" | awk '/requests in/ {print $1}')
  printf '%s\n' "$out" | grep -E "Requests/sec|99%"
  echo "machine idle during the run: $(idle_share "$m0" "$m1")"
  join "$work/threads0" "$work/threads1" | awk -v n="$n" -v hz="$hz" \
    '{printf "%-18s context switches/message %.2f, CPU/message %.1f µs\n", $1, ($4 - $2) / n, ($5 - $3) * 1e6 / hz / n}'
  exit 0
fi
echo "wrk -t1 -d${duration}s, $rounds rounds, $(nproc) cores"
echo
echo "(CPU: the server's user + system time per request, in µs; the provider's and the"
echo " load generator's (wrk) alike;"
echo " machine idle: the share of both cores idle or waiting for the disk during the run)"
echo
echo "| round | server | connections | req/s | p50 | p99 | server CPU/req | provider CPU/req | wrk CPU/req | machine idle | non-2xx |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
nginx_pids="$nginx_pid $(pgrep -P "$nginx_pid" | tr "\n" " ")"
for round in $(seq 1 "$rounds"); do
  for c in 64 256; do
    run chatagent "$c" "http://127.0.0.1:$port" "$work/send.lua" "$server_pid"
    # shellcheck disable=SC2086
    run nginx-proxy "$c" "http://127.0.0.1:$nport/v1/chat/completions" "$work/proxy.lua" $nginx_pids
  done
done
echo
for c in 64 256; do
  a=$(median "$work/chatagent-$c.rps")
  b=$(median "$work/nginx-proxy-$c.rps")
  echo "$c connections: median req/s chatagent $a, nginx proxy $b, ratio $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.0f", 100*a/b}')%;" \
    "median CPU per request chatagent $(median "$work/chatagent-$c.cpu") µs, nginx $(median "$work/nginx-proxy-$c.cpu") µs"
done
stored=$(curl -s "$api/conversations/?limit=1" -H "Authorization: Bearer $token" | grep -o '"message_count":[0-9]*' | head -1)
echo "(a conversation afterwards: $stored)"
# The server's memory: now, and its peak over the run (memtables, caches, live actors).
awk '/^VmRSS|^VmHWM/ {printf "%s %.0f MiB  ", $1, $2 / 1024} END {print ""}' /proc/"$server_pid"/status
