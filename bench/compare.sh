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

write_configs
start_processes
wait_up http / upstream nginx haproxy drawbridge

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
