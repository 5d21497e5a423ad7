"""Repairing a plan with the least change after households change (动态调整).

Housing changes (new apartment blocks, relocation villages, demolition) push a few grids out
of their household bounds.  A fresh re-draw fixes them but renumbers and reshapes most of the
village.  :func:`repair_plan` (also :func:`geogrid.plans.repair`) changes as few grids as it
can, village by village, fixing the grids out of bounds one at a time:

- an over-full grid is **split** along its streets (no neighbour touched); if it cannot be,
  it gives blocks to a neighbour with room (**move**);
- an under-full grid takes blocks from a neighbour with households to spare (**move**) or is
  **merged** with a neighbour (a grid left with under half the lower bound merges first);
  neighbours that are themselves out of bounds or already changed are asked first;
- only when no local edit works is a small connected region **re-drawn**: the grid and its
  neighbours, then their neighbours, up to the whole village.

Every edit works on the street blocks of the grids it touches (old grid boundaries are kept as
the preferred cut lines), so the grids it makes tile exactly the area of the grids it replaces
and their outer vertices are the neighbours' own.  Grids outside every edit are returned as
they were given: same code, same geometry, bit for bit.  The edited plan is then coded with
:func:`geogrid.codes.recode` against the original: an edited grid that is essentially an old
one keeps its code, others take sequence numbers never used in the village.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geogrid.errors import InfeasibleError, PlanEditError
from geogrid.frames import WGS84
from geogrid.plans import _locate, _recode, _require, _with_division, at_level, level_of, recount
from geogrid.rules import Rule, resolve_rule

#: Edits a repair is made of, with the planners' names for them.
OPERATIONS = {"split": "拆分", "merge": "合并", "move": "调整边界", "redraw": "局部重划"}
# Re-drawn regions grow by rings of neighbours at most this many times before the whole village.
MAX_RINGS = 3
# A grid with fewer households than this share of the lower bound merges before it borrows blocks.
MERGE_FIRST_SHARE = 0.5


@dataclass(frozen=True)
class RepairOperation:
    """One edit of a repair, in the planners' terms.

    ``kind`` is a key of :data:`OPERATIONS`; ``grids_before`` the grids it replaced (their old
    codes, or a ``~n`` label for a grid made earlier in the same repair) with their households
    today; ``grids_after`` the grids it made (final codes, filled in once the plan is coded)
    with their households; ``reason`` why the first grid needed it.
    """

    kind: str
    grids_before: tuple[str, ...]
    households_before: tuple[int, ...]
    households_after: tuple[int, ...]
    reason: str
    grids_after: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line in Chinese, e.g. ``拆分 …003（132户）→ …041（66户）、…042（66户）：…``."""
        before = "、".join(
            f"{c}（{h}户）" for c, h in zip(self.grids_before, self.households_before, strict=True)
        )
        after = "、".join(
            f"{c}（{h}户）" for c, h in zip(self.grids_after, self.households_after, strict=False)
        )
        return f"{OPERATIONS[self.kind]} {before} → {after}：{self.reason}"


@dataclass
class RepairResult:
    """A repaired plan and what the repair did.

    Attributes
    ----------
    plan
        The repaired plan (the input's CRS and columns); households and address counts are
        counted from the addresses given, for every grid.
    changes
        One row per grid of either plan that is not kept exactly: ``code``, ``change``
        (``changed`` | ``added`` | ``retired``), ``households_before`` (the old grid's count
        from today's addresses), ``households_after``, ``reason``.
    operations
        The edits, in order (:class:`RepairOperation`).
    households_moved
        Households (from the addresses given) whose grid code differs between the plans.
    kept
        Codes of the grids kept exactly (code and geometry).
    retired
        Old codes no longer in the plan (never to be reused).
    dropped_subgrids
        Sub-grids (17 digits) of grids that changed: they no longer tile their grid and are
        left out; those of grids kept exactly are kept (recounted).
    """

    plan: gpd.GeoDataFrame
    changes: pd.DataFrame
    operations: list[RepairOperation] = field(default_factory=list)
    households_moved: int = 0
    kept: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    dropped_subgrids: list[str] = field(default_factory=list)
    plan_points: Any = field(default=None, repr=False)

    @property
    def changed(self) -> list[str]:
        """Old codes whose grid was changed or retired."""
        return sorted(self.changes.loc[self.changes["change"] != "added", "code"])

    def summary(self) -> str:
        """Counts and the edits, one per line."""
        head = (
            f"{len(self.kept)} grid(s) kept, {len(self.changed)} changed or retired, "
            f"{int((self.changes['change'] == 'added').sum())} added; "
            f"{self.households_moved} households moved"
        )
        return "\n".join([head, *(f"  {op.describe()}" for op in self.operations)])

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------- the working state


