#!/usr/bin/env bash
# Draw every figure of a spanlab database, from the database alone.
#
# Usage: scripts/figures.sh DB OUTDIR [--run ID ...] [--data]
#
# Each figure is one gnuplot script in analysis/plots/ (docs/figures.md).
# Its header lines say what it draws:
#   #% per      run | all      one figure per run, or one for all the runs
#   #% when     SQL            draw only when this returns 1 (optional)
#   #% data     SQL            the rows the script plots (gnuplot: data)
#   #% data.X   SQL            more rows (gnuplot: data_X)
#   #% caption  text           one line for the report
#   #% order    N              figures are drawn (and reported) by this number
#   #%+         ...            continues the line above
# In SQL, :run is the run being drawn and the table selected_runs holds the
# runs being drawn. sqlite3 runs each query over the database, read-only,
# with the views of analysis/views.sql created as TEMP views (a database
# written by an older spanlab is drawn with this checkout's views), into a
# temporary CSV file that gnuplot reads: nothing else touches the data.
#
# Every figure is written four times: OUTDIR/NAME[-runID]-{1col,2col}.{png,pdf},
# 3.3 and 7 inches wide. OUTDIR/figures.csv lists the figures drawn (the
# report reads it); files of other figures already in OUTDIR are left
# alone. Only complete runs are drawn: all of them, or those named with
# --run. With --data, the rows each drawn figure plotted are kept next to
# it, as OUTDIR/NAME[-runID].csv (and NAME[-runID].X.csv for "data.X"),
# with a header line: for a table in the paper, or another plotting tool.
#
# Exit status: 0 when every figure was drawn; 1 when gnuplot or sqlite3
# failed or printed anything on stderr (a gnuplot warning is a failure: a
# figure drawn with a warning may be wrong); 2 for bad usage or a bad
# database (missing, not spanlab, no complete runs, a run id it does not
# have or that is not complete). Errors are one line on stderr.
set -euo pipefail

prog=figures.sh
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
plots=$root/analysis/plots
views=$root/analysis/views.sql
spanlab_app_id=1397771330 # PRAGMA application_id of a spanlab database, "SPLB"

usage() {
  echo "usage: scripts/figures.sh DB OUTDIR [--run ID ...] [--data]" >&2
  exit 2
}
die() {
  echo "$prog: $*" >&2
  exit 2
}

# --- arguments --------------------------------------------------------------
case ${1:-} in -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# -ge 2 ] || usage
db=$1
outdir=$2
shift 2
want_runs=()
keep_data=0
while [ $# -gt 0 ]; do
  case $1 in
    --data)
      keep_data=1
      shift
      ;;
    --run)
      [ $# -ge 2 ] || die "--run needs a run id"
      want_runs+=("$2")
      shift 2
      ;;
    --run=*)
      want_runs+=("${1#--run=}")
      shift
      ;;
    *) die "unknown argument '$1' (usage: scripts/figures.sh DB OUTDIR [--run ID ...] [--data])" ;;
  esac
done
for id in ${want_runs[@]+"${want_runs[@]}"}; do
  [[ $id =~ ^[0-9]+$ ]] || die "--run '$id': not a run id (a positive integer)"
done

for tool in sqlite3 gnuplot; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "$prog: $tool not found (scripts/deps.sh installs it)" >&2
    exit 1
  }
done

# --- the database -------------------------------------------------------------
[ -e "$db" ] || die "$db: no such file"
[ -f "$db" ] || die "$db: not a regular file"
[ -r "$db" ] || die "$db: not readable"
case $db in -*) db=./$db ;; esac # sqlite3 would take it for an option

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spanlab-figures.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# sqlite3 over the database, read-only; stdin is the SQL. Output modes are
# set by the caller's SQL (.mode csv for data, .mode list for values).
sql() {
  sqlite3 -readonly -batch -bail "$db"
}

app_id=$(printf 'PRAGMA application_id;\n' | sql 2>"$tmp/err") ||
  die "$db: not an SQLite database ($(head -n 1 "$tmp/err"))"
[ "$app_id" = "$spanlab_app_id" ] || die "$db: not a spanlab database (SQLite, but not written by spanlab)"

