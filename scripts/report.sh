#!/usr/bin/env bash
# Write a one-page HTML report of a spanlab database: a table of the runs
# and every figure, for a researcher who wants to look before they read.
#
# Usage: scripts/report.sh DB OUTDIR [--run ID ...]
#
# Draws the figures with scripts/figures.sh (same arguments), then writes
# OUTDIR/index.html: one self-contained page (no scripts, no network; the
# figures are the PNG files next to it, linked by relative names, each
# with links to its PDFs) with a summary table of the runs (trace, config,
# operations, peak live bytes, peak heap in-use and Ready bytes,
# Johnstone & Wilson #3/#4, hit rates). Prints the same table on stdout.
#
# Every number comes from the database through the views of
# analysis/views.sql (v_summary); the list of figures from the
# OUTDIR/figures.csv that figures.sh writes.
#
# Exit status: that of figures.sh when it is 2 (bad usage or database:
# nothing is written); 1 when some figure failed (the page shows the
# others); 0 otherwise.
set -euo pipefail

prog=report.sh
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
views=$root/analysis/views.sql

case ${1:-} in -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;; esac
if [ $# -lt 2 ]; then
  echo "usage: scripts/report.sh DB OUTDIR [--run ID ...]" >&2
  exit 2
fi
db=$1
outdir=$2

status=0
"$root/scripts/figures.sh" "$@" || status=$?
[ "$status" -ne 2 ] || exit 2
case $db in -*) db=./$db ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spanlab-report.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$outdir/figures.csv" "$tmp/figures.csv"

# The session: the views as TEMP views (as figures.sh does), the figures
# drawn (in the order figures.sh drew them) and their runs.
sqlite3 -readonly -batch "$db" <"$root/analysis/compat.sql" >"$tmp/compat.sql"
{
  echo ".bail on"
  cat "$tmp/compat.sql" # an older database: analysis/compat.sql
  sed -e 's/^CREATE VIEW v_/CREATE TEMP VIEW v_/' "$views"
  echo "CREATE TEMP TABLE figs (figure TEXT, run_id INTEGER, label TEXT, base TEXT, caption TEXT);"
  # (imported from a copy: a dot-command cannot quote a ' in OUTDIR)
  echo ".import --csv --skip 1 '$tmp/figures.csv' figs"
  echo "UPDATE figs SET run_id = NULL WHERE run_id = '';" # a figure of all runs
  echo "CREATE TEMP TABLE selected_runs AS SELECT DISTINCT run_id FROM figs WHERE run_id IS NOT NULL;"
  # The figures of the summary as text, one place for the page and
  # stdout: blank where the database holds NULL (a baseline run has no
  # tiers, a tier no lookups), not the 0% printf would make of it.
  cat <<'EOF'
CREATE TEMP VIEW report_rows AS
SELECT run_id, label, trace, config, ops, mallocs, gc_cycles,
       printf('%.2f', peak_live_bytes / 1048576.0) AS live_mib,
       printf('%.2f', peak_heap_inuse_bytes / 1048576.0) AS inuse_mib,
       printf('%.2f', peak_ready_bytes / 1048576.0) AS ready_mib,
       CASE WHEN frag_inuse_jw3 IS NOT NULL THEN printf('%.1f%%', 100 * frag_inuse_jw3) ELSE '' END AS inuse_jw3,
       CASE WHEN frag_inuse_jw4 IS NOT NULL THEN printf('%.1f%%', 100 * frag_inuse_jw4) ELSE '' END AS inuse_jw4,
       CASE WHEN frag_ready_jw3 IS NOT NULL THEN printf('%.1f%%', 100 * frag_ready_jw3) ELSE '' END AS ready_jw3,
       CASE WHEN frag_ready_jw4 IS NOT NULL THEN printf('%.1f%%', 100 * frag_ready_jw4) ELSE '' END AS ready_jw4,
       CASE WHEN hit_rate_mcache IS NOT NULL THEN printf('%.2f%%', 100 * hit_rate_mcache) ELSE '' END AS mcache,
       CASE WHEN hit_rate_mcentral IS NOT NULL THEN printf('%.1f%%', 100 * hit_rate_mcentral) ELSE '' END AS mcentral,
       CASE WHEN hit_rate_pagecache IS NOT NULL THEN printf('%.1f%%', 100 * hit_rate_pagecache) ELSE '' END AS pagecache,
       CASE WHEN hit_rate_heap IS NOT NULL THEN printf('%.1f%%', 100 * hit_rate_heap) ELSE '' END AS heap
FROM v_summary WHERE run_id IN (SELECT run_id FROM selected_runs);
EOF
} >"$tmp/session.sql"

sql() {
  { cat "$tmp/session.sql"; cat; } | sqlite3 -readonly -batch -bail "$db"
}

# The summary on stdout: the runs drawn.
sql <<'EOF'
.mode column
.headers on
SELECT run_id AS run, label, ops, live_mib AS "peak live MiB", inuse_mib AS "in-use MiB",
       ready_mib AS "Ready MiB", inuse_jw3 AS "in-use #3", inuse_jw4 AS "in-use #4",
       ready_jw3 AS "Ready #3", ready_jw4 AS "Ready #4", mcache, mcentral, pagecache, heap
FROM report_rows ORDER BY run_id;
EOF

