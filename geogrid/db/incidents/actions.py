"""Acting on incidents: one action per transaction, under a row lock, with its history row,
its side records (吹哨, 督办) and its notifications written together or not at all.

The rules come from the pure modules: :mod:`geogrid.incidents` (who may take which action
from which status), :mod:`geogrid.organisation` (which centre's queue an escalation joins)
and :mod:`geogrid.dispatch` (报到 before 处置, when a summons is done).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import incidents as wf
from geogrid.db.incidents import summons as summons_db
from geogrid.db.incidents.records import Incident, read_row, utcnow, write_history, write_update
from geogrid.db.notify import enqueue
from geogrid.db.organisation import centre_codes, find_department
from geogrid.dispatch import handler_of
from geogrid.errors import ConflictError, GeogridError, NotFoundError
from geogrid.organisation import Department, centres_above, escalation_target

#: Kept here for callers of the database layer; it is pure data, defined in the workflow.
ActionRequest = wf.ActionRequest


@dataclass
class _Act:
    """One action being taken: the locked incident and everything the handlers need."""

    conn: Connection
    inc: Incident
    actor: wf.Actor
    catalogue: wf.Catalogue
    request: wf.ActionRequest
    now: datetime
    summons: summons_db.OpenSummons | None = None
    details: dict = field(default_factory=dict)

    def state(self) -> wf.IncidentState:
        cat = self.catalogue.categories.get(self.inc.category_minor)
        return wf.IncidentState(
            self.inc.status,
            self.inc.level,
            self.inc.department,
            self.inc.assignee,
            cat.department if cat else None,
            self.inc.centre_code,
        )

    def record(self, action: str, change: wf.Change, *, actor: wf.Actor | None = None) -> None:
        """The new column values and the history row of ``change``."""
        who = actor or self.actor
        write_update(self.conn, self.inc.id, change.updates, created_at=self.inc.created_at)
        details = {**change.details, **self.details}
        write_history(
            self.conn,
            self.inc.id,
            change.from_status,
            change.to_status,
            action,
            who.name,
            who.role,
            self.now,
            self.request.note,
            details,
        )

    def notify(self, key: str, kind: str, to: tuple[str, str | None], **facts) -> None:
        enqueue(
            self.conn,
            event_key=key,
            kind=kind,
            incident=self.inc,
            catalogue=self.catalogue,
            to=to,
            now=self.now,
            **facts,
        )


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
    request: wf.ActionRequest | None = None,
    separation: bool = True,
    now: datetime | None = None,
) -> Incident:
    """Take ``action`` on an incident as ``actor``; record it in the history.

    ``request`` carries what summons, 督办 and closing a summons need (``note``,
    ``department``, ``level`` and ``assignee`` may be given directly for the other actions).
    ``separation`` is 报办分离: the reporter may not verify or close their own report.

    Raises
    ------
    NotFoundError
        No such incident.
    geogrid.errors.ActionForbiddenError
        The actor's role/scope does not allow it (checked under the lock, on current data).
    ConflictError
        The action is not legal from the incident's current status, or out of order (a
        department acting before it checked in, checking in twice...).
    GeogridError
        An unknown department, one that does not serve the incident's place, bad deadlines.
    """
    if action == "merge":
        raise GeogridError(
            "merge with geogrid.db.incidents.merge (POST /incidents/{id}/merge), naming the target"
        )
    if action not in wf.TRANSITIONS:
        raise GeogridError(
            f"unknown action {action!r}; actions are {[a for a in wf.ACTIONS if a != 'merge']}"
        )
    request = request or wf.ActionRequest(note=note, department=department, level=level, assignee=assignee)
    now = now or utcnow()
    with engine.begin() as conn:
        inc = read_row(conn, public_id, now, lock=True)
        open_summons = summons_db.open_summons(conn, inc.id) if inc.status == "summoned" else None
        wf.authorize(
            actor,
            action,
            **inc.facts(),
            summoned_now=open_summons.departments if open_summons else (),
            separation=separation,
        )
        wf.next_status(inc.status, action)  # 409 before any side record is looked at
        act = _Act(conn, inc, actor, catalogue, request, now, open_summons)
        _HANDLERS.get(action, _plain)(act, action)
        return read_row(conn, public_id, now)


def _plain(act: _Act, action: str) -> None:
    assignee = act.request.assignee or (act.actor.name if action == "start" else None)
    act.record(action, wf.apply_action(act.state(), action, now=act.now, assignee=assignee))


def _department(act: _Act, text: str | None) -> Department:
    """The department ``text`` names (code or name), which must serve the incident's place."""
    if not text:
        raise GeogridError("需指定部门 / a department is needed (code or Chinese name)")
    dept = find_department(act.conn, text)
    places = (act.inc.grid_code, act.inc.village_code, act.inc.township_code)
    if not dept.serves_place(*places):
        where = act.inc.grid_code or act.inc.village_code or act.inc.township_code
        raise GeogridError(
            f"部门 {dept.name}（{dept.code}）不服务事件所在地 {where} / department {dept.code} does not serve {where}"
        )
    return dept


