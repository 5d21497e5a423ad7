"""Embeddable map pages (Folium): grids, incident heat and a KPI choropleth.

Every script and style is linked from this service (``/static/vendor``), so the pages work on
an intranet with no internet; the basemap is ``settings.basemap_url`` (or Tianditu with
``settings.tianditu_key``) or none.  Each page carries a title a leader can put on a screen:
the division's name, the plan version and the date of the data.  Errors (a division that is
malformed or has no published grids) are answered as an HTML page, not JSON: these pages are
opened in browsers.  Pages carry no personal data (counts and grid heads only) and are
readable under ``open_read``; anonymous and resident readers' counts cover the public
categories only.
"""

from __future__ import annotations

from dataclasses import replace
from html import escape
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine

from api.deps import Principal, get_engine, get_settings, require_reader
from api.errors import TITLES, kind_for, status_for
from api.filters import IncidentFilters, for_audience, get_catalogue
from api.settings import Settings
from geogrid import incidents as wf
from geogrid.coords import BBox
from geogrid.db import incidents as store
from geogrid.db.mapinfo import MapContext, map_context
from geogrid.errors import GeogridError, NotFoundError
from geogrid.times import local_iso


class MapPageRoute(APIRoute):
    """Answer errors of map pages with an HTML page in Chinese (and English)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                return error_page(exc.status_code, str(exc.detail))
            except RequestValidationError as exc:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
                )
                return error_page(400, detail)
            except GeogridError as exc:
                return error_page(status_for(exc), str(exc), kind_for(exc, status_for(exc)))

        return route


router = APIRouter(prefix="/maps", tags=["maps"], route_class=MapPageRoute)

ASSETS = "/static/vendor"
KPIS = {
    "per_100_households": "每百户事件数 Incidents per 100 households",
    "incidents": "事件数 Incidents",
    "overdue": "超时事件数 Overdue",
    "completion_rate": "办结率 Completion rate",
    "on_time_rate": "按时办结率 On-time rate",
}
FAVICON = '<link rel="icon" href="/favicon.ico">'


def error_page(status: int, detail: str, kind: str | None = None) -> HTMLResponse:
    """A plain HTML page saying what went wrong and where to go instead."""
    zh, en = TITLES.get(kind or kind_for(None, status), ("请求有误", "Bad request"))
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>{escape(zh)} · geogrid</title>{FAVICON}
<style>body{{font:16px/1.6 sans-serif;margin:3em auto;max-width:44em;padding:0 1em;color:#222}}
h1{{color:#b2182b}} code{{background:#f3f3f3;padding:0 .3em}}</style></head><body>
<h1>{escape(zh)} <small>{escape(en)}</small></h1>
<p>{escape(detail)}</p>
<p>区划代码为 12 位统计用区划代码（乡镇前 9 位、县 6 位），例如 <code>?division=320508</code>。
A division is a 12-digit statistical code (or its 6/9-digit county/township prefix).</p>
<p><a href="/">返回首页：已发布的网格方案 · Back to the published plans</a></p>
</body></html>"""
    return HTMLResponse(page, status_code=status)


def _tiles(settings: Settings):
    from geogrid.maps import Basemap, tianditu_basemap

    if settings.basemap_url:
        return Basemap(
            settings.basemap_url,
            settings.basemap_attribution or "basemap",
            subdomains=settings.basemap_subdomains or None,
            labels_url=settings.basemap_labels_url or None,
        )
    if settings.tianditu_key:
        return tianditu_basemap(settings.tianditu_key)
    return None


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
    from branca.element import Element

    from geogrid.maps import map_html

    m.get_root().header.add_child(Element(FAVICON), name="geogrid-favicon")
    # Short cache: dashboards refresh often, and a stale page only lags by a minute.
    return HTMLResponse(map_html(m), headers={"Cache-Control": "max-age=60"})


def _published_grids(engine: Engine, division: str | None, f: store.Filters | None = None):
    rates = store.grid_rates(engine, filters=f or store.Filters(), division=division)
    if not rates:
        where = f" in {division}" if division else ""
        raise NotFoundError(f"no published grids{where}; the home page lists the published plans")
    return rates


def _grid_subtitle(ctx: MapContext, rates: list[store.GridRate]) -> str:
    households = sum(g.households for g in rates)
    return f"{ctx.plan_text} · {len(rates):,} 个网格 · {households:,} 户"


@router.get(
    "/dashboard", response_class=HTMLResponse, summary="Dashboard map: grids, incident heat, KPI choropleth"
)
def dashboard(
    f: IncidentFilters,
    kpi: Literal[
        "per_100_households", "incidents", "overdue", "completion_rate", "on_time_rate"
    ] = "per_100_households",
    res: int = Query(9, ge=5, le=12, description="size of the heat hexagons (H3 resolution)"),
    principal: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> HTMLResponse:
    import pandas as pd

    from api.routers.heatmap import public_res
    from geogrid.maps import dashboard_map

    res = public_res(res, res, principal, settings)
    f = for_audience(f, principal, catalogue)
    division = f.division
    rates = _published_grids(engine, division, f)
    ctx = map_context(engine, division, incidents=True)
    grids = _grids_frame(rates)
    west, south, east, north = (float(v) for v in grids.total_bounds)
    heat = store.heat_cells(
        engine, res=res, filters=replace(f, bbox=BBox(west, south, east, north), division=division)
    )
    values = pd.Series({g.code: getattr(g, kpi) for g in rates}, dtype="float64")
    day_from, day_to = (
        (local_iso(t, settings.timezone) or "")[:10] or None for t in (f.date_from, f.date_to)
    )
    period = f"事件 {day_from or '…'} 至 {day_to or '今'}" if day_from or day_to else None
    data_date = f"数据截至 {ctx.latest_incident}" if ctx.latest_incident else "暂无事件"
    m = dashboard_map(
        grids,
        heat=heat if len(heat) else None,
        kpi=values,
        kpi_label=KPIS[kpi],
        tiles=_tiles(settings),
        assets=ASSETS,
        title=f"{ctx.name} 网格事件态势",
        subtitle=" · ".join(s for s in (period, data_date, ctx.plan_text, f"{len(rates):,} 个网格") if s),
    )
    return _page(m)


@router.get("/grids", response_class=HTMLResponse, summary="Grid map: published grids coloured by households")
def grids_map(
    division: str | None = Query(None, description="county/township/village code (prefix) to show"),
    rule: str = Query(
        "kind", description="kind (each grid by its own kind's rule), urban, rural or lo-hi (e.g. 50-100)"
    ),
    _: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
) -> HTMLResponse:
    from geogrid.maps import grid_map

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
    rates = _published_grids(engine, division)
    ctx = map_context(engine, division)
    m = grid_map(
        _grids_frame(rates),
        rule=rule_arg,
        tiles=_tiles(settings),
        assets=ASSETS,
        name="网格 Grids",
        title=f"{ctx.name} 网格划分",
        subtitle=_grid_subtitle(ctx, rates),
    )
    return _page(m)
