#!/usr/bin/env bash
# The boundaries between the parts (DESIGN.md, STYLE.md "Boundaries to
# keep"), each one grep. `make test` runs this first.
#   alloc/    the core: libc and its own headers only (no traces, sim, SQLite, cJSON)
#   traces/   trace formats and the recorder: nothing from alloc/ or sim/, no SQLite
#   sim/      sees the core through spanlab.h, event.h, stats.h, sizeclass.h only
#   SQLite    only in the database layer (sim/db.c, sim/sink_sqlite.c, sim/sweep_db.c)
#             and main.c's --version
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
fail() { echo "check-layout: $*" >&2; bad=1; }

# alloc/: system headers must be libc's (<...> without a slash, or sys/...)
while IFS= read -r line; do
  fail "alloc/ includes something outside libc: $line"
done < <(grep -Hn '#include <' alloc/*.[ch] | grep -vE '#include <(sys/)?[a-z0-9_]+\.h>' || true)
while IFS= read -r line; do
  fail "alloc/ includes a header of another part: $line"
done < <(grep -HnE '#include "[^"]*(slt|sim|db|config|replay|sink|cli|cJSON|sqlite)[^"]*"' alloc/*.[ch] || true)

# traces/: no core, no sim, no SQLite or cJSON
while IFS= read -r line; do
  fail "traces/ reaches into another part: $line"
done < <(grep -HnE '#include [<"](spanlab|internal|event|stats|sizeclass|db|config|replay|cli|sqlite3|cJSON)\.h[>"]' \
           traces/*.[ch] traces/record/*.[ch] || true)

# sim/: never the core's internals
while IFS= read -r line; do
  fail "sim/ includes the core's internal header: $line"
done < <(grep -Hn '#include "internal.h"' sim/*.[ch] || true)

# SQLite only in the database layer
while IFS= read -r f; do
  case $f in sim/db.c | sim/sink_sqlite.c | sim/sweep_db.c | sim/main.c) ;;
    *) fail "$f uses SQLite outside the database layer" ;;
  esac
done < <(grep -l 'sqlite3\.h' sim/*.[ch] traces/*.[ch] alloc/*.[ch] || true)

exit $bad
