# shellcheck shell=bash
# Sourced by the load scripts: starts the nginx they compare chatagent with.
#
#   start_nginx DIR WRITE_CONF CURL_ARGS...
#
# Picks a port below the kernel's ephemeral range (32768 and up), where no client's own
# port (wrk's, curl's, the server's connections to a provider) can hold it. `WRITE_CONF
# PORT` prints the configuration, which goes to DIR/nginx.conf (DIR is nginx's prefix).
# nginx serves once `curl -sf CURL_ARGS...` succeeds, with PORT in them replaced by the
# port. A start that fails is reported and tried again on another port. Sets `nginx_pid`
# and `nport`; returns 1 when nginx could not be started.
start_nginx() {
  local dir=$1 write_conf=$2
  shift 2
  local attempt
  nginx_pid=""
  for attempt in $(seq 1 10); do
    nport=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && continue # taken
    "$write_conf" "$nport" > "$dir/nginx.conf"
    nginx -c "$dir/nginx.conf" -p "$dir" > "$dir/out.log" 2>&1 &
    nginx_pid=$!
    for _ in $(seq 1 100); do
      curl -sf "${@//PORT/$nport}" >/dev/null && return 0
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.05
    done
    echo "nginx did not start on port $nport (attempt $attempt):" >&2
    cat "$dir/out.log" "$dir/error.log" >&2 2>/dev/null || true
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=""
  done
  echo "nginx could not be started" >&2
  return 1
}
