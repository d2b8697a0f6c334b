#!/usr/bin/env bash
# Run every fuzz harness for a bounded time (make fuzz FUZZ_SECONDS=N).
#
# Usage: scripts/fuzz.sh DIR SECONDS NAME...
#   DIR      where `make fuzz-build` put the fuzz_NAME binaries (build/fuzz)
#   SECONDS  per harness
# Each harness starts from its seeds (tests/fuzz/corpus/NAME), its saved
# crashes (tests/fuzz/regress/NAME) and its working corpus from earlier
# runs (DIR/corpus/NAME, not committed). A crash stops the script with
# exit 1 and leaves its input in DIR/crash/; copy it into
# tests/fuzz/regress/NAME/ once fixed, so that `make test` replays it.
# Executions add up, per harness, in DIR/executions.tsv.
# FUZZ_SEED=N fixes libFuzzer's seed: the same build, corpus and seed try
# the same inputs in the same order, so a short run (CI's) passes or fails
# the same way each time. Unset, each run draws its own (printed in the
# log as "INFO: Seed:"), as a long campaign wants.
set -euo pipefail
dir=$1 secs=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/crash"
total=0
for name in "$@"; do
  bin="$dir/fuzz_$name"
  [ -x "$bin" ] || { echo "fuzz.sh: $bin missing: run make fuzz-build (needs clang and libclang-rt-14-dev)" >&2; exit 1; }
  mkdir -p "$dir/corpus/$name"
  dirs=("$dir/corpus/$name")
  for d in "$root/tests/fuzz/corpus/$name" "$root/tests/fuzz/regress/$name"; do
    [ -d "$d" ] && dirs+=("$d")
  done
  log="$dir/$name.log"
  seed=()
  [ -n "${FUZZ_SEED:-}" ] && seed=(-seed="$FUZZ_SEED")
  rc=0
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  "$bin" -max_total_time="$secs" -print_final_stats=1 ${seed[@]+"${seed[@]}"} -timeout=30 -rss_limit_mb=4096 \
    -artifact_prefix="$dir/crash/$name-" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  prev=$(awk -v n="$name" '$1 == n { s += $2 } END { print s + 0 }' "$dir/executions.tsv" 2>/dev/null || echo 0)
  printf '%s\t%s\n' "$name" "$execs" >>"$dir/executions.tsv"
  printf '  FUZZ    %-9s %10s executions in %s s (%s in all runs here)\n' "$name" "$execs" "$secs" "$((prev + execs))"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz.sh: fuzz_$name failed (exit $rc); its log is $log:" >&2
    grep -E 'INFO: Seed|ERROR|fuzz: |SUMMARY|Test unit written|runtime error' "$log" | head -20 >&2
    exit 1
  fi
  total=$((total + execs))
done
echo "fuzz: $# harnesses, $total executions, no crash"