@dataclass
class _Grid:
    """A grid of the village being repaired: an old one (``key`` = its code) or one made here."""

    key: str
    geometry: Any
    households: int
    template: int  # row of the original plan whose attributes (division, level, kind) it takes
    touched: bool = False
    origins: frozenset[str] = frozenset()


@dataclass
class _Village:
    """The grids of one village during a repair, and what every edit reads."""

    grids: list[_Grid]
    crs: Any
    addresses: gpd.GeoDataFrame  # the village's addresses, in the plan's CRS, with households
    streets: gpd.GeoDataFrame | None
    rule: Rule
    seed: int
    max_changed: int | None
    operations: list[RepairOperation] = field(default_factory=list)
    counter: int = 0

    def new_key(self) -> str:
        self.counter += 1
        return f"~{self.counter}"

    def changed_if(self, involved: Iterable[_Grid]) -> set[str]:
        """Old codes changed once the grids ``involved`` are replaced."""
        out = {o for g in self.grids if g.touched for o in g.origins}
        return out | {o for g in involved for o in g.origins}

    def within_budget(self, involved: Iterable[_Grid]) -> bool:
        return self.max_changed is None or len(self.changed_if(involved)) <= self.max_changed

    def problems(self) -> list[_Grid]:
        """Grids out of bounds: over-full ones first (largest first), then under-full (smallest first)."""
        over = sorted((g for g in self.grids if g.households > self.rule.hi), key=lambda g: -g.households)
        under = sorted((g for g in self.grids if g.households < self.rule.lo), key=lambda g: g.households)
        return over + under

    def neighbours(self, grid: _Grid) -> list[_Grid]:
        """Grids sharing a boundary line (not just a point) with ``grid``."""
        geoms = np.asarray([g.geometry for g in self.grids], dtype=object)
        tol = _noise_length(geoms)
        out = []
        for j in shapely.STRtree(geoms).query(grid.geometry, predicate="intersects"):
            other = self.grids[int(j)]
            if other is grid:
                continue
            if shapely.length(shapely.intersection(grid.geometry.boundary, other.geometry.boundary)) > tol:
                out.append(other)
        return out

    def replace(self, old: list[_Grid], new: list[_Grid], kind: str, reason: str) -> None:
        """Swap ``old`` for ``new`` in the village and record the edit."""
        for g in old:
            self.grids.remove(g)
        self.grids.extend(new)
        self.operations.append(
            RepairOperation(
                kind,
                tuple(g.key for g in old),
                tuple(g.households for g in old),
                tuple(g.households for g in new),
                reason,
                tuple(g.key for g in new),
            )
        )


def _noise_length(geoms: np.ndarray) -> float:
    west, south, east, north = shapely.total_bounds(geoms)
    return 1e-6 * math.hypot(east - west, north - south)


# --------------------------------------------------------------------------- public entry


