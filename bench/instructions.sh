#!/usr/bin/env bash
# The instructions drawbridge executes per small keep-alive GET, counted by callgrind: a cost that does
# not drift with the machine's speed, so two builds can be compared where scripts/bench's wall-clock
# ratios are too noisy to see a few percent. Not part of scripts/bench (valgrind is slow).
#
#   bench/instructions.sh [TREE...]   each TREE (default: .) must have build/drawbridge and build/demo-node
#
# For each tree: one worker in front of one demo node, 300 GETs to warm up on one keep-alive connection,
# then the counters are zeroed and 2,000 more GETs counted; prints instructions per GET.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps --bench
requests=2000
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

measure() {
  local tree=$1 work node vg node_port proxy_port
  [[ -x $tree/build/drawbridge && -x $tree/build/demo-node ]] || { echo "$tree: build/drawbridge or build/demo-node missing" >&2; return 1; }
  work=$(mktemp -d /tmp/drawbridge-instructions.XXXXXX)
  node_port=$(free_port)
  proxy_port=$(free_port)
  "$tree/build/demo-node" --name n1 --listen "127.0.0.1:$node_port" >"$work/node.log" 2>&1 &
  node=$!
  cat >"$work/config.json" <<JSON
{"workers": 1, "listeners": [{"address": "127.0.0.1:$proxy_port"}], "access_log": {"path": "off"},
 "log_level": "warn", "upstreams": [{"name": "app", "nodes": [{"name": "n1", "address": "127.0.0.1:$node_port"}]}]}
JSON
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p" "$tree/build/drawbridge" serve \
    --config "$work/config.json" >"$work/proxy.log" 2>&1 &
  vg=$!
  for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$proxy_port/" && break; sleep 0.2; done
  gets() {
    python3 - "$proxy_port" "$1" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    c.request("GET", "/api/v1/users/me")
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
PY
  }
  gets 300
  callgrind_control -z "$vg" >/dev/null 2>&1
  gets "$requests"
  callgrind_control -d "$vg" >/dev/null 2>&1  # the first dump: what the counted GETs cost
  kill "$vg" "$node"
  wait "$vg" "$node" 2>/dev/null || true
  local total
  total=$(callgrind_annotate "$(ls "$work"/callgrind.*.1)" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  printf '%s (%s): %d instructions per GET\n' "$tree" "$(git -C "$tree" rev-parse --short HEAD)" $((total / requests))
  rm -rf "$work"
}

for tree in "${@:-.}"; do measure "$tree"; done
