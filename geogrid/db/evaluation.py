"""Evaluation (考评) over PostGIS: the facts of a period's incidents, the units of a level, their
indicators, scores, ranks and grades (the rules are in :mod:`geogrid.evaluation`).

Three queries read what a period needs (one row per incident, per 吹哨 call and per 督办,
filtered like every incident query, so a key's scope and the public view apply), the roster
gives the grid workers, and pandas counts the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import evaluation as ev
from geogrid import incidents as wf
from geogrid.db import load_sql
from geogrid.db.incidents.filters import NO_FILTERS, Filters
from geogrid.db.incidents.records import utcnow
from geogrid.errors import GeogridError
from geogrid.organisation import load_roles
from geogrid.staff import accounts
from geogrid.times import DEFAULT_TIMEZONE


@dataclass
class Facts:
    """What evaluation reads of the incidents of a time range (see :data:`geogrid.evaluation.FACT_COLUMNS`)."""

    incidents: pd.DataFrame
    calls: pd.DataFrame
    supervisions: pd.DataFrame

    def only(self, keep: pd.Series) -> Facts:
        """The facts of the incidents where ``keep`` (a boolean series over ``incidents``) holds."""
        incidents = self.incidents[keep]
        ids = set(incidents["id"])
        return Facts(
            incidents,
            self.calls[self.calls["id"].isin(ids)],
            self.supervisions[self.supervisions["id"].isin(ids)],
        )

    def counts(self, level: str, units: Units | None = None) -> pd.DataFrame:
        """:func:`geogrid.evaluation.count_indicators` of these facts (``level`` ``all``: totals)."""
        return ev.count_indicators(
            level,
            self.incidents,
            calls=self.calls,
            supervisions=self.supervisions,
            posts=units.posts if units is not None else None,
            reporters=units.reporters if units is not None else None,
        )


def read_facts(
    conn: Connection,
    start: datetime,
    end: datetime,
    *,
    filters: Filters = NO_FILTERS,
    now: datetime | None = None,
    tz: str = DEFAULT_TIMEZONE,
) -> Facts:
    """The facts of the incidents reported in ``[start, end)`` that ``filters`` let through."""
    params: dict[str, Any] = {
        "p_start": start,
        "p_end": end,
        "now": now or utcnow(),
        "open_statuses": sorted(wf.OPEN_STATUSES),
        "tz": tz,
    }
    where = filters.sql(params)

    def frame(name: str, columns: list[str]) -> pd.DataFrame:
        rows = conn.execute(sa.text(load_sql(name).format(where=where)), params).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)

    incidents = frame("evaluation_facts", ["id", "public_id", "grid_code", "village_code", "township_code",
                                           "centre_code", "department", "reporter_key_name", "month",
                                           *ev.FACT_COLUMNS[7:]])  # fmt: skip
    calls = frame("evaluation_calls", ["id", "department", "on_time"])
    supervisions = frame("evaluation_supervisions", ["id", "target_kind", "target_code"])
    return Facts(incidents, calls, supervisions)


@dataclass(frozen=True)
class Units:
    """The units of a level under a division: code → Chinese name, households; and for the
    worker level each person's posts and the names their keys act under."""

    names: dict[str, str]
    households: dict[str, int | None]
    posts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["unit", "post_code"]))
    reporters: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["unit", "key_name"]))


def read_units(conn: Connection, level: str, *, prefix: str = "", roles: tuple[str, ...] = ()) -> Units:
    """Every unit of ``level`` whose code starts with ``prefix`` (workers: posted there)."""
    if level not in ev.LEVELS:
        raise GeogridError(f"level must be one of {list(ev.LEVELS)}, got {level!r}")
    if level == "worker":
        return _workers(conn, prefix, roles)
    rows = conn.execute(sa.text(load_sql("evaluation_units")), {"level": level, "prefix": prefix + "%"}).all()
    return Units(
        {r.unit: r.name for r in rows},
        {r.unit: (int(r.households) if r.households is not None else None) for r in rows},
    )


@dataclass
class _Person:
    """One person of the roster: roles (Chinese names), posts (code → name, households), key names."""

    name: str
    roles: dict[str, None] = field(default_factory=dict)
    posts: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        """``王芳（网格长，东港一网格）``."""
        where = "、".join(dict.fromkeys(name for name, _hh in self.posts.values()))
        return f"{self.name}（{'、'.join(self.roles)}，{where}）"

    @property
    def households(self) -> int | None:
        counted = [hh for _name, hh in self.posts.values() if hh is not None]
        return int(sum(counted)) if counted else None


