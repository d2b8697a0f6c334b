#!/usr/bin/env bash
# Replay throughput, logging overhead and replayer memory
# (tests/bench/bench_replay.c):
# `spanlab replay` on every bundled trace and on a synthetic 10 M-op trace
# (`spanlab gen uniform --ops 5000000`: 5 M mallocs and 5 M frees of 16..512
# bytes, ~625k live objects), through the Go core (no --db) and through
# each installed baseline (--allocator glibc, jemalloc, mimalloc, tcmalloc:
# the same replayer), interleaved, median of REPS (default 5) with min..max,
# ratio to glibc's median in the same run; then the Go core with --db
# against without: process elapsed ratio, CPU ratios, rows/s, CPU per row.
# The throughput runs take a snapshot every 1,000,000 ops (the observer out
# of the way: glibc's mallinfo2 walks the whole heap at each); the logging
# runs use the default (~2,000 snapshots per trace). The synthetic trace is
# judged against the best peer (@peer), the bundled ones against glibc.
# The Go core's throughput runs also give the replayer's peak RSS (wait4),
# against the model's peak Ready bytes: target RSS <= 1.1 x Ready + 64 MiB.
#
# Usage: scripts/bench.d/50-replay.sh [--smoke] OUT.json
#   writes OUT.json and OUT's .targets.tsv (one line per target)
set -euo pipefail
cd "${SPANLAB_ROOT:-$(dirname "$0")/../..}"
smoke=0
if [ "${1:-}" = "--smoke" ]; then smoke=1; shift; fi
out=${1:?usage: 50-replay.sh [--smoke] OUT.json}
bin=build/spanlab
drv=build/release/bench/bench_replay
[ -x "$bin" ] && [ -x "$drv" ] || make --no-print-directory VARIANT=release bench-build >/dev/null
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ $smoke -eq 1 ]; then
  reps=1
  "$bin" gen uniform --ops 20000 --seed 1 -o "$tmp/uniform-40k.slt"
  traces=(traces/data/go-wordtree.slt "$tmp/uniform-40k.slt@peer")
else
  reps=${REPS:-5}
  "$bin" gen uniform --ops 5000000 --seed 1 -o "$tmp/uniform-10M.slt"
  traces=(traces/data/*.slt "$tmp/uniform-10M.slt@peer")
fi
echo "command: $drv --bin $bin --reps $reps ${traces[*]##*/}"
"$drv" --bin "$bin" --reps "$reps" --json "$out" --targets "${out%.json}.targets.tsv" "${traces[@]}"
