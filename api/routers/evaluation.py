"""Evaluation (考评): rankings and grades as JSON, ``.xlsx`` or CSV; follow-ups (回访); the
monthly report page of a division.

Who sees what: units (grids, divisions, departments, centres) are ranked for every reader on
the incidents that reader may count — the public categories for anonymous callers and
residents (what a county posts on its notice board), the key's scope for staff.  Persons
(``level=worker``) are ranked only for staff who read all incidents (admin, dispatcher,
viewer, planner), inside their division.  Follow-ups name people and carry notes: they need a
key (the reporter, or a dispatcher who sees the incident).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from api.deps import Principal, get_engine, get_now, get_settings, require_reader
from api.filters import (
    IncidentFilters,
    actor_of,
    for_audience,
    get_catalogue,
    is_public_reader,
    parse_time,
    require_key,
)
from api.names import Names
from api.routers.incidents import incident_json, visible_incident
from api.routers.maps import ASSETS, MapPageRoute
from api.settings import Settings
from geogrid import evaluation as ev
from geogrid import evaluation_export as export
from geogrid import incidents as wf
from geogrid import report as rp
from geogrid.assets import asset_urls, check_assets
from geogrid.db import evaluation as evdb
from geogrid.db import followups as fudb
from geogrid.db.reports import monthly_report
from geogrid.errors import ActionForbiddenError, GeogridError
from geogrid.times import local_iso

router = APIRouter(tags=["evaluation"])
pages = APIRouter(tags=["evaluation"], route_class=MapPageRoute)


def get_evaluation_config(request: Request) -> ev.EvaluationConfig:
    """The app's evaluation configuration, read once from ``settings.evaluation``."""
    state = request.app.state
    config = getattr(state, "evaluation_config", None)
    if config is None:
        config = ev.load_config(state.settings.evaluation)
        state.evaluation_config = config
    return config


def _check_level(level: str, principal: Principal) -> None:
    if level not in ev.LEVELS:
        raise GeogridError(f"level must be one of {list(ev.LEVELS)}, got {level!r}")
    if level == "worker" and principal.role not in wf.READ_ALL_ROLES:
        raise ActionForbiddenError(
            "网格员个人考评仅限工作人员查看 / rankings of persons need a key of an admin, dispatcher, "
            f"viewer or planner; role {principal.role!r} may not read them"
        )


def _period(text: str | None, kind: str, now: datetime, tz: str) -> ev.Period:
    return ev.parse_period(text, tz) if text else ev.period_of(kind, now, tz)


def _row_json(r: ev.UnitResult) -> dict:
    return {f: getattr(r, f) for f in _ROW_FIELDS}


_ROW_FIELDS = tuple(f.name for f in fields(ev.UnitResult))


def evaluation_json(e: ev.Evaluation, tz: str) -> dict:
    """An evaluation as the API answers it (codes with their Chinese names)."""
    c = e.config
    graded = [r for r in e.rows if r.grade]
    return {
        "level": e.level,
        "level_name": ev.LEVEL_NAMES[e.level],
        "period": e.period.key,
        "period_name": e.period.name,
        "from": local_iso(e.period.start, tz),
        "to": local_iso(e.period.end, tz),
        "at": local_iso(e.at, tz),
        "method": c.method,
        "method_name": "按名额比例" if c.method == "quota" else "按分数线",
        "quota": dict(c.quota),
        "thresholds": dict(c.thresholds),
        "min_cases": c.min_cases,
        "weights": {k: {"weight": w, "name": ev.RATE_NAMES[k]} for k, w in e.weights.items()},
        "grades": {
            g: {"name": ev.GRADE_NAMES[g], "count": sum(r.grade == g for r in graded)} for g in ev.GRADES
        },
        "not_graded": len(e.rows) - len(graded),
        "count_names": ev.COUNTS,
        "rate_names": ev.RATE_NAMES,
        "rows": [_row_json(r) for r in e.rows],
    }


