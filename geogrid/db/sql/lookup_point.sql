-- The finest published grid containing a WGS-84 point, as one JSON document.
-- $1 = longitude, $2 = latitude (degrees, EPSG:4326).
-- One statement = one snapshot: the answer comes wholly from the plan published when it
-- started, even while another transaction publishes a new plan for the same scope.
SELECT json_build_object(
    'grid', json_build_object(
        'code', g.code,
        'level', g.level,
        'kind', g.kind,
        'name', g.name,
        'households', g.households,
        'address_count', g.address_count,
        'head', json_build_object('name', g.head_name, 'phone', g.head_phone),
        'workers', g.workers,
        'parent_grid', CASE WHEN length(g.code) = 17 THEN left(g.code, 15) END,
        'plan_id', g.plan_id
    ),
    'village', (SELECT json_build_object('code', v.code, 'name', v.name, 'kind', v.kind)
                FROM divisions v WHERE v.code = g.division_code),
    'township', (SELECT json_build_object('code', t.code, 'name', t.name)
                 FROM divisions t WHERE t.code = left(g.division_code, 9) || '000'),
    'crs', 'wgs84',
    'lon', $1::float8,
    'lat', $2::float8
)::text
FROM grids g
JOIN plans p ON p.id = g.plan_id AND p.status = 'published'
-- The point is a sub-select so that no plan folds it into a constant: the estimates of custom
-- and generic plans then agree and PostgreSQL keeps the generic plan of this prepared statement
-- after five runs.  With the point folded, the GiST selectivity of one known point made every
-- custom plan look cheaper than the generic one once a province had ~10k grids, and every lookup
-- was planned again (0.3 ms of planning for 0.1 ms of work: lookups 3-4x slower at 10 counties).
WHERE ST_Intersects(g.geom, (SELECT ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326)))
-- Sub-grids (17 digits) lie inside their grid: the longest code is the finest answer.
-- A point on a shared edge touches two grids: the smaller code wins, deterministically.
ORDER BY length(g.code) DESC, g.level DESC, g.code
LIMIT 1
