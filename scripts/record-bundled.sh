#!/usr/bin/env bash
# Re-create the bundled traces in traces/data/ with `spanlab record` from real,
# unmodified Debian programs (and one Go program's allocfreetrace, converted).
# traces/data/README.md says what each workload is; this script is the recipe.
#
# Needs: build/spanlab (make), sqlite3, python3, gcc (cc1), git, and for the
# Go trace golang-1.19-go (apt-get install golang-1.19-go). About a minute,
# most of it committing the generated git history.
# Usage: scripts/record-bundled.sh [OUTDIR]     (default traces/data)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-traces/data}
spanlab=$root/build/spanlab
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"   # relative paths only: no machine path lands in a trace's argv

rec() { # NAME PROG ARGS...: record, keep the trace if it fits 2 MB
  local name=$1; shift
  "$spanlab" record -o "$name.slt" -- "$@" > /dev/null
  local size; size=$(stat -c %s "$name.slt")
  [ "$size" -le 2097152 ] || { echo "record-bundled: $name.slt is $size bytes (> 2 MB)" >&2; exit 1; }
  cp "$name.slt" "$root/$out/$name.slt"
}

# sqlite3: build, index, query and update a 20k-row table in memory.
cat > workload.sql <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO t SELECT x, printf('item-%d-%s', x, hex(randomblob(x % 16))), x * 0.5 FROM c;
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(v) FROM t WHERE name LIKE 'item-1%';
UPDATE t SET name = name || '-x' WHERE id % 7 = 0;
DELETE FROM t WHERE id % 3 = 0;
SELECT name FROM t ORDER BY v DESC LIMIT 5;
SQL
rec sqlite3 sqlite3 :memory: -init workload.sql .quit

# python3 with the system allocator: a small text-processing script.
cat > words.py <<'PY'
import collections, json
text = " ".join("word%d %s" % (i % 997, "abc" * (i % 5)) for i in range(20000))
counts = collections.Counter(text.split())
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
print(json.dumps(top)[:60])
PY
PYTHONMALLOC=malloc rec python3 /usr/bin/python3 words.py

# the C compiler proper (cc1) compiling a real, mid-sized C file: this
# project's trace reader, preprocessed (cc1 alone has no include paths).
gcc -E -I"$root/traces" "$root/traces/source.c" -o source.i
cc1=$(gcc -print-prog-name=cc1)
rec cc1 "$cc1" -fpreprocessed -quiet -O2 source.i -o source.s

# git: a generated history (30 files of 3,000 lines; 600 commits that each
# rewrite one line in two files; fixed names and dates, so the same objects
# every time), then `git log -p --stat` over all of it.
export GIT_AUTHOR_NAME=spanlab GIT_AUTHOR_EMAIL=spanlab@example.invalid
export GIT_COMMITTER_NAME=spanlab GIT_COMMITTER_EMAIL=spanlab@example.invalid
export GIT_AUTHOR_DATE=2024-01-01T00:00:00Z GIT_COMMITTER_DATE=2024-01-01T00:00:00Z
export GIT_CONFIG_NOSYSTEM=1 HOME=$work
git init -q repo
seq 1 3000 | awk '{ print "line " $1 " of the base text" }' > base.txt
for f in $(seq 0 29); do cp base.txt "repo/f$f.txt"; done
git -C repo add . && git -C repo commit -qm base
for i in $(seq 1 600); do
  for f in $((i % 30)) $((i * 7 % 30)); do
    sed -i "$((i * 13 % 3000 + 1))s/.*/changed in commit $i/" "repo/f$f.txt"
  done
  git -C repo commit -qam "commit $i"
done
(cd repo && rec git git log -p --stat)

# git index-pack with 2 threads (multi-threaded: delta resolution runs in
# both, the main thread reads the pack) on that history, packed with deltas.
git -C repo repack -q -a -d -f --depth=50
cp repo/.git/objects/pack/pack-*.pack history.pack
rec git-index-pack git index-pack --threads=2 -o history.idx history.pack

# python3 threads (multi-threaded): a two-worker thread pool tokenizes and
# counts generated text, the main thread merges the JSON results; the GIL
# is handed over every 0.2 ms, so the threads interleave often.
cat > pool.py <<'PY'
import collections, concurrent.futures, json, sys
sys.setswitchinterval(0.0002)  # hand the GIL over often: more interleaving
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu "
         "nu xi omicron pi rho sigma tau upsilon phi chi psi omega").split()
def chunk(n):
    return "\n".join(" ".join(WORDS[(n * 7 + i * j) % len(WORDS)] + str((i + j) % 13)
                              for j in range(12)) for i in range(40))
def work(n):
    counts = collections.Counter(w.upper() for w in chunk(n).split())
    return json.dumps(sorted(counts.items())[:30])
with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    results = list(pool.map(work, range(80)))
total = collections.Counter()
for r in results:
    for word, count in json.loads(r):
        total[word] += count
print(len(total), sum(total.values()))
PY
PYTHONMALLOC=malloc rec python3-threads /usr/bin/python3 pool.py

# Go: a word-tree program under GODEBUG=allocfreetrace=1 (Go 1.19), converted.
gobin=/usr/lib/go-1.19/bin/go
if [ -x "$gobin" ]; then
  cp "$root/tests/data/wordtree.go" main.go
  GOCACHE=$work/gocache GOPATH=$work/gopath GO111MODULE=off "$gobin" build -o wordtree main.go
  GOGC=20 GODEBUG=allocfreetrace=1 ./wordtree 3000 2> wordtree.goalloc > /dev/null
  gzip -9 wordtree.goalloc
  "$spanlab" convert wordtree.goalloc.gz -o "$root/$out/go-wordtree.slt"
else
  echo "record-bundled: golang-1.19-go not installed; skipping the Go trace" >&2
fi
du -b "$root/$out"/*.slt
