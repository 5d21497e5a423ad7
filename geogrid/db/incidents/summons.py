"""吹哨报到 in PostGIS: who was summoned to which incident, when each department checked in and
what it did — the facts evaluation reads (on time or late, never came)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import dispatch
from geogrid import incidents as wf
from geogrid.errors import GeogridError
from geogrid.organisation import Department


@dataclass(frozen=True)
class OpenSummons:
    """The open summons of an incident (locked while an action uses it)."""

    id: int
    entries: dict[str, dispatch.Summoned]

    @property
    def departments(self) -> frozenset[str]:
        return frozenset(self.entries)


def open_summons(conn: Connection, incident_id: int) -> OpenSummons | None:
    """The incident's open summons with its departments, its row locked (None if there is none)."""
    row = conn.execute(
        sa.text(
            "SELECT id, report_due, act_due FROM summons WHERE incident_id = :i AND status = 'open' FOR UPDATE"
        ),
        {"i": incident_id},
    ).first()
    if row is None:
        return None
    entries = conn.execute(
        sa.text(
            "SELECT department_code, checked_in_at, acted_at FROM summon_departments WHERE summon_id = :s "
            "ORDER BY department_code"
        ),
        {"s": row.id},
    ).all()
    return OpenSummons(
        row.id,
        {e[0]: dispatch.Summoned(e[0], row.report_due, row.act_due, e[1], e[2]) for e in entries},
    )


def create(
    conn: Connection,
    inc: Any,
    actor: wf.Actor,
    departments: Sequence[Department],
    report_due: datetime,
    act_due: datetime,
    note: str | None,
    now: datetime,
) -> int:
    """Store a summons of ``departments`` to ``inc``; returns its id."""
    sid = conn.execute(
        sa.text(
            "INSERT INTO summons (incident_id, centre_code, called_by, called_by_role, called_at, report_due, "
            "act_due, note) VALUES (:i, :c, :by, :role, :now, :rd, :ad, :note) RETURNING id"
        ),
        {
            "i": inc.id,
            "c": inc.centre_code,
            "by": actor.name,
            "role": actor.role,
            "now": now,
            "rd": report_due,
            "ad": act_due,
            "note": note,
        },
    ).scalar_one()
    conn.execute(
        sa.text("INSERT INTO summon_departments (summon_id, department_code) VALUES (:s, :d)"),
        [{"s": sid, "d": d.code} for d in departments],
    )
    return int(sid)


def _entry(summons: OpenSummons, department: str) -> dispatch.Summoned:
    entry = summons.entries.get(department)
    if entry is None:
        raise GeogridError(
            f"部门 {department} 未被吹哨 / department {department} is not summoned to this incident"
        )
    return entry


def check_in(
    conn: Connection, summons: OpenSummons, department: str, actor: wf.Actor, note: str | None, now: datetime
) -> dispatch.Summoned:
    """A summoned department reports in (409 if it already has)."""
    entry = dispatch.check_in(_entry(summons, department), now)
    conn.execute(
        sa.text(
            "UPDATE summon_departments SET checked_in_at = :now, checked_in_by = :by, check_in_note = :note "
            "WHERE summon_id = :s AND department_code = :d"
        ),
        {"now": now, "by": actor.name, "note": note, "s": summons.id, "d": department},
    )
    summons.entries[department] = entry
    return entry


def act(
    conn: Connection, summons: OpenSummons, department: str, actor: wf.Actor, note: str | None, now: datetime
) -> tuple[dispatch.Summoned, bool]:
    """A summoned department records what it did (409 before checking in, or twice); also
    whether every summoned department now has."""
    entry = dispatch.act(_entry(summons, department), now)
    conn.execute(
        sa.text(
            "UPDATE summon_departments SET acted_at = :now, acted_by = :by, act_note = :note "
            "WHERE summon_id = :s AND department_code = :d"
        ),
        {"now": now, "by": actor.name, "note": note, "s": summons.id, "d": department},
    )
    summons.entries[department] = entry
    return entry, dispatch.all_acted(summons.entries.values())


def close(
    conn: Connection,
    summons_id: int,
    status: str,
    actor: wf.Actor,
    note: str | None,
    outcome: str,
    now: datetime,
) -> list[str]:
    """End a summons (``completed`` when all acted, ``closed`` by the centre); returns the
    departments that never checked in."""
    conn.execute(
        sa.text(
            "UPDATE summons SET status = :st, closed_at = :now, closed_by = :by, close_note = :note, outcome = :o "
            "WHERE id = :s"
        ),
        {"st": status, "now": now, "by": actor.name, "note": note, "o": outcome, "s": summons_id},
    )
    return list(
        conn.execute(
            sa.text(
                "SELECT department_code FROM summon_departments WHERE summon_id = :s AND checked_in_at IS NULL "
                "ORDER BY department_code"
            ),
            {"s": summons_id},
        ).scalars()
    )


# --- reading ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummonedDepartment:
    """One department of a summons as stored: when it checked in and acted, and whether on time."""

    department: str
    checked_in_at: datetime | None
    checked_in_by: str | None
    check_in_note: str | None
    acted_at: datetime | None
    acted_by: str | None
    act_note: str | None
    checked_in_on_time: bool | None
    acted_on_time: bool | None


@dataclass(frozen=True)
class Summons:
    """A summons (吹哨) of an incident: who called it, its deadlines, its departments."""

    id: int
    centre_code: str | None
    called_by: str
    called_at: datetime
    report_due: datetime
    act_due: datetime
    note: str | None
    status: str
    closed_at: datetime | None
    closed_by: str | None
    outcome: str | None
    departments: list[SummonedDepartment]


def summons_of(engine: Engine | Connection, public_id: str) -> list[Summons]:
    """Every summons of an incident, oldest first, with its departments."""
    from contextlib import nullcontext

    with nullcontext(engine) if isinstance(engine, Connection) else engine.connect() as conn:
        heads = conn.execute(
            sa.text(
                "SELECT s.id, s.centre_code, s.called_by, s.called_at, s.report_due, s.act_due, s.note, s.status, "
                "s.closed_at, s.closed_by, s.outcome FROM summons s JOIN incidents i ON i.id = s.incident_id "
                "WHERE i.public_id = :p ORDER BY s.id"
            ),
            {"p": public_id},
        ).all()
        rows = conn.execute(
            sa.text(
                "SELECT sd.summon_id, sd.department_code, sd.checked_in_at, sd.checked_in_by, sd.check_in_note, "
                "sd.acted_at, sd.acted_by, sd.act_note FROM summon_departments sd "
                "WHERE sd.summon_id = ANY(:ids) ORDER BY sd.summon_id, sd.department_code"
            ),
            {"ids": [h.id for h in heads]},
        ).all()
    out = []
    for h in heads:
        depts = [
            SummonedDepartment(
                department=r.department_code,
                checked_in_at=r.checked_in_at,
                checked_in_by=r.checked_in_by,
                check_in_note=r.check_in_note,
                acted_at=r.acted_at,
                acted_by=r.acted_by,
                act_note=r.act_note,
                checked_in_on_time=None if r.checked_in_at is None else r.checked_in_at <= h.report_due,
                acted_on_time=None if r.acted_at is None else r.acted_at <= h.act_due,
            )
            for r in rows
            if r.summon_id == h.id
        ]
        out.append(Summons(**h._mapping, departments=depts))
    return out