def _dispatch(act: _Act, action: str) -> None:
    """派遣 / 改派: to one known department that serves the place (dispatch defaults to the
    category's department)."""
    text = act.request.department or (act.state().category_department if action == "dispatch" else None)
    dept = _department(act, text)
    change = wf.apply_action(
        act.state(), action, now=act.now, department=dept.code, assignee=act.request.assignee
    )
    act.details["department_name"] = dept.name
    act.record(action, change)
    count = _count_history(act.conn, act.inc.id, action)
    act.notify(
        f"{action}:{act.inc.public_id}:{count}",
        "dispatch",
        ("department", dept.code),
        due=act.inc.complete_due,
    )


def _count_history(conn: Connection, incident_id: int, action: str) -> int:
    """How many ``action`` rows the incident's history holds (event keys of repeatable actions)."""
    return int(
        conn.execute(
            sa.text("SELECT count(*) FROM incident_history WHERE incident_id = :i AND action = :a"),
            {"i": incident_id, "a": action},
        ).scalar_one()
    )


def _escalate(act: _Act, action: str) -> None:
    """上报: to the next centre up (or the one of the level asked), where one is set up."""
    inc = act.inc
    centres = centre_codes(act.conn, centres_above(inc.village_code, inc.township_code))
    level, centre = act.request.level, None
    if centres:
        level, centre = escalation_target(
            centres,
            current=inc.centre_code,
            village_code=inc.village_code,
            township_code=inc.township_code,
            level=act.request.level,
        )
    act.record(action, wf.apply_action(act.state(), action, now=act.now, level=level, centre=centre))
    if centre is not None:
        count = _count_history(act.conn, act.inc.id, action)
        act.notify(f"escalate:{act.inc.public_id}:{count}", "escalate", ("centre", centre))


def _summon(act: _Act, action: str) -> None:
    """吹哨: summon departments with deadlines to report in and to act; notify each."""
    from geogrid.dispatch import summons_deadlines

    r = act.request
    depts = list({d.code: d for d in (_department(act, text) for text in r.departments)}.values())
    report_due, act_due = summons_deadlines(
        act.now,
        report_within_h=r.report_within_h,
        act_within_h=r.act_within_h,
        report_due=r.report_due,
        act_due=r.act_due,
    )
    change = wf.apply_action(act.state(), action, now=act.now, departments=[d.code for d in depts])
    sid = summons_db.create(act.conn, act.inc, act.actor, depts, report_due, act_due, r.note, act.now)
    act.details.update(summons=sid, report_due=report_due.isoformat(), act_due=act_due.isoformat())
    act.record(action, change)
    for d in depts:
        act.notify(
            f"summon:{sid}:{d.code}",
            "summon",
            ("department", d.code),
            due=report_due,
            act_due=act_due,
            centre_name=_centre_name(act),
        )


def _centre_name(act: _Act) -> str | None:
    from geogrid.db.organisation import names_of

    return names_of(act.conn, [act.inc.centre_code]).get(act.inc.centre_code or "")


def _summoned_department(act: _Act) -> str:
    """The department checking in or acting: the actor's, or (an admin) the one named."""
    dept = act.actor.department or act.request.department
    if not dept:
        raise GeogridError("报到/反馈需指定部门 / give the department that checks in or acts")
    return dept if act.actor.department else find_department(act.conn, dept).code


def _check_in(act: _Act, action: str) -> None:
    """报到: one summoned department reports in (on time or late, kept)."""
    assert act.summons is not None  # the incident is summoned: authorize() saw its summons
    entry = summons_db.check_in(
        act.conn, act.summons, _summoned_department(act), act.actor, act.request.note, act.now
    )
    act.details.update(summons=act.summons.id, department=entry.department, on_time=entry.checked_in_on_time)
    act.record(action, wf.apply_action(act.state(), action, now=act.now))


