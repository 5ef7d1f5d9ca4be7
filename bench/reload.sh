#!/usr/bin/env bash
# Configuration reloads under load, side by side: drawbridge (SIGHUP), HAProxy (master-worker, SIGUSR2)
# and nginx (nginx -s reload), each reloading every 2 s during 30 s of wrk with 64 keep-alive connections
# (70% GET, 30% POST of 2 KB) in front of 3 demo nodes, alternating two configs that differ in a weight.
# The middle reload is a binary upgrade instead (BINARY_UPGRADE=0: reloads only): `drawbridge upgrade`,
# nginx's USR2/WINCH/QUIT; HAProxy's master re-executes its binary on every reload anyway.
# Reports failed requests and the longest stall (wrk's maximum latency). The harness is bench/rollout.sh's.
#   bench/reload.sh          RELOAD_EVERY=2 DURATION=30s CONNECTIONS=64 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-drawbridge-reload haproxy-reload nginx-reload}" DURATION="${DURATION:-30s}" UPGRADE_START="${UPGRADE_START:-1}" \
  BINARY_UPGRADE="${BINARY_UPGRADE:-1}" \
  exec bench/rollout.sh "$@"
