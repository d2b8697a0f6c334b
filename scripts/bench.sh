#!/usr/bin/env bash
# spanlab benchmarks: runs every scripts/bench.d/NN-*.sh in order.
#
# Each part measures its figures as medians of >= 5 runs (min..max), compares
# against a baseline measured in the same run, prints its table on stdout and
# writes results/bench/<part>.json. This driver then merges the parts into
# results/bench.json. Timings never live in the test suite; `make test` only
# runs `scripts/bench.sh --smoke` (tiny sizes, one repetition) to prove the
# benchmarks still run.
#
# Usage: scripts/bench.sh [--smoke] [PART...]   (PART: e.g. core, recorder)
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=
parts=()
for a in "$@"; do
  case "$a" in
    --smoke) smoke=--smoke ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) parts+=("$a") ;;
  esac
done
export SPANLAB_ROOT=$PWD
out=results/bench
mkdir -p "$out"
status=0
for f in scripts/bench.d/*.sh; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .sh); name=${name#*-}
  if [ ${#parts[@]} -gt 0 ] && ! printf '%s\n' "${parts[@]}" | grep -qx "$name"; then continue; fi
  echo "== $name"
  if ! bash "$f" $smoke "$out/$name.json"; then
    echo "bench.sh: part '$name' failed" >&2
    status=1
  fi
done
# results/bench.json: {"part": {...}, ...}
{
  echo "{"
  first=1
  for j in "$out"/*.json; do
    [ -e "$j" ] || continue
    [ $first -eq 1 ] || echo ","
    first=0
    printf '"%s": ' "$(basename "$j" .json)"
    cat "$j"
  done
  echo "}"
} > results/bench.json
echo "wrote results/bench.json"
exit $status
