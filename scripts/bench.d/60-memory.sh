#!/usr/bin/env bash
# Replayer peak memory (tests/bench/bench_replay.c --memory): the peak RSS
# of `spanlab replay` (the Go core, no --db; wait4's ru_maxrss) on every
# bundled trace and on the synthetic 10 M-op trace of 50-replay.sh, against
# the model's peak Ready bytes from the same run. Target: RSS <= 1.1 x
# Ready + 64 MiB (the replayer's own tables, the trace reader and the
# binary fit in the 64 MiB). Median of REPS (default 5) with min..max.
#
# Usage: scripts/bench.d/60-memory.sh [--smoke] OUT.json
set -euo pipefail
cd "${SPANLAB_ROOT:-$(dirname "$0")/../..}"
smoke=0
if [ "${1:-}" = "--smoke" ]; then smoke=1; shift; fi
out=${1:?usage: 60-memory.sh [--smoke] OUT.json}
bin=build/spanlab
drv=build/release/bench/bench_replay
[ -x "$bin" ] && [ -x "$drv" ] || make --no-print-directory VARIANT=release bench-build >/dev/null
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ $smoke -eq 1 ]; then
  reps=1
  "$bin" gen uniform --ops 20000 --seed 1 -o "$tmp/uniform-40k.slt"
  traces=(traces/data/git.slt "$tmp/uniform-40k.slt")
else
  reps=${REPS:-5}
  "$bin" gen uniform --ops 5000000 --seed 1 -o "$tmp/uniform-10M.slt"
  traces=(traces/data/*.slt "$tmp/uniform-10M.slt")
fi
echo "command: $drv --bin $bin --reps $reps --memory ${traces[*]##*/}"
"$drv" --bin "$bin" --reps "$reps" --memory --json "$out" --targets "${out%.json}.targets.tsv" "${traces[@]}"
