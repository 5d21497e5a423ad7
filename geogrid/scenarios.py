"""Seeded household-change scenarios on a plan: growth, decline and relocation (for repairs).

Each scenario takes a plan and its addresses and returns today's addresses after a change that
pushes a chosen share of the grids out of their bounds, as planners see it happen:

- **growth**: new apartment buildings in the grids nearest one corner of the plan (新建小区);
- **decline**: demolition in the grids nearest the opposite corner (拆迁), grids left below the
  lower bound;
- **relocation**: both at once, the demolished households re-housed in the new buildings
  (安置小区), so the total stays the same.

Everything random flows from ``seed``.  Used by tests and ``scripts/bench/bench_repair.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point, box

from geogrid.plans import recount
from geogrid.rules import Rule, resolve_rule

__all__ = ["SCENARIOS", "Scenario", "decline", "growth", "relocation"]


@dataclass
class Scenario:
    """Today's addresses after a change, and the grids it pushed out of bounds."""

    name: str
    addresses: gpd.GeoDataFrame
    over: list[str] = field(default_factory=list)
    under: list[str] = field(default_factory=list)

    @property
    def affected(self) -> list[str]:
        return sorted({*self.over, *self.under})


def _nearest(plan: gpd.GeoDataFrame, corner: str, n: int) -> list[int]:
    """Positions of the ``n`` grids whose centres are nearest a corner of the plan's bounds."""
    west, south, east, north = plan.total_bounds
    x = east if "east" in corner else west
    y = north if "north" in corner else south
    c = shapely.get_coordinates(shapely.centroid(np.asarray(plan.geometry.values, dtype=object)))
    return np.argsort(np.hypot(c[:, 0] - x, c[:, 1] - y), kind="stable")[:n].tolist()


def _count(plan: gpd.GeoDataFrame, share: float) -> int:
    return max(1, round(share * len(plan)))


