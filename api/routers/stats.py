"""Dashboard statistics: acceptance, completion and on-time rates, overdue counts, rankings."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query
from sqlalchemy.engine import Engine

from api.deps import Principal, get_engine, get_settings, require_reader
from api.filters import IncidentFilters, for_audience, get_catalogue, parse_time
from api.names import Names
from api.settings import Settings
from geogrid import incidents as wf
from geogrid.db import incidents as store
from geogrid.times import local_iso

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get(
    "", summary="Workflow statistics grouped by grid, village, township, department, worker or category"
)
def get_stats(
    f: IncidentFilters,
    group_by: str = Query("none", description=f"one of {list(store.STAT_GROUPS)}"),
    period: str = Query("none", description=f"one of {list(store.STAT_PERIODS)}"),
    rank_by: str = Query("on_time_rate", description=f"one of {list(store.RANK_BY)}"),
    at: str | None = Query(None, description="the moment overdue counts refer to (default: now)"),
    principal: Principal = Depends(require_reader),
    engine: Engine = Depends(get_engine),
    catalogue: wf.Catalogue = Depends(get_catalogue),
    settings: Settings = Depends(get_settings),
) -> dict:
    """Anonymous and resident readers count the public categories only; staff keys what their
    scope allows.  Periods are calendar periods in the county's time zone."""
    tz = settings.timezone
    now = parse_time(at, "at", tz) or datetime.now(UTC)
    f = for_audience(f, principal, catalogue)
    rows = store.statistics(
        engine, group_by=group_by, period=period, filters=f, now=now, rank_by=rank_by, tz=tz
    )
    # Ungrouped and unperiodised: one row, or none when nothing matches.
    totals: list[store.StatRow | None] = list(store.statistics(engine, filters=f, now=now, tz=tz)) or [None]
    [summary] = totals
    # Every group gets its Chinese name: a township's, a grid's, a category's...
    coded = group_by in ("grid", "village", "township")
    org = group_by in ("department", "centre")
    keys = [r.key for r in rows]
    names = Names.lookup(engine, catalogue, keys if coded else [], keys if org else [])

    def row(r: store.StatRow) -> dict:
        d = asdict(r)
        d["name"] = names.group(group_by, r.key)
        return d

    return {
        "at": local_iso(now, tz),
        "group_by": group_by,
        "period": period,
        "rank_by": rank_by,
        "summary": asdict(summary) | {"name": names.group("none", summary.key)} if summary else None,
        "rows": [row(r) for r in rows],
    }
