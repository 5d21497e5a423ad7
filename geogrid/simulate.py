"""Seeded synthetic lives of incidents: who accepts, dispatches, summons, escalates, closes — and when.

:func:`scripts` writes, for each reported incident of the demo county, the steps a county's
organisation would take (see :mod:`geogrid.replay`, which replays them with the workflow's
rules):

- about 2 in 100 are refused (不予受理); most are accepted within the category's time limit
  by the grid head or the village centre, a few late;
- a third are handled by the grid itself (自行处置), two in five are dispatched to the
  category's department (a few re-dispatched, 改派), about one in seven goes up to the
  township, which summons the department and its 派出所 or 司法所 (吹哨报到; some report in
  late), and a few go on up to the county centre, which dispatches them;
- about one in ten finishes after its time limit; cases running late get a 督办 from the
  centre above;
- resolved cases are verified and closed by the centre that has them.

Steps after ``now`` are left out, so recent incidents are still open at some stage (and some
of them overdue) — what a dashboard shows on a real day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np

from geogrid import incidents as wf
from geogrid.organisation import centres_above, division_level
from geogrid.replay import Case, Step

H = timedelta(hours=1)


@dataclass(frozen=True)
class People:
    """Who acts, by post: a grid head per grid, a dispatcher per centre, a liaison per department."""

    grids: Mapping[str, wf.Actor]
    centres: Mapping[str, wf.Actor]
    departments: Mapping[str, wf.Actor]
    #: The department code of each category's Chinese department name.
    category_departments: Mapping[str, str]
    #: The township departments (派出所, 司法所) of each township.
    township_departments: Mapping[str, Sequence[str]]


@dataclass
class _Plan:
    """The steps of one case being written; steps after ``now`` are dropped."""

    case: Case
    now: datetime
    steps: list[Step]

    def add(self, action: str, actor: wf.Actor | None, at: datetime, **request) -> bool:
        if actor is None or at > self.now or (self.steps and at < self.steps[-1].at):
            return False
        self.steps.append(Step(action, actor, at, wf.ActionRequest(**request)))
        return True


def scripts(
    cases: Sequence[Case],
    people: People,
    catalogue: wf.Catalogue,
    *,
    now: datetime,
    seed: int = 0,
) -> dict[int, list[Step]]:
    """The steps of every case (by case id); see the module docstring.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> c = Case(1, "E00000001", "HW01", "320508019001001", "320508019001", "320508019000",
    ...          datetime(2024, 5, 1, tzinfo=timezone.utc), {"status": "reported", "centre_code": "320508019001"})
    >>> head = wf.Actor("王芳·0001", "worker", {"grid_codes": ["320508019001001"]})
    >>> centre = wf.Actor("调度·0002", "dispatcher", {"division": "320508019001", "centre": "320508019001"})
    >>> p = People({"320508019001001": head}, {"320508019001": centre}, {}, {}, {})
    >>> steps = scripts([c], p, wf.load_catalogue(), now=datetime(2024, 5, 1, 1, tzinfo=timezone.utc), seed=3)
    >>> [s.action for s in steps[1]] in ([], ["accept"], ["reject"])
    True
    """
    rng = np.random.default_rng(seed)
    out: dict[int, list[Step]] = {}
    for case in cases:
        plan = _Plan(case, now, [])
        _life(plan, people, catalogue.get(case.category), rng)
        out[case.id] = plan.steps
    return out


def _life(plan: _Plan, people: People, category: wf.Category, rng: np.random.Generator) -> None:
    case = plan.case
    centre = people.centres.get(case.centre_code or "")
    head = people.grids.get(case.grid_code or "")
    late_accept = rng.random() < 0.05
    accept_at = case.created_at + category.accept_hours * H * (
        rng.uniform(1.05, 1.8) if late_accept else rng.uniform(0.05, 0.7)
    )
    if rng.random() < 0.02:
        plan.add("reject", centre or head, accept_at, note="不属于网格事项")
        return
    if not plan.add("accept", head if head is not None and rng.random() < 0.4 else centre or head, accept_at):
        return
    late = rng.random() < 0.1
    resolve_at = case.created_at + category.complete_hours * H * (
        rng.uniform(1.05, 1.6) if late else rng.uniform(0.3, 0.95)
    )
    resolve_at = max(resolve_at, accept_at + 2 * H)
    route = rng.choice(["self", "dispatch", "summon", "county"], p=[0.35, 0.42, 0.15, 0.08])
    if route == "self" and head is None:
        route = "dispatch"
    done = {"self": _self, "dispatch": _dispatched, "summon": _summoned, "county": _county}[str(route)](
        plan, people, category, rng, accept_at, resolve_at
    )
    if done is not None:
        holder, resolved_at = done
        if plan.add("verify", holder, resolved_at + rng.uniform(0.5, 4) * H):
            plan.add("close", holder, plan.steps[-1].at + rng.uniform(0.5, 6) * H)


def _self(plan, people: People, category, rng, accept_at, resolve_at):
    """自行处置: the grid head starts and resolves; the village centre verifies."""
    head = people.grids[plan.case.grid_code]
    if plan.add("start", head, accept_at + rng.uniform(0.1, 1) * H) and plan.add(
        "resolve", head, resolve_at, note="网格内自行处置完毕"
    ):
        return people.centres.get(plan.case.centre_code or ""), resolve_at
    return None


def _dispatched(plan, people: People, category, rng, accept_at, resolve_at):
    """派遣 to the category's department (改派 now and then); the department handles it."""
    centre = people.centres.get(plan.case.centre_code or "")
    dept = people.category_departments.get(category.department)
    if centre is None or dept is None:
        return None
    at = accept_at + rng.uniform(0.1, 1.5) * H
    if not plan.add("dispatch", centre, at, department=dept):
        return None
    if rng.random() < 0.08:
        others = sorted(set(people.category_departments.values()) - {dept})
        dept = str(rng.choice(others))
        if not plan.add(
            "redispatch", centre, at + rng.uniform(0.2, 2) * H, department=dept, note="职责不符，改派"
        ):
            return None
    _supervise_if_late(plan, people, category, resolve_at)
    return _department_handles(plan, people, dept, resolve_at, centre, rng)


