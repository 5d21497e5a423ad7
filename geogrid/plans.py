"""Planner workflow on plan frames: diffs, edits that keep a plan valid, summary tables.

A *plan* is a GeoDataFrame of grids (see :mod:`geogrid.frames`): ``code``,
``division_code``, ``households``, ``address_count``, geometry, optionally ``blocks``
(the ids of the partition blocks each grid is made of, as :func:`geogrid.partition.partition`
returns them).  Everything here is pure: frames in, new frames out, inputs never mutated,
no database (``geogrid.db.plans`` stores and publishes plans).

Edits (:func:`move_blocks`, :func:`move_addresses`, :func:`split_grid`, :func:`merge_grids`)
refuse with :class:`geogrid.errors.PlanEditError` when the result would break

- contiguity: a touched grid would become multipart, empty, or the moved area does not
  border the receiving grid;
- bounds: a touched grid would end outside the rule's ``[lo, hi]`` (an edit may leave a
  grid that was already outside its bounds outside them, as long as it moves it closer);
- coverage: the area moved must lie inside the plan.

The message names the grid codes, their households and the bound.  ``force=True`` applies
a bounds or contiguity-breaking edit anyway (the refusal becomes the planner's decision).

Geometry is edited in the plan's own CRS so that untouched grids keep their coordinates
bit for bit; pieces smaller than ``1e-9`` of the plan's area (floating-point noise of
overlay operations) are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geogrid.crs import metric_crs_for, planar_crs_for
from geogrid.errors import InfeasibleError, PlanEditError
from geogrid.frames import WGS84
from geogrid.rules import Rule, resolve_rule

if TYPE_CHECKING:
    from geogrid.repair import RepairResult

__all__ = [
    "CHANGES",
    "LEVELS",
    "PlanDiff",
    "SnapResult",
    "addresses_in",
    "at_level",
    "border_blocks",
    "diff_plans",
    "household_histogram",
    "household_table",
    "level_of",
    "merge_grids",
    "movable_blocks",
    "move_addresses",
    "move_blocks",
    "neighbours",
    "plan_totals",
    "recount",
    "repair",
    "snap_to_plan",
    "split_grid",
    "validate_by_division",
]

#: Values of the ``change`` column of a diff frame.
CHANGES = ("added", "removed", "changed", "unchanged")
#: ``plan.attrs`` key under which edits record the codes they retired (never reused silently).
RETIRED_ATTR = "retired_codes"

# Overlay noise: parts and holes smaller than this share of the plan's area are dropped.
_NOISE = 1e-9
# Precision grid (metres) of the overlays that cut and join grids.
_GRID_M = 1e-8
# Vertices of moved areas closer than this share of the plan's diagonal snap onto the grids'.
_SNAP = 1e-7
# Two geometries are "the same" when their symmetric difference is below this share of their area.
_SAME = 1e-6


# --------------------------------------------------------------------------- diff


@dataclass
class PlanDiff:
    """The difference between two plans, every number from one address snapshot.

    Attributes
    ----------
    frame
        One row per grid of either plan at ``level``: ``code`` (the new code; the old one for
        removed grids), ``code_before`` (the old code of a matched grid, else None),
        ``division_code``, ``change`` (one of :data:`CHANGES`), ``level``, then households:

        - ``households_before``: in the old grid's area, ``households_after``: in the new
          grid's area, both counted from the same snapshot (``snapshot`` says which);
        - ``households_out``: of ``households_before``, those not in the grid it became
          (all of them for a removed grid); ``households_in``: of ``households_after``, those
          that were not in it (all of them for an added grid).  So ``after = before - out + in``
          for every matched grid; ``households_moved`` = ``in + out`` of the row;
        - ``households_recorded``: the old plan's own ``households`` column (what was counted
          when it was made) and ``growth = households_before - households_recorded``: housing
          built or demolished since, shown apart from moves.

        Geometry: the new one (the old one for removed grids), EPSG:4326.
    added, removed, changed, unchanged
        Number of grids of each kind.
    households_moved
        Households whose grid changed: from an old grid to a different new grid, each once.
    households_before, households_after, households_in, households_out, growth
        Sums of the frame's columns (``households_before`` over old grids, ``after`` over new).
    entered, left
        Households of the snapshot in the new plan's area but outside the old plan's, and the
        other way round: ``in = moved + entered``, ``out = moved + left``, and
        ``after - before = entered - left``.
    recoded
        ``{old code: new code}`` for grids matched by geometry whose code changed.
    exact
        True when counted from address points, False when estimated from areas (the old
        plan's households spread evenly over each old grid).
    snapshot
        Which households every number counts.
    level
        ``grid`` (15-digit codes) or ``subgrid`` (17 digits): the level the table sums;
        sub-grids are counted inside their parents, never added to them.
    """

    frame: gpd.GeoDataFrame
    added: int
    removed: int
    changed: int
    unchanged: int
    households_moved: int
    recoded: dict[str, str] = field(default_factory=dict)
    exact: bool = False
    households_before: int = 0
    households_after: int = 0
    households_in: int = 0
    households_out: int = 0
    growth: int = 0
    entered: int = 0
    left: int = 0
    snapshot: str = ""
    level: str = "grid"

    def __str__(self) -> str:
        how = "" if self.exact else " (estimated from areas)"
        grown = f"; {self.growth:+d} since the old plan was counted" if self.growth else ""
        edge = (
            f"; {self.entered} entered and {self.left} left the plans' area"
            if self.entered or self.left
            else ""
        )
        return (
            f"{self.added} added, {self.removed} removed, {self.changed} changed, "
            f"{self.unchanged} unchanged {self.level}s; {self.households_moved} households moved{how}; "
            f"households {self.households_before} in the old {self.level}s, {self.households_after} in the new"
            f"{edge}{grown} ({self.snapshot})"
        )

    def summary(self) -> pd.DataFrame:
        """The totals as a table a planner can check against the sums of ``frame``."""
        rows = [
            (
                "grids added / removed / changed / unchanged",
                f"{self.added} / {self.removed} / {self.changed} / {self.unchanged}",
            ),
            ("households in the old grids (sum of households_before)", self.households_before),
            ("households in the new grids (sum of households_after)", self.households_after),
            ("households out of old grids (sum of households_out)", self.households_out),
            ("households into new grids (sum of households_in)", self.households_in),
            ("households moved between grids", self.households_moved),
            ("entered / left the plans' area", f"{self.entered} / {self.left}"),
            ("growth since the old plan was counted (sum of growth)", self.growth),
        ]
        table = pd.DataFrame(rows, columns=["number", "value"])
        table.attrs["level"] = self.level
        table.attrs["snapshot"] = self.snapshot
        return table


def diff_plans(
    old: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    *,
    min_overlap: float = 0.8,
    addresses: gpd.GeoDataFrame | None = None,
    level: str = "grid",
) -> PlanDiff:
    """Compare two plans grid by grid, every household number from one snapshot.

    Grids are matched first by code (same code, overlapping geometry), then, among the
    rest, by geometry: an old and a new grid whose intersection covers at least
    ``min_overlap`` of the larger of the two are the same grid under a new code
    (greedy, best overlap first, one to one).  A matched grid is *unchanged* when its
    geometry (up to floating-point noise) and code are kept, *changed* otherwise; unmatched
    old grids are *removed*, unmatched new ones *added*.

    Parameters
    ----------
    old, new : GeoDataFrame
        Plan frames (``code``, ``households``, geometry), any CRS.
    min_overlap : float
        Share of the larger grid two grids must overlap to match without a common code.
    addresses : GeoDataFrame, optional
        The snapshot: address points with ``households``; every grid's households before and
        after and every flow are counted from them.  Without them the snapshot is the old
        plan's ``households``, spread evenly over each old grid's area (an estimate).
    level : {"grid", "subgrid"}
        Which grids to compare: 15-digit grids (and grids without a code) or 17-digit sub-grids.

    Returns
    -------
    PlanDiff
        The table (``frame``) and its totals, which are the sums of the table.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> old = gpd.GeoDataFrame({"code": ["a", "b"], "households": [60, 60]},
    ...                        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:32651")
    >>> new = gpd.GeoDataFrame({"code": ["a", "b"], "households": [90, 30]},
    ...                        geometry=[box(0, 0, 1.5, 1), box(1.5, 0, 2, 1)], crs="EPSG:32651")
    >>> d = diff_plans(old, new)
    >>> (d.changed, d.unchanged, d.households_moved)
    (2, 0, 30)
    >>> d.frame[["households_before", "households_out", "households_in", "households_after"]].values.tolist()
    [[60, 0, 30, 90], [60, 30, 0, 30]]
    """
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}")
    _require(old, "old plan")
    _require(new, "new plan")
    old, new = at_level(old, level), at_level(new, level)
    metric = metric_crs_for(pd.concat([_to_wgs84(old).geometry, _to_wgs84(new).geometry]))
    og = np.asarray(old.geometry.to_crs(metric).values if old.crs else old.geometry.values, dtype=object)
    ng = np.asarray(new.geometry.to_crs(metric).values if new.crs else new.geometry.values, dtype=object)
    pairs = _overlaps(og, ng)
    match_old, match_new = _match(old, new, og, ng, pairs, min_overlap)
    if addresses is not None:
        flows, exact, snapshot = _address_flows(old, new, addresses), True, _snapshot_name(addresses)
    else:
        flows, exact = _area_flows(_households(old), og, pairs), False
        snapshot = "the old plan's households, spread evenly over each old grid's area"
    table = _diff_table(old, new, og, ng, match_old, match_new, flows)
    return _plan_diff(
        table, old, new, match_new, flows, match_old, exact=exact, snapshot=snapshot, level=level
    )


#: Levels a diff or a table sums: 15-digit grids, 17-digit sub-grids.
LEVELS = {"grid": 15, "subgrid": 17}


def level_of(codes: pd.Series) -> pd.Series:
    """``grid`` or ``subgrid`` per code (a missing code is a grid not yet coded).

    Examples
    --------
    >>> level_of(pd.Series(["320508019044003", "32050801904400301", None])).tolist()
    ['grid', 'subgrid', 'grid']
    """
    return pd.Series(
        ["subgrid" if isinstance(c, str) and len(c) == LEVELS["subgrid"] else "grid" for c in codes],
        index=codes.index,
    )


def at_level(plan: gpd.GeoDataFrame, level: str = "grid") -> gpd.GeoDataFrame:
    """The rows of ``plan`` at ``level`` (see :data:`LEVELS`), index reset.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> plan = gpd.GeoDataFrame({"code": ["320508019044001", "32050801904400101"]},
    ...                         geometry=[box(0, 0, 1, 1), box(0, 0, 1, 1)])
    >>> at_level(plan, "subgrid")["code"].tolist()
    ['32050801904400101']
    """
    if "code" not in plan:
        return plan.reset_index(drop=True)
    return plan[(level_of(plan["code"]) == level).to_numpy()].reset_index(drop=True)


def _snapshot_name(addresses: gpd.GeoDataFrame) -> str:
    hh = addresses["households"].fillna(0).sum() if "households" in addresses else len(addresses)
    return f"addresses given: {len(addresses)} points, {int(hh)} households"


def _overlaps(og: np.ndarray, ng: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(old index, new index, overlap area) of every pair of grids sharing area."""
    oi, ni = shapely.STRtree(ng).query(og, predicate="intersects")
    inter = shapely.area(shapely.intersection(og[oi], ng[ni]))
    keep = inter > 0
    return oi[keep], ni[keep], inter[keep]


def _match(
    old, new, og: np.ndarray, ng: np.ndarray, pairs, min_overlap: float
) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of old and new grids: same code first, then by overlap share."""
    oi, ni, inter = pairs
    ocode = old["code"].astype(object).to_numpy()
    ncode = new["code"].astype(object).to_numpy()
    match_old = np.full(len(old), -1)
    match_new = np.full(len(new), -1)
    for i, j in zip(oi, ni, strict=True):
        if ocode[i] is not None and ocode[i] == ncode[j] and match_old[i] < 0 and match_new[j] < 0:
            match_old[i], match_new[j] = j, i
    share = inter / np.maximum(shapely.area(og)[oi], shapely.area(ng)[ni])
    for p in np.argsort(-share, kind="stable"):
        i, j = oi[p], ni[p]
        if share[p] < min_overlap:
            break
        if match_old[i] < 0 and match_new[j] < 0:
            match_old[i], match_new[j] = j, i
    return match_old, match_new


def _area_flows(ohh: np.ndarray, og: np.ndarray, pairs) -> dict[tuple[int, int], float]:
    """Estimated flows: each old grid's households spread evenly over its area."""
    oi, ni, inter = pairs
    oarea = shapely.area(og)
    flows: dict[tuple[int, int], float] = {}
    for i, j, a in zip(oi, ni, inter, strict=True):
        flows[(int(i), int(j))] = ohh[i] * a / oarea[i] if oarea[i] > 0 else 0.0
    # Households of an old grid in no new grid left the plans' area.
    for i in range(len(og)):
        rest = ohh[i] - sum(h for (a, _), h in flows.items() if a == i)
        if rest > 1e-9:
            flows[(i, -1)] = rest
    return flows


def _diff_table(old, new, og, ng, match_old, match_new, flows) -> pd.DataFrame:
    """Households before/after, in/out per grid of either plan (rounded; the totals sum these)."""
    before = np.zeros(len(old))
    after = np.zeros(len(new))
    stayed = np.zeros(len(old))
    for (i, j), h in flows.items():
        if i >= 0:
            before[i] += h
        if j >= 0:
            after[j] += h
        if i >= 0 and j >= 0 and match_old[i] == j:
            stayed[i] += h
    before_r, after_r, stayed_r = np.rint(before), np.rint(after), np.rint(stayed)
    recorded = _households(old)
    ocode = old["code"].astype(object).to_numpy()
    ncode = new["code"].astype(object).to_numpy()
    rows: list[dict[str, Any]] = []
    for j in range(len(new)):
        i = match_new[j]
        if i < 0:
            rows.append(_diff_row(new, j, ncode[j], None, "added", 0, after_r[j], after_r[j], 0, None))
            continue
        same = ocode[i] == ncode[j] and _same_geometry(og[i], ng[j])
        st = stayed_r[i]
        row = _diff_row(
            new,
            j,
            ncode[j],
            ocode[i],
            "unchanged" if same else "changed",
            before_r[i],
            after_r[j],
            after_r[j] - st,
            before_r[i] - st,
            recorded[i],
        )
        rows.append(row)
    for i in np.flatnonzero(match_old < 0):
        rows.append(
            _diff_row(old, i, ocode[i], ocode[i], "removed", before_r[i], 0, 0, before_r[i], recorded[i])
        )
    return pd.DataFrame(rows)


def _same_geometry(a, b) -> bool:
    sym = shapely.area(shapely.symmetric_difference(a, b))
    return bool(sym <= _SAME * max(shapely.area(a), shapely.area(b)))


def _diff_row(plan, k, code, code_before, change, before, after, hin, hout, recorded) -> dict[str, Any]:
    return {
        "code": code,
        "code_before": code_before,
        "division_code": plan["division_code"].iloc[k] if "division_code" in plan else None,
        "change": change,
        "households_recorded": None if recorded is None else int(recorded),
        "households_before": int(before),
        "households_out": int(hout),
        "households_in": int(hin),
        "households_after": int(after),
        "households_moved": int(hin + hout),
        "growth": None if recorded is None else int(before) - int(recorded),
        "_pos": k,
    }


def _plan_diff(table, old, new, match_new, flows, match_old, *, exact, snapshot, level) -> PlanDiff:
    """The diff frame (with geometry, sorted) and its totals, each the sum of a column."""
    geoms_new = np.asarray(_to_wgs84(new).geometry.values, dtype=object)
    geoms_old = np.asarray(_to_wgs84(old).geometry.values, dtype=object)
    if len(table):
        table["geometry"] = [
            geoms_old[p] if c == "removed" else geoms_new[p]
            for c, p in zip(table["change"], table["_pos"], strict=True)
        ]
    else:
        table = pd.DataFrame(columns=[*_DIFF_COLUMNS, "geometry"])
    table.insert(4, "level", level)
    frame = gpd.GeoDataFrame(table.drop(columns="_pos", errors="ignore"), geometry="geometry", crs=WGS84)
    for column in ("households_recorded", "growth"):  # missing for added grids: whole numbers still
        frame[column] = pd.array(frame[column], dtype="Int64")
    order = {c: k for k, c in enumerate(("removed", "added", "changed", "unchanged"))}
    frame = frame.sort_values(["change", "code"], key=lambda s: s.map(order) if s.name == "change" else s)
    frame = frame.reset_index(drop=True)
    counts = frame["change"].value_counts()
    recoded = {
        str(r.code_before): str(r.code)
        for r in frame.itertuples()
        if r.change in ("changed", "unchanged") and r.code_before != r.code
    }
    moved = sum(h for (i, j), h in flows.items() if i >= 0 and j >= 0 and match_old[i] != j)
    entered = sum(h for (i, j), h in flows.items() if i < 0 <= j)
    left = sum(h for (i, j), h in flows.items() if j < 0 <= i)
    old_rows = frame["change"] != "added"
    return PlanDiff(
        frame=frame,
        added=int(counts.get("added", 0)),
        removed=int(counts.get("removed", 0)),
        changed=int(counts.get("changed", 0)),
        unchanged=int(counts.get("unchanged", 0)),
        households_moved=round(float(moved)),
        recoded=recoded,
        exact=exact,
        households_before=int(frame.loc[old_rows, "households_before"].sum()),
        households_after=int(frame["households_after"].sum()),
        households_in=int(frame["households_in"].sum()),
        households_out=int(frame["households_out"].sum()),
        growth=int(pd.to_numeric(frame["growth"]).fillna(0).sum()),
        entered=round(float(entered)),
        left=round(float(left)),
        snapshot=snapshot,
        level=level,
    )


_DIFF_COLUMNS = (
    "code",
    "code_before",
    "division_code",
    "change",
    "households_recorded",
    "households_before",
    "households_out",
    "households_in",
    "households_after",
    "households_moved",
    "growth",
)


def _address_flows(old, new, addresses) -> dict[tuple[int, int], float]:
    """``{(old grid index, new grid index): households}``; -1 for an address outside a plan."""
    hh = addresses["households"].fillna(0).to_numpy(dtype=float)
    before = _locate(old, addresses)
    after = _locate(new, addresses)
    flows: dict[tuple[int, int], float] = {}
    for i, j, h in zip(before, after, hh, strict=True):
        if i < 0 and j < 0:
            continue
        flows[(int(i), int(j))] = flows.get((int(i), int(j)), 0.0) + h
    return flows


def _locate(plan: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> np.ndarray:
    """Index (position) of the grid each point lies in, -1 outside; a boundary point takes the first grid."""
    pts = points.geometry
    if plan.crs is not None and pts.crs is not None and pts.crs != plan.crs:
        pts = pts.to_crs(plan.crs)
    pts = np.asarray(pts.values, dtype=object)
    tree = shapely.STRtree(np.asarray(plan.geometry.values, dtype=object))
    pi, gi = tree.query(pts, predicate="intersects")
    where = np.full(len(pts), -1)
    # Reverse order so that the first grid (lowest position) wins for boundary points.
    where[pi[::-1]] = gi[::-1]
    return where


# --------------------------------------------------------------------------- tables


def household_table(
    plan: gpd.GeoDataFrame, rule: Rule | str | tuple[int, int], *, level: str = "grid"
) -> pd.DataFrame:
    """Households per grid of one level against the rule: ``code``, ``level``, ``households``, ``status``.

    Only the grids of ``level`` are listed (``grid``: 15-digit codes, ``subgrid``: 17), so the
    column sums one level: sub-grids are inside their parents, never added to them.
    ``status`` is ``below``, ``within`` or ``above`` the rule's bounds; ``division_code``
    and ``address_count`` are included when the plan has them.  Sorted by code.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> plan = gpd.GeoDataFrame({"code": ["b", "a"], "households": [120, 70]},
    ...                         geometry=[box(1, 0, 2, 1), box(0, 0, 1, 1)])
    >>> household_table(plan, "rural").to_dict("list")
    {'code': ['a', 'b'], 'level': ['grid', 'grid'], 'households': [70, 120], 'status': ['within', 'above']}
    """
    rule = resolve_rule(rule)
    if level not in LEVELS:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}")
    plan = at_level(plan, level)
    hh = _households(plan)
    table = pd.DataFrame({"code": plan["code"].to_numpy(), "level": level, "households": hh})
    for column in ("division_code", "address_count"):
        if column in plan:
            table[column] = plan[column].to_numpy()
    table["status"] = np.where(hh < rule.lo, "below", np.where(hh > rule.hi, "above", "within"))
    table.attrs["level"] = level
    return table.sort_values("code", kind="stable").reset_index(drop=True)


def plan_totals(plan: gpd.GeoDataFrame) -> pd.DataFrame:
    """Grids and households per level, each level summed on its own.

    The plan's households are the ``grid`` row: sub-grids are counted inside their parents,
    never added, so a plan holds the same households with or without its sub-grids.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> v = "320508019044"
    >>> plan = gpd.GeoDataFrame({"code": [v + "001", v + "00101", v + "00102"], "households": [70, 30, 40]},
    ...                         geometry=[box(0, 0, 2, 1), box(0, 0, 1, 1), box(1, 0, 2, 1)])
    >>> plan_totals(plan).values.tolist()
    [['grid', 1, 70], ['subgrid', 2, 70]]
    """
    levels = level_of(plan["code"]) if "code" in plan else pd.Series(["grid"] * len(plan), index=plan.index)
    hh = pd.Series(_households(plan), index=plan.index)
    rows = [
        (lv, int((levels == lv).sum()), int(hh[levels == lv].sum())) for lv in LEVELS if (levels == lv).any()
    ]
    return pd.DataFrame(rows, columns=["level", "grids", "households"])


def household_histogram(
    plan: gpd.GeoDataFrame,
    rule: Rule | str | tuple[int, int],
    *,
    ax=None,
    bins: int | Sequence[float] | None = None,
):
    """Histogram of households per grid with the rule's bounds drawn; returns the Axes.

    The band ``[lo, hi]`` is shaded, grids below and above it are counted in the legend.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> plan = gpd.GeoDataFrame({"code": ["a", "b"], "households": [70, 120]},
    ...                         geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)])
    >>> ax = household_histogram(plan, "rural")
    >>> ax.get_xlabel()
    'households per grid'
    """
    import matplotlib.pyplot as plt  # lazily: only this function draws

    rule = resolve_rule(rule)
    table = household_table(plan, rule)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    hh = table["households"].to_numpy()
    if bins is None:
        span = max(int(hh.max(initial=rule.hi)), rule.hi) - min(int(hh.min(initial=rule.lo)), rule.lo)
        bins = max(10, min(40, span // max(1, (rule.hi - rule.lo) // 10) + 1))
    ax.hist(hh, bins=bins, color="#4575b4", edgecolor="white")
    ax.axvspan(
        rule.lo, rule.hi, color="#1a9850", alpha=0.12, label=f"{rule.name} bounds [{rule.lo}, {rule.hi}]"
    )
    for bound in (rule.lo, rule.hi):
        ax.axvline(bound, color="#1a9850", linestyle="--", linewidth=1.2)
    counts = table["status"].value_counts()
    ax.plot(
        [], [], " ", label=f"{counts.get('below', 0)} below, {counts.get('above', 0)} above of {len(table)}"
    )
    ax.set_xlabel("households per grid")
    ax.set_ylabel("grids")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def recount(plan: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy of ``plan`` with ``households`` and ``address_count`` counted from ``addresses``.

    Each address point counts in the grid containing it (a point on a shared boundary in
    the first such grid).  Use it after new housing is added or buildings are demolished.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> plan = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)])
    >>> pts = gpd.GeoDataFrame({"households": [3, 4, 5]},
    ...                        geometry=[Point(0.5, 0.5), Point(0.2, 0.2), Point(1.5, 0.5)])
    >>> recount(plan, pts)[["households", "address_count"]].to_dict("list")
    {'households': [7, 5], 'address_count': [2, 1]}
    """
    out = plan.copy()
    where = _locate(out, addresses)
    hh = addresses["households"].fillna(0).to_numpy(dtype=np.int64)
    inside = where >= 0
    out["households"] = np.bincount(where[inside], weights=hh[inside], minlength=len(out)).astype(np.int64)
    out["address_count"] = np.bincount(where[inside], minlength=len(out)).astype(np.int64)
    return out


def validate_by_division(
    plan: gpd.GeoDataFrame,
    divisions: gpd.GeoDataFrame,
    *,
    rule: Rule | str | tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Validate each village's grids against that village (and its rule); one row per village.

    A county-wide check against the union of all villages would measure every village in
    one metric CRS and report the sub-millimetre re-projection differences of their shared
    edges; each village is partitioned in its own, so it is checked in its own.  Without
    ``rule`` each village's ``kind`` (urban/rural) gives it.

    Returns
    -------
    DataFrame
        ``division_code``, ``rule``, ``grids``, ``households``, ``ok``, ``issues`` (counts per kind).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> v = "320508019044"
    >>> villages = gpd.GeoDataFrame({"code": [v], "kind": ["rural"]}, geometry=[box(0, 0, 2, 1)], crs=32651)
    >>> plan = gpd.GeoDataFrame({"code": [v + "001", v + "002"], "division_code": [v] * 2,
    ...                          "households": [60, 120]},
    ...                         geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=32651)
    >>> validate_by_division(plan, villages)[["rule", "ok", "issues"]].values.tolist()
    [['rural [50, 100]', False, 'households: 1']]
    """
    from geogrid.validate import validate  # lazily: validation pulls in the partition machinery

    rows = []
    for code, grids in plan.groupby("division_code", sort=True):
        parent = divisions[divisions["code"] == code]
        if parent.empty:
            raise PlanEditError(f"grids of division {code} but no such division among the divisions given")
        r = resolve_rule(rule if rule is not None else str(parent["kind"].iloc[0]))
        report = validate(grids, parent=parent, rule=r)
        rows.append(
            {
                "division_code": code,
                "rule": f"{r.name} [{r.lo}, {r.hi}]",
                "grids": len(grids),
                "households": int(_households(at_level(grids)).sum()),
                "ok": report.ok,
                "issues": "; ".join(f"{kind}: {n}" for kind, n in sorted(report.counts().items())),
            }
        )
    return pd.DataFrame(rows, columns=["division_code", "rule", "grids", "households", "ok", "issues"])


# --------------------------------------------------------------------------- neighbours


def neighbours(plan: gpd.GeoDataFrame, code: str, *, same_division: bool = True) -> list[str]:
    """Codes of the grids sharing a boundary line (not just a point) with grid ``code``.

    With ``same_division`` (default) only grids of the same village count, the ones an
    edit may exchange area with.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> plan = gpd.GeoDataFrame({"code": ["a", "b", "c"]},
    ...                         geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 1, 3, 2)])
    >>> neighbours(plan, "a"), neighbours(plan, "b")
    (['b'], ['a'])
    """
    k = _position(plan, code)
    geoms = np.asarray(plan.geometry.values, dtype=object)
    me = geoms[k]
    tol = _noise_length(plan)
    hits = shapely.STRtree(geoms).query(me, predicate="intersects")
    found = []
    division = plan["division_code"].to_numpy() if same_division and "division_code" in plan else None
    for j in hits:
        if j == k or (division is not None and division[j] != division[k]):
            continue
        if shapely.length(shapely.intersection(me.boundary, geoms[j].boundary)) > tol:
            found.append(str(plan["code"].iloc[j]))
    return sorted(found)


def border_blocks(
    plan: gpd.GeoDataFrame, blocks: gpd.GeoDataFrame, from_code: str, to_code: str
) -> list[int]:
    """Ids of the blocks of grid ``from_code`` that share a boundary line with grid ``to_code``.

    These are the blocks that :func:`move_blocks` can hand over without breaking contiguity
    of the receiving grid (the giving grid may still be cut in two: the edit checks).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> plan = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[box(0, 0, 2, 1), box(2, 0, 3, 1)])
    >>> blocks = gpd.GeoDataFrame({"block_id": [0, 1, 2]},
    ...                           geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)])
    >>> border_blocks(plan, blocks, "a", "b")
    [1]
    """
    blocks = _with_block_ids(blocks)
    if plan.crs is not None and blocks.crs is not None and blocks.crs != plan.crs:
        blocks = blocks.to_crs(plan.crs)
    src = plan.geometry.iloc[_position(plan, from_code)]
    dst = plan.geometry.iloc[_position(plan, to_code)]
    tol = _noise_length(plan)
    area_tol = _noise_area(plan)
    ids = []
    for bid, geom in zip(blocks["block_id"], blocks.geometry, strict=True):
        piece = shapely.intersection(geom, src)
        if shapely.area(piece) <= area_tol:
            continue
        if shapely.length(shapely.intersection(piece.boundary, dst.boundary)) > tol:
            ids.append(int(bid))
    return sorted(ids)


def addresses_in(plan: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame, code: str) -> gpd.GeoDataFrame:
    """The addresses lying in grid ``code`` (a point on a shared boundary counts in the first grid).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> plan = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)])
    >>> pts = gpd.GeoDataFrame({"address_id": ["p", "q"]}, geometry=[Point(0.5, 0.5), Point(1.5, 0.5)])
    >>> list(addresses_in(plan, pts, "b")["address_id"])
    ['q']
    """
    return addresses[_locate(plan, addresses) == _position(plan, code)]


def movable_blocks(
    plan: gpd.GeoDataFrame,
    blocks: gpd.GeoDataFrame,
    *,
    rule: Rule | str | tuple[int, int],
    addresses: gpd.GeoDataFrame | None = None,
    codes: Iterable[str] | None = None,
    min_households: int = 1,
) -> pd.DataFrame:
    """Single-block moves between neighbouring grids that :func:`move_blocks` would accept.

    Every block of a grid in ``codes`` (default: all grids) that borders a neighbouring grid
    of its village is tried; the moves that keep both grids contiguous and within bounds and
    carry at least ``min_households`` households are listed, the most balancing first
    (smallest spread of the two grids' households after the move).

    Returns
    -------
    DataFrame
        ``block_id``, ``from_code``, ``to_code``, ``households_moved``, ``from_households``,
        ``to_households`` (after the move).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> plan = gpd.GeoDataFrame({"code": ["a", "b"], "households": [90, 60]},
    ...                         geometry=[box(0, 0, 3, 1), box(3, 0, 5, 1)], crs="EPSG:32651")
    >>> blocks = gpd.GeoDataFrame({"block_id": range(5), "households": [30] * 5},
    ...                           geometry=[box(x, 0, x + 1, 1) for x in range(5)], crs="EPSG:32651")
    >>> movable_blocks(plan, blocks, rule="rural")[["block_id", "from_code", "to_code"]].values.tolist()
    [[2, 'a', 'b']]
    """
    rule = resolve_rule(rule)
    rows = []
    before = dict(zip(plan["code"], _households(plan), strict=True))
    for code in plan["code"] if codes is None else codes:
        for other in neighbours(plan, code):
            for block in border_blocks(plan, blocks, code, other):
                try:
                    moved = move_blocks(plan, blocks, [block], other, rule=rule, addresses=addresses)
                except PlanEditError:
                    continue
                after = dict(zip(moved["code"], moved["households"], strict=True))
                if before[code] - after[code] < min_households:
                    continue
                rows.append(
                    {
                        "block_id": block,
                        "from_code": code,
                        "to_code": other,
                        "households_moved": int(before[code] - after[code]),
                        "from_households": int(after[code]),
                        "to_households": int(after[other]),
                    }
                )
    columns = ["block_id", "from_code", "to_code", "households_moved", "from_households", "to_households"]
    table = pd.DataFrame(rows, columns=columns)
    spread = (table["from_households"] - table["to_households"]).abs()
    return (
        table.assign(_spread=spread)
        .sort_values(["_spread", "block_id"], kind="stable")
        .drop(columns="_spread")
        .reset_index(drop=True)
    )


# --------------------------------------------------------------------------- edits


def move_blocks(
    plan: gpd.GeoDataFrame,
    blocks: gpd.GeoDataFrame,
    block_ids: Iterable[int],
    to_code: str,
    *,
    rule: Rule | str | tuple[int, int],
    addresses: gpd.GeoDataFrame | None = None,
    force: bool = False,
) -> gpd.GeoDataFrame:
    """Move street blocks from their grid(s) to the neighbouring grid ``to_code``.

    The part of each block that lies in another grid of the plan is cut from that grid and
    added to ``to_code``; when the plan has a ``blocks`` column its member lists follow.
    Households are recounted from ``addresses`` when given, else taken from the blocks'
    ``households`` column (a block's households go with the grid holding most of it).

    Parameters
    ----------
    plan : GeoDataFrame
        The plan (not modified).
    blocks : GeoDataFrame
        Blocks with ``block_id`` (else the index is the id), geometry in any CRS, optionally
        ``households`` and ``address_count`` (e.g. ``PartitionResult.blocks``).
    block_ids : iterable of int
        Blocks to move.
    to_code : str
        The receiving grid.
    rule : Rule, str or (lo, hi)
        Household bounds the touched grids must respect.
    addresses : GeoDataFrame, optional
        Address points with ``households`` to recount the touched grids.
    force : bool
        Apply even if the result breaks bounds or contiguity.

    Returns
    -------
    GeoDataFrame
        A new plan.

    Raises
    ------
    PlanEditError
        Unknown grid or blocks, nothing to move, or (unless ``force``) a touched grid would be
        multipart, empty or outside the bounds.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> plan = gpd.GeoDataFrame({"code": ["a", "b"], "households": [90, 60]},
    ...                         geometry=[box(0, 0, 3, 1), box(3, 0, 5, 1)], crs="EPSG:32651")
    >>> blocks = gpd.GeoDataFrame({"block_id": range(5), "households": [30] * 5},
    ...                           geometry=[box(x, 0, x + 1, 1) for x in range(5)], crs="EPSG:32651")
    >>> out = move_blocks(plan, blocks, [2], "b", rule="rural")
    >>> list(out["households"]), out.geometry.iloc[1].bounds
    ([60, 90], (2.0, 0.0, 5.0, 1.0))
    """
    rule = resolve_rule(rule)
    _require(plan, "plan")
    target = _position(plan, to_code)
    blocks = _with_block_ids(blocks)
    wanted = _unique(block_ids)
    known = set(blocks["block_id"].tolist())
    unknown = [b for b in wanted if b not in known]
    if unknown:
        raise PlanEditError(f"unknown block ids {_fmt_list(unknown)}")
    if not wanted:
        raise PlanEditError("no blocks given to move")
    chosen = blocks[blocks["block_id"].isin(wanted)]
    metric = _Metric.of(plan)
    region = shapely.union_all(metric.geoms(chosen))
    what = f"moving block{'s' if len(wanted) > 1 else ''} {_fmt_list(wanted)} to {to_code}"

    delta: dict[int, tuple[int, int]] | None = None
    if addresses is None:
        if "households" not in blocks:
            raise PlanEditError(
                f"{what}: give addresses or a blocks frame with households to recount the grids"
            )
        # Each block's households leave the grid that holds most of the block.
        geoms = metric.geoms(plan)
        delta = {}
        has_count = "address_count" in blocks
        for block, block_geom in zip(chosen.itertuples(), metric.geoms(chosen), strict=True):
            shares = shapely.area(shapely.intersection(geoms, block_geom))
            owner = int(np.argmax(shares))
            if shares[owner] <= 0 or owner == target:
                continue
            hh, n = delta.get(owner, (0, 0))
            delta[owner] = (
                hh + int(block.households),
                n + (int(block.address_count) if has_count else 0),
            )
    out = _move_region(
        plan, metric, region, target, rule=rule, what=what, addresses=addresses, delta=delta, force=force
    )
    if "blocks" in out:
        moved = set(wanted)
        out["blocks"] = [
            sorted(set(members) | moved) if code == to_code else [b for b in members if b not in moved]
            for code, members in zip(out["code"], out["blocks"], strict=True)
        ]
    return out


def move_addresses(
    plan: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    address_ids: Iterable[str],
    to_code: str,
    *,
    rule: Rule | str | tuple[int, int],
    blocks: gpd.GeoDataFrame | None = None,
    force: bool = False,
) -> gpd.GeoDataFrame:
    """Move address points, with the area around them, to the neighbouring grid ``to_code``.

    Without ``blocks`` the area that moves is each address's share of its grid: its
    Voronoi cell among the addresses of that grid, clipped to the grid (addresses at the
    same point move together).  With ``blocks`` the whole blocks containing the addresses
    move (see :func:`move_blocks`; other addresses in those blocks move with them).
    Households of the touched grids are recounted from ``addresses``.

    Parameters
    ----------
    plan : GeoDataFrame
        The plan (not modified).
    addresses : GeoDataFrame
        All address points of the plan's area: ``address_id``, ``households``, geometry.
    address_ids : iterable of str
        Addresses to move.
    to_code : str
        The receiving grid; the moved area must border it.
    rule : Rule, str or (lo, hi)
        Household bounds the touched grids must respect.
    blocks : GeoDataFrame, optional
        Move the blocks containing the addresses instead of their Voronoi shares.
    force : bool
        Apply even if the result breaks bounds or contiguity.

    Returns
    -------
    GeoDataFrame
        A new plan.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> plan = gpd.GeoDataFrame({"code": ["a", "b"], "households": [90, 60]},
    ...                         geometry=[box(0, 0, 3, 1), box(3, 0, 5, 1)], crs="EPSG:32651")
    >>> addresses = gpd.GeoDataFrame({"address_id": list("pqrst"), "households": [30] * 5},
    ...                              geometry=[Point(x + 0.5, 0.5) for x in range(5)], crs="EPSG:32651")
    >>> out = move_addresses(plan, addresses, ["r"], "b", rule="rural")
    >>> list(out["households"]), round(float(out.area.iloc[1]), 6)
    ([60, 90], 3.0)
    """
    rule = resolve_rule(rule)
    _require(plan, "plan")
    target = _position(plan, to_code)
    ids = [str(a) for a in _unique(address_ids)]
    if not ids:
        raise PlanEditError("no addresses given to move")
    if "address_id" not in addresses:
        raise PlanEditError("addresses need an address_id column")
    pts = addresses if addresses.crs is None or plan.crs is None else addresses.to_crs(plan.crs)
    known = pts["address_id"].astype(str)
    unknown = sorted(set(ids) - set(known))
    if unknown:
        raise PlanEditError(f"unknown address ids {_fmt_list(unknown)}")
    what = f"moving address{'es' if len(ids) > 1 else ''} {_fmt_list(ids)} to {to_code}"
    metric = _Metric.of(plan)
    if blocks is not None:
        blocks_in = _with_block_ids(blocks)
        chosen_pts = metric.geoms(pts[known.isin(ids).to_numpy()])
        tree = shapely.STRtree(metric.geoms(blocks_in))
        _, bi = tree.query(chosen_pts, predicate="intersects")
        block_ids = sorted({int(blocks_in["block_id"].iloc[b]) for b in bi})
        if not block_ids:
            raise PlanEditError(f"{what}: the addresses lie in no block")
        return move_blocks(plan, blocks_in, block_ids, to_code, rule=rule, addresses=pts, force=force)

    where = _locate(plan, pts)
    chosen = known.isin(ids).to_numpy()
    outside = sorted(known[chosen & (where < 0)])
    if outside:
        raise PlanEditError(f"{what}: addresses {_fmt_list(outside)} lie outside the plan")
    grids_m = metric.geoms(plan)
    pts_m = metric.geoms(pts)
    pieces = []
    for g in np.unique(where[chosen]):
        if g == target:
            continue  # already in the receiving grid
        members = np.flatnonzero(where == g)
        cells = _voronoi_shares(grids_m[g], pts_m[members])
        pieces.extend(cells[chosen[members]])
    if not pieces:
        raise PlanEditError(f"{what}: the addresses are already in {to_code}")
    region = shapely.union_all(np.asarray(pieces, dtype=object))
    return _move_region(
        plan, metric, region, target, rule=rule, what=what, addresses=pts, delta=None, force=force
    )


def merge_grids(
    plan: gpd.GeoDataFrame,
    code_a: str,
    code_b: str,
    *,
    rule: Rule | str | tuple[int, int],
    force: bool = False,
    retired: Iterable[str] = (),
) -> gpd.GeoDataFrame:
    """Merge two neighbouring grids of one village into one.

    The merged grid is coded by :func:`geogrid.codes.recode` against ``plan``: it keeps a
    code when it is essentially one of the two old grids, otherwise it takes an unused
    sequence number of the village.  The codes that disappear are recorded in
    ``result.attrs["retired_codes"]`` (with those of ``plan.attrs`` and ``retired``) so that
    later edits never reuse them.

    Parameters
    ----------
    plan : GeoDataFrame
        The plan (not modified).
    code_a, code_b : str
        The grids to merge; they must share a boundary line and a village.
    rule : Rule, str or (lo, hi)
        Household bounds the merged grid must respect.
    force : bool
        Merge even if the result is above the upper bound or the grids are not neighbours.
    retired : iterable of str
        Codes retired earlier that must not be given out again.

    Returns
    -------
    GeoDataFrame
        A new plan with one grid fewer.

    Raises
    ------
    PlanEditError
        Unknown or identical codes, different villages, or (unless ``force``) not neighbours
        or above the upper bound.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> v = "320508019044"
    >>> plan = gpd.GeoDataFrame(
    ...     {"code": [v + "001", v + "002", v + "003"], "division_code": [v] * 3, "households": [40, 45, 80]},
    ...     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)], crs="EPSG:32651")
    >>> out = merge_grids(plan, v + "001", v + "002", rule="rural")
    >>> sorted(out["households"]), len(out)
    ([80, 85], 2)
    """
    rule = resolve_rule(rule)
    _require(plan, "plan")
    plan = _with_division(plan)
    if code_a == code_b:
        raise PlanEditError(f"cannot merge grid {code_a} with itself")
    a, b = _position(plan, code_a), _position(plan, code_b)
    if "division_code" in plan:
        da, db = plan["division_code"].iloc[a], plan["division_code"].iloc[b]
        if da != db:
            # Never forced: every grid lies inside exactly one village.
            raise PlanEditError(
                f"{code_a} lies in village {da} and {code_b} in {db}; grids never cross villages"
            )
    hh = _households(plan)
    total = int(hh[a] + hh[b])
    what = f"merging {code_a} ({hh[a]}) and {code_b} ({hh[b]})"
    # Joined in metres on the overlay grid: the two outlines may come from different CRS round
    # trips (a split, a move) and agree only to floating point along their shared edge.
    metric = _Metric.of(plan)
    both = metric.geoms(plan.iloc[[a, b]])
    geom = _tidy(shapely.union(both[0], both[1], grid_size=_GRID_M), _noise(metric.geoms(plan)))
    if geom is not None:
        geom = metric.back([geom])[0]
    problems = []
    if total > rule.hi:
        problems.append(f"gives {total} households, above the {_rule_name(rule)}upper bound {rule.hi}")
    # A merged grid still below the lower bound is allowed: it is closer to the bounds than either part.
    if _parts(geom) > 1:
        problems.append(
            f"{'but ' if problems else 'is refused: '}{code_a} and {code_b} are not neighbours "
            "(they share no boundary line)"
        )
    if problems and not force:
        raise PlanEditError(_refusal(what, problems, sep=" "))

    out = plan.copy()
    keep = a if hh[a] >= hh[b] else b
    out.loc[out.index[keep], "households"] = total
    if "address_count" in out:
        ac = out["address_count"].fillna(0).astype(int)
        out.loc[out.index[keep], "address_count"] = int(ac.iloc[a] + ac.iloc[b])
    if "blocks" in out:
        merged = sorted(set(_as_list(out["blocks"].iloc[a])) | set(_as_list(out["blocks"].iloc[b])))
        out["blocks"] = [merged if k == keep else members for k, members in enumerate(out["blocks"])]
    out = _set_geometry(out, {keep: geom})
    out = out.drop(index=out.index[b if keep == a else a]).reset_index(drop=True)
    # recode keeps the code of the larger grid only if the merged grid is essentially it.
    return _recode(out, plan, retired)


def split_grid(
    plan: gpd.GeoDataFrame,
    code: str,
    addresses: gpd.GeoDataFrame,
    *,
    rule: Rule | str | tuple[int, int],
    streets: gpd.GeoDataFrame | None = None,
    k: int | None = None,
    seed: int = 0,
    retired: Iterable[str] = (),
) -> gpd.GeoDataFrame:
    """Split grid ``code`` (e.g. above the upper bound after new housing) into grids within bounds.

    The grid's area, its addresses and the streets crossing it are partitioned again with
    :func:`geogrid.partition.partition`, so the parts follow streets and each lies within
    ``rule``.  The parts are fitted exactly into the old grid's outline (neighbours are not
    touched), then coded by :func:`geogrid.codes.recode` against ``plan``: other grids keep
    their codes, the parts take unused sequence numbers of the village and the old code
    is retired (recorded in ``result.attrs["retired_codes"]``).

    Parameters
    ----------
    plan : GeoDataFrame
        The plan (not modified).
    code : str
        The grid to split.
    addresses : GeoDataFrame
        Address points (``address_id``, ``households``); those inside the grid are used.
    rule : Rule, str or (lo, hi)
        Bounds of the parts.
    streets : GeoDataFrame, optional
        Street lines; without them the grid is cut between address cells.
    k : int, optional
        Number of parts (default: chosen by the partition).
    seed : int
        Seed of the partition.
    retired : iterable of str
        Codes retired earlier that must not be given out again.

    Returns
    -------
    GeoDataFrame
        A new plan; the parts carry ``blocks`` lists when the plan has that column
        (ids of the blocks of this split, not of the original partition).

    Raises
    ------
    PlanEditError
        Unknown grid, or the grid cannot be split within bounds (the partition's reason).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> v = "320508019044"
    >>> plan = gpd.GeoDataFrame({"code": [v + "001"], "division_code": [v], "households": [160]},
    ...                         geometry=[box(120.60, 31.30, 120.604, 31.302)], crs="EPSG:4326")
    >>> pts = gpd.GeoDataFrame({"address_id": [str(i) for i in range(16)], "households": [10] * 16},
    ...     geometry=[Point(120.6001 + 0.00025 * i, 31.301) for i in range(16)], crs="EPSG:4326")
    >>> out = split_grid(plan, v + "001", pts, rule="rural")
    >>> sorted(out["households"]), sorted(out["code"])
    ([80, 80], ['320508019044002', '320508019044003'])
    """
    from geogrid.partition import partition  # lazily: the partition engine is heavy

    rule = resolve_rule(rule)
    _require(plan, "plan")
    plan = _with_division(plan)
    g = _position(plan, code)
    grid_geom = plan.geometry.iloc[g]
    division = plan["division_code"].iloc[g]
    hh = int(_households(plan)[g])
    pts = addresses if addresses.crs is None or plan.crs is None else addresses.to_crs(plan.crs)
    inside = _locate(plan, pts) == g
    area = gpd.GeoSeries([grid_geom], crs=plan.crs or WGS84)
    local_streets = None
    if streets is not None and len(streets):
        s = streets if streets.crs is None or plan.crs is None else streets.to_crs(plan.crs)
        local_streets = s[s.intersects(grid_geom)]
    try:
        result = partition(area, pts[inside], local_streets, rule, k=k, seed=seed, division_code=division)
    except InfeasibleError as exc:
        hint = "; without streets the grid is cut between address cells" if local_streets is not None else ""
        raise PlanEditError(
            f"splitting {code} ({hh} households) within the {_rule_name(rule)}bounds "
            f"[{rule.lo}, {rule.hi}] is not possible: {exc.reason}{hint}"
        ) from exc
    parts = result.grids
    if len(parts) < 2:
        raise PlanEditError(
            f"splitting {code} ({hh} households) gives a single grid within the {_rule_name(rule)}bounds "
            f"[{rule.lo}, {rule.hi}]; nothing to split (ask for k parts to force a number)"
        )
    # The parts are blocks noded with the grid's outline in the partition's metric CRS: their
    # outer edges are the grid's own vertices plus street ends, so they fit without clipping.
    fitted = list(parts.to_crs(plan.crs).geometry.values) if plan.crs is not None else list(parts.geometry)

    base = plan.iloc[[g] * len(parts)].copy()
    base["geometry"] = fitted
    base["code"] = None
    for column in ("households", "address_count", "blocks"):
        if column in parts and column in plan:
            base[column] = list(parts[column])
        elif column == "address_count" and column in plan:
            base[column] = 0
    if "households" not in parts:
        base["households"] = 0
    if "name" in base:
        base["name"] = None
    rest = plan.drop(index=plan.index[g])
    out = pd.concat([rest, base], ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry=plan.geometry.name, crs=plan.crs)
    out = recount(out, pts) if "households" not in parts else out
    return _recode(out, plan, retired)


# --------------------------------------------------------------------------- snapping uploads


@dataclass
class SnapResult:
    """An upload snapped onto a reference plan, and how far its vertices moved.

    ``moves`` has one row per vertex that moved: ``code``, ``vertex`` (position in the grid's
    exterior ring, then its holes), ``lon``/``lat`` (or ``x``/``y``) before, ``moved_m``.
    ``per_grid`` sums it up per grid (``vertices_moved``, ``max_moved_m``); ``unsnapped``
    lists grids left as they were because snapping would have made them invalid.
    """

    plan: gpd.GeoDataFrame
    moves: pd.DataFrame
    tolerance_m: float
    unsnapped: list[str] = field(default_factory=list)

    @property
    def max_moved_m(self) -> float:
        return float(self.moves["moved_m"].max()) if len(self.moves) else 0.0

    @property
    def per_grid(self) -> pd.DataFrame:
        g = self.moves.groupby("code")["moved_m"]
        return pd.DataFrame({"vertices_moved": g.size(), "max_moved_m": g.max()}).reset_index()


def snap_to_plan(
    plan: gpd.GeoDataFrame, reference: gpd.GeoDataFrame, *, tolerance_m: float = 0.05
) -> SnapResult:
    """Put every vertex of ``plan`` within ``tolerance_m`` of a vertex of ``reference`` onto that vertex.

    A plan saved by desktop GIS (coordinates rounded to 1 cm, or to 7 decimals by a GeoJSON
    writer) no longer shares its edges with the published plan exactly; snapping puts each
    vertex back on the nearest published vertex (a SciPy k-d tree in metres), so shared edges
    are shared again, bit for bit.  Vertices farther than the tolerance (a boundary the
    planner really moved) stay where they are.  A grid that snapping would make invalid is
    left as it was and listed in ``unsnapped``.

    Parameters
    ----------
    plan : GeoDataFrame
        The upload (``code``, geometry).
    reference : GeoDataFrame
        The published plan (any CRS; re-projected to ``plan``'s).
    tolerance_m : float
        Largest distance a vertex may move, in metres.

    Returns
    -------
    SnapResult
        The snapped plan and every vertex that moved, with how far.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> ref = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
    ...                        crs="EPSG:32651")
    >>> rounded = gpd.GeoDataFrame({"code": ["a", "b"]}, crs="EPSG:32651",
    ...                            geometry=[box(0, 0, 100.01, 100), box(99.99, 0, 200, 100)])
    >>> snapped = snap_to_plan(rounded, ref)
    >>> bool(snapped.plan.geom_equals_exact(ref, tolerance=0).all()), round(snapped.max_moved_m, 3), len(snapped.moves)
    (True, 0.01, 4)
    """
    if tolerance_m < 0:
        raise ValueError(f"tolerance_m must be >= 0, got {tolerance_m}")
    if reference.crs is not None and plan.crs is not None and reference.crs != plan.crs:
        reference = reference.to_crs(plan.crs)
    metric = _Metric.of(plan)
    before = np.asarray(plan.geometry.values, dtype=object)
    xy = shapely.get_coordinates(before)
    owner = np.repeat(np.arange(len(before)), shapely.get_num_coordinates(before))
    dist = np.full(len(xy), np.inf)
    new_xy = xy.copy()
    # Each village snaps to its own published grids: where two villages meet, each was drawn in
    # its own CRS and their border vertices may differ in the last bits.
    for rows, refs in _snap_groups(plan, reference):
        ref_xy = np.unique(
            shapely.get_coordinates(np.asarray(reference.geometry.values, dtype=object)[refs]), axis=0
        )
        if not len(ref_xy):
            continue
        mine = np.isin(owner, rows)
        d, nearest = _nearest_vertices(metric, plan.crs, ref_xy, xy[mine], tolerance_m)
        hit = np.isfinite(d) & (d > 0)
        dist[mine] = np.where(hit, d, np.inf)
        new_xy[np.flatnonzero(mine)[hit]] = ref_xy[nearest[hit]]
    after = shapely.set_coordinates(before.copy(), new_xy)
    bad = ~shapely.is_valid(after)
    after = np.where(bad, before, after)
    codes = plan["code"].astype(str).tolist() if "code" in plan else [str(i) for i in range(len(plan))]
    out = plan.set_geometry(gpd.GeoSeries(after, index=plan.index, crs=plan.crs))
    hit = np.isfinite(dist) & ~bad[owner]
    moves = _vertex_moves(codes, owner, xy, dist, hit, plan.crs)
    return SnapResult(out, moves, tolerance_m, [c for c, b in zip(codes, bad, strict=True) if b])


def _snap_groups(plan: gpd.GeoDataFrame, reference: gpd.GeoDataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows of ``plan``, rows of ``reference``) to snap together: by village when both know it."""
    if "division_code" not in plan or "division_code" not in reference:
        return [(np.arange(len(plan)), np.arange(len(reference)))]
    ref_div = reference["division_code"].astype(str).to_numpy()
    return [
        (np.asarray(rows), np.flatnonzero(ref_div == str(div)))
        for div, rows in plan.groupby(plan["division_code"].astype(str)).indices.items()
    ]


def _nearest_vertices(metric: _Metric, crs, ref_xy: np.ndarray, xy: np.ndarray, tolerance_m: float):
    """Distance (m) to and index of the nearest of ``ref_xy`` for each of ``xy`` (inf beyond the tolerance)."""
    from scipy.spatial import cKDTree

    def to_m(coords: np.ndarray) -> np.ndarray:
        return shapely.get_coordinates(metric.geoms(gpd.GeoSeries(shapely.points(coords), crs=crs)))

    return cKDTree(to_m(ref_xy)).query(to_m(xy), distance_upper_bound=tolerance_m)


def _vertex_moves(codes, owner, xy, dist, hit, crs) -> pd.DataFrame:
    """The vertices that moved: grid code, vertex position in the grid, coordinates before, metres."""
    first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    position = np.arange(len(owner)) - np.repeat(first, np.diff(np.r_[first, len(owner)]))
    xy_name = ("lon", "lat") if crs is not None and crs.is_geographic else ("x", "y")
    moves = pd.DataFrame(
        {
            "code": np.asarray(codes, dtype=object)[owner[hit]],
            "vertex": position[hit],
            xy_name[0]: xy[hit, 0],
            xy_name[1]: xy[hit, 1],
            "moved_m": dist[hit],
        }
    )
    # A ring's closing vertex repeats its first: count it once.
    return moves.drop_duplicates(["code", *xy_name]).reset_index(drop=True)


# --------------------------------------------------------------------------- repair


def repair(
    plan: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    rule: Rule | str | tuple[int, int],
    *,
    seed: int = 0,
    max_changed: int | None = None,
) -> RepairResult:
    """Repair a plan after households changed, changing as few grids as possible.

    Grids whose household count (counted from ``addresses``) is out of bounds are fixed one at
    a time, touching as few neighbours as needed: an over-full grid is split along its streets,
    an under-full one takes blocks from or merges with a neighbour, and only when no such
    edit works is a small connected region re-drawn (see :mod:`geogrid.repair`).  Untouched
    grids keep their code and geometry exactly; changed grids keep codes per
    :func:`geogrid.codes.recode`; new grids get sequence numbers never used in the village.

    Parameters
    ----------
    plan : GeoDataFrame
        The published plan (``code``, ``division_code``, geometry), any CRS; several villages
        are repaired one by one, villages with nothing to fix are left exactly as they are.
    addresses : GeoDataFrame
        Today's address points with ``households``.
    streets : GeoDataFrame or None
        Street lines (``street_class``); new boundaries follow them.
    rule : Rule, "urban", "rural" or (lo, hi)
    seed : int
        Seed of every re-drawn part; same inputs and seed, same result.
    max_changed : int, optional
        Most grids of ``plan`` that may change (or be retired).

    Returns
    -------
    RepairResult
        ``plan`` (repaired), ``changes`` (which grids changed and why), ``operations``
        (split/merge/move/redraw in order), ``households_moved``, ``kept``, ``retired``.

    Raises
    ------
    InfeasibleError
        A grid cannot be brought within bounds (within ``max_changed``): the message and
        ``details["tried"]`` say what was tried and why each failed.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> v = "320508019044"
    >>> plan = gpd.GeoDataFrame({"code": [v + "001", v + "002"], "division_code": [v] * 2},
    ...                         geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs="EPSG:32651")
    >>> today = gpd.GeoDataFrame({"households": [20, 20, 20, 20, 40]}, crs="EPSG:32651",
    ...     geometry=[Point(20, 20), Point(20, 80), Point(80, 20), Point(80, 80), Point(150, 50)])
    >>> result = repair(plan, today, None, (30, 60))
    >>> [op.kind for op in result.operations], result.kept, sorted(result.plan["households"])
    (['split'], ['320508019044002'], [40, 40, 40])
    """
    from geogrid.repair import repair_plan  # lazily: repairs run the partition engine

    return repair_plan(plan, addresses, streets, rule, seed=seed, max_changed=max_changed)


# --------------------------------------------------------------------------- internals


def _move_region(
    plan: gpd.GeoDataFrame,
    metric: _Metric,
    region,
    target: int,
    *,
    rule: Rule,
    what: str,
    addresses: gpd.GeoDataFrame | None,
    delta: dict[int, tuple[int, int]] | None,
    force: bool,
) -> gpd.GeoDataFrame:
    """Cut ``region`` (metric) out of every grid but ``target`` and add it to ``target``; check the result."""
    geoms = metric.geoms(plan)
    noise = _noise(geoms)
    region, sources = _move_sources(plan, geoms, region, target, noise, what)
    new_geoms = _cut_and_join(geoms, metric, region, sources, target, noise)
    hh = _households(plan)
    new_hh, new_n = _moved_counts(plan, hh, new_geoms, target, addresses, delta)
    codes = ", ".join(str(plan["code"].iloc[j]) for j in sources)
    what = f"{what} (from {codes}, {new_hh[target] - int(hh[target])} households)"
    problems = _move_problems(plan, new_geoms, sources, target, hh, new_hh, rule)
    if problems and not force:
        raise PlanEditError(_refusal(what, problems))
    return _apply_move(plan, hh, new_hh, new_n, new_geoms)


def _move_sources(
    plan: gpd.GeoDataFrame, geoms: np.ndarray, region, target: int, noise: float, what: str
) -> tuple[Any, list[int]]:
    """``region`` snapped onto the grids, and the grids (other than ``target``) it takes area from.

    Raises :class:`PlanEditError` when it takes from none, or from a grid of another village.
    """
    to_code = str(plan["code"].iloc[target])
    candidates = shapely.STRtree(geoms).query(region, predicate="intersects")
    # Blocks come back from a CRS round trip: snap their vertices onto the grids' own so
    # that cutting them out leaves no hair-thin slivers or spikes along shared edges.
    if len(candidates):
        region = shapely.snap(region, shapely.union_all(geoms[candidates]), _SNAP * _diagonal(geoms))
    sources = sorted(
        int(j)
        for j in candidates
        if j != target and shapely.area(shapely.intersection(geoms[j], region)) > noise
    )
    if not sources:
        raw_target = shapely.area(shapely.intersection(geoms[target], region))
        where = f"already in {to_code}" if raw_target > noise else "outside the plan"
        raise PlanEditError(f"{what}: nothing to move, the area is {where}")
    if "division_code" in plan:
        village = plan["division_code"].iloc[target]
        foreign = [str(plan["code"].iloc[j]) for j in sources if plan["division_code"].iloc[j] != village]
        if foreign:
            # Never forced: every grid lies inside exactly one village.
            raise PlanEditError(
                f"{what}: {', '.join(foreign)} lie outside village {village} of {to_code}; "
                "grids never cross villages"
            )
    return region, sources


def _cut_and_join(
    geoms: np.ndarray, metric: _Metric, region, sources: list[int], target: int, noise: float
) -> dict[int, Any]:
    """The new geometries (plan CRS) of the sources and the target: None for an emptied grid."""
    new_m: dict[int, Any] = {}
    pieces = []
    # Snap-rounding on a 10 nm grid collapses the zero-width spikes floating-point overlay
    # leaves where a cut runs along a grid's own edge; it moves vertices by < 5e-9 m.
    for j in sources:
        pieces.append(shapely.intersection(geoms[j], region, grid_size=_GRID_M))
        new_m[j] = _tidy(shapely.difference(geoms[j], region, grid_size=_GRID_M), noise)
    new_m[target] = _tidy(shapely.union_all([geoms[target], *pieces], grid_size=_GRID_M), noise)
    # Back to the plan's CRS: the untouched grids are never re-projected.
    kept = [j for j in new_m if new_m[j] is not None]
    new_geoms: dict[int, Any] = {j: None for j in new_m}
    new_geoms.update(zip(kept, metric.back([new_m[j] for j in kept]), strict=True))
    return new_geoms


def _moved_counts(
    plan: gpd.GeoDataFrame,
    hh: np.ndarray,
    new_geoms: dict[int, Any],
    target: int,
    addresses: gpd.GeoDataFrame | None,
    delta: dict[int, tuple[int, int]] | None,
) -> tuple[dict[int, int], dict[int, int]]:
    """Households and address counts of the touched grids after the move: recounted from
    ``addresses`` when given, else the ``delta`` of the moved blocks, else unchanged."""
    counts = plan["address_count"].fillna(0).to_numpy(dtype=np.int64) if "address_count" in plan else None
    new_hh = {j: int(hh[j]) for j in new_geoms}
    new_n = {j: int(counts[j]) for j in new_geoms} if counts is not None else {}
    if addresses is not None:
        touched = sorted(new_geoms)
        sub = gpd.GeoDataFrame(
            {"code": [plan["code"].iloc[j] for j in touched]},
            geometry=[new_geoms[j] if new_geoms[j] is not None else Polygon() for j in touched],
            crs=plan.crs,
        )
        # Only addresses of the touched grids count (a point on an outer boundary stays put).
        mine = np.isin(_locate(plan, addresses), touched)
        counted = recount(sub, addresses[mine])
        for k, j in enumerate(touched):
            new_hh[j] = int(counted["households"].iloc[k])
            new_n[j] = int(counted["address_count"].iloc[k])
    elif delta is not None:
        for j, (dh, dn) in delta.items():
            if j in new_hh:
                new_hh[j] -= dh
                new_hh[target] += dh
                if new_n:
                    new_n[j] -= dn
                    new_n[target] += dn
    return new_hh, new_n


def _move_problems(
    plan: gpd.GeoDataFrame,
    new_geoms: dict[int, Any],
    sources: list[int],
    target: int,
    hh: np.ndarray,
    new_hh: dict[int, int],
    rule: Rule,
) -> list[str]:
    """Why the move would leave a bad plan: a split or emptied grid, households out of bounds."""
    problems = []
    if _parts(new_geoms[target]) > 1:
        problems.append(
            f"the moved area does not border {plan['code'].iloc[target]}, which would be split into "
            f"{_parts(new_geoms[target])} parts"
        )
    for j in sources:
        code = plan["code"].iloc[j]
        if new_geoms[j] is None:
            problems.append(f"{code} would be left empty")
        elif _parts(new_geoms[j]) > 1:
            problems.append(f"{code} would be split into {_parts(new_geoms[j])} parts")
    for j in [*sources, target]:
        if new_geoms[j] is None:
            continue
        problem = _bound_problem(str(plan["code"].iloc[j]), int(hh[j]), new_hh[j], rule)
        if problem:
            problems.append(problem)
    return problems


def _apply_move(
    plan: gpd.GeoDataFrame,
    hh: np.ndarray,
    new_hh: dict[int, int],
    new_n: dict[int, int],
    new_geoms: dict[int, Any],
) -> gpd.GeoDataFrame:
    """The plan with the moved geometries and counts; emptied grids dropped and named retired."""
    out = plan.copy()
    out["households"] = hh
    for j, v in new_hh.items():
        out.loc[out.index[j], "households"] = v
    if new_n:
        had = "address_count" in plan
        out["address_count"] = plan["address_count"].fillna(0).to_numpy(dtype=np.int64) if had else None
        for j, v in new_n.items():
            out.loc[out.index[j], "address_count"] = v
    out = _set_geometry(out, {j: g for j, g in new_geoms.items() if g is not None})
    emptied = [j for j, g in new_geoms.items() if g is None]
    if emptied:
        gone = [str(plan["code"].iloc[j]) for j in emptied]
        out = out.drop(index=out.index[emptied]).reset_index(drop=True)
        out.attrs[RETIRED_ATTR] = sorted(set(plan.attrs.get(RETIRED_ATTR, ())) | set(gone))
    return out


def _bound_problem(code: str, before: int, after: int, rule: Rule) -> str | None:
    """Why ``after`` households break the rule, or None (moving closer to the bounds is allowed)."""
    name = _rule_name(rule)
    if after > rule.hi and not (before > rule.hi and after <= before):
        return f"{code} would have {after} households, above the {name}upper bound {rule.hi}"
    if after < rule.lo and not (before < rule.lo and after >= before):
        return f"{code} would have {after} households, below the {name}lower bound {rule.lo}"
    return None


def _refusal(what: str, problems: list[str], *, sep: str = ": ") -> str:
    return f"{what}{sep}" + "; ".join(problems) + " (force=True applies it anyway)"


def _rule_name(rule: Rule) -> str:
    return "" if rule.name == "custom" else f"{rule.name} "


def _recode(out: gpd.GeoDataFrame, previous: gpd.GeoDataFrame, retired: Iterable[str]) -> gpd.GeoDataFrame:
    """Codes for the edited plan ``out`` by :func:`geogrid.codes.recode` against ``previous``.

    Grids essentially unchanged keep their code; new ones take unused sequence numbers of
    their village, never one of ``retired`` or of ``previous.attrs["retired_codes"]``.
    """
    from geogrid.codes import recode

    gone_before = set(previous.attrs.get(RETIRED_ATTR, ())) | {str(c) for c in retired}
    result = recode(out, previous, retired=sorted(gone_before))
    coded = gpd.GeoDataFrame(result.grids, geometry=out.geometry.name, crs=out.crs)
    coded.attrs[RETIRED_ATTR] = sorted(gone_before | set(result.retired))
    return coded


def _with_division(plan: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``plan`` with ``division_code`` filled from the codes where missing (a grid code starts with it)."""
    from_codes = plan["code"].astype(object).map(lambda c: c[:12] if isinstance(c, str) else None)
    if "division_code" not in plan:
        return plan.assign(division_code=from_codes)
    if plan["division_code"].isna().any():
        return plan.assign(division_code=plan["division_code"].fillna(from_codes))
    return plan


def _set_geometry(frame: gpd.GeoDataFrame, geoms: dict[int, Any]) -> gpd.GeoDataFrame:
    values = np.asarray(frame.geometry.values, dtype=object).copy()
    for j, g in geoms.items():
        values[j] = g
    return frame.set_geometry(gpd.GeoSeries(values, index=frame.index, crs=frame.crs), crs=frame.crs)


def _voronoi_shares(grid, points: np.ndarray) -> np.ndarray:
    """Each point's Voronoi cell among ``points``, clipped to ``grid``; co-located points share a cell."""
    coords = shapely.get_coordinates(points)
    uniq, inverse = np.unique(coords, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(uniq) == 1:
        return np.array([grid] * len(coords), dtype=object)
    cells = shapely.voronoi_polygons(
        shapely.MultiPoint(uniq), extend_to=grid.envelope.buffer(1.0 + grid.length), ordered=True
    )
    clipped = np.array([shapely.intersection(c, grid) for c in shapely.get_parts(cells)], dtype=object)
    return clipped[inverse]


@dataclass(frozen=True)
class _Metric:
    """The plan's CRS and the local metric CRS edits are computed in (the same for metric plans).

    Cutting and Voronoi cells are metric work: a straight edge in lon/lat is not straight
    in metres, and validation measures in metres, so new vertices must lie on metric lines.
    """

    crs: Any
    metric: Any

    @classmethod
    def of(cls, plan: gpd.GeoDataFrame) -> _Metric:
        if plan.crs is None or plan.crs.is_projected:
            return cls(plan.crs, plan.crs)
        # Affine in lon/lat: a cut computed here meets the village edge in EPSG:4326 too.
        return cls(plan.crs, planar_crs_for(_to_wgs84(plan)))

    def geoms(self, frame: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
        """Geometries of ``frame`` in the metric CRS (a frame without CRS is in the plan's)."""
        gs = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
        if gs.crs is None and self.crs is not None:
            gs = gs.set_crs(self.crs)
        if self.metric is not None and gs.crs != self.metric:
            gs = gs.to_crs(self.metric)
        return np.asarray(gs.values, dtype=object)

    def back(self, geoms: Sequence) -> list:
        """Metric geometries in the plan's CRS (repaired if re-projection made one invalid)."""
        if self.metric == self.crs:
            return list(geoms)
        out = list(gpd.GeoSeries(list(geoms), crs=self.metric).to_crs(self.crs).values)
        return [g if g is None or g.is_valid else _tidy(g, 0.0) for g in out]


def _with_block_ids(blocks: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Blocks with a ``block_id`` column (the index when there is none)."""
    if "block_id" not in blocks:
        blocks = blocks.assign(block_id=blocks.index.to_numpy())
    return blocks


def _tidy(geom, noise: float):
    """Polygonal part of ``geom`` without parts or holes below ``noise``; None if nothing is left."""
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = []
    for p in _polygon_parts(geom):
        if p.area <= noise:
            continue
        holes = [r for r in p.interiors if Polygon(r).area > noise]
        polys.append(Polygon(p.exterior, holes) if len(holes) != len(p.interiors) else p)
    if not polys:
        return None
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _polygon_parts(geom) -> list:
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    if geom.geom_type in ("MultiPolygon", "GeometryCollection"):
        return [p for part in geom.geoms for p in _polygon_parts(part)]
    return []


def _parts(geom) -> int:
    return len(_polygon_parts(geom))


def _noise_area(plan: gpd.GeoDataFrame) -> float:
    return _NOISE * float(shapely.area(shapely.box(*plan.total_bounds)))


def _noise(geoms: np.ndarray) -> float:
    """Area below which a part or hole of these geometries is overlay noise."""
    return _NOISE * float(shapely.area(shapely.box(*shapely.total_bounds(geoms))))


def _diagonal(geoms: np.ndarray) -> float:
    west, south, east, north = shapely.total_bounds(geoms)
    return math.hypot(east - west, north - south)


def _noise_length(plan: gpd.GeoDataFrame) -> float:
    return math.sqrt(_noise_area(plan))


def _households(plan: gpd.GeoDataFrame) -> np.ndarray:
    if "households" not in plan:
        raise PlanEditError("the plan has no households column (use geogrid.plans.recount)")
    return plan["households"].fillna(0).to_numpy(dtype=np.int64)


def _require(plan: gpd.GeoDataFrame, what: str) -> None:
    if "code" not in plan:
        raise PlanEditError(f"the {what} has no code column")
    codes = plan["code"].dropna()
    dup = sorted(set(codes[codes.duplicated()].astype(str)))
    if dup:
        raise PlanEditError(f"the {what} has duplicate codes {_fmt_list(dup)}")


def _position(plan: gpd.GeoDataFrame, code: str) -> int:
    hits = np.flatnonzero(plan["code"].astype(object).to_numpy() == code)
    if len(hits) == 0:
        raise PlanEditError(f"grid {code} is not in the plan")
    return int(hits[0])


def _unique(values: Iterable) -> list:
    if isinstance(values, str | int | np.integer):
        values = [values]
    seen: dict = {}
    for v in values:
        seen.setdefault(v.item() if isinstance(v, np.generic) else v, None)
    return list(seen)


def _as_list(value) -> list:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return list(value)


def _fmt_list(values: Sequence, limit: int = 8) -> str:
    shown = ", ".join(str(v) for v in list(values)[:limit])
    more = len(values) - limit
    return f"[{shown}{f', … {more} more' if more > 0 else ''}]"


def _to_wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is None:
        return frame
    return frame if frame.crs.equals(WGS84) else frame.to_crs(WGS84)
