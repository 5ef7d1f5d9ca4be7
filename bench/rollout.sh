#!/usr/bin/env bash
# Zero-downtime rolling upgrade under load, side by side: drawbridge, HAProxy and nginx in front of the
# same 3 demo nodes (build/demo-node, which answers 502 for BOOT after a start, like a booting Appsmith
# node). While wrk sends 64 keep-alive connections of 70% GET /api/v1/users/me and 30% POST /upload
# (2 KB body) for DURATION, the 3 nodes are restarted one after the other:
#
#   drawbridge  `drawbridge rollout`: drain (until nothing is in flight), restart, undrain, wait for health
#   drawbridge-2        two replicas sharing drains through Redis (config `cluster`), half the connections
#                       through each; `drawbridge rollout` through replica 1 only
#   drawbridge-2-alone  the same two replicas without Redis: replica 2 never hears of the drains
#   HAProxy     runtime API over the stats socket: drain, wait for scur 0, restart, wait for the check to
#               see the node DOWN, ready, wait for UP; and once more with restarts only (no drain)
#   nginx       passive checks only (max_fails=1 fail_timeout=2s), restarts with a fixed wait for boot
#
# Failed requests = non-2xx responses + socket errors (connect, read, write, timeout), per run.
#
# VERSIONS=1: the mixed-version scenario. The nodes answer as Appsmith version 1 (demo-node --version) and
# each restart brings one up on version 2; instead of wrk, BROWSERS (20) simulated browsers (bench/browsers.py)
# load the page, fetch its bundle and make API calls naming their version, reloading on Appsmith's 400 for
# a version mismatch. drawbridge runs with version_affinity, HAProxy and nginx with round robin (neither
# has a way to route by application version). Counted: static 404s, version mismatches (at most how many
# for one browser), other failures. Default runs: drawbridge haproxy-drain nginx.
# Layout on a 2-core machine: the proxy under test pinned to core 0 with one worker; wrk, the nodes and
# the upgrade driver on core 1. Only one proxy runs at a time. Needs build/drawbridge and
# build/demo-node built beforehand (this script does not build).
#
#   bench/rollout.sh                  DURATION=25s CONNECTIONS=64 BOOT=3s by default
#   SAVE=1 bench/rollout.sh           also writes bench/results/rollout-<date>.md
#
# The same load while each proxy reloads its own configuration every RELOAD_EVERY seconds, alternating two
# files that differ in node1's weight (1 and 2), nodes untouched: bench/reload.sh runs
#   drawbridge-reload  SIGHUP           haproxy-reload  master-worker (-W), SIGUSR2 to the master
#   nginx-reload       nginx -s reload
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-25s}
connections=${CONNECTIONS:-64}
boot=${BOOT:-3s}                   # each restarted node answers 502 this long
boot_wait=${BOOT_WAIT:-4}          # nginx: seconds waited after each restart (boot + 1 s)
upgrade_start=${UPGRADE_START:-2}  # seconds into the wrk run when the upgrade starts
check_interval=${CHECK_INTERVAL:-200ms}
proxy_core=${PROXY_CORE:-0}
load_core=${LOAD_CORE:-1}
versions=${VERSIONS:-0}
browsers=${BROWSERS:-20}
if [[ $versions == 1 ]]; then
  runs=${RUNS:-drawbridge haproxy-drain nginx}
  version_arg='--version "${NODE_VERSION:-1}"'  # in restart-node: the version a restart brings up
else
  runs=${RUNS:-drawbridge drawbridge-2 drawbridge-2-alone haproxy-drain haproxy-restart nginx}
  version_arg=''
fi
reload_every=${RELOAD_EVERY:-2}  # the reload runs: seconds between two reloads

scripts/install-deps --bench
for bin in build/drawbridge build/demo-node; do
  [[ -x $bin ]] || { echo "rollout: $bin is missing; build it first (ninja -C build drawbridge demo-node)" >&2; exit 1; }
