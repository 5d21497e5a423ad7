"""The monthly report of a division from PostGIS (the page itself is :mod:`geogrid.report`).

One read of the facts of the last twelve months gives the headline figures, the trend and the
rankings; the overdue list and the grid map come from the incident queries every other page
uses, with the same filters (a key's scope, the public view).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.engine import Engine

from geogrid import evaluation as ev
from geogrid import incidents as wf
from geogrid import report as rp
from geogrid.db.evaluation import evaluate_facts, read_facts, read_units
from geogrid.db.incidents import grid_rates, overdue
from geogrid.db.incidents.filters import NO_FILTERS, Filters
from geogrid.db.incidents.records import Incident, utcnow
from geogrid.db.mapinfo import map_context
from geogrid.db.names import code_names
from geogrid.db.organisation import names_of
from geogrid.times import DEFAULT_TIMEZONE, local_iso

#: The level ranked on a division's report: one level down (a village's report ranks its grids).
CHILD_LEVEL = {6: "township", 9: "village", 12: "grid", 15: "grid", 17: "grid"}


def monthly_report(
    engine: Engine,
    *,
    division: str,
    period: ev.Period,
    catalogue: wf.Catalogue,
    filters: Filters = NO_FILTERS,
    config: ev.EvaluationConfig | None = None,
    now: datetime | None = None,
    tz: str = DEFAULT_TIMEZONE,
    public: bool = False,
    overdue_limit: int = 20,
) -> rp.MonthlyReport:
    """The numbers of ``division``'s report for ``period`` (a month), as ``filters`` allow.

    Examples
    --------
    >>> r = monthly_report(engine, division="320508", period=ev.parse_period("2024-05"),
    ...                    catalogue=wf.load_catalogue())              # doctest: +SKIP
    >>> rp.render(r, assets=asset_urls())                             # doctest: +SKIP
    """
    config = config or ev.load_config()
    now = now or utcnow()
    prefix = wf.division_prefix(division)
    f = replace(filters, division=prefix)
    level = CHILD_LEVEL[len(prefix)]
    with engine.connect() as conn:
        facts = read_facts(conn, period.previous(11).start, period.end, filters=f, now=now, tz=tz)
        units = read_units(conn, level, prefix=prefix, roles=config.worker_roles)
        departments = read_units(conn, "department", prefix=prefix[:6])
    months = [period.previous(n) for n in range(11, -1, -1)]
    per_month = facts.counts("month").to_dict("index")
    empty = dict.fromkeys(ev.COUNTS, 0)
    totals = {p.key: rp.figures(per_month.get(p.key, empty)) for p in months}
    this = facts.only(facts.incidents["month"] == period.key)
    return rp.MonthlyReport(
        division_code=division,
        division_name=map_context(engine, prefix).name,
        period=period,
        generated_at=now.astimezone(period.start.tzinfo),
        headlines=rp.headlines(totals[period.key], totals[months[-2].key]),
        trend=[
            {"label": p.name[2:] if p.key.endswith("-01") else p.name[5:], **totals[p.key]} for p in months
        ],
        unit_level=level,
        units=evaluate_facts(level, period, this, units, config=config, now=now).rows,
        departments=evaluate_facts("department", period, this, departments, config=config, now=now).rows,
        overdue=_overdue(engine, f, catalogue, now, tz, overdue_limit),
        grids=_grid_map(engine, f, period, prefix, now),
        public=public,
        min_cases=config.min_cases,
    )


def _overdue(
    engine: Engine, f: Filters, catalogue: wf.Catalogue, now: datetime, tz: str, limit: int
) -> list[rp.OverdueItem]:
    """The most overdue open incidents now: number, category, grid, who has them, deadline."""
    items = overdue(engine, now=now, filters=f, limit=limit)
    places = code_names(engine, [i.grid_code or i.village_code for i in items])
    holders = names_of(engine, [c for i in items for c in (i.department, i.centre_code)])
    return [
        rp.OverdueItem(
            id=i.public_id,
            category=catalogue.categories[i.category_minor].name
            if i.category_minor in catalogue.categories
            else i.category_minor,
            place=places.get(i.grid_code or i.village_code or "", i.grid_code or ""),
            holder=_holder(i, holders),
            due=(local_iso(_due(i), tz) or "")[:16].replace("T", " "),
            overdue_days=round((now - _due(i)).total_seconds() / 86400, 1),
        )
        for i in items
    ]


def _due(i: Incident) -> datetime:
    return i.accept_due if i.status == "reported" else i.complete_due


def _holder(i: Incident, names: dict[str, str]) -> str:
    if i.department:
        return names.get(i.department, i.department)
    return names.get(i.centre_code or "", i.centre_code or "—")


def _grid_map(engine: Engine, f: Filters, period: ev.Period, prefix: str, now: datetime) -> dict:
    """The division's grids with their incidents of the month per 100 households (GeoJSON)."""
    month = replace(f, division=None, date_from=period.start, date_to=period.end)
    rates = grid_rates(engine, filters=month, division=prefix, now=now)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": g.code,
                "properties": {
                    "name": g.name,
                    "incidents": g.incidents,
                    "per_100_households": g.per_100_households,
                },
                "geometry": g.geometry,
            }
            for g in rates
        ],
    }
