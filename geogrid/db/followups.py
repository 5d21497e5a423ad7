"""Follow-ups (回访) in PostGIS: recorded under the incident's row lock, one per closing; an
unsatisfied verdict within the window reopens the case (rules in :mod:`geogrid.followup`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import followup as fu
from geogrid import incidents as wf
from geogrid.db.incidents.records import Incident, read_row, utcnow, write_history, write_update
from geogrid.errors import ActionForbiddenError, ConflictError
from geogrid.evaluation import VERDICT_NAMES
from geogrid.times import DEFAULT_TIMEZONE, local_iso


@dataclass(frozen=True)
class FollowUp:
    """One stored follow-up of an incident."""

    id: int
    channel: str
    reached: bool
    verdict: str | None
    note: str | None
    by_name: str
    at: datetime
    round_closed_at: datetime
    reopened: bool

    def as_json(self, tz: str = DEFAULT_TIMEZONE) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "channel_name": fu.CHANNEL_NAMES[self.channel],
            "reached": self.reached,
            "verdict": self.verdict,
            "verdict_name": VERDICT_NAMES.get(self.verdict or "", "未接通"),
            "note": self.note,
            "by": self.by_name,
            "at": local_iso(self.at, tz),
            "closed_at": local_iso(self.round_closed_at, tz),
            "reopened": self.reopened,
        }


@dataclass(frozen=True)
class Recorded:
    """A recorded follow-up, the incident after it, and why it did or did not reopen."""

    followup: FollowUp
    incident: Incident
    reason: str


@dataclass(frozen=True)
class FollowUpRequest:
    """What a follow-up says: the verdict (None: the reporter was not reached), a note, the
    channel, whether an unsatisfied verdict should reopen the case."""

    verdict: str | None
    note: str | None = None
    channel: str = "hotline"
    reopen: bool = True


def record(
    engine: Engine,
    public_id: str,
    request: FollowUpRequest,
    *,
    actor: wf.Actor,
    catalogue: wf.Catalogue,
    within_days: float = fu.REOPEN_WITHIN_DAYS,
    now: datetime | None = None,
) -> Recorded:
    """Record a follow-up of a closed incident as ``actor``; reopen it when the verdict is
    不满意 within ``within_days`` of closing (and ``request.reopen``).

    Raises
    ------
    ConflictError
        The incident is not closed, or this closing was already followed up.
    ActionForbiddenError
        The actor may not follow it up (see :func:`geogrid.followup.check_channel`) or not see it.
    """
    now = now or utcnow()
    verdict = fu.parse_verdict(request.verdict)
    with engine.begin() as conn:
        inc = read_row(conn, public_id, now, lock=True)
        fu.check_channel(actor, request.channel, reporter_key_name=inc.reporter_key_name)
        if request.channel != "reporter" and not inc.visible_to(actor):
            raise ActionForbiddenError(f"{public_id} is outside what {actor.role} {actor.name!r} may see")
        if inc.status != "closed" or inc.closed_at is None:
            raise ConflictError(
                f"只能回访已结案的事件 / only closed incidents are followed up; {public_id} is {inc.status}"
            )
        decision = fu.reopen_decision(
            verdict, closed_at=inc.closed_at, now=now, within_days=within_days, wanted=request.reopen
        )
        fid = _insert(conn, inc, request, verdict, actor, now, decision.reopen)
        details = {"followup": fid, "verdict": verdict, "channel": request.channel, "reason": decision.reason}
        write_history(
            conn, inc.id, "closed", "closed", "follow_up", actor.name, actor.role, now, request.note, details
        )
        if decision.reopen:
            _reopen(conn, inc, catalogue, actor, now, fid)
        conn.execute(
            sa.text(
                "UPDATE hotline_tickets SET callback_status = :s, updated_at = :now WHERE incident_id = :i"
            ),
            {"s": fu.callback_status(verdict is not None, decision.reopen), "now": now, "i": inc.id},
        )
        stored = _followups(conn, inc.id)[-1]
        return Recorded(stored, read_row(conn, public_id, now), decision.reason)


def _insert(
    conn: Connection,
    inc: Incident,
    request: FollowUpRequest,
    verdict: str | None,
    actor: wf.Actor,
    now: datetime,
    reopened: bool,
) -> int:
    row = conn.execute(
        sa.text(
            "INSERT INTO incident_followups (incident_id, round_closed_at, channel, reached, verdict, note, by_name, "
            "by_role, at, reopened) VALUES (:i, :closed, :ch, :reached, :v, :note, :by, :role, :now, :reopened) "
            "ON CONFLICT ON CONSTRAINT ux_followups_round DO NOTHING RETURNING id"
        ),
        {
            "i": inc.id,
            "closed": inc.closed_at,
            "ch": request.channel,
            "reached": verdict is not None,
            "v": verdict,
            "note": request.note,
            "by": actor.name,
            "role": actor.role,
            "now": now,
            "reopened": reopened,
        },
    ).scalar()
    if row is None:
        raise ConflictError(f"该次结案已回访 / {inc.public_id} was already followed up since it was closed")
    return int(row)


def _reopen(
    conn: Connection, inc: Incident, catalogue: wf.Catalogue, actor: wf.Actor, now: datetime, fid: int
) -> None:
    """结案 → 处置中 (返工), with a fresh completion deadline of the category's time limit."""
    hours = catalogue.get(inc.category_minor).complete_hours
    due = now + timedelta(hours=hours)
    write_update(
        conn, inc.id, {"status": "in_progress", "resolved_at": None, "closed_at": None, "updated_at": now}
    )
    conn.execute(sa.text("UPDATE incidents SET complete_due = :d WHERE id = :i"), {"d": due, "i": inc.id})
    details = {"followup": fid, "reason": "unsatisfied", "complete_due": due.isoformat()}
    write_history(
        conn,
        inc.id,
        "closed",
        "in_progress",
        "reopen",
        actor.name,
        actor.role,
        now,
        "回访不满意，重新处置",
        details,
    )


def _followups(conn: Connection, incident_id: int) -> list[FollowUp]:
    rows = conn.execute(
        sa.text(
            "SELECT id, channel, reached, verdict, note, by_name, at, round_closed_at, reopened "
            "FROM incident_followups WHERE incident_id = :i ORDER BY at, id"
        ),
        {"i": incident_id},
    ).all()
    return [FollowUp(**r._mapping) for r in rows]


def followups_of(engine: Engine, incident_id: int) -> list[FollowUp]:
    """An incident's follow-ups, oldest first."""
    with engine.connect() as conn:
        return _followups(conn, incident_id)
