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
        'parent_grid_name', CASE WHEN length(g.code) = 17 THEN
            (SELECT pg.name FROM grids pg WHERE pg.plan_id = g.plan_id AND pg.code = left(g.code, 15)) END,
        'plan_id', g.plan_id
    ),
    'village', (SELECT json_build_object('code', v.code, 'name', v.name, 'kind', v.kind)
                FROM divisions v WHERE v.code = g.division_code),
    'township', (SELECT json_build_object('code', t.code, 'name', t.name)
                 FROM divisions t WHERE t.code = left(g.division_code, 9) || '000'),
    -- Issue 15: every department's grid here, from its active layer, found by one GiST probe;
    -- where two grids meet, an aligned layer's grid listing the base grid answered above wins,
    -- so the two answers agree.  And the 联户 here.
    'departments', (SELECT coalesce(json_agg(json_build_object(
            'department_code', x.department_code, 'department_name', x.department_name,
            'layer_version', x.version, 'aligned', x.kind = 'aligned',
            'code', x.code, 'name', x.name, 'unit_code', x.unit_code, 'unit_name', x.unit_name)
            ORDER BY x.department_code), '[]'::json)
        FROM (SELECT DISTINCT ON (l.department_code) l.department_code, l.department_name, l.version, l.kind,
                     dg.code, dg.name, dg.unit_code, dg.unit_name
              FROM department_grids dg
              JOIN department_layers l ON l.id = dg.layer_id AND l.status = 'active'
              WHERE ST_Intersects(dg.geom, ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326))
              ORDER BY l.department_code, coalesce(left(g.code, 15) = ANY(dg.base_codes), false) DESC, dg.code) x),
    'link_groups', (SELECT coalesce(json_agg(json_build_object(
            'code', lg.code, 'name', lg.name, 'households', lg.households,
            'leader', CASE WHEN lg.leader_name IS NOT NULL THEN
                json_build_object('name', lg.leader_name, 'phone', lg.leader_phone) END)
            ORDER BY lg.code), '[]'::json)
        FROM link_groups lg
        WHERE lg.plan_id = g.plan_id AND lg.grid_code = left(g.code, 15)
          AND ST_Intersects(lg.geom, ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326))),
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