def _department_handles(plan, people: People, dept: str, resolve_at, holder, rng):
    liaison = people.departments.get(dept)
    start = plan.steps[-1].at + rng.uniform(0.2, 3) * H
    if plan.add("start", liaison, min(start, resolve_at)) and plan.add(
        "resolve", liaison, resolve_at, note="已处置完毕"
    ):
        return holder, resolve_at
    return None


def _chain(plan: _Plan, people: People) -> list[str]:
    """The centres above the case that have a dispatcher, from the case's queue up."""
    case = plan.case
    chain = [c for c in centres_above(case.village_code, case.township_code) if c in people.centres]
    return chain[chain.index(case.centre_code) :] if case.centre_code in chain else []


def _supervise_if_late(plan: _Plan, people: People, category: wf.Category, resolve_at: datetime) -> None:
    """督办 from the centre above the queue when the case runs past its time limit."""
    chain = _chain(plan, people)
    at = plan.case.created_at + category.complete_hours * H + 2 * H
    if chain and plan.steps[-1].at < at < resolve_at:
        chief = people.centres[chain[1] if len(chain) > 1 else chain[0]]
        plan.add("supervise", chief, at, note="已超过办结时限，请加快处置", within_h=24)


def _escalate_to(plan: _Plan, people: People, level: str, at: datetime) -> wf.Actor | None:
    """The queue's centre escalates, centre by centre, until the case reaches the centre of
    ``level``; that centre's dispatcher (None when it cannot get there)."""
    chain = _chain(plan, people)
    for below, code in pairwise(chain):
        if division_level(below) == level:
            return people.centres[below]
        if not plan.add("escalate", people.centres[below], at):
            return None
        at += 0.5 * H
        if division_level(code) == level:
            return people.centres[code]
    return people.centres[chain[0]] if chain and division_level(chain[0]) == level else None


