"""The incident workflow (事件闭环): states, transitions, who may act, categories, time limits.

Pure logic: no database, no settings.  :mod:`geogrid.db.incidents` applies it under a row
lock and writes the history; the API maps :class:`~geogrid.errors.ConflictError` to 409 and
:class:`~geogrid.errors.ActionForbiddenError` to 403 (both in the API's one error table).

The closed loop::

    reported --accept--> accepted --dispatch--> dispatched --start--> in_progress
        --resolve--> resolved --verify--> verified --close--> closed

plus ``reject`` (reported → rejected), ``redispatch`` (改派: dispatched/in progress → another
department), ``return`` (dispatched/in progress → returned, to be re-dispatched), ``reopen``
(resolved → in progress when verification fails), ``escalate`` (上报: to the next centre up,
village → township → county; the incident waits as ``escalated`` for that centre), ``summon``
(吹哨: accepted/returned/escalated → summoned; each summoned department ``check_in`` (报到) and
``act``, and the incident is resolved when all have, or when the centre sends
``close_summons``), ``supervise`` (督办, on anything open; no status change) and ``merge`` (an
open duplicate → merged into another incident).  A grid may also ``start`` an accepted
incident itself (自行处置) without dispatching it.

Who may act (:func:`authorize`): the role table :data:`TRANSITIONS`, then the scope — a
grid worker in their grids (and their 17-digit link groups), a department on what was
dispatched or summoned to it, a centre's dispatcher on its own queue (督办 also below it),
everybody inside their division — and 报办分离 (:data:`SEPARATED_ACTIONS`): the reporter of an
incident never verifies or closes it.

Time limits come from the category catalogue: ``accept_due = created_at + accept_hours`` and
``complete_due = created_at + complete_hours``.  An incident is *accept-overdue* while still
``reported`` after ``accept_due``, and *complete-overdue* while not yet resolved after
``complete_due``.

Rates (used by :mod:`geogrid.db.incidents` statistics; merged duplicates are not counted):

- acceptance rate = accepted / reported (accepted = ever accepted);
- completion rate = completed / accepted (completed = resolved, verified or closed);
- on-time rate = completed by ``complete_due`` / completed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geogrid.catalogue import (  # noqa: F401 - the catalogue's names stay importable from here
    SHIPPED_CATALOGUES,
    Catalogue,
    Category,
    CategoryError,
    Deadlines,
    check_aware,
    load_catalogue,
)
from geogrid.errors import ActionForbiddenError, ConflictError, GeogridError

STATUSES: tuple[str, ...] = (
    "reported",
    "accepted",
    "rejected",
    "dispatched",
    "summoned",
    "in_progress",
    "resolved",
    "verified",
    "closed",
    "returned",
    "escalated",
    "merged",
)
SOURCES: tuple[str, ...] = ("patrol", "resident", "hotline")
LEVELS: tuple[str, ...] = ("grid", "village", "township", "county")
#: Statuses in which nothing more happens.
FINAL_STATUSES = frozenset({"closed", "rejected", "merged"})
#: Statuses whose work is done (the completion rate counts them).
COMPLETED_STATUSES = frozenset({"resolved", "verified", "closed"})
#: Statuses still waiting for someone; duplicates are looked for among them.
OPEN_STATUSES = frozenset(STATUSES) - FINAL_STATUSES - COMPLETED_STATUSES

#: Chinese labels of the statuses, actions, sources and levels (answers carry them next to the codes).
STATUS_NAMES: dict[str, str] = {
    "reported": "已上报",
    "accepted": "已受理",
    "rejected": "不予受理",
    "dispatched": "已派遣",
    "summoned": "已吹哨",
    "in_progress": "处置中",
    "resolved": "已处置",
    "verified": "已核查",
    "closed": "已结案",
    "returned": "已退回",
    "escalated": "已上报上级",
    "merged": "已并单",
}
ACTION_NAMES: dict[str, str] = {
    "report": "上报",
    "accept": "受理",
    "reject": "不予受理",
    "dispatch": "派遣",
    "redispatch": "改派",
    "summon": "吹哨",
    "check_in": "报到",
    "act": "处置反馈",
    "close_summons": "结束吹哨",
    "summon_complete": "吹哨事项办结",
    "start": "开始处置",
    "return": "退回",
    "escalate": "上报上级",
    "resolve": "处置完成",
    "reopen": "重新处置",
    "verify": "核查",
    "close": "结案",
    "merge": "并单",
    "absorb": "并入重复事件",
    "supervise": "督办",
    "follow_up": "回访",
}
SOURCE_NAMES: dict[str, str] = {"patrol": "网格员巡查", "resident": "群众上报", "hotline": "12345热线"}
LEVEL_NAMES: dict[str, str] = {
    "grid": "网格",
    "village": "村(社区)",
    "township": "乡镇(街道)",
    "county": "县(区)",
}


@dataclass(frozen=True)
class Transition:
    """An action: the statuses it may start from, the status it leads to (None: unchanged),
    and the roles that may take it besides ``admin``."""

    action: str
    sources: frozenset[str]
    target: str | None
    roles: frozenset[str]


def _t(action: str, sources: Iterable[str], target: str | None, roles: Iterable[str]) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles))


_MERGEABLE = ("reported", "accepted", "dispatched", "in_progress", "returned", "escalated")
_TO_DISPATCH = ("accepted", "returned", "escalated")

#: The transition table.  ``roles`` are the roles allowed besides ``admin``; grid workers are
#: further limited to their own grids, departments to what was dispatched (or summoned) to
#: them, and a centre's dispatchers to the incidents queued at their centre.
TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("accept", ["reported"], "accepted", ["dispatcher", "worker"]),
        _t("reject", ["reported"], "rejected", ["dispatcher", "worker"]),
        _t("dispatch", _TO_DISPATCH, "dispatched", ["dispatcher"]),
        _t("redispatch", ["dispatched", "in_progress"], "dispatched", ["dispatcher"]),
        _t("summon", _TO_DISPATCH, "summoned", ["dispatcher"]),
        _t("check_in", ["summoned"], None, ["department"]),
        _t("act", ["summoned"], None, ["department"]),
        _t("close_summons", ["summoned"], "resolved", ["dispatcher"]),
        _t("start", ["accepted", "dispatched"], "in_progress", ["department", "worker"]),
        _t("return", ["dispatched", "in_progress"], "returned", ["department", "worker"]),
        _t(
            "escalate",
            ["accepted", "dispatched", "in_progress", "returned", "escalated"],
            "escalated",
            ["dispatcher", "worker", "department"],
        ),
        _t("resolve", ["in_progress"], "resolved", ["department", "worker"]),
        _t("reopen", ["resolved"], "in_progress", ["dispatcher", "worker"]),
        _t("verify", ["resolved"], "verified", ["dispatcher", "worker"]),
        _t("close", ["verified"], "closed", ["dispatcher"]),
        _t("merge", _MERGEABLE, "merged", ["dispatcher"]),
        _t("supervise", sorted(OPEN_STATUSES), None, ["dispatcher"]),
    )
}
ACTIONS: tuple[str, ...] = tuple(TRANSITIONS)
#: Actions of the reporter–handler separation (报办分离): never by the incident's reporter.
SEPARATED_ACTIONS = frozenset({"verify", "close"})
#: Actions a centre takes on the incidents queued at it (督办 reaches below: see :func:`authorize`).
CENTRE_ACTIONS = frozenset(a for a, t in TRANSITIONS.items() if "dispatcher" in t.roles) - {"supervise"}


def next_status(status: str, action: str) -> str:
    """The status ``action`` leads to from ``status``.

    Raises
    ------
    ConflictError
        When the action is not allowed from ``status`` (the message lists what is).
    GeogridError
        For an unknown action or status.

    Examples
    --------
    >>> next_status("reported", "accept"), next_status("summoned", "check_in")
    ('accepted', 'summoned')
    >>> next_status("closed", "accept")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.ConflictError: cannot accept an incident that is closed; ...
    """
    if status not in STATUSES:
        raise GeogridError(f"unknown status {status!r}; statuses are {list(STATUSES)}")
    t = TRANSITIONS.get(action)
    if t is None:
        raise GeogridError(f"unknown action {action!r}; actions are {list(ACTIONS)}")
    if status not in t.sources:
        allowed = allowed_actions(status)
        raise ConflictError(
            f"cannot {action} an incident that is {status}; "
            + (f"allowed now: {', '.join(allowed)}" if allowed else "it is final")
        )
    return t.target or status


def allowed_actions(status: str) -> list[str]:
    """Actions the table allows from ``status`` (ignoring roles).

    Examples
    --------
    >>> allowed_actions("resolved")
    ['reopen', 'verify']
    >>> allowed_actions("summoned")
    ['check_in', 'act', 'close_summons', 'supervise']
    """
    return [a for a, t in TRANSITIONS.items() if status in t.sources]


# --- who may act -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who performs an action: a key name, its role and its scope (``grid_codes``,
    ``department``, ``division``, ``centre``)."""

    name: str
    role: str
    scope: Mapping[str, Any] = field(default_factory=dict)

    @property
    def grid_codes(self) -> frozenset[str]:
        return frozenset(str(c) for c in (self.scope.get("grid_codes") or ()))

    @property
    def department(self) -> str | None:
        d = self.scope.get("department")
        return str(d) if d else None

    @property
    def division(self) -> str | None:
        """The code prefix of the division this actor is limited to (``scope["division"]``)."""
        d = self.scope.get("division")
        return division_prefix(str(d)) if d else None

    @property
    def centre(self) -> str | None:
        """The centre (its 12-digit division code) this dispatcher works at (``scope["centre"]``)."""
        c = self.scope.get("centre")
        return str(c) if c else None

    def in_division(self, grid_code: str | None, village_code: str | None) -> bool:
        """Whether an incident in this grid/village lies inside the actor's division (True
        when the actor has no division scope)."""
        prefix = self.division
        if prefix is None:
            return True
        return any(c is not None and c.startswith(prefix) for c in (grid_code, village_code))

    def covers(self, grid_code: str | None) -> bool:
        """Whether a grid worker's grids hold ``grid_code``: a 15-digit grid covers its 17-digit
        sub-grids (联户); a link group's key covers only that link group.

        Examples
        --------
        >>> w = Actor("w", "worker", {"grid_codes": ["320508019044003"]})
        >>> w.covers("320508019044003"), w.covers("32050801904400301"), w.covers("320508019044004")
        (True, True, False)
        """
        return grid_code is not None and any(grid_code.startswith(g) for g in self.grid_codes)