def repair_plan(
    plan: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    rule: Rule | str | tuple[int, int],
    *,
    seed: int = 0,
    max_changed: int | None = None,
) -> RepairResult:
    """Repair ``plan`` after households changed, changing as few grids as possible.

    See :func:`geogrid.plans.repair` (the same function) for parameters and an example.
    """
    rule = resolve_rule(rule)
    _require(plan, "plan")
    if plan.empty:
        raise PlanEditError("the plan has no grids to repair")
    plan = _with_division(plan).reset_index(drop=True)
    # Grids are repaired; sub-grids lie inside them and follow (see _with_subgrids).
    subgrids = plan[(level_of(plan["code"]) == "subgrid").to_numpy()]
    plan = at_level(plan, "grid")
    pts = addresses if addresses.crs is None or plan.crs is None else addresses.to_crs(plan.crs)
    counted = recount(plan, pts)
    where = _locate(counted, pts)
    rows: list[dict] = []
    operations: list[RepairOperation] = []
    touched_rows: set[int] = set()
    for village, idx in counted.groupby("division_code", sort=True).indices.items():
        hh = counted["households"].to_numpy()[idx]
        if ((hh >= rule.lo) & (hh <= rule.hi)).all():
            continue  # nothing to fix: the village is left exactly as it is
        budget = None if max_changed is None else max_changed - len(touched_rows)
        state = _village_state(counted, idx, pts[np.isin(where, idx)], streets, rule, seed, budget)
        _repair_village(state, village)
        for g in state.grids:
            if g.touched:
                rows.append({"_key": g.key, "_template": g.template, "geometry": g.geometry})
        touched_rows |= {int(r) for r in idx if counted["code"].iloc[int(r)] in state.changed_if([])}
        operations += state.operations
    return _with_subgrids(_assemble(plan, counted, pts, rows, touched_rows, operations), subgrids)


def _with_subgrids(result: RepairResult, subgrids: gpd.GeoDataFrame) -> RepairResult:
    """The sub-grids of every grid kept exactly put back; those of changed grids are dropped (listed)."""
    if subgrids.empty:
        return result
    stays = subgrids["code"].str[:15].isin(result.kept).to_numpy()
    kept = (
        recount(subgrids[stays].reset_index(drop=True), result.plan_points)
        if stays.any()
        else subgrids[stays]
    )
    plan = gpd.GeoDataFrame(
        pd.concat([result.plan, kept], ignore_index=True),
        geometry=result.plan.geometry.name,
        crs=result.plan.crs,
    )
    result.plan = plan
    result.dropped_subgrids = sorted(subgrids.loc[~stays, "code"])
    return result


def _village_state(
    counted: gpd.GeoDataFrame,
    idx: np.ndarray,
    addresses: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    rule: Rule,
    seed: int,
    max_changed: int | None,
) -> _Village:
    grids = [
        _Grid(
            key=str(counted["code"].iloc[i]),
            geometry=counted.geometry.iloc[i],
            households=int(counted["households"].iloc[i]),
            template=int(i),
            origins=frozenset([str(counted["code"].iloc[i])]),
        )
        for i in idx.tolist()
    ]
    local = None
    if streets is not None and len(streets):
        s = streets if streets.crs is None or counted.crs is None else streets.to_crs(counted.crs)
        area = shapely.union_all([g.geometry for g in grids])
        local = s[s.intersects(area)]
    return _Village(grids, counted.crs, addresses, local, rule, seed, max_changed)


def _repair_village(state: _Village, village: str) -> None:
    """Fix the grids out of bounds one at a time; raise with the reasons when one cannot be fixed."""
    for _ in range(4 * len(state.grids) + 10):
        problems = state.problems()
        if not problems:
            return
        grid = problems[0]
        tried: list[str] = []
        fixed = (
            _fix_over(state, grid, tried)
            if grid.households > state.rule.hi
            else _fix_under(state, grid, tried)
        )
        if not fixed and not _redraw_rings(state, grid, tried):
            budget = "" if state.max_changed is None else f" within max_changed={state.max_changed}"
            raise InfeasibleError(
                f"village {village}: grid {grid.key} ({grid.households} households) cannot be brought within "
                f"[{state.rule.lo}, {state.rule.hi}]{budget}; tried: {'; '.join(tried)}",
                details={"village": village, "grid": grid.key, "households": grid.households, "tried": tried},
            )
    raise InfeasibleError(f"village {village}: the repair did not converge", details={"village": village})


