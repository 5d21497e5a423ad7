-- One MVT tile of grids: $1 z, $2 x, $3 y (WebMercatorQuad), $4 plan id or NULL = published.
-- Feature ids: the grid's row id (unique across plans; a 17-digit code would not fit a JS number).
-- Rows are found with the GiST index in EPSG:4326 (the tile envelope, widened by the buffer,
-- transformed once), simplified in degrees to a fraction of a tile pixel before the
-- per-row transform (low zooms carry whole villages of vertices that would all collapse
-- into a few pixels), then clipped and quantised by ST_AsMVTGeom.
WITH tile AS (
    SELECT ST_TileEnvelope($1::int, $2::int, $3::int) AS merc,
           ST_Transform(ST_TileEnvelope($1::int, $2::int, $3::int, margin => 64.0 / 4096), 4326) AS geo,
           -- 1/2 of an extent unit, in degrees of longitude
           360.0 / (2 ^ $1::int) / 4096 / 2 AS tolerance
),
rows AS (
    SELECT g.id, g.code, g.name, g.households, g.level, g.kind,
           ST_AsMVTGeom(
               ST_Transform(ST_Simplify(g.geom, tile.tolerance, true), 3857),
               tile.merc, 4096, 64, true) AS geom
    FROM grids g, tile
    WHERE g.geom && tile.geo
      AND g.plan_id IN (SELECT p.id FROM plans p
                        WHERE CASE WHEN $4::int IS NULL THEN p.status = 'published' ELSE p.id = $4::int END)
)
SELECT ST_AsMVT(rows.*, 'grids', 4096, 'geom', 'id') FROM rows WHERE rows.geom IS NOT NULL
