#!/usr/bin/env bash
# Two spanlab binaries must replay identically: the same --json summary and
# the same database rows (every event, snapshot and size-class row, the run's
# row and the schema), byte for byte, except the columns that time the run
# or identify the process. For changes that are meant to be pure speed-ups
# of the allocator core (docs/allocator.md, "Performance").
#
#   scripts/compare-builds.sh BASE_BIN NEW_BIN [TRACE...]
#
# TRACE defaults to every traces/data/*.slt. Each trace is replayed under 16
# configs: free gc|immediate x procs 1|4 x tiny on|off x sweep eager|lazy.
# Both binaries run with the same argv (the same trace path, the same config
# path, a database named run.db in their own directory), so paths need no
# masking. Masked: the JSON keys wall_seconds, ops_per_second, cpu_seconds;
# the columns named run_uuid, pid, *_at, *_seconds, *per_second.
#
# Environment: CHECK=1 also replays each pair under NEW_BIN --check (heap
# validators at every snapshot) and requires exit 0; KEEP=1 keeps the work
# directory; JOBS=N runs N comparisons at once (default 1).
# Exit status: 0 all identical, 1 a difference (the first lines of the diff
# are printed) or a replay that did not complete (two runs failing alike
# prove nothing), 2 bad usage or a trace that does not exist.
set -euo pipefail
usage() { sed -n '8,9p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
base=$(realpath "$1"); new=$(realpath "$2"); shift 2
[ -x "$base" ] && [ -x "$new" ] || { echo "compare-builds.sh: both binaries must be executable" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -gt 0 ]; then traces=("$@"); else traces=("$root"/traces/data/*.slt); fi
command -v sqlite3 >/dev/null || { echo "compare-builds.sh: needs the sqlite3 shell" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/compare-builds.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then echo "work directory: $work"; else trap 'rm -rf "$work"' EXIT; fi

# The configs, one file each.
configs=()
for free in gc immediate; do for procs in 1 4; do for tiny in true false; do for sweep in eager lazy; do
  name="$free-p$procs-tiny$tiny-$sweep"
  printf '{"free": "%s", "procs": %s, "tiny": %s, "sweep": "%s"}\n' "$free" "$procs" "$tiny" "$sweep" \
    > "$work/$name.json"
  configs+=("$name")
done; done; done; done

# norm_json FILE: the summary without its timings.
norm_json() {
  sed -E 's/^([[:space:]]*"(wall_seconds|ops_per_second|cpu_seconds)":).*/\1 MASKED/' "$1"
}

# norm_db FILE: the schema, then every table's rows in insertion order, each
# value through quote() (exact for reals), masked columns left out.
norm_db() {
  local db=$1 t cols
  sqlite3 "$db" "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
  for t in $(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"); do
    cols=$(sqlite3 "$db" "SELECT group_concat('quote(' || name || ')', ' || ''|'' || ') FROM pragma_table_info('$t')
                          WHERE name NOT IN ('run_uuid', 'pid') AND name NOT LIKE '%\_at' ESCAPE '\'
                            AND name NOT LIKE '%\_seconds' ESCAPE '\' AND name NOT LIKE '%per\_second' ESCAPE '\'")
    if [ "$t" = meta ]; then
      sqlite3 "$db" "SELECT 'meta|' || key || '|' || value FROM meta WHERE key NOT LIKE '%\_at' ESCAPE '\' ORDER BY key"
    else
      sqlite3 "$db" "SELECT '$t|' || $cols FROM \"$t\" ORDER BY rowid"
    fi
  done
}

# compare TRACE CONFIG: 0 identical, 1 not (the diff on stdout).
compare() {
  local trace=$1 cfg=$2 d rc_b rc_n
  d="$work/$(basename "$trace" .slt)-$cfg"
  mkdir -p "$d/base" "$d/new"
  rc_b=0; rc_n=0
  (cd "$d/base" && "$base" replay "$trace" --config "$work/$cfg.json" --json -q --db run.db > out.json 2> err.txt) || rc_b=$?
  (cd "$d/new" && "$new" replay "$trace" --config "$work/$cfg.json" --json -q --db run.db > out.json 2> err.txt) || rc_n=$?
  # Two runs that fail alike are no evidence of anything (a mistyped
  # trace, or both builds broken): only a complete replay can be the same.
  if [ $rc_b -ne 0 ] || [ $rc_n -ne 0 ]; then
    echo "exit status: base $rc_b, new $rc_n"; cat "$d/base/err.txt" "$d/new/err.txt"; return 1
  fi
  norm_json "$d/base/out.json" > "$d/base/json.txt"
  norm_json "$d/new/out.json" > "$d/new/json.txt"
  if ! cmp -s "$d/base/json.txt" "$d/new/json.txt"; then
    diff "$d/base/json.txt" "$d/new/json.txt" | head -20; return 1
  fi
  if [ -f "$d/base/run.db" ] || [ -f "$d/new/run.db" ]; then
    norm_db "$d/base/run.db" > "$d/base/db.txt"
    norm_db "$d/new/run.db" > "$d/new/db.txt"
    if ! cmp -s "$d/base/db.txt" "$d/new/db.txt"; then
      diff "$d/base/db.txt" "$d/new/db.txt" | head -20; return 1
    fi
  fi
  if [ "${CHECK:-0}" = 1 ]; then
    (cd "$d/new" && "$new" replay "$trace" --config "$work/$cfg.json" --check --json -q > check.json 2> check.err) || {
      echo "NEW_BIN --check failed:"; head -5 "$d/new/check.err"; return 1; }
  fi
  [ "${KEEP:-0}" = 1 ] || rm -rf "$d"
  return 0
}

n=0; fails=0
run_one() {
  local trace=$1 cfg=$2 out
  if out=$(compare "$trace" "$cfg" 2>&1); then
    echo "same  $(basename "$trace") $cfg"
  else
    echo "DIFF  $(basename "$trace") $cfg"; printf '%s\n' "$out" | sed 's/^/      /'
    return 1
  fi
}
export -f run_one compare norm_json norm_db
export base new work
jobs=${JOBS:-1}
results="$work/results.txt"
for trace in "${traces[@]}"; do
  [ -f "$trace" ] || { echo "compare-builds.sh: $trace: no such trace" >&2; exit 2; }
done
for trace in "${traces[@]}"; do
  trace=$(realpath "$trace")
  for cfg in "${configs[@]}"; do printf '%s\0%s\0' "$trace" "$cfg"; done
done | { xargs -0 -r -n 2 -P "$jobs" bash -c 'run_one "$1" "$2"' _ || true; } | tee "$results"
# (xargs exits 123 when a pair differs: the summary below says so, exit 1)
n=$(grep -c '^\(same\|DIFF\)' "$results" || true)
fails=$(grep -c '^DIFF' "$results" || true)
echo "compare-builds.sh: $((n - fails)) of $n trace x config pairs identical ($(basename "$base") vs $(basename "$new"))"
[ "$fails" -eq 0 ] && [ "$n" -gt 0 ]
