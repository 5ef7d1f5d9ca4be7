#!/usr/bin/env bash
# Heap allocations per small proxied GET in drawbridge: uprobes on the allocator it runs with (tcmalloc's
# operator new and new[], the aligned operator new, aligned_alloc, malloc, calloc, realloc and
# posix_memalign), counted by perf over a wrk run, as bench/per_request.sh lays it out. The probes slow
# drawbridge down a great deal, which changes the counts per request but little. The figures
# bench/in-the-way.md reasons with; not part of scripts/bench. Needs root and a perf that can place uprobes. For where they come from, record the same events with a call graph:
#   perf record -e 'probe_drawbridge_alloc:*' --call-graph dwarf,8192 -p PID
#
#   bench/allocations.sh          DURATION=3s CONNECTIONS=64 by default; QUOTA=N as for the other scripts
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-3s}
connections=${CONNECTIONS:-64}

source bench/common.sh
require_built drawbridge

write_configs
start_processes
wait_up http / upstream nginx haproxy drawbridge
pid=${pids[3]}

command -v perf >/dev/null || { echo "allocations: needs perf (scripts/install-deps --bench installs it)" >&2; exit 1; }
library=$(awk '$6 ~ /libtcmalloc/ { print $6; exit }' "/proc/$pid/maps")
if [[ -z $library ]]; then
  echo "allocations: drawbridge does not run with tcmalloc here; nothing to probe" >&2
  exit 1
fi
group=probe_drawbridge_alloc
remove_probes() { perf probe -q -d "$group:*" 2>/dev/null || true; }
remove_probes
trap 'remove_probes; cleanup' EXIT
# By address: operator new and operator new[] share one, and perf names it either way.
for pair in new:_Znwm new_aligned:_ZnwmSt11align_val_t aligned_alloc:aligned_alloc malloc:malloc calloc:calloc \
  realloc:realloc posix_memalign:posix_memalign; do
  address=$(nm -D "$library" | awk -v s="${pair#*:}" '$3 == s && !found { print "0x" $1; found = 1 }')  # no early exit: pipefail
  if [[ -n $address ]] && ! perf probe -q -x "$library" -a "$group:${pair%%:*}=$address"; then
    echo "allocations: perf could not place a uprobe on ${pair#*:} (it needs root)" >&2
    exit 1
  fi
done

requests=$(perf_stat_during_get "$pid" "$work/perf.allocs" "$drawbridge_port" -e "$group:*")
echo "drawbridge heap allocations per small GET (${requests} requests, ${connections} connections):"
awk -v r="$requests" -v g="$group:" '$2 ~ g { gsub(",", "", $1); sub(g, "", $2); printf "  %-14s %6.2f\n", $2, $1 / r; total += $1 }
     END { printf "  %-14s %6.2f\n", "in all", total / r }' "$work/perf.allocs"
