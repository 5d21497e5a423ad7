"""Listing incidents: pages of what a reader may see, and what is overdue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid import incidents as wf
from geogrid.db.incidents.filters import NO_FILTERS, Filters, visibility_sql
from geogrid.db.incidents.records import COLUMNS, Incident, from_row, utcnow


@dataclass(frozen=True)
class Page:
    """A page of incidents and how many match in all."""

    items: list[Incident]
    total: int


def list_incidents(
    engine: Engine,
    *,
    actor: wf.Actor,
    filters: Filters = NO_FILTERS,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> Page:
    """Incidents ``actor`` may see, newest first."""
    now = now or utcnow()
    params: dict[str, Any] = {"limit": int(limit), "offset": int(offset)}
    where = filters.sql(params) + visibility_sql(actor, params)
    with engine.connect() as conn:
        total = conn.execute(
            sa.text(f"SELECT count(*) FROM incidents i WHERE TRUE {where}"), params
        ).scalar_one()
        rows = conn.execute(
            sa.text(
                # The page first, then its columns' sub-selects: planned once, not once per month partition.
                f"SELECT {COLUMNS} FROM (SELECT i.* FROM incidents i WHERE TRUE {where} "
                "ORDER BY i.created_at DESC, i.id DESC LIMIT :limit OFFSET :offset) i "
                "ORDER BY i.created_at DESC, i.id DESC"
            ),
            params,
        ).all()
    return Page([from_row(r, now) for r in rows], int(total))


def overdue(
    engine: Engine,
    *,
    now: datetime,
    actor: wf.Actor | None = None,
    filters: Filters = NO_FILTERS,
    limit: int = 1000,
) -> list[Incident]:
    """Incidents past a deadline at ``now``: still ``reported`` after ``accept_due``, or open
    after ``complete_due``; the most overdue first."""
    params: dict[str, Any] = {"now": now, "open": sorted(wf.OPEN_STATUSES), "limit": int(limit)}
    where = filters.sql(params) + (visibility_sql(actor, params) if actor is not None else "")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT {COLUMNS} FROM incidents i "
                "WHERE ((i.status = 'reported' AND i.accept_due < :now) "
                f"   OR (i.status = ANY(CAST(:open AS text[])) AND i.complete_due < :now)) {where} "
                "ORDER BY LEAST(CASE WHEN i.status = 'reported' THEN i.accept_due END, i.complete_due), i.id "
                "LIMIT :limit"
            ),
            params,
        ).all()
    return [from_row(r, now) for r in rows]