def _summoned(plan, people: People, category, rng, accept_at, resolve_at):
    """村居上报、乡镇吹哨、部门报到: up to the township, which summons two departments."""
    case = plan.case
    township = _escalate_to(plan, people, "township", accept_at + rng.uniform(0.2, 2) * H)
    local = list(people.township_departments.get(case.township_code or "", ()))
    dept = people.category_departments.get(category.department)
    if township is None or not local or dept is None:
        return None
    called = plan.steps[-1].at + rng.uniform(0.2, 1) * H
    summoned = sorted({dept, str(rng.choice(local))})
    if not plan.add(
        "summon", township, called, departments=tuple(summoned), report_within_h=2, act_within_h=24
    ):
        return None
    events = []
    for code in summoned:
        check_in = called + (rng.uniform(2.2, 5) if rng.random() < 0.2 else rng.uniform(0.2, 1.8)) * H
        acted = check_in + (rng.uniform(22, 40) if rng.random() < 0.1 else rng.uniform(1, 20)) * H
        events += [(check_in, "check_in", code, "已到场"), (acted, "act", code, "已按职责处置")]
    for at, action, code, note in sorted(events):
        if not plan.add(action, people.departments.get(code), at, note=note):
            return None
    return township, plan.steps[-1].at


def _county(plan, people: People, category, rng, accept_at, resolve_at):
    """Up to the county centre, which dispatches to the department."""
    county = _escalate_to(plan, people, "county", accept_at + rng.uniform(0.2, 2) * H)
    dept = people.category_departments.get(category.department)
    if county is None or dept is None:
        return None
    if not plan.add("dispatch", county, plan.steps[-1].at + rng.uniform(0.2, 2) * H, department=dept):
        return None
    return _department_handles(plan, people, dept, resolve_at, county, rng)


# --- who reported, and the follow-ups (回访) -----------------------------------------------------------


@dataclass(frozen=True)
class Reported:
    """Who reported a case: 网格员巡查 by the grid head's key, or the 12345 hotline with a ticket."""

    source: str
    reporter_key_name: str | None
    hotline_ticket: str | None


def reporters(cases: Sequence[Case], people: People, *, seed: int = 0) -> dict[int, Reported]:
    """About two in five cases found on patrol by their grid's head, the rest from 12345 with a
    ticket number (``<yyyymmdd><5 digits>``, the day it came in).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> c = Case(7, "E00000007", "HW01", "320508019001001", "320508019001", "320508019000",
    ...          datetime(2024, 5, 1, tzinfo=timezone.utc), {"status": "reported"})
    >>> head = wf.Actor("王芳·0001", "worker", {"grid_codes": ["320508019001001"]})
    >>> r = reporters([c], People({"320508019001001": head}, {}, {}, {}, {}), seed=1)[7]
    >>> r in (Reported("patrol", "王芳·0001", None), Reported("hotline", None, "2024050100007"))
    True
    """
    rng = np.random.default_rng(seed + 7)
    out = {}
    for case in cases:
        head = people.grids.get(case.grid_code or "")
        if head is not None and rng.random() < 0.4:
            out[case.id] = Reported("patrol", head.name, None)
        else:
            out[case.id] = Reported("hotline", None, f"{case.created_at:%Y%m%d}{case.id:05d}")
    return out


@dataclass(frozen=True)
class Callback:
    """One synthetic follow-up: when, whether the reporter was reached, the verdict."""

    incident_id: int
    at: datetime
    verdict: str | None
    reopen: bool


def callbacks(closed: Sequence[tuple[int, datetime]], *, now: datetime, seed: int = 0) -> list[Callback]:
    """Follow-ups of closed cases (``(incident id, closed at)``): nine in ten called back one to
    three days after closing (never after ``now``); of those 6% not reached, then 72% 满意,
    20% 基本满意, 8% 不满意 — a third of which reopen the case.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> out = callbacks([(i, t) for i in range(200)], now=t + timedelta(days=9), seed=2)
    >>> 150 < len(out) < 200 and {c.verdict for c in out} == {None, "satisfied", "basically_satisfied", "unsatisfied"}
    True
    """
    rng = np.random.default_rng(seed + 11)
    out = []
    for incident_id, closed_at in closed:
        if rng.random() >= 0.9:
            continue
        at = closed_at + timedelta(days=float(rng.uniform(1, 3)))
        reached = rng.random() >= 0.06
        verdict = str(rng.choice(["satisfied", "basically_satisfied", "unsatisfied"], p=[0.72, 0.2, 0.08]))
        reopen = reached and verdict == "unsatisfied" and rng.random() < 1 / 3
        if at <= now:
            out.append(Callback(incident_id, at, verdict if reached else None, reopen))
    return out
