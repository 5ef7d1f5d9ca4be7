#!/usr/bin/env bash
# Latency side by side at a fixed rate below saturation: the small JSON GET through drawbridge, HAProxy
# and nginx, each paced by wrk's delay() hook (every connection waits DELAY_MS between its requests, so the
# rate is about CONNECTIONS x 1000 / DELAY_MS per second whatever the proxy). Reports p50 and p99 (medians
# of ROUNDS rounds run A B C A B C) and the rate each reached. Same layout as compare.sh.
#
#   bench/latency.sh            DURATION=10s CONNECTIONS=32 DELAY_MS=2 ROUNDS=3 by default (about 16,000 req/s)
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
connections=${CONNECTIONS_LATENCY:-32}
# 2 ms with a whole core (16,000 requests/s in all); under QUOTA the pace slows in proportion (4 ms at 50%),
# to stay below what each proxy can do with its share.
delay_ms=${DELAY_MS:-$((${QUOTA:-0} > 0 ? 200 / ${QUOTA:-100} : 2))}
rounds=${ROUNDS:-3}

source bench/common.sh
require_built drawbridge

write_configs
start_processes
wait_up http / upstream nginx haproxy drawbridge
echo "function delay() return $delay_ms end" >"$work/pace.lua"

# wrk's latency percentiles, in microseconds, the load core's busy share and the proxy's throttled share
# (bench/common.sh): "p50 p99 requests/s busy% throttled%".
paced_run() {
  load_core_busy start
  taskset -c "$load_core" wrk -t1 -c"$connections" -d"$duration" --latency -s "$work/pace.lua" "$1" >"$work/wrk.out" 2>&1 || true
  note_load_core
  awk 'function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
       $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) } /^Requests\/sec/ { rps = $2 }
       END { printf "%d %d %.2f ", p50, p99, rps }' "$work/wrk.out"  # 0 for a run wrk could not make
  echo "$last_load_busy $last_throttled"
}

echo "latency at a fixed pace: ${connections} connections, one request per ${delay_ms} ms each, ${duration} x ${rounds} rounds; proxies on core ${proxy_core}"
declare -A p50s=() p99s=() rates=()
for round in $(seq "$rounds"); do
  for name in drawbridge haproxy nginx; do
    port_var="${name}_port"
    read -r p50 p99 rps busy throttled < <(paced_run "http://127.0.0.1:${!port_var}/api/v1/health")
    p50s[$name]="${p50s[$name]:-} $p50"; p99s[$name]="${p99s[$name]:-} $p99"; rates[$name]="${rates[$name]:-} $rps"
    note=$(load_core_note "$busy" "$throttled")
    printf '  round %d %-10s p50 %6s us   p99 %6s us   %10s req/s%s\n' "$round" "$name" "$p50" "$p99" "$rps" \
      "${note:+   $note}"
  done
done
for name in drawbridge haproxy nginx; do
  printf '  median %-10s p50 %6s us   p99 %6s us   %10s req/s\n' "$name" "$(median ${p50s[$name]})" \
    "$(median ${p99s[$name]})" "$(median ${rates[$name]})"
done
echo
pace="paced: ${connections} connections, one request each per ${delay_ms} ms"
# Lower is better here: HAProxy's (nginx's) latency over drawbridge's, above 1 when drawbridge is ahead.
printf '  haproxy / drawbridge p99 = %s   nginx / drawbridge p99 = %s   (medians of the per-round ratios)\n\n' \
  "$(paired_ratio "${p99s[haproxy]}" "${p99s[drawbridge]}")" "$(paired_ratio "${p99s[nginx]}" "${p99s[drawbridge]}")"
record_rounds "$pace" "p50 latency" "us" lower "${p50s[drawbridge]}" "${p50s[haproxy]}" "${p50s[nginx]}"
record_rounds "$pace" "p99 latency" "us" lower "${p99s[drawbridge]}" "${p99s[haproxy]}" "${p99s[nginx]}"
