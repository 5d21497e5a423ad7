-- One Mapbox Vector Tile of H3 cells: the hexagons (WKB, lon/lat) come from the caller,
-- PostGIS clips and encodes them.
SELECT ST_AsMVT(t, 'heat', 4096, 'geom')
FROM (
    SELECT c.cell, c.count,
           ST_AsMVTGeom(ST_Transform(ST_SetSRID(ST_GeomFromWKB(c.wkb), 4326), 3857),
                        ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom
    FROM unnest(CAST(:cells AS text[]), CAST(:counts AS bigint[]), CAST(:wkbs AS bytea[]))
         AS c(cell, count, wkb)
) t
WHERE t.geom IS NOT NULL