def _reason(grid: _Grid, rule: Rule) -> str:
    name = {"rural": "农村", "urban": "城镇"}.get(rule.name, "")
    if grid.households > rule.hi:
        return f"{grid.key} 有{grid.households}户，超过{name}网格上限{rule.hi}户"
    return f"{grid.key} 有{grid.households}户，低于{name}网格下限{rule.lo}户"


# --------------------------------------------------------------------------- the edits


def _fix_over(state: _Village, grid: _Grid, tried: list[str]) -> bool:
    """Split the grid; else give blocks to the neighbour with the most room."""
    if _split(state, grid, tried):
        return True
    for other in sorted(state.neighbours(grid), key=lambda g: (not g.touched, g.households)):
        if other.households < state.rule.hi and _move(state, donor=grid, recipient=other, tried=tried):
            return True
    return False


def _fix_under(state: _Village, grid: _Grid, tried: list[str]) -> bool:
    """Merge with or borrow blocks from a neighbour; out-of-bounds and changed neighbours first."""
    rule = state.rule
    nbrs = sorted(
        state.neighbours(grid),
        key=lambda g: (rule.lo <= g.households <= rule.hi, not g.touched, -g.households),
    )
    merge_first = grid.households < MERGE_FIRST_SHARE * rule.lo
    for attempt in ("merge", "move") if merge_first else ("move", "merge"):
        for other in nbrs:
            if attempt == "merge" and _merge(state, grid, other, tried):
                return True
            if attempt == "move" and other.households > rule.lo and _move(state, other, grid, tried):
                return True
    return False


def _split(state: _Village, grid: _Grid, tried: list[str]) -> bool:
    if not state.within_budget([grid]):
        tried.append(f"split {grid.key}: over the max_changed budget")
        return False
    try:
        parts = _redraw(state, [grid], barriers=False)
    except InfeasibleError as exc:
        tried.append(f"split {grid.key}: {exc.reason}")
        return False
    if len(parts) < 2:
        tried.append(f"split {grid.key}: gives a single grid")
        return False
    state.replace([grid], parts, "split", _reason(grid, state.rule))
    return True


def _merge(state: _Village, grid: _Grid, other: _Grid, tried: list[str]) -> bool:
    rule = state.rule
    total = grid.households + other.households
    if total > rule.hi:
        tried.append(f"merge with {other.key}: {total} households, above {rule.hi}")
        return False
    if not state.within_budget([grid, other]):
        tried.append(f"merge with {other.key}: over the max_changed budget")
        return False
    geom = _union([grid.geometry, other.geometry])
    if geom is None:
        tried.append(f"merge with {other.key}: the two grids do not join into one polygon")
        return False
    merged = _Grid(
        state.new_key(),
        geom,
        total,
        other.template if other.households >= grid.households else grid.template,
        touched=True,
        origins=grid.origins | other.origins,
    )
    state.replace([grid, other], [merged], "merge", _reason(grid, rule))
    return True


def _move(state: _Village, donor: _Grid, recipient: _Grid, tried: list[str]) -> bool:
    """Hand boundary blocks from ``donor`` to ``recipient`` until both are within bounds."""
    what = f"move blocks from {donor.key} to {recipient.key}"
    if not state.within_budget([donor, recipient]):
        tried.append(f"{what}: over the max_changed budget")
        return False
    problem = recipient if recipient.households < state.rule.lo else donor
    try:
        parts = _redraw(state, [donor, recipient], barriers=True, transfer=(0, 1))
    except InfeasibleError as exc:
        tried.append(f"{what}: {exc.reason}")
        return False
    state.replace([donor, recipient], parts, "move", _reason(problem, state.rule))
    return True


