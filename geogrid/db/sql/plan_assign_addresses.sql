-- Point every address inside the grids of plan plan_id at its finest grid (a sub-grid beats
-- its 15-digit parent; on a shared boundary the smaller code wins, deterministically).
WITH hit AS (
    SELECT DISTINCT ON (a.id) a.id, g.code
    FROM addresses a
    JOIN grids g ON g.plan_id = :plan_id AND ST_Intersects(g.geom, a.geom)
    ORDER BY a.id, length(g.code) DESC, g.code
)
UPDATE addresses a SET grid_code = hit.code
FROM hit
WHERE a.id = hit.id AND a.grid_code IS DISTINCT FROM hit.code
