"""Department layers (部门网格, "多网合一"): import, crosswalk, conflicts, alignment, routing.

Each department (综治, 城管, 信访…) uploads its own grid layer, versioned; the answers compare it
with the published base grids of its scope (which base grids each department grid covers, with
area and household shares; cuts, gaps, overlaps, parts outside), propose the nearest layer of
whole base grids, and let a planner accept it as the department's aligned layer.  Department
grids and units are a department's working map, not personal data: readable like the base grids.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
from typing import Any

import geopandas as gpd
import pandas as pd
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.routers._shared import Planner, Reader
from geogrid import layers
from geogrid.db import layers as db_layers
from geogrid.db.mapinfo import map_context
from geogrid.db.names import code_names
from geogrid.db.plans import scope_prefix
from geogrid.errors import InvalidGeometryError
from geogrid.limits import loads_json
from geogrid.times import local_iso

router = APIRouter(prefix="/departments", tags=["departments"])

_DEPARTMENT = r"^[^\s/]{1,64}$"
_FILE_SUFFIXES = (
    ".gpkg",
    ".geojson",
    ".json",
    ".zip",
    ".kml",
    ".kmz",
    ".parquet",
    ".csv",
    ".xlsx",
    ".xls",
    ".shp",
)


def _engine(request: Request):
    return request.app.state.engine


def _info(info: db_layers.LayerInfo, request: Request) -> dict[str, Any]:
    out = info.as_dict()
    out["created_at"] = local_iso(out["created_at"], request.app.state.settings.timezone)
    # a county without a row of its own is named by its addresses (as map titles name it)
    out["scope_name"] = map_context(_engine(request), scope_prefix(info.scope_code)).name
    return out


async def _frame(request: Request) -> tuple[gpd.GeoDataFrame, str]:
    """The uploaded layer: a GeoJSON body, or a file in any import format (multipart ``file``)."""
    from geogrid.io import read_features

    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, "multipart upload needs a 'file' part")
        name = upload.filename or "layer"
        suffix = pathlib.Path(name).suffix.lower()
        if suffix not in _FILE_SUFFIXES:
            raise HTTPException(
                415,
                f"file {name!r}: use GeoPackage, GeoJSON, zipped Shapefile, KML, GeoParquet, CSV or Excel",
            )
        data = await upload.read()

        def read() -> gpd.GeoDataFrame:
            with tempfile.TemporaryDirectory() as tmp:
                path = pathlib.Path(tmp) / f"layer{suffix}"
                path.write_bytes(data)
                frame, errors = read_features(path)
            if errors:
                from geogrid.errors import ImportRowsError

                raise ImportRowsError(name, errors)
            return frame

        return await run_in_threadpool(read), name
    body = await request.body()
    if not body:
        raise HTTPException(400, "empty body: send a GeoJSON FeatureCollection or a multipart file")
    doc = loads_json(body, max_depth=request.app.state.settings.max_json_depth)
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise InvalidGeometryError("expected a GeoJSON FeatureCollection")
    try:
        return gpd.GeoDataFrame.from_features(doc["features"], crs="EPSG:4326"), "request body"
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidGeometryError(f"request body: malformed GeoJSON features ({exc})") from None


@router.get("/layers")
def list_departments(request: Request, principal: Reader) -> dict[str, Any]:
    """Every department with a grid layer (部门网格): its name, versions and active layer.

    ``GET /departments`` lists the organisation's departments (职能部门) themselves.
    """
    return {"departments": db_layers.list_departments(_engine(request))}


Department = Path(..., pattern=_DEPARTMENT, description="The department's code, e.g. ZZB")
Version = Path(..., ge=1, le=1_000_000, description="Version of the department's layer")


@router.post(
    "/{department}/layers", status_code=201, responses={422: {"description": "Bad rows; nothing stored"}}
)
async def import_layer(
    request: Request,
    principal: Planner,
    department: str = Department,
    name: str = Query(
        ..., min_length=1, max_length=50, description="The department's Chinese name, e.g. 综治办"
    ),
    scope: str | None = Query(
        None, pattern=r"^\d{12}$", description="Division the layer covers (default: its county)"
    ),
    note: str | None = Query(None, max_length=500),
) -> JSONResponse:
    """Upload a department's own grid layer as its next version (planner): a GeoJSON body or a
    file in any import format (multipart ``file``) with a grid code per feature (网格编码) and
    optionally 网格名称, 责任单位, 单位编码, 户数.  Bad rows are named; nothing half-stored."""
    frame, source = await _frame(request)
    info = await run_in_threadpool(
        db_layers.import_layer, _engine(request), frame, department_code=department, department_name=name,
        scope_code=scope, source=source, author=principal.name, note=note,
    )  # fmt: skip
    body = _info(info, request)
    return JSONResponse(
        body, status_code=201, headers={"Location": f"/departments/{department}/layers/{info.version}"}
    )


@router.get("/{department}/layers")
def list_layers(request: Request, principal: Reader, department: str = Department) -> dict[str, Any]:
    """The versions of a department's layer, oldest first."""
    found = db_layers.list_layers(_engine(request), department)
    if not found:
        raise HTTPException(404, f"no layer of department {department!r}")
    return {"department_code": department, "department_name": found[-1].department_name,
            "layers": [_info(i, request) for i in found]}  # fmt: skip


