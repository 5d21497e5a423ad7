"""Incidents: report (with photos and an Idempotency-Key), list, read, act, merge, overdue.

Who may do what lives in the pure workflow (:mod:`geogrid.incidents`: the per-action table,
:func:`~geogrid.incidents.report_source` for reports); refusals are
:class:`~geogrid.errors.ActionForbiddenError`, answered 403 by the error table.

- report: residents, grid workers, dispatchers and admins, never anonymously;
- read: dispatchers, admins, viewers and planners everything (viewers/planners never the
  reporter's contact); grid workers their grids; departments what was dispatched to them;
  residents their own reports.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.engine import Engine

from api.deps import Principal, get_engine, get_now, get_principal, get_settings
from api.filters import (  # noqa: F401 - also imported from here by older callers
    IncidentFilters,
    actor_of,
    filters_from,
    for_audience,
    get_catalogue,
    is_public_reader,
    parse_time,
    require_key,
    split_list,
)
from api.names import Names
from api.routers._shared import json_object
from api.settings import Settings
from geogrid import incidents as wf
from geogrid.coords import to_wgs84
from geogrid.db import incidents as store
from geogrid.db.followups import followups_of
from geogrid.db.lookup import normalise_address
from geogrid.errors import ActionForbiddenError, NotFoundError
from geogrid.limits import check_text
from geogrid.times import DEFAULT_TIMEZONE, local_iso

router = APIRouter(prefix="/incidents", tags=["incidents"])

MAX_PHOTOS = 9
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")


def sniff_image(data: bytes) -> str | None:
    """The image type of ``data`` from its magic bytes (the declared type is not trusted)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def incident_json(
    engine: Engine,
    inc: store.Incident,
    actor: wf.Actor,
    *,
    names: Names,
    detail: bool = False,
    tz: str = DEFAULT_TIMEZONE,
    endpoint: str | None = None,
    separation: bool = True,
) -> dict:
    """An incident as the API shows it to ``actor``, with the Chinese names of its codes.  The
    reporter's name and contact come only with ``detail`` (never in lists) and only to those who
    handle the incident; every such read by someone other than the reporter is written to the
    audit table.  The detail also carries the history, the summonses (吹哨: who was summoned,
    who checked in and acted, on time or not), the 督办 and the flags raised."""
    contact = detail and wf.may_see_contact(
        actor,
        grid_code=inc.grid_code,
        department=inc.department,
        reporter_key_name=inc.reporter_key_name,
        village_code=inc.village_code,
        summoned=inc.summoned,
    )
    out = inc.as_json(contact=contact, tz=tz)
    if contact and (inc.reporter_name or inc.reporter_contact) and actor.name != inc.reporter_key_name:
        store.record_contact_read(engine, inc.id, actor, endpoint=endpoint)
    out["allowed_actions"] = [
        a for a in wf.allowed_actions(inc.status) if inc.may(actor, a, separation=separation)
    ]
    if not detail:
        return names.incident(out)
    out["history"] = [_history_json(h, tz) for h in store.history(engine, inc.public_id)]
    out["merged"] = [
        {"id": m, "history": [_history_json(h, tz) for h in store.history(engine, m)]}
        for m in store.merged_ids(engine, inc.public_id)
    ]
    out["photos"] = [
        {"url": f"/incidents/{inc.public_id}/photos/{p.id}", "content_type": p.content_type, "size": p.size}
        for p in store.photos(engine, inc.public_id)
    ]
    out.update(dispatch_records(engine, inc.public_id, tz))
    out["followups"] = [f.as_json(tz) for f in followups_of(engine, inc.id)]
    codes = [c for h in out["history"] for c in _org_codes(h.get("details") or {})]
    codes += [
        c for s in out["summons"] for c in (s["centre_code"], *(d["department"] for d in s["departments"]))
    ]
    codes += [c for v in out["supervisions"] for c in (v["centre_code"], v["target_code"])]
    named = replace(names, org={**names.org, **Names.lookup(engine, names.catalogue, [], codes).org})
    for s in out["summons"]:
        named.add_org(s, "centre_code")
        for d in s["departments"]:
            named.add_org(d, "department")
    for v in out["supervisions"]:
        named.add_org(v, "centre_code")
        v["target_name"] = named.org_name(v["target_code"]) or named.of(v["target_code"])
    return named.incident(out)