def _buildings(
    plan: gpd.GeoDataFrame, k: int, households: int, per_building: int, rng: np.random.Generator, tag: str
) -> gpd.GeoDataFrame:
    """New address points inside grid ``k`` holding ``households`` in buildings of at most ``per_building``."""
    sizes = [per_building] * (households // per_building)
    if households % per_building:
        sizes.append(households % per_building)
    grid = plan.geometry.iloc[k]
    pts = gpd.GeoSeries([grid], crs=plan.crs).sample_points(len(sizes), rng=rng).explode(index_parts=False)
    code = str(plan["code"].iloc[k])
    return gpd.GeoDataFrame(
        {
            "address_id": [f"{code}-{tag}{i + 1:03d}" for i in range(len(sizes))],
            "households": sizes,
            "village_code": code[:12],
        },
        geometry=list(pts.values),
        crs=plan.crs,
    )


def _scenario(name: str, plan: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame, rule: Rule) -> Scenario:
    """The scenario with the grids its addresses put above and below the bounds."""
    counted = recount(plan, addresses)
    codes, hh = counted["code"].astype(str), counted["households"]
    return Scenario(name, addresses, over=sorted(codes[hh > rule.hi]), under=sorted(codes[hh < rule.lo]))


def _per_building(rule: Rule) -> int:
    return max(1, rule.lo // 5)


def _example_plan(households: list[int]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The plan and addresses of this module's examples: grids 320508019044001 and …002, two
    100 m squares side by side (UTM 51N), and one address per count in ``households``, evenly
    spread along the line through their middles."""
    crs = "EPSG:32651"
    plan = gpd.GeoDataFrame(
        {"code": ["320508019044001", "320508019044002"]},
        crs=crs,
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
    )
    step = 200 / len(households)
    points = [Point(step * (i + 0.5), 50) for i in range(len(households))]
    ids = [chr(ord("a") + i) for i in range(len(households))]
    return plan, gpd.GeoDataFrame({"address_id": ids, "households": households}, crs=crs, geometry=points)


def growth(
    plan: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    rule: Rule | str | tuple[int, int],
    *,
    share: float = 0.075,
    seed: int = 0,
    corner: str = "northeast",
    households: int | None = None,
) -> Scenario:
    """New buildings in the ``share`` of grids nearest ``corner``, each pushed above the upper bound.

    ``households`` is the number of new households in all (default: each grid gets enough to
    pass the upper bound by up to a quarter of the bounds' width); what the grids need to pass
    the bound comes first, the rest goes to the grid nearest the corner.

    Examples
    --------
    >>> plan, pts = _example_plan([60, 70])  # two grids, one address in each
    >>> s = growth(plan, pts, "rural", share=0.5, seed=1)
    >>> s.over, int(s.addresses.households.sum()) > 130
    (['320508019044002'], True)
    """
    rule = resolve_rule(rule)
    rng = np.random.default_rng(seed)
    counted = recount(plan, addresses)
    new = []
    left = households
    chosen = _nearest(plan, corner, _count(plan, share))
    for k in chosen:
        have = int(counted["households"].iloc[k])
        add = rule.hi - have + 1 + int(rng.integers(0, max(1, (rule.hi - rule.lo) // 4)))
        if left is not None:
            add = min(add, left)
            left -= add
        if add <= 0:
            break
        new.append(_buildings(plan, k, add, _per_building(rule), rng, "N"))
    if left:
        new.append(_buildings(plan, chosen[0], left, _per_building(rule), rng, "R"))
    frame = pd.concat([addresses.to_crs(plan.crs) if plan.crs else addresses, *new], ignore_index=True)
    return _scenario("growth", plan, gpd.GeoDataFrame(frame, geometry="geometry", crs=plan.crs), rule)


def decline(
    plan: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    rule: Rule | str | tuple[int, int],
    *,
    share: float = 0.075,
    seed: int = 0,
    corner: str = "southwest",
) -> Scenario:
    """Demolition in the ``share`` of grids nearest ``corner``: each left below the lower bound.

    Examples
    --------
    >>> plan, pts = _example_plan([20] * 6)  # two grids, six addresses along a line
    >>> decline(plan, pts, (40, 80), share=0.5).under
    ['320508019044001']
    """
    rule = resolve_rule(rule)
    rng = np.random.default_rng(seed)
    pts = addresses.to_crs(plan.crs) if plan.crs and addresses.crs else addresses
    from geogrid.plans import _locate

    where = _locate(plan, pts)
    hh = pts["households"].fillna(0).to_numpy(dtype=np.int64)
    drop: list[int] = []
    for k in _nearest(plan, corner, _count(plan, share)):
        members = rng.permutation(np.flatnonzero(where == k)).tolist()
        have = int(hh[members].sum())
        target = rule.lo - 1 - int(rng.integers(0, max(1, rule.lo // 3)))
        while members and have > target:
            i = members.pop()
            drop.append(i)
            have -= int(hh[i])
    kept = pts.drop(index=pts.index[drop])
    return _scenario("decline", plan, gpd.GeoDataFrame(kept, geometry=pts.geometry.name, crs=pts.crs), rule)


def relocation(
    plan: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    rule: Rule | str | tuple[int, int],
    *,
    share: float = 0.075,
    seed: int = 0,
) -> Scenario:
    """Demolition in the south-west re-housed in new buildings in the north-east (same total).

    Examples
    --------
    >>> plan, pts = _example_plan([20] * 6)  # two grids, six addresses along a line
    >>> s = relocation(plan, pts, (40, 80), share=1.0)
    >>> int(s.addresses.households.sum())
    120
    """
    rule = resolve_rule(rule)
    n = _count(plan, share)
    gone = decline(plan, addresses, rule, share=max(share / 2, 0.5 / len(plan)), seed=seed)
    moved = int(addresses["households"].sum() - gone.addresses["households"].sum())
    grown = growth(
        plan,
        gone.addresses,
        rule,
        share=max(n - len(gone.under), 1) / len(plan),
        seed=seed + 1,
        households=moved,
    )
    return _scenario("relocation", plan, grown.addresses, rule)


#: The scenarios by name.
SCENARIOS = {"growth": growth, "decline": decline, "relocation": relocation}