def division_prefix(code: str) -> str:
    """The code prefix a division stands for: ``320508000000`` → ``320508``, ``320508019000`` → ``320508019``.

    Grid codes (15/17 digits) and short prefixes (6/9 digits) stand for themselves.

    Examples
    --------
    >>> division_prefix("320508019000"), division_prefix("320508019044"), division_prefix("320508019044003")
    ('320508019', '320508019044', '320508019044003')
    """
    code = str(code).strip()
    if not code.isdigit() or len(code) not in (6, 9, 12, 15, 17):
        raise GeogridError(f"division must be a 6/9/12-digit division or 15/17-digit grid code, got {code!r}")
    if len(code) == 12:
        if code.endswith("000000"):
            return code[:6]
        if code.endswith("000"):
            return code[:9]
    return code


#: Roles that read every incident but never the reporter's contact.
READ_ALL_ROLES = frozenset({"admin", "dispatcher", "viewer", "planner"})
#: Readers who get the public view of other people's reports (public categories only, no
#: rejected or merged reports, no reporter, locations rounded): what a county would post
#: on a notice board.
PUBLIC_READER_ROLES = frozenset({"anonymous", "resident"})


def in_scope(
    actor: Actor,
    *,
    grid_code: str | None,
    department: str | None,
    reporter_key_name: str | None,
    village_code: str | None = None,
    summoned: Collection[str] = (),
) -> bool:
    """Whether ``actor`` may see an incident with these attributes.

    Grid workers see their grids (and their sub-grids), departments what is dispatched to
    them or what they were summoned to (``summoned``: the departments ever summoned),
    residents their own reports; admins, dispatchers, viewers and planners everything — all
    of them only inside their division when their key has one (``{"division": ...}``).
    Everybody sees what they reported themselves.

    Examples
    --------
    >>> w = Actor("w1", "worker", {"grid_codes": ["320508019044003"]})
    >>> in_scope(w, grid_code="32050801904400302", department=None, reporter_key_name=None)
    True
    >>> in_scope(w, grid_code="320508019044004", department=None, reporter_key_name=None)
    False
    >>> d = Actor("张三", "dispatcher", {"division": "320508001000"})
    >>> in_scope(d, grid_code="320508001002001", department=None, reporter_key_name=None)
    True
    >>> in_scope(d, grid_code="320508019044003", department=None, reporter_key_name=None)
    False
    """
    if reporter_key_name is not None and reporter_key_name == actor.name:
        return True
    if not actor.in_division(grid_code, village_code):
        return False
    if actor.role in READ_ALL_ROLES:
        return True
    if actor.role == "worker":
        return actor.covers(grid_code)
    if actor.role == "department":
        return actor.department is not None and (
            department == actor.department or actor.department in summoned
        )
    return False