done
repo=$(pwd)
py=$(python3 -c 'import sys; print(sys.executable)')  # the interpreter itself: no shim start-up on every poll

work=$(mktemp -d /tmp/drawbridge-rollout.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Nodes, and a proxy that a binary upgrade (or nginx's start) made a process other than $proxy_pid.
  for f in "$work"/node*.pid "$work/drawbridge.pid" "$work/nginx.pid"; do
    if [[ -f $f ]]; then kill "$(cat "$f")" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  if [[ -n ${KEEP_WORK:-} ]]; then echo "rollout: work dir kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Free ports from the kernel, held only for the moment it takes to read them.
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nodes=(node1 node2 node3)
declare -A node_address
for n in "${nodes[@]}"; do node_address[$n]="127.0.0.1:$(free_port)"; done
proxy_port=$(free_port); admin_port=$(free_port)
proxy_port2=$(free_port); admin_port2=$(free_port)  # the second replica of the drawbridge-2 runs

# restart-node NAME ADDRESS: stop demo node NAME (SIGTERM, wait until it is gone), start it again on
# ADDRESS; the new one answers 502 for $BOOT. Used by every upgrade method, and by drawbridge rollout.
cat >"$work/restart-node" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
work=$work
name=\$1 address=\$2
if [[ -f \$work/\$name.pid ]]; then
  pid=\$(cat "\$work/\$name.pid")
  kill -TERM "\$pid" 2>/dev/null || true
  # Gone, or a zombie nobody reaps (our parent may not be its parent).
  while [[ -e /proc/\$pid ]] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/\$pid/stat" 2>/dev/null; do sleep 0.01; done
  echo "stopped \$name"
fi
: >"\$work/\$name.log"
$repo/build/demo-node --name "\$name" --listen "\$address" --start-delay "\${BOOT:-$boot}" $version_arg >>"\$work/\$name.log" 2>&1 </dev/null &
echo \$! >"\$work/\$name.pid"
for _ in \$(seq 500); do grep -q listening "\$work/\$name.log" && { echo "started \$name on \$address"; exit 0; }; sleep 0.01; done
echo "\$name did not start:" >&2; cat "\$work/\$name.log" >&2; exit 1
SCRIPT
chmod +x "$work/restart-node"

# HAProxy stats socket client (no socat needed): `hactl SOCKET cmd "show stat"`,
# `hactl SOCKET wait-idle BE SRV TIMEOUT`, `hactl SOCKET wait-status BE SRV STATUS TIMEOUT` (prefix match).
cat >"$work/hactl.py" <<'PY'
import socket, sys, time
def cmd(path, line):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall((line + "\n").encode())
    out = b""
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
    s.close()
    return out.decode()
def stat(path, be, srv):
    lines = cmd(path, "show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        f = line.split(",")
        if len(f) > 1 and f[0] == be and f[1] == srv: return dict(zip(header, f))
    sys.exit("hactl: no server %s/%s" % (be, srv))
def wait(path, be, srv, ok, timeout):
    deadline = time.monotonic() + float(timeout)
    while True:
        s = stat(path, be, srv)
        if ok(s): return s
        if time.monotonic() > deadline:
            print("hactl: timeout, %s/%s is %s, scur %s, qcur %s" % (be, srv, s["status"], s["scur"], s["qcur"]))
            sys.exit(1)
        time.sleep(0.02)
path, what = sys.argv[1], sys.argv[2]
if what == "cmd":
    out = cmd(path, sys.argv[3]).strip()
    if out: print(out)
elif what == "wait-idle":
    wait(path, sys.argv[3], sys.argv[4], lambda s: s["scur"] == "0" and s["qcur"] in ("0", ""), sys.argv[5])
elif what == "wait-status":
    s = wait(path, sys.argv[3], sys.argv[4], lambda s: s["status"].startswith(sys.argv[5]), sys.argv[6])
    print("%s/%s %s" % (sys.argv[3], sys.argv[4], s["status"]))
PY
hactl() { "$py" "$work/hactl.py" "$work/haproxy.sock" "$@"; }

# Load: 70% GET, 30% POST with a 2 KB body; non-2xx counted per thread and summed in done().
cat >"$work/load.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  n, non2xx, codes = 0, 0, {}
  get = wrk.format("GET", "/api/v1/users/me")
  post = wrk.format("POST", "/upload", {["Content-Type"] = "application/octet-stream"}, string.rep("p", 2048))
end
function request()
  n = n + 1
  if n % 10 < 3 then return post end
  return get
end
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    codes[status] = (codes[status] or 0) + 1
  end
end
function done(summary, latency, requests)
  local total, all = 0, {}
  for _, t in ipairs(threads) do
    total = total + t:get("non2xx")
    for code, count in pairs(t:get("codes")) do all[code] = (all[code] or 0) + count end
  end
  local list = {}
  for code, count in pairs(all) do table.insert(list, code .. "x" .. count) end
  table.sort(list)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d codes=%s\n",
    summary.requests, total, e.connect, e.read, e.write, e.timeout, table.concat(list, ",")))
end
LUA

# Configs. Equivalent settings: one worker/thread, keep-alive pool to the nodes, connect 2s, read 30s,
# health checks every $check_interval (2 to rise, 2 to fall) where there are any; safe methods retried on
# another node after a connection error or a 502/503; POSTs only when they were not sent.
# The files are bench/conf/rollout-*.in; the node lists are filled in here.
render() { python3 bench/conf/render.py "$@"; }
# Each config twice: as used (node1 of weight 1) and, for the reload runs, with node1 of weight 2
# (*.weight2), which the reload loop swaps in and out.
weight() { [[ $1 == node1 && $2 == 2 ]] && echo 2 || echo 1; }
for w in 1 2; do
  suffix=$([[ $w == 2 ]] && echo .weight2 || true)
  render bench/conf/rollout-drawbridge.json.in "$work/drawbridge.json$suffix" PROXY_PORT="$proxy_port" \
    ADMIN_PORT="$admin_port" CHECK_INTERVAL="$check_interval" \
    NODES="$(for n in "${nodes[@]}"; do printf '{"name": "%s", "address": "%s", "weight": %s}, ' "$n" "${node_address[$n]}" \
      "$(weight "$n" "$w")"; done | sed 's/, $//')"
  render bench/conf/rollout-haproxy.cfg.in "$work/haproxy.cfg$suffix" WORK="$work" PROXY_PORT="$proxy_port" \
    CHECK_INTERVAL="$check_interval" \
    SERVERS="$(for n in "${nodes[@]}"; do
      echo "  server $n ${node_address[$n]} check inter $check_interval rise 2 fall 2 weight $(weight "$n" "$w")"; done)"
  render bench/conf/rollout-nginx.conf.in "$work/nginx.conf$suffix" WORK="$work" PROXY_PORT="$proxy_port" \
    SERVERS="$(for n in "${nodes[@]}"; do
      echo "    server ${node_address[$n]} max_fails=1 fail_timeout=2s weight=$(weight "$n" "$w");"; done)"
