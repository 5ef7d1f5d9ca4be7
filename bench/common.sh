# What the side-by-side scripts share. Sourced, not run, from the repository's root; expects `connections`
# and `duration` to be set (each script has its own defaults), installs the bench packages, and sets
# `proxy_core` and `load_core` (PROXY_CORE, LOAD_CORE), `work`, `pids` and the ports of the four processes.
#
# QUOTA=N (scripts/bench --quota N): each proxy runs in a cpu cgroup of its own limited to N% of one core,
# still pinned to the proxy core. On this 2-core machine the load core (wrk and the upstream) saturates
# before a proxy with a whole core does, so requests/s would compare the load core; with the same fraction
# of a core each, the proxy is the bottleneck and requests/s measure its own efficiency. run_wrk checks
# that the load core stayed below 90% busy and says so when it did not.

proxy_core=${PROXY_CORE:-0}
load_core=${LOAD_CORE:-1}
quota=${QUOTA:-}
scripts/install-deps --bench

# The cpu controller's directory and kind ("v1" or "v2"), when QUOTA is set; a clear stop when neither is
# writable (the cgroups need root, or a delegated subtree).
cgroup_kind="" cgroup_base=""
if [[ -n $quota ]]; then
  # 10% of a 10 ms period is 1 ms, the least the kernel takes.
  if ! [[ $quota =~ ^[0-9]+$ ]] || ((quota < 10 || quota > 100)); then
    echo "bench: QUOTA must be a whole percentage of one core, 10 to 100 (got '$quota')" >&2
    exit 2
  fi
  if [[ -w /sys/fs/cgroup/cpu/cpu.cfs_quota_us || -w /sys/fs/cgroup/cpu/cgroup.procs ]]; then
    cgroup_kind=v1 cgroup_base=/sys/fs/cgroup/cpu
  elif [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers &&
    [[ -w /sys/fs/cgroup/cgroup.subtree_control ]]; then
    cgroup_kind=v2 cgroup_base=/sys/fs/cgroup
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
  else
    echo "bench: QUOTA needs a writable cpu cgroup: cgroup v1's /sys/fs/cgroup/cpu or cgroup v2's cpu.max" \
      "(run as root, or in a delegated cgroup); neither is writable here" >&2
    exit 1
  fi
fi
cgroups=()

# make_cgroup NAME: with QUOTA, NAME's cgroup, limited to QUOTA% of a core with a 10 ms period (removed
# by cleanup). Call it in the script's own shell, not in a background one.
make_cgroup() {
  [[ -n $quota ]] || return 0
  local dir="$cgroup_base/drawbridge-bench-$$-$1"
  [[ -d $dir ]] && return 0
  mkdir "$dir"
  cgroups+=("$dir")
  if [[ $cgroup_kind == v1 ]]; then
    echo 10000 >"$dir/cpu.cfs_period_us"
    echo $((quota * 100)) >"$dir/cpu.cfs_quota_us"
  else
    echo "$((quota * 100)) 10000" >"$dir/cpu.max"
  fi
}

# in_cgroup NAME COMMAND... &: becomes COMMAND (exec, so that $! is its pid) after joining NAME's cgroup
# (make_cgroup first), so that every process and thread it starts is in it; without QUOTA, just COMMAND.
in_cgroup() {
  local name=$1
  shift
  [[ -z $quota ]] && exec "$@"
  exec sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cgroup_base/drawbridge-bench-$$-$name" "$@"
}

# The busy fraction (percent) of CPU `load_core` since the last call (and a first sample when called with
# "start", which also samples the proxies' throttling: proxy_throttled): from /proc/stat's jiffies, all but
# idle and iowait.
load_core_sample=""
load_core_busy() {
  local now busy
  now=$(awk -v cpu="cpu$load_core" '$1 == cpu { idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; print total, idle }' /proc/stat)
  if [[ ${1:-} == start || -z $load_core_sample ]]; then
    load_core_sample=$now
    throttle_start
    return
  fi
  busy=$(awk -v a="$load_core_sample" -v b="$now" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[1] - x[1]; i = y[2] - x[2]; printf "%.0f", (t > 0 ? 100 * (t - i) / t : 0) }')
  load_core_sample=$now
  echo "$busy"
}

# With QUOTA: how much a proxy was held back by its quota since load_core_busy start, as the highest share
# (percent) of a proxy cgroup's active periods in which it used its whole quota (cpu.stat's nr_throttled
# over nr_periods). The highest over all the proxies' cgroups, which is the one under test: the idle ones
# count hardly any periods, and fewer than ten are ignored. A proxy throttled in most periods was the
# limit, whatever the load core's busy share says: wrk busy-waits on handshakes (it polls for writability
# until the server's answer comes), so in the new-connection scenario the load core shows busy while it
# waits.
declare -A throttle_sample=()
throttle_counts() { awk '$1 == "nr_periods" { p = $2 } $1 == "nr_throttled" { t = $2 } END { print p + 0, t + 0 }' "$1/cpu.stat"; }
throttle_start() {
  local dir
  for dir in "${cgroups[@]}"; do throttle_sample[$dir]=$(throttle_counts "$dir"); done
}
proxy_throttled() {
  local dir p0 t0 p1 t1 share most=0
  for dir in "${cgroups[@]}"; do
    read -r p0 t0 <<<"${throttle_sample[$dir]:-0 0}"
    read -r p1 t1 < <(throttle_counts "$dir")
    if ((p1 - p0 >= 10)); then
      share=$((100 * (t1 - t0) / (p1 - p0)))
      if ((share > most)); then most=$share; fi
    fi
  done
  echo "$most"
}

# require_built NAME...: stops the script when build/NAME is missing (scripts/bench builds them).
require_built() {
  local name
  for name in "$@"; do
    [[ -x build/$name ]] || { echo "$(basename "$0" .sh): build/$name is missing; run scripts/bench" >&2; exit 1; }
  done
}

work=$(mktemp -d /tmp/drawbridge-bench.XXXXXX)
chmod 755 "$work"  # the upstream nginx's worker (user nobody) serves a file from it
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  local dir
  for dir in "${cgroups[@]}"; do
    # A worker process may take a moment to leave after its master: try for up to 5 s.
    for _ in $(seq 50); do rmdir "$dir" 2>/dev/null && break; sleep 0.1; done
  done
}
trap cleanup EXIT