# The page. Text from the database is HTML-escaped where it is selected
# (replace & < > and, in attributes, ").
page=$outdir/index.html
sql >"$tmp/index.html" <<'EOF'
.mode list
.headers off
SELECT '<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>spanlab report</title>
<style>
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1500px; padding: 0 1em; color: #111; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f3f3f3; vertical-align: bottom; }
td.t, th.t { text-align: left; }
.figs { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; width: 700px; max-width: 100%; }
figure img { width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #333; }
code { font-size: 0.95em; }
.small { font-size: 0.85em; color: #444; }
</style>
</head>
<body>
<h1>spanlab report</h1>
<p class="small">' || (SELECT count(*) FROM selected_runs) || ' run(s); written ' ||
  strftime('%Y-%m-%d %H:%M UTC', 'now') || ' from the database alone: every number below is a query over its
views (<code>analysis/views.sql</code>), every figure a gnuplot script in <code>analysis/plots/</code>
(<code>docs/figures.md</code> defines each). Redraw with <code>scripts/figures.sh DB OUTDIR</code>.</p>
<h2>Runs</h2>
<table>
<tr><th>run</th><th class="t">trace</th><th class="t">config</th><th>ops</th><th>mallocs</th>
<th>peak live<br>MiB</th><th>peak in-use<br>MiB</th><th>peak Ready<br>MiB</th>
<th>J&amp;W #3<br>in-use</th><th>J&amp;W #4<br>in-use</th><th>J&amp;W #3<br>Ready</th><th>J&amp;W #4<br>Ready</th>
<th>hit rate<br>mcache</th><th>hit rate<br>mcentral</th><th>hit rate<br>pagecache</th><th>hit rate<br>heap</th><th>GC<br>cycles</th></tr>';

SELECT '<tr><td><a href="#run' || run_id || '">' || run_id || '</a></td>'
  || '<td class="t">' || replace(replace(replace(trace, '&', '&amp;'), '<', '&lt;'), '>', '&gt;') || '</td>'
  || '<td class="t">' || replace(replace(replace(config, '&', '&amp;'), '<', '&lt;'), '>', '&gt;') || '</td>'
  || '<td>' || ops || '</td><td>' || coalesce(mallocs, '') || '</td>'
  || '<td>' || live_mib || '</td><td>' || inuse_mib || '</td><td>' || ready_mib || '</td>'
  || '<td>' || inuse_jw3 || '</td><td>' || inuse_jw4 || '</td><td>' || ready_jw3 || '</td><td>' || ready_jw4 || '</td>'
  || '<td>' || mcache || '</td><td>' || mcentral || '</td><td>' || pagecache || '</td><td>' || heap || '</td>'
  || '<td>' || coalesce(gc_cycles, '') || '</td></tr>'
FROM report_rows ORDER BY run_id;

SELECT '</table>
<p class="small">J&amp;W: Johnstone and Wilson''s fragmentation measures (ISMM 1998), memory over live bytes
minus one: #3 at the peak of memory, #4 peak memory over peak live bytes; memory is heap in-use
(pages of spans holding objects) or Ready bytes (backed by the OS). Hit rates: the share of
lookups each tier served (<code>v_hit_rates</code>).</p>';

-- One figure: the 2col PNG, its caption, links to every file of it.
CREATE TEMP VIEW fig_html AS
SELECT rowid AS k, figure, run_id, base,
  '<figure id="' || base || '"><a href="' || base || '-2col.png"><img src="' || base || '-2col.png" alt="'
  || replace(replace(replace(replace(figure || coalesce(' — ' || label, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;')
  || '"></a><figcaption><b>' || figure || '</b>. '
  || replace(replace(replace(caption, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')
  || ' <span class="small">[<a href="' || base || '-1col.pdf">PDF 3.3 in</a> · <a href="' || base || '-2col.pdf">PDF 7 in</a> · <a href="'
  || base || '-1col.png">PNG 3.3 in</a> · <a href="' || base || '-2col.png">PNG 7 in</a>]</span></figcaption></figure>' AS html
FROM figs;

SELECT '<h2>All runs</h2>
<div class="figs">' WHERE EXISTS (SELECT 1 FROM figs WHERE run_id IS NULL);
SELECT html FROM fig_html WHERE run_id IS NULL ORDER BY k;
SELECT '</div>' WHERE EXISTS (SELECT 1 FROM figs WHERE run_id IS NULL);

-- Per run: a heading, then its figures.
SELECT group_concat(part, char(10)) FROM (
  SELECT s.run_id, 0 AS part_order, 0 AS k,
         '<h2 id="run' || s.run_id || '">Run ' || s.run_id || ': '
         || replace(replace(replace(v.label, '&', '&amp;'), '<', '&lt;'), '>', '&gt;') || '</h2>'
         || '<p class="small">trace <code>' || replace(replace(replace(coalesce(r.trace_path, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;')
         || '</code>, ' || r.ops || ' operations, free policy ' || coalesce(r.free_policy, '?') || ', '
         || coalesce(r.procs || ' P', 'allocator ' || r.allocator, '?') || '; ' || coalesce(r.gc_cycles, 0)
         || ' GC cycles.</p><div class="figs">' AS part
  FROM selected_runs s JOIN v_runs v USING (run_id) JOIN runs r USING (run_id)
  UNION ALL
  SELECT run_id, 1, k, html FROM fig_html WHERE run_id IS NOT NULL
  UNION ALL
  SELECT run_id, 2, 0, '</div>' FROM selected_runs
  ORDER BY 1, 2, 3);

SELECT '<p class="small">spanlab: <code>scripts/report.sh</code>. Figures: PNG at 200 dpi for viewing, PDF (vector) for print.</p>
</body>
</html>';
EOF
mv "$tmp/index.html" "$page"
echo "$prog: $page" >&2
exit "$status"
