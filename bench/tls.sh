#!/usr/bin/env bash
# HTTPS side by side: drawbridge, HAProxy and nginx terminating TLS (ECDSA P-256 certificate, TLS 1.3 as
# negotiated by wrk) in front of the same plain upstream (nginx answering a small JSON body).
#   keep-alive:      64 connections, many requests each (the cost of encryption)
#   new connection:  every request on a fresh connection, "Connection: close" (the cost of handshakes)
# Layout as in compare.sh: the proxy under test pinned to core 0 with one worker/thread; wrk and the
# upstream on core 1. Needs build/drawbridge (scripts/bench builds it).
#
#   bench/tls.sh                DURATION=10s CONNECTIONS=64 ROUNDS=3 by default; medians are compared
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
connections=${CONNECTIONS:-64}
rounds=${ROUNDS:-3}

source bench/common.sh
require_built drawbridge

# One ECDSA P-256 certificate for all three, self-signed (wrk does not verify).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=bench.test" \
  -addext "subjectAltName=DNS:bench.test" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/haproxy.pem"

nginx_http_extra="  ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m;
"
nginx_listen_extra=" ssl"
nginx_server_extra="    ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
"
haproxy_global_extra="  ssl-default-bind-options ssl-min-ver TLSv1.2
"
haproxy_bind_extra=" ssl crt $work/haproxy.pem alpn http/1.1"
drawbridge_listener_extra=",
                \"tls\": {\"certificates\": [{\"cert\": \"$work/cert.pem\", \"key\": \"$work/key.pem\"}]}"
write_configs
start_processes
wait_up https / nginx haproxy drawbridge

for scenario in keep-alive new-connection; do
  extra=()
  [[ $scenario == new-connection ]] && extra=(-H "Connection: close")
  echo "HTTPS $scenario, ${connections} connections, ${duration} x ${rounds} rounds (A B C A B C); proxies on core ${proxy_core}"
  declare -A runs=()
  for round in $(seq "$rounds"); do
    for name in drawbridge haproxy nginx; do
      port_var="${name}_port"
      read -r rps p99 errors < <(run_wrk "https://127.0.0.1:${!port_var}/api/v1/health" "${extra[@]}")
      runs[$name]="${runs[$name]:-} $rps"
      printf '  round %d %-10s %10s req/s   p99 %-8s %s\n' "$round" "$name" "$rps" "$p99" "$errors"
    done
  done
  print_rounds "${runs[drawbridge]}" "${runs[haproxy]}" "${runs[nginx]}"
  record_rounds "HTTPS ${scenario}, ${connections} connections" "requests/s" "req/s" higher \
    "${runs[drawbridge]}" "${runs[haproxy]}" "${runs[nginx]}"
  unset runs
done

# Idle HTTPS keep-alive connections: resident memory per connection (TLS state included).
idle=${IDLE_CONNECTIONS:-1000}
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
echo "idle HTTPS keep-alive connection memory (${idle} connections, bytes each):"
di=$(python3 bench/idle_memory.py "$drawbridge_port" "${pids[3]}" "$idle" --tls)
hi=$(python3 bench/idle_memory.py "$haproxy_port" "${pids[2]}" "$idle" --tls)
ni=$(python3 bench/idle_memory.py "$nginx_port" "$nginx_worker" "$idle" --tls)
printf '  %-10s %8s\n' drawbridge "$di" haproxy "$hi" nginx "$ni"
record "${idle} idle HTTPS keep-alive connections" "memory per connection" "bytes" lower "$di" "$hi" "$ni"