@router.get("/{department}/layers/{version}")
def get_layer(
    request: Request, principal: Reader, department: str = Department, version: int = Version
) -> dict:
    """One version of a department's layer and its grids (GeoJSON)."""
    info = db_layers.get_layer(_engine(request), department, version)
    frame = db_layers.department_frame(_engine(request), info.id)
    return _info(info, request) | {"grids": _feature_collection(frame, request)}


def _feature_collection(frame: gpd.GeoDataFrame, request: Request) -> dict:
    """GeoJSON of department grids; an aligned grid's base grids as ``base_grids`` with their names."""
    out = frame.copy()
    if "base_codes" in out:
        codes = [list(c) if c is not None else [] for c in out.pop("base_codes")]
        names = code_names(_engine(request), [c for cs in codes for c in cs])
        out["base_grids"] = [[{"code": c, "name": names.get(c)} for c in cs] or None for cs in codes]
    return json.loads(out.to_json(drop_id=True, to_wgs84=True))


def _shares(frame: pd.DataFrame, names: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for r in frame.itertuples(index=False):
        rows.append(
            {
                "department_grid_code": r.department_code,
                "department_grid_name": names.get(r.department_code) or r.department_code,
                "base_grid_code": r.base_code,
                "base_grid_name": names.get(r.base_code),
                "area_m2": round(float(r.area_m2), 1),
                "base_area_share": round(float(r.base_area_share), 4),
                "department_area_share": round(float(r.department_area_share), 4),
                "households": round(float(r.households), 2),
                "base_household_share": round(float(r.base_household_share), 4),
                "department_household_share": round(float(r.department_household_share), 4),
            }
        )
    return rows


def _names(request: Request, done: db_layers.Comparison) -> dict[str, str]:
    """Names of the base grids (from the database) and of the department's grids (from the layer)."""
    names = code_names(_engine(request), done.frames.base["code"].astype(str))
    layer = done.frames.layer
    if "name" in layer:
        names |= {
            str(c): n for c, n in zip(layer["code"], layer["name"], strict=True) if isinstance(n, str) and n
        }
    return names


def _head(done: db_layers.Comparison) -> dict[str, Any]:
    i = done.layer
    return {"department_code": i.department_code, "department_name": i.department_name, "layer_version": i.version,
            "layer_kind": i.kind, "layer_kind_name": db_layers.KIND_NAMES[i.kind], "base_plan_ids": done.base_plan_ids,
            "households_exact": done.frames.exact}  # fmt: skip


@router.get("/{department}/layers/{version}/crosswalk")
async def crosswalk(
    request: Request, principal: Reader, department: str = Department, version: int = Version
) -> dict:
    """Which base grids each department grid covers: area and household shares both ways."""
    done = await run_in_threadpool(db_layers.compare, _engine(request), department, version)
    rows = layers.crosswalk(done.frames)
    return _head(done) | {"rows": _shares(rows, _names(request, done))}


def _conflict_body(request: Request, done: db_layers.Comparison) -> dict[str, Any]:
    report = layers.conflicts(done.frames)
    names = _names(request, done)
    parts = {}
    for key, frame in (("gaps", report.gaps), ("overlaps", report.overlaps), ("outside", report.outside)):
        frame = frame.copy()
        frame["area_m2"] = frame["area_m2"].round(1)
        frame["households"] = frame["households"].round(2)
        parts[key] = json.loads(frame.to_json(drop_id=True))
    summary = report.summary()
    return _head(done) | {
        "ok": summary.pop("ok"),
        "summary": summary,
        "cut_base_grids": [{"code": c, "name": names.get(c)} for c in report.cut_base_codes],
        "cuts": _shares(report.cuts, names),
        **parts,
    }


@router.get("/{department}/layers/{version}/conflicts")
async def conflicts(
    request: Request, principal: Reader, department: str = Department, version: int = Version
) -> dict:
    """Department grids that cut through base grids, gaps, overlaps and parts outside the scope
    (GeoJSON with area and households each)."""
    done = await run_in_threadpool(db_layers.compare, _engine(request), department, version)
    return await run_in_threadpool(_conflict_body, request, done)


def _alignment_body(request: Request, done: db_layers.Comparison) -> dict[str, Any]:
    proposal = layers.align(done.frames)
    names = _names(request, done)
    grids = proposal.grids.copy()
    for column in ("households_original", "households_aligned", "change"):
        grids[column] = grids[column].round(2)
    grids["change_share"] = grids["change_share"].round(4)
    moves = [
        {"base_grid_code": m.base_code, "base_grid_name": names.get(m.base_code),
         "from_code": m.from_code, "from_name": names.get(m.from_code) if m.from_code else None,
         "to_code": m.to_code, "to_name": names.get(m.to_code) if m.to_code else None,
         "households": round(float(m.households), 2)}
        for m in proposal.moves.itertuples(index=False)
    ]  # fmt: skip
    summary = proposal.summary()
    return _head(done) | {
        "objective": "最少的住户变更归属，其次最少的面积变更 (fewest households, then least area, changing hands)",
        "summary": summary,
        "grids": _feature_collection(grids, request),
        "moves": moves,
    }


@router.get("/{department}/layers/{version}/alignment")
async def alignment(
    request: Request, principal: Reader, department: str = Department, version: int = Version
) -> dict:
    """The nearest layer made only of whole base grids, with the households that would change hands."""
    done = await run_in_threadpool(db_layers.compare, _engine(request), department, version)
    return await run_in_threadpool(_alignment_body, request, done)


@router.post("/{department}/layers/{version}/alignment", status_code=201)
async def accept_alignment(
    request: Request,
    principal: Planner,
    department: str = Department,
    version: int = Version,
    note: str | None = Query(None, max_length=500),
) -> JSONResponse:
    """Accept the proposed alignment as the department's next, active version (planner)."""
    info = await run_in_threadpool(
        db_layers.accept_alignment, _engine(request), department, version, author=principal.name, note=note
    )
    return JSONResponse(
        _info(info, request),
        status_code=201,
        headers={"Location": f"/departments/{department}/layers/{info.version}"},
    )


@router.get("/{department}/route", responses={404: {"description": "No grid of the department there"}})
def route(
    request: Request,
    principal: Reader,
    department: str = Department,
    grid: str = Query(..., pattern=r"^\d{15}(\d{2})?$", description="A base grid code"),
) -> dict[str, Any]:
    """The grid and unit of the department (code or name) a base grid routes to: the aligned grid
    listing it, else the grid holding most of its households, then most of its area."""
    from geogrid.errors import NotFoundError

    with _engine(request).connect() as conn:
        routed = db_layers.route_for_grid(conn, department, grid)
    if routed is None:
        raise NotFoundError(f"department {department!r} has no active grid over base grid {grid}")
    names = code_names(_engine(request), [routed["base_grid"]])
    return routed | {"base_grid_name": names.get(routed["base_grid"])}