# Free ports from the kernel, held only for the moment it takes to read them.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
upstream_port=$(free_port); drawbridge_port=$(free_port); nginx_port=$(free_port); haproxy_port=$(free_port)

# The neutral upstream every proxy forwards to: nginx answering a small fixed JSON body, and at /big.json
# about 32 KB of JSON shaped like an API listing (for the gzip scenario; never compressed by the upstream).
python3 - "$work/big.json" <<'PY'
import json, sys
rows, i = [], 0
while len(json.dumps({"responseMeta": {"status": 200, "success": True}, "data": rows})) < 32 * 1024:
    rows.append({"id": f"64f{i:021x}", "name": f"Page {i}", "slug": f"page-{i}", "isDefault": i == 0,
                 "layouts": [{"id": f"lay{i:08d}", "dsl": {"widgetName": "MainContainer", "version": 89}}],
                 "userPermissions": ["read:pages", "manage:pages"], "lastUpdatedAt": 1700000000 + i * 37})
    i += 1
open(sys.argv[1], "w").write(json.dumps({"responseMeta": {"status": 200, "success": True}, "data": rows}))
PY
body='{"responseMeta":{"status":200,"success":true},"data":"All systems are up"}'
# The configurations are files in bench/conf/ (a reader can check that the proxies are set up alike);
# render fills in their @NAME@ placeholders.
render() { python3 bench/conf/render.py "$@"; }
render bench/conf/upstream.conf.in "$work/upstream.conf" WORK="$work" UPSTREAM_PORT="$upstream_port" BODY="$body"

