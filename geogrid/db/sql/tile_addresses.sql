-- One MVT tile of standard addresses (points): $1 z, $2 x, $3 y.
-- Feature ids: the address's row id.
WITH tile AS (
    SELECT ST_TileEnvelope($1::int, $2::int, $3::int) AS merc,
           ST_Transform(ST_TileEnvelope($1::int, $2::int, $3::int), 4326) AS geo
),
rows AS (
    SELECT a.id, coalesce(a.source_id, a.id::text) AS address_id, a.full_text, a.households, a.grid_code,
           a.division_code,
           ST_AsMVTGeom(ST_Transform(a.geom, 3857), tile.merc, 4096, 0, true) AS geom
    FROM addresses a, tile
    WHERE a.geom && tile.geo
)
SELECT ST_AsMVT(rows.*, 'addresses', 4096, 'geom', 'id') FROM rows WHERE rows.geom IS NOT NULL
