-- Incident counts per H3 cell inside a bbox, read as ranges of the stored res-12 cell
-- (geogrid.heat.bbox_cell_ranges): each range is one scan of ix_incidents_heat, a covering
-- index, so the heap is not read.  {parent} is geogrid.heat.parent_sql('i.h3_cell', res);
-- {where} holds the other bound filters (never the bbox).
-- Rows of "inside" ranges lie in the bbox by construction; the others are tested on their
-- coordinates, which for a point is exactly ST_Intersects with the envelope (edges included).
-- LATERAL ... OFFSET 0 keeps one index range scan per range: flattened, the planner may
-- instead read the whole bbox through the GiST index and heap.
SELECT {parent} AS cell, count(*) AS count
FROM unnest(CAST(:r_lo AS bigint[]), CAST(:r_hi AS bigint[]), CAST(:r_inside AS boolean[]))
     AS r(lo, hi, inside)
CROSS JOIN LATERAL (
    SELECT i.h3_cell
    FROM incidents i
    WHERE i.h3_cell BETWEEN r.lo AND r.hi
      AND i.status <> 'merged'
      AND (r.inside OR (ST_X(i.location) BETWEEN :b_w AND :b_e AND ST_Y(i.location) BETWEEN :b_s AND :b_n))
      {where}
    OFFSET 0
) i
GROUP BY 1
ORDER BY 1
