"""Vector tiles (MVT) and TileJSON of grids, divisions and addresses, with a server-side cache.

Cache correctness: every tile request reads :func:`geogrid.db.tiles.data_version` (one
small prepared query) and uses it in the cache key.  Publishing or rolling back a plan
changes the version in the same transaction that swaps the plans, so any server process
— not only the one that handled the publish — stops serving tiles of the old plan with
its very next request.  Old entries are never hit again and age out of the bounded LRU.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from api import ogc
from api.routers._shared import Reader, async_pool, close_async_pool, pool
from geogrid.db import tiles
from geogrid.db.incidents import division_prefix
from geogrid.errors import GeogridError, NotFoundError

router = APIRouter(tags=["tiles"], lifespan=close_async_pool)

MVT = "application/vnd.mapbox-vector-tile"
TMS = "WebMercatorQuad"
_CACHE_LOCK = threading.Lock()


def _cache(request: Request) -> tiles.TileCache:
    state = request.app.state
    cache = getattr(state, "tile_cache", None)
    if cache is None:
        with _CACHE_LOCK:
            cache = getattr(state, "tile_cache", None)
            if cache is None:
                cache = state.tile_cache = tiles.TileCache(state.settings.tile_cache_entries)
    return cache


def _check_collection(collection_id: str, tms: str, plan: int | None) -> None:
    if collection_id not in tiles.LAYERS:
        raise NotFoundError(f"collection {collection_id!r} has no tiles; use one of {sorted(tiles.LAYERS)}")
    if tms != TMS:
        raise NotFoundError(f"tile matrix set {tms!r} is not served; use {TMS}")
    if plan is not None and collection_id != "grids":
        raise GeogridError("the plan parameter applies to grids only")


def _parse_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise GeogridError(f"tile {name} must be an integer, got {text!r}") from None


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags


TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
TMS_CRS = "http://www.opengis.net/def/crs/EPSG/0/3857"


def _tileset_links(request: Request, collection_id: str) -> list[dict]:
    base = ogc.base_url(request)
    url = f"{base}/collections/{collection_id}/tiles/{TMS}"
    return [
        ogc.link(url, "self", ogc.JSON, f"{collection_id} 矢量瓦片集 tileset ({TMS})"),
        ogc.link(f"{base}/tileMatrixSets/{TMS}", ogc.REL_TILING_SCHEME, ogc.JSON, TMS),
        # Tiles are addressed z/x/y (as tipg, TileJSON and every web map do): the template
        # says which variable is which.
        ogc.link(
            url + "/{tileMatrix}/{tileCol}/{tileRow}",
            "item",
            MVT,
            "瓦片 Tiles (Mapbox Vector Tile)",
            templated=True,
        ),
        ogc.link(url + "/tilejson.json", "describedby", ogc.JSON, "TileJSON"),
    ]


@router.get("/collections/{collection_id}/tiles")
def tilesets(collection_id: str, request: Request, principal: Reader) -> dict:
    """The tilesets of a collection (one: WebMercatorQuad)."""
    ogc.check_parameters(request, ["f"])
    _check_collection(collection_id, TMS, None)
    return {
        "tilesets": [
            {
                "title": f"{collection_id} ({TMS})",
                "dataType": "vector",
                "tileMatrixSetURI": TMS_URI,
                "crs": TMS_CRS,
                "links": _tileset_links(request, collection_id),
            }
        ],
        "links": [ogc.link(str(request.url), "self", ogc.JSON, f"{collection_id} tilesets")],
    }


@router.get("/collections/{collection_id}/tiles/{tms}")
def tileset(collection_id: str, tms: str, request: Request, principal: Reader) -> dict:
    """One tileset: its tile matrix set, the tiles that hold data at each zoom
    (``tileMatrixSetLimits``) and the tile URL template."""
    ogc.check_parameters(request, ["f"])
    _check_collection(collection_id, tms, None)
    layer = tiles.LAYERS[collection_id]
    extent = tiles.data_extent(pool(request), collection_id)
    doc: dict = {
        "title": f"{collection_id} ({TMS})",
        "dataType": "vector",
        "tileMatrixSetURI": TMS_URI,
        "crs": TMS_CRS,
        "links": _tileset_links(request, collection_id),
        "layers": [
            {
                "id": layer.id,
                "title": layer.description,
                "dataType": "vector",
                "geometryDimension": 0 if layer.geometry == "point" else 2,
                "minTileMatrix": str(layer.minzoom),
                "maxTileMatrix": str(layer.maxzoom),
            }
        ],
    }
    if extent is not None:
        doc["boundingBox"] = {
            "lowerLeft": list(extent.bounds[:2]),
            "upperRight": list(extent.bounds[2:]),
            "crs": ogc.CRS84.uri,
        }
        doc["tileMatrixSetLimits"] = ogc.tile_matrix_limits(list(extent.bounds), layer.minzoom, layer.maxzoom)
    return doc


@router.get("/collections/{collection_id}/tiles/{tms}/tilejson.json")
def tilejson(
    *,
    collection_id: str,
    tms: str,
    request: Request,
    plan: int | None = Query(None, description="Grids of this plan instead of the published ones"),
    division: str | None = Query(
        None, description="bounds and center of this division's data only (e.g. a county or township code)"
    ),
    principal: Reader,
) -> JSONResponse:
    """TileJSON 3.0.0 for the collection's vector tiles: ``bounds`` of the data, ``center`` in
    its largest county (or in ``division``)."""
    ogc.check_parameters(request, ["plan", "division", "f"])
    _check_collection(collection_id, tms, plan)
    prefix = division_prefix(division) if division else None
    url = str(request.base_url).rstrip("/") + f"/collections/{collection_id}/tiles/{TMS}/{{z}}/{{x}}/{{y}}"
    if plan is not None:
        url += f"?plan={plan}"
    return JSONResponse(tiles.tilejson(pool(request), collection_id, url, plan_id=plan, prefix=prefix))


@router.get(
    "/collections/{collection_id}/tiles/{tms}/{z}/{x}/{y}",
    response_class=Response,
    responses={
        200: {"content": {MVT: {}}},
        204: {"description": "Empty tile"},
        304: {"description": "Not modified"},
    },
)
async def tile(
    *,
    collection_id: str,
    tms: str,
    z: str,
    x: str,
    y: str,
    request: Request,
    plan: int | None = Query(
        None, description="Grids of this plan (e.g. a draft) instead of the published ones"
    ),
    if_none_match: str | None = Header(None),
    principal: Reader,
) -> Response:
    """One Mapbox vector tile (204 when empty); ETag/If-None-Match, cached per data version."""
    if request.scope.get("query_string"):  # only parse what is there: this is the hot path
        ogc.check_parameters(request, ["plan", "f"])
    _check_collection(collection_id, tms, plan)
    # Accept the customary ".mvt"/".pbf" suffix on y.
    for suffix in (".mvt", ".pbf"):
        y = y.removesuffix(suffix)
    zi, xi, yi = _parse_int("z", z), _parse_int("x", x), _parse_int("y", y)
    tiles.check_tile(zi, xi, yi)
    settings = request.app.state.settings
    # On the event loop with asyncpg (as the point lookup): a cached tile costs one small
    # prepared query (the data version) and no thread hop.
    db = await async_pool(request)
    cache = _cache(request)
    if cache.max_entries:
        key = (collection_id, zi, xi, yi, plan, await tiles.data_version_async(db))
        cached = cache.get(key)
        if cached is None:
            body = await tiles.render_tile_async(db, collection_id, zi, xi, yi, plan_id=plan)
            cached = cache.put(key, body)
            state = "MISS"
        else:
            state = "HIT"
        body, etag = cached.body, cached.etag
    else:
        body = await tiles.render_tile_async(db, collection_id, zi, xi, yi, plan_id=plan)
        etag, state = tiles.etag_for(body), "BYPASS"
    # A draft's tiles are looked at while being edited: always revalidate them.
    control = "no-cache" if plan is not None else f"public, max-age={settings.tile_cache_max_age_s}"
    headers = {"ETag": etag, "Cache-Control": control, "X-Tile-Cache": state}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    if not body:
        return Response(status_code=204, headers=headers)
    return Response(content=body, media_type=MVT, headers=headers)
