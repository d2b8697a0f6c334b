#!/usr/bin/env bash
# spanlab benchmarks: runs every scripts/bench.d/NN-*.sh in order.
#
# Each part measures its figures as medians of >= 5 runs (min..max), compares
# against a baseline measured in the same run, prints its table on stdout and
# writes OUT/bench/<part>.json; a part with targets also writes
# OUT/bench/<part>.targets.tsv, one line per target: name, measured, limit,
# met (yes/no), tab-separated. This driver then prints every target in one
# table and merges the parts, the targets and the run's provenance (commit,
# machine, date, command) into OUT/bench.json. OUT is results/ (--smoke:
# results/smoke/, so a smoke run never overwrites real figures).
#
# Timings never live in the test suite; `make test` only runs
# `scripts/bench.sh --smoke` (tiny sizes, one repetition) to prove the
# benchmarks still run.
#
# Usage: scripts/bench.sh [--smoke] [--out DIR] [PART...]   (PART: e.g. core, replay)
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
smoke=
outdir=
parts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=--smoke ;;
    --out) outdir=${2:?--out needs a directory}; shift
           case $outdir in /*) ;; *) outdir=$caller/$outdir ;; esac ;;	# from where it was run
    -h|--help) sed -n '2,18p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^set -euo/d'; exit 0 ;;
    *) parts+=("$1") ;;
  esac
  shift
done
[ -n "$outdir" ] || outdir=results${smoke:+/smoke}
# A part named that does not exist is a mistake to say before anything is
# deleted (it wiped the last results and exited 0).
known=$(for f in scripts/bench.d/*.sh; do n=$(basename "$f" .sh); echo "${n#*-}"; done)
for p in ${parts[@]+"${parts[@]}"}; do
  printf '%s\n' "$known" | grep -qx -- "$p" || { echo "bench.sh: no part '$p' (parts: $(echo $known))" >&2; exit 2; }
done
export SPANLAB_ROOT=$PWD
out=$outdir/bench
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.targets.tsv
status=0
start=$(date +%s)
part_secs=""
# The machine's load before and after: timings on a busy machine are
# judged by it (docs/performance.md).
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
for f in scripts/bench.d/*.sh; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .sh); name=${name#*-}
  if [ ${#parts[@]} -gt 0 ] && ! printf '%s\n' "${parts[@]}" | grep -qx "$name"; then continue; fi
  echo "== $name"
  t0=$(date +%s)
  if ! bash "$f" $smoke "$out/$name.json"; then
    echo "bench.sh: part '$name' failed" >&2
    status=1
  fi
  t=$(( $(date +%s) - t0 ))
  echo "($name: $t s)"
  part_secs+="${part_secs:+, }\"$name\": $t"
done
secs=$(( $(date +%s) - start ))
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

# Every target of every part, in one table.
tsvs=("$out"/*.targets.tsv)
if [ -e "${tsvs[0]}" ]; then
  echo "== targets"
  cat "${tsvs[@]}" | awk -F'\t' '{ printf "%-62s %14s %14s  %s\n", $1, $2, $3, ($4 == "yes" ? "met" : "MISSED") }'
fi

# OUT/bench.json: {"meta": {...}, "targets": [...], "part": {...}, ...}
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
{
  echo "{"
  printf '"meta": {"command": %s, "smoke": %s, "seconds": %d, "part_seconds": {%s}, "date": %s, "commit": %s, "machine": %s, "cpus": %s, "loadavg_before": %s, "loadavg_after": %s},\n' \
    "$(jstr "scripts/bench.sh $smoke ${parts[*]:-}")" "$([ -n "$smoke" ] && echo true || echo false)" "$secs" "$part_secs" \
    "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(jstr "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo -dirty)")" \
    "$(jstr "$(uname -srm)")" "$(nproc)" "$(jstr "$load0")" "$(jstr "$load1")"
  echo '"targets": ['
  if [ -e "${tsvs[0]}" ]; then
    cat "${tsvs[@]}" | awk -F'\t' 'NR > 1 { printf ",\n" }
      { gsub(/"/, "\\\"", $1); printf "{\"target\": \"%s\", \"measured\": \"%s\", \"limit\": \"%s\", \"met\": %s}", $1, $2, $3, ($4 == "yes" ? "true" : "false") }'
    echo
  fi
  echo "]"
  for j in "$out"/*.json; do
    [ -e "$j" ] || continue
    printf ',"%s": ' "$(basename "$j" .json)"
    cat "$j"
  done
  echo "}"
} > "$outdir/bench.json"
echo "wrote $outdir/bench.json (${secs} s; load average $load0 before, $load1 after, $(nproc) CPUs)"
exit $status
