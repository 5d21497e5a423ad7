"""The landing page: HTML for people (published plans and their maps, no scripts), the OGC API
landing document (JSON) for programs: ``Accept: application/json``, ``*/*`` or ``?f=json``."""

from __future__ import annotations

from functools import cache
from html import escape

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.engine import Engine

from api import ogc
from api.deps import Principal, get_engine, require_reader
from geogrid.db import plans
from geogrid.db.names import code_names

router = APIRouter(tags=["home"])


@router.get(
    "/",
    response_class=Response,
    summary="Landing page (OGC API): JSON, or HTML for browsers",
    responses={200: {"content": {ogc.JSON: {}, ogc.HTML: {}}}},
)
def home(
    request: Request,
    f: str | None = Query(None, description="json or html (default: by the Accept header)"),
    _: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
) -> Response:
    """The OGC API landing page; browsers get the published plans with links to their maps."""
    ogc.check_parameters(request, ["f"])
    ogc.check_format(f, ("json", "html"))
    if not ogc.wants_html(request):
        return JSONResponse(ogc.landing(request))
    return _home_page(engine)


def _home_page(engine: Engine) -> HTMLResponse:
    """Published plans (named) with links to their map pages, dashboards and the API."""
    published = [plan for plan in plans.list_plans(engine) if plan.status == "published"]
    names = code_names(engine, [plan.scope_code for plan in published])
    rows = []
    for plan in published:
        scope = escape(plans.scope_prefix(plan.scope_code))
        name = escape(names.get(plan.scope_code, ""))
        rows.append(
            f"<tr><td>{name} <small>{escape(plan.scope_code)}</small></td><td>{plan.version}</td>"
            f"<td>{plan.grid_count}</td><td>{plan.households}</td>"
            f"<td><a href='/maps/grids?division={scope}'>网格图</a> · "
            f"<a href='/maps/dashboard?division={scope}'>驾驶舱</a> · "
            f"<a href='/collections/grids/items?division={scope}&amp;limit=50'>GeoJSON</a></td></tr>"
        )
    table = "".join(rows) or "<tr><td colspan=5>尚无已发布的方案 — 运行 <code>geogrid demo</code></td></tr>"
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>geogrid 网格化服务管理</title>
<link rel="icon" href="/favicon.ico">
<style>body{{font:15px/1.5 sans-serif;margin:2em auto;max-width:56em;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}}
small{{color:#666}}</style>
</head><body><h1>geogrid 网格化服务管理</h1>
<h2>已发布的网格方案 Published plans</h2>
<table><tr><th>范围 scope</th><th>版本 version</th><th>网格数 grids</th><th>户数 households</th>
<th>地图 maps</th></tr>
{table}</table>
<h2>接口 API</h2><p><a href="/docs">接口文档 docs</a> · <a href="/api">OpenAPI</a> ·
<a href="/conformance">OGC conformance</a> · <a href="/collections">数据集 collections</a> ·
<a href="/open311/v2/discovery.json">Open311</a> · <a href="/stats">统计 statistics</a></p>
</body></html>"""
    return HTMLResponse(page)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """The site icon: a 3×3 grid in the map pages' colours (browsers ask for it on every page)."""
    return Response(_favicon(), media_type="image/x-icon", headers={"Cache-Control": "max-age=86400"})


@cache
def _favicon() -> bytes:
    import io

    from PIL import Image, ImageDraw

    # The households palette of the grid map: below, within and above the bounds.
    colours = [
        "#4575b4",
        "#e0f3f8",
        "#d73027",
        "#91bfdb",
        "#ffffbf",
        "#fc8d59",
        "#e0f3f8",
        "#fee090",
        "#4575b4",
    ]
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, 63, 63), radius=10, fill="#1d3557")
    for i, colour in enumerate(colours):
        x, y = 6 + (i % 3) * 18, 6 + (i // 3) * 18
        draw.rectangle((x, y, x + 15, y + 15), fill=colour)
    out = io.BytesIO()
    image.save(out, format="ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    return out.getvalue()