def _act(act: _Act, action: str) -> None:
    """处置反馈: a department records what it did; the last one completes the summons."""
    assert act.summons is not None
    if not (act.request.note or "").strip():
        raise GeogridError("处置反馈须说明做了什么 / act needs a note saying what the department did")
    entry, done = summons_db.act(
        act.conn, act.summons, _summoned_department(act), act.actor, act.request.note, act.now
    )
    act.details.update(summons=act.summons.id, department=entry.department, on_time=entry.acted_on_time)
    act.record(action, wf.apply_action(act.state(), action, now=act.now))
    if done:
        summons_db.close(act.conn, act.summons.id, "completed", act.actor, None, "resolved", act.now)
        act.inc = read_row(act.conn, act.inc.public_id, act.now)
        act.details = {"summons": act.summons.id, "outcome": "resolved"}
        change = wf.apply_action(act.state(), "close_summons", now=act.now, outcome="resolved")
        act.record("summon_complete", change)


def _close_summons(act: _Act, action: str) -> None:
    """结束吹哨: the centre closes the summons (resolved or returned); who never came is kept."""
    assert act.summons is not None
    outcome = act.request.outcome or "resolved"
    change = wf.apply_action(act.state(), action, now=act.now, outcome=outcome)
    absent = summons_db.close(
        act.conn, act.summons.id, "closed", act.actor, act.request.note, outcome, act.now
    )
    act.details.update(summons=act.summons.id, not_checked_in=absent)
    act.record(action, change)


def _supervise(act: _Act, action: str) -> None:
    """督办: a recorded push (note, deadline) on the one who has the incident now."""
    r = act.request
    if not (r.note or "").strip():
        raise GeogridError("督办须写明督办意见 / supervise needs a note")
    due = r.due or (act.now + timedelta(hours=r.within_h) if r.within_h else None)
    if due is not None and due <= act.now:
        raise GeogridError("督办时限须晚于现在 / the supervision deadline must be after now")
    target = handler_of(act.inc)
    row = act.conn.execute(
        sa.text(
            "INSERT INTO supervisions (incident_id, centre_code, by_name, by_role, note, due, target_kind, "
            "target_code, created_at) VALUES (:i, :c, :n, :r, :note, :due, :tk, :tc, :now) RETURNING id"
        ),
        {
            "i": act.inc.id,
            "c": act.actor.centre,
            "n": act.actor.name,
            "r": act.actor.role,
            "note": r.note,
            "due": due,
            "tk": target[0],
            "tc": target[1],
            "now": act.now,
        },
    ).scalar_one()
    act.details.update(supervision=row, due=due.isoformat() if due else None, target=list(target))
    act.record(action, wf.apply_action(act.state(), action, now=act.now))
    act.notify(f"supervise:{row}", "supervise", target, due=due, note=r.note)


_HANDLERS: dict[str, Callable[[_Act, str], None]] = {
    "dispatch": _dispatch,
    "redispatch": _dispatch,
    "escalate": _escalate,
    "summon": _summon,
    "check_in": _check_in,
    "act": _act,
    "close_summons": _close_summons,
    "supervise": _supervise,
}


# --- merging ------------------------------------------------------------------------------------------


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
        wf.authorize(actor, "merge", **dup.facts())
        if not target.visible_to(actor):  # no merging into an incident one may not see
            raise wf.ActionForbiddenError(f"{into} is outside what {actor.role} {actor.name!r} may see")
        to_status = wf.next_status(dup.status, "merge")
        if target.status in ("merged", "rejected"):
            raise ConflictError(f"cannot merge into {into}: it is {target.status}")
        write_update(
            conn,
            dup.id,
            {"status": to_status, "merged_into": target.id, "updated_at": now},
            created_at=dup.created_at,
        )
        for inc, frm, to, action, details in (
            (dup, dup.status, to_status, "merge", {"merged_into": target.public_id}),
            (target, target.status, target.status, "absorb", {"merged": dup.public_id}),
        ):
            write_history(conn, inc.id, frm, to, action, actor.name, actor.role, now, note, details)
        conn.execute(
            sa.text("UPDATE incidents SET updated_at = :now WHERE id = :id AND created_at = :at"),
            {"now": now, "id": target.id, "at": target.created_at},
        )
        return read_row(conn, into, now)
