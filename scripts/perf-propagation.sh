#!/usr/bin/env bash
# Where the peers' CPU goes during the replication bench's propagation run
# (or, with PHASE=live, its live run: 100 single-block calls per second),
# by thread, from perf (on-CPU samples; a V8 CPU profile of a busy peer
# blames calls that wake other threads, docs/PITFALLS.md). Runs the
# replication part with its peers started with --perf-basic-prof, records
# the whole system with perf from the start of that run to its end, and
# prints scripts/perf-threads.ts's summary of the peers (three; two live).
# Needs perf (Debian: linux-perf) and root or kernel.perf_event_paranoid <= 0.
#
#   bash scripts/perf-propagation.sh [out-dir]              # default /tmp/chainstore-perf
#   PHASE=live bash scripts/perf-propagation.sh [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/chainstore-perf}
mkdir -p "$out"
log="$out/bench.log"
export PATH="$PWD/node_modules/.bin:$PATH"
touch "$out/started"   # the perf maps of this run's processes are newer than it
BENCH_PEER_NODE_FLAGS="--max-semi-space-size=8 --perf-basic-prof" node bench/run.ts --parts replication --name perf-propagation > "$log" 2>&1 &
bench=$!
phase=${PHASE:-propagation}
case "$phase" in
  propagation) start="same-run floor, [0-9]* blocks per call"; stop="replication propagation: CPU per block"; peers=3 ;;
  live) start="blocks/s (1 per call); peer 2 follows"; stop="replication live: CPU per block"; peers=2 ;;
  *) echo "PHASE: propagation or live, not $phase"; exit 2 ;;
esac
until grep -aq "$start" "$log"; do
  kill -0 "$bench" 2> /dev/null || { echo "the bench stopped early: $log"; exit 1; }
  sleep 0.2
done
perf record -e cpu-clock -F 999 -a -g -o "$out/perf.data" > /dev/null 2>&1 &
rec=$!
until grep -aq "$stop" "$log"; do sleep 0.2; done
kill -INT "$rec"
wait "$rec" || true
wait "$bench"
rm -f bench/results/*-perf-propagation.json
grep -a "replication $phase" "$log"
perf script -i "$out/perf.data" -F comm,pid,tid,ip,sym,dso > "$out/perf.txt" 2> /dev/null
# the peers: of the node processes this run started (a perf map newer than
# the marker), the ones with the most main-thread samples
maps=$(find /tmp -maxdepth 1 -name 'perf-*.map' -newer "$out/started")
pids=$(for f in $maps; do p=${f#/tmp/perf-}; echo "${p%.map}"; done | paste -sd'|')
pids=$(grep -aoE "^ *MainThread +($pids)/" "$out/perf.txt" | awk '{print $2}' | cut -d/ -f1 | sort | uniq -c | sort -rn | head -"$peers" | awk '{print $2}' | paste -sd,)
node scripts/perf-threads.ts "$out/perf.txt" "$pids"
# node writes a map of its JIT code per process and never removes it, and
# with --perf-basic-prof a V8 log per process into the working directory
rm -f $maps
find . -maxdepth 1 -name 'isolate-*-v8.log' -newer "$out/started" -delete
