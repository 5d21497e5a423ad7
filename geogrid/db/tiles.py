"""Mapbox vector tiles of grids, divisions and addresses, built in PostGIS.

A tile is one statement (``ST_TileEnvelope`` → ``ST_AsMVTGeom`` → ``ST_AsMVT``, SQL in
``geogrid/db/sql/tile_*.sql``), prepared once per connection.  :class:`TileCache` keeps
finished tiles in memory keyed by :func:`data_version`, a cheap fingerprint of the plans,
addresses and divisions: publishing or rolling back a plan changes it, so a server process
never serves a tile of a plan that is no longer published, whichever process published.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from geogrid.db.rawpool import RawPool, load_sql
from geogrid.errors import GeogridError, NotFoundError

__all__ = [
    "LAYERS",
    "MAX_ZOOM",
    "CachedTile",
    "Extent",
    "TileCache",
    "TileLayer",
    "check_tile",
    "data_extent",
    "data_version",
    "data_version_async",
    "etag_for",
    "render_tile",
    "render_tile_async",
    "tilejson",
]

#: Deepest zoom served (WebMercatorQuad tile matrices 0..24).
MAX_ZOOM = 24


@dataclass(frozen=True)
class TileLayer:
    """One collection served as tiles: its layer name, attributes and zoom range."""

    id: str
    description: str
    fields: dict[str, str]
    minzoom: int
    maxzoom: int
    geometry: str


LAYERS: dict[str, TileLayer] = {
    "grids": TileLayer(
        "grids",
        "Grids (网格) of the published plans, or of one plan with ?plan=",
        {"code": "String", "name": "String", "households": "Number", "level": "Number", "kind": "String"},
        minzoom=0,
        maxzoom=22,
        geometry="polygon",
    ),
    "divisions": TileLayer(
        "divisions",
        "Townships (乡镇/街道) and villages (村/社区)",
        {"code": "String", "name": "String", "level": "String", "kind": "String", "parent_code": "String"},
        minzoom=0,
        maxzoom=22,
        geometry="polygon",
    ),
    "addresses": TileLayer(
        "addresses",
        "Standard addresses (标准地址) with their households and grid",
        {
            "address_id": "String",
            "full_text": "String",
            "households": "Number",
            "grid_code": "String",
            "division_code": "String",
        },
        # Below zoom 13 a tile would carry tens of thousands of points nobody can tell apart.
        minzoom=13,
        maxzoom=22,
        geometry="point",
    ),
}


def check_tile(z: int, x: int, y: int) -> None:
    """Raise :class:`GeogridError` unless ``z/x/y`` is a WebMercatorQuad tile.

    Examples
    --------
    >>> check_tile(3, 7, 7)
    >>> check_tile(3, 8, 0)
    Traceback (most recent call last):
    ...
    geogrid.errors.GeogridError: tile x=8 is out of range for zoom 3: use 0..7
    """
    if not 0 <= z <= MAX_ZOOM:
        raise GeogridError(f"tile zoom {z} is out of range: use 0..{MAX_ZOOM}")
    n = 1 << z
    if not 0 <= x < n:
        raise GeogridError(f"tile x={x} is out of range for zoom {z}: use 0..{n - 1}")
    if not 0 <= y < n:
        raise GeogridError(f"tile y={y} is out of range for zoom {z}: use 0..{n - 1}")


def _layer(collection: str) -> TileLayer:
    try:
        return LAYERS[collection]
    except KeyError:
        raise NotFoundError(f"collection {collection!r} has no tiles; use one of {sorted(LAYERS)}") from None


def render_tile(
    pool: RawPool, collection: str, z: int, x: int, y: int, *, plan_id: int | None = None
) -> bytes:
    """The MVT tile ``z/x/y`` of ``collection`` (``b""`` when it has no features).

    Parameters
    ----------
    pool
        Database connections (:func:`geogrid.db.rawpool.pool_for`).
    collection
        ``grids``, ``divisions`` or ``addresses``.
    z, x, y
        WebMercatorQuad tile indices (XYZ scheme, y from the north).
    plan_id
        Grids only: draw this plan (e.g. a draft) instead of the published plans.

    Examples
    --------
    >>> import mapbox_vector_tile
    >>> data = render_tile(pool_for(engine), "grids", 14, 13684, 6719)   # doctest: +SKIP
    >>> mapbox_vector_tile.decode(data)["grids"]["features"][0]["properties"]["code"]   # doctest: +SKIP
    '320508001001001'
    """
    layer = _layer(collection)
    check_tile(z, x, y)
    if z < layer.minzoom:
        return b""
    if collection == "grids":
        row = pool.fetchone_prepared("geogrid_tile_grids", load_sql("tile_grids"), (z, x, y, plan_id))
    else:
        row = pool.fetchone_prepared(f"geogrid_tile_{collection}", load_sql(f"tile_{collection}"), (z, x, y))
    return bytes(row[0]) if row and row[0] is not None else b""


async def render_tile_async(
    pool,
    collection: str,
    z: int,
    x: int,
    y: int,
    *,
    plan_id: int | None = None,
) -> bytes:
    """:func:`render_tile` on an ``asyncpg`` pool (statements prepared by asyncpg's cache)."""
    layer = _layer(collection)
    check_tile(z, x, y)
    if z < layer.minzoom:
        return b""
    args = (z, x, y, plan_id) if collection == "grids" else (z, x, y)
    body = await pool.fetchval(load_sql(f"tile_{collection}"), *args)
    return bytes(body) if body is not None else b""


async def data_version_async(pool) -> str:
    """:func:`data_version` on an ``asyncpg`` pool."""
    return await pool.fetchval(load_sql("data_version")) or ""


def data_version(pool: RawPool) -> str:
    """A fingerprint that changes whenever a plan is saved, published, rolled back or deleted,
    or addresses/divisions are loaded.

    Examples
    --------
    >>> before = data_version(pool_for(engine))          # doctest: +SKIP
    >>> publish_plan(engine, draft_id)                   # doctest: +SKIP
    >>> data_version(pool_for(engine)) != before         # doctest: +SKIP
    True
    """
    row = pool.fetchone_prepared("geogrid_data_version", load_sql("data_version"), ())
    return row[0] if row else ""


def etag_for(body: bytes) -> str:
    """A strong ETag for a tile body (empty tiles included).

    Examples
    --------
    >>> etag_for(b"") == etag_for(b"")
    True
    """
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


@dataclass(frozen=True)
class CachedTile:
    body: bytes
    etag: str


class TileCache:
    """A bounded, thread-safe LRU cache of finished tiles.

    Keys should include :func:`data_version`; stale entries are then never hit again and
    age out of the LRU order.

    Parameters
    ----------
    max_entries
        Tiles kept; 0 disables the cache.

    Examples
    --------
    >>> cache = TileCache(2)
    >>> _ = cache.put(("grids", 0, 0, 0, None, "v1"), b"x")
    >>> cache.get(("grids", 0, 0, 0, None, "v1")).body
    b'x'
    >>> cache.get(("grids", 0, 0, 0, None, "v2")) is None
    True
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(0, int(max_entries))
        self._items: OrderedDict[tuple, CachedTile] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> CachedTile | None:
        with self._lock:
            tile = self._items.get(key)
            if tile is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return tile

    def put(self, key: tuple, body: bytes) -> CachedTile:
        tile = CachedTile(body, etag_for(body))
        if self.max_entries == 0:
            return tile
        with self._lock:
            self._items[key] = tile
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return tile

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


# Per collection: table, geometry, the code whose first 6 digits name the county, the rows shown.
_EXTENT_SOURCES = {
    "grids": (
        "grids g",
        "g.geom",
        "g.code",
        "g.plan_id IN (SELECT id FROM plans WHERE CASE WHEN %(p)s::int IS NULL "
        "THEN status = 'published' ELSE id = %(p)s::int END)",
    ),
    "divisions": ("divisions d", "d.boundary", "d.code", "d.level IN ('township', 'village')"),
    "addresses": ("addresses a", "a.geom", "a.division_code", "TRUE"),
}
WORLD = (-180.0, -85.0511287798066, 180.0, 85.0511287798066)


@dataclass(frozen=True)
class Extent:
    """Where a collection's data is: ``bounds`` of all of it, ``main`` of its largest county.

    Data of several counties far apart (a county in Jiangsu and a sample in Helsinki) has
    bounds spanning both; the middle of those is in neither, so a map opens on ``main``.
    """

    bounds: tuple[float, float, float, float]
    main: tuple[float, float, float, float]


def data_extent(
    pool: RawPool, collection: str, *, plan_id: int | None = None, prefix: str | None = None
) -> Extent | None:
    """The :class:`Extent` of a collection (grids: published, or of ``plan_id``), optionally only
    of the codes starting with ``prefix`` (a division's scope); None when there is nothing.

    Examples
    --------
    >>> data_extent(pool_for(engine), "grids", prefix="320508").main      # doctest: +SKIP
    (120.6, 31.3, 120.62, 31.32)
    """
    _layer(collection)
    table, geom, code, shown = _EXTENT_SOURCES[collection]
    sql = f"""
        WITH parts AS (
            SELECT left({code}, 6) AS county, ST_Extent({geom}) AS e, count(*) AS n
            FROM {table} WHERE {shown} AND (%(prefix)s::text IS NULL OR {code} LIKE %(prefix)s)
            GROUP BY 1)
        SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b), ST_XMin(m), ST_YMin(m), ST_XMax(m), ST_YMax(m)
        FROM (SELECT ST_Extent(e::geometry) AS b FROM parts) everything,
             (SELECT e::geometry AS m FROM parts ORDER BY n DESC, county LIMIT 1) largest"""
    row = pool.fetchone(sql, {"p": plan_id, "prefix": None if prefix is None else prefix + "%"})
    if not row or row[0] is None:
        return None
    values = [round(float(v), 7) for v in row]
    return Extent(tuple(values[:4]), tuple(values[4:]))  # type: ignore[arg-type]


def _fitting_zoom(bounds: tuple[float, float, float, float], minzoom: int, maxzoom: int) -> int:
    """The zoom at which ``bounds`` spans about two 256-pixel tiles across."""
    import math

    west, south, east, north = bounds
    span = max(east - west, (north - south) * 1.5, 1e-6)
    return max(minzoom, min(maxzoom, 16, int(math.log2(720.0 / span))))


def tilejson(
    pool: RawPool,
    collection: str,
    tiles_url: str,
    *,
    plan_id: int | None = None,
    prefix: str | None = None,
) -> dict:
    """A TileJSON 3.0.0 document for ``collection`` with ``tiles_url`` as its tile template.

    ``bounds`` cover the data (published grids, or ``plan_id``'s; with ``prefix``, only the
    codes of that division); ``center`` is the middle of the largest county in them, at a zoom
    that shows it whole: never the middle of far-apart places.

    Examples
    --------
    >>> url = "http://h/collections/grids/tiles/WebMercatorQuad/{z}/{x}/{y}"
    >>> tj = tilejson(pool_for(engine), "grids", url)                          # doctest: +SKIP
    >>> tj["tilejson"], tj["vector_layers"][0]["id"]                                 # doctest: +SKIP
    ('3.0.0', 'grids')
    """
    layer = _layer(collection)
    extent = data_extent(pool, collection, plan_id=plan_id, prefix=prefix)
    bounds, main = (extent.bounds, extent.main) if extent else (WORLD, WORLD)
    zoom = _fitting_zoom(main, layer.minzoom, layer.maxzoom) if extent else layer.minzoom
    return {
        "tilejson": "3.0.0",
        "name": collection,
        "description": layer.description,
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "bounds": list(bounds),
        "center": [round((main[0] + main[2]) / 2, 7), round((main[1] + main[3]) / 2, 7), zoom],
        "vector_layers": [
            {
                "id": layer.id,
                "description": layer.description,
                "fields": layer.fields,
                "minzoom": layer.minzoom,
                "maxzoom": layer.maxzoom,
            }
        ],
    }
