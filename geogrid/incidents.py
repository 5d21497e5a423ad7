"""The incident workflow (事件闭环): states, transitions, who may act, categories, time limits.

Pure logic: no database, no settings.  :mod:`geogrid.db.incidents` applies it under a row
lock and writes the history; the API maps :class:`~geogrid.errors.ConflictError` to 409 and
:class:`~geogrid.errors.ActionForbiddenError` to 403 (both in the API's one error table).

The closed loop::

    reported --accept--> accepted --dispatch--> dispatched --start--> in_progress
        --resolve--> resolved --verify--> verified --close--> closed

plus ``reject`` (reported → rejected), ``return`` (dispatched/in progress → returned, to be
re-dispatched), ``reopen`` (resolved → in progress when verification fails), ``escalate``
(grid → village → township → county; the incident waits as ``escalated`` for the higher level
to dispatch it) and ``merge`` (an open duplicate → merged into another incident).  A grid may
also ``start`` an accepted incident itself (自行处置) without dispatching it.

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

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from geogrid.errors import ActionForbiddenError, ConflictError, GeogridError

STATUSES: tuple[str, ...] = (
    "reported",
    "accepted",
    "rejected",
    "dispatched",
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
    "start": "开始处置",
    "return": "退回",
    "escalate": "上报上级",
    "resolve": "处置完成",
    "reopen": "重新处置",
    "verify": "核查",
    "close": "结案",
    "merge": "并单",
    "absorb": "并入重复事件",
}
SOURCE_NAMES: dict[str, str] = {"patrol": "网格员巡查", "resident": "群众上报", "hotline": "12345热线"}
LEVEL_NAMES: dict[str, str] = {
    "grid": "网格",
    "village": "村(社区)",
    "township": "乡镇(街道)",
    "county": "县(区)",
}

#: The catalogues shipped as package data (``geogrid/data``), by the name settings may give.
SHIPPED_CATALOGUES: dict[str, str] = {
    "grid_duties": "incident_categories.json",  # the default: the grid-duty list (网格事项清单)
    "urban": "incident_categories_urban.json",  # a city-management list
}


@dataclass(frozen=True)
class Transition:
    """An action: the statuses it may start from and the status it leads to."""

    action: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]


def _t(action: str, sources: Iterable[str], target: str, roles: Iterable[str]) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles))


_MERGEABLE = ("reported", "accepted", "dispatched", "in_progress", "returned", "escalated")

#: The transition table.  ``roles`` are the roles allowed besides ``admin``; grid workers are
#: further limited to their own grids and departments to what was dispatched to them.
TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("accept", ["reported"], "accepted", ["dispatcher", "worker"]),
        _t("reject", ["reported"], "rejected", ["dispatcher", "worker"]),
        _t("dispatch", ["accepted", "returned", "escalated"], "dispatched", ["dispatcher"]),
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
    )
}
ACTIONS: tuple[str, ...] = tuple(TRANSITIONS)


class CategoryError(GeogridError):
    """An unknown category code, or a malformed catalogue file."""


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
    >>> next_status("reported", "accept")
    'accepted'
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
    return t.target


def allowed_actions(status: str) -> list[str]:
    """Actions the table allows from ``status`` (ignoring roles).

    Examples
    --------
    >>> allowed_actions("resolved")
    ['reopen', 'verify']
    """
    return [a for a, t in TRANSITIONS.items() if status in t.sources]


# --- who may act -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who performs an action: a key name, its role and its scope (``grid_codes``, ``department``)."""

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

    def in_division(self, grid_code: str | None, village_code: str | None) -> bool:
        """Whether an incident in this grid/village lies inside the actor's division (True
        when the actor has no division scope)."""
        prefix = self.division
        if prefix is None:
            return True
        return any(c is not None and c.startswith(prefix) for c in (grid_code, village_code))


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


