"""Incident records: the stored row, its history and photos, read and written under the lock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import heat
from geogrid import incidents as wf
from geogrid.errors import ConflictError, NotFoundError
from geogrid.followup import CALLBACK_STATUS_NAMES
from geogrid.times import DEFAULT_TIMEZONE, local_iso

#: ``merged_into`` as a public id by the formula of the column ``incidents.public_id``: a
#: sub-select would be planned once per month partition of the row and once per partition inside.
COLUMNS = """
    i.id, i.public_id, i.category_major, i.category_minor, i.description, i.source, i.status, i.level,
    ST_X(i.location) AS lon, ST_Y(i.location) AS lat, i.address_text, i.h3_cell, i.grid_code,
    i.village_code, i.township_code, i.department, i.assignee, i.reporter_name, i.reporter_contact,
    i.reporter_key_name, i.accept_due, i.complete_due, i.accepted_at, i.resolved_at, i.closed_at,
    i.created_at, i.updated_at, 'E' || lpad(i.merged_into::text, 8, '0') AS merged_into,
    i.centre_code,
    ARRAY(SELECT DISTINCT sd.department_code FROM summons s JOIN summon_departments sd ON sd.summon_id = s.id
          WHERE s.incident_id = i.id ORDER BY 1) AS summoned,
    ARRAY(SELECT sd.department_code FROM summons s JOIN summon_departments sd ON sd.summon_id = s.id
          WHERE s.incident_id = i.id AND s.status = 'open' ORDER BY 1) AS summoned_now,
    (SELECT t.ticket_no FROM hotline_tickets t WHERE t.incident_id = i.id) AS hotline_ticket,
    (SELECT t.callback_status FROM hotline_tickets t WHERE t.incident_id = i.id) AS callback_status
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- records ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One row of an incident's append-only history."""

    from_status: str | None
    to_status: str
    action: str
    actor_name: str
    actor_role: str
    at: datetime
    note: str | None
    details: dict


@dataclass(frozen=True)
class Photo:
    id: int
    path: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Incident:
    """An incident as stored, with its overdue flags at the time it was read."""

    id: int
    public_id: str
    category_major: str
    category_minor: str
    description: str
    source: str
    status: str
    level: str
    lon: float
    lat: float
    address_text: str | None
    h3_cell: int
    grid_code: str | None
    village_code: str | None
    township_code: str | None
    department: str | None
    assignee: str | None
    reporter_name: str | None
    reporter_contact: str | None
    reporter_key_name: str | None
    accept_due: datetime
    complete_due: datetime
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    merged_into: str | None
    #: The centre (综治中心, its division code) whose queue holds the incident.
    centre_code: str | None = None
    #: Departments ever summoned to it (吹哨), who therefore see it.
    summoned: tuple[str, ...] = ()
    #: Departments of the open summons (吹哨) that may check in and act now.
    summoned_now: tuple[str, ...] = ()
    overdue: wf.Overdue = field(default_factory=lambda: wf.Overdue(False, False))
    #: Yellow/red flags of its own deadlines at the time it was read (``accept``, ``complete``).
    flags: dict[str, str] = field(default_factory=dict)
    #: A hotline case's 12345 ticket number (工单号) and callback status (待回访, 已回访 ...).
    hotline_ticket: str | None = None
    callback_status: str | None = None

    def facts(self) -> dict[str, Any]:
        """What :func:`geogrid.incidents.authorize` reads of this incident."""
        return {
            "grid_code": self.grid_code,
            "department": self.department,
            "village_code": self.village_code,
            "centre_code": self.centre_code,
            "reporter_key_name": self.reporter_key_name,
        }

    def may(self, actor: wf.Actor, action: str, *, separation: bool = True) -> bool:
        """Whether ``actor`` may take ``action`` on it now (role and scope; not the status)."""
        try:
            wf.authorize(actor, action, **self.facts(), summoned_now=self.summoned_now, separation=separation)
        except wf.ActionForbiddenError:
            return False
        return True

    def visible_to(self, actor: wf.Actor) -> bool:
        """Whether ``actor`` may see this incident (:func:`geogrid.incidents.in_scope`)."""
        return wf.in_scope(
            actor,
            grid_code=self.grid_code,
            department=self.department,
            reporter_key_name=self.reporter_key_name,
            village_code=self.village_code,
            summoned=self.summoned,
        )

    def as_json(self, *, contact: bool = False, tz: str = DEFAULT_TIMEZONE) -> dict[str, Any]:
        """A JSON-ready dict, times in zone ``tz``; the reporter's name and contact only with
        ``contact=True``."""

        def _iso(t: datetime | None) -> str | None:
            return local_iso(t, tz)

        out: dict[str, Any] = {
            "id": self.public_id,
            "category": {"major": self.category_major, "minor": self.category_minor},
            "description": self.description,
            "source": self.source,
            "status": self.status,
            "level": self.level,
            "location": {"lon": self.lon, "lat": self.lat},
            "address": self.address_text,
            "h3_cell": heat.cell_to_str([self.h3_cell])[0],
            "grid_code": self.grid_code,
            "village_code": self.village_code,
            "township_code": self.township_code,
            "department": self.department,
            "assignee": self.assignee,
            "accept_due": _iso(self.accept_due),
            "complete_due": _iso(self.complete_due),
            "accepted_at": _iso(self.accepted_at),
            "resolved_at": _iso(self.resolved_at),
            "closed_at": _iso(self.closed_at),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "merged_into": self.merged_into,
            "overdue": {"accept": self.overdue.accept, "complete": self.overdue.complete},
            "centre_code": self.centre_code,
            "summoned": list(self.summoned),
            "summoned_now": list(self.summoned_now),
            "flags": dict(self.flags),
            "hotline_ticket": self.hotline_ticket,
            "callback_status": self.callback_status,
            "callback_status_name": CALLBACK_STATUS_NAMES.get(self.callback_status or ""),
        }
        if contact:
            out["reporter"] = {"name": self.reporter_name, "contact": self.reporter_contact}
        return out


