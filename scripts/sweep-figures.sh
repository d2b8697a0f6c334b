#!/usr/bin/env bash
# The figures of the sweeps in a spanlab results database (spanlab sweep).
# For each sweep in DB (or only SWEEP_ID), in OUTDIR, ID made file-safe:
#   sweep-ID-frag.{png,pdf}   internal fragmentation at peak live, J&W #3 and
#                             #4 (M = heap in-use) against the swept
#                             parameter, one line per trace
#   sweep-ID-heap.{png,pdf}   peak heap in-use and peak Ready bytes against
#                             the number of size classes
#   sweep-ID-cache.{png,pdf}  mcache hit rate and refills against the number
#                             of size classes
#   sweep-ID-jw4.{csv,tex,png,pdf}  the classic fragmentation table: J&W #4,
#                             rows = configurations, columns = traces, and
#                             the mean over the traces (CSV with a header
#                             row; a booktabs tabular for LaTeX)
# Data goes from the sqlite3 CLI straight into gnuplot
# (analysis/plots/sweep_*.gp); PNG for review, PDF for papers, both black
# and white; any gnuplot warning fails the script. Only complete runs
# count; repeats are averaged. A database without a sweep is not an error:
# there is nothing to draw (exit 0).
#
# Usage: scripts/sweep-figures.sh DB OUTDIR [SWEEP_ID]
set -euo pipefail