def may_see_contact(
    actor: Actor,
    *,
    grid_code: str | None,
    department: str | None,
    reporter_key_name: str | None,
    village_code: str | None = None,
    summoned: Collection[str] = (),
) -> bool:
    """Whether ``actor`` may read the reporter's name and contact.

    Only people who handle the incident (dispatchers, the grid's workers, the department it
    was dispatched or summoned to, admins) and the reporter; viewers, planners and public
    endpoints never.
    """
    if actor.role in ("viewer", "planner"):
        return reporter_key_name is not None and reporter_key_name == actor.name
    return in_scope(
        actor,
        grid_code=grid_code,
        department=department,
        reporter_key_name=reporter_key_name,
        village_code=village_code,
        summoned=summoned,
    )


def authorize(
    actor: Actor,
    action: str,
    *,
    grid_code: str | None,
    department: str | None,
    village_code: str | None = None,
    centre_code: str | None = None,
    reporter_key_name: str | None = None,
    summoned_now: Collection[str] = (),
    separation: bool = False,
) -> None:
    """Raise :class:`~geogrid.errors.ActionForbiddenError` unless ``actor`` may take ``action`` here.

    Besides the role table: everybody acts only inside their division; grid workers in their
    grids (sub-grids included); departments on what was dispatched to them, or — ``check_in``
    and ``act`` — when they are among ``summoned_now`` (the departments of the open 吹哨); a
    dispatcher whose key names a centre only on incidents queued at that centre
    (``centre_code``), except 督办, which a centre may record on any incident queued at it or
    below it.  With ``separation`` (报办分离) the reporter never verifies or closes their own
    report, whatever their role.

    Examples
    --------
    >>> authorize(Actor("d", "dispatcher"), "dispatch", grid_code=None, department=None)
    >>> authorize(Actor("r", "resident"), "accept", grid_code=None, department=None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.ActionForbiddenError: role 'resident' may not accept incidents; ...
    >>> township = Actor("t", "dispatcher", {"division": "320508019000", "centre": "320508019000"})
    >>> authorize(township, "dispatch", grid_code="320508019044003", department=None,
    ...           centre_code="320508019044")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.ActionForbiddenError: 事件在 320508019044 综治中心的队列中...
    >>> authorize(township, "supervise", grid_code="320508019044003", department=None, centre_code="320508019044")
    """
    t = TRANSITIONS.get(action)
    if t is None:
        raise GeogridError(f"unknown action {action!r}; actions are {list(ACTIONS)}")
    if not actor.in_division(grid_code, village_code):
        raise ActionForbiddenError(
            f"{actor.name!r} acts only inside division {actor.scope.get('division')}; "
            f"this incident is in {grid_code or village_code}"
        )
    if separation and action in SEPARATED_ACTIONS and reporter_key_name == actor.name:
        raise ActionForbiddenError(
            f"报办分离：上报人不能{ACTION_NAMES[action]}自己上报的事件 / reporter-handler separation: "
            f"{actor.name!r} reported this incident and may not {action} it"
        )
    if actor.role == "admin":
        return
    if actor.role not in t.roles:
        raise ActionForbiddenError(
            f"role {actor.role!r} may not {action} incidents; allowed: admin, {', '.join(sorted(t.roles))}"
        )
    _authorize_scope(actor, action, grid_code, department, centre_code, summoned_now)


