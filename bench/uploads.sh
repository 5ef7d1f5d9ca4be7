#!/usr/bin/env bash
# Large uploads side by side: 4 uploads of 100 MiB at once through drawbridge, HAProxy and nginx (each
# streaming the body to the upstream: nginx with proxy_request_buffering off), to an upstream that reads
# and drops it. Reports the throughput (400 MiB over the time the last one took; medians of ROUNDS rounds
# run A B C A B C) and how far each proxy's peak resident memory grew per upload. The upstream is
# build/demo-node, which reads each body to its end and answers its size and SHA-256: every upload is
# checked to have arrived whole. Same layout as compare.sh.
#
#   bench/uploads.sh            ROUNDS=3 UPLOAD_MIB=100 UPLOADS=4 by default
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
upload_mib=${UPLOAD_MIB:-100}
uploads=${UPLOADS:-4}
connections=1 duration=1s  # for common.sh

source bench/common.sh
require_built drawbridge demo-node

# Bodies of any size, streamed: nginx would otherwise buffer each upload to a temporary file first.
nginx_http_extra="  client_max_body_size 0; proxy_request_buffering off;
"
drawbridge_extra=' "limits": {"max_body_size": "1g"},
'
# The proxies forward to a demo node (on the load core) instead of common.sh's nginx upstream.
upstream_port=$(free_port)
taskset -c "$load_core" build/demo-node --name upload --listen "127.0.0.1:$upstream_port" >"$work/demo-node.log" 2>&1 &
pids+=($!)
write_configs
start_processes
wait_up http / upstream nginx haproxy drawbridge
head -c "${upload_mib}M" /dev/urandom >"$work/body.bin"
want=$(sha256sum "$work/body.bin" | cut -d' ' -f1)

kib() { awk -v f="$2" '$1 == f":" { print $2 }' "/proc/$1/status"; }
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
declare -A pid_of=([drawbridge]=${pids[4]} [haproxy]=${pids[3]} [nginx]=$nginx_worker)

# One round for one proxy: "MiB/s growth-KiB-per-upload statuses"
upload_round() {
  local port=$1 pid=$2 before after started ended
  before=$(kib "$pid" VmHWM)
  started=$(date +%s.%N)
  for i in $(seq "$uploads"); do
    taskset -c "$load_core" curl -s -o "$work/answer.$i" -w '%{http_code}\n' -X POST -T "$work/body.bin" \
      -H 'Content-Type: application/octet-stream' "http://127.0.0.1:$port/upload" >"$work/status.$i" &
  done
  wait $(jobs -p | tail -n "$uploads")
  ended=$(date +%s.%N)
  after=$(kib "$pid" VmHWM)
  awk -v s="$started" -v e="$ended" -v n="$uploads" -v m="$upload_mib" -v b="$before" -v a="$after" \
    'BEGIN { printf "%.1f %d", n * m / (e - s), (a - b) / n }'
  echo " $(sort "$work"/status.* | uniq -c | awk '{ printf "%s×%s ", $2, $1 }')"
  for i in $(seq "$uploads"); do
    grep -q "\"sha256\":\"$want\"" "$work/answer.$i" || { echo "uploads: upload $i arrived damaged or cut: $(cat "$work/answer.$i")" >&2; echo "DAMAGED"; }
  done
}

echo "${uploads} x ${upload_mib} MiB uploads at once, ${rounds} rounds (A B C A B C); proxies on core ${proxy_core}"
declare -A speeds=() growths=()
for round in $(seq "$rounds"); do
  for name in drawbridge haproxy nginx; do
    port_var="${name}_port"
    read -r speed growth statuses < <(upload_round "${!port_var}" "${pid_of[$name]}" | tr '\n' ' '; echo)
    [[ $statuses != *DAMAGED* ]] || { echo "uploads: $name did not pass every upload on whole" >&2; exit 1; }
    speeds[$name]="${speeds[$name]:-} $speed"; growths[$name]="${growths[$name]:-} $growth"
    printf '  round %d %-10s %8s MiB/s   peak memory +%6s KiB per upload   %s\n' "$round" "$name" "$speed" "$growth" "$statuses"
  done
done
print_rounds "${speeds[drawbridge]}" "${speeds[haproxy]}" "${speeds[nginx]}" MiB/s
record_rounds "${uploads} x ${upload_mib} MiB uploads at once" "throughput" "MiB/s" higher \
  "${speeds[drawbridge]}" "${speeds[haproxy]}" "${speeds[nginx]}"
# Peak growth: the largest of the rounds (the first round grows the most; later ones reuse that memory).
max() { printf '%s\n' "$@" | sort -g | tail -1; }
record "${uploads} x ${upload_mib} MiB uploads at once" "peak memory growth per upload" "KiB" lower \
  "$(max ${growths[drawbridge]})" "$(max ${growths[haproxy]})" "$(max ${growths[nginx]})"