# The session every query runs in: an older database's tables shadowed
# with the columns added since (analysis/compat.sql), the views as TEMP
# views, and the runs to draw in the temporary table selected_runs.
sql <"$root/analysis/compat.sql" >"$tmp/compat.sql" || die "$db: cannot read its schema"
{
  echo ".bail on"
  cat "$tmp/compat.sql"
  sed -e 's/^CREATE VIEW v_/CREATE TEMP VIEW v_/' "$views"
  echo "CREATE TEMP TABLE selected_runs (run_id INTEGER PRIMARY KEY);"
} >"$tmp/session.sql"

# value SQL...: the first column of the first row, as text.
value() {
  { cat "$tmp/session.sql"; echo ".mode list"; echo ".headers off"; printf '%s\n' "$@"; } | sql | sed -n '1p'
}

if [ ${#want_runs[@]} -eq 0 ]; then
  n=$(value "SELECT count(*) FROM runs WHERE status = 'complete';")
  [ "$n" -gt 0 ] || die "$db: no complete runs to draw"
  echo "INSERT INTO selected_runs SELECT run_id FROM runs WHERE status = 'complete';" >>"$tmp/session.sql"
else
  for id in "${want_runs[@]}"; do
    status=$(value "SELECT status FROM runs WHERE run_id = $id;")
    [ -n "$status" ] || die "$db: no run $id"
    [ "$status" = complete ] || die "$db: run $id is $status, not complete: only complete runs are drawn"
    echo "INSERT OR IGNORE INTO selected_runs VALUES ($id);" >>"$tmp/session.sql"
  done
fi
mapfile -t runs < <({ cat "$tmp/session.sql"; echo ".mode list"; echo "SELECT run_id FROM selected_runs ORDER BY run_id;"; } | sql)

mkdir -p "$outdir" || die "$outdir: cannot create the output directory"
if [ ! -d "$outdir" ] || [ ! -w "$outdir" ]; then die "$outdir: not a writable directory"; fi

# --- figure scripts -----------------------------------------------------------
# header FILE KEY: the value of a "#% KEY" header line, with its "#%+" lines.
header() {
  awk -v key="$2" '
    /^#% / { cur = ($2 == key); if (cur) { sub(/^#% [^ \t]+[ \t]*/, ""); v = v $0 } ; next }
    /^#%\+/ { if (cur) { sub(/^#%\+[ \t]*/, ""); v = v " " $0 } ; next }
    END { print v }' "$1"
}
# data_keys FILE: "data", "data.X", ... in the order they appear.
data_keys() {
  awk '/^#% data(\.[A-Za-z_][A-Za-z0-9_]*)?[ \t]/ { print $2 }' "$1"
}
# data_file BASE KEY: the --data file of a figure's "data" or "data.X" rows.
data_file() {
  printf '%s%s.csv' "$1" "${2#data}"
}
# A gnuplot string literal: single quotes, an inner quote doubled.
gpstr() {
  local s=${1//\'/\'\'}
  printf "'%s'" "$s"
}
# An SQL string literal.
sqlstr() {
  local s=${1//\'/\'\'}
  printf "'%s'" "$s"
}

failed=0
jobs=$tmp/jobs      # gnuplot runs: -e string, script, stderr file; NUL-separated
figs=$tmp/figs      # figures queued: name, run, base (separated by \037)
: >"$jobs"
: >"$figs"

# queue SCRIPT RUN: query one figure's data and queue its four gnuplot runs
# (RUN empty for a figure of all runs).
queue() {
  local gp=$1 run=$2 name base params when ok label vars key var csv w f
  name=$(basename "$gp" .gp)
  base=$name${run:+-run$run}
  params=".parameter set :run ${run:-NULL}"

  when=$(header "$gp" when)
  if [ -n "$when" ]; then
    ok=$(value "$params" "$when")
    [ "$ok" = 1 ] || return 0
  fi
  label=''
  [ -n "$run" ] && label=$(value "SELECT label FROM v_runs WHERE run_id = $run;")

  vars="label=$(gpstr "$label"); run=${run:-0}"
  : >"$tmp/$base.keys"
  while read -r key; do
    var=${key//./_}
    csv=$tmp/$base.$var.csv
    printf '%s\t%s\n' "$key" "$csv" >>"$tmp/$base.keys"
    [ "$keep_data" = 0 ] || rm -f "$outdir/$(data_file "$base" "$key")"
    if ! { cat "$tmp/session.sql"; echo ".mode csv"; echo ".headers on"; echo "$params"; header "$gp" "$key"; } |
      sql >"$csv" 2>"$tmp/err"; then
      echo "$prog: $name${run:+ (run $run)}: the query '$key' failed: $(head -n 1 "$tmp/err")" >&2
      failed=1
      return 0
    fi
    vars="$vars; $var=$(gpstr "$csv")"
  done < <(data_keys "$gp")

  for w in 1col 2col; do
    for f in png pdf; do
      rm -f "$outdir/$base-$w.$f" # an old drawing must not pass for this one
      printf '%s\0%s\0%s\0' \
        "$vars; fmt='$f'; width=$([ $w = 1col ] && echo 3.3 || echo 7); out=$(gpstr "$outdir/$base-$w.$f")" \
        "$gp" "$tmp/$base-$w.$f.err" >>"$jobs"
    done
  done
  printf '%s\037%s\037%s\n' "$name" "$run" "$base" >>"$figs"
}

# Figure scripts by their order header, then by name.
mapfile -t scripts < <(for gp in "$plots"/*.gp; do printf '%s\t%s\n' "$(header "$gp" order)" "$gp"; done |
  sort -t $'\t' -k1,1n -k2,2 | cut -f2-)
for gp in "${scripts[@]}"; do
  case $(header "$gp" per) in
    run) for run in "${runs[@]}"; do queue "$gp" "$run"; done ;;
    all) queue "$gp" "" ;;
    '') ;; # a library loaded by figure scripts
    *) echo "$prog: $gp: '#% per' must be 'run' or 'all'" >&2; failed=1 ;;
  esac
done

# Draw: gnuplot runs in parallel, one per core; every run's stderr is kept.
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
# shellcheck disable=SC2016 # $1..$3 belong to the inner shell
xargs -0 -n 3 -P "$ncpu" sh -c 'GNUPLOT_LIB="$0" gnuplot -e "$1" "$2" 2>"$3" || echo "gnuplot exited with status $?" >>"$3"' "$plots" \
  <"$jobs" || true

# A figure is drawn when its four files are there and gnuplot said nothing.
drawn=0
manifest=$tmp/manifest.csv
: >"$manifest"
while IFS=$'\037' read -r name run base; do
  ok=1
  for w in 1col 2col; do
    for f in png pdf; do
      if [ -s "$tmp/$base-$w.$f.err" ] || [ ! -s "$outdir/$base-$w.$f" ]; then
        echo "$prog: $name${run:+ (run $run)}, $w $f: gnuplot reported:" >&2
        if [ -s "$tmp/$base-$w.$f.err" ]; then sed 's/^/    /' "$tmp/$base-$w.$f.err" >&2; else echo "    (no output file)" >&2; fi
        ok=0
      fi
    done
  done
  if [ "$ok" = 1 ]; then
    label=''
    [ -n "$run" ] && label=$(value "SELECT label FROM v_runs WHERE run_id = $run;")
    caption=$(header "$plots/$name.gp" caption)
    { cat "$tmp/session.sql"; echo ".mode csv"; echo ".headers off"
      echo "SELECT $(sqlstr "$name"), ${run:-NULL}, $(sqlstr "$label"), $(sqlstr "$base"), $(sqlstr "$caption");"
    } | sql >>"$manifest"
    if [ "$keep_data" = 1 ]; then
      while IFS=$'\t' read -r key csv; do
        cp "$csv" "$outdir/$(data_file "$base" "$key")"
      done <"$tmp/$base.keys"
    fi
    drawn=$((drawn + 1))
  else
    failed=1
  fi
done <"$figs"

{ echo "figure,run_id,label,base,caption"; cat "$manifest"; } >"$outdir/figures.csv"
echo "$prog: $drawn figures of ${#runs[@]} run(s) in $outdir (PNG and PDF, 1col and 2col)" >&2

# A results database of `spanlab sweep` also gets the sweep comparisons
# (scripts/sweep-figures.sh: fragmentation and hit rates against the swept
# parameter, the J&W #4 table), unless only some runs were asked for.
if [ ${#want_runs[@]} -eq 0 ] &&
  [ "$(printf "SELECT count(*) FROM sqlite_schema WHERE name = 'sweep_points';\n" | sql)" != 0 ]; then
  "$(dirname "$0")/sweep-figures.sh" "$db" "$outdir" >&2 || failed=1
fi
exit "$failed"
