"""Embeddable map pages (Folium): grids, incident heat and a KPI choropleth.

Every script and style is linked from this service (``/static/vendor``), so the pages work on
an intranet with no internet; the basemap is ``settings.basemap_url`` or none.  Pages carry no
personal data (counts and grid heads only) and are readable under ``open_read``; anonymous and
resident readers' counts cover the public categories only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Engine

from api.deps import Principal, get_engine, get_settings, require_reader
from api.routers.incidents import filters_from, for_audience, get_catalogue
from api.settings import Settings
from geogrid import incidents as wf
from geogrid.coords import BBox
from geogrid.db import incidents as store

router = APIRouter(prefix="/maps", tags=["maps"])

ASSETS = "/static/vendor"
KPIS = {
    "per_100_households": "每百户事件 Incidents per 100 households",
    "incidents": "事件数 Incidents",
    "overdue": "超时 Overdue",
    "completion_rate": "办结率 Completion rate",
    "on_time_rate": "按时办结率 On-time rate",
}


def _tiles(settings: Settings) -> tuple[str, str] | None:
    if not settings.basemap_url:
        return None
    return settings.basemap_url, settings.basemap_attribution or "basemap"


def _grids_frame(rates: list[store.GridRate]):
    import geopandas as gpd
    from shapely.geometry import shape

    return gpd.GeoDataFrame(
        {
            "code": [g.code for g in rates],
            "name": [g.name for g in rates],
            "head_name": [g.head_name for g in rates],
            "households": [g.households for g in rates],
            "kind": [g.kind for g in rates],
        },
        geometry=[shape(g.geometry) for g in rates],
        crs="EPSG:4326",
    )


def _page(m) -> HTMLResponse:
    from geogrid.maps import map_html

    # Short cache: dashboards refresh often, and a stale page only lags by a minute.
    return HTMLResponse(map_html(m), headers={"Cache-Control": "max-age=60"})


@router.get(
    "/dashboard", response_class=HTMLResponse, summary="Dashboard map: grids, incident heat, KPI choropleth"
)
def dashboard(
    division: str | None = Query(None, description="township/village code (prefix) to show"),
    date_from: str | None = Query(None, alias="from"),
    date_to: str | None = Query(None, alias="to"),
    category: str | None = Query(None, description="major or minor category code"),
    kpi: Literal[
        "per_100_households", "incidents", "overdue", "completion_rate", "on_time_rate"
    ] = "per_100_households",
    res: int = Query(9, ge=5, le=12, description="H3 resolution of the heat hexagons"),
    principal: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> HTMLResponse:
    import pandas as pd

    from api.routers.heatmap import public_res
    from geogrid.maps import dashboard_map

    res = public_res(res, res, principal, settings)
    f = filters_from(date_from=date_from, date_to=date_to, category=category, tz=settings.timezone)
    f = for_audience(f, principal, catalogue)
    rates = store.grid_rates(engine, filters=f, division=division)
    if not rates:
        raise HTTPException(404, f"no published grids{' in ' + division if division else ''}")
    grids = _grids_frame(rates)
    west, south, east, north = (float(v) for v in grids.total_bounds)
    heat = store.heat_cells(
        engine, res=res, filters=replace(f, bbox=BBox(west, south, east, north), division=division)
    )
    values = pd.Series({g.code: getattr(g, kpi) for g in rates}, dtype="float64")
    m = dashboard_map(
        grids,
        heat=heat if len(heat) else None,
        kpi=values,
        kpi_label=KPIS[kpi],
        tiles=_tiles(settings),
        assets=ASSETS,
    )
    return _page(m)


@router.get("/grids", response_class=HTMLResponse, summary="Grid map: published grids coloured by households")
def grids_map(
    division: str | None = Query(None, description="township/village code (prefix) to show"),
    rule: str = Query(
        "kind", description="kind (each grid by its own kind's rule), urban, rural or lo-hi (e.g. 50-100)"
    ),
    _: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
) -> HTMLResponse:
    from geogrid.maps import grid_map

    rates = store.grid_rates(engine, division=division)
    if not rates:
        raise HTTPException(404, f"no published grids{' in ' + division if division else ''}")
    rule_arg: str | tuple[int, int] = rule
    if "-" in rule:
        lo, _sep, hi = rule.partition("-")
        try:
            rule_arg = (int(lo), int(hi))
        except ValueError:
            raise HTTPException(
                400, f"rule must be kind, urban, rural or lo-hi like 50-100, got {rule!r}"
            ) from None
    elif rule not in ("kind", "urban", "rural"):
        raise HTTPException(400, f"rule must be kind, urban, rural or lo-hi like 50-100, got {rule!r}")
    m = grid_map(_grids_frame(rates), rule=rule_arg, tiles=_tiles(settings), assets=ASSETS)
    return _page(m)