def detail_json(
    engine: Engine,
    inc: store.Incident,
    actor: wf.Actor,
    catalogue: wf.Catalogue,
    settings: Settings,
    endpoint: str,
) -> dict:
    """One incident in full for ``actor`` (:func:`incident_json` with ``detail``), read through ``endpoint``."""
    names = Names.for_incidents(engine, catalogue, [inc])
    return incident_json(
        engine,
        inc,
        actor,
        names=names,
        detail=True,
        tz=settings.timezone,
        endpoint=endpoint,
        separation=settings.reporter_handler_separation,
    )


def _org_codes(details: dict) -> list[str]:
    return [
        str(details[k])
        for k in ("department", "from_department", "from_centre", "to_centre")
        if details.get(k)
    ]


def dispatch_records(engine: Engine, public_id: str, tz: str = DEFAULT_TIMEZONE) -> dict:
    """The summonses, 督办 and raised flags of an incident, as JSON (times in zone ``tz``)."""
    from dataclasses import asdict

    from geogrid.dispatch import DEADLINE_NAMES, FLAG_NAMES

    def times(d: dict) -> dict:
        return {k: local_iso(v, tz) if isinstance(v, datetime) else v for k, v in d.items()}

    summons = []
    for s in store.summons_of(engine, public_id):
        doc = times({k: v for k, v in asdict(s).items() if k != "departments"})
        doc["departments"] = [times(asdict(d)) for d in s.departments]
        summons.append(doc)
    flags = [
        times(asdict(f)) | {"colour_name": FLAG_NAMES[f.colour], "deadline_name": DEADLINE_NAMES[f.deadline]}
        for f in store.flags_of(engine, public_id)
    ]
    return {
        "summons": summons,
        "supervisions": [times(asdict(v)) for v in store.supervisions_of(engine, public_id)],
        "flags_raised": flags,
    }


def _history_json(h: store.HistoryEntry, tz: str = DEFAULT_TIMEZONE) -> dict:
    return {
        "from": h.from_status,
        "to": h.to_status,
        "action": h.action,
        "actor": {"name": h.actor_name, "role": h.actor_role},
        "at": local_iso(h.at, tz),
        "note": h.note,
        "details": h.details,
    }


def visible_incident(engine: Engine, public_id: str, actor: wf.Actor) -> store.Incident:
    """The incident, if ``actor`` may see it (403 otherwise, 404 when there is none)."""
    inc = store.get(engine, public_id)
    if not inc.visible_to(actor):
        raise ActionForbiddenError(
            f"事件 {public_id} 不在可查看范围内 / incident {public_id} is outside what {actor.role} "
            f"{actor.name!r} may see"
        )
    return inc


# --- reporting ------------------------------------------------------------------------------------------