#: Roles that see and act on every incident.
ALL_INCIDENT_ROLES = frozenset({"admin", "dispatcher"})
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
) -> bool:
    """Whether ``actor`` may see an incident with these attributes.

    Grid workers see their grids, departments what is dispatched to them, residents their
    own reports; admins, dispatchers, viewers and planners everything — all of them only
    inside their division when their key has one (``{"division": "320508001000"}``).
    Everybody sees what they reported themselves.

    Examples
    --------
    >>> w = Actor("w1", "worker", {"grid_codes": ["320508019044003"]})
    >>> in_scope(w, grid_code="320508019044003", department=None, reporter_key_name=None)
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
        return grid_code is not None and grid_code in actor.grid_codes
    if actor.role == "department":
        return department is not None and department == actor.department
    return False


def may_see_contact(
    actor: Actor,
    *,
    grid_code: str | None,
    department: str | None,
    reporter_key_name: str | None,
    village_code: str | None = None,
) -> bool:
    """Whether ``actor`` may read the reporter's name and contact.

    Only people who handle the incident (dispatchers, the grid's workers, the department it
    was dispatched to, admins) and the reporter; viewers, planners and public endpoints never.
    """
    if actor.role in ("viewer", "planner"):
        return reporter_key_name is not None and reporter_key_name == actor.name
    return in_scope(
        actor,
        grid_code=grid_code,
        department=department,
        reporter_key_name=reporter_key_name,
        village_code=village_code,
    )


def authorize(
    actor: Actor,
    action: str,
    *,
    grid_code: str | None,
    department: str | None,
    village_code: str | None = None,
) -> None:
    """Raise :class:`ActionForbiddenError` unless ``actor`` may perform ``action`` here.

    Examples
    --------
    >>> authorize(Actor("d", "dispatcher"), "dispatch", grid_code=None, department=None)
    >>> authorize(Actor("r", "resident"), "accept", grid_code=None, department=None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.ActionForbiddenError: role 'resident' may not accept incidents; ...
    """
    t = TRANSITIONS.get(action)
    if t is None:
        raise GeogridError(f"unknown action {action!r}; actions are {list(ACTIONS)}")
    if not actor.in_division(grid_code, village_code):
        raise ActionForbiddenError(
            f"{actor.name!r} acts only inside division {actor.scope.get('division')}; "
            f"this incident is in {grid_code or village_code}"
        )
    if actor.role == "admin":
        return
    if actor.role not in t.roles:
        raise ActionForbiddenError(
            f"role {actor.role!r} may not {action} incidents; allowed: admin, {', '.join(sorted(t.roles))}"
        )
    if actor.role == "worker" and (grid_code is None or grid_code not in actor.grid_codes):
        raise ActionForbiddenError(
            f"grid worker {actor.name!r} acts only in own grids; incident is in {grid_code}"
        )
    if actor.role == "department" and (department is None or department != actor.department):
        raise ActionForbiddenError(
            f"department {actor.department!r} acts only on incidents dispatched to it; "
            f"this one is with {department!r}"
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


# --- applying an action --------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentState:
    """The fields of an incident the workflow reads."""

    status: str
    level: str = "grid"
    department: str | None = None
    assignee: str | None = None
    category_department: str | None = None


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
    assignee: str | None = None,
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
        ``dispatch``: the department to send it to (default: the category's department).
    level : str, optional
        ``escalate``: the level to go to (default: one above the current level).
    assignee : str, optional
        ``dispatch``/``start``: the person who handles it.

    Raises
    ------
    ConflictError
        Illegal transition, or an escalation that does not go up.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> c = apply_action(IncidentState("accepted", category_department="城市管理局"), "dispatch", now=t)
    >>> c.to_status, c.updates["department"]
    ('dispatched', '城市管理局')
    >>> apply_action(IncidentState("accepted"), "escalate", now=t).updates["level"]
    'village'
    """
    _check_aware(now, "now")
    target = next_status(state.status, action)
    updates: dict[str, Any] = {"status": target, "updated_at": now}
    details: dict[str, Any] = {}
    if action == "accept":
        updates["accepted_at"] = now
    elif action == "dispatch":
        dept = (department or "").strip() or state.category_department
        if not dept:
            raise GeogridError("dispatch needs a department (the category names none)")
        updates["department"] = dept
        updates["assignee"] = assignee
        details["department"] = dept
    elif action == "start":
        updates["assignee"] = assignee or state.assignee
    elif action == "return":
        # Back to the dispatcher: whoever had it no longer does.
        updates["department"] = None
        updates["assignee"] = None
        details["returned_by_department"] = state.department
    elif action == "escalate":
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
                    f"cannot escalate from {LEVELS[current]} to {level}: escalation goes up "
                    f"({' → '.join(LEVELS)})"
                )
        updates["level"] = LEVELS[new]
        updates["department"] = None
        updates["assignee"] = None
        details.update(from_level=LEVELS[current], to_level=LEVELS[new])
    elif action == "resolve":
        updates["resolved_at"] = now
    elif action == "reopen":
        updates["resolved_at"] = None
    elif action == "close":
        updates["closed_at"] = now
    return Change(state.status, target, updates, details)


