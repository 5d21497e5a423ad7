"""Which grid is this place in?  Point, address and batch lookups for the field app."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.routers._shared import Reader, json_text, pool
from geogrid.coords import CRS_NAMES
from geogrid.db import lookup
from geogrid.errors import InvalidGeometryError, NotFoundError

router = APIRouter(tags=["lookup"])


def _crs(crs: str) -> str:
    name = crs.lower().replace("-", "").replace("_", "")
    if name not in CRS_NAMES:
        raise InvalidGeometryError(f"unknown crs {crs!r}; use one of {list(CRS_NAMES)}")
    return name


@router.get("/lookup", responses={404: {"description": "The point is in no published grid"}})
def lookup_one(
    *,
    request: Request,
    lon: float | None = Query(None, description="Longitude in degrees (lon first)"),
    lat: float | None = Query(None, description="Latitude in degrees"),
    crs: str = Query("wgs84", description="wgs84 (GPS), gcj02 (AMap/Tencent) or bd09 (Baidu)"),
    address: str | None = Query(None, description="Chinese address text, e.g. 平江路12号"),
    limit: int = Query(5, ge=2, le=50, description="Address matches to return"),
    min_score: float = Query(lookup.MIN_SCORE, gt=0, le=1, description="Minimum address similarity"),
    principal: Reader,
) -> Response:
    """The grid at a point (with its village, township, head and workers), or the standard
    addresses best matching a text (each with its grid and a score; ambiguity flagged)."""
    if address is not None:
        if lon is not None or lat is not None:
            raise HTTPException(400, "give either lon/lat or address, not both")
        result = lookup.lookup_address(pool(request), address, limit=limit, min_score=min_score)
        return JSONResponse(result.to_dict())
    if lon is None or lat is None:
        missing = [n for n, v in (("lon", lon), ("lat", lat)) if v is None]
        raise HTTPException(400, f"missing {' and '.join(missing)}: give lon and lat (and crs), or address")
    name = "wgs84" if crs == "wgs84" else _crs(crs)
    x, y = lookup.wgs84_point(lon, lat, name)
    doc = lookup.lookup_point(pool(request), x, y)
    if doc is None:
        detail = f"point lon={lon}, lat={lat} ({name}) is in no published grid"
        hint = lookup.swap_hint(lon, lat)
        raise NotFoundError(detail + (f"; {hint}" if hint else ""))
    return json_text(doc)


class BatchRequest(BaseModel):
    """Up to ``max_batch`` points (``[lon, lat]`` pairs) or address texts, not both."""

    points: list[tuple[float, float]] | None = Field(None, description="[[lon, lat], ...]")
    crs: str = Field("wgs84", description="System of the points: wgs84, gcj02 or bd09")
    addresses: list[str] | None = Field(None, description="Address texts")
    limit: int = Field(3, ge=2, le=20, description="Address matches per text")
    min_score: float = Field(lookup.MIN_SCORE, gt=0, le=1)


@router.post("/lookup/batch", responses={413: {"description": "Too many points or addresses"}})
def lookup_batch(request: Request, body: BatchRequest, principal: Reader) -> Response:
    """Many points or addresses answered by one query (one snapshot of the published plans).

    Points: ``{"results": [{"index", "lon", "lat", "grid": {...} | null}, ...]}`` in input
    order (lon/lat in WGS-84).  Addresses: one address answer per text, as in ``GET /lookup``.
    """
    if (body.points is None) == (body.addresses is None):
        raise HTTPException(400, "give either points or addresses")
    items = body.points if body.points is not None else body.addresses
    limit = request.app.state.settings.max_batch
    if len(items) > limit:
        what = "points" if body.points is not None else "addresses"
        raise HTTPException(413, f"{len(items)} {what} in one batch; at most {limit} are allowed")
    if body.points is not None:
        lons = [p[0] for p in body.points]
        lats = [p[1] for p in body.points]
        doc = lookup.lookup_points(pool(request), lons, lats, crs=_crs(body.crs))
        return json_text(f'{{"kind": "points", "count": {len(lons)}, "results": {doc}}}')
    results = lookup.lookup_addresses(
        pool(request), body.addresses, limit=body.limit, min_score=body.min_score
    )
    return JSONResponse(
        {
            "kind": "addresses",
            "count": len(results),
            "results": [r.to_dict() | {"index": i} for i, r in enumerate(results)],
        }
    )
