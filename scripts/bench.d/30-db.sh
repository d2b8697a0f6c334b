#!/usr/bin/env bash
# SQLite event log: rows/s through the sink (writer thread, batched
# INSERT ... SELECT), next to single-row and 64-row INSERT baselines on the
# same rows in the same run, the index build, and the loop overhead of a
# replay-like loop (~1 us of work per event). Median of 5 runs, min..max.
# See tests/bench/bench_db.c for what each figure times.
#
# Usage: scripts/bench.d/30-db.sh [--smoke] OUT.json
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=()
out=
for a in "$@"; do
  case "$a" in
    --smoke) smoke=(--smoke) ;;
    *) out=$a ;;
  esac
done
[ -n "$out" ] || { echo "usage: $0 [--smoke] OUT.json" >&2; exit 2; }
bin=build/release/bench/bench_db
[ -x "$bin" ] || make --no-print-directory VARIANT=release bench-build >/dev/null
mkdir -p "$(dirname "$out")"
"$bin" "${smoke[@]}" --json "$out"
