-- The grids of a department's active layer that overlap one published base grid, with what the
-- routing rule (geogrid.layers.route) weighs: whether an aligned grid lists the base grid, the
-- households of the base grid's addresses inside the department grid, and the overlap area.
-- Parameters: department = the department's code or name, grid = a base grid code (15 or 17 digits).
SELECT d.code, d.name, d.unit_code, d.unit_name,
       l.department_code, l.department_name, l.version AS layer_version, l.kind AS layer_kind,
       coalesce(left(g.code, 15) = ANY(d.base_codes), false) AS aligned,
       ST_Area(ST_Intersection(d.geom, g.geom)::geography) AS area_m2,
       (SELECT coalesce(sum(a.households), 0) FROM addresses a
         WHERE left(a.grid_code, 15) = left(g.code, 15) AND ST_Intersects(d.geom, a.geom)) AS households
FROM department_layers l
JOIN department_grids d ON d.layer_id = l.id
JOIN grids g ON g.code = left(:grid, 15)
JOIN plans p ON p.id = g.plan_id AND p.status = 'published'
WHERE l.status = 'active'
  AND (l.department_code = :department OR l.department_name = :department)
  AND (ST_Intersects(d.geom, g.geom) OR left(g.code, 15) = ANY(d.base_codes))
ORDER BY d.code
