-- The partitions of incidents with their ranges (NULL for the default partition), read back
-- from the partition bounds, and their row estimates; in time order, the default last.
SELECT c.relname AS name,
       CAST(substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']+)''\)') AS timestamptz) AS start,
       CAST(substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)') AS timestamptz) AS "end",
       c.reltuples::bigint AS rows
FROM pg_inherits h
JOIN pg_class c ON c.oid = h.inhrelid
WHERE h.inhparent = CAST('incidents' AS regclass)
ORDER BY 2 NULLS LAST
