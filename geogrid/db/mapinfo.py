"""What a map page says about itself: the division's name, the plans it shows and the date
of its data (for a title a county leader can put on a screen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.db.incidents import division_prefix
from geogrid.db.plans import PlanInfo, list_plans, scope_prefix

__all__ = ["MapContext", "map_context"]

CHINA = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class MapContext:
    """The division shown (code prefix and name), its published plans and data dates."""

    prefix: str
    name: str
    plans: list[PlanInfo] = field(default_factory=list)
    latest_incident: date | None = None

    @property
    def plan_text(self) -> str:
        """``方案第 3 版 · 2024-05-01 发布``, or a summary when several plans cover the area."""
        if not self.plans:
            return "尚无已发布方案"
        published = [p.published_at for p in self.plans if p.published_at is not None]
        when = max(published).astimezone(CHINA).date().isoformat() if published else None
        if len(self.plans) == 1:
            text = f"方案第 {self.plans[0].version} 版"
        else:
            versions = sorted({p.version for p in self.plans})
            span = f"第 {versions[0]} 版" if len(versions) == 1 else f"第 {versions[0]}–{versions[-1]} 版"
            text = f"{len(self.plans)} 个方案（{span}）"
        return f"{text} · {when} 发布" if when else text


def _name(engine: Engine, prefix: str) -> str:
    """The division's name; a county missing from ``divisions`` is named by its addresses."""
    code = (prefix + "000000")[:12] if len(prefix) < 12 else prefix
    with engine.connect() as conn:
        name = conn.execute(sa.text("SELECT name FROM divisions WHERE code = :c"), {"c": code}).scalar()
        if name is None and len(prefix) == 6:
            name = conn.execute(
                sa.text(
                    "SELECT county FROM addresses WHERE division_code LIKE :p AND county IS NOT NULL "
                    "GROUP BY county ORDER BY count(*) DESC LIMIT 1"
                ),
                {"p": prefix + "%"},
            ).scalar()
        if name is None and len(code) in (15, 17):
            name = conn.execute(
                sa.text("SELECT name FROM grids WHERE code = :c ORDER BY plan_id DESC LIMIT 1"), {"c": code}
            ).scalar()
    return name or code


def map_context(engine: Engine, division: str | None, *, incidents: bool = False) -> MapContext:
    """The name, published plans and (with ``incidents``) the latest incident date of a division.

    ``division`` is a division or grid code (a 6-digit county prefix too); None = everything
    published.

    Examples
    --------
    >>> ctx = map_context(engine, "320508")        # doctest: +SKIP
    >>> ctx.name, ctx.plan_text                    # doctest: +SKIP
    ('姑苏区', '12 个方案（第 1 版） · 2024-05-01 发布')
    """
    prefix = division_prefix(division) if division else ""
    name = _name(engine, prefix) if prefix else "全部已发布网格"
    plans = [
        p
        for p in list_plans(engine)
        if p.status == "published"
        and (scope_prefix(p.scope_code).startswith(prefix) or prefix.startswith(scope_prefix(p.scope_code)))
    ]
    latest = None
    if incidents:
        with engine.connect() as conn:
            newest = conn.execute(
                sa.text(
                    "SELECT max(created_at) FROM incidents "
                    "WHERE status <> 'merged' AND (grid_code LIKE :p OR village_code LIKE :p)"
                ),
                {"p": prefix + "%"},
            ).scalar()
        latest = newest.astimezone(CHINA).date() if isinstance(newest, datetime) else None
    return MapContext(prefix, name, plans, latest)
