#!/usr/bin/env bash
# Re-create the bundled traces in traces/data/ with `spanlab record` from real,
# unmodified Debian programs (and one Go program's allocfreetrace, converted).
# traces/data/README.md says what each workload is; this script is the recipe.
#
# Needs: build/spanlab (make), sqlite3, python3, gcc (cc1), git, and for the
# Go trace golang-1.19-go (apt-get install golang-1.19-go).
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

# the C compiler proper (cc1) compiling a small C file.
cat > prog.c <<'C'  # (kept for git below)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *next; char key[32]; int count; };
static unsigned hash(const char *s) { unsigned h = 5381; while (*s) h = h * 33 + (unsigned char)*s++; return h; }
int main(int argc, char **argv) {
	static struct node *tab[1024];
	for (int i = 1; i < argc; i++) {
		unsigned h = hash(argv[i]) % 1024;
		struct node *n;
		for (n = tab[h]; n && strcmp(n->key, argv[i]); n = n->next) ;
		if (!n) { n = calloc(1, sizeof *n); snprintf(n->key, sizeof n->key, "%s", argv[i]); n->next = tab[h]; tab[h] = n; }
		n->count++;
	}
	for (int h = 0; h < 1024; h++) for (struct node *n = tab[h]; n; n = n->next) printf("%s %d\n", n->key, n->count);
	return 0;
}
C
# cc1 alone has no include paths: give it a preprocessed file (this project's
# trace reader: a real, mid-sized C file).
gcc -E -I"$root/traces" "$root/traces/source.c" -o source.i
cc1=$(gcc -print-prog-name=cc1)
rec cc1 "$cc1" -fpreprocessed -quiet -O2 source.i -o source.s

# git: init a repository, commit a few files, log and diff.
export GIT_AUTHOR_NAME=spanlab GIT_AUTHOR_EMAIL=spanlab@example.invalid
export GIT_COMMITTER_NAME=spanlab GIT_COMMITTER_EMAIL=spanlab@example.invalid
export GIT_CONFIG_NOSYSTEM=1 HOME=$work
git init -q repo
for i in 1 2 3 4 5; do seq 1 $((i * 300)) > repo/f$i.txt; done
git -C repo add . && git -C repo commit -qm one
sed -i 's/1/one/' repo/f3.txt && git -C repo commit -qam two
(cd repo && rec git git log -p --stat)

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
