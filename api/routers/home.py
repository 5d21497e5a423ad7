"""The landing page: what this server holds and where its maps are (plain HTML, no scripts)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Engine

from api.deps import Principal, get_engine, require_reader
from geogrid.db import plans

router = APIRouter(tags=["home"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(_: Principal = Depends(require_reader), engine: Engine = Depends(get_engine)) -> HTMLResponse:
    """Published plans with links to their map pages, dashboards and the API docs."""
    rows = []
    for plan in plans.list_plans(engine):
        if plan.status != "published":
            continue
        scope = escape(plans.scope_prefix(plan.scope_code))
        rows.append(
            f"<tr><td>{escape(plan.scope_code)}</td><td>{plan.version}</td><td>{plan.grid_count}</td>"
            f"<td>{plan.households}</td>"
            f"<td><a href='/maps/grids?division={scope}'>grids</a> · "
            f"<a href='/maps/dashboard?division={scope}'>dashboard</a> · "
            f"<a href='/collections/grids/items?division={scope}&amp;limit=50'>GeoJSON</a></td></tr>"
        )
    table = (
        "".join(rows) or "<tr><td colspan=5>no published plan yet — run <code>geogrid demo</code></td></tr>"
    )
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>geogrid</title>
<style>body{{font:15px/1.5 sans-serif;margin:2em auto;max-width:56em;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}}</style>
</head><body><h1>geogrid 网格化服务管理</h1>
<h2>Published plans</h2><table><tr><th>scope</th><th>version</th><th>grids</th><th>households</th><th>maps</th></tr>
{table}</table>
<h2>API</h2><p><a href="/docs">interactive docs</a> · <a href="/collections">collections</a> ·
<a href="/open311/v2/discovery.json">Open311 discovery</a> · <a href="/stats">statistics</a></p>
</body></html>"""
    return HTMLResponse(page)
