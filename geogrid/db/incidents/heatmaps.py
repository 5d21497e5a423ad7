"""Incident heat: H3 cell counts from PostGIS, MVT tiles, per-grid rates (choropleth)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import heat
from geogrid import incidents as wf
from geogrid.coords import BBox, check_bbox
from geogrid.db import load_sql
from geogrid.db.incidents.filters import NO_FILTERS, Filters, division_prefix
from geogrid.db.incidents.records import utcnow
from geogrid.errors import GeogridError

# --- heatmaps ---------------------------------------------------------------------------------------------


def heat_cells(engine: Engine | Connection, *, res: int, filters: Filters = NO_FILTERS) -> pd.DataFrame:
    """Incident counts per H3 cell at ``res``, aggregated in PostGIS from the stored fine cells.

    The parent cell is two bigint bit operations on ``incidents.h3_cell``
    (:func:`geogrid.heat.parent_sql`), so no geometry is touched after the bbox filter.
    A bbox is read as ranges of the stored cell (:func:`geogrid.heat.bbox_cell_ranges`) from
    the covering index ``ix_incidents_heat``; points are still counted exactly when they lie
    in the bbox, edges included.  Merged duplicates are not counted.

    Returns
    -------
    pandas.DataFrame
        ``cell`` (int64, ascending) and ``count`` (int64); ``attrs["res"] = res``.
    """
    from dataclasses import replace

    if not 0 <= int(res) <= heat.STORED_RES:
        raise GeogridError(
            f"res must be in 0..{heat.STORED_RES} (incidents store res-{heat.STORED_RES} cells), got {res}"
        )
    params: dict[str, Any] = {}
    parent = heat.parent_sql("i.h3_cell", int(res))
    bbox = filters.bbox
    ranges = heat.bbox_cell_ranges(bbox) if bbox is not None else None
    if bbox is not None and ranges is not None:
        b = check_bbox(bbox)
        where = replace(filters, bbox=None).sql(params)
        params.update(
            r_lo=ranges.lo.tolist(),
            r_hi=ranges.hi.tolist(),
            r_inside=ranges.inside.tolist(),
            b_w=b.west,
            b_s=b.south,
            b_e=b.east,
            b_n=b.north,
        )
        sql = load_sql("incident_heat_bbox").format(parent=parent, where=where)
    else:
        where = filters.sql(params)
        sql = (
            f"SELECT {parent} AS cell, count(*) AS count "
            f"FROM incidents i WHERE i.status <> 'merged' {where} GROUP BY 1 ORDER BY 1"
        )
    if isinstance(engine, Connection):
        rows = engine.execute(sa.text(sql), params).all()
    else:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(sql), params).all()
    df = pd.DataFrame(
        {
            "cell": np.array([r[0] for r in rows], dtype=np.int64),
            "count": np.array([r[1] for r in rows], dtype=np.int64),
        }
    )
    df.attrs["res"] = int(res)
    return df


def tile_bbox(z: int, x: int, y: int) -> BBox:
    """The lon/lat box of a WebMercatorQuad tile."""
    import math

    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise GeogridError(f"tile {z}/{x}/{y} does not exist (0 <= x, y < 2**z, z <= 24)")
    n = 2.0**z

    def lat(t: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * t / n))))

    return BBox(x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y))


def heat_tile(engine: Engine, z: int, x: int, y: int, *, res: int, filters: Filters = NO_FILTERS) -> bytes:
    """A Mapbox Vector Tile (layer ``heat``: ``cell``, ``count``) of the H3 heatmap.

    Counts come from the incidents inside the tile (plus a margin of one cell so hexagons that
    straddle the tile edge are complete); PostGIS clips and encodes the hexagons.
    """
    from dataclasses import replace

    import shapely
    from h3.api import basic_int

    b = tile_bbox(z, x, y)
    # One res-`res` hexagon edge in degrees, roughly, as margin (edge length ~ 1.1 km / 2.65**(res-7)).
    margin = 0.012 / (2.65 ** (int(res) - 7)) * 3
    box = BBox(
        max(-180.0, b.west - margin),
        max(-85.06, b.south - margin),
        min(180.0, b.east + margin),
        min(85.06, b.north + margin),
    )
    df = heat_cells(engine, res=res, filters=replace(filters, bbox=box))
    polys = [
        shapely.Polygon([(lng, lat) for lat, lng in basic_int.cell_to_boundary(int(c))])
        for c in df["cell"].tolist()
    ]
    wkbs = [bytes(w) for w in shapely.to_wkb(polys)] if polys else []
    with engine.connect() as conn:
        tile = conn.execute(
            sa.text(load_sql("incident_heat_mvt")),
            {
                "z": z,
                "x": x,
                "y": y,
                "cells": heat.cell_to_str(df["cell"].to_numpy()) if len(df) else [],
                "counts": df["count"].astype(int).tolist(),
                "wkbs": wkbs,
            },
        ).scalar()
    return bytes(tile or b"")


@dataclass(frozen=True)
class GridRate:
    """Incident numbers of one published grid and its rate per 100 households."""

    code: str
    name: str | None
    division_code: str
    division_name: str | None
    kind: str
    households: int
    head_name: str | None
    incidents: int
    accepted: int
    completed: int
    completed_on_time: int
    overdue: int
    geometry: dict
    per_100_households: float | None = None
    completion_rate: float | None = None
    on_time_rate: float | None = None


def grid_rates(
    engine: Engine,
    *,
    filters: Filters = NO_FILTERS,
    division: str | None = None,
    bbox: BBox | None = None,
    now: datetime | None = None,
) -> list[GridRate]:
    """Published grids with their incident counts, incidents per 100 households and KPIs.

    ``filters`` select the incidents (period, category, status); ``division`` and ``bbox``
    select the grids.
    """
    from dataclasses import replace

    params: dict[str, Any] = {"now": now or utcnow(), "open_statuses": sorted(wf.OPEN_STATUSES)}
    where = replace(filters, division=None, bbox=None).sql(params)
    grid_where = ""
    if division:
        grid_where += " AND g.code LIKE :g_div"
        params["g_div"] = division_prefix(division) + "%"
    if bbox is not None:
        b = check_bbox(bbox)
        grid_where += " AND g.geom && ST_MakeEnvelope(:g_w, :g_s, :g_e, :g_n, 4326)"
        params.update(g_w=b.west, g_s=b.south, g_e=b.east, g_n=b.north)
    sql = load_sql("incident_grid_rates").format(where=where, grid_where=grid_where)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql), params).all()
    out = []
    for r in rows:
        m = dict(r._mapping)
        m["geometry"] = json.loads(m["geometry"])
        out.append(
            GridRate(
                **m,
                per_100_households=round(100.0 * m["incidents"] / m["households"], 3)
                if m["households"]
                else None,
                completion_rate=wf.rate(m["completed"], m["accepted"]),
                on_time_rate=wf.rate(m["completed_on_time"], m["completed"]),
            )
        )
    return out


def grid_rates_geojson(rates: Sequence[GridRate]) -> dict:
    """A GeoJSON FeatureCollection of :func:`grid_rates` (properties: every field but geometry)."""
    features = []
    for g in rates:
        props = {k: v for k, v in asdict(g).items() if k != "geometry"}
        features.append({"type": "Feature", "id": g.code, "properties": props, "geometry": g.geometry})
    return {"type": "FeatureCollection", "features": features}