def _authorize_scope(
    actor: Actor,
    action: str,
    grid_code: str | None,
    department: str | None,
    centre_code: str | None,
    summoned_now: Collection[str],
) -> None:
    if actor.role == "worker" and not actor.covers(grid_code):
        raise ActionForbiddenError(
            f"grid worker {actor.name!r} acts only in own grids; incident is in {grid_code}"
        )
    if actor.role == "department" and action in ("check_in", "act"):
        if actor.department not in summoned_now:
            raise ActionForbiddenError(
                f"部门 {actor.department} 未被吹哨 / department {actor.department!r} was not summoned to this incident"
            )
    elif actor.role == "department" and (department is None or department != actor.department):
        raise ActionForbiddenError(
            f"department {actor.department!r} acts only on incidents dispatched to it; "
            f"this one is with {department!r}"
        )
    if actor.role == "dispatcher" and actor.centre is not None and centre_code is not None:
        mine = centre_code == actor.centre
        below = centre_code.startswith(division_prefix(actor.centre))
        if action in CENTRE_ACTIONS and not mine:
            raise ActionForbiddenError(
                f"事件在 {centre_code} 综治中心的队列中，{actor.centre} 综治中心不能{ACTION_NAMES[action]} / "
                f"the incident is queued at centre {centre_code}; centre {actor.centre} may not {action} it "
                "(a centre acts on its own queue; escalation moves an incident up)"
            )
        if action == "supervise" and not below:
            raise ActionForbiddenError(
                f"督办由上级或本级综治中心进行 / centre {actor.centre} supervises only incidents queued at "
                f"it or below it; this one is at {centre_code}"
            )