def _redraw_rings(state: _Village, grid: _Grid, tried: list[str]) -> bool:
    """Re-draw the grid with its neighbours, then their neighbours..., at last the whole village."""
    regions, region = [], [grid]
    for _ in range(MAX_RINGS):
        for g in list(region):
            region += [n for n in state.neighbours(g) if n not in region]
        regions.append(list(region))
    regions.append(list(state.grids))
    size = 1
    for region in regions:
        if len(region) == size:
            continue  # the ring added nothing
        size = len(region)
        if not state.within_budget(region):
            tried.append(f"re-draw of {len(region)} grids: over the max_changed budget")
            return False
        try:
            parts = _redraw(state, region, barriers=True)
        except InfeasibleError as exc:
            tried.append(f"re-draw of {len(region)} grids: {exc.reason}")
            continue
        state.replace(region, parts, "redraw", _reason(grid, state.rule))
        return True
    return False


def _union(geoms: list) -> Any:
    """The union of grids sharing exact edges as one Polygon, or None."""
    arr = np.asarray(geoms, dtype=object)
    try:
        geom = shapely.coverage_union_all(arr)
    except shapely.errors.GEOSException:  # edges made by different edits meet only to round-off
        geom = None
    if geom is None or geom.geom_type != "Polygon" or not geom.is_valid:
        geom = shapely.union_all(arr)
    return geom if geom.geom_type == "Polygon" and geom.is_valid else None


# --------------------------------------------------------------------------- block-level work


def _redraw(
    state: _Village, region: list[_Grid], *, barriers: bool, transfer: tuple[int, int] | None = None
) -> list[_Grid]:
    """New grids tiling exactly the area of ``region``, from its street blocks.

    Without ``transfer`` the area is partitioned afresh (a split or a re-draw); with
    ``transfer=(donor, recipient)`` (positions in ``region``) the old grids are kept and
    boundary blocks handed from one to the other until both are within bounds.  With
    ``barriers`` the old boundaries inside the region are the preferred cut lines.
    """
    from geogrid.partition import assemble, build_blocks, prepare, search

    crs = state.crs or WGS84
    area = _union([g.geometry for g in region])
    if area is None:
        raise InfeasibleError("the grids do not join into one polygon")
    inside = state.addresses[state.addresses.intersects(area)]
    prepared = prepare(gpd.GeoSeries([area], crs=crs), inside, state.rule)
    lines = _inner_boundaries(region, crs) if barriers and len(region) > 1 else None
    block_set = build_blocks(prepared, state.streets, barriers=lines)
    if transfer is None:
        found = search(block_set, seed=state.seed)
    else:
        found = _handed_over(block_set, region, crs, transfer, state.rule)
    out = assemble(found, prepared)
    geoms = _in_crs(out, crs, prepared.crs)
    template = max(region, key=lambda g: g.households).template
    origins = frozenset().union(*(g.origins for g in region))
    return [
        _Grid(state.new_key(), geom, int(h), template, touched=True, origins=origins)
        for geom, h in zip(geoms, out.grids["households"], strict=True)
    ]


