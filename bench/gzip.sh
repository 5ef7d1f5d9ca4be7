#!/usr/bin/env bash
# gzip side by side: drawbridge, HAProxy and nginx compressing a ~32 KB JSON answer (the upstream sends it
# uncompressed) at their fastest level, 64 keep-alive connections, one worker each. Reports requests/s
# (medians of ROUNDS rounds run A B C A B C), the ratios, and the compressed size each sends.
# Layout as in compare.sh: the proxy under test pinned to core 0; wrk and the upstream on core 1.
#
#   bench/gzip.sh               DURATION=10s CONNECTIONS=64 ROUNDS=3 by default
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
connections=${CONNECTIONS:-64}
rounds=${ROUNDS:-3}

source bench/common.sh
require_built drawbridge

types="application/json text/plain text/css application/javascript"

nginx_http_extra="  gzip on; gzip_comp_level 1; gzip_min_length 1000; gzip_proxied any; gzip_vary on;
  gzip_types $types;
"
# HAProxy compresses with libslz in Debian's build (its level setting does not apply to slz).
haproxy_frontend_extra="  compression algo gzip
  compression type $types
"
drawbridge_extra=' "gzip": {"types": ["application/json", "text/plain", "text/css", "application/javascript"],
          "min_length": 1000, "level": 1},
'
write_configs
start_processes
wait_up http /big.json upstream nginx haproxy drawbridge

original=$(curl -s "http://127.0.0.1:$upstream_port/big.json" | wc -c)
echo "gzip of a ${original}-byte JSON answer, ${connections} keep-alive connections, ${duration} x ${rounds} rounds; proxies on core ${proxy_core}"
declare -A runs=() size=()
for name in drawbridge haproxy nginx; do
  port_var="${name}_port"
  # What a client gets: the compressed size, and a check that it decompresses to the original.
  curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:${!port_var}/big.json" >"$work/$name.gz"
  size[$name]=$(wc -c <"$work/$name.gz")
  gunzip -c "$work/$name.gz" | cmp -s - "$work/big.json" || { echo "gzip: $name's answer does not decompress to the original" >&2; exit 1; }
done
for round in $(seq "$rounds"); do
  for name in drawbridge haproxy nginx; do
    port_var="${name}_port"
    read -r rps p99 errors < <(run_wrk "http://127.0.0.1:${!port_var}/big.json" -H "Accept-Encoding: gzip")
    runs[$name]="${runs[$name]:-} $rps"
    printf '  round %d %-10s %10s req/s   p99 %-8s %s\n' "$round" "$name" "$rps" "$p99" "$errors"
  done
done
printf '  compressed bytes: drawbridge %s  haproxy %s  nginx %s  (of %s)\n' "${size[drawbridge]}" "${size[haproxy]}" "${size[nginx]}" "$original"
print_rounds "${runs[drawbridge]}" "${runs[haproxy]}" "${runs[nginx]}" req/s
record_rounds "gzip of ${original}-byte JSON, level 1, ${connections} connections" "requests/s" "req/s" higher \
  "${runs[drawbridge]}" "${runs[haproxy]}" "${runs[nginx]}"
record "gzip of ${original}-byte JSON, level 1" "compressed size" "bytes" lower "${size[drawbridge]}" "${size[haproxy]}" "${size[nginx]}"