def _check_aware(t: datetime, name: str) -> None:
    if not isinstance(t, datetime) or t.tzinfo is None:
        raise GeogridError(f"{name} must be a timezone-aware datetime, got {t!r}")


# --- categories and time limits --------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """A minor category (小类) with its major category (大类), time limits and department."""

    code: str
    name: str
    name_en: str
    major_code: str
    major_name: str
    major_name_en: str
    department: str
    accept_hours: float
    complete_hours: float
    # Whether incidents of this category may be shown to anonymous readers (a notice board):
    # False for categories that name or expose people (disputes, vulnerable people...).
    public: bool = False


@dataclass(frozen=True)
class Deadlines:
    accept_due: datetime
    complete_due: datetime


@dataclass(frozen=True)
class Catalogue:
    """The category catalogue: minor categories by code, in file order."""

    categories: dict[str, Category]
    majors: dict[str, tuple[str, str]]  # code -> (name, name_en)

    def get(self, code: str) -> Category:
        """The minor category ``code`` (or with that Chinese name); :class:`CategoryError` otherwise.

        Examples
        --------
        >>> cat = load_catalogue()
        >>> cat.get("MD01").name, cat.get("邻里纠纷").code
        ('邻里纠纷', 'MD01')
        """
        found = self.categories.get(code) or self.categories.get(self._code_of_name().get(code, ""))
        if found is None:
            raise CategoryError(
                f"unknown category {code!r}; use a minor category code or name such as "
                f"{', '.join(f'{c.code} {c.name}' for c in list(self.categories.values())[:4])} "
                "(GET /open311/v2/services.json lists all)"
            )
        return found

    def _code_of_name(self) -> dict[str, str]:
        names = {c.name: c.code for c in self.categories.values()}
        names.update({name: code for code, (name, _en) in self.majors.items()})
        return names

    def code_of(self, text: str) -> str:
        """The major or minor category code that ``text`` names (a code or a Chinese name).

        Examples
        --------
        >>> cat = load_catalogue()
        >>> cat.code_of("矛盾纠纷"), cat.code_of("MD"), cat.code_of("邻里纠纷")
        ('MD', 'MD', 'MD01')
        """
        text = text.strip()
        if text in self.categories or text in self.majors:
            return text
        code = self._code_of_name().get(text)
        if code is None:
            raise CategoryError(
                f"unknown category {text!r}; give a major or minor category code or its Chinese name, "
                f"e.g. {', '.join(f'{c} {n}' for c, (n, _en) in list(self.majors.items())[:4])}"
            )
        return code

    def name_of(self, code: str | None) -> str | None:
        """The Chinese name of a major or minor category code (None for an unknown code).

        Examples
        --------
        >>> load_catalogue().name_of("FP")
        '防返贫监测'
        """
        if code is None:
            return None
        if code in self.categories:
            return self.categories[code].name
        major = self.majors.get(code)
        return major[0] if major else None

    def __iter__(self):
        return iter(self.categories.values())

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def public_codes(self) -> tuple[str, ...]:
        """Minor codes of the public categories (in file order).

        Examples
        --------
        >>> cat = load_catalogue()
        >>> "HW01" in cat.public_codes, "MD02" in cat.public_codes
        (True, False)
        """
        return tuple(c.code for c in self if c.public)

    def deadlines(self, code: str, created_at: datetime) -> Deadlines:
        """Due dates of an incident of category ``code`` created at ``created_at``.

        Examples
        --------
        >>> from datetime import datetime, timezone
        >>> cat = load_catalogue()
        >>> d = cat.deadlines("CG01", datetime(2024, 5, 1, 9, tzinfo=timezone.utc))
        >>> d.accept_due.hour, (d.complete_due - d.accept_due).total_seconds() / 3600
        (17, 16.0)
        """
        _check_aware(created_at, "created_at")
        c = self.get(code)
        return Deadlines(
            created_at + timedelta(hours=c.accept_hours), created_at + timedelta(hours=c.complete_hours)
        )


