#!/usr/bin/env bash
# Where the peers' CPU goes during the replication bench's propagation run
# (or, with PHASE=live, its live run: 100 single-block calls per second),
# by thread, from perf (on-CPU samples; a V8 CPU profile of a busy peer
# blames calls that wake other threads, docs/PITFALLS.md). Runs the
# replication part with its peers started with --perf-prof (a jitdump of
# every piece of JIT code, which `perf inject --jit` resolves by time: with
# --perf-basic-prof's map, code V8 moved or freed is named after whatever
# last sat at that address), records the whole system with perf from the
# start of that run to its end, and prints scripts/perf-threads.ts's
# summary of the peers (three; two live).
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
touch "$out/started"   # the jitdumps of this run's processes are newer than it
BENCH_PEER_NODE_FLAGS="--max-semi-space-size=8 --perf-prof" node bench/run.ts --parts replication --name perf-propagation > "$log" 2>&1 &
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
# -k 1: the monotonic clock the jitdumps are stamped with
perf record -k 1 -e cpu-clock -F 999 -a -g -o "$out/perf.data" > /dev/null 2>&1 &
rec=$!
until grep -aq "$stop" "$log"; do sleep 0.2; done
kill -INT "$rec"
wait "$rec" || true
wait "$bench"
rm -f bench/results/*-perf-propagation.json
grep -a "replication $phase" "$log"
# the peers write their jitdumps into the working directory; inject writes a
# small .so per piece of code beside each
perf inject --jit -i "$out/perf.data" -o "$out/perf.jit.data" > /dev/null 2>&1
perf script -i "$out/perf.jit.data" -F comm,pid,tid,ip,sym,dso > "$out/perf.txt" 2> /dev/null
# the peers: of the node processes this run started (a jitdump newer than
# the marker), the ones with the most main-thread samples
dumps=$(find . -maxdepth 1 -name 'jit-*.dump' -newer "$out/started")
pids=$(for f in $dumps; do p=${f#./jit-}; echo "${p%.dump}"; done | paste -sd'|')
pids=$(grep -aoE "^ *MainThread +($pids)/" "$out/perf.txt" | awk '{print $2}' | cut -d/ -f1 | sort | uniq -c | sort -rn | head -"$peers" | awk '{print $2}' | paste -sd,)
node scripts/perf-threads.ts "$out/perf.txt" "$pids"
# node never removes its jitdumps, nor the V8 log --perf-prof makes per process
find . -maxdepth 1 \( -name 'jit-*.dump' -o -name 'jitted-*.so' -o -name 'isolate-*-v8.log' \) -newer "$out/started" -delete