def from_row(row: Any, now: datetime) -> Incident:
    m = dict(row._mapping)
    m["overdue"] = wf.overdue_flags(
        m["status"], accept_due=m["accept_due"], complete_due=m["complete_due"], now=now
    )
    m["summoned"] = tuple(m.get("summoned") or ())
    m["summoned_now"] = tuple(m.get("summoned_now") or ())
    m["flags"] = own_flags(m["status"], m["created_at"], m["accept_due"], m["complete_due"], now)
    return Incident(**m)


def own_flags(
    status: str, created_at: datetime, accept_due: datetime, complete_due: datetime, now: datetime
) -> dict[str, str]:
    """Yellow/red flags of an incident's deadlines to accept (while reported) and to complete
    (while open) at ``now``."""
    from geogrid.dispatch import flag

    out: dict[str, str] = {}
    colour = flag(created_at, accept_due, now) if status == "reported" else None
    if colour:
        out["accept"] = colour
    colour = flag(created_at, complete_due, now) if status in wf.OPEN_STATUSES else None
    if colour:
        out["complete"] = colour
    return out


@dataclass(frozen=True)
class NewIncident:
    """What a report carries.  ``lon``/``lat`` are WGS-84 (convert GCJ-02/BD-09 first)."""

    category: str
    lon: float
    lat: float
    source: str
    description: str = ""
    address_text: str | None = None
    reporter_name: str | None = None
    reporter_contact: str | None = None
    reporter_key_name: str | None = None
    reporter_role: str = "anonymous"
    #: A hotline report's 12345 ticket number (工单号).
    hotline_ticket: str | None = None


@dataclass(frozen=True)
class NewPhoto:
    """A photo to store with a report (already checked for type and size by the caller)."""

    data: bytes
    content_type: str


@dataclass(frozen=True)
class Created:
    """Result of :func:`create`: the incident and whether this call created it (False: a retry)."""

    incident: Incident
    created: bool


class IdempotencyConflictError(ConflictError):
    """An ``Idempotency-Key`` was reused with a different request."""


def write_history(
    conn: Connection,
    incident_id: int,
    from_status: str | None,
    to_status: str,
    action: str,
    actor_name: str,
    actor_role: str,
    at: datetime,
    note: str | None,
    details: dict,
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO incident_history (incident_id, from_status, to_status, action, actor_name, actor_role, "
            "at, note, details) VALUES (:i, :f, :t, :a, :n, :r, :at, :note, CAST(:d AS jsonb))"
        ),
        {
            "i": incident_id,
            "f": from_status,
            "t": to_status,
            "a": action,
            "n": actor_name,
            "r": actor_role,
            "at": at,
            "note": note,
            "d": json.dumps(details, ensure_ascii=False, default=str),
        },
    )


# --- reading -------------------------------------------------------------------------------------------


