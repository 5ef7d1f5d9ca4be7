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
rounds=${ROUNDS:-3}

source bench/common.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j2 drawbridge >/dev/null

write_configs
start_processes
wait_up http / upstream nginx haproxy drawbridge

echo "small JSON GET, ${connections} keep-alive connections, ${duration} x ${rounds} rounds (A B C A B C); proxies on core ${proxy_core}"
declare -A runs=()
for round in $(seq "$rounds"); do
  for name in drawbridge haproxy nginx; do
    port_var="${name}_port"
    read -r rps p99 errors < <(run_wrk "http://127.0.0.1:${!port_var}/api/v1/health")
    runs[$name]="${runs[$name]:-} $rps"
    printf '  round %d %-10s %10s req/s   p99 %-8s %s\n' "$round" "$name" "$rps" "$p99" "$errors"
  done
done
print_rounds "${runs[drawbridge]}" "${runs[haproxy]}" "${runs[nginx]}"
record_rounds "small JSON GET, ${connections} keep-alive connections" "requests/s" "req/s" higher \
  "${runs[drawbridge]}" "${runs[haproxy]}" "${runs[nginx]}"

# Idle keep-alive connections: resident memory per connection in the process that holds them.
idle=${IDLE_CONNECTIONS:-3000}
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
echo "idle keep-alive connection memory (${idle} connections, bytes each):"
di=$(python3 bench/idle_memory.py "$drawbridge_port" "${pids[3]}" "$idle")
hi=$(python3 bench/idle_memory.py "$haproxy_port" "${pids[2]}" "$idle")
ni=$(python3 bench/idle_memory.py "$nginx_port" "$nginx_worker" "$idle")
printf '  %-10s %8s\n' drawbridge "$di" haproxy "$hi" nginx "$ni"
record "${idle} idle keep-alive connections" "memory per connection" "bytes" lower "$di" "$hi" "$ni"
