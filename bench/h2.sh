#!/usr/bin/env bash
# HTTP/2 side by side: drawbridge, HAProxy and nginx terminating TLS with HTTP/2 (ALPN h2; ECDSA P-256
# certificate) in front of the same HTTP/1.1 upstream, loaded with h2load (nghttp2-client):
#   small GETs:  8 connections x 8 concurrent streams (64 streams), the small JSON answer
#   gzip:        the same, asking for gzip of the ~32 KB JSON answer (each proxy at its fastest level)
# Reports requests/s (medians of ROUNDS rounds run A B C A B C, ratios paired by round) and the p99 of the
# requests' times, from h2load's per-request log (h2load itself prints no percentiles).
# Layout as in compare.sh: the proxy under test pinned to core 0 with one worker/thread (with QUOTA, in a
# cpu cgroup of its own); h2load and the upstream on core 1. Needs build/drawbridge.
#
#   bench/h2.sh                 DURATION=10s ROUNDS=3 H2_CONNECTIONS=8 H2_STREAMS=8 by default
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
rounds=${ROUNDS:-3}
h2_connections=${H2_CONNECTIONS:-8}
h2_streams=${H2_STREAMS:-8}
connections=$h2_connections  # for common.sh's messages

source bench/common.sh
require_built drawbridge
command -v h2load >/dev/null || { echo "h2.sh: h2load is missing (scripts/install-deps --bench installs nghttp2-client)" >&2; exit 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=bench.test" \
  -addext "subjectAltName=DNS:bench.test" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/haproxy.pem"

types="application/json text/plain text/css application/javascript"
nginx_http_extra="  ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m;
  gzip on; gzip_comp_level 1; gzip_min_length 1000; gzip_proxied any; gzip_vary on; gzip_types $types;
"
nginx_listen_extra=" ssl http2"
nginx_server_extra="    ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
"
haproxy_global_extra="  ssl-default-bind-options ssl-min-ver TLSv1.2
"
haproxy_bind_extra=" ssl crt $work/haproxy.pem alpn h2,http/1.1"
haproxy_frontend_extra="  compression algo gzip
  compression type $types
"
drawbridge_listener_extra=",
                \"tls\": {\"certificates\": [{\"cert\": \"$work/cert.pem\", \"key\": \"$work/key.pem\"}]}"
drawbridge_extra=' "gzip": {"types": ["application/json", "text/plain", "text/css", "application/javascript"],
          "min_length": 1000, "encodings": {"gzip": 1}},
'
write_configs
start_processes
wait_up https / nginx haproxy drawbridge

# run_h2load URL [more h2load arguments] → "requests/s p99 errors"; the load core's share as run_wrk notes it.
run_h2load() {
  local url=$1; shift
  rm -f "$work/h2load.log"
  load_core_busy start
  taskset -c "$load_core" h2load -t1 -c"$h2_connections" -m"$h2_streams" -D"${duration%s}" --log-file="$work/h2load.log" \
    "$@" "$url" >"$work/h2load.out" 2>&1 || true
  note_load_core
  local rps p99 errors
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$work/h2load.out")
  # The log: start time, status, time to the end of the response (microseconds), one line per request.
  p99=$(sort -n -k3 "$work/h2load.log" 2>/dev/null | awk '{v[NR] = $3} END {if (NR) printf "%.2fms", v[int(NR * 0.99 + 0.5)] / 1000}')
  # "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout"
  # "status codes: N 2xx, N 3xx, N 4xx, N 5xx"
  errors=$(awk '/^requests:/ && ($10 != 0 || $12 != 0 || $14 != 0) {print "failed " $10 " errored " $12 " timeout " $14}
                /^status codes:/ && ($7 != 0 || $9 != 0) {print "4xx " $7 " 5xx " $9}' "$work/h2load.out" | tr '\n' ' ')
  errors+=$(load_core_note "$last_load_busy" "$last_throttled")
  echo "${rps:-0} ${p99:--} ${errors:-}"
}

# Each proxy must speak HTTP/2 here, or the comparison is void.
for name in drawbridge haproxy nginx; do
  port_var="${name}_port"
  version=$(curl -sk --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:${!port_var}/api/v1/health")
  [[ $version == 2 ]] || { echo "h2.sh: $name answered over HTTP/$version, not HTTP/2" >&2; exit 1; }
done

for scenario in small gzip; do
  if [[ $scenario == small ]]; then
    path=/api/v1/health extra=()
    label="HTTP/2 small GETs, ${h2_connections} connections x ${h2_streams} streams"
  else
    path=/big.json extra=(-H "accept-encoding: gzip")
    label="HTTP/2 32 KB JSON gzipped, ${h2_connections} connections x ${h2_streams} streams"
  fi
  echo "$label, ${duration} x ${rounds} rounds (A B C A B C); proxies on core ${proxy_core}"
  declare -A runs=() p99s=()
  for round in $(seq "$rounds"); do
    for name in drawbridge haproxy nginx; do
      port_var="${name}_port"
      read -r rps p99 errors < <(run_h2load "https://127.0.0.1:${!port_var}$path" "${extra[@]}")
      runs[$name]="${runs[$name]:-} $rps"
      p99s[$name]="${p99s[$name]:-} ${p99%ms}"
      printf '  round %d %-10s %10s req/s   p99 %-9s %s\n' "$round" "$name" "$rps" "$p99" "$errors"
    done
  done
  print_rounds "${runs[drawbridge]}" "${runs[haproxy]}" "${runs[nginx]}" req/s
  record_rounds "$label" "requests/s" "req/s" higher "${runs[drawbridge]}" "${runs[haproxy]}" "${runs[nginx]}"
  record_rounds "$label" "p99 latency" "ms" lower "${p99s[drawbridge]}" "${p99s[haproxy]}" "${p99s[nginx]}"
  unset runs p99s
done