@router.get(
    "/evaluation",
    summary="考评: indicators, scores, ranks and grades of workers, grids, villages, townships, departments "
    "or centres for a month, quarter or year (JSON, .xlsx or CSV)",
)
def get_evaluation(
    f: IncidentFilters,
    level: str = Query("grid", description=f"one of {list(ev.LEVELS)}"),
    period: str | None = Query(
        None, description="2024-05 (month), 2024-Q2 (quarter) or 2024 (year); default: this month"
    ),
    method: Literal["quota", "thresholds"] | None = Query(
        None, description="grading: by quota (1:2:7) or thresholds"
    ),
    quota: str | None = Query(None, description="优秀:良好:合格, e.g. 1:2:7"),
    format: Literal["json", "xlsx", "csv"] = Query(
        "json", description="json, xlsx (Excel) or csv (UTF-8 with BOM)"
    ),
    at: str | None = Query(None, description="the moment 'overdue now' refers to (default: now)"),
    principal: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    catalogue: wf.Catalogue = Depends(get_catalogue),
    settings: Settings = Depends(get_settings),
    config: ev.EvaluationConfig = Depends(get_evaluation_config),
) -> Response:
    tz = settings.timezone
    _check_level(level, principal)
    now = parse_time(at, "at", tz) or datetime.now(UTC)
    e = evdb.evaluate(
        engine,
        level=level,
        period=_period(period, "month", now, tz),
        filters=for_audience(f, principal, catalogue),
        config=config.with_grading(method, quota),
        now=now,
        tz=tz,
    )
    if format == "json":
        return Response(orjson.dumps(evaluation_json(e, tz)), media_type="application/json")
    name = f"evaluation-{e.level}-{e.period.key}.{format}"
    if format == "xlsx":
        body, media = export.to_xlsx(e), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body, media = export.to_csv(e), "text/csv; charset=utf-8"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- follow-ups ----------------------------------------------------------------------------------------


class FollowUpIn(BaseModel):
    """A follow-up (回访) of a closed incident."""

    model_config = ConfigDict(extra="forbid")

    verdict: str | None = Field(
        None,
        max_length=16,
        description="满意 / 基本满意 / 不满意 (or satisfied, basically_satisfied, "
        "unsatisfied); none: the reporter was not reached (未接通)",
    )
    note: str | None = Field(None, max_length=2000)
    channel: Literal["reporter", "hotline", "centre"] = Field(
        "hotline", description="reporter (the reporter's own verdict), hotline (12345 callback) or centre"
    )
    reopen: bool = Field(
        True, description="reopen the case on 不满意 within the window (GEOGRID_REOPEN_WITHIN_DAYS)"
    )


@router.post(
    "/incidents/{public_id}/followups",
    status_code=201,
    summary="Record a follow-up (回访) of a closed incident",
)
def post_followup(
    public_id: str,
    body: FollowUpIn,
    principal: Principal = Depends(require_key),
    engine: Engine = Depends(get_engine),
    catalogue: wf.Catalogue = Depends(get_catalogue),
    settings: Settings = Depends(get_settings),
    now: datetime = Depends(get_now),
) -> dict:
    actor = actor_of(principal)
    done = fudb.record(
        engine,
        public_id,
        fudb.FollowUpRequest(body.verdict, body.note, body.channel, body.reopen),
        actor=actor,
        catalogue=catalogue,
        within_days=settings.reopen_within_days,
        now=now,
    )
    names = Names.for_incidents(engine, catalogue, [done.incident])
    shown = incident_json(engine, done.incident, actor, names=names, tz=settings.timezone)
    return {"followup": done.followup.as_json(settings.timezone), "reason": done.reason, "incident": shown}


@router.get("/incidents/{public_id}/followups", summary="The follow-ups (回访) of an incident")
def get_followups(
    public_id: str,
    principal: Principal = Depends(require_key),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
) -> dict:
    inc = visible_incident(engine, public_id, actor_of(principal))
    items = [f.as_json(settings.timezone) for f in fudb.followups_of(engine, inc.id)]
    return {"id": inc.public_id, "hotline_ticket": inc.hotline_ticket, "callback_status": inc.callback_status,
            "items": items}  # fmt: skip


# --- the monthly report --------------------------------------------------------------------------------


@pages.get(
    "/reports/monthly",
    response_class=HTMLResponse,
    summary="The monthly report of a division (月度通报): printable HTML with headline rates, trends, "
    "rankings, the overdue list and a map",
)
def get_monthly_report(
    f: IncidentFilters,
    month: str | None = Query(None, description="2024-05; default: this month"),
    at: str | None = Query(None, description="the moment 'overdue now' refers to (default: now)"),
    principal: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    catalogue: wf.Catalogue = Depends(get_catalogue),
    settings: Settings = Depends(get_settings),
    config: ev.EvaluationConfig = Depends(get_evaluation_config),
) -> HTMLResponse:
    tz = settings.timezone
    now = parse_time(at, "at", tz) or datetime.now(UTC)
    period = ev.parse_period(month, tz) if month else ev.period_of("month", now, tz)
    if period.kind != "month":
        raise GeogridError(f"month must look like 2024-05, got {month!r}")
    division = f.division or principal.scope.get("division")
    if not division:
        raise GeogridError("月度通报需指定区划 / give the division of the report: ?division=320508")
    check_assets(["chart.js", "leaflet.js", "leaflet.css"])
    report = monthly_report(
        engine,
        division=str(division),
        period=period,
        catalogue=catalogue,
        filters=for_audience(f, principal, catalogue),
        config=config,
        now=now,
        tz=tz,
        public=is_public_reader(principal),
    )
    return HTMLResponse(rp.render(report, assets=asset_urls(ASSETS)))


router.include_router(pages)