done
if [[ $versions == 1 ]]; then  # version affinity on, learning each node's version from /info
  python3 - "$work/drawbridge.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["upstreams"][0]["version_affinity"] = {"learn_from": {"path": "/info", "pointer": "/version"}}
json.dump(c, open(sys.argv[1], "w"))
PY
fi
for f in drawbridge.json haproxy.cfg nginx.conf; do cp "$work/$f" "$work/$f.weight1"; done
# The two replicas: replica 2 on its own ports; each with a `cluster` block (drawbridge-2), or alone.
python3 - "$work" "$proxy_port2" "$admin_port2" <<'PY'
import json, sys
work, port2, admin2 = sys.argv[1], sys.argv[2], sys.argv[3]
base = json.load(open(work + "/drawbridge.json"))
for replica in ("r1", "r2"):
    c = json.loads(json.dumps(base))
    if replica == "r2":
        c["listeners"][0]["address"] = "127.0.0.1:" + port2
        c["admin"]["address"] = "127.0.0.1:" + admin2
    json.dump(c, open("%s/drawbridge-%s-alone.json" % (work, replica), "w"))
    c["cluster"] = {"redis": "unix://%s/redis.sock" % work, "name": "bench", "replica": replica, "heartbeat": "500ms"}
    json.dump(c, open("%s/drawbridge-%s-cluster.json" % (work, replica), "w"))
