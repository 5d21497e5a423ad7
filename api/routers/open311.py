"""Open311 GeoReport v2 (JSON) over the incident model, so existing civic clients work.

Mapping: a *service* is a minor category (``service_code`` = its code, ``group`` = the major
category); a *service request* is an incident (``service_request_id`` = its public id).
GeoReport has two statuses: ``open`` while the incident waits for someone, ``closed`` once it
is resolved, verified, closed, rejected or merged (``status_notes`` gives our status).
Reporter name, phone and e-mail are stored but never returned.  Anonymous callers and
residents get the public view (public categories only, no rejected or merged reports,
locations rounded to about 100 m, no address or description); a staff key sees what its scope
allows.
Errors use GeoReport's format, ``[{"code": 400, "description": "..."}]``.

Posting needs an API key (``api_key`` parameter as in the specification, or the usual
headers) of a role that may report; ``lat``/``long`` are WGS-84.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from api.deps import ANONYMOUS, Principal, get_engine, get_settings, require_reader
from api.errors import status_for
from api.routers._shared import json_object
from api.routers.incidents import IncidentIn, actor_of, get_catalogue, is_public_reader, parse_time, report
from api.settings import Settings
from geogrid import incidents as wf
from geogrid.db import incidents as store
from geogrid.errors import GeogridError
from geogrid.limits import check_count
from geogrid.times import local_iso

SPEC = "http://wiki.open311.org/GeoReport_v2"
CLOSED = wf.FINAL_STATUSES | wf.COMPLETED_STATUSES
MAX_REQUESTS = 1000
# The public view reads every incident and then narrows it (public categories, no rejected or
# merged reports); never a reporter's contact.
PUBLIC = wf.Actor("open311", "viewer")
OPEN311_STATUS_NAMES = {"open": "办理中", "closed": "已办结"}


class Open311Route(APIRoute):
    """Answer errors on these routes in GeoReport's ``[{"code", "description"}]`` format."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                return _error(exc.status_code, str(exc.detail), exc.headers)
            except RequestValidationError as exc:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg', '')}"
                    for e in exc.errors()
                )
                return _error(400, detail)
            except GeogridError as exc:
                return _error(status_for(exc), str(exc))

        return route


def _error(status: int, description: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status, headers=headers)


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)


@router.get("/discovery.json", summary="GeoReport v2 discovery")
def discovery(request: Request, settings: Settings = Depends(get_settings)) -> dict:
    base = str(request.base_url).rstrip("/") + "/open311/v2"
    return {
        "changeset": "2024-05-01T08:00:00+08:00",
        "contact": "geogrid incident service",
        "key_service": "API keys are issued by the county's grid management centre (geogrid keys create)",
        "endpoints": [
            {
                "specification": SPEC,
                "url": base,
                "changeset": "2024-05-01T08:00:00+08:00",
                "type": "production",
                "formats": ["application/json"],
            }
        ],
    }


def _service(c: wf.Category) -> dict:
    return {
        "service_code": c.code,
        "service_name": c.name,
        "description": f"{c.major_name}/{c.name}：{c.accept_hours:g} 小时内受理，{c.complete_hours:g} 小时内"
        f"由{c.department}办结。{c.name_en}: accepted within {c.accept_hours:g} h, "
        f"completed within {c.complete_hours:g} h by {c.department}",
        "metadata": False,
        "type": "realtime",
        "keywords": c.name_en.lower(),
        "group": c.major_name,
        # Not GeoReport: whether anonymous readers see requests of this service.
        "public": c.public,
    }


@router.get("/services.json", summary="Service list (the minor categories)")
def services(catalogue: wf.Catalogue = Depends(get_catalogue)) -> list[dict]:
    return [_service(c) for c in catalogue]


@router.get("/services/{service_code}.json", summary="Service definition")
def service_definition(service_code: str, catalogue: wf.Catalogue = Depends(get_catalogue)) -> dict:
    c = catalogue.get(service_code)
    # metadata is false for every service: there are no extra attributes to fill in.
    return {"service_code": c.code, "attributes": []}


@dataclass(frozen=True)
class View:
    """How requests are shown: the public view (rounded location, no address or free text) or
    the staff view, with the county's time zone."""

    public: bool
    decimals: int
    tz: str
    actor: wf.Actor

    def shows(self, inc: store.Incident, catalogue: wf.Catalogue) -> bool:
        if self.public:
            c = catalogue.categories.get(inc.category_minor)
            return c is not None and c.public and inc.status not in ("rejected", "merged")
        return inc.visible_to(self.actor)


def _view(request: Request, principal: Principal) -> View:
    settings = request.app.state.settings
    return View(
        is_public_reader(principal), settings.public_location_decimals, settings.timezone, actor_of(principal)
    )


def _requests_json(
    engine: Engine, incidents: list[store.Incident], catalogue: wf.Catalogue, view: View
) -> list[dict]:
    """GeoReport requests of ``incidents``; the agency is the department's Chinese name."""
    from geogrid.db.organisation import names_of

    agencies = names_of(engine, [i.department for i in incidents])
    return [_request_json(i, catalogue, view, agencies) for i in incidents]


