#!/usr/bin/env bash
# Side-by-side benchmark: drawbridge, nginx and HAProxy as reverse proxies in front of the same neutral
# upstream (an nginx answering a small JSON body), in one run, reported as ratios.
#
# Layout on a 2-core machine (as in DESIGN.md): the proxy under test pinned to core 0 with one worker;
# wrk and the upstream on core 1. 64 keep-alive connections. Each proxy keeps a keep-alive pool to the
# upstream and has its access log off.
#
#   bench/compare.sh                  DURATION=10s CONNECTIONS=64 by default
#   DURATION=30s bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
connections=${CONNECTIONS:-64}
rounds=${ROUNDS:-1}
proxy_core=${PROXY_CORE:-0}
load_core=${LOAD_CORE:-1}

scripts/install-deps --bench
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j2 drawbridge >/dev/null

source bench/common.sh

cat >"$work/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $work/nginx.pid; error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  upstream up { server 127.0.0.1:$upstream_port; keepalive 64; keepalive_requests 10000000; }
  server { listen 127.0.0.1:$nginx_port;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } }
}
CONF

cat >"$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 30s
  timeout client 300s
  timeout server 300s
  option forwardfor
  http-reuse always
frontend fe
  bind 127.0.0.1:$haproxy_port
  default_backend be
backend be
  server s1 127.0.0.1:$upstream_port
CONF

cat >"$work/drawbridge.json" <<CONF
{"workers": 1, "listeners": [{"address": "127.0.0.1:$drawbridge_port"}],
 "upstreams": [{"name": "up", "keepalive": {"max_idle_per_node": 64, "max_requests": 10000000},
                "nodes": [{"name": "n1", "address": "127.0.0.1:$upstream_port"}]}],
 "access_log": {"path": "off"}, "log_level": "warn"}
CONF

taskset -c "$load_core" nginx -c "$work/upstream.conf" -p "$work" 2>"$work/upstream.err" & pids+=($!)
taskset -c "$proxy_core" nginx -c "$work/nginx.conf" -p "$work" 2>"$work/nginx.err" & pids+=($!)
taskset -c "$proxy_core" haproxy -f "$work/haproxy.cfg" -db 2>"$work/haproxy.err" & pids+=($!)
taskset -c "$proxy_core" build/drawbridge serve --config "$work/drawbridge.json" 2>"$work/drawbridge.err" & pids+=($!)

for name in upstream nginx haproxy drawbridge; do
  port_var="${name}_port"
  up=0
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:${!port_var}/" && { up=1; break; }; sleep 0.1; done
  if [[ $up == 0 ]]; then echo "bench: $name did not start:" >&2; cat "$work/$name.err" >&2; exit 1; fi
done

echo "small JSON GET, ${connections} keep-alive connections, ${duration} per run, ${rounds} round(s); proxies on core ${proxy_core}"
declare -A best
for round in $(seq "$rounds"); do
  for name in drawbridge haproxy nginx; do
    case $name in
      drawbridge) port=$drawbridge_port ;; haproxy) port=$haproxy_port ;; nginx) port=$nginx_port ;;
    esac
    read -r rps p99 errors < <(run_wrk "http://127.0.0.1:$port/api/v1/health")
    printf '  round %d %-10s %10s req/s   p99 %-8s %s\n' "$round" "$name" "$rps" "$p99" "$errors"
    if [[ -z "${best[$name]:-}" ]] || awk "BEGIN{exit !($rps > ${best[$name]})}"; then best[$name]=$rps; fi
  done
done
echo
printf '%-12s %12s\n' proxy "best req/s"
for name in drawbridge haproxy nginx; do printf '%-12s %12s\n' "$name" "${best[$name]}"; done
awk -v d="${best[drawbridge]}" -v h="${best[haproxy]}" -v n="${best[nginx]}" \
  'BEGIN { printf "\ndrawbridge / haproxy = %.2f   drawbridge / nginx = %.2f\n", d / h, d / n }'

# Idle keep-alive connections: resident memory per connection in the process that holds them.
idle=${IDLE_CONNECTIONS:-2000}
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
echo
echo "idle keep-alive connection memory (${idle} connections, bytes each):"
printf '  %-10s %8s\n' drawbridge "$(python3 bench/idle_memory.py "$drawbridge_port" "${pids[3]}" "$idle")"
printf '  %-10s %8s\n' haproxy "$(python3 bench/idle_memory.py "$haproxy_port" "${pids[2]}" "$idle")"
printf '  %-10s %8s\n' nginx "$(python3 bench/idle_memory.py "$nginx_port" "$nginx_worker" "$idle")"
