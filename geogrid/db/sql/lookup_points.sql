-- Batch point lookup in one statement (one snapshot: never a mix of two plans).
-- Parameters lons, lats = float8 arrays of WGS-84 positions; the answer is one JSON array in
-- input order: [{"index": i, "grid": {...} | null}, ...].
SELECT coalesce(json_agg(json_build_object(
    'index', q.i - 1,
    'lon', q.lon,
    'lat', q.lat,
    'grid', CASE WHEN hit.code IS NULL THEN NULL ELSE json_build_object(
        'code', hit.code, 'level', hit.level, 'kind', hit.kind, 'name', hit.name,
        'village_code', hit.division_code,
        'village_name', (SELECT v.name FROM divisions v WHERE v.code = hit.division_code),
        'township_code', left(hit.division_code, 9) || '000',
        'township_name', (SELECT t.name FROM divisions t WHERE t.code = left(hit.division_code, 9) || '000'),
        'plan_id', hit.plan_id) END
) ORDER BY q.i), '[]'::json)::text
FROM unnest(%(lons)s::float8[], %(lats)s::float8[]) WITH ORDINALITY AS q(lon, lat, i)
LEFT JOIN LATERAL (
    SELECT g.code, g.level, g.kind, g.name, g.division_code, g.plan_id
    FROM grids g
    JOIN plans p ON p.id = g.plan_id AND p.status = 'published'
    WHERE ST_Intersects(g.geom, ST_SetSRID(ST_MakePoint(q.lon, q.lat), 4326))
    ORDER BY length(g.code) DESC, g.level DESC, g.code
    LIMIT 1
) hit ON true