def _workers(conn: Connection, prefix: str, roles: tuple[str, ...]) -> Units:
    """Grid staff of ``roles`` as persons: ``P<id>`` (their first staff row), named
    ``姓名（网格长，东港一网格）``; their keys' names (issued, or the roster's base name)."""
    rows = conn.execute(
        sa.text(
            "SELECT s.id, s.name, coalesce(s.phone, '') AS phone, s.role, s.post_code, s.key_name, "
            "coalesce(g.name, s.post_code) AS post_name, g.households FROM staff s "
            "LEFT JOIN grids g ON g.code = s.post_code AND g.plan_id IN (SELECT id FROM plans WHERE status = 'published') "
            "WHERE s.post_kind IN ('grid', 'link_group') AND s.role = ANY(CAST(:roles AS text[])) "
            "AND s.post_code LIKE :prefix ORDER BY s.id"
        ),
        {"roles": list(roles), "prefix": prefix + "%"},
    ).all()
    if not rows:
        return Units({}, {})
    role_names = load_roles().names()
    unit_of: dict[tuple[str, str], str] = {}
    people: dict[str, _Person] = {}
    for r in rows:  # ordered by id: a person's unit is their first staff row
        unit = unit_of.setdefault((r.name, r.phone), f"P{r.id}")
        person = people.setdefault(unit, _Person(r.name))
        person.roles[role_names.get(r.role, r.role)] = None
        person.posts[r.post_code] = (r.post_name, r.households)
        if r.key_name:
            person.keys.add(r.key_name)
    staff = pd.DataFrame(
        [(r.name, r.phone, r.role, r.post_code) for r in rows], columns=["name", "phone", "role", "post_code"]
    )
    for a in accounts(staff, load_roles()):
        people[unit_of[(a.name, a.phone)]].keys.add(a.base_name)
    names = {unit: p.label for unit, p in people.items()}
    households = {unit: p.households for unit, p in people.items()}
    posts = [(unit, code) for unit, p in people.items() for code in p.posts]
    reporters = [(unit, k) for unit, p in people.items() for k in sorted(p.keys)]
    return Units(
        names,
        households,
        pd.DataFrame(posts, columns=["unit", "post_code"]),
        pd.DataFrame(reporters, columns=["unit", "key_name"]),
    )


# --- evaluating a level ---------------------------------------------------------------------------------


def scope_prefix(filters: Filters) -> str:
    """The code prefix the units of an evaluation are listed under: the ``division`` filter,
    else the reader's division scope, else everything."""
    if filters.division:
        return wf.division_prefix(filters.division)
    if filters.visible_to is not None and filters.visible_to.division:
        return filters.visible_to.division
    return ""


def evaluate(
    engine: Engine,
    *,
    level: str,
    period: ev.Period,
    filters: Filters = NO_FILTERS,
    config: ev.EvaluationConfig | None = None,
    now: datetime | None = None,
    tz: str = DEFAULT_TIMEZONE,
) -> ev.Evaluation:
    """Indicators, scores, ranks and grades of every unit of ``level`` in ``period``.

    Every unit under the filters' division is listed (those without cases are not graded);
    incidents are those ``filters`` let through (a key's scope, the public view).  ``now`` is
    the moment "overdue now" refers to (default: the current time).

    Examples
    --------
    >>> from geogrid.db import make_engine                       # doctest: +SKIP
    >>> e = evaluate(make_engine(), level="grid", period=ev.parse_period("2024-Q2"))  # doctest: +SKIP
    >>> [(r.name, r.score, r.grade_name) for r in e.rows[:3]]    # doctest: +SKIP
    """
    config = config or ev.load_config()
    now = now or utcnow()
    with engine.connect() as conn:
        facts = read_facts(conn, period.start, period.end, filters=filters, now=now, tz=tz)
        units = read_units(conn, level, prefix=scope_prefix(filters), roles=config.worker_roles)
    return evaluate_facts(level, period, facts, units, config=config, now=now)


def evaluate_facts(
    level: str, period: ev.Period, facts: Facts, units: Units, *, config: ev.EvaluationConfig, now: datetime
) -> ev.Evaluation:
    """:func:`evaluate` on facts and units already read."""
    counts = facts.counts(level, units)
    rows = ev.results(level, counts, names=units.names, households=units.households, config=config)
    return ev.Evaluation(level, period, now, config, rows)
