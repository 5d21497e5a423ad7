"""Replaying incidents through the workflow in memory, with the real rules, for bulk loads.

:func:`geogrid.db.incidents.transition` takes one action per transaction (~10 ms with its
history, side records and notifications).  To give thousands of synthetic or back-filled
incidents a history — accepted, dispatched, summoned, escalated, closed, some late — the
same steps are replayed here in memory, each one checked with :func:`geogrid.incidents.authorize`
and applied with :func:`geogrid.incidents.apply_action`, :func:`geogrid.organisation.escalation_target`
and the 吹哨报到 rules of :mod:`geogrid.dispatch`, and :mod:`geogrid.db.replay` writes the
outcome in bulk.  A step the workflow would refuse raises here just as it would there; the
test suite replays the same steps both ways and compares what is stored.

Notifications are not replayed: reminders about the past would only fill the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from geogrid import dispatch
from geogrid import incidents as wf
from geogrid.errors import GeogridError
from geogrid.organisation import Department, centres_above, escalation_target


@dataclass(frozen=True)
class Step:
    """One action of a script: what, by whom, when, with what."""

    action: str
    actor: wf.Actor
    at: datetime
    request: wf.ActionRequest = field(default_factory=wf.ActionRequest)


@dataclass(frozen=True)
class Organisation:
    """What the rules need to know of the organisation: centres and departments by code."""

    centres: frozenset[str]
    departments: Mapping[str, Department]


@dataclass
class Case:
    """An incident being replayed: its columns, and the rows the replay adds."""

    id: int
    public_id: str
    category: str
    grid_code: str | None
    village_code: str | None
    township_code: str | None
    created_at: datetime
    columns: dict[str, Any]
    reporter_key_name: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    summons: list[dict[str, Any]] = field(default_factory=list)
    supervisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.columns["status"])

    @property
    def department(self) -> str | None:
        return self.columns.get("department")

    @property
    def centre_code(self) -> str | None:
        return self.columns.get("centre_code")

    def facts(self) -> dict[str, Any]:
        return {
            "grid_code": self.grid_code,
            "department": self.department,
            "village_code": self.village_code,
            "centre_code": self.centre_code,
            "reporter_key_name": self.reporter_key_name,
        }

    def open_summons(self) -> dict[str, Any] | None:
        return next((s for s in self.summons if s["status"] == "open"), None)

    def state(self, catalogue: wf.Catalogue) -> wf.IncidentState:
        cat = catalogue.categories.get(self.category)
        return wf.IncidentState(
            self.status,
            self.columns.get("level", "grid"),
            self.department,
            self.columns.get("assignee"),
            cat.department if cat else None,
            self.centre_code,
        )


@dataclass
class _Step:
    """One step being applied to one case."""

    case: Case
    step: Step
    org: Organisation
    catalogue: wf.Catalogue
    ids: Callable[[str], int]
    details: dict[str, Any] = field(default_factory=dict)

    def record(self, action: str, change: wf.Change, *, note: str | None = None) -> None:
        self.case.columns.update(change.updates)
        self.case.history.append(
            {
                "incident_id": self.case.id,
                "from_status": change.from_status,
                "to_status": change.to_status,
                "action": action,
                "actor_name": self.step.actor.name,
                "actor_role": self.step.actor.role,
                "at": self.step.at,
                "note": note if note is not None else self.step.request.note,
                "details": {**change.details, **self.details},
            }
        )

    def apply(self, action: str, **options: Any) -> wf.Change:
        return wf.apply_action(self.case.state(self.catalogue), action, now=self.step.at, **options)


def replay(
    cases: Iterable[Case],
    scripts: Mapping[int, list[Step]],
    org: Organisation,
    catalogue: wf.Catalogue,
    *,
    ids: Callable[[str], int],
    separation: bool = True,
) -> None:
    """Apply each case's script (by case id) to it, in order, as the workflow would.

    ``ids("summons")`` and ``ids("supervisions")`` give the ids the new rows will have.

    Raises
    ------
    geogrid.errors.ActionForbiddenError, ConflictError, GeogridError
        A step the workflow refuses (naming the incident and the step).
    """
    for case in cases:
        for step in scripts.get(case.id, ()):
            try:
                apply_step(case, step, org, catalogue, ids=ids, separation=separation)
            except GeogridError as exc:
                raise type(exc)(
                    f"{case.public_id} {step.action} by {step.actor.name} at {step.at}: {exc}"
                ) from exc


def apply_step(
    case: Case,
    step: Step,
    org: Organisation,
    catalogue: wf.Catalogue,
    *,
    ids: Callable[[str], int],
    separation: bool = True,
) -> None:
    """One step: checked as :func:`geogrid.db.incidents.transition` checks it, then applied."""
    summons = case.open_summons()
    wf.authorize(
        step.actor,
        step.action,
        **case.facts(),
        summoned_now=summons["entries"].keys() if summons else (),
        separation=separation,
    )
    wf.next_status(case.status, step.action)
    _HANDLERS.get(step.action, _plain)(_Step(case, step, org, catalogue, ids))


def _plain(s: _Step) -> None:
    assignee = s.step.request.assignee or (s.step.actor.name if s.step.action == "start" else None)
    s.record(s.step.action, s.apply(s.step.action, assignee=assignee))


def _department(s: _Step, code: str | None) -> Department:
    dept = s.org.departments.get(code or "")
    if dept is None:
        raise GeogridError(f"unknown department {code!r}")
    if not dept.serves_place(s.case.grid_code, s.case.village_code, s.case.township_code):
        raise GeogridError(f"department {dept.code} does not serve {s.case.grid_code or s.case.village_code}")
    return dept


def _dispatch(s: _Step) -> None:
    action = s.step.action
    code = s.step.request.department
    dept = _department(s, code)
    s.details["department_name"] = dept.name
    s.record(action, s.apply(action, department=dept.code, assignee=s.step.request.assignee))


def _escalate(s: _Step) -> None:
    case = s.case
    chain = frozenset(centres_above(case.village_code, case.township_code)) & s.org.centres
    level, centre = s.step.request.level, None
    if chain:
        level, centre = escalation_target(
            chain,
            current=case.centre_code,
            village_code=case.village_code,
            township_code=case.township_code,
            level=s.step.request.level,
        )
    s.record("escalate", s.apply("escalate", level=level, centre=centre))


def _summon(s: _Step) -> None:
    r, at = s.step.request, s.step.at
    depts = list({d.code: d for d in (_department(s, c) for c in r.departments)}.values())
    report_due, act_due = dispatch.summons_deadlines(
        at,
        report_within_h=r.report_within_h,
        act_within_h=r.act_within_h,
        report_due=r.report_due,
        act_due=r.act_due,
    )
    change = s.apply("summon", departments=[d.code for d in depts])
    sid = s.ids("summons")
    s.case.summons.append(
        {
            "id": sid,
            "incident_id": s.case.id,
            "centre_code": s.case.centre_code,
            "called_by": s.step.actor.name,
            "called_by_role": s.step.actor.role,
            "called_at": at,
            "report_due": report_due,
            "act_due": act_due,
            "note": r.note,
            "status": "open",
            "entries": {d.code: dispatch.Summoned(d.code, report_due, act_due) for d in depts},
            "by": {},
        }
    )
    s.details.update(summons=sid, report_due=report_due.isoformat(), act_due=act_due.isoformat())
    s.record("summon", change)


def _summoned_department(s: _Step) -> str:
    dept = s.step.actor.department or s.step.request.department
    if not dept:
        raise GeogridError("give the department that checks in or acts")
    return dept


def _check_in(s: _Step) -> None:
    summons = s.case.open_summons()
    assert summons is not None
    code = _summoned_department(s)
    entry = dispatch.check_in(summons["entries"][code], s.step.at)
    summons["entries"][code] = entry
    summons["by"][(code, "check_in")] = (s.step.actor.name, s.step.request.note)
    s.details.update(summons=summons["id"], department=code, on_time=entry.checked_in_on_time)
    s.record("check_in", s.apply("check_in"))


def _act(s: _Step) -> None:
    summons = s.case.open_summons()
    assert summons is not None
    if not (s.step.request.note or "").strip():
        raise GeogridError("act needs a note saying what the department did")
    code = _summoned_department(s)
    entry = dispatch.act(summons["entries"][code], s.step.at)
    summons["entries"][code] = entry
    summons["by"][(code, "act")] = (s.step.actor.name, s.step.request.note)
    s.details.update(summons=summons["id"], department=code, on_time=entry.acted_on_time)
    s.record("act", s.apply("act"))
    if dispatch.all_acted(summons["entries"].values()):
        summons.update(
            status="completed", closed_at=s.step.at, closed_by=s.step.actor.name, outcome="resolved"
        )
        s.details = {"summons": summons["id"], "outcome": "resolved"}
        s.record("summon_complete", s.apply("close_summons", outcome="resolved"))


def _close_summons(s: _Step) -> None:
    summons = s.case.open_summons()
    assert summons is not None
    outcome = s.step.request.outcome or "resolved"
    change = s.apply("close_summons", outcome=outcome)
    summons.update(
        status="closed",
        closed_at=s.step.at,
        closed_by=s.step.actor.name,
        close_note=s.step.request.note,
        outcome=outcome,
    )
    absent = sorted(c for c, e in summons["entries"].items() if e.checked_in_at is None)
    s.details.update(summons=summons["id"], not_checked_in=absent)
    s.record("close_summons", change)


def _supervise(s: _Step) -> None:
    r, at = s.step.request, s.step.at
    if not (r.note or "").strip():
        raise GeogridError("supervise needs a note")
    due = r.due or (at + timedelta(hours=r.within_h) if r.within_h else None)
    target = dispatch.handler_of(s.case)
    vid = s.ids("supervisions")
    s.case.supervisions.append(
        {
            "id": vid,
            "incident_id": s.case.id,
            "centre_code": s.step.actor.centre,
            "by_name": s.step.actor.name,
            "by_role": s.step.actor.role,
            "note": r.note,
            "due": due,
            "target_kind": target[0],
            "target_code": target[1],
            "created_at": at,
        }
    )
    s.details.update(supervision=vid, due=due.isoformat() if due else None, target=list(target))
    s.record("supervise", s.apply("supervise"))


_HANDLERS: dict[str, Callable[[_Step], None]] = {
    "dispatch": _dispatch,
    "redispatch": _dispatch,
    "escalate": _escalate,
    "summon": _summon,
    "check_in": _check_in,
    "act": _act,
    "close_summons": _close_summons,
    "supervise": _supervise,
}