# --- who may report, with which source ----------------------------------------------------------

#: Roles that may report.  Anonymous callers may not: every report must be attributable to a
#: key, because residents see their own reports by key name, idempotency keys are per caller,
#: and an open form would be an anonymous spam channel into a government work queue (a public
#: kiosk gets a ``resident`` key).
REPORTER_ROLES = frozenset({"resident", "worker", "dispatcher", "admin"})
#: The source a report gets when the reporter does not say.
DEFAULT_SOURCE: dict[str, str] = {
    "resident": "resident",
    "worker": "patrol",
    "dispatcher": "hotline",
    "admin": "hotline",
}


def report_source(role: str, requested: str | None = None) -> str:
    """The source of a report by a key of ``role`` that asked for ``requested`` (or nothing).

    Residents report as residents (a resident cannot claim to be the 12345 hotline); grid
    workers default to patrol, dispatch centres to the hotline.

    Raises
    ------
    ActionForbiddenError
        The role may not report, or may not report with that source.

    Examples
    --------
    >>> report_source("worker"), report_source("dispatcher", "resident")
    ('patrol', 'resident')
    >>> report_source("resident", "hotline")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.ActionForbiddenError: 群众只能以“群众上报”来源上报 / residents report with source 'resident', ...
    """
    if role not in REPORTER_ROLES:
        raise ActionForbiddenError(
            f"角色 {role} 不能上报事件 / role {role!r} may not report incidents; "
            f"allowed: {', '.join(sorted(REPORTER_ROLES))}"
        )
    source = requested or DEFAULT_SOURCE[role]
    if source not in SOURCES:
        raise GeogridError(f"source must be one of {list(SOURCES)}, got {source!r}")
    if role == "resident" and source != "resident":
        raise ActionForbiddenError(
            f"群众只能以“群众上报”来源上报 / residents report with source 'resident', not {source!r}"
        )
    return source


