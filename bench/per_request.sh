#!/usr/bin/env bash
# What one small proxied GET costs each proxy: CPU time per request (the process's utime + stime over
# wrk's request count) and, when perf can read the kernel's tracepoints, system calls per request and the
# wakeups the proxy causes (a send to a peer asleep in epoll_wait wakes it: on this VM the proxy's own
# costliest kernel path). The figures bench/in-the-way.md reasons with; not part of scripts/bench. Same
# layout as compare.sh; QUOTA=N limits each proxy to N% of a core as scripts/bench --quota does.
#
#   bench/per_request.sh          DURATION=5s CONNECTIONS=64 ROUNDS=3 by default
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-5s}
connections=${CONNECTIONS:-64}
rounds=${ROUNDS:-3}

source bench/common.sh
require_built drawbridge

write_configs
start_processes
wait_up http / upstream nginx haproxy drawbridge
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
declare -A pid_of=([drawbridge]=${pids[3]} [haproxy]=${pids[2]} [nginx]=$nginx_worker)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

echo "CPU per small GET, ${connections} keep-alive connections, ${duration} x ${rounds} rounds (A B C A B C)"
declare -A cpu=()
for round in $(seq "$rounds"); do
  for name in drawbridge haproxy nginx; do
    port_var="${name}_port"
    before=$(cpu_ticks "${pid_of[$name]}")
    taskset -c "$load_core" wrk -t1 -c"$connections" -d"$duration" "http://127.0.0.1:${!port_var}/api/v1/health" >"$work/wrk.out"
    after=$(cpu_ticks "${pid_of[$name]}")
    requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    us=$(awk -v t=$((after - before)) -v r="$requests" -v hz="$hz" 'BEGIN {printf "%.2f", t * 1e6 / hz / r}')
    cpu[$name]="${cpu[$name]:-} $us"
    printf '  round %d %-10s %8s us per request\n' "$round" "$name" "$us"
  done
done
for name in drawbridge haproxy nginx; do printf '  median %-10s %8s us per request\n' "$name" "$(median ${cpu[$name]})"; done

if ! perf stat -e syscalls:sys_enter_recvfrom -- true >/dev/null 2>&1; then
  echo "system calls per request: skipped (perf cannot read syscall tracepoints here)"
  exit 0
fi
echo "system calls per request (perf stat on syscall tracepoints, one ${duration} run each):"
events=()
for call in recvfrom sendto sendmsg readv writev epoll_wait epoll_ctl; do events+=(-e "syscalls:sys_enter_$call"); done
events+=(-e raw_syscalls:sys_enter -e sched:sched_wakeup)
for name in drawbridge haproxy nginx; do
  port_var="${name}_port"
  requests=$(perf_stat_during_get "${pid_of[$name]}" "$work/perf.$name" "${!port_var}" "${events[@]}")
  awk -v n="$name" -v r="$requests" '{ gsub(",", "", $1) }
       $2 ~ /^syscalls:/ { sub("syscalls:sys_enter_", "", $2); if ($1 > 0) s = s sprintf(" %s %.2f", $2, $1 / r) }
       $2 == "raw_syscalls:sys_enter" { all = $1 } $2 == "sched:sched_wakeup" { woken = $1 }
       END { printf "  %-10s %.2f in all:%s; wakeups caused %.3f\n", n, all / r, s, woken / r }' "$work/perf.$name"
done
