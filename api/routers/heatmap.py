"""Incident heatmaps: H3 cell counts (GeoJSON or MVT) and a per-grid choropleth.

Counts are aggregated in PostGIS from the res-12 cell stored on every incident
(:func:`geogrid.db.incidents.heat_cells`); merged duplicates are not counted.  Readable by
anyone when ``open_read`` is set: the output is aggregate counts, never a report.  Anonymous
and resident readers count only public categories (never rejected reports) in cells no finer
than ``public_heat_max_res``; staff keys count what their scope allows.
"""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Response
from sqlalchemy.engine import Engine

from api.deps import Principal, get_engine, get_settings, require_reader
from api.filters import IncidentFilters, for_audience, get_catalogue, is_public_reader
from api.settings import Settings
from geogrid import heat
from geogrid import incidents as wf
from geogrid.coords import BBox
from geogrid.db import incidents as store

router = APIRouter(tags=["heatmap"])

GEOJSON = "application/geo+json"
MVT = "application/vnd.mapbox-vector-tile"
# GeoJSON hexagons are built one by one in Python (~7 µs each, ~1 µs once their rings are
# cached): cap the response size.
MAX_CELLS = 100_000


def _default_res(z: int) -> int:
    """A heatmap resolution that gives hexagons of a few pixels to a few dozen at zoom ``z``."""
    return max(5, min(heat.STORED_RES, z - 5))


def _tile(engine: Engine, z: int, x: int, y: int, res: int, f: store.Filters) -> Response:
    data = store.heat_tile(engine, z, x, y, res=res, filters=f)
    return Response(data, media_type=MVT, headers={"Cache-Control": "max-age=60"})


def public_res(res: int | None, default: int, principal: Principal, settings: Settings) -> int:
    """The resolution to aggregate at: public readers get cells no finer than
    ``public_heat_max_res`` (a default is lowered to it, an explicit finer one is a 403)."""
    cap = settings.public_heat_max_res if is_public_reader(principal) else heat.STORED_RES
    if res is None:
        return min(default, cap)
    if res > cap:
        raise HTTPException(
            403,
            f"公开热力图最细为 H3 第 {cap} 级 / public heatmaps go no finer than H3 res {cap}; "
            "a staff key sees finer cells",
        )
    return res


def _check_cells(bbox: BBox | None, res: int) -> None:
    """Refuse a bbox that would cover more than ``MAX_CELLS`` cells at ``res`` before counting."""
    if bbox is None:
        return
    from math import cos, radians

    import h3

    width_km = (bbox.east - bbox.west) * 111.32 * cos(radians((bbox.north + bbox.south) / 2))
    estimate = width_km * (bbox.north - bbox.south) * 110.57 / h3.average_hexagon_area(res, "km^2")
    if estimate > 4 * MAX_CELLS:
        raise HTTPException(
            400,
            f"bbox 内约 {estimate:,.0f} 个第 {res} 级单元，超过上限 / the bbox holds ~{estimate:,.0f} cells "
            f"at res {res}, more than {MAX_CELLS}; use a coarser res or a smaller bbox (or MVT tiles)",
        )


@router.get("/heatmap", summary="Incident counts per H3 cell (GeoJSON, or MVT for one tile)")
def get_heatmap(
    f: IncidentFilters,
    res: int = Query(8, ge=0, le=heat.STORED_RES, description="H3 resolution of the cells"),
    format: Literal["geojson", "mvt"] = "geojson",
    z: int | None = Query(None, description="format=mvt: tile zoom"),
    x: int | None = Query(None, description="format=mvt: tile column"),
    y: int | None = Query(None, description="format=mvt: tile row"),
    principal: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> Response:
    f = for_audience(f, principal, catalogue)
    res = public_res(res, res, principal, settings)
    if format == "mvt":
        if z is None or x is None or y is None:
            raise HTTPException(
                400, "format=mvt needs the tile: z, x and y (or use /heatmap/tiles/{z}/{x}/{y})"
            )
        return _tile(engine, z, x, y, res, f)
    _check_cells(f.bbox, res)
    df = store.heat_cells(engine, res=res, filters=f)
    if len(df) > MAX_CELLS:
        raise HTTPException(
            400,
            f"{len(df)} cells at res {res}: more than {MAX_CELLS}; use a coarser res "
            "or a smaller bbox (or MVT tiles)",
        )
    fc = heat.cells_to_geojson(df)
    fc["res"] = res
    fc["total"] = int(df["count"].sum())
    # orjson: ~10x faster than json.dumps on hexagon rings (7 ms → 0.5 ms for a city at res 8).
    return Response(orjson.dumps(fc), media_type=GEOJSON)


@router.get("/heatmap/tiles/{z}/{x}/{y}", summary="Incident heat as a Mapbox Vector Tile (layer 'heat')")
def get_heat_tile(
    z: int,
    x: int,
    y: int,
    f: IncidentFilters,
    res: int | None = Query(None, ge=0, le=heat.STORED_RES, description="default: zoom - 5, within 5..12"),
    principal: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> Response:
    if f.bbox is not None:
        raise HTTPException(400, "瓦片自带范围，不接受 bbox / a tile has its own bounds: drop bbox")
    f = for_audience(f, principal, catalogue)
    return _tile(engine, z, x, y, public_res(res, _default_res(z), principal, settings), f)


@router.get("/heatmap/grids", summary="Published grids with incidents per 100 households (choropleth)")
def get_grid_rates(
    f: IncidentFilters,
    principal: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> Response:
    """``division`` and ``bbox`` select the grids; the other filters the incidents counted."""
    f = for_audience(f, principal, catalogue)
    rates = store.grid_rates(engine, filters=f, division=f.division, bbox=f.bbox)
    import json

    fc = store.grid_rates_geojson(rates)
    return Response(
        json.dumps(fc, ensure_ascii=False, separators=(",", ":"), default=str), media_type=GEOJSON
    )
