#!/usr/bin/env bash
# What counting metrics costs on the hot path: the small JSON GET through drawbridge as built (metrics
# on) and through a build with every metric update compiled out (-DDRAWBRIDGE_METRICS=OFF, in
# build-nometrics/), run in turn A B A B ... on the same upstream. Reports medians and the ratio; the goal
# is a cost within 3%. Not part of scripts/bench (it needs a second build).
#
#   bench/metrics_cost.sh          DURATION=8s ROUNDS=5 CONNECTIONS=64 by default
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-8s}
connections=${CONNECTIONS:-64}
rounds=${ROUNDS:-5}

source bench/common.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j2 drawbridge >/dev/null
cmake -S . -B build-nometrics -G Ninja -DCMAKE_BUILD_TYPE=Release -DDRAWBRIDGE_METRICS=OFF -DDRAWBRIDGE_TESTS=OFF >/dev/null
ninja -C build-nometrics -j2 drawbridge >/dev/null

write_configs
taskset -c "$load_core" nginx -c "$work/upstream.conf" -p "$work" 2>"$work/upstream.err" & pids+=($!)
wait_up http / upstream

echo "small JSON GET, metrics on and compiled out, ${connections} keep-alive connections, ${duration} x ${rounds} rounds; drawbridge on core ${proxy_core}"
declare -A runs=()
for round in $(seq "$rounds"); do
  for variant in build build-nometrics; do
    taskset -c "$proxy_core" "$variant/drawbridge" serve --config "$work/drawbridge.json" 2>"$work/drawbridge.err" &
    pid=$!
    wait_up http / drawbridge
    read -r rps p99 errors < <(run_wrk "http://127.0.0.1:$drawbridge_port/api/v1/health")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    runs[$variant]="${runs[$variant]:-} $rps"
    printf '  round %d %-16s %10s req/s   p99 %-8s %s\n' "$round" "$variant" "$rps" "$p99" "$errors"
  done
done
on=$(median ${runs[build]}); off=$(median ${runs[build-nometrics]})
printf '  medians: metrics on %s  compiled out %s\n' "$on" "$off"
awk -v on="$on" -v off="$off" 'BEGIN { printf "  metrics on / compiled out = %.3f (cost %.1f%%)\n\n", on / off, 100 * (1 - on / off) }'