def _read_catalogue(path: str | Path | None) -> tuple[str, dict]:
    """The name and parsed JSON of a catalogue file or of a shipped catalogue."""
    shipped = SHIPPED_CATALOGUES.get(str(path) if path is not None else "grid_duties")
    if shipped is not None:
        # Package data, so an installed geogrid finds it wherever it lives.
        source = resources.files("geogrid") / "data" / shipped
        label = shipped
    else:
        source = Path(str(path))
        label = source.name
    try:
        return label, json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CategoryError(
            f"incident catalogue {path} does not exist (shipped ones: {', '.join(SHIPPED_CATALOGUES)})"
        ) from None
    except json.JSONDecodeError as exc:
        raise CategoryError(f"incident catalogue {path} is not valid JSON: {exc}") from None


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read a category catalogue (JSON; see ``geogrid/data/incident_categories.json``).

    Each major category has ``code``, ``name``, ``name_en``, ``department``, ``public`` and
    ``minors``; each minor ``code``, ``name``, ``name_en`` and optionally ``accept_hours``,
    ``complete_hours``, ``department`` and ``public`` (defaults: the file's ``defaults``, 8 h
    to accept, the major's department and publicity; a major without ``public`` is private).
    Chinese names are unique, so a category can be given by its name as well as its code.

    Parameters
    ----------
    path
        A catalogue file, or the name of a shipped one (:data:`SHIPPED_CATALOGUES`:
        ``grid_duties``, the default, or ``urban``).

    Raises
    ------
    CategoryError
        When the file is missing or malformed (the message names the entry and the field).

    Examples
    --------
    >>> cat = load_catalogue()
    >>> cat.get("MD01").major_name, cat.get("MD01").accept_hours, cat.get("MD01").public
    ('矛盾纠纷', 8.0, False)
    >>> load_catalogue("urban").get("HW01").major_name
    '环境卫生'
    """
    label, raw = _read_catalogue(path)
    p = Path(label)
    defaults = raw.get("defaults") or {}
    d_accept = float(defaults.get("accept_hours", 8))
    d_complete = float(defaults.get("complete_hours", 72))
    categories: dict[str, Category] = {}
    majors: dict[str, tuple[str, str]] = {}
    for i, major in enumerate(raw.get("majors") or []):
        where = f"{p.name}: majors[{i}]"
        for key in ("code", "name", "minors"):
            if not major.get(key):
                raise CategoryError(f"{where} has no {key!r}")
        mcode = str(major["code"])
        if mcode in majors:
            raise CategoryError(f"{where}: duplicate major code {mcode!r}")
        _check_public(major, where)
        majors[mcode] = (major["name"], major.get("name_en", major["name"]))
        for j, minor in enumerate(major["minors"]):
            w = f"{where}.minors[{j}]"
            for key in ("code", "name"):
                if not minor.get(key):
                    raise CategoryError(f"{w} has no {key!r}")
            code = str(minor["code"])
            if code in categories:
                raise CategoryError(f"{w}: duplicate minor code {code!r}")
            accept = float(minor.get("accept_hours", d_accept))
            complete = float(minor.get("complete_hours", d_complete))
            if not 0 < accept <= complete:
                raise CategoryError(
                    f"{w} ({code}): need 0 < accept_hours <= complete_hours, got {accept}, {complete}"
                )
            dept = minor.get("department") or major.get("department")
            if not dept:
                raise CategoryError(f"{w} ({code}): no responsible department")
            _check_public(minor, w)
            categories[code] = Category(
                code=code,
                name=minor["name"],
                name_en=minor.get("name_en", minor["name"]),
                major_code=mcode,
                major_name=major["name"],
                major_name_en=major.get("name_en", major["name"]),
                department=str(dept),
                accept_hours=accept,
                complete_hours=complete,
                public=bool(minor.get("public", major.get("public", False))),
            )
    if not categories:
        raise CategoryError(f"incident catalogue {p} defines no categories")
    _check_unique_names(p.name, categories, majors)
    return Catalogue(categories, majors)


def _check_public(entry: dict, where: str) -> None:
    if "public" in entry and not isinstance(entry["public"], bool):
        raise CategoryError(f"{where}: 'public' must be true or false, got {entry['public']!r}")


def _check_unique_names(
    label: str, categories: dict[str, Category], majors: dict[str, tuple[str, str]]
) -> None:
    # Categories can be given by name: a name meaning two categories would make that ambiguous.
    seen: dict[str, str] = {}
    named = [(code, name) for code, (name, _en) in majors.items()] + [
        (c.code, c.name) for c in categories.values()
    ]
    for code, name in named:
        if name in seen:
            raise CategoryError(f"{label}: categories {seen[name]} and {code} have the same name {name!r}")
        if name in majors or name in categories:
            raise CategoryError(f"{label}: the name of category {code} is also a category code: {name!r}")
        seen[name] = code


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
    _check_aware(now, "now")
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
