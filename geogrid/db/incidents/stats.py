"""Workflow statistics: acceptance, completion and on-time rates, overdue counts, rankings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid import incidents as wf
from geogrid.db import load_sql
from geogrid.db.incidents.filters import NO_FILTERS, Filters
from geogrid.db.incidents.records import utcnow
from geogrid.errors import GeogridError
from geogrid.times import DEFAULT_TIMEZONE

_STAT_KEYS = {
    "none": "'all'",
    "grid": "i.grid_code",
    "village": "i.village_code",
    "township": "i.township_code",
    "department": "i.department",
    "centre": "i.centre_code",
    "worker": "i.assignee",
    "category": "i.category_major",
    "minor": "i.category_minor",
    "source": "i.source",
}
# Periods are calendar periods in the county's local time (China has one time zone).
_STAT_PERIODS = {
    "none": "'all'",
    "month": "to_char(i.created_at AT TIME ZONE :tz, 'YYYY-MM')",
    "quarter": "to_char(i.created_at AT TIME ZONE :tz, 'YYYY-\"Q\"Q')",
    "year": "to_char(i.created_at AT TIME ZONE :tz, 'YYYY')",
}
STAT_GROUPS = tuple(_STAT_KEYS)
STAT_PERIODS = tuple(_STAT_PERIODS)
LOCAL_TZ = DEFAULT_TIMEZONE

# --- statistics ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatRow:
    """Workflow numbers of one group in one period, with rates and a rank within the period."""

    key: str | None
    period: str
    total: int
    accepted: int
    accepted_on_time: int
    completed: int
    completed_on_time: int
    closed: int
    rejected: int
    accept_overdue: int
    complete_overdue: int
    overdue: int
    acceptance_rate: float | None = None
    completion_rate: float | None = None
    on_time_rate: float | None = None
    rank: int | None = None


RANK_BY = ("on_time_rate", "completion_rate", "acceptance_rate", "total", "overdue")


def statistics(
    engine: Engine,
    *,
    group_by: str = "none",
    period: str = "none",
    filters: Filters = NO_FILTERS,
    now: datetime | None = None,
    rank_by: str = "on_time_rate",
    tz: str = LOCAL_TZ,
) -> list[StatRow]:
    """Acceptance, completion and on-time rates and overdue counts per group and period.

    Parameters
    ----------
    group_by : {"none", "grid", "village", "township", "department", "centre", "worker", "category", "minor", "source"}
        ``worker`` groups by the incident's assignee; ``category`` by major category; ``centre``
        by the 综治中心 whose queue holds the incident.
    period : {"none", "month", "quarter", "year"}
        Calendar periods of the report time in ``tz``.
    filters : Filters
        Which incidents count (merged duplicates never do).
    now : datetime
        The moment overdue counts refer to.
    rank_by : one of :data:`RANK_BY`
        Rank within each period: highest rate or total first; for ``overdue`` fewest first.
        Ties share a rank (competition ranking, "1224").

    Returns
    -------
    list of StatRow
        Ordered by period, then rank.
    """
    if group_by not in _STAT_KEYS:
        raise GeogridError(f"group_by must be one of {list(_STAT_KEYS)}, got {group_by!r}")
    if period not in _STAT_PERIODS:
        raise GeogridError(f"period must be one of {list(_STAT_PERIODS)}, got {period!r}")
    if rank_by not in RANK_BY:
        raise GeogridError(f"rank_by must be one of {list(RANK_BY)}, got {rank_by!r}")
    params: dict[str, Any] = {"now": now or utcnow(), "open_statuses": sorted(wf.OPEN_STATUSES), "tz": tz}
    where = filters.sql(params)
    sql = load_sql("incident_stats").format(
        key=_STAT_KEYS[group_by], period=_STAT_PERIODS[period], where=where
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql), params).all()
    out = [
        StatRow(
            **r._mapping,
            acceptance_rate=wf.rate(r.accepted, r.total),
            completion_rate=wf.rate(r.completed, r.accepted),
            on_time_rate=wf.rate(r.completed_on_time, r.completed),
        )
        for r in rows
    ]
    return rank_rows(out, by=rank_by)


def rank_rows(rows: Iterable[StatRow], *, by: str) -> list[StatRow]:
    """Rank rows within each period by ``by`` (None sorts last; ``overdue``: fewer is better)."""
    from dataclasses import replace

    def value(r: StatRow) -> float:
        v = getattr(r, by)
        if v is None:
            return float("-inf")
        return -float(v) if by == "overdue" else float(v)

    result: list[StatRow] = []
    by_period: dict[str, list[StatRow]] = {}
    for r in rows:
        by_period.setdefault(r.period, []).append(r)
    for p in sorted(by_period):
        group = sorted(by_period[p], key=lambda r: (-value(r), str(r.key)))
        rank, previous = 0, None
        for n, r in enumerate(group, start=1):
            if value(r) != previous:
                rank, previous = n, value(r)
            result.append(replace(r, rank=rank))
    return result
