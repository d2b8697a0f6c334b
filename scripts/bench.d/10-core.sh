#!/usr/bin/env bash
# Core benchmark: malloc+free pairs of random sizes 8..512 B with a 10,000
# object live window, through the allocator core (one P; gc and immediate
# free policies) and through glibc malloc in the same binary
# (tests/bench/bench_core.c; measurements.md 1.2's loop).
#
#   ns/pair   median [min..max] of REPS runs of PAIRS pairs, the modes
#             interleaved (null glibc gc immediate, null glibc ...); the
#             "null" mode is the harness alone. Ratio = mode / glibc.
#   instr     instructions per pair under valgrind --tool=callgrind: the
#             difference between a run of 2N and one of N pairs, over N,
#             so set-up and the fill cancel; "alloc" subtracts the null
#             harness. Exact and repeatable on a noisy machine.
#   peers     mimalloc, jemalloc and tcmalloc (gperftools, minimal) run the
#             glibc mode with LD_PRELOAD when their Debian libraries are
#             installed (scripts/deps.sh --extra), for an in-run baseline.
#
# Writes OUT.json and OUT's .targets.tsv (bench.sh judges the targets).
# Usage: scripts/bench.d/10-core.sh [--smoke] OUT.json
set -euo pipefail
cd "${SPANLAB_ROOT:-$(dirname "$0")/../..}"
smoke=0
if [ "${1:-}" = "--smoke" ]; then smoke=1; shift; fi
out=${1:?usage: 10-core.sh [--smoke] OUT.json}
bin=build/release/bench/bench_core
[ -x "$bin" ] || { echo "10-core.sh: $bin missing (make bench-build)" >&2; exit 1; }

if [ $smoke -eq 1 ]; then reps=1; pairs=200000; cg_n=20000; else reps=${REPS:-7}; pairs=${PAIRS:-20000000}; cg_n=1000000; fi
modes="null glibc gc immediate"
libdir=/usr/lib/x86_64-linux-gnu
declare -A preload=([mimalloc]=$libdir/libmimalloc.so.2 [jemalloc]=$libdir/libjemalloc.so.2
                    [tcmalloc]=$libdir/libtcmalloc_minimal.so.4)
for peer in mimalloc jemalloc tcmalloc; do
  [ -e "${preload[$peer]}" ] && modes+=" $peer"
done
# run MODE ARGS...: the binary in MODE (peers: glibc mode with LD_PRELOAD)
run() {
  local m=$1; shift
  case $m in
    mimalloc|jemalloc|tcmalloc) LD_PRELOAD=${preload[$m]} "$@" ;;
    *) "$@" ;;
  esac
}
binmode() { case $1 in mimalloc|jemalloc|tcmalloc) echo glibc ;; *) echo "$1" ;; esac; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for r in $(seq 1 "$reps"); do
  for m in $modes; do
    run "$m" "$bin" "$(binmode "$m")" "$pairs" 2>/dev/null | awk '{print $3}' >> "$tmp/$m.ns"
  done
done

stat3() { sort -g "$1" | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f %.2f %.2f\n", m, v[1], v[NR]}'; }

instr() {   # instructions per pair for mode $1
  local a b
  local bm
  bm=$(binmode "$1")
  a=$(run "$1" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$bm" "$cg_n" 2>&1 | awk '/Collected/{print $4}')
  b=$(run "$1" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$bm" $((2 * cg_n)) 2>&1 | awk '/Collected/{print $4}')
  # a run that failed under callgrind has no count: fail, never print 0.0
  if [ -z "$a" ] || [ -z "$b" ]; then
    echo "10-core: callgrind of mode $1 gave no instruction count" >&2
    return 1
  fi
  awk -v a="$a" -v b="$b" -v n="$cg_n" 'BEGIN{printf "%.1f", (b - a) / n}'
}

have_vg=0
command -v valgrind >/dev/null 2>&1 && have_vg=1
declare -A med lo hi ins
for m in $modes; do
  read -r med[$m] lo[$m] hi[$m] < <(stat3 "$tmp/$m.ns")
  if [ $have_vg -eq 1 ]; then ins[$m]=$(instr "$m") || exit 1; else ins[$m]=null; fi
done

printf '%-10s %12s %20s %8s %12s %12s\n' mode ns/pair "[min..max]" ratio instr/pair "alloc instr"
json="{\"reps\": $reps, \"pairs\": $pairs, \"callgrind_pairs\": $cg_n, \"modes\": {"
first=1
for m in $modes; do
  ratio=$(awk -v a="${med[$m]}" -v g="${med[glibc]}" 'BEGIN{printf "%.2f", a / g}')
  if [ "${ins[$m]}" != null ]; then
    net=$(awk -v a="${ins[$m]}" -v z="${ins[null]}" 'BEGIN{printf "%.1f", a - z}')
  else net=null; fi
  printf '%-10s %12s %20s %8s %12s %12s\n' "$m" "${med[$m]}" "[${lo[$m]}..${hi[$m]}]" "$ratio" "${ins[$m]}" "$net"
  [ $first -eq 1 ] || json+=", "
  first=0
  json+="\"$m\": {\"ns_per_pair_median\": ${med[$m]}, \"ns_min\": ${lo[$m]}, \"ns_max\": ${hi[$m]}, \"ratio_to_glibc\": $ratio, \"instr_per_pair\": ${ins[$m]}, \"alloc_instr_per_pair\": $net}"
done
json+="}}"
echo "$json" > "$out"
# The targets (docs/performance.md): the gc core's instructions per pair
# below every peer measured in this run, and its ns per pair below glibc's.
tsv=${out%.json}.targets.tsv
: > "$tsv"
if [ "${ins[gc]}" != null ]; then
  best=; best_m=
  for m in $modes; do
    case $m in null|gc|immediate) continue ;; esac
    if [ -z "$best" ] || awk -v a="${ins[$m]}" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=${ins[$m]}; best_m=$m; fi
  done
  printf 'core instructions per pair below every peer (best: %s)\t%s\t%s\t%s\n' "$best_m" "${ins[gc]}" "$best" \
    "$(awk -v a="${ins[gc]}" -v b="$best" 'BEGIN { print (a < b ? "yes" : "no") }')" >> "$tsv"
fi
printf 'core ns per pair below glibc (median)\t%s\t%s\t%s\n' "${med[gc]}" "${med[glibc]}" \
  "$(awk -v a="${med[gc]}" -v b="${med[glibc]}" 'BEGIN { print (a < b ? "yes" : "no") }')" >> "$tsv"
echo "(instr: callgrind, (I(2N) - I(N)) / N with N = $cg_n; alloc instr = mode - null harness)"
