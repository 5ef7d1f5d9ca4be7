#!/usr/bin/env bash
# Compression side by side: drawbridge, HAProxy and nginx compressing a ~32 KB JSON answer (the upstream
# sends it uncompressed), 64 keep-alive connections, one worker each. For each of drawbridge's encodings
# (gzip at level 1, zstd at 3, br at 4: its defaults) drawbridge is asked for that one, HAProxy and nginx for
# gzip at their fastest level (the only coding they have; so the zstd and br rows compare a different
# coding, for its speed and size). Reports requests/s (medians of ROUNDS rounds run A B C A B C), the
# ratios, and the compressed size each sends, checked to decode to the original.
# Layout as in compare.sh: the proxy under test pinned to core 0; wrk and the upstream on core 1.
#
#   bench/gzip.sh               DURATION=10s CONNECTIONS=64 ROUNDS=3 ENCODINGS="gzip zstd br" by default
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
connections=${CONNECTIONS:-64}
rounds=${ROUNDS:-3}
encodings=${ENCODINGS:-gzip zstd br}

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
          "min_length": 1000, "encodings": {"zstd": 3, "br": 4, "gzip": 1}},
'
write_configs
start_processes
wait_up http /big.json upstream nginx haproxy drawbridge

original=$(curl -s "http://127.0.0.1:$upstream_port/big.json" | wc -c)
declare -A decoder=([gzip]="gunzip -c" [zstd]="zstd -dc" [br]="brotli -dc") level=([gzip]=1 [zstd]=3 [br]=4)
for encoding in $encodings; do
  echo "$encoding (drawbridge; gzip from the others) of a ${original}-byte JSON answer, ${connections} keep-alive connections, ${duration} x ${rounds} rounds; proxies on core ${proxy_core}"
  declare -A runs=() size=() asked=([drawbridge]=$encoding [haproxy]=gzip [nginx]=gzip)
  for name in drawbridge haproxy nginx; do
    port_var="${name}_port"
    # What a client gets: the compressed size, and a check that it decodes to the original.
    curl -s -D "$work/$name.head" -H "Accept-Encoding: ${asked[$name]}" "http://127.0.0.1:${!port_var}/big.json" >"$work/$name.enc"
    grep -qi "^content-encoding: ${asked[$name]}" "$work/$name.head" ||
      { echo "gzip.sh: $name did not answer with ${asked[$name]}" >&2; exit 1; }
    size[$name]=$(wc -c <"$work/$name.enc")
    ${decoder[${asked[$name]}]} "$work/$name.enc" | cmp -s - "$work/big.json" ||
      { echo "gzip.sh: $name's ${asked[$name]} answer does not decode to the original" >&2; exit 1; }
  done
  for round in $(seq "$rounds"); do
    for name in drawbridge haproxy nginx; do
      port_var="${name}_port"
      read -r rps p99 errors < <(run_wrk "http://127.0.0.1:${!port_var}/big.json" -H "Accept-Encoding: ${asked[$name]}")
      runs[$name]="${runs[$name]:-} $rps"
      printf '  round %d %-10s %10s req/s   p99 %-8s %s\n' "$round" "$name" "$rps" "$p99" "$errors"
    done
  done
  printf '  compressed bytes: drawbridge %s  haproxy %s  nginx %s  (of %s)\n' "${size[drawbridge]}" "${size[haproxy]}" "${size[nginx]}" "$original"
  print_rounds "${runs[drawbridge]}" "${runs[haproxy]}" "${runs[nginx]}" req/s
  # The gzip rows keep their names (earlier results and issue 21's goals refer to them).
  if [[ $encoding == gzip ]]; then
    scenario="gzip of ${original}-byte JSON, level 1"
  else
    scenario="$encoding of ${original}-byte JSON, level ${level[$encoding]} (HAProxy and nginx: gzip)"
  fi
  record_rounds "${scenario}, ${connections} connections" "requests/s" "req/s" higher \
    "${runs[drawbridge]}" "${runs[haproxy]}" "${runs[nginx]}"
  record "$scenario" "compressed size" "bytes" lower "${size[drawbridge]}" "${size[haproxy]}" "${size[nginx]}"
  unset runs size asked
done