def _handed_over(block_set, region: list[_Grid], crs, transfer: tuple[int, int], rule: Rule):
    """Blocks of ``region`` labelled by old grid, after :func:`_transfer`; finer blocks if needed.

    Whole street blocks can be too big to hand over (a compound of 295 households when the
    neighbour has room for 100); like the partition search, the blocks are then cut between
    their addresses: those above the lower bound, above half of it, then every one.
    """
    from geogrid.partition import BlockPartition, SearchResult

    levels = [block_set.initial]
    for threshold in (rule.lo, rule.lo // 2, 0):
        cut = block_set.to_cut(threshold)
        if cut != levels[-1].cut:
            levels.append(block_set.cut(cut))
    for blocks in levels:
        labels = _old_labels(blocks.graph.geoms, region, crs, block_set.prepared.crs)
        w = blocks.households
        if _transfer(blocks.graph.adjacency(blocks.graph.cost), w, labels, *transfer, rule):
            hh = np.bincount(labels, weights=w, minlength=len(region)).astype(np.int64)
            part = BlockPartition(labels, len(region), hh, attempts=0, moves=0, components=1, seconds={})
            return SearchResult(blocks, part)
    raise InfeasibleError("no blocks along their shared boundary can be handed over within bounds")


def _in_crs(out, crs, working: CRS) -> list:
    """The assembled grids in the plan's CRS, exact where the step made them exact."""
    target = CRS.from_user_input(crs)
    if target == working:
        return list(out.grids_m.geometry.values)
    if target == CRS.from_user_input(WGS84):
        return list(out.grids.geometry.values)
    return list(out.grids.to_crs(target).geometry.values)


def _inner_boundaries(region: list[_Grid], crs) -> gpd.GeoSeries:
    """The boundaries between the grids of ``region``, as lines (preferred cut lines)."""
    rings = shapely.union_all([shapely.boundary(g.geometry) for g in region])
    outer = shapely.boundary(_union([g.geometry for g in region]))
    inner = shapely.difference(rings, outer)
    parts = shapely.get_parts(shapely.line_merge(inner) if inner.geom_type == "MultiLineString" else inner)
    return gpd.GeoSeries([p for p in parts if p.geom_type == "LineString"], crs=crs)


def _old_labels(block_geoms: np.ndarray, region: list[_Grid], crs, working: CRS) -> np.ndarray:
    """Position in ``region`` of the old grid holding most of each block."""
    olds = gpd.GeoSeries([g.geometry for g in region], crs=crs).to_crs(working).values
    rep = shapely.point_on_surface(block_geoms)
    labels = np.full(len(block_geoms), -1, dtype=np.int64)
    for k, geom in enumerate(olds):
        labels[shapely.intersects(geom, rep) & (labels < 0)] = k
    missing = np.flatnonzero(labels < 0)
    for b in missing:
        shares = shapely.area(shapely.intersection(np.asarray(olds, dtype=object), block_geoms[b]))
        labels[b] = int(np.argmax(shares))
    return labels


def _transfer(
    adj: sparse.csr_matrix, w: np.ndarray, labels: np.ndarray, donor: int, recipient: int, rule: Rule
) -> bool:
    """Move blocks one at a time from ``donor`` to ``recipient`` (in place) until both fit the rule.

    A block may move if it borders the recipient, the donor stays contiguous without it and
    neither grid leaves the bounds the wrong way.  The smallest block that finishes the job
    wins, else the largest that helps; ties go to the block sharing the longest boundary with
    the recipient.  Blocks without households move only when nothing else can.
    """
    adj = adj.tocsr()
    hh = {donor: int(w[labels == donor].sum()), recipient: int(w[labels == recipient].sum())}
    for _ in range(len(w) + 1):
        if all(rule.lo <= hh[g] <= rule.hi for g in (donor, recipient)):
            return True
        need = max(rule.lo - hh[recipient], hh[donor] - rule.hi, 0)
        best = _best_block(adj, w, labels, donor, recipient, hh, need, rule)
        if best is None:
            return False
        labels[best] = recipient
        hh[donor] -= int(w[best])
        hh[recipient] += int(w[best])
    return False


def _best_block(adj, w, labels, donor, recipient, hh, need, rule) -> int | None:
    candidates = []
    for b in np.flatnonzero(labels == donor).tolist():
        nb = adj.indices[adj.indptr[b] : adj.indptr[b + 1]]
        shared = float(adj.data[adj.indptr[b] : adj.indptr[b + 1]][labels[nb] == recipient].sum())
        if shared <= 0:
            continue
        x = int(w[b])
        if hh[recipient] + x > rule.hi or hh[donor] - x < rule.lo:
            continue
        candidates.append((b, x, shared))
    if not candidates:
        return None
    finishing = [c for c in candidates if c[1] >= need > 0]
    helping = [c for c in candidates if c[1] > 0]
    if finishing:
        order = sorted(finishing, key=lambda c: (c[1], -c[2]))
    elif helping:
        order = sorted(helping, key=lambda c: (-c[1], -c[2]))
    else:
        order = sorted(candidates, key=lambda c: -c[2])
    for b, _, _ in order:
        rest = np.flatnonzero(labels == donor)
        rest = rest[rest != b]
        if len(rest) == 0:
            continue
        if connected_components(adj[rest][:, rest], directed=False)[0] == 1:
            return int(b)
    return None


# --------------------------------------------------------------------------- the result

_NOT_INHERITED: dict[str, Any] = {
    "name": None,
    "head_name": None,
    "head_phone": None,
    "workers": list,
    "blocks": list,
    "properties": dict,
}


def _assemble(
    plan: gpd.GeoDataFrame,
    counted: gpd.GeoDataFrame,
    pts: gpd.GeoDataFrame,
    rows: list[dict],
    touched_rows: set[int],
    operations: list[RepairOperation],
) -> RepairResult:
    """The repaired plan: untouched rows as given, new rows from templates, coded against ``plan``."""
    keep = counted.drop(index=sorted(touched_rows))
    keep = keep.assign(_key=keep["code"].astype(str))
    new_rows = []
    for r in rows:
        base = counted.iloc[r["_template"]].to_dict()
        base.update({"code": None, "geometry": r["geometry"], "_key": r["_key"]})
        # A new grid takes its village, level and kind from the grid it came from, not its name
        # or staff (a grid that keeps its code gets its staff back when published).
        for column, empty in _NOT_INHERITED.items():
            if column in base:
                base[column] = empty() if callable(empty) else empty
        new_rows.append(base)
    geom_col = plan.geometry.name
    frames = [keep, gpd.GeoDataFrame(new_rows, geometry=geom_col, crs=plan.crs)] if new_rows else [keep]
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry=geom_col, crs=plan.crs)
    out = _recode(out, plan, ())
    out = recount(out, pts)
    final = dict(zip(out["_key"], out["code"], strict=True))
    ops = [
        RepairOperation(
            op.kind,
            tuple(final.get(k, k) if k.startswith("~") else k for k in op.grids_before),
            op.households_before,
            op.households_after,
            op.reason,
            tuple(final.get(k, k) for k in op.grids_after),
        )
        for op in operations
    ]
    out = out.drop(columns="_key")
    return _result(plan, counted, out, pts, ops)


