"""The month partitions of ``incidents`` (migration ``0013_incidents_by_month``).

Incidents are stored in one partition per calendar month of their report time in China
Standard Time (``incidents_y2026m11`` holds 1 November 00:00 to 1 December 00:00 +08:00);
reports of a month nobody created a partition for go to ``incidents_default``, so an insert
never fails.  :func:`ensure_months` creates the months of a period (moving rows of those months
out of the default partition); imports and the demo call it for the months they load, and
``geogrid db partitions`` creates the coming months ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid.db import load_sql
from geogrid.errors import GeogridError

#: Months :func:`ensure_ahead` creates after the current one unless told otherwise.
AHEAD_MONTHS = 3


@dataclass(frozen=True)
class Partition:
    """One partition of ``incidents``: its table, its range (``None`` for the default
    partition) and its row count as last estimated by ANALYZE (-1: never analysed)."""

    name: str
    start: datetime | None
    end: datetime | None
    rows: int


def ensure_months(bind: Engine | Connection, first: datetime, last: datetime) -> int:
    """Create the month partitions from ``first``'s month to ``last``'s month (China Standard
    Time), each one that is missing; rows of those months in the default partition move in.

    Returns
    -------
    int
        How many partitions were created.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> ensure_months(None, datetime(2026, 2, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc))
    Traceback (most recent call last):
    ...
    geogrid.errors.GeogridError: first (2026-02-01T00:00:00+00:00) is after last (2026-01-01T00:00:00+00:00)
    """
    for name, value in (("first", first), ("last", last)):
        if value.tzinfo is None:
            raise GeogridError(f"{name} must be timezone-aware, got {value.isoformat()}")
    if first > last:
        raise GeogridError(f"first ({first.isoformat()}) is after last ({last.isoformat()})")
    sql = sa.text("SELECT incidents_ensure_months(:first, :last)")
    if isinstance(bind, Connection):
        return int(bind.execute(sql, {"first": first, "last": last}).scalar_one())
    with bind.begin() as conn:
        return int(conn.execute(sql, {"first": first, "last": last}).scalar_one())


def ensure_ahead(engine: Engine, *, months: int = AHEAD_MONTHS, now: datetime | None = None) -> int:
    """Create this month's partition and the next ``months`` (the maintenance step, run
    monthly or at every start); returns how many were created.

    Examples
    --------
    >>> ensure_ahead(None, months=-1)
    Traceback (most recent call last):
    ...
    geogrid.errors.GeogridError: months must be 0..120, got -1
    """
    if not 0 <= months <= 120:
        raise GeogridError(f"months must be 0..120, got {months}")
    with engine.begin() as conn:
        start = now or conn.execute(sa.text("SELECT now()")).scalar_one()
        end = conn.execute(
            sa.text("SELECT CAST(:t AS timestamptz) + make_interval(months => :m)"), {"t": start, "m": months}
        ).scalar_one()
        return ensure_months(conn, start, end)


def partitions(engine: Engine) -> list[Partition]:
    """The partitions of ``incidents`` in time order, the default partition last."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(load_sql("incident_partitions"))).all()
    return [Partition(r.name, r.start, r.end, int(r.rows)) for r in rows]