# run_wrk URL [more wrk arguments] → "requests/s p99 errors" (errors: wrk's; in a quota run where the load
# core reached 90% busy, that share and how often the proxy was throttled, with a warning when the proxy
# was throttled in fewer than half its periods: then the load core, not the proxy, set the rate).
run_wrk() {
  local url=$1; shift
  load_core_busy start
  taskset -c "$load_core" wrk -t1 -c"$connections" -d"$duration" --latency "$@" "$url" >"$work/wrk.out" 2>&1 || true
  note_load_core
  local rps p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/wrk.out" | tr '\n' ' ')
  errors+=$(load_core_note "$last_load_busy" "$last_throttled")
  echo "${rps:-0} ${p99:--} ${errors:-}"
}

# load_core_note BUSY THROTTLED: in a quota run whose load core reached 90% busy, both shares, with a
# warning when the proxy was throttled in fewer than half its periods (then the load core, not the proxy,
# set the rate); nothing otherwise. run_wrk and latency.sh print it.
load_core_note() {
  [[ -n $quota && $1 -ge 90 ]] || return 0
  printf 'load core %s%% busy, proxy throttled in %s%% of periods' "$1" "$2"
  (($2 >= 50)) || printf ': THE LOAD CORE LIMITED THIS RUN'
  return 0
}

# perf_stat_during_get PID OUTPUT PORT EVENT-OPTIONS...: perf stat of process PID (into OUTPUT) while wrk,
# on the load core, sends small GETs to PORT for `duration`; prints wrk's request count. For the scripts
# that count per request (per_request.sh, allocations.sh).
perf_stat_during_get() {
  local pid=$1 output=$2 port=$3 stat_pid
  shift 3
  perf stat "$@" -p "$pid" -o "$output" -- sleep "$((${duration%s} + 1))" &
  stat_pid=$!
  sleep 0.3  # perf attaching; the extra second of its sleep covers the rest
  taskset -c "$load_core" wrk -t1 -c"$connections" -d"$duration" "http://127.0.0.1:$port/api/v1/health" >"$work/wrk.out"
  wait "$stat_pid" || true
  awk '/requests in/ {print $1}' "$work/wrk.out"
}

# After a load run: the load core's busy share into last_load_busy, the proxy's throttling (with QUOTA)
# into last_throttled, and both into the results (scripts/bench's report says whether the load core
# limited any quota run: 90% busy or more while the proxy was throttled in fewer than half its periods).
last_load_busy=0 last_throttled=0
note_load_core() {
  last_load_busy=$(load_core_busy)
  last_throttled=$(proxy_throttled)
  [[ -n ${BENCH_RESULTS:-} ]] && echo "$(basename "$0" .sh) $last_load_busy $last_throttled" >>"$BENCH_RESULTS.load"
  return 0
}

# The three proxies configured alike (bench/conf/*.in): one worker/thread, a keep-alive pool of 64 to the
# upstream, the same timeouts, no access log, and the same header work on every request (X-Forwarded-For,
# -Proto and -Host, Host kept, a request id to the node and back to the client: what drawbridge always
# does). A scenario adds only what it needs, in these variables (each extra a whole line or lines, ending
# in a newline; empty by default), then calls write_configs:
#   nginx_http_extra, nginx_listen_extra (after the address), nginx_server_extra
#   haproxy_global_extra, haproxy_bind_extra (after the address), haproxy_frontend_extra
#   drawbridge_listener_extra (more keys of the listener), drawbridge_extra (more top-level keys)
write_configs() {
  render bench/conf/nginx.conf.in "$work/nginx.conf" WORK="$work" UPSTREAM_PORT="$upstream_port" \
    NGINX_PORT="$nginx_port" HTTP_EXTRA="${nginx_http_extra:-}" LISTEN_EXTRA="${nginx_listen_extra:-}" \
    SERVER_EXTRA="${nginx_server_extra:-}"
  render bench/conf/haproxy.cfg.in "$work/haproxy.cfg" UPSTREAM_PORT="$upstream_port" HAPROXY_PORT="$haproxy_port" \
    GLOBAL_EXTRA="${haproxy_global_extra:-}" BIND_EXTRA="${haproxy_bind_extra:-}" \
    FRONTEND_EXTRA="${haproxy_frontend_extra:-}"
  render bench/conf/drawbridge.json.in "$work/drawbridge.json" UPSTREAM_PORT="$upstream_port" \
    DRAWBRIDGE_PORT="$drawbridge_port" LISTENER_EXTRA="${drawbridge_listener_extra:-}" EXTRA="${drawbridge_extra:-}"
}