@dataclass(frozen=True)
class ActionRequest:
    """What an action carries besides its name; each action reads what it needs."""

    note: str | None = None
    #: dispatch / redispatch: the department (code or Chinese name).
    department: str | None = None
    #: escalate: the level to go to (default: the next centre up).
    level: str | None = None
    #: dispatch / start: who handles it.
    assignee: str | None = None
    #: summon: the departments summoned (codes or names).
    departments: tuple[str, ...] = ()
    #: summon: deadlines to report in and to act (times, or hours from now).
    report_due: datetime | None = None
    act_due: datetime | None = None
    report_within_h: float | None = None
    act_within_h: float | None = None
    #: close_summons: ``resolved`` (default) or ``returned``.
    outcome: str | None = None
    #: supervise: the deadline the 督办 sets (a time, or hours from now).
    due: datetime | None = None
    within_h: float | None = None


# --- applying an action --------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentState:
    """The fields of an incident the workflow reads."""

    status: str
    level: str = "grid"
    department: str | None = None
    assignee: str | None = None
    category_department: str | None = None
    centre_code: str | None = None


@dataclass(frozen=True)
class Change:
    """What an action changes: new column values and the history row's details."""

    from_status: str
    to_status: str
    updates: dict[str, Any]
    details: dict[str, Any]


def apply_action(
    state: IncidentState,
    action: str,
    *,
    now: datetime,
    department: str | None = None,
    level: str | None = None,
    centre: str | None = None,
    assignee: str | None = None,
    departments: Sequence[str] = (),
    outcome: str | None = None,
) -> Change:
    """The effect of ``action`` on an incident in ``state`` at ``now`` (no permissions checked).

    Parameters
    ----------
    state : IncidentState
    action : str
        One of :data:`ACTIONS` (``merge`` is done by :func:`geogrid.db.incidents.merge`).
    now : datetime
        Timezone-aware time of the action.
    department : str, optional
        ``dispatch``/``redispatch``: the department to send it to (``dispatch`` defaults to the
        category's department).
    level, centre : str, optional
        ``escalate``: the level to go to (default: one above the current level) and the centre
        whose queue it joins there (:func:`geogrid.organisation.escalation_target`).
    assignee : str, optional
        ``dispatch``/``start``: the person who handles it.
    departments : sequence of str
        ``summon``: the departments summoned (吹哨), at least one.
    outcome : {"resolved", "returned"}, optional
        ``close_summons``: resolved (default: the summoned departments did the work) or
        returned (back to the centre, to be dispatched or escalated).

    Raises
    ------
    ConflictError
        Illegal transition, an escalation that does not go up, a re-dispatch to the same department.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> c = apply_action(IncidentState("accepted", category_department="城市管理局"), "dispatch", now=t)
    >>> c.to_status, c.updates["department"]
    ('dispatched', '城市管理局')
    >>> apply_action(IncidentState("accepted"), "escalate", now=t).updates["level"]
    'village'
    >>> apply_action(IncidentState("accepted"), "summon", now=t, departments=["GA", "SF"]).details
    {'departments': ['GA', 'SF']}
    """
    check_aware(now, "now")
    target = next_status(state.status, action)
    if action == "close_summons" and outcome not in (None, "resolved"):
        if outcome != "returned":
            raise GeogridError(f"outcome must be resolved or returned, got {outcome!r}")
        target = "returned"
    updates: dict[str, Any] = {"status": target, "updated_at": now}
    details: dict[str, Any] = {}
    if action in ("dispatch", "redispatch"):
        _dispatch(state, action, department, assignee, updates, details)
    elif action == "summon":
        if not departments:
            raise GeogridError("吹哨至少召集一个部门 / summon needs at least one department")
        updates.update(department=None, assignee=None)
        details["departments"] = list(dict.fromkeys(departments))
    elif action == "escalate":
        _escalate(state, level, centre, updates, details)
    else:
        updates.update(_stamps(action, now, state, assignee))
        if action == "return":
            details["returned_by_department"] = state.department
        elif action == "close_summons":
            details["outcome"] = target
    return Change(state.status, target, updates, details)


