"""The dispatch organisation: departments, centres with their queues, and the notification outbox.

Departments and centres are what a county posts on its notice boards (names and codes, no
people), so they are readable like grids.  The outbox (who was notified of what, delivered or
not) is for admins.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from sqlalchemy.engine import Engine

from api.deps import Principal, get_engine, get_settings, require_reader, require_roles
from api.names import Names
from api.settings import Settings
from geogrid import incidents as wf
from geogrid.db import notify
from geogrid.db import organisation as org
from geogrid.organisation import LEVEL_NAMES
from geogrid.times import local_iso

router = APIRouter(tags=["organisation"])


@router.get("/departments", summary="Departments (职能部门): code, name, level, divisions served")
def get_departments(
    serving: str | None = Query(None, description="only those serving this place (division or grid code)"),
    _: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
) -> dict:
    departments = org.list_departments(engine, serving=serving)
    names = Names.lookup(
        engine, wf.load_catalogue(), [c for d in departments for c in (d.division_code, *d.serves)]
    )
    return {
        "items": [
            {
                "code": d.code,
                "name": d.name,
                "level": d.level,
                "level_name": LEVEL_NAMES[d.level],
                "division_code": d.division_code,
                "division_name": names.of(d.division_code),
                "serves": list(d.serves),
                "serves_names": [names.of(s) for s in d.serves],
            }
            for d in departments
        ]
    }


@router.get("/centres", summary="Dispatch centres (综治中心) with their queues")
def get_centres(
    within: str | None = Query(None, description="only centres inside this division"),
    at: str | None = Query(None, description="the moment overdue counts refer to (default: now)"),
    _: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
) -> dict:
    """Each centre with the incidents queued at it: open, overdue (past a deadline), summoned."""
    from api.filters import parse_time

    now = parse_time(at, "at", settings.timezone) or datetime.now(UTC)
    centres = org.list_centres(engine, within=within)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT centre_code, count(*) AS open, "
                "count(*) FILTER (WHERE (status = 'reported' AND accept_due < :now) OR complete_due < :now) AS overdue, "
                "count(*) FILTER (WHERE status = 'summoned') AS summoned "
                "FROM incidents WHERE centre_code = ANY(CAST(:c AS text[])) AND status = ANY(CAST(:open AS text[])) "
                "GROUP BY centre_code"
            ),
            {"c": [c.code for c in centres], "open": sorted(wf.OPEN_STATUSES), "now": now},
        ).all()
    queues = {r.centre_code: r for r in rows}
    return {
        "at": local_iso(now, settings.timezone),
        "items": [
            {
                "code": c.code,
                "name": c.name,
                "level": c.level,
                "level_name": LEVEL_NAMES[c.level],
                "queue": {
                    "open": int(queues[c.code].open) if c.code in queues else 0,
                    "overdue": int(queues[c.code].overdue) if c.code in queues else 0,
                    "summoned": int(queues[c.code].summoned) if c.code in queues else 0,
                    "url": f"/incidents?centre={c.code}",
                },
            }
            for c in centres
        ],
    }


@router.get("/notifications", summary="The notification outbox and its deliveries (admins)")
def get_notifications(
    status: str | None = Query(None, description="pending, sending, delivered or dead (comma-separated)"),
    incident: str | None = Query(None, description="one incident's notifications"),
    limit: int = Query(100, ge=1, le=1000),
    _: Principal = Depends(require_roles("admin")),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
) -> dict:
    from api.filters import split_list

    tz = settings.timezone
    items = notify.notifications(engine, incident=incident, statuses=split_list(status), limit=limit)
    return {
        "counts": notify.status_counts(engine),
        "items": [
            {
                "id": n.id,
                "event_key": n.event_key,
                "kind": n.kind,
                "status": n.status,
                "attempts": n.attempts,
                "recipient": n.payload.get("recipient"),
                "text": n.payload.get("text"),
                "created_at": local_iso(n.created_at, tz),
                "delivered_at": local_iso(n.delivered_at, tz),
                "last_error": n.last_error,
                "deliveries": [{**d, "at": local_iso(d["at"], tz)} for d in notify.deliveries(engine, n.id)],
            }
            for n in items
        ],
    }