die() { echo "sweep-figures: $*" >&2; exit 1; }
[ $# -ge 2 ] && [ $# -le 3 ] || { echo "usage: scripts/sweep-figures.sh DB OUTDIR [SWEEP_ID]" >&2; exit 2; }
for tool in sqlite3 gnuplot; do
  command -v "$tool" >/dev/null 2>&1 || die "needs $tool (scripts/deps.sh installs it)"
done
[ -f "$1" ] || { echo "sweep-figures: $1: no such database" >&2; exit 2; }
db=$(realpath "$1")
want=${3-}
# A relative OUTDIR is the caller's: the plots are read from the tree (or
# the install's share/spanlab) after this cd.
case $2 in /*) out=$2 ;; *) out=$PWD/$2 ;; esac
cd "$(dirname "$0")/.."

# Read-only: drawing never changes the database.
sql() { sqlite3 -readonly -batch "$db" "$@"; }
sql "SELECT count(*) FROM sqlite_schema" >/dev/null 2>&1 || { echo "sweep-figures: $db: not a readable SQLite database" >&2; exit 2; }
if [ "$(sql "SELECT count(*) FROM sqlite_schema WHERE name = 'sweep_points'")" = 0 ]; then
  echo "sweep-figures: $db holds no sweep: nothing to draw"
  exit 0
fi

mapfile -t ids < <(sql "SELECT DISTINCT sweep_id FROM sweep_points ORDER BY 1")
if [ -n "$want" ] && ! printf '%s\n' "${ids[@]}" | grep -qxF -- "$want"; then
  echo "sweep-figures: $db has no sweep '$want' (it has: ${ids[*]})" >&2
  exit 2 # before OUTDIR is created: bad input writes nothing
fi
mkdir -p "$out"
outdir=$(realpath "$out")
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# gnuplot one figure in both formats; its stderr must stay empty.
plot() { # NAME OUT VARS
  local fmt
  for fmt in png pdf; do
    if ! SWEEP_DB=$db SWEEP_OUT=$2 gnuplot -e "fmt='$fmt'; $3" "analysis/plots/sweep_$1.gp" 2>"$tmp" || [ -s "$tmp" ]; then
      cat "$tmp" >&2
      die "analysis/plots/sweep_$1.gp failed or warned ($fmt)"
    fi
  done
}

for n in "${!ids[@]}"; do
  id=${ids[$n]}
  [ -z "$want" ] || [ "$id" = "$want" ] || continue
  # The sweep by its rank among the ids: no quoting of the id in SQL.
  sel="p.sweep_id = (SELECT sweep_id FROM (SELECT DISTINCT sweep_id FROM sweep_points ORDER BY 1) LIMIT 1 OFFSET $n)"
  join="FROM sweep_points p JOIN runs r ON r.sweep_id = p.sweep_id AND r.trace_sha256 = p.trace_sha256
        AND r.config_json = p.config_json WHERE r.status = 'complete' AND $sel"
  complete=$(sql "SELECT count(*) $join")
  if [ "$complete" = 0 ]; then
    echo "sweep-figures: sweep '$id' has no complete run: nothing to draw"
    continue
  fi
  safe=$(printf '%s' "$id" | tr -c 'A-Za-z0-9._-' '_')
  base=$outdir/sweep-$safe
  series=$(sql "SELECT DISTINCT p.trace || ':' || (p.fit_classes IS NOT NULL) $join ORDER BY p.trace, 1" | tr '\n' ' ')
  mixed=$(sql "SELECT count(DISTINCT p.fit_classes IS NOT NULL) = 2 $join")
  xkey=$(sql "SELECT x_key FROM sweep_points p WHERE $sel LIMIT 1")
  logx=$(sql "SELECT x_key != 'size classes' AND min(x) > 0 AND max(x) / min(x) >= 8 FROM sweep_points p WHERE $sel")
  nrows=$(sql "SELECT max(point) + 1 FROM sweep_points p WHERE $sel")
  ntraces=$(sql "SELECT count(DISTINCT trace) FROM sweep_points p WHERE $sel")
  # Does a series (trace, fitted or not) hold two points at one x, or at
  # one number of classes? Then its points are not joined by lines.
  shares_x() { # COLUMN
    sql "SELECT EXISTS (SELECT 1 FROM sweep_points p WHERE $sel
           GROUP BY trace, fit_classes IS NOT NULL, $1 HAVING count(DISTINCT point) > 1)"
  }
  split_x=$(shares_x x)
  split_n=$(shares_x nclasses)
  [ "$split_x$split_n" = 00 ] ||
    echo "sweep-figures: $id: more than the x parameter varies: points of one trace are not joined by lines"
  common="sel=\"$sel\"; series='$series'; mixed=$mixed; split_x=$split_x; split_n=$split_n"

  plot frag "$base-frag" "$common; xlabel='${xkey//\'/\'\'}'; logx=$logx"
  plot heap "$base-heap" "$common"
  plot cache "$base-cache" "$common"
  plot table "$base-jw4" "$common; nrows=$nrows; ncols=$((ntraces + 1))"

  # The same table as CSV and LaTeX: one column per trace, then the mean
  # (blank unless every trace has a complete run of the point).
  cols=""
  while IFS='|' read -r t name; do
    cols+=", max(CASE WHEN trace = $t THEN printf('%.1f', v) END) AS \"${name//\"/\"\"}\""
  done < <(sql "SELECT DISTINCT trace, trace_name FROM sweep_points p WHERE $sel ORDER BY trace")
  table="WITH c AS (SELECT p.point AS point, p.trace AS trace, p.label AS label, r.frag_inuse_jw4 AS jw4 $join),
         v AS (SELECT point, trace, label, avg(100.0 * jw4) AS v FROM c GROUP BY point, trace)
         SELECT label AS configuration $cols,
                CASE WHEN count(v) = $ntraces THEN printf('%.1f', avg(v)) END AS mean
         FROM v GROUP BY point ORDER BY point"
  sql -csv -header "$table" > "$base-jw4.csv"
  {
    echo "% J&W #4 with M = heap in-use (%): max(M) / max(live bytes) - 1; sweep $id (spanlab sweep)"
    printf '\\begin{tabular}{l%s}\n\\toprule\n' "$(printf 'r%.0s' $(seq 0 "$ntraces"))"
    sql -header -separator $'\x1f' "$table" | awk -F $'\x1f' '
      function tex(s) {
        gsub(/\\/, "\001", s)        # backslashes last: their braces are not escaped
        gsub(/[%&#_${}]/, "\\\\&", s)
        gsub(/~/, "\\textasciitilde{}", s)
        gsub(/\^/, "\\textasciicircum{}", s)
        gsub(/\001/, "\\textbackslash{}", s)
        return s
      }
      { line = tex($1); for (i = 2; i <= NF; i++) line = line " & " tex($i); print line " \\\\" }
      NR == 1 { print "\\midrule" }'
    printf '\\bottomrule\n\\end{tabular}\n'
  } > "$base-jw4.tex"
  echo "sweep-figures: $id: $complete runs -> $base-{frag,heap,cache,jw4}.{png,pdf}, $base-jw4.{csv,tex}"
done
