# What the side-by-side scripts (compare.sh, tls.sh) share. Sourced, not run; expects `connections`,
# `duration` and `load_core` to be set, and sets `work`, `pids` and the ports of the four processes.

work=$(mktemp -d /tmp/drawbridge-bench.XXXXXX)
chmod 755 "$work"  # the upstream nginx's worker (user nobody) serves a file from it
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Free ports from the kernel, held only for the moment it takes to read them.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
upstream_port=$(free_port); drawbridge_port=$(free_port); nginx_port=$(free_port); haproxy_port=$(free_port)

# The neutral upstream every proxy forwards to: nginx answering a small fixed JSON body, and at /big.json
# about 32 KB of JSON shaped like an API listing (for the gzip scenario; never compressed by the upstream).
python3 - "$work/big.json" <<'PY'
import json, sys
rows, i = [], 0
while len(json.dumps({"responseMeta": {"status": 200, "success": True}, "data": rows})) < 32 * 1024:
    rows.append({"id": f"64f{i:021x}", "name": f"Page {i}", "slug": f"page-{i}", "isDefault": i == 0,
                 "layouts": [{"id": f"lay{i:08d}", "dsl": {"widgetName": "MainContainer", "version": 89}}],
                 "userPermissions": ["read:pages", "manage:pages"], "lastUpdatedAt": 1700000000 + i * 37})
    i += 1
open(sys.argv[1], "w").write(json.dumps({"responseMeta": {"status": 200, "success": True}, "data": rows}))
PY
body='{"responseMeta":{"status":200,"success":true},"data":"All systems are up"}'
cat >"$work/upstream.conf" <<CONF
worker_processes 1; daemon off; pid $work/upstream.pid; error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:$upstream_port reuseport;
    location = /big.json { default_type application/json; alias $work/big.json; }
    location / { default_type application/json; return 200 '$body'; } }
}
CONF

# run_wrk URL [more wrk arguments] → "requests/s p99 errors"
run_wrk() {
  local url=$1; shift
  taskset -c "$load_core" wrk -t1 -c"$connections" -d"$duration" --latency "$@" "$url" >"$work/wrk.out" 2>&1 || true
  local rps p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/wrk.out" | tr '\n' ' ')
  echo "${rps:-0} ${p99:--} ${errors:-}"
}