PY

build/drawbridge check --config "$work/drawbridge.json" >/dev/null
build/drawbridge check --config "$work/drawbridge-r2-cluster.json" >/dev/null
haproxy -c -q -f "$work/haproxy.cfg"
nginx -t -q -c "$work/nginx.conf" -p "$work" 2>/dev/null || nginx -t -c "$work/nginx.conf" -p "$work"

wait_for() {  # TRIES COMMAND...: every 0.1 s
  local tries=$1; shift
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
http_ok() { [[ $(curl -s -o /dev/null -w '%{http_code}' "$1") == 200 ]]; }
nodes_healthy() {
  for n in "${nodes[@]}"; do http_ok "http://${node_address[$n]}/api/v1/health" || return 1; done
}
haproxy_all_up() {
  for n in "${nodes[@]}"; do hactl wait-status app "$n" UP 0.1 || return 1; done
}

# Nodes: started once, booted already (no 502 phase); each run begins with all three healthy.
for n in "${nodes[@]}"; do BOOT=0s taskset -c "$load_core" "$work/restart-node" "$n" "${node_address[$n]}" >/dev/null; done
wait_for 50 nodes_healthy || { echo "rollout: nodes did not start" >&2; exit 1; }

# Upgrade methods, run in the background of wrk; output to $work/RUN-upgrade.log. (They run in an
# `||` context, where set -e does not apply: every step says `|| return`.)
upgrade_drawbridge() {
  build/drawbridge rollout app --admin "http://127.0.0.1:$admin_port" --exec "$work/restart-node {node} {address}" \
    --drain-wait 30s --health-wait 60s
}
upgrade_haproxy_drain() {
  for n in "${nodes[@]}"; do
    echo "$n: drain"; hactl cmd "set server app/$n state drain" || return
    hactl wait-idle app "$n" 30 || return
    "$work/restart-node" "$n" "${node_address[$n]}" || return
    # The check has to notice the restart first: "ready" while the status still shows the old node's
    # passing checks would send traffic to the booting node until 2 checks fail.
    hactl wait-status app "$n" DOWN 5 || true
    echo "$n: ready"; hactl cmd "set server app/$n state ready" || return
    hactl wait-status app "$n" UP 60 || return
  done
}
upgrade_haproxy_restart() {
  for n in "${nodes[@]}"; do
    "$work/restart-node" "$n" "${node_address[$n]}" || return
    hactl wait-status app "$n" DOWN 5 || true
    hactl wait-status app "$n" UP 60 || return
  done
}
# Reload runs: every $reload_every s until wrk is about to end, the other config file, then the reload;
# with BINARY_UPGRADE=1 (bench/reload.sh), the middle one is a binary upgrade instead.
reload_loop() {  # FILE BINARY-UPGRADE-FUNCTION RELOAD-COMMAND...
  local file=$1 binary_upgrade=$2 i=0; shift 2
  # Ends 2 s before wrk does, so that the last reload (or a slow upgrade) is over while wrk still runs.
  local end; end=$(awk -v d="${duration%s}" -v s="$upgrade_start" -v e="$reload_every" 'BEGIN { print int((d - s - 2) / e) }')
  for i in $(seq "$end"); do
    sleep "$reload_every"
    cp "$work/$file.weight$(( i % 2 == 1 ? 2 : 1 ))" "$work/$file"
    if [[ ${BINARY_UPGRADE:-0} == 1 && $i == $(( (end + 1) / 2 )) ]]; then
      echo "binary upgrade at reload $i"; "$binary_upgrade" || return
    else
      echo "reload $i"; "$@" || return
    fi
  done
}
# Binary upgrades: drawbridge through its admin API (`drawbridge upgrade`; the pid changes, so SIGHUP goes
# to the pid file's);
# HAProxy's master re-executes its binary on every reload already; nginx's documented sequence (USR2 to
# the master, which starts a new one from the binary; WINCH, then QUIT to the old one).
binary_upgrade_drawbridge() { build/drawbridge upgrade --admin "http://127.0.0.1:$admin_port"; }
binary_upgrade_haproxy() { kill -USR2 "$proxy_pid"; }
binary_upgrade_nginx() {
  local old; old=$(cat "$work/nginx.pid")
  kill -USR2 "$old" || return
  wait_for 100 test -s "$work/nginx.pid.oldbin" || return
  wait_for 100 bash -c "[[ \$(cat '$work/nginx.pid') != $old ]]" || return
  kill -WINCH "$old" && kill -QUIT "$old"
}
upgrade_drawbridge_2() { upgrade_drawbridge; }
upgrade_drawbridge_2_alone() { upgrade_drawbridge; }
drawbridge_hup() { kill -HUP "$(cat "$work/drawbridge.pid")"; }
upgrade_drawbridge_reload() { reload_loop drawbridge.json binary_upgrade_drawbridge drawbridge_hup; }
upgrade_haproxy_reload() { reload_loop haproxy.cfg binary_upgrade_haproxy kill -USR2 "$proxy_pid"; }
upgrade_nginx_reload() {
  reload_loop nginx.conf binary_upgrade_nginx nginx -s reload -c "$work/nginx.conf" -p "$work"
}

upgrade_nginx() {
  for n in "${nodes[@]}"; do
    "$work/restart-node" "$n" "${node_address[$n]}" || return
    echo "$n: waiting ${boot_wait}s for boot"; sleep "$boot_wait"
  done
}

start_proxy() {  # run: starts its proxy on the proxy core, sets proxy_pid, waits until it is ready
  proxy2_pid="" redis_pid=""
  case $1 in
    drawbridge-2*)  # two replicas on the proxy core, one worker each; Redis for the shared state
      local mode=alone
      if [[ $1 == drawbridge-2 ]]; then
        mode=cluster
        rm -f "$work/redis.sock"
        taskset -c "$load_core" redis-server --port 0 --unixsocket "$work/redis.sock" --unixsocketperm 700 \
          --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
        redis_pid=$!; pids+=("$redis_pid")
        wait_for 100 test -S "$work/redis.sock" || { echo "rollout: redis-server did not start" >&2; exit 1; }
      fi
      taskset -c "$proxy_core" build/drawbridge serve --config "$work/drawbridge-r1-$mode.json" \
        2>"$work/$1-r1.err" &
      proxy_pid=$!
      taskset -c "$proxy_core" build/drawbridge serve --config "$work/drawbridge-r2-$mode.json" \
        2>"$work/$1-r2.err" &
      proxy2_pid=$!; pids+=("$proxy2_pid")
      wait_for 100 http_ok "http://127.0.0.1:$admin_port/readyz" &&
        wait_for 100 http_ok "http://127.0.0.1:$admin_port2/readyz" ;;
    drawbridge*)
      taskset -c "$proxy_core" build/drawbridge serve --config "$work/drawbridge.json" \
        --pid-file "$work/drawbridge.pid" 2>"$work/drawbridge.err" &
      proxy_pid=$!
      wait_for 100 http_ok "http://127.0.0.1:$admin_port/readyz" ;;
    haproxy-reload)  # master-worker: the master re-executes itself on SIGUSR2; the old worker finishes
      rm -f "$work/haproxy.sock"
      taskset -c "$proxy_core" haproxy -W -f "$work/haproxy.cfg" -db >"$work/$1-haproxy.log" 2>&1 &
      proxy_pid=$!
      wait_for 100 test -S "$work/haproxy.sock" && wait_for 100 haproxy_all_up ;;
    haproxy-*)
      rm -f "$work/haproxy.sock"
      taskset -c "$proxy_core" haproxy -f "$work/haproxy.cfg" -db >"$work/$1-haproxy.log" 2>&1 &
      proxy_pid=$!
      wait_for 100 test -S "$work/haproxy.sock" && wait_for 100 haproxy_all_up ;;
    nginx*)
      # By its full path: a binary upgrade (USR2) re-executes argv[0] without searching PATH. It daemonizes
      # (see the config): its master is the pid file's.
      rm -f "$work/nginx.pid"
      taskset -c "$proxy_core" "$(command -v nginx)" -c "$work/nginx.conf" -p "$work" &&
        wait_for 100 test -s "$work/nginx.pid" && proxy_pid=$(cat "$work/nginx.pid") &&
        wait_for 100 http_ok "http://127.0.0.1:$proxy_port/api/v1/health" ;;
  esac || { echo "rollout: $1 did not start" >&2; cat "$work"/*.err "$work"/*haproxy.log 2>/dev/null >&2; exit 1; }
  pids+=("$proxy_pid")
}
stop_proxy() {
  # After a binary upgrade the process serving is another one, named by its pid file.
  local pid_file; for pid_file in "$work/drawbridge.pid" "$work/nginx.pid"; do
    [[ -s $pid_file ]] && kill "$(cat "$pid_file")" 2>/dev/null || true
  done
  kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true
  for pid in $proxy2_pid $redis_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for pid_file in "$work/drawbridge.pid" "$work/nginx.pid"; do wait_for 100 test ! -s "$pid_file" || true; done
}

failed_by_method() {  # run → "POST 502×12, GET 502×1" from the proxy's log of failed requests, where it has one
  local lines=""
  case $1 in
    haproxy-*) lines=$(awk '/^127/ && $NF ~ /HTTP/ && $6 !~ /^2/ { m = $(NF - 2); sub(/"/, "", m); print m, $6 }' \
                         "$work/$1-haproxy.log") ;;
    nginx*) lines=$(awk '$5 != 499 { print $3, $5 }' "$work/nginx-failed.log" 2>/dev/null) ;;  # 499: wrk stopping
  esac
  [[ -n $lines ]] || return 0
  sort <<<"$lines" | uniq -c | sort -rn | awk '{ printf "%s%s %s×%s", (NR > 1 ? ", " : ""), $2, $3, $1 }'
}

declare -A method=([drawbridge]="rollout" [haproxy-drain]="runtime-API drain" [haproxy-restart]="restart only"
                   [nginx]="passive checks" [drawbridge-reload]="config reload (SIGHUP)"
                   [haproxy-reload]="master-worker reload (USR2)" [nginx-reload]="nginx -s reload"
                   [drawbridge-2]="rollout through replica 1 of 2, drains shared through Redis"
                   [drawbridge-2-alone]="rollout through replica 1 of 2, no shared state")
if [[ ${BINARY_UPGRADE:-0} == 1 ]]; then
  method[drawbridge-reload]+=", 1 drawbridge upgrade"
  method[haproxy-reload]+=" (each one re-executes the binary)"
  method[nginx-reload]+=", 1 binary upgrade (USR2, WINCH, QUIT)"
fi
rows=()
now() { date +%s.%N; }
join_notes() { local IFS=';' all; all="${notes[*]:-}"; echo "${all//;/; }"; }
echo "rolling upgrade of 3 nodes (boot ${boot}) under load: wrk ${connections} connections, 30% POST, ${duration};" \
     "upgrade starts at ${upgrade_start}s; proxies on core ${proxy_core}" >&2
for run in $runs; do
  if [[ $versions == 1 ]]; then  # every run starts on version 1 (the run before left version 2)
    for n in "${nodes[@]}"; do
      BOOT=0s NODE_VERSION=1 taskset -c "$load_core" "$work/restart-node" "$n" "${node_address[$n]}" >/dev/null
    done
  fi
  wait_for 100 nodes_healthy || { echo "rollout: nodes not healthy before $run" >&2; exit 1; }
  start_proxy "$run"
  rm -f "$work/$run"-wrk*.out
  if [[ $run == drawbridge-2* ]]; then  # half the connections through each replica
    taskset -c "$load_core" wrk -t1 -c$((connections / 2)) -d"$duration" --latency -s "$work/load.lua" \
      "http://127.0.0.1:$proxy_port2" >"$work/$run-wrk2.out" 2>&1 &
    wrk2_pid=$!; pids+=("$wrk2_pid")
  fi
  if [[ $versions == 1 ]]; then
    taskset -c "$load_core" "$py" bench/browsers.py "http://127.0.0.1:$proxy_port" "$browsers" "${duration%s}" \
      >"$work/$run-wrk.out" 2>&1 &
  else
    taskset -c "$load_core" wrk -t1 -c$([[ $run == drawbridge-2* ]] && echo $((connections / 2)) || echo "$connections") \
      -d"$duration" --latency -s "$work/load.lua" "http://127.0.0.1:$proxy_port" >"$work/$run-wrk.out" 2>&1 &
  fi
  wrk_pid=$!; pids+=("$wrk_pid")
  sleep "$upgrade_start"
  (
    started=$(now)
    taskset -pc "$load_core" "$BASHPID" >/dev/null  # the driver and what it starts (nodes) on the load core
    export NODE_VERSION=2  # VERSIONS=1: each restart brings a node up on version 2
    rc=0; "upgrade_${run//-/_}" || rc=$?
    echo "$rc $(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')" >"$work/$run-upgrade.status"
  ) >"$work/$run-upgrade.log" 2>&1 &
  upgrade_pid=$!; pids+=("$upgrade_pid")
  wait "$wrk_pid" || true
  [[ $run == drawbridge-2* ]] && { wait "$wrk2_pid" || true; }
  notes=()
  if kill -0 "$upgrade_pid" 2>/dev/null; then notes+=("upgrade still running when wrk ended"); fi
  wait "$upgrade_pid" || true
  stop_proxy
  read -r upgrade_rc upgrade_time <"$work/$run-upgrade.status"
  [[ $upgrade_rc == 0 ]] || notes+=("upgrade FAILED (exit $upgrade_rc)")
  if [[ $versions == 1 ]]; then
    result=$(grep '^RESULT' "$work/$run-wrk.out" || true)
    [[ -n $result ]] || { echo "rollout: no result from the browsers for $run:" >&2; cat "$work/$run-wrk.out" >&2; exit 1; }
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }
    [[ -z $(field codes) ]] || notes+=("status $(field codes | sed 's/x/×/g')")
    proxy=${run%%-*}; [[ $proxy == haproxy ]] && proxy=HAProxy
    balance=$([[ $proxy == drawbridge ]] && echo "version affinity" || echo "round robin")
    rows+=("| $proxy | ${method[$run]}, $balance | $(field pages) | $(field calls) | $(field static404) | $(field mismatches) | $(field most_of_one) | $(field failed) | ${upgrade_time}s | $(join_notes) |")
    echo "  $run: $(field pages) page loads, $(field calls) API calls, $(field static404) static 404s," \
         "$(field mismatches) version mismatches (at most $(field most_of_one) for one browser), $(field failed) other failures" >&2
    continue
  fi

  # One wrk, or one per replica: their counts summed.
  result=$(cat "$work/$run"-wrk*.out | awk '/^RESULT/ {
      n++; for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "codes") codes = codes (codes != "" && kv[2] != "" ? "," : "") kv[2]; else sum[kv[1]] += kv[2] } }
    END { if (n) printf "RESULT requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d codes=%s\n",
                        sum["requests"], sum["non2xx"], sum["connect"], sum["read"], sum["write"], sum["timeout"], codes }')
  [[ -n $result ]] || { echo "rollout: no result from wrk for $run:" >&2; cat "$work/$run"-wrk*.out >&2; exit 1; }
  field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }
  requests=$(field requests); non2xx=$(field non2xx); codes=$(field codes)
  socket=$(( $(field connect) + $(field read) + $(field write) + $(field timeout) ))
  by_method=$(failed_by_method "$run")
  if [[ -n $by_method ]]; then notes+=("$by_method"); elif [[ -n $codes ]]; then notes+=("status ${codes//x/×}"); fi
  [[ $socket == 0 ]] || notes+=("connect $(field connect), read $(field read), write $(field write), timeout $(field timeout)")
  proxy=${run%%-*}; [[ $proxy == haproxy ]] && proxy=HAProxy
  # The longest stall a client saw: wrk's maximum latency.
  max_latency=$(awk '$1 == "Latency" { print $4 }' "$work/$run"-wrk*.out | sort -h | tail -1)
  rows+=("| $proxy | ${method[$run]} | $requests | $non2xx | $socket | $((non2xx + socket)) | $max_latency | ${upgrade_time}s | $(join_notes) |")
  echo "  $run: $requests requests, $non2xx non-2xx, $socket socket errors, max latency $max_latency, upgrade ${upgrade_time}s" >&2
done

if [[ $versions == 1 ]]; then
  table=$(
    echo "| proxy | method | page loads | API calls | static 404s | version mismatches | most for one browser | other failures | upgrade | notes |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${rows[@]}"
  )
else
  table=$(
    echo "| proxy | method | requests | non-2xx | socket errors | failed | max latency | upgrade | notes |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${rows[@]}"
  )
fi
echo
echo "$table"
if [[ -n ${BENCH_RESULTS:-} ]]; then  # for scripts/bench's results file
  {
    echo "Rolling upgrade of 3 demo nodes (502 for ${boot} after each start) under wrk -c${connections} -d${duration}"
    echo "(70% GET, 30% POST of 2 KB), upgrade started ${upgrade_start}s in (\`bench/rollout.sh\`). Failed = non-2xx + socket errors."
    echo
    echo "$table"
  } >"$BENCH_RESULTS.rollout.md"
fi
if [[ ${SAVE:-} == 1 && $versions == 1 ]]; then
  mkdir -p bench/results
  out="bench/results/rollout-versions-$(date +%F).md"
  {
    echo "# Mixed-version rolling upgrade, $(date +%F)"
    echo
    echo "3 demo nodes answering as Appsmith version 1 (demo-node --version) restarted one after the other on version 2"
    echo "(502 for ${boot} after each start), while ${browsers} simulated browsers (\`bench/browsers.py\`) load the page, fetch"
    echo "its bundle and make API calls naming their version for ${duration}, reloading on a version-mismatch 400."
    echo "drawbridge with version_affinity; HAProxy and nginx with round robin. One proxy at a time on core ${proxy_core},"
    echo "browsers and nodes on core ${load_core}. $(nproc) cores, $(uname -r). \`VERSIONS=1 bench/rollout.sh\` at"
    echo "$(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty tree)')."
    echo
    echo "$table"
  } >"$out"
  echo "rollout: wrote $out" >&2
elif [[ ${SAVE:-} == 1 ]]; then
  mkdir -p bench/results
  out="bench/results/rollout-$(date +%F).md"
  {
    echo "# Rolling upgrade under load, $(date +%F)"
    echo
    echo "3 demo nodes (502 for ${boot} after each start) restarted one after the other under wrk -t1 -c${connections} -d${duration}"
    echo "(70% GET /api/v1/users/me, 30% POST /upload with 2 KB), upgrade started ${upgrade_start}s in; one proxy at a time"
    echo "on core ${proxy_core} with one worker, wrk and nodes on core ${load_core}. $(nproc) cores, $(uname -r)."
    echo "Failed = non-2xx + socket errors. \`bench/rollout.sh\` at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty tree)')."
    echo
    echo "$table"
  } >"$out"
  echo "rollout: wrote $out" >&2
fi