# Starts the upstream (on the load core) and the three proxies (on the proxy core, each in its cgroup
# with QUOTA); pids in that order.
start_processes() {
  taskset -c "$load_core" nginx -c "$work/upstream.conf" -p "$work" 2>"$work/upstream.err" & pids+=($!)
  make_cgroup nginx
  make_cgroup haproxy
  make_cgroup drawbridge
  in_cgroup nginx taskset -c "$proxy_core" nginx -c "$work/nginx.conf" -p "$work" 2>"$work/nginx.err" & pids+=($!)
  in_cgroup haproxy taskset -c "$proxy_core" haproxy -f "$work/haproxy.cfg" -db 2>"$work/haproxy.err" & pids+=($!)
  in_cgroup drawbridge taskset -c "$proxy_core" build/drawbridge serve --config "$work/drawbridge.json" \
    2>"$work/drawbridge.err" & pids+=($!)
}

# wait_up SCHEME PATH NAME... : waits (up to 10 s each) until every named process answers SCHEME://…PATH;
# exits with its error output if one does not.
wait_up() {
  local scheme=$1 path=$2 name port_var up
  shift 2
  for name in "$@"; do
    port_var="${name}_port"
    up=0
    for _ in $(seq 100); do curl -sk -o /dev/null "$scheme://127.0.0.1:${!port_var}$path" && { up=1; break; }; sleep 0.1; done
    if [[ $up == 0 ]]; then echo "bench: $name did not start:" >&2; cat "$work/$name.err" >&2; exit 1; fi
  done
}

# record SCENARIO METRIC UNIT BETTER DRAWBRIDGE HAPROXY NGINX [D_ROUNDS H_ROUNDS N_ROUNDS]: one line of the
# results that scripts/bench turns into bench/results/<date>.md (BETTER is "higher" or "lower"). The
# optional last three are each proxy's values round by round (space-separated), for the paired ratios.
# Nothing when run on its own.
record() {
  [[ -n ${BENCH_RESULTS:-} ]] || return 0
  (IFS=$'\t'; printf '%s\n' "$*") >>"$BENCH_RESULTS"
}

# record_rounds SCENARIO METRIC UNIT BETTER "D ROUNDS" "H ROUNDS" "N ROUNDS": record with the medians.
record_rounds() {
  record "$1" "$2" "$3" "$4" "$(median $5)" "$(median $6)" "$(median $7)" "$5" "$6" "$7"
}

# paired_ratio "D1 D2 ..." "A1 A2 ...": the median over the rounds of D_i / A_i. Each round runs the
# proxies back to back, so a change in the machine's speed between rounds (common here) cancels out of
# the ratio; the ratio of the medians does not have that property.
paired_ratio() {
  printf '%.2f' "$(median $(paste <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '$2 > 0 {print $1 / $2}'))"
}

# print_rounds "D ROUNDS" "H ROUNDS" "N ROUNDS" [UNIT]: each proxy's median, then drawbridge's ratio to the
# others, round by round (paired) and from the medians.
print_rounds() {
  local d h n
  d=$(median $1); h=$(median $2); n=$(median $3)
  printf '  medians: drawbridge %s  haproxy %s  nginx %s%s\n' "$d" "$h" "$n" "${4:+ $4}"
  printf '  drawbridge / haproxy = %s   drawbridge / nginx = %s   (medians of the per-round ratios)\n' \
    "$(paired_ratio "$1" "$2")" "$(paired_ratio "$1" "$3")"
  awk -v d="$d" -v h="$h" -v n="$n" 'BEGIN { printf "  from the medians: %.2f and %.2f\n\n", d / h, d / n }'
}

# The median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
