"""Which grid is this place in?  Point, address and batch lookups for the field app."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.routers._shared import (
    Reader,
    async_pool,
    cancellable,
    check_address,
    close_async_pool,
    json_text,
    pool,
    reader,
)
from geogrid.coords import CRS_NAMES
from geogrid.db import lookup
from geogrid.errors import InvalidGeometryError, NotFoundError
from geogrid.limits import check_count

router = APIRouter(tags=["lookup"], lifespan=close_async_pool)


def _crs(crs: str) -> str:
    name = crs.lower().replace("-", "").replace("_", "")
    if name not in CRS_NAMES:
        raise InvalidGeometryError(f"unknown crs {crs!r}; use one of {list(CRS_NAMES)}")
    return name


def _param(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


# The parameters are read by hand (documented here for OpenAPI): FastAPI's per-request
# validation of six optional query parameters cost more than the lookup query itself
# (profiled; see docs/BENCHMARKS.md), and this is the field app's hot path.
_LOOKUP_PARAMETERS = [
    _param("lon", {"type": "number"}, "Longitude in degrees (lon first)"),
    _param("lat", {"type": "number"}, "Latitude in degrees"),
    _param(
        "crs",
        {"type": "string", "enum": list(CRS_NAMES), "default": "wgs84"},
        "wgs84 (GPS), gcj02 (AMap/Tencent) or bd09 (Baidu)",
    ),
    _param(
        "address",
        {"type": "string"},
        "Chinese address text as people write it, e.g. 平江路12号, 枫桥镇人民路十二號3栋2单元502",
    ),
    _param(
        "limit", {"type": "integer", "minimum": 2, "maximum": 50, "default": 5}, "Address matches to return"
    ),
    _param(
        "min_score",
        {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": lookup.MIN_SCORE},
        "Minimum address score (1 = same street and number; a street one character away 0.85)",
    ),
]


def _number(params, name: str, kind: type = float):
    text = params.get(name)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise HTTPException(422, f"query.{name}: must be {what}, got {text!r}") from None


@router.get(
    "/lookup",
    responses={404: {"description": "The point is in no published grid"}},
    openapi_extra={"parameters": _LOOKUP_PARAMETERS},
)
async def lookup_one(request: Request) -> Response:
    """The grid at a point (with its village, township, head and workers), or the standard
    addresses best matching a text (each with its grid and a score; ambiguity flagged)."""
    await reader(request)
    params = request.query_params
    lon, lat, address = _number(params, "lon"), _number(params, "lat"), params.get("address")
    if address is not None:
        if lon is not None or lat is not None:
            raise HTTPException(400, "give either lon/lat or address, not both")
        limit = _number(params, "limit", int) or 5
        min_score = _number(params, "min_score")
        min_score = lookup.MIN_SCORE if min_score is None else min_score
        if not 2 <= limit <= 50:
            raise HTTPException(422, f"query.limit: must be in 2..50, got {limit}")
        if not 0 < min_score <= 1:
            raise HTTPException(422, f"query.min_score: must be in (0, 1], got {min_score}")
        check_address(request, address)
        db = pool(request)
        result = await cancellable(
            request, db, lookup.lookup_address, db, address, limit=limit, min_score=min_score
        )
        return JSONResponse(result.to_dict())
    if lon is None or lat is None:
        missing = [n for n, v in (("lon", lon), ("lat", lat)) if v is None]
        raise HTTPException(400, f"missing {' and '.join(missing)}: give lon and lat (and crs), or address")
    crs = params.get("crs", "wgs84")
    name = "wgs84" if crs == "wgs84" else _crs(crs)
    x, y = lookup.wgs84_point(lon, lat, name)
    # Served on the event loop with asyncpg: measured faster than a thread hop + psycopg2.
    doc = await lookup.lookup_point_async(await async_pool(request), x, y)
    if doc is None:
        detail = f"point lon={lon}, lat={lat} ({name}) is in no published grid"
        hint = lookup.swap_hint(lon, lat)
        raise NotFoundError(detail + (f"; {hint}" if hint else ""))
    return json_text(doc)


@router.get("/lookup/suggest")
def lookup_suggest(
    request: Request,
    principal: Reader,
    q: str = Query(
        ...,
        max_length=100,
        description="The start of an address: 人民路1, 枫桥镇人民, or pinyin initials such as rml",
    ),
    limit: int = Query(lookup.MAX_SUGGESTIONS, ge=1, le=lookup.MAX_SUGGESTIONS, description="Suggestions"),
) -> Response:
    """Type-ahead for the field app: streets (one per village, with its township) and then
    standard addresses starting with ``q``; prefix or pinyin-initial matching, at most 10."""
    return JSONResponse(lookup.suggest_addresses(pool(request), q, limit=limit))


class BatchRequest(BaseModel):
    """Up to ``max_batch`` points (``[lon, lat]`` pairs) or address texts, not both."""

    points: list[tuple[float, float]] | None = Field(None, description="[[lon, lat], ...]")
    crs: str = Field("wgs84", description="System of the points: wgs84, gcj02 or bd09")
    addresses: list[str] | None = Field(None, description="Address texts")
    limit: int = Field(3, ge=2, le=20, description="Address matches per text")
    min_score: float = Field(lookup.MIN_SCORE, gt=0, le=1)


@router.post("/lookup/batch", responses={413: {"description": "Too many points or addresses"}})
async def lookup_batch(request: Request, body: BatchRequest, principal: Reader) -> Response:
    """Many points or addresses answered by one query (one snapshot of the published plans).

    Points: ``{"results": [{"index", "lon", "lat", "grid": {...} | null}, ...]}`` in input
    order (lon/lat in WGS-84).  Addresses: one address answer per text, as in ``GET /lookup``.
    """
    if (body.points is None) == (body.addresses is None):
        raise HTTPException(400, "give either points or addresses")
    settings = request.app.state.settings
    db = pool(request)
    if body.points is not None:
        check_count(len(body.points), field="points", limit=settings.max_batch, too_large=True)
        lons = [p[0] for p in body.points]
        lats = [p[1] for p in body.points]
        doc = await cancellable(request, db, lookup.lookup_points, db, lons, lats, crs=_crs(body.crs))
        return json_text(f'{{"kind": "points", "count": {len(lons)}, "results": {doc}}}')
    assert body.addresses is not None  # no points, so addresses were given (checked above)
    # An address costs a trigram search, a point an index probe: fewer addresses per batch.
    check_count(
        len(body.addresses),
        field="addresses",
        limit=min(settings.max_batch, settings.max_batch_addresses),
        too_large=True,
    )
    for i, text in enumerate(body.addresses):
        check_address(request, text, index=i)
    results = await cancellable(
        request, db, lookup.lookup_addresses, db, body.addresses, limit=body.limit, min_score=body.min_score
    )
    return JSONResponse(
        {
            "kind": "addresses",
            "count": len(results),
            "results": [r.to_dict() | {"index": i} for i, r in enumerate(results)],
        }
    )