def _request_json(
    inc: store.Incident, catalogue: wf.Catalogue, view: View, agencies: Mapping[str, str]
) -> dict:
    c = catalogue.categories.get(inc.category_minor)
    # Our own status, in Chinese, goes into GeoReport's free-text notes.
    notes = wf.STATUS_NAMES.get(inc.status, inc.status) + (
        f"，已并入 {inc.merged_into}" if inc.merged_into else ""
    )
    status = "closed" if inc.status in CLOSED else "open"
    lat, lon = inc.lat, inc.lon
    if view.public:
        # About 100 m (3 decimals): where, but not whose door.  The address and the free text,
        # which a reporter may fill with names and numbers, are for staff.
        lat, lon = round(lat, view.decimals), round(lon, view.decimals)
    return {
        "service_request_id": inc.public_id,
        "status": status,
        "status_name": OPEN311_STATUS_NAMES[status],
        "status_notes": notes,
        "service_name": c.name if c else inc.category_minor,
        "service_code": inc.category_minor,
        "description": "" if view.public else inc.description,
        "agency_responsible": agencies.get(inc.department or "", inc.department)
        or (c.department if c else None),
        "service_notice": "",
        "requested_datetime": local_iso(inc.created_at, view.tz),
        "updated_datetime": local_iso(inc.updated_at, view.tz),
        "expected_datetime": local_iso(inc.complete_due, view.tz),
        "address": None if view.public else inc.address_text,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": None,
    }


@router.get("/requests.json", summary="Service requests (default: the last 90 days, at most 1000)")
def list_requests(
    request: Request,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
    principal: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> list[dict]:
    """Anonymous callers and residents get the public view: public categories only, never
    rejected or merged reports, locations rounded to about 100 m, no address or description.
    Staff keys see what their scope allows, exactly."""
    view = _view(request, principal)
    if service_request_id:
        ids = [p.strip() for p in service_request_id.split(",") if p.strip()]
        check_count(len(ids), field="ids", limit=request.app.state.settings.max_ids)
        # GeoReport: unknown ids are simply absent from the list (and so are ids one may not see).
        found = store.get_many(engine, ids)
        return _requests_json(engine, [inc for inc in found if view.shows(inc, catalogue)], catalogue, view)
    end = parse_time(end_date, "end_date", view.tz) or datetime.now(UTC)
    start = parse_time(start_date, "start_date", view.tz) or end - timedelta(days=90)
    statuses: tuple[str, ...] = ()
    if status:
        wanted = {s.strip() for s in status.split(",") if s.strip()}
        if not wanted <= {"open", "closed"}:
            raise HTTPException(400, f"status must be open and/or closed, got {status!r}")
        statuses = tuple(
            sorted(
                (CLOSED if "closed" in wanted else frozenset())
                | (wf.OPEN_STATUSES if "open" in wanted else frozenset())
            )
        )
    if service_code:
        for code in service_code.split(","):
            catalogue.get(code.strip())
    f = store.Filters(status=statuses, category=service_code or None, date_from=start, date_to=end)
    if view.public:
        f = replace(f, public_codes=catalogue.public_codes)
    page = store.list_incidents(
        engine, actor=PUBLIC if view.public else view.actor, filters=f, limit=MAX_REQUESTS
    )
    return _requests_json(engine, page.items, catalogue, view)


@router.get("/requests/{service_request_id}.json", summary="One service request")
def get_request(
    request: Request,
    service_request_id: str,
    principal: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> list[dict]:
    view = _view(request, principal)
    inc = store.get(engine, service_request_id)
    if not view.shows(inc, catalogue):
        # Not "forbidden": a public reader must not learn that a private report exists.
        raise HTTPException(
            404, f"服务请求 {service_request_id} 不存在 / service request {service_request_id} not found"
        )
    return _requests_json(engine, [inc], catalogue, view)


async def _form(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        return await json_object(request, empty={})
    form = await request.form()
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


@router.post("/requests.json", status_code=201, summary="Create a service request")
async def post_request(
    request: Request,
    response: Response,
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> list[dict]:
    data = await _form(request)
    key = (
        data.pop("api_key", None)
        or request.query_params.get("api_key")
        or request.headers.get("x-api-key")
        or _bearer(request.headers.get("authorization"))
    )
    principal = ANONYMOUS
    if key:
        record = await run_in_threadpool(request.app.state.key_cache.lookup, engine, key)
        if record is None:
            raise HTTPException(401, "unknown or revoked api_key")
        principal = Principal(record.name, record.role, record.scope)
    if "service_code" not in data:
        raise HTTPException(400, "service_code is required")
    name = " ".join(str(data.get(k, "")).strip() for k in ("first_name", "last_name")).strip() or None
    contact = (
        "; ".join(str(data[k]).strip() for k in ("phone", "email") if str(data.get(k) or "").strip()) or None
    )
    try:
        body = IncidentIn(
            category=str(data["service_code"]),
            description=str(data.get("description") or ""),
            lon=_float(data.get("long"), "long"),
            lat=_float(data.get("lat"), "lat"),
            address=(str(data["address_string"]) if data.get("address_string") else None),
            reporter_name=name,
            reporter_contact=contact,
        )
    except ValidationError as exc:
        raise HTTPException(400, "; ".join(e["msg"] for e in exc.errors(include_url=False))) from None
    created = await run_in_threadpool(
        report, engine, settings, catalogue, principal, body, [], request.headers.get("idempotency-key")
    )
    if not created.created:
        response.headers["Idempotent-Replayed"] = "true"
    return [{"service_request_id": created.incident.public_id, "service_notice": "", "account_id": None}]


def _float(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise HTTPException(400, f"{name} must be a number, got {value!r}") from None


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None
