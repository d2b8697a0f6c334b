-- Reading a database of an older schema version. spanlab adds the columns a
-- newer version has when it next writes to a file; the analysis scripts
-- only read, so their sessions run this query first and then its output:
-- a TEMP view of the same name shadows each table that lacks an added
-- column, with that column NULL, and the views of views.sql read any
-- version. A schema version that adds a column adds it here.
WITH added(t, c) AS (VALUES
	-- schema version 2
	('runs', 'cpu_seconds'),
	('snapshots', 'heap_live_bytes'),
	('size_class_stats', 'tiny_allocs'),
	-- schema version 3
	('runs', 'trace_complete')),
missing AS (SELECT t, c FROM added
	    WHERE NOT EXISTS (SELECT 1 FROM pragma_table_info(added.t) p WHERE p.name = added.c))
SELECT 'CREATE TEMP VIEW "' || t || '" AS SELECT *' || group_concat(', NULL AS "' || c || '"', '')
       || ' FROM main."' || t || '";'
FROM missing GROUP BY t;