def incident_id(public_id: str) -> int | None:
    """The id inside a public id (``E00000042`` → 42), ``None`` if it is not one as the column
    ``incidents.public_id`` writes it.

    Examples
    --------
    >>> incident_id("E00000042"), incident_id("E0000042"), incident_id("E4x"), incident_id("42")
    (42, None, None, None)
    """
    digits = public_id[1:]
    if public_id[:1] != "E" or not (digits.isascii() and digits.isdigit()):
        return None
    return int(digits) if f"E{int(digits):08d}" == public_id else None


def read_row(conn: Connection, public_id: str, now: datetime, *, lock: bool = False) -> Incident:
    # The report time from the id registry first: with it as a bound value the planner reads only
    # that month's partition instead of planning and probing every month (3-7 ms → 0.4 ms).
    ident = incident_id(public_id)
    at = None
    if ident is not None:
        at = conn.execute(
            sa.text("SELECT created_at FROM incident_ids WHERE id = :id"), {"id": ident}
        ).scalar()
    row = None
    if at is not None:
        row = conn.execute(
            sa.text(
                f"SELECT {COLUMNS} FROM incidents i WHERE i.public_id = :p AND i.created_at = :at"
                + (" FOR UPDATE OF i" if lock else "")
            ),
            {"p": public_id, "at": at},
        ).first()
    if row is None:
        raise NotFoundError(f"incident {public_id!r} does not exist")
    return from_row(row, now)


def get(engine: Engine, public_id: str, *, now: datetime | None = None) -> Incident:
    """One incident by its public id (``E00000001``); :class:`NotFoundError` if there is none."""
    with engine.connect() as conn:
        return read_row(conn, public_id, now or utcnow())


def get_many(
    engine: Engine | Connection, public_ids: Sequence[str], *, now: datetime | None = None
) -> list[Incident]:
    """The incidents with these public ids, in the order asked, in one query; unknown ids are left out."""
    when = now or utcnow()
    sql = sa.text(f"SELECT {COLUMNS} FROM incidents i WHERE i.public_id = ANY(:ids)")
    if isinstance(engine, Connection):
        rows = engine.execute(sql, {"ids": list(public_ids)}).all()
    else:
        with engine.connect() as conn:
            rows = conn.execute(sql, {"ids": list(public_ids)}).all()
    found = {inc.public_id: inc for inc in (from_row(r, when) for r in rows)}
    return [found[p] for p in dict.fromkeys(public_ids) if p in found]


def history(engine: Engine, public_id: str) -> list[HistoryEntry]:
    """The incident's history, oldest first."""
    # By the id inside the public id: the history references the id registry, no month is read.
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT h.from_status, h.to_status, h.action, h.actor_name, h.actor_role, h.at, h.note, h.details "
                "FROM incident_history h WHERE h.incident_id = :id ORDER BY h.id"
            ),
            {"id": incident_id(public_id)},
        ).all()
    return [HistoryEntry(*r) for r in rows]


def merged_ids(engine: Engine, public_id: str) -> list[str]:
    """Public ids of the incidents merged into ``public_id``."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT m.public_id FROM incidents m WHERE m.merged_into = :id ORDER BY m.id"),
                {"id": incident_id(public_id)},
            ).scalars()
        )


def photos(engine: Engine, public_id: str) -> list[Photo]:
    """The incident's photos (paths relative to the photo folder)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT ph.id, ph.path, ph.content_type, ph.size FROM incident_photos ph "
                "WHERE ph.incident_id = :id ORDER BY ph.id"
            ),
            {"id": incident_id(public_id)},
        ).all()
    return [Photo(*r) for r in rows]


UPDATABLE = frozenset(
    {
        "status",
        "level",
        "department",
        "assignee",
        "accepted_at",
        "resolved_at",
        "closed_at",
        "updated_at",
        "merged_into",
        "centre_code",
    }
)


def write_update(
    conn: Connection, incident_id: int, updates: dict[str, Any], *, created_at: datetime | None = None
) -> None:
    """Write ``updates`` (updatable columns only) to one incident; with its ``created_at`` the
    statement is planned for that month's partition only."""
    cols = [c for c in updates if c in UPDATABLE]
    sets = ", ".join(f'"{c}" = :u_{c}' for c in cols)
    month = " AND created_at = :at" if created_at is not None else ""
    conn.execute(
        sa.text(f"UPDATE incidents SET {sets} WHERE id = :id{month}"),
        {"id": incident_id, "at": created_at, **{f"u_{c}": updates[c] for c in cols}},
    )