def _stamps(action: str, now: datetime, state: IncidentState, assignee: str | None) -> dict[str, Any]:
    """Columns an action sets besides the status (actions not listed set none)."""
    if action == "accept":
        return {"accepted_at": now}
    if action == "start":
        return {"assignee": assignee or state.assignee}
    if action == "return":  # back to the dispatcher: whoever had it no longer does
        return {"department": None, "assignee": None}
    if action in ("resolve", "close_summons"):
        return {"resolved_at": now}
    if action == "reopen":
        return {"resolved_at": None}
    if action == "close":
        return {"closed_at": now}
    return {}


def _dispatch(
    state: IncidentState,
    action: str,
    department: str | None,
    assignee: str | None,
    updates: dict[str, Any],
    details: dict[str, Any],
) -> None:
    dept = (department or "").strip() or (state.category_department if action == "dispatch" else None)
    if not dept:
        raise GeogridError(f"{action} needs a department (the category names none)")
    if action == "redispatch":
        if dept == state.department:
            raise ConflictError(f"改派须派给另一部门 / the incident is already with {dept}")
        details["from_department"] = state.department
    updates.update(department=dept, assignee=assignee)
    details["department"] = dept


def _escalate(
    state: IncidentState,
    level: str | None,
    centre: str | None,
    updates: dict[str, Any],
    details: dict[str, Any],
) -> None:
    current = LEVELS.index(state.level) if state.level in LEVELS else 0
    if level is None:
        if current + 1 >= len(LEVELS):
            raise ConflictError(f"cannot escalate: the incident is already at the {LEVELS[-1]} level")
        new = current + 1
    else:
        if level not in LEVELS:
            raise GeogridError(f"level must be one of {list(LEVELS)}, got {level!r}")
        new = LEVELS.index(level)
        if new <= current:
            raise ConflictError(
                f"cannot escalate from {LEVELS[current]} to {level}: escalation goes up ({' → '.join(LEVELS)})"
            )
    updates.update(level=LEVELS[new], department=None, assignee=None)
    details.update(from_level=LEVELS[current], to_level=LEVELS[new])
    if centre is not None:
        updates["centre_code"] = centre
        details.update(from_centre=state.centre_code, to_centre=centre)


# --- overdue -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overdue:
    """Overdue flags of one incident at a moment."""

    accept: bool
    complete: bool

    @property
    def any(self) -> bool:
        return self.accept or self.complete


def overdue_flags(status: str, *, accept_due: datetime, complete_due: datetime, now: datetime) -> Overdue:
    """Whether an incident in ``status`` is past its acceptance or completion deadline at ``now``.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> overdue_flags("reported", accept_due=t0, complete_due=t0 + timedelta(days=1), now=t0 + timedelta(hours=1))
    Overdue(accept=True, complete=False)
    >>> overdue_flags("resolved", accept_due=t0, complete_due=t0, now=t0 + timedelta(days=9)).any
    False
    """
    check_aware(now, "now")
    open_ = status in OPEN_STATUSES
    return Overdue(accept=status == "reported" and now > accept_due, complete=open_ and now > complete_due)


def rate(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` rounded to 4 places, None when there is nothing to divide.

    Examples
    --------
    >>> rate(999, 1000), rate(0, 0)
    (0.999, None)
    """
    return round(numerator / denominator, 4) if denominator else None
