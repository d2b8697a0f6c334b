#!/usr/bin/env bash
# Recorder overhead: CPU per event that `spanlab record` adds to a
# malloc-heavy program (tests/bench/bench_churn.c), against the untraced run,
# and bytes per event of each bundled trace.
#
# Per repetition, interleaved: the untraced program (its CPU from bash's
# `time`, ms resolution), then the recorded one (spanlab record's summary
# gives the program's CPU from wait4 and the recorder's own from getrusage).
#   program ns/event = (program CPU traced - CPU untraced) / events
#   total ns/event   = (program CPU traced + recorder CPU - CPU untraced) / events
# The program figure is what recording costs the traced program; the total
# adds the merger, which runs on the other core. Reported: median and
# min..max over the repetitions, single-threaded, then with 2 threads
# (indicative only: measurements.md 1.5 says 2-thread timings here are not
# trustworthy, and the merger then competes for a core).
#
# Usage: 20-recorder.sh [--smoke] OUT.json   (run by scripts/bench.sh)
set -euo pipefail
cd "${SPANLAB_ROOT:-$(dirname "$0")/../..}"
smoke=0
[ "${1:-}" = --smoke ] && { smoke=1; shift; }
out=${1:-results/bench/recorder.json}
spanlab=build/spanlab
churn=build/release/bench/bench_churn
for f in "$spanlab" "$churn" build/libspanlab-record.so; do
  [ -x "$f" ] || [ -f "$f" ] || { echo "20-recorder: $f missing (make bench-build)" >&2; exit 1; }
done
if [ $smoke -eq 1 ]; then n=200000; reps=1; else n=${RECORDER_BENCH_EVENTS:-10000000}; reps=${RECORDER_BENCH_REPS:-7}; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# cpu_untraced THREADS -> seconds (user + sys)
cpu_untraced() {
  local TIMEFORMAT='%3U %3S' t
  t=$( { time "$churn" "$n" "$1" > /dev/null; } 2>&1 )
  awk '{ printf "%.3f", $1 + $2 }' <<< "$t"
}

# traced THREADS -> "events program_cpu recorder_cpu bytes"
traced() {
  local line
  # a failed or cut-short recording has no figures: fail, never average it
  line=$("$spanlab" record -o "$tmp/churn.slt" -- "$churn" "$n" "$1" 2>&1 >/dev/null | grep '^spanlab record: ') || {
    echo "20-recorder: spanlab record failed" >&2; return 1; }
  case $line in *"cut short"*) echo "20-recorder: $line" >&2; return 1 ;; esac
  sed -E 's/.*: ([0-9]+) events, [0-9]+ threads, ([0-9]+) bytes.*CPU: program ([0-9.]+) s, recorder ([0-9.]+) s.*/\1 \3 \4 \2/' <<< "$line"
}

# median / min / max of stdin numbers
stats() { sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f %.1f %.1f\n", m, v[1], v[NR] }'; }

json_parts=()
for threads in 1 2; do
  : > "$tmp/prog" ; : > "$tmp/total"; : > "$tmp/merger"; : > "$tmp/bpe"
  for ((i = 0; i < reps; i++)); do
    u=$(cpu_untraced "$threads")
    rec=$(traced "$threads") || exit 1
    read -r ev pc rc bytes <<< "$rec"
    awk -v u="$u" -v p="$pc" -v r="$rc" -v e="$ev" -v b="$bytes" -v d="$tmp" 'BEGIN {
      printf "%.3f\n", (p - u) * 1e9 / e >> (d "/prog");
      printf "%.3f\n", (p + r - u) * 1e9 / e >> (d "/total");
      printf "%.3f\n", r * 1e9 / e >> (d "/merger");
      printf "%.3f\n", b / e >> (d "/bpe") }'
  done
  read -r pm plo phi < <(stats < "$tmp/prog")
  read -r tm tlo thi < <(stats < "$tmp/total")
  read -r mm mlo mhi < <(stats < "$tmp/merger")
  bpe=$(stats < "$tmp/bpe" | awk '{ print $1 }')
  printf '%d thread(s), %d ops x %d reps: program +%s ns/event [%s..%s], merger %s [%s..%s], total +%s [%s..%s]\n' \
    "$threads" "$n" "$reps" "$pm" "$plo" "$phi" "$mm" "$mlo" "$mhi" "$tm" "$tlo" "$thi"
  [ "$threads" = 1 ] && { prog1=$pm; total1=$tm; }
  json_parts+=("\"threads_$threads\": {\"ops\": $n, \"reps\": $reps, \"program_ns_per_event\": {\"median\": $pm, \"min\": $plo, \"max\": $phi}, \"merger_ns_per_event\": {\"median\": $mm, \"min\": $mlo, \"max\": $mhi}, \"total_ns_per_event\": {\"median\": $tm, \"min\": $tlo, \"max\": $thi}, \"bytes_per_event\": $bpe}")
done

# Bytes per event of the bundled traces (what `spanlab info` reports).
bundled=()
bpe_max=0
for t in traces/data/*.slt; do
  [ -e "$t" ] || continue
  b=$("$spanlab" info --json "$t" | tr -d ' \n\t' | sed -E 's/.*"bytes_per_event":([0-9.]+).*/\1/')
  bpe_max=$(awk -v a="$b" -v m="$bpe_max" 'BEGIN { printf "%.2f", (a > m ? a : m) }')
  printf '  %-22s %s B/event\n' "$(basename "$t")" "$b"
  bundled+=("\"$(basename "$t" .slt)\": $b")
done

# The targets (docs/performance.md), for bench.sh to judge: one thread,
# the program's and the total CPU per event over the untraced program
# (<= 30 ns), and the bundled traces' largest bytes per event (<= 6).
tsv=${out%.json}.targets.tsv
mkdir -p "$(dirname "$out")"
{
  printf 'recorder program ns/event over untraced (1 thread, median)\t%s\t30\t%s\n' "$prog1" \
    "$(awk -v a="$prog1" 'BEGIN { print (a <= 30 ? "yes" : "no") }')"
  printf 'recorder total ns/event incl. merger (1 thread, median)\t%s\t30\t%s\n' "$total1" \
    "$(awk -v a="$total1" 'BEGIN { print (a <= 30 ? "yes" : "no") }')"
  printf 'recorder bytes/event, largest bundled trace\t%s\t6\t%s\n' "$bpe_max" \
    "$(awk -v a="$bpe_max" 'BEGIN { print (a <= 6 ? "yes" : "no") }')"
} > "$tsv"

{
  printf '{'
  (IFS=,; printf '%s' "${json_parts[*]}")
  printf ', "bundled_bytes_per_event": {'
  (IFS=,; printf '%s' "${bundled[*]}")
  printf '}}\n'
} > "$out"
