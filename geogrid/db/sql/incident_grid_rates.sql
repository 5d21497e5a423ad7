-- Grids of published plans with their incident counts and rates (a choropleth layer).
-- {where} filters incidents (bound parameters), {grid_where} filters grids.
WITH counts AS (
    SELECT i.grid_code,
           count(*) AS incidents,
           count(*) FILTER (WHERE i.accepted_at IS NOT NULL) AS accepted,
           count(*) FILTER (WHERE i.resolved_at IS NOT NULL) AS completed,
           count(*) FILTER (WHERE i.resolved_at <= i.complete_due) AS completed_on_time,
           count(*) FILTER (
               WHERE (i.status = 'reported' AND i.accept_due < :now)
                  OR (i.status = ANY(CAST(:open_statuses AS text[])) AND i.complete_due < :now)) AS overdue
    FROM incidents i
    WHERE i.status <> 'merged' AND i.grid_code IS NOT NULL {where}
    GROUP BY i.grid_code
)
SELECT g.code, g.name, g.division_code, d.name AS division_name, g.kind, g.households, g.head_name,
       coalesce(c.incidents, 0) AS incidents,
       coalesce(c.accepted, 0) AS accepted,
       coalesce(c.completed, 0) AS completed,
       coalesce(c.completed_on_time, 0) AS completed_on_time,
       coalesce(c.overdue, 0) AS overdue,
       ST_AsGeoJSON(g.geom, 6) AS geometry
FROM grids g
JOIN plans p ON p.id = g.plan_id AND p.status = 'published'
LEFT JOIN counts c ON c.grid_code = g.code
LEFT JOIN divisions d ON d.code = g.division_code
WHERE TRUE {grid_where}
ORDER BY g.code
