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
# The functions below set a variable instead of printing: a subshell per
# call cost seconds over the thousands of calls for a database of many runs.
# data_file VAR BASE KEY: the --data file of a figure's "data" or "data.X" rows.
data_file() {
  printf -v "$1" '%s/%s%s.csv' "$outdir" "$2" "${3#data}"
}
# quote VAR S: S as a string literal of gnuplot and SQL alike (single
# quotes, an inner quote doubled).
quote() {
  printf -v "$1" "'%s'" "${2//\'/\'\'}"
}

failed=0

# Each script's headers, read once: order, per, when, caption and its data
# keys ("data", "data.X", ...; the SQL of each in hdr[GP|KEY]).
mapfile -t scripts < <(for gp in "$plots"/*.gp; do printf '%s\t%s\n' "$(header "$gp" order)" "$gp"; done |
  sort -t $'\t' -k1,1n -k2,2 | cut -f2-)
declare -A hdr
for gp in "${scripts[@]}"; do
  for key in per when caption; do hdr[$gp|$key]=$(header "$gp" "$key"); done
  hdr[$gp|keys]=$(data_keys "$gp")
  for key in ${hdr[$gp|keys]}; do hdr[$gp|$key]=$(header "$gp" "$key"); done
done

# The figures to draw, in order: "GP RUN" (RUN empty for a figure of all
# runs). Each "#% when" and each run's label is asked in one sqlite3
# session (starting a session costs more than most queries): each answer
# follows a marker line, and only its first line counts.
candidates=()
for gp in "${scripts[@]}"; do
  case ${hdr[$gp|per]} in
    run) for run in "${runs[@]}"; do candidates+=("$gp $run"); done ;;
    all) candidates+=("$gp ") ;;
    '') ;; # a library loaded by figure scripts
    *) echo "$prog: $gp: '#% per' must be 'run' or 'all'" >&2; failed=1 ;;
  esac
done
mark=$'\037'
declare -A answer
{
  cat "$tmp/session.sql"
  echo ".mode list"
  echo ".headers off"
  for run in "${runs[@]}"; do
    printf "SELECT char(31) || 'label %s';\nSELECT label FROM v_runs WHERE run_id = %s;\n" "$run" "$run"
  done
  for i in "${!candidates[@]}"; do
    gp=${candidates[$i]% *} run=${candidates[$i]##* }
    [ -n "${hdr[$gp|when]}" ] || continue
    printf "SELECT char(31) || 'when %s';\n.parameter set :run %s\n%s\n;\n" "$i" "${run:-NULL}" "${hdr[$gp|when]}"
  done
} | sql >"$tmp/answers" 2>"$tmp/err" || {
  echo "$prog: a '#% when' query or the runs' labels failed: $(head -n 1 "$tmp/err")" >&2
  exit 1
}
what=''
while IFS= read -r line; do
  if [[ $line == "$mark"* ]]; then
    what=${line#"$mark"}
  elif [ -n "$what" ]; then
    answer[$what]=$line
    what=''
  fi
done <"$tmp/answers"

# queue GP RUN: queue one figure: its queries (one line each in $queries:
# run, GP|KEY of its SQL, CSV file) and its gnuplot script, which draws
# the four files in one gnuplot process (the figure script loaded once per
# file, from a fresh session each time).
figs=$tmp/figs        # figures queued: name, run, base (separated by \037)
queries=$tmp/queries  # run, GP|KEY, CSV (separated by \037)
: >"$figs"
: >"$queries"
stale=()              # files of the figures queued, to remove before drawing
queue() {
  local gp=$1 run=$2 name base vars key var csv w width f q
  name=${gp##*/}
  name=${name%.gp}
  base=$name${run:+-run$run}
  quote q "${run:+${answer[label $run]-}}"
  vars="label=$q; run=${run:-0}"
  for key in ${hdr[$gp|keys]}; do
    var=${key//./_}
    csv=$tmp/$base.$var.csv
    printf '%s\037%s\037%s\n' "${run:-NULL}" "$gp|$key" "$csv" >>"$queries"
    if [ "$keep_data" = 1 ]; then data_file q "$base" "$key"; stale+=("$q"); fi
    quote q "$csv"
    vars="$vars; $var=$q"
  done
  for w in 1col 2col; do
    width=7
    [ $w = 2col ] || width=3.3
    for f in png pdf; do
      stale+=("$outdir/$base-$w.$f") # an old drawing must not pass for this one
      quote q "$outdir/$base-$w.$f"
      printf '%s; fmt=%s; width=%s; out=%s\n' "$vars" "'$f'" "$width" "$q"
      quote q "$gp"
      printf 'load %s\nunset output\nreset session\n' "$q"
    done
  done >"$tmp/$base.gnuplot"
  printf '%s\037%s\037%s\n' "$name" "$run" "$base" >>"$figs"
}
for i in "${!candidates[@]}"; do
  gp=${candidates[$i]% *} run=${candidates[$i]##* }
  if [ -n "${hdr[$gp|when]}" ] && [ "${answer[when $i]-}" != 1 ]; then continue; fi
  queue "$gp" "$run"
done
[ ${#stale[@]} -eq 0 ] || rm -f -- "${stale[@]}"

# The data: every query into its CSV file, in one sqlite3 session. When
# that fails, each query is run in a session of its own, to say which
# failed; the figures of the failed ones are left out.
run_queries() { # [ONE]: all the queries, or only line ONE of $queries
  local n=0 run key csv q
  cat "$tmp/session.sql"
  echo ".mode csv"
  echo ".headers on"
  while IFS=$'\037' read -r run key csv; do
    n=$((n + 1))
    [ -z "${1:-}" ] || [ "$1" = "$n" ] || continue
    q=${csv//\\/\\\\}
    q=${q//\"/\\\"}
    printf '.parameter set :run %s\n.output "%s"\n%s\n;\n' "$run" "$q" "${hdr[$key]}"
  done <"$queries"
  echo ".output stdout"
}
declare -A bad_query # base: the query of that figure that failed
if ! run_queries | sql 2>"$tmp/err"; then
  n=0
  while IFS=$'\037' read -r run key csv; do
    n=$((n + 1))
    run_queries "$n" | sql 2>"$tmp/err" && continue
    base=$(basename "$csv" .csv)
    bad_query[${base%.*}]="the query '${key#*|}' failed: $(head -n 1 "$tmp/err")"
  done <"$queries"
fi

# Draw: gnuplot runs in parallel, one per core; every run's stderr is kept.
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
while IFS=$'\037' read -r name run base; do
  [ -n "${bad_query[$base]-}" ] || printf '%s\0%s\0' "$tmp/$base.gnuplot" "$tmp/$base.err"
done <"$figs" >"$tmp/jobs"
# shellcheck disable=SC2016 # $0..$2 belong to the inner shell
xargs -0 -n 2 -P "$ncpu" sh -c 'GNUPLOT_LIB="$0" gnuplot "$1" 2>"$2" || echo "gnuplot exited with status $?" >>"$2"' "$plots" \
  <"$tmp/jobs" || true

# A figure is drawn when its four files are there and gnuplot said nothing.
drawn=0
manifest=$tmp/manifest.sql
: >"$manifest"
qname='' qlabel='' qbase='' qcaption='' # set by quote
while IFS=$'\037' read -r name run base; do
  if [ -n "${bad_query[$base]-}" ]; then
    echo "$prog: $name${run:+ (run $run)}: ${bad_query[$base]}" >&2
    failed=1
    continue
  fi
  missing=''
  for w in 1col 2col; do
    for f in png pdf; do
      [ -s "$outdir/$base-$w.$f" ] || missing="$missing $w.$f"
    done
  done
  if [ -s "$tmp/$base.err" ] || [ -n "$missing" ]; then
    echo "$prog: $name${run:+ (run $run)}: gnuplot reported:" >&2
    [ ! -s "$tmp/$base.err" ] || sed 's/^/    /' "$tmp/$base.err" >&2
    [ -z "$missing" ] || echo "    (not drawn:$missing)" >&2
    failed=1
    continue
  fi
  quote qname "$name"
  quote qlabel "${run:+${answer[label $run]-}}"
  quote qbase "$base"
  quote qcaption "${hdr[$plots/$name.gp|caption]}"
  echo "SELECT $qname, ${run:-NULL}, $qlabel, $qbase, $qcaption;" >>"$manifest"
  if [ "$keep_data" = 1 ]; then
    for key in ${hdr[$plots/$name.gp|keys]}; do
      data_file q "$base" "$key"
      cp "$tmp/$base.${key//./_}.csv" "$q"
    done
  fi
  drawn=$((drawn + 1))
done <"$figs"

{ echo "figure,run_id,label,base,caption"; { echo ".mode csv"; cat "$manifest"; } | sqlite3 -batch -bail :memory:; } >"$outdir/figures.csv"
echo "$prog: $drawn figures of ${#runs[@]} run(s) in $outdir (PNG and PDF, 1col and 2col)" >&2

# A results database of `spanlab sweep` also gets the sweep comparisons
# (scripts/sweep-figures.sh: fragmentation and hit rates against the swept
# parameter, the J&W #4 table), unless only some runs were asked for.
if [ ${#want_runs[@]} -eq 0 ] &&
  [ "$(printf "SELECT count(*) FROM sqlite_schema WHERE name = 'sweep_points';\n" | sql)" != 0 ]; then
  "$(dirname "$0")/sweep-figures.sh" "$db" "$outdir" >&2 || failed=1
fi
exit "$failed"
