"""Plans (网格划分方案): upload a draft, validate, diff, publish atomically, roll back."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from api.errors import problem
from api.routers._shared import Planner, Reader
from api.routing import engine_for
from geogrid.codes import parse_code
from geogrid.db import plans as db_plans
from geogrid.db import review, uploads, workflow
from geogrid.db.names import code_names
from geogrid.errors import GeogridError
from geogrid.limits import loads_json
from geogrid.times import local_iso

router = APIRouter(tags=["plans"])

_FILE_SUFFIXES = (".gpkg", ".geojson", ".json", ".zip", ".kml", ".kmz", ".parquet", ".csv", ".xlsx", ".xls")


PLAN_STATUS_NAMES = {"draft": "草稿", "published": "已发布", "retired": "已停用"}


def _plan_dict(info: db_plans.PlanInfo, request: Request, *, names: dict[str, str] | None = None) -> dict:
    """A plan as answered, times in the county's zone, with the names of its scope and status
    (one lookup unless ``names``)."""
    out = dataclasses.asdict(info)
    tz = request.app.state.settings.timezone
    for key in ("created_at", "published_at", "retired_at"):
        out[key] = local_iso(out[key], tz)
    if names is None:
        names = code_names(_engine(request), [info.scope_code])
    out["scope_name"] = names.get(info.scope_code)
    out["status_name"] = PLAN_STATUS_NAMES.get(info.status, info.status)
    return out


def _engine(request: Request):
    return engine_for(request)


def _geojson(request: Request, data: bytes):
    """Parsed GeoJSON, refusing nesting deeper than the settings allow (a 400, never a
    RecursionError)."""
    return loads_json(data, max_depth=request.app.state.settings.max_json_depth)


async def _frame_from_request(request: Request):
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, "multipart upload needs a 'file' part (GeoPackage or GeoJSON)")
        name = upload.filename or "plan"
        suffix = Path(name).suffix.lower()
        if suffix not in _FILE_SUFFIXES:
            raise HTTPException(
                415,
                f"file {name!r}: use GeoPackage, GeoJSON, a zipped Shapefile (.zip), KML/KMZ, GeoParquet, CSV or Excel",
            )
        data = await upload.read()
        if suffix in (".geojson", ".json"):
            return await run_in_threadpool(uploads.read_plan_geojson, _geojson(request, data), source=name)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            return await run_in_threadpool(uploads.read_plan_file, path, source=name)
    if content_type in ("application/json", "application/geo+json", ""):
        body = await request.body()
        if not body:
            raise HTTPException(400, "empty body: send a GeoJSON FeatureCollection or a multipart file")
        return await run_in_threadpool(
            uploads.read_plan_geojson, _geojson(request, body), source="request body"
        )
    raise HTTPException(
        415,
        f"unsupported content type {content_type!r}: send application/geo+json "
        "or multipart/form-data with a GeoPackage/GeoJSON file",
    )


@router.post("/plans", status_code=201, responses={422: {"description": "Bad features, with row numbers"}})
async def upload_plan(
    *,
    request: Request,
    scope: str | None = Query(None, description="Division code of the plan's scope (default: inferred)"),
    note: str | None = Query(None, description="What changed and why"),
    snap: float | None = Query(
        None,
        ge=0,
        le=1,
        description="First snap vertices onto the published plan's edges within this many metres",
    ),
    principal: Planner,
) -> JSONResponse:
    """Upload a plan as a draft: a GeoJSON FeatureCollection body, or a GeoPackage/GeoJSON file
    (multipart field ``file``).  With ``snap`` (metres) the grids are first snapped onto the
    published plan's shared edges and the answer says how far each vertex moved.  Planner or admin."""
    frame = await _frame_from_request(request)
    engine = _engine(request)
    done = await run_in_threadpool(
        uploads.upload, engine, frame, scope_code=scope, author=principal.name, note=note, snap_m=snap
    )
    info = await run_in_threadpool(db_plans.get_plan, engine, done.plan_id)
    body = await run_in_threadpool(_plan_dict, info, request)
    if done.snap is not None:
        body["snap"] = uploads.snap_to_dict(done.snap)
    return JSONResponse(body, status_code=201, headers={"Location": f"/plans/{done.plan_id}"})