def _result(plan, counted, out, pts, ops) -> RepairResult:
    old_codes = counted["code"].astype(str).tolist()
    old_geom = dict(zip(old_codes, counted.geometry.values, strict=True))
    new_geom = dict(zip(out["code"].astype(str), out.geometry.values, strict=True))
    kept = [
        c for c in old_codes if c in new_geom and shapely.equals_exact(old_geom[c], new_geom[c], tolerance=0)
    ]
    kept_set = set(kept)
    before = dict(zip(old_codes, counted["households"].astype(int), strict=True))
    after = dict(zip(out["code"].astype(str), out["households"].astype(int), strict=True))
    reasons = {c: op.describe() for op in ops for c in (*op.grids_before, *op.grids_after)}
    rows = []
    for c in old_codes:
        if c not in kept_set:
            change = "changed" if c in new_geom else "retired"
            rows.append((c, change, before[c], after.get(c, 0), reasons.get(c, "")))
    for c in out["code"].astype(str):
        if c not in old_geom:
            rows.append((c, "added", 0, after[c], reasons.get(c, "")))
    changes = pd.DataFrame(
        rows, columns=["code", "change", "households_before", "households_after", "reason"]
    )
    hh = pts["households"].fillna(0).to_numpy(dtype=np.int64) if "households" in pts else np.ones(len(pts))
    was, now = _locate(counted, pts), _locate(out, pts)
    old_arr = np.asarray([*old_codes, ""], dtype=object)[was]
    new_arr = np.asarray([*out["code"].astype(str).tolist(), ""], dtype=object)[now]
    moved = int(hh[old_arr != new_arr].sum())
    retired = sorted(set(old_codes) - set(new_geom))
    return RepairResult(out, changes, ops, moved, kept, retired, plan_points=pts)
