#!/usr/bin/env bash
# Valgrind memcheck over the CLI end-to-end tests (make test-valgrind; CI).
#
# Every spanlab process those tests start runs under
#   valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
# through a wrapper given to the tests as SPANLAB_BIN; each process logs to
# its own file (so the tests still see spanlab's own one-line stderr) and
# exits 99 on a memcheck error, which fails the test that ran it. The logs
# of processes with errors are printed at the end.
#
# Not --track-origins: it made each process 1.5x slower (3.4 s of CPU
# against 2.3 s for a replay of go-wordtree with --db). To learn where an
# uninitialised value came from, run again with
# VALGRIND_OPTS=--track-origins=yes (valgrind reads it from the environment).
#
# Usage: scripts/valgrind-e2e.sh BUILD_DIR BIN TEST_BINARY[:FILTER]...
set -euo pipefail
build=$1 bin=$2
shift 2
command -v valgrind >/dev/null || { echo "valgrind-e2e.sh: valgrind is not installed (scripts/deps.sh)" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$build/valgrind"
rm -rf "$dir"
mkdir -p "$dir/logs"
dir=$(cd "$dir" && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
cat >"$dir/spanlab" <<WRAP
#!/bin/sh
exec valgrind --tool=memcheck --quiet --error-exitcode=99 --leak-check=full \\
  --errors-for-leak-kinds=definite --show-leak-kinds=definite \\
  --trace-children=no --log-file="$dir/logs/vg.%p.log" "$bin" "\$@"
WRAP
chmod +x "$dir/spanlab"
status=0
for t in "$@"; do
  test=${t%%:*} filter=
  [ "$test" != "$t" ] && filter=${t#*:}
  printf '  %-7s %s%s\n' VALGRIND "$test" "${filter:+ ($filter)}"
  SPANLAB_BIN="$dir/spanlab" SPANLAB_ROOT="$root" SPANLAB_VALGRIND=1 \
    "$test" ${filter:+--filter "$filter"} || status=1
done
n=$(ls "$dir/logs" | wc -l)
bad=$(grep -l -E 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]' "$dir"/logs/*.log 2>/dev/null || true)
if [ -n "$bad" ]; then
  for f in $bad; do echo "--- $f"; cat "$f"; done >&2
  echo "valgrind-e2e.sh: memcheck errors in $(echo "$bad" | wc -l) of $n spanlab processes" >&2
  exit 1
fi
[ "$status" -eq 0 ] || { echo "valgrind-e2e.sh: a test failed under valgrind" >&2; exit 1; }
echo "valgrind: $n spanlab processes under memcheck, no error, no definite leak"