@router.post("/plans/repair", status_code=201, responses={409: {"description": "Nothing to repair"}})
def repair_plan(
    *,
    request: Request,
    division: str = Query(..., description="Division code (county, township or village) to repair"),
    max_changed: int | None = Query(None, ge=0, description="Most grids of each village that may change"),
    seed: int = Query(0, ge=0, description="Seed of re-drawn parts"),
    principal: Planner,
) -> JSONResponse:
    """Repair the published grids of a division after households changed (动态调整), changing as
    few grids as possible; the result is a draft plan to validate, diff and publish like any
    other.  Planner or admin."""
    parse_code(division)
    done = workflow.repair_scope(
        _engine(request),
        division,
        seed=seed,
        max_changed=max_changed,
        scheduler="synchronous",
        progress=False,
        author=principal.name,
    )
    body = {
        **_plan_dict(done.info, request),
        "repair": review.repair_to_dict(done.result, done.dropped_subgrids),
    }
    return JSONResponse(body, status_code=201, headers={"Location": f"/plans/{done.plan_id}"})


@router.get("/plans")
def list_plans(
    *,
    request: Request,
    scope: str | None = Query(None, description="Only plans of this scope"),
    status: str | None = Query(None, description="draft, published or retired"),
    principal: Reader,
) -> dict:
    """Plans, newest version first per scope."""
    if status is not None and status not in ("draft", "published", "retired"):
        raise GeogridError(f"status must be draft, published or retired; got {status!r}")
    plans = db_plans.list_plans(_engine(request), scope_code=scope)
    names = code_names(_engine(request), [p.scope_code for p in plans])
    return {
        "plans": [_plan_dict(p, request, names=names) for p in plans if status is None or p.status == status]
    }


@router.get("/plans/{plan_id}")
def get_plan(plan_id: int, request: Request, principal: Reader) -> dict:
    """One plan: scope, version, status, author, dates, grid count and households."""
    return _plan_dict(db_plans.get_plan(_engine(request), plan_id), request)


@router.get("/plans/{plan_id}/validation")
def validate_plan(plan_id: int, request: Request, principal: Reader) -> dict:
    """The validation report (gaps, overlaps, households, codes) of a plan."""
    return review.review_to_dict(review.validate_plan(_engine(request), plan_id))


@router.get("/plans/{plan_id}/diff")
def diff_plan(plan_id: int, request: Request, principal: Reader) -> dict:
    """Grids added, removed, changed and households moved, against the published plan of the scope."""
    diff, against = review.diff_to_published(_engine(request), plan_id)
    return review.diff_to_dict(diff, plan_id=plan_id, against=against)


@router.post("/plans/{plan_id}/publish", responses={422: {"description": "The plan is invalid"}})
def publish_plan(
    *,
    plan_id: int,
    request: Request,
    force: bool = Query(False, description="Publish even if validation finds issues"),
    principal: Planner,
) -> Response:
    """Publish a draft atomically (lookups and tiles switch in one transaction); an invalid plan
    is refused with its report unless ``force=true``.  Planner or admin."""
    engine = _engine(request)
    info = db_plans.get_plan(engine, plan_id)  # 404 before validating a plan that does not exist
    # Only a draft can be published: anything else gets its 409 without a pointless validation.
    if not force and info.status == "draft":
        result = review.validate_plan(engine, plan_id)
        if not result.ok:
            report = review.review_to_dict(result, max_issues=100)
            return problem(
                422,
                f"plan {plan_id} has {len(result.issues)} validation issue(s) "
                f"{report['counts']}; fix them or publish with force=true",
                kind="invalid-plan",
                request=request,
                report=report,
            )
    return JSONResponse(_plan_dict(db_plans.publish_plan(engine, plan_id), request))


@router.post("/scopes/{scope_code}/rollback")
def rollback(scope_code: str, request: Request, principal: Planner) -> dict:
    """Retire the published plan of a scope and re-publish the one it replaced.  Planner or admin."""
    parse_code(scope_code)
    return _plan_dict(db_plans.rollback_plan(_engine(request), scope_code), request)


@router.delete("/plans/{plan_id}", status_code=204)
def delete_plan(plan_id: int, request: Request, principal: Planner) -> Response:
    """Delete a draft (published and retired plans are history and stay).  Planner or admin."""
    db_plans.delete_draft(_engine(request), plan_id)
    return Response(status_code=204)
