"""Acting on incidents: one transition (or merge) per transaction, under a row lock."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid import incidents as wf
from geogrid.db.incidents.records import Incident, read_row, utcnow, write_history, write_update
from geogrid.errors import ConflictError, GeogridError, NotFoundError

# --- changing --------------------------------------------------------------------------------------------


def transition(
    engine: Engine,
    public_id: str,
    action: str,
    *,
    actor: wf.Actor,
    catalogue: wf.Catalogue,
    note: str | None = None,
    department: str | None = None,
    level: str | None = None,
    assignee: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Perform ``action`` on an incident as ``actor`` and record it in the history.

    Raises
    ------
    NotFoundError
        No such incident.
    geogrid.incidents.ActionForbiddenError
        The actor's role/scope does not allow it (checked under the lock, on current data).
    ConflictError
        The action is not legal from the incident's current status.
    """
    if action == "merge":
        raise GeogridError(
            "merge with geogrid.db.incidents.merge (POST /incidents/{id}/merge), naming the target"
        )
    if action not in wf.TRANSITIONS:
        raise GeogridError(
            f"unknown action {action!r}; actions are {[a for a in wf.ACTIONS if a != 'merge']}"
        )
    now = now or utcnow()
    with engine.begin() as conn:
        inc = read_row(conn, public_id, now, lock=True)
        wf.authorize(
            actor, action, grid_code=inc.grid_code, department=inc.department, village_code=inc.village_code
        )
        cat = catalogue.categories.get(inc.category_minor)
        state = wf.IncidentState(
            inc.status, inc.level, inc.department, inc.assignee, cat.department if cat else None
        )
        change = wf.apply_action(
            state,
            action,
            now=now,
            department=department,
            level=level,
            assignee=assignee or (actor.name if action == "start" else None),
        )
        write_update(conn, inc.id, change.updates)
        write_history(
            conn,
            inc.id,
            change.from_status,
            change.to_status,
            action,
            actor.name,
            actor.role,
            now,
            note,
            change.details,
        )
        return read_row(conn, public_id, now)


def _check_visible(actor: wf.Actor, inc: Incident) -> None:
    if not wf.in_scope(
        actor,
        grid_code=inc.grid_code,
        department=inc.department,
        reporter_key_name=inc.reporter_key_name,
        village_code=inc.village_code,
    ):
        raise wf.ActionForbiddenError(f"{inc.public_id} is outside what {actor.role} {actor.name!r} may see")


def merge(
    engine: Engine,
    public_id: str,
    *,
    into: str,
    actor: wf.Actor,
    note: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Merge incident ``public_id`` (a duplicate) into ``into``; returns the target.

    The duplicate becomes ``merged`` with ``merged_into`` set; both keep their histories, and
    the target's history records what it absorbed.
    """
    now = now or utcnow()
    if public_id == into:
        raise ConflictError("an incident cannot be merged into itself")
    with engine.begin() as conn:
        # Lock both rows in id order so two merges of the same pair cannot deadlock.
        ids = (
            conn.execute(
                sa.text("SELECT public_id FROM incidents WHERE public_id IN (:a, :b) ORDER BY id FOR UPDATE"),
                {"a": public_id, "b": into},
            )
            .scalars()
            .all()
        )
        for p in (public_id, into):
            if p not in ids:
                raise NotFoundError(f"incident {p!r} does not exist")
        dup = read_row(conn, public_id, now)
        target = read_row(conn, into, now)
        wf.authorize(
            actor, "merge", grid_code=dup.grid_code, department=dup.department, village_code=dup.village_code
        )
        _check_visible(actor, target)  # no merging into an incident one may not see
        to_status = wf.next_status(dup.status, "merge")
        if target.status in ("merged", "rejected"):
            raise ConflictError(f"cannot merge into {into}: it is {target.status}")
        write_update(conn, dup.id, {"status": to_status, "merged_into": target.id, "updated_at": now})
        write_history(
            conn,
            dup.id,
            dup.status,
            to_status,
            "merge",
            actor.name,
            actor.role,
            now,
            note,
            {"merged_into": target.public_id},
        )
        write_history(
            conn,
            target.id,
            target.status,
            target.status,
            "absorb",
            actor.name,
            actor.role,
            now,
            note,
            {"merged": dup.public_id},
        )
        conn.execute(
            sa.text("UPDATE incidents SET updated_at = :now WHERE id = :id"), {"now": now, "id": target.id}
        )
        return read_row(conn, into, now)
