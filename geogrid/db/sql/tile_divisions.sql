-- One MVT tile of divisions (townships and villages): $1 z, $2 x, $3 y.
-- Feature ids: the 12-digit division code as a number.
-- Division boundaries are large: clip them to the (buffered) tile in degrees before the
-- transform so that a zoom-16 tile does not project a whole township.
WITH tile AS (
    SELECT ST_TileEnvelope($1::int, $2::int, $3::int) AS merc,
           ST_Transform(ST_TileEnvelope($1::int, $2::int, $3::int, margin => 64.0 / 4096), 4326) AS geo,
           360.0 / (2 ^ $1::int) / 4096 / 2 AS tolerance
),
rows AS (
    SELECT CAST(d.code AS bigint) AS id, d.code, d.name, d.level, d.kind, d.parent_code,
           ST_AsMVTGeom(
               ST_Transform(ST_Simplify(ST_ClipByBox2D(d.boundary, tile.geo), tile.tolerance, true), 3857),
               tile.merc, 4096, 64, true) AS geom
    FROM divisions d, tile
    WHERE d.boundary && tile.geo AND d.level IN ('township', 'village')
)
SELECT ST_AsMVT(rows.*, 'divisions', 4096, 'geom', 'id') FROM rows WHERE rows.geom IS NOT NULL
