"""督办 and deadline flags of an incident, as stored: who pushed when, which flags were raised."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine


@dataclass(frozen=True)
class Supervision:
    """A 督办: by whom (and which centre), the note, the deadline it set, on whom."""

    id: int
    centre_code: str | None
    by_name: str
    by_role: str
    note: str
    due: datetime | None
    target_kind: str | None
    target_code: str | None
    created_at: datetime


@dataclass(frozen=True)
class RaisedFlag:
    """A yellow or red flag recorded when a deadline reached it."""

    deadline: str
    subject: str
    colour: str
    due: datetime
    raised_at: datetime


def _conn(engine: Engine | Connection):
    return nullcontext(engine) if isinstance(engine, Connection) else engine.connect()


def supervisions_of(engine: Engine | Connection, public_id: str) -> list[Supervision]:
    """Every 督办 of an incident, oldest first."""
    with _conn(engine) as conn:
        rows = conn.execute(
            sa.text(
                "SELECT v.id, v.centre_code, v.by_name, v.by_role, v.note, v.due, v.target_kind, v.target_code, "
                "v.created_at FROM supervisions v JOIN incidents i ON i.id = v.incident_id "
                "WHERE i.public_id = :p ORDER BY v.id"
            ),
            {"p": public_id},
        ).all()
    return [Supervision(*r) for r in rows]


def flags_of(engine: Engine | Connection, public_id: str) -> list[RaisedFlag]:
    """The flags raised on an incident's deadlines, in the order they were raised."""
    with _conn(engine) as conn:
        rows = conn.execute(
            sa.text(
                "SELECT f.deadline, f.subject, f.colour, f.due, f.raised_at FROM deadline_flags f "
                "JOIN incidents i ON i.id = f.incident_id WHERE i.public_id = :p ORDER BY f.id"
            ),
            {"p": public_id},
        ).all()
    return [RaisedFlag(*r) for r in rows]
