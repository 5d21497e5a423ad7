"""Map pages of department layers: a layer over the base grids with its conflicts, and its
proposed alignment (Folium, every script from this service; errors as HTML pages)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.routers._shared import Reader
from api.routers.departments import _DEPARTMENT
from api.routers.maps import ASSETS, MapPageRoute, _page, _tiles
from geogrid import layers
from geogrid.db import layers as db_layers

router = APIRouter(prefix="/maps", tags=["maps"], route_class=MapPageRoute)


def _engine(request: Request):
    return request.app.state.engine


def _map_title(done: db_layers.Comparison, what: str) -> tuple[str, str]:
    i = done.layer
    return (
        f"{i.department_name}网格{what}",
        f"第 {i.version} 版（{db_layers.KIND_NAMES[i.kind]}）· {len(done.frames.layer)} 个部门网格 · "
        f"{len(done.frames.base)} 个基础网格",
    )


@router.get(
    "/departments",
    response_class=HTMLResponse,
    summary="A department layer over the base grids, with conflicts",
)
def department_map(
    request: Request,
    principal: Reader,
    department: str = Query(..., pattern=_DEPARTMENT),
    version: int | None = Query(None, ge=1),
) -> HTMLResponse:
    from geogrid.layer_maps import layer_map

    done = db_layers.compare(_engine(request), department, version)
    title, subtitle = _map_title(done, "与基础网格")
    m = layer_map(
        done.frames.base, done.frames.layer, layers.conflicts(done.frames),
        tiles=_tiles(request.app.state.settings), assets=ASSETS, title=title, subtitle=subtitle,
    )  # fmt: skip
    return _page(m)


@router.get(
    "/departments/alignment", response_class=HTMLResponse, summary="A department layer's proposed alignment"
)
def department_alignment_map(
    request: Request,
    principal: Reader,
    department: str = Query(..., pattern=_DEPARTMENT),
    version: int | None = Query(None, ge=1),
) -> HTMLResponse:
    from geogrid.layer_maps import alignment_map

    done = db_layers.compare(_engine(request), department, version)
    title, subtitle = _map_title(done, "对齐方案")
    m = alignment_map(
        done.frames.layer, layers.align(done.frames),
        tiles=_tiles(request.app.state.settings), assets=ASSETS, title=title, subtitle=subtitle,
    )  # fmt: skip
    return _page(m)