class IncidentIn(BaseModel):
    """A report.  Give ``lon``/``lat`` (with ``crs``) or ``address`` (a standard address text)."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1, max_length=32, description="minor category code, e.g. HW01")
    description: str = Field("", max_length=4000)
    source: Literal["patrol", "resident", "hotline"] | None = None
    lon: float | None = Field(None, description="longitude in `crs`")
    lat: float | None = Field(None, description="latitude in `crs`")
    crs: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    address: str | None = Field(None, max_length=300)
    reporter_name: str | None = Field(None, max_length=100)
    reporter_contact: str | None = Field(None, max_length=200)
    hotline_ticket: str | None = Field(
        None, max_length=32, description="12345 ticket number (工单号) of a hotline report"
    )

    @model_validator(mode="after")
    def _located(self) -> IncidentIn:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both lon and lat, or neither (and an address)")
        if self.lon is None and not (self.address or "").strip():
            raise ValueError("a location is required: lon and lat, or an address")
        return self


def _validation_error(exc: ValidationError, prefix: str = "body") -> RequestValidationError:
    errs = []
    for details in exc.errors(include_url=False):
        e: dict[str, Any] = dict(details)
        e["loc"] = (prefix, *e.get("loc", ()))
        e.pop("ctx", None)
        errs.append(e)
    return RequestValidationError(errs)


async def _read_report(request: Request, settings: Settings) -> tuple[IncidentIn, list[store.NewPhoto]]:
    ctype = request.headers.get("content-type", "")
    photos: list[store.NewPhoto] = []
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=MAX_PHOTOS + 1)
        data: dict[str, Any] = {}
        files = []
        for key, value in form.multi_items():
            if isinstance(value, str):
                data[key] = value
            elif key == "photos":
                files.append(value)
            else:
                raise HTTPException(400, f"unexpected file field {key!r}; attach photos as 'photos'")
        if len(files) > MAX_PHOTOS:
            raise HTTPException(413, f"at most {MAX_PHOTOS} photos per report, got {len(files)}")
        for n, upload in enumerate(files, start=1):
            blob = await upload.read(settings.photo_max_bytes + 1)
            if len(blob) > settings.photo_max_bytes:
                raise HTTPException(
                    413, f"photo {n} ({upload.filename}) is larger than {settings.photo_max_bytes} bytes"
                )
            if not blob:
                raise HTTPException(400, f"photo {n} ({upload.filename}) is empty")
            kind = sniff_image(blob)
            if kind is None:
                raise HTTPException(415, f"photo {n} ({upload.filename}) is not a JPEG, PNG or WebP image")
            photos.append(store.NewPhoto(blob, kind))
    elif ctype.startswith("application/json") or not ctype:
        data = await json_object(request)
    else:
        raise HTTPException(415, f"send application/json or multipart/form-data, not {ctype!r}")
    try:
        return IncidentIn.model_validate(data), photos
    except ValidationError as exc:
        raise _validation_error(exc) from None


def report(
    engine: Engine,
    settings: Settings,
    catalogue: wf.Catalogue,
    principal: Principal,
    body: IncidentIn,
    photos: list[store.NewPhoto],
    idempotency_key: str | None,
    now: datetime | None = None,
) -> store.Created:
    """Shared by ``POST /incidents`` and Open311 ``POST requests.json``."""
    if principal.anonymous:
        raise HTTPException(
            401, "an API key is required to report incidents", headers={"WWW-Authenticate": "Bearer"}
        )
    source = wf.report_source(principal.role, body.source)
    address_text = (body.address or "").strip() or None
    if address_text is not None:
        check_text(normalise_address(address_text), field="address", limit=settings.address_max_chars)
    if body.lon is not None:
        p = to_wgs84(body.lon, body.lat, crs=body.crs)
        lon, lat = p.lng, p.lat
    else:
        with engine.connect() as conn:
            try:
                match = store.resolve_address(conn, address_text or "")
            except NotFoundError as exc:
                raise HTTPException(422, f"address: {exc}") from None
        lon, lat, address_text = match.lon, match.lat, match.full_text
    new = store.NewIncident(
        category=body.category,
        lon=lon,
        lat=lat,
        source=source,
        description=body.description,
        address_text=address_text,
        reporter_name=body.reporter_name,
        reporter_contact=body.reporter_contact,
        reporter_key_name=principal.name,
        reporter_role=principal.role,
        hotline_ticket=body.hotline_ticket,
    )
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise HTTPException(400, "Idempotency-Key must be 1 to 200 characters")
    # Keys are scoped to the caller: two phones that happen to pick the same key do not collide.
    key = f"{principal.name}:{idempotency_key}" if idempotency_key else None
    return store.create(
        engine,
        new,
        catalogue=catalogue,
        idempotency_key=key,
        photos=photos,
        photo_dir=settings.photo_dir,
        now=now,
    )


@router.post(
    "",
    status_code=201,
    summary="Report an incident",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": IncidentIn.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "description": "the JSON fields as form fields, plus up to 9 files named 'photos'",
                    }
                },
            },
            "required": True,
        },
    },
)
async def create_incident(
    request: Request,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    principal: Principal = Depends(get_principal),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
    catalogue: wf.Catalogue = Depends(get_catalogue),
    now: datetime = Depends(get_now),
) -> dict:
    """Report an incident; a retry with the same ``Idempotency-Key`` returns the original (201 again,
    with header ``Idempotent-Replayed: true``); the same key with a different report is a 409."""
    if principal.anonymous:
        raise HTTPException(
            401, "an API key is required to report incidents", headers={"WWW-Authenticate": "Bearer"}
        )
    body, photos = await _read_report(request, settings)
    created = await run_in_threadpool(
        report, engine, settings, catalogue, principal, body, photos, idempotency_key, now
    )
    response.headers["Location"] = f"/incidents/{created.incident.public_id}"
    if not created.created:
        response.headers["Idempotent-Replayed"] = "true"
    names = await run_in_threadpool(Names.for_incidents, engine, catalogue, [created.incident])
    return await run_in_threadpool(
        incident_json,
        engine,
        created.incident,
        actor_of(principal),
        names=names,
        detail=True,
        tz=settings.timezone,
        separation=settings.reporter_handler_separation,
    )


# --- reading --------------------------------------------------------------------------------------------


@router.get("", summary="List incidents visible to the caller")
def list_incidents(
    request: Request,
    f: IncidentFilters,
    limit: int = Query(50, ge=1),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(require_key),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> dict:
    if limit > settings.page_limit_max:
        raise HTTPException(400, f"limit must be at most {settings.page_limit_max}")
    actor = actor_of(principal)
    page = store.list_incidents(engine, actor=actor, filters=f, limit=limit, offset=offset)
    names = Names.for_incidents(engine, catalogue, page.items)
    out: dict[str, Any] = {
        "items": [
            incident_json(
                engine,
                i,
                actor,
                names=names,
                tz=settings.timezone,
                separation=settings.reporter_handler_separation,
            )
            for i in page.items
        ],
        "total": page.total,
        "limit": limit,
        "offset": offset,
    }
    if offset + limit < page.total:
        q = dict(request.query_params)
        q["offset"] = str(offset + limit)
        from urllib.parse import urlencode

        out["next"] = f"{request.url.path}?{urlencode(q)}"
    return out


@router.get("/overdue", summary="Incidents past a deadline now (or at `at`)")
def overdue_incidents(
    f: IncidentFilters,
    at: str | None = Query(None, description="ISO time to evaluate at (default: now)"),
    limit: int = Query(1000, ge=1, le=10_000),
    principal: Principal = Depends(require_key),
    engine: Engine = Depends(get_engine),
    catalogue: wf.Catalogue = Depends(get_catalogue),
    settings: Settings = Depends(get_settings),
) -> dict:
    tz = settings.timezone
    now = parse_time(at, "at", tz) or datetime.now(UTC)
    actor = actor_of(principal)
    items = store.overdue(engine, now=now, actor=actor, filters=f, limit=limit)
    names = Names.for_incidents(engine, catalogue, items)
    return {
        "at": local_iso(now, tz),
        "total": len(items),
        "items": [
            incident_json(
                engine, i, actor, names=names, tz=tz, separation=settings.reporter_handler_separation
            )
            for i in items
        ],
    }


@router.get("/{public_id}", summary="One incident with its history")
def get_incident(
    public_id: str,
    principal: Principal = Depends(require_key),
    engine: Engine = Depends(get_engine),
    catalogue: wf.Catalogue = Depends(get_catalogue),
    settings: Settings = Depends(get_settings),
) -> dict:
    actor = actor_of(principal)
    inc = visible_incident(engine, public_id, actor)
    return detail_json(engine, inc, actor, catalogue, settings, "GET /incidents/{id}")


@router.get("/{public_id}/photos/{photo_id}", summary="A photo of an incident")
def get_photo(
    public_id: str,
    photo_id: int,
    principal: Principal = Depends(require_key),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
):
    from fastapi.responses import FileResponse

    visible_incident(engine, public_id, actor_of(principal))
    for p in store.photos(engine, public_id):
        if p.id == photo_id:
            return FileResponse(settings.photo_dir / p.path, media_type=p.content_type)
    raise HTTPException(404, f"incident {public_id} has no photo {photo_id}")


# --- acting ---------------------------------------------------------------------------------------------------


class TransitionIn(BaseModel):
    """An action on an incident.  Each action reads the fields it needs."""

    model_config = ConfigDict(extra="forbid")

    action: Literal[tuple(a for a in wf.ACTIONS if a != "merge")] = Field(  # type: ignore[valid-type]
        description="受理 accept, 派遣 dispatch, 改派 redispatch, 吹哨 summon, 报到 check_in, 处置反馈 act, "
        "结束吹哨 close_summons, 上报上级 escalate, 督办 supervise, start, return, resolve, reopen, verify, close"
    )
    note: str | None = Field(
        None, max_length=2000, description="what was done or decided; act and supervise need one"
    )
    department: str | None = Field(
        None, max_length=100, description="dispatch/redispatch: the department (code or Chinese name)"
    )
    level: Literal["grid", "village", "township", "county"] | None = Field(
        None, description="escalate: target level (default: the next centre up)"
    )
    assignee: str | None = Field(None, max_length=100, description="dispatch/start: who handles it")
    departments: list[str] = Field(
        default_factory=list, max_length=20, description="summon: the departments summoned (codes or names)"
    )
    report_within_h: float | None = Field(
        None, gt=0, le=24 * 30, description="summon: hours to report in (2)"
    )
    act_within_h: float | None = Field(None, gt=0, le=24 * 90, description="summon: hours to act (24)")
    report_due: str | None = Field(None, description="summon: report in by (ISO 8601)")
    act_due: str | None = Field(None, description="summon: act by (ISO 8601)")
    outcome: Literal["resolved", "returned"] | None = Field(
        None, description="close_summons: resolved (default) or returned to the centre"
    )
    due: str | None = Field(None, description="supervise: the deadline set (ISO 8601)")
    within_h: float | None = Field(None, gt=0, le=24 * 90, description="supervise: hours to the deadline")

    def request(self, tz: str) -> store.ActionRequest:
        return store.ActionRequest(
            note=self.note,
            department=self.department,
            level=self.level,
            assignee=self.assignee,
            departments=tuple(self.departments),
            report_due=parse_time(self.report_due, "report_due", tz),
            act_due=parse_time(self.act_due, "act_due", tz),
            report_within_h=self.report_within_h,
            act_within_h=self.act_within_h,
            outcome=self.outcome,
            due=parse_time(self.due, "due", tz),
            within_h=self.within_h,
        )


@router.post(
    "/{public_id}/transitions",
    summary="Act on an incident: accept, dispatch, redispatch, summon (吹哨), check in (报到), act, "
    "close the summons, escalate, supervise (督办), resolve, verify, close...",
)
def post_transition(
    public_id: str,
    body: TransitionIn,
    principal: Principal = Depends(require_key),
    engine: Engine = Depends(get_engine),
    catalogue: wf.Catalogue = Depends(get_catalogue),
    settings: Settings = Depends(get_settings),
    now: datetime = Depends(get_now),
) -> dict:
    actor = actor_of(principal)
    separation = settings.reporter_handler_separation
    inc = store.transition(
        engine,
        public_id,
        body.action,
        actor=actor,
        catalogue=catalogue,
        request=body.request(settings.timezone),
        separation=separation,
        now=now,
    )
    return detail_json(engine, inc, actor, catalogue, settings, "POST /incidents/{id}/transitions")


@router.get("/{public_id}/duplicates", summary="Suggested duplicates: same category, nearby, close in time")
def get_duplicates(
    public_id: str,
    request: Request,
    radius_m: float | None = Query(None, gt=0, le=5000),
    window_h: float | None = Query(None, gt=0, le=24 * 90),
    principal: Principal = Depends(require_key),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> dict:
    actor = actor_of(principal)
    visible_incident(engine, public_id, actor)
    r = radius_m or settings.duplicate_radius_m
    w = window_h or settings.duplicate_window_h
    found = store.duplicates(engine, public_id, radius_m=r, window=timedelta(hours=w), actor=actor)
    return {
        "id": public_id,
        "radius_m": r,
        "window_h": w,
        "items": [
            {
                "id": d.public_id,
                "category": d.category_minor,
                "category_name": catalogue.name_of(d.category_minor),
                "status": d.status,
                "status_name": wf.STATUS_NAMES.get(d.status, d.status),
                "created_at": local_iso(d.created_at, settings.timezone),
                "description": d.description,
                "location": {"lon": d.lon, "lat": d.lat},
                "distance_m": round(d.distance_m, 1),
            }
            for d in found
        ],
    }


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: str = Field(description="public id of the incident that stays")
    note: str | None = Field(None, max_length=2000)


@router.post("/{public_id}/merge", summary="Merge this incident (a duplicate) into another")
def post_merge(
    public_id: str,
    body: MergeIn,
    principal: Principal = Depends(require_key),
    engine: Engine = Depends(get_engine),
    catalogue: wf.Catalogue = Depends(get_catalogue),
    settings: Settings = Depends(get_settings),
    now: datetime = Depends(get_now),
) -> dict:
    actor = actor_of(principal)
    target = store.merge(engine, public_id, into=body.into, actor=actor, note=body.note, now=now)
    return detail_json(engine, target, actor, catalogue, settings, "POST /incidents/{id}/merge")
