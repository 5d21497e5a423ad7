"""Partition a village or community into contiguous grids within household bounds.

Pipeline (see DESIGN.md, "Partitioning"):

1. streets + boundary + barriers → blocks (:mod:`geogrid.blocks`);
2. households attached to blocks; a block above the upper bound is cut inside itself
   along the Voronoi edges of its address points (re-noded with the streets so the cut
   pieces still share exact boundaries), an address above the bound is an error;
3. block adjacency graph, edge cut cost = length × reference width / street width;
4. k chosen in ``rule.feasible_k(total)``; recursive bipartition of random spanning
   trees accepting only cuts whose two sides can still be split within bounds (among
   equally good ones, the shortest boundary); then boundary-block moves that shorten the
   boundaries between grids while households stay within a band around the mean
   (``diagnostics.compactness_mean``: Polsby-Popper of the grids).  When no split
   of whole blocks is found, blocks above the lower bound, then above half of it, then
   every block with addresses at two or more locations are cut between their addresses
   and the search runs again (``diagnostics.refined``);
5. blocks dissolved per grid: every grid is one Polygon, grids tile the area.

Everything random flows from ``seed``; the same inputs and seed give the same grids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import sparse
from scipy.sparse.csgraph import connected_components, depth_first_order, minimum_spanning_tree
from shapely.geometry import LineString, Point, box

from geogrid.blocks import (
    BlockGraph,
    _as_geometry,
    build_block_graph,
    graph_from_frame,
    reproject_exact,
    street_lines,
    to_crs_array,
    working_crs,
)
from geogrid.errors import InfeasibleError, InvalidGeometryError
from geogrid.frames import GRID_COLUMNS, WGS84
from geogrid.partition_inputs import check_addresses
from geogrid.rules import Rule, resolve_rule

if TYPE_CHECKING:
    # geogrid.validate is imported lazily at run time to avoid a cycle.
    from geogrid.validate import ValidationReport

WGS84_CRS = CRS.from_user_input(WGS84)
# Largest symmetric difference (m², measured in lon/lat) between a village and the union of
# its grids.  float64 is the limit: a street crossing can only be put within ~1e-9 m of a
# lon/lat edge, which over a 2 km edge is ~1e-6 m² per crossing (the synthetic 100k county
# shows at most 3e-6 m² per village).  Still 10x below the validator's 1e-4 m².
COVER_TOLERANCE_M2 = 1e-5

# A cut is "balanced" when both sides' households per grid are within this fraction of
# the sub-problem's mean; among balanced cuts the one halving k (shallow recursion) wins.
BALANCE_TOLERANCE = 0.02
# Try this many spanning trees for one sub-problem before settling for the best cut seen.
TREES_PER_SPLIT = 6
# Whole restarts (new spanning trees everywhere) after a sub-problem had no valid cut.
RESTARTS = 8
# Numbers of grids tried per component (nearest the middle of the bounds first) when k is not given.
K_CANDIDATES = 4
# Improvement phase: weight of the cut cost (perimeter proxy) per mean edge cost against
# household spread, and the band of households per grid (fraction of the mean) outside
# which spread is penalised BAND_PENALTY times harder.
COMPACTNESS_WEIGHT = 0.2
BALANCE_BAND = 0.06
BAND_PENALTY = 50.0
IMPROVEMENT_PASSES = 6


@dataclass
class PartitionDiagnostics:
    """How a partition was reached: numbers a planner or a benchmark wants to see."""

    rule: Rule
    k: int
    k_range: tuple[int, int]
    total_households: int
    household_cv: float
    households_min: int
    households_max: int
    n_blocks: int
    n_blocks_split: int
    n_addresses: int
    addresses_outside: list[str] = field(default_factory=list)
    addresses_above_hi: list[str] = field(default_factory=list)
    components: int = 1
    attempts: int = 1
    moves: int = 0
    merged_slivers: int = 0
    refined: bool = False  # whole blocks were too coarse; blocks within bounds were cut between addresses
    seed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    # Polsby-Popper 4*pi*A/P^2 of the grids in the metric CRS (1 = disc, ~0.785 = square).
    compactness_mean: float = float("nan")
    compactness_min: float = float("nan")


@dataclass
class BlockPartition:
    """Labels of blocks (0..k-1) plus diagnostics; the graph-level result."""

    labels: np.ndarray
    k: int
    households: np.ndarray
    attempts: int
    moves: int
    components: int
    seconds: dict[str, float]

    @property
    def cv(self) -> float:
        h = self.households.astype(float)
        return float(h.std() / h.mean()) if len(h) and h.mean() > 0 else 0.0


@dataclass
class PartitionResult:
    """Grids (EPSG:4326), the blocks they were built from (metric CRS), diagnostics and validation."""

    grids: gpd.GeoDataFrame
    blocks: gpd.GeoDataFrame
    diagnostics: PartitionDiagnostics
    report: ValidationReport | None  # None when partitioned with ``validate=False``


def polsby_popper(geoms) -> np.ndarray:
    """Polsby-Popper compactness ``4 pi A / P^2`` of each geometry (in its own, metric, units).

    1 for a disc, ~0.785 for a square, 0.31 for a 1 x 8 strip and lower for serpentine
    shapes; 0 for empty or zero-perimeter geometries.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> polsby_popper([box(0, 0, 10, 10), box(0, 0, 80, 10)]).round(3).tolist()
    [0.785, 0.31]
    """
    g = np.asarray(geoms, dtype=object)
    area = shapely.area(g)
    perim = shapely.length(g)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(perim > 0, 4 * np.pi * area / (perim * perim), 0.0)
    return out.astype(float)


# --------------------------------------------------------------------------- graph level


class _NoCutError(Exception):
    """A sub-problem's spanning trees offered no cut with both sides feasible."""


def _k_window(s: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised ``rule.feasible_k``: smallest and largest number of grids for totals ``s``."""
    return -(-s // hi), s // lo


def _grid_counts(total: int, rule: Rule) -> range:
    """``rule.feasible_k(total)`` without 0: blocks must belong to a grid, so no households means no grid."""
    window = rule.feasible_k(total)
    return range(max(1, window.start), window.stop)


def choose_k(totals: list[int], rule: Rule, k: int | None) -> list[int]:
    """Number of grids per connected component (its total must fit), summing to ``k`` if given.

    Without ``k`` each component gets the count whose mean is closest to the middle of
    the bounds, which leaves the most room on both sides.
    """
    mid = (rule.lo + rule.hi) / 2
    ranges = [_grid_counts(int(t), rule) for t in totals]
    bad = [i for i, r in enumerate(ranges) if len(r) == 0]
    if bad:
        raise InfeasibleError(
            f"{len(bad)} disconnected part(s) cannot hold a grid within [{rule.lo}, {rule.hi}] households",
            details={"components": bad, "households": [int(totals[i]) for i in bad]},
        )
    ks = [min(max(round(t / mid), r.start), r.stop - 1) for t, r in zip(totals, ranges, strict=True)]
    if k is None:
        return ks
    kmin = sum(r.start for r in ranges)
    kmax = sum(r.stop - 1 for r in ranges)
    if not kmin <= k <= kmax:
        raise InfeasibleError(
            f"k={k} is outside the feasible range [{kmin}, {kmax}] for rule [{rule.lo}, {rule.hi}]",
            details={"k": k, "k_range": (kmin, kmax)},
        )
    # Move one grid at a time to/from the component whose mean is furthest off.
    while sum(ks) != k:
        if sum(ks) < k:
            cand = [i for i, r in enumerate(ranges) if ks[i] < r.stop - 1]
            i = max(cand, key=lambda i: totals[i] / ks[i])
            ks[i] += 1
        else:
            cand = [i for i, r in enumerate(ranges) if ks[i] > r.start]
            i = min(cand, key=lambda i: totals[i] / ks[i])
            ks[i] -= 1
    return ks


class _Graph:
    """CSR arrays of the block graph plus lookups used in the inner loops.

    scipy.sparse indexing costs ~0.1 ms per call; a partition draws thousands of small
    spanning trees, so sub-graphs are extracted with plain NumPy on the CSR arrays.
    """

    SMALL = 48  # below this many nodes, spanning trees are drawn in pure Python

    def __init__(self, adj_cost: sparse.csr_matrix) -> None:
        adj = adj_cost.tocsr()
        adj.sort_indices()
        self.n = adj.shape[0]
        self.indptr = adj.indptr.astype(np.int64)
        self.indices = adj.indices.astype(np.int64)
        self.cost = adj.data.astype(float)
        rows = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.indptr))
        self.keys = rows * self.n + self.indices  # sorted: CSR rows in order, columns sorted
        self.loc = np.full(self.n, -1, dtype=np.int64)
        self.nbr_lists: list[list[int]] | None = None
        self.cost_lists: list[list[float]] | None = None

    def lists(self) -> tuple[list[list[int]], list[list[float]]]:
        if self.nbr_lists is None:
            ip, ind, c = self.indptr, self.indices.tolist(), self.cost.tolist()
            bounds = ip.tolist()
            self.nbr_lists = [ind[bounds[i] : bounds[i + 1]] for i in range(self.n)]
            self.cost_lists = [c[bounds[i] : bounds[i + 1]] for i in range(self.n)]
        return self.nbr_lists, self.cost_lists  # type: ignore[return-value]

    def edge_cost(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.keys, u * self.n + v)
        return self.cost[np.minimum(pos, len(self.cost) - 1)]

    def subgraph(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Local (row, col, cost) of the edges inside ``nodes`` with row < col."""
        m = len(nodes)
        self.loc[nodes] = np.arange(m)
        starts, ends = self.indptr[nodes], self.indptr[nodes + 1]
        lens = ends - starts
        total = int(lens.sum())
        offs = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(total)
        r = np.repeat(np.arange(m), lens)
        c = self.loc[self.indices[offs]]
        self.loc[nodes] = -1
        keep = c > r
        return r[keep], c[keep], self.cost[offs][keep]


def _spanning_tree(
    nodes: np.ndarray, graph: _Graph, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random spanning tree of the connected sub-graph on ``nodes`` in DFS preorder.

    Edge weights are uniform random numbers divided by the edge's cut cost: edges along
    narrow lanes (expensive to cut) tend to be tree edges and wide streets do not, so
    subtrees tend to be lane-connected clusters bounded by wide streets.

    Returns (nodes in preorder, local parent index (-1 at the root), subtree sizes).
    """
    m = len(nodes)
    if m == 1:
        return nodes.copy(), np.array([-1]), np.array([1])
    r, c, cost = graph.subgraph(nodes)
    wts = rng.random(len(r)) / np.maximum(cost, 1e-9)
    root = int(rng.integers(m))
    if m <= graph.SMALL:
        order_l, parent_l = _small_tree(
            m, r.tolist(), c.tolist(), np.argsort(wts, kind="stable").tolist(), root
        )
        order = np.array(order_l, dtype=np.int64)
        pos = np.empty(m, dtype=np.int64)
        pos[order] = np.arange(m)
        par_of = np.array(parent_l, dtype=np.int64)[order]
        parent = np.where(par_of >= 0, pos[np.maximum(par_of, 0)], -1)
    else:
        tree = minimum_spanning_tree(sparse.coo_matrix((wts + 1e-12, (r, c)), shape=(m, m)).tocsr())
        order, pred = depth_first_order(tree, root, directed=False, return_predecessors=True)
        if len(order) != m:
            raise InfeasibleError("internal: sub-graph is not connected")
        pos = np.empty(m, dtype=np.int64)
        pos[order] = np.arange(m)
        parent = np.where(pred[order] >= 0, pos[np.maximum(pred[order], 0)], -1)
    # Reverse preorder visits children before parents.
    par = parent.tolist()
    sz = [1] * m
    for i in range(m - 1, 0, -1):
        sz[par[i]] += sz[i]
    return nodes[order], parent, np.array(sz, dtype=np.int64)


def _small_tree(
    m: int, r: list[int], c: list[int], by_weight: list[int], root: int
) -> tuple[list[int], list[int]]:
    """Kruskal + iterative DFS in pure Python: (preorder, parent per local node)."""
    uf = list(range(m))

    def find(x: int) -> int:
        while uf[x] != x:
            uf[x] = uf[uf[x]]
            x = uf[x]
        return x

    adj: list[list[int]] = [[] for _ in range(m)]
    joined = 0
    for e in by_weight:
        a, b = find(r[e]), find(c[e])
        if a != b:
            uf[a] = b
            adj[r[e]].append(c[e])
            adj[c[e]].append(r[e])
            joined += 1
            if joined == m - 1:
                break
    if joined != m - 1:
        raise InfeasibleError("internal: sub-graph is not connected")
    parent = [-1] * m
    order = []
    seen = [False] * m
    stack = [root]
    seen[root] = True
    while stack:
        x = stack.pop()
        order.append(x)
        for y in reversed(adj[x]):
            if not seen[y]:
                seen[y] = True
                parent[y] = x
                stack.append(y)
    return order, parent


def _best_cut(
    nodes: np.ndarray,
    parent: np.ndarray,
    size: np.ndarray,
    k: int,
    w: np.ndarray,
    lo: int,
    hi: int,
    graph: _Graph | None = None,
) -> tuple[int, int, float] | None:
    """Best tree edge to cut: (local node whose parent edge is cut, grids on its side, imbalance).

    Among balanced cuts the one halving k wins, then the shortest boundary between the
    two sides (:func:`_subtree_cut_cost` on ``graph``; computed only on a tie,
    which is rare enough to keep the split fast), discounted for imbalance.
    """
    m = len(nodes)
    wl = w[nodes]
    pref = np.concatenate([[0], np.cumsum(wl)])
    idx = np.arange(m)
    s = pref[idx + size] - pref[idx]
    total = int(pref[-1])
    s, sz = s[1:], size[1:]
    rest = total - s
    a1, a2 = _k_window(s, lo, hi)
    b1, b2 = _k_window(rest, lo, hi)
    k_lo = np.maximum.reduce([a1, k - b2, np.ones_like(s)])
    k_hi = np.minimum.reduce([a2, k - b1, np.full_like(s, k - 1)])
    # each side needs at least one block per grid
    k_lo = np.maximum(k_lo, k - (m - sz))
    k_hi = np.minimum(k_hi, sz)
    ok = k_lo <= k_hi
    if not ok.any():
        return None
    cand = np.flatnonzero(ok)
    mean = total / k
    k1 = np.clip(np.rint(s[cand] / mean), k_lo[cand], k_hi[cand]).astype(np.int64)
    dev = np.abs(s[cand] - k1 * mean) / mean
    imbalance = np.maximum(dev / k1, dev / (k - k1))
    balanced = imbalance <= BALANCE_TOLERANCE
    if balanced.any():
        sel = np.flatnonzero(balanced)
        halving = np.abs(2 * k1[sel] - k)
        tie = sel[halving == halving.min()]
        if len(tie) > 1 and graph is not None:
            # The imbalance discount: the very shortest cut often runs along the coarse
            # street structure and leaves less room to balance the grids below it.
            cheap = _subtree_cut_cost(nodes, parent, size, graph)[cand[tie] + 1] * (
                1 + imbalance[tie] / BALANCE_TOLERANCE
            )
            best = int(tie[np.lexsort((imbalance[tie], cheap))[0]])
        else:
            best = int(tie[np.argmin(imbalance[tie])])
    else:
        best = int(np.argmin(imbalance))
    return int(cand[best]) + 1, int(k1[best]), float(imbalance[best])


def _split(
    nodes: np.ndarray, parent: np.ndarray, size: np.ndarray, u: int
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Cut the preorder tree at local node ``u``: its subtree and the rest, both still preorder trees."""
    s = int(size[u])
    end = u + s
    a_nodes, a_parent, a_size = nodes[u:end], parent[u:end] - u, size[u:end]
    a_parent = a_parent.copy()
    a_parent[0] = -1
    keep = np.r_[np.arange(u), np.arange(end, len(nodes))]
    b_nodes = nodes[keep]
    bp = parent[keep]
    b_parent = np.where(bp >= end, bp - s, bp)
    idx = keep
    b_size = np.where((idx < u) & (idx + size[keep] >= end), size[keep] - s, size[keep])
    return (a_nodes, a_parent, a_size), (b_nodes, b_parent, b_size)


def _subtree_cut_cost(nodes: np.ndarray, parent: np.ndarray, size: np.ndarray, graph: _Graph) -> np.ndarray:
    """Cut cost of separating each subtree from the rest of the sub-graph (0 at the root).

    An edge ``(p, q)`` crosses the boundary of subtree ``u`` iff ``u`` lies on the tree
    path between ``p`` and ``q`` below their lowest common ancestor, so the cost is
    ``subtree sum(cost at both ends) - 2 * subtree sum(cost at the LCA)``.  LCAs come from
    binary lifting on the preorder (``a`` contains ``p`` iff ``a <= p < a + size[a]``).
    """
    m = len(nodes)
    if m <= 1:
        return np.zeros(m)
    r, c, cost = graph.subgraph(nodes)  # local indices = preorder positions
    p, q = np.minimum(r, c), np.maximum(r, c)
    up = np.where(parent >= 0, parent, 0)
    x = q.copy()
    levels = [up]
    while (1 << len(levels)) < m:
        levels.append(levels[-1][levels[-1]])
    for lev in reversed(levels):
        y = lev[x]
        climb = ~((y <= p) & (p < y + size[y]))
        x = np.where(climb, y, x)
    lca = up[x]
    below_p = q < p + size[p]  # p is an ancestor of q
    lca[below_p] = p[below_p]
    at = np.bincount(p, weights=cost, minlength=m) + np.bincount(q, weights=cost, minlength=m)
    at -= 2 * np.bincount(lca, weights=cost, minlength=m)
    pref = np.concatenate([[0.0], np.cumsum(at)])
    idx = np.arange(m)
    out = pref[idx + size] - pref[idx]
    out[0] = 0.0
    return out


def _recursive_partition(
    comp: np.ndarray,
    k: int,
    w: np.ndarray,
    graph: _Graph,
    rule: Rule,
    rng: np.random.Generator,
    deadline: float,
) -> list[np.ndarray]:
    """Split one connected component into ``k`` contiguous parts within bounds (or raise _NoCutError)."""
    lo, hi = rule.lo, rule.hi
    parts: list[np.ndarray] = []
    stack = [(*_spanning_tree(comp, graph, rng), k)]
    while stack:
        nodes, parent, size, kk = stack.pop()
        if kk == 1:
            parts.append(nodes)
            continue
        if time.perf_counter() > deadline:
            raise TimeoutError
        best = None
        # Stop early on a balanced cut; keep drawing (longer) while no valid cut was seen.
        for attempt in range(TREES_PER_SPLIT * 4):
            if attempt:
                nodes, parent, size = _spanning_tree(nodes, graph, rng)
            cut = _best_cut(nodes, parent, size, kk, w, lo, hi, graph)
            if cut is not None and (best is None or cut[2] < best[0][2]):
                best = (cut, nodes, parent, size)
            if best is not None and (best[0][2] <= BALANCE_TOLERANCE or attempt + 1 >= TREES_PER_SPLIT):
                break
        if best is None:
            raise _NoCutError
        (u, k1, _), nodes, parent, size = best
        side_a, side_b = _split(nodes, parent, size, u)
        stack.append((*side_a, k1))
        stack.append((*side_b, kk - k1))
    return parts


def _is_connected_without(members: set[int], v: int, nbrs: list[list[int]]) -> bool:
    """Whether ``members - {v}`` stays connected (breadth-first search inside the grid)."""
    rest = len(members) - 1
    if rest <= 1:
        return True
    start = next(u for u in nbrs[v] if u in members)
    seen = {start, v}
    todo = [start]
    while todo:
        x = todo.pop()
        for y in nbrs[x]:
            if y not in seen and y in members:
                seen.add(y)
                todo.append(y)
    return len(seen) - 1 == rest


def _improve(
    labels: np.ndarray,
    w: np.ndarray,
    graph: _Graph,
    rule: Rule,
    rng: np.random.Generator,
    *,
    weight: float,
    band: float,
    penalty: float,
) -> int:
    """Move boundary blocks between neighbouring grids while that lowers the objective.

    Objective: ``sum(f(h_g)) + weight * cut cost / mean edge cost`` with
    ``f(h) = d^2 + penalty * max(0, |d| - band)^2``, ``d = (h - mean) / mean``.
    The cut cost (shared-edge length, weighted towards narrow streets) is the grids'
    perimeter inside the village: lowering it straightens boundaries and unwinds grids
    that wrap around their neighbours.  Inside the band the cut dominates; leaving it
    costs steeply, so households stay balanced.  A move keeps both grids within bounds
    and the donor contiguous.  Passes are fixed in number and order (seeded) so the
    result is deterministic.
    """
    n = len(labels)
    k = int(labels.max()) + 1
    hsum = np.bincount(labels, weights=w, minlength=k).astype(np.int64).tolist()
    mean = float(np.sum(w)) / k
    nbrs, costs = graph.lists()
    edge_scale = float(graph.cost.mean()) if len(graph.cost) else 1.0
    cut_w = weight / edge_scale
    inv = 1.0 / mean if mean > 0 else 0.0
    pen = penalty

    def f(h: int) -> float:
        d = (h - mean) * inv
        e = abs(d) - band
        return d * d + pen * e * e if e > 0 else d * d

    lab = labels.tolist()
    wl = w.astype(np.int64).tolist()
    members: list[set[int]] = [set() for _ in range(k)]
    for i, g in enumerate(lab):
        members[g].add(i)
    lo, hi = rule.lo, rule.hi
    moves = 0
    for _ in range(IMPROVEMENT_PASSES):
        moved = 0
        for v in rng.permutation(n).tolist():
            a = lab[v]
            nv = nbrs[v]
            # cost of v's edges per neighbouring grid
            per: dict[int, float] = {}
            for u, c in zip(nv, costs[v], strict=True):
                g = lab[u]
                per[g] = per.get(g, 0.0) + c
            if len(per) == 1 and a in per:
                continue
            x = wl[v]
            ha = hsum[a]
            if ha - x < lo:
                continue
            inside = per.get(a, 0.0)
            base_a = f(ha - x) - f(ha) if x else 0.0
            best_g, best_delta = -1, -1e-12
            for g, c in per.items():
                if g == a or hsum[g] + x > hi:
                    continue
                hg = hsum[g]
                delta = cut_w * (inside - c)
                if x:
                    delta += base_a + f(hg + x) - f(hg)
                if delta < best_delta:
                    best_g, best_delta = g, delta
            if best_g < 0 or not _is_connected_without(members[a], v, nbrs):
                continue
            members[a].discard(v)
            members[best_g].add(v)
            hsum[a] -= x
            hsum[best_g] += x
            lab[v] = best_g
            moved += 1
        moves += moved
        if not moved:
            break
    labels[:] = lab
    return moves


def partition_graph(
    adj_cost: sparse.csr_matrix,
    households: np.ndarray,
    rule: Rule | str | tuple[int, int],
    *,
    k: int | None = None,
    seed: int = 0,
    time_limit: float = 30.0,
    improve: bool = True,
) -> BlockPartition:
    """Split a weighted block graph into contiguous parts within household bounds.

    Parameters
    ----------
    adj_cost : scipy.sparse matrix, shape (n, n)
        Symmetric; a non-zero entry means two blocks share an edge, its value is the cost
        of cutting there (see :class:`geogrid.blocks.BlockGraph`).
    households : array of int, shape (n,)
    rule : Rule, "urban", "rural" or (lo, hi)
    k : int, optional
        Number of parts; default: per connected component the count whose mean is
        closest to the middle of the bounds.
    seed : int
        Seeds every random choice; same inputs and seed, same labels.
    time_limit : float
        Seconds after which the search gives up with :class:`InfeasibleError`.
    improve : bool
        Run the boundary-move improvement (balance, compactness) after the split.

    Returns
    -------
    BlockPartition
        ``labels`` (n,) in 0..k-1 and the household total per part.

    Raises
    ------
    InfeasibleError
        No k fits, a component cannot be split, or the search ran out of attempts/time.

    Examples
    --------
    >>> from scipy import sparse
    >>> path = sparse.diags([1.0, 1.0], [-1, 1], shape=(6, 6)).tocsr()  # six blocks in a row
    >>> part = partition_graph(path, np.array([5, 5, 5, 5, 5, 5]), (10, 15), seed=1)
    >>> part.k, sorted(part.households.tolist())
    (2, [15, 15])
    """
    rule = resolve_rule(rule)
    t0 = time.perf_counter()
    w = np.asarray(households, dtype=np.int64)
    adj_cost = _checked_graph(adj_cost, w, rule)
    ncomp, comp_of = connected_components(adj_cost, directed=False)
    comps = [np.flatnonzero(comp_of == c) for c in range(ncomp)]
    ks = choose_k([int(w[c].sum()) for c in comps], rule, k)
    graph = _Graph(adj_cost)
    rng = np.random.default_rng(seed)
    deadline = t0 + time_limit
    labels = np.full(len(w), -1, dtype=np.int64)
    attempts = 0
    next_label = 0
    for comp, kc in zip(comps, ks, strict=True):
        # With coarse blocks the count nearest the middle of the bounds may have no
        # contiguous solution while a neighbouring count does: try a few, nearest first.
        if k is None:
            window = _grid_counts(int(w[comp].sum()), rule)
            candidates = sorted(window, key=lambda c: (abs(c - kc), c))[:K_CANDIDATES]
        else:
            candidates = [kc]
        parts, tried = _split_component(comp, candidates, w, graph, rule, rng, deadline, time_limit)
        attempts += tried
        for p in parts:
            labels[p] = next_label
            next_label += 1
    t_split = time.perf_counter()
    moves = 0
    if improve:
        moves = _improve(
            labels, w, graph, rule, rng, weight=COMPACTNESS_WEIGHT, band=BALANCE_BAND, penalty=BAND_PENALTY
        )
    t_improve = time.perf_counter()
    hh = np.bincount(labels, weights=w, minlength=next_label).astype(np.int64)
    # Defensive: the construction guarantees this; a violation is a bug, not a result.
    if (hh < rule.lo).any() or (hh > rule.hi).any():
        raise AssertionError("internal: a part left the bounds")
    return BlockPartition(
        labels=labels,
        k=next_label,
        households=hh,
        attempts=attempts,
        moves=moves,
        components=ncomp,
        seconds={"split": t_split - t0, "improve": t_improve - t_split},
    )


def _checked_graph(adj_cost, w: np.ndarray, rule: Rule) -> sparse.csr_matrix:
    """The adjacency as CSR without explicit zeros, after refusing inputs no partition can fit."""
    if len(w) == 0:
        raise InfeasibleError("there are no blocks to partition")
    if (w < 0).any():
        raise InfeasibleError(
            "household counts must be >= 0", details={"blocks": np.flatnonzero(w < 0).tolist()}
        )
    adj_cost = sparse.csr_matrix(adj_cost, dtype=float)
    adj_cost.eliminate_zeros()
    above = np.flatnonzero(w > rule.hi)
    if len(above):
        raise InfeasibleError(
            f"{len(above)} block(s) hold more than {rule.hi} households and cannot be split here",
            details={"blocks": above.tolist(), "households": w[above].tolist()},
        )
    total = int(w.sum())
    if len(_grid_counts(total, rule)) == 0:
        raise InfeasibleError(
            f"{total} households cannot be split into grids of [{rule.lo}, {rule.hi}]",
            details={"households": total},
        )
    return adj_cost


def _split_component(
    comp: np.ndarray,
    candidates: list[int],
    w: np.ndarray,
    graph: _Graph,
    rule: Rule,
    rng: np.random.Generator,
    deadline: float,
    time_limit: float,
) -> tuple[list[np.ndarray], int]:
    """Parts of one connected component for the first count in ``candidates`` that splits, and attempts."""
    comp_total = int(w[comp].sum())
    tried = 0
    for kc in candidates:
        for _ in range(RESTARTS):
            tried += 1
            try:
                return _recursive_partition(comp, kc, w, graph, rule, rng, deadline), tried
            except _NoCutError:
                continue
            except TimeoutError:
                raise InfeasibleError(
                    f"no partition within [{rule.lo}, {rule.hi}] found in {time_limit:.0f} s",
                    details={"k": kc, "households": comp_total, "blocks": len(comp), "search": True},
                ) from None
    raise InfeasibleError(
        f"no contiguous split of {len(comp)} blocks ({comp_total} households) into "
        f"{candidates} grids within [{rule.lo}, {rule.hi}] found after {tried} attempts",
        details={
            "k_tried": candidates,
            "households": comp_total,
            "blocks": len(comp),
            "attempts": tried,
            "search": True,
        },
    )


# --------------------------------------------------------------------------- geometry level


def _address_frame(addresses, crs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Metric points, households and ids of the address frame (households default to 1)."""
    if addresses is None or len(addresses) == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    pts = to_crs_array(addresses, crs)
    if "households" in addresses.columns:
        hh = pd.to_numeric(addresses["households"], errors="coerce")
        if hh.isna().any() or (hh < 0).any():
            bad = (np.flatnonzero((hh.isna() | (hh < 0)).to_numpy()) + 1).tolist()  # 1-based rows
            raise InvalidGeometryError(f"addresses need households >= 0; bad rows: {bad[:20]}")
        hh = hh.to_numpy(dtype=np.int64)
    else:
        hh = np.ones(len(pts), dtype=np.int64)
    ids = (
        addresses["address_id"].astype(str).to_numpy(dtype=object)
        if "address_id" in addresses.columns
        else np.array([str(i) for i in range(1, len(addresses) + 1)], dtype=object)  # 1-based rows
    )
    if not shapely.is_empty(pts).any() and (shapely.get_type_id(pts) != 0).any():
        pts = shapely.point_on_surface(pts)
    return pts, hh, ids


def _attach(geoms: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Block index of each point, -1 outside every block.

    A point on a shared street line touches two blocks; it goes to the lower block index
    so the choice is deterministic.
    """
    out = np.full(len(pts), -1, dtype=np.int64)
    if len(pts) == 0:
        return out
    pi, bi = shapely.STRtree(geoms).query(pts, predicate="intersects")
    if len(pi):
        order = np.lexsort((bi, pi))
        pi, bi = pi[order], bi[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        out[pi[first]] = bi[first]
    return out


def _voronoi_cuts(block: shapely.Geometry, pts: np.ndarray) -> np.ndarray:
    """Voronoi edges between distinct address locations, clipped to (just beyond) the block.

    The lines overshoot the block by 1 cm so that the re-noding meets the block boundary
    for sure; the overshoot is a dangle and does not create faces.
    """
    xy = np.unique(np.round(shapely.get_coordinates(pts), 6), axis=0)
    if len(xy) < 2:
        return np.empty(0, dtype=object)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=block))
    edges = shapely.union_all(shapely.boundary(cells))
    clipped = shapely.intersection(edges, shapely.buffer(block, 0.01))
    parts = shapely.get_parts(clipped)
    return parts[shapely.get_type_id(parts) == 1]


def partition(
    area,
    addresses: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    rule: Rule | str | tuple[int, int],
    *,
    barriers=None,
    k: int | None = None,
    kind: str | None = None,
    seed: int = 0,
    division_code: str | None = None,
    min_area_m2: float = 1.0,
    min_width_m: float = 0.5,
    time_limit: float = 30.0,
    validate: bool = True,
    drop_outside: bool = False,
) -> PartitionResult:
    """Divide a village/community into contiguous grids of ``rule.lo``..``rule.hi`` households.

    Parameters
    ----------
    area : shapely Polygon/MultiPolygon (EPSG:4326) or GeoDataFrame/GeoSeries
    addresses : GeoDataFrame
        Address points with ``households`` (default 1 each) and ``address_id`` (default the
        1-based row).  An address without position or outside the area is an error naming its
        row (:func:`geogrid.partition_inputs.check_addresses`) unless ``drop_outside``.
    streets : GeoDataFrame
        Street lines with optional ``street_class``; grid boundaries follow them and
        prefer wider classes.
    rule : Rule, "urban", "rural", "linked" or (lo, hi)
    barriers : GeoDataFrame, optional
        Rivers, railways: cut blocks and are the preferred grid boundary.
    k : int, optional
        Number of grids; default: the feasible count closest to the middle of the bounds.
    kind : str, optional
        Value of the grids' ``kind`` column; default the rule's name when it is
        ``"urban"``/``"rural"``.
    seed : int
        Same inputs and seed, same grids.
    division_code : str, optional
        12-digit village code (or 15-digit grid code for sub-grids): grids are then
        numbered west→east, north→south (:func:`geogrid.codes.number_grids`).
    min_area_m2, min_width_m : float
        Sliver tolerances of :func:`geogrid.blocks.make_blocks`.
    time_limit : float
        Seconds after which the search stops with :class:`InfeasibleError`.
    validate : bool
        Attach a :class:`geogrid.validate.ValidationReport` of the result, checked in the CRS
        the grids were computed in (the area's own projected CRS, or one affine in lon/lat).
    drop_outside : bool
        Leave addresses outside the area out (listed in ``diagnostics.addresses_outside``)
        instead of refusing them.

    Returns
    -------
    PartitionResult
        ``grids`` (EPSG:4326; ``frames.GRID_COLUMNS`` + ``blocks``), ``blocks`` (metric CRS
        with ``households`` and ``grid``), ``diagnostics``, ``report``.

    Raises
    ------
    InfeasibleError
        Total below the lower bound, no feasible number of grids, an address (or several
        at one spot) above the upper bound, a disconnected part that cannot form grids,
        or no split found within the attempt/time budget, neither of whole blocks nor
        with blocks cut between addresses.  ``details`` has the evidence (``levels``: the
        refinement levels searched).

    Notes
    -----
    Coverage: grids are unions of blocks sharing exact boundaries, so they do not
    overlap and their union is the area as given: the working CRS is affine in lon/lat
    (:func:`geogrid.crs.planar_crs_for`), the area's own vertices are copied into the
    EPSG:4326 output bit for bit, and street crossings lie on the area's edges up to
    floating-point round-off.  Per village the symmetric difference between the union of
    the grids and the area, measured in EPSG:4326, is below :data:`COVER_TOLERANCE_M2`
    (1e-5 m²; float64 places a crossing within ~1e-9 m of a lon/lat edge, a few 1e-6 m²
    over a village's kilometres of edge).  Every grid is a valid Polygon in EPSG:4326: noding is
    snap-rounded to 1 µm (:data:`geogrid.blocks.NODING_GRID_M`), far above the ~1e-9 m a
    vertex moves in re-projection, and the output is checked.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, Point, box
    >>> crs = "EPSG:32651"
    >>> area = gpd.GeoSeries([box(0, 0, 300, 100)], crs=crs)
    >>> streets = gpd.GeoDataFrame({"street_class": ["lane", "lane"]}, crs=crs,
    ...     geometry=[LineString([(100, -5), (100, 105)]), LineString([(200, -5), (200, 105)])])
    >>> addresses = gpd.GeoDataFrame({"households": [30, 30, 30]}, crs=crs,
    ...     geometry=[Point(50, 50), Point(150, 50), Point(250, 50)])
    >>> result = partition(area, addresses, streets, (20, 60), seed=0)
    >>> sorted(result.grids.households.tolist()), result.report.ok
    ([30, 60], True)
    """
    t0 = time.perf_counter()
    check_addresses(area, addresses, drop_outside=drop_outside)
    prepared = prepare(area, addresses, rule)
    block_set = build_blocks(
        prepared, streets, barriers=barriers, min_area_m2=min_area_m2, min_width_m=min_width_m
    )
    t_blocks = time.perf_counter()
    found = search(block_set, k=k, seed=seed, time_limit=time_limit)
    t_part = time.perf_counter()
    assembled = assemble(found, prepared, kind=kind, division_code=division_code)
    t_dissolve = time.perf_counter()
    seconds = {
        "blocks": t_blocks - t0,
        **found.partition.seconds,
        "partition": t_part - t_blocks,
        "dissolve": t_dissolve - t_part,
    }
    diagnostics = diagnose(prepared, found, assembled, seed=seed, seconds=seconds)
    report = None
    if validate:
        from geogrid.validate import validate as _validate

        t_v = time.perf_counter()
        # In the CRS the grids were computed in: an area given in UTM has straight edges there,
        # which bend (by up to metres) in EPSG:4326.
        report = _validate(
            assembled.grids_m.drop(columns="blocks", errors="ignore"),
            parent=gpd.GeoSeries([prepared.area_m], crs=prepared.crs),
            rule=prepared.rule,
        )
        diagnostics.seconds["validate"] = time.perf_counter() - t_v
    diagnostics.seconds["total"] = time.perf_counter() - t0
    return PartitionResult(
        grids=assembled.grids, blocks=assembled.blocks, diagnostics=diagnostics, report=report
    )


# --------------------------------------------------------------------------- the steps of partition()


@dataclass
class PreparedInputs:
    """Step 0 of :func:`partition`: the area and addresses in the working CRS, checked against the rule.

    ``points``, ``households`` and ``ids`` are the addresses inside the area; ``outside_ids``
    the ones outside it (ignored, listed in the diagnostics).
    """

    rule: Rule
    area_m: shapely.Geometry
    crs: CRS
    area_ll: shapely.Geometry
    points: np.ndarray
    households: np.ndarray
    ids: np.ndarray
    outside_ids: list[str]

    @property
    def total(self) -> int:
        return int(self.households.sum())


def prepare(area, addresses: gpd.GeoDataFrame, rule: Rule | str | tuple[int, int]) -> PreparedInputs:
    """Project the inputs to the working CRS and refuse what no partition can satisfy.

    Raises :class:`InfeasibleError` for an address above the upper bound, several addresses at
    one spot above it, or a total that fits no number of grids.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> crs = "EPSG:32651"
    >>> addresses = gpd.GeoDataFrame({"households": [30, 40, 5]}, crs=crs,
    ...     geometry=[Point(50, 50), Point(150, 50), Point(900, 900)])
    >>> p = prepare(gpd.GeoSeries([box(0, 0, 300, 100)], crs=crs), addresses, (20, 60))
    >>> p.total, p.outside_ids
    (70, ['3'])
    """
    rule = resolve_rule(rule)
    area_m, crs = working_crs(area)
    pts, hh, ids = _address_frame(addresses, crs)
    above = np.flatnonzero(hh > rule.hi)
    if len(above):
        raise InfeasibleError(
            f"{len(above)} address(es) hold more than {rule.hi} households; split them or raise the bound",
            details={"address_ids": ids[above].tolist(), "households": hh[above].tolist(), "hi": rule.hi},
        )
    inside = shapely.intersects(area_m, pts) if len(pts) else np.zeros(0, dtype=bool)
    prepared = PreparedInputs(
        rule, area_m, crs, _area_wgs84(area), pts[inside], hh[inside], ids[inside], ids[~inside].tolist()
    )
    if len(_grid_counts(prepared.total, rule)) == 0:
        raise InfeasibleError(
            f"{prepared.total} households cannot be split into grids of [{rule.lo}, {rule.hi}] households",
            details={"households": prepared.total, "lo": rule.lo, "hi": rule.hi},
        )
    _refuse_heavy_spots(prepared)
    return prepared


def _refuse_heavy_spots(prepared: PreparedInputs) -> None:
    """Addresses at the same spot cannot be separated by any boundary: together they must fit."""
    if not len(prepared.points):
        return
    hi = prepared.rule.hi
    xy = np.round(shapely.get_coordinates(prepared.points), 3)
    spot = np.unique(xy, axis=0, return_inverse=True)[1].ravel()
    spot_hh = np.bincount(spot, weights=prepared.households)
    heavy = np.flatnonzero(spot_hh > hi)
    if len(heavy):
        members = np.isin(spot, heavy)
        raise InfeasibleError(
            f"{len(heavy)} location(s) hold more than {hi} households at one point",
            details={
                "address_ids": prepared.ids[members].tolist(),
                "households": spot_hh[heavy].astype(int).tolist(),
            },
        )


@dataclass
class Blocks:
    """A block graph with the addresses attached: ``owner`` (block of each address, -1 on none),
    ``households`` per block, and the street blocks ``cut`` between their addresses to make it."""

    graph: BlockGraph
    owner: np.ndarray
    households: np.ndarray
    cut: frozenset[int] = frozenset()


class BlockSet:
    """The street blocks of an area and, on demand, the same blocks cut between their addresses.

    Step 1 of :func:`partition` (made by :func:`build_blocks`).  Each street block's Voronoi
    cuts are computed once: the refinement levels of :func:`search` cut growing sets of blocks
    with the same lines.  ``initial`` is the graph the search starts from: street blocks, with
    those above the upper bound already cut.
    """

    def __init__(
        self, prepared: PreparedInputs, lines, classes, barriers, *, min_area_m2: float, min_width_m: float
    ) -> None:
        self.prepared = prepared
        self._graph_args = {
            "lines": lines,
            "classes": classes,
            "barriers": barriers,
            "min_area_m2": min_area_m2,
            "min_width_m": min_width_m,
        }
        self.streets = self._attached(build_block_graph(prepared.area_m, prepared.crs, **self._graph_args))
        owner = self.streets.owner
        self._by_block = np.argsort(owner, kind="stable")
        self._bounds = np.searchsorted(owner[self._by_block], np.arange(self.streets.graph.n + 1))
        self._voronoi: dict[int, np.ndarray] = {}
        self.initial = self.cut(self.to_cut(prepared.rule.hi))

    @property
    def rule(self) -> Rule:
        return self.prepared.rule

    def _attached(self, graph: BlockGraph, cut: frozenset[int] = frozenset()) -> Blocks:
        pts, hh = self.prepared.points, self.prepared.households
        own = _attach(graph.geoms, pts)
        bh = np.bincount(own[own >= 0], weights=hh[own >= 0], minlength=graph.n).astype(np.int64)
        return Blocks(graph, own, bh, cut)

    def to_cut(self, threshold: int) -> frozenset[int]:
        """Street blocks above ``threshold`` households that have addresses to cut between."""
        out = []
        for b in np.flatnonzero(self.streets.households > threshold).tolist():
            if b not in self._voronoi:
                members = self._by_block[self._bounds[b] : self._bounds[b + 1]]
                self._voronoi[b] = _voronoi_cuts(self.streets.graph.geoms[b], self.prepared.points[members])
            if len(self._voronoi[b]):
                out.append(b)
        return frozenset(out)

    def cut(self, blocks: frozenset[int]) -> Blocks:
        """The blocks with the street blocks ``blocks`` cut between their addresses."""
        if not blocks:
            return self.streets
        internal = np.concatenate([self._voronoi[b] for b in sorted(blocks)])
        graph = build_block_graph(
            self.prepared.area_m, self.prepared.crs, internal=internal, **self._graph_args
        )
        return self._attached(graph, blocks)


def _example_inputs() -> tuple[PreparedInputs, gpd.GeoDataFrame]:
    """The inputs of the step functions' examples: a 200 m × 100 m area (UTM 51N) cut in two by
    one street, 30 households west of it and 40 east, bounds 20–60; prepared, and the street."""
    crs = "EPSG:32651"
    streets = gpd.GeoDataFrame(geometry=[LineString([(100, -5), (100, 105)])], crs=crs)
    addresses = gpd.GeoDataFrame({"households": [30, 40]}, crs=crs, geometry=[Point(50, 50), Point(150, 50)])
    return prepare(gpd.GeoSeries([box(0, 0, 200, 100)], crs=crs), addresses, (20, 60)), streets


def build_blocks(
    prepared: PreparedInputs,
    streets: gpd.GeoDataFrame,
    *,
    barriers=None,
    min_area_m2: float = 1.0,
    min_width_m: float = 0.5,
) -> BlockSet:
    """Step 1 of :func:`partition`: street (and barrier) lines + the area → blocks with households.

    A block above the upper bound is cut between its addresses; if that cannot bring it
    within the bound (all its households at one location) :class:`InfeasibleError` names them.

    Examples
    --------
    >>> p, streets = _example_inputs()  # 30 and 40 households on either side of one street
    >>> sorted(build_blocks(p, streets).initial.households.tolist())
    [30, 40]
    """
    lines, classes = street_lines(streets, prepared.crs)
    barrier_geoms = to_crs_array(barriers, prepared.crs) if barriers is not None and len(barriers) else None
    block_set = BlockSet(
        prepared, lines, classes, barrier_geoms, min_area_m2=min_area_m2, min_width_m=min_width_m
    )
    initial = block_set.initial
    still = np.flatnonzero(initial.households > prepared.rule.hi)
    if len(still):
        raise InfeasibleError(
            f"{len(still)} block(s) above {prepared.rule.hi} households could not be cut between their addresses",
            details={"address_ids": prepared.ids[np.isin(initial.owner, still)].tolist()},
        )
    return block_set


@dataclass
class SearchResult:
    """Step 2 of :func:`partition`: the blocks searched last and their labels (a :class:`BlockPartition`).

    ``levels`` lists the refinement levels that failed before (empty when whole blocks did).
    """

    blocks: Blocks
    partition: BlockPartition
    levels: list[dict] = field(default_factory=list)

    @property
    def refined(self) -> bool:
        return bool(self.levels)


def search(
    block_set: BlockSet, *, k: int | None = None, seed: int = 0, time_limit: float = 30.0
) -> SearchResult:
    """Split the block graph into contiguous grids within bounds, cutting more blocks if needed.

    Whole street blocks can be too coarse for the bounds: urban compounds of 200-480
    households under 300-500 leave few contiguous ways to make the totals.  A finer graph
    keeps every solution of the coarser one (a block's pieces can stay together) and adds
    more, so on a failed search the engine cuts more blocks between their addresses and
    searches again: blocks above the lower bound, above half of it, then every block with
    addresses at two or more locations.  A level is tried only if it cuts more blocks than the
    last, and cut lines are the most expensive grid boundary, so grids still follow streets
    wherever the bounds allow.

    Examples
    --------
    >>> p, streets = _example_inputs()  # 30 and 40 households on either side of one street
    >>> sorted(search(build_blocks(p, streets)).partition.households.tolist())
    [30, 40]
    """
    rule = block_set.rule
    deadline = time.perf_counter() + time_limit
    blocks = block_set.initial
    first_error: InfeasibleError | None = None
    levels: list[dict] = []
    for threshold in (rule.hi, rule.lo, rule.lo // 2, 0):
        if threshold < rule.hi:
            finer = block_set.to_cut(threshold)
            if finer == blocks.cut:
                continue
            if time.perf_counter() > deadline:
                raise _search_failed(first_error, levels, blocks, time_limit=time_limit, out_of_time=True)
            blocks = block_set.cut(finer)
        try:
            part = partition_graph(
                blocks.graph.adjacency(blocks.graph.cost),
                blocks.households,
                rule,
                k=k,
                seed=seed,
                time_limit=max(0.5, deadline - time.perf_counter()),
            )
            return SearchResult(blocks, part, levels)
        except InfeasibleError as exc:
            # Only a failed search is worth refining: a count that cannot fit on whole
            # blocks (the first level) cannot fit on finer ones either.
            if first_error is None:
                if not exc.details.get("search"):
                    raise
                first_error = exc
            levels.append(
                {
                    "cut_above": threshold,
                    "blocks_cut": len(blocks.cut),
                    "blocks": blocks.graph.n,
                    "reason": exc.reason,
                }
            )
    raise _search_failed(first_error, levels, blocks, time_limit=time_limit, out_of_time=False)


def _search_failed(
    first_error: InfeasibleError | None,
    levels: list[dict],
    blocks: Blocks,
    *,
    time_limit: float,
    out_of_time: bool,
) -> InfeasibleError:
    """The first level's reason, with how far the refinement went."""
    assert first_error is not None
    if out_of_time:
        tail = f"; the {time_limit:.0f} s limit left no time to cut more blocks between their addresses"
    elif len(levels) > 1:
        tail = f"; nor with {len(blocks.cut)} street block(s) cut between their addresses ({blocks.graph.n} blocks)"
    else:
        tail = "; no block has addresses at two locations to cut between"
    return InfeasibleError(first_error.reason + tail, details={**first_error.details, "levels": levels})


@dataclass
class AssembledGrids:
    """Step 3 of :func:`partition`: the grids (EPSG:4326), the same in the working CRS, the blocks frame."""

    grids: gpd.GeoDataFrame
    grids_m: gpd.GeoDataFrame
    blocks: gpd.GeoDataFrame


def assemble(
    found: SearchResult,
    prepared: PreparedInputs,
    *,
    kind: str | None = None,
    division_code: str | None = None,
) -> AssembledGrids:
    """Dissolve the blocks of each grid, code and name the grids, re-project them exactly to EPSG:4326.

    Examples
    --------
    >>> p, streets = _example_inputs()  # 30 and 40 households on either side of one street
    >>> out = assemble(search(build_blocks(p, streets)), p, division_code="320508019044")
    >>> out.grids[["code", "households"]].values.tolist()
    [['320508019044001', 30], ['320508019044002', 40]]
    """
    blocks, part, rule = found.blocks, found.partition, prepared.rule
    addr_count = np.bincount(blocks.owner[blocks.owner >= 0], minlength=blocks.graph.n)
    grids = _dissolve(blocks.graph, part.labels, blocks.households, addr_count)
    grid_kind = kind if kind is not None else (rule.name if rule.name in ("urban", "rural") else None)
    grids.insert(0, "kind", grid_kind)
    grids.insert(0, "level", 3)
    grids.insert(0, "division_code", division_code)
    grids.insert(0, "code", None)
    grids["name"] = [f"grid {i + 1}" for i in range(len(grids))]
    if division_code is not None:
        from geogrid.codes import number_grids

        grids = number_grids(grids, division_code)
        grids["name"] = [f"第{int(c[-3:] if len(c) == 15 else c[-2:])}网格" for c in grids["code"]]
    grids = grids[[*GRID_COLUMNS, "blocks", "geometry"]]
    grids = grids.set_crs(prepared.crs, allow_override=True) if grids.crs is None else grids
    block_frame = blocks.graph.to_frame()
    block_frame["households"] = blocks.households
    block_frame["address_count"] = addr_count
    block_frame["grid"] = part.labels
    return AssembledGrids(_grids_wgs84(grids, prepared.area_m, prepared.area_ll), grids, block_frame)


def diagnose(
    prepared: PreparedInputs,
    found: SearchResult,
    assembled: AssembledGrids,
    *,
    seed: int = 0,
    seconds: dict[str, float] | None = None,
) -> PartitionDiagnostics:
    """Step 4 of :func:`partition`: the numbers a planner or a benchmark wants to see.

    Examples
    --------
    >>> p, streets = _example_inputs()  # 30 and 40 households on either side of one street
    >>> found = search(build_blocks(p, streets))
    >>> d = diagnose(p, found, assemble(found, p))
    >>> d.k, d.total_households, d.households_min, d.households_max
    (2, 70, 30, 40)
    """
    part, blocks, rule = found.partition, found.blocks, prepared.rule
    outside_ids = list(prepared.outside_ids)
    unassigned = blocks.owner < 0
    if unassigned.any():  # inside the area but on no block: only possible at noding round-off
        outside_ids += prepared.ids[unassigned].tolist()
    k_range = _grid_counts(prepared.total, rule)
    hh_grid = part.households.astype(float)
    pp = polsby_popper(assembled.grids_m.geometry.values)
    return PartitionDiagnostics(
        rule=rule,
        k=part.k,
        k_range=(k_range.start, k_range.stop - 1),
        total_households=prepared.total,
        household_cv=part.cv,
        households_min=int(hh_grid.min()),
        households_max=int(hh_grid.max()),
        n_blocks=blocks.graph.n,
        n_blocks_split=len(blocks.cut),
        n_addresses=len(prepared.points),
        addresses_outside=outside_ids,
        components=part.components,
        attempts=part.attempts,
        moves=part.moves,
        merged_slivers=blocks.graph.merged_slivers,
        refined=found.refined,
        seed=seed,
        compactness_mean=float(pp.mean()),
        compactness_min=float(pp.min()),
        seconds=dict(seconds or {}),
    )


def _area_wgs84(area) -> shapely.Geometry:
    """The area as given, in EPSG:4326 (vertex for vertex what :func:`working_crs` projected)."""
    geom, src = _as_geometry(area)
    if src == WGS84_CRS:
        return geom
    return gpd.GeoSeries([geom], crs=src).to_crs(WGS84).iloc[0]


def _grids_wgs84(
    grids: gpd.GeoDataFrame, area_m: shapely.Geometry, area_ll: shapely.Geometry
) -> gpd.GeoDataFrame:
    """Grids re-projected to EPSG:4326 with the area's vertices exactly as given; checked valid.

    A grid that is invalid here would be refused by PostGIS and sink the whole plan, so
    it is an error of this village, raised loudly, never a silent repair.
    """
    geoms = reproject_exact(
        np.asarray(grids.geometry.values, dtype=object),
        grids.crs,
        WGS84_CRS,
        area_src=area_m,
        area_dst=area_ll,
    )
    bad = np.flatnonzero(~shapely.is_valid(geoms) | (shapely.get_type_id(geoms) != 3))
    if len(bad):
        reasons = "; ".join(f"grid {i}: {shapely.is_valid_reason(geoms[i])}" for i in bad[:5])
        raise InvalidGeometryError(
            f"internal: {len(bad)} grid(s) are not valid Polygons in EPSG:4326 ({reasons})"
        )
    out = grids.copy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=grids.index, crs=WGS84))
    return out


def _dissolve(
    graph: BlockGraph, labels: np.ndarray, block_hh: np.ndarray, addr_count: np.ndarray
) -> gpd.GeoDataFrame:
    """One Polygon per label from blocks sharing exact edges (coverage union, checked)."""
    k = int(labels.max()) + 1
    order = np.argsort(labels, kind="stable")
    cuts = np.searchsorted(labels[order], np.arange(k + 1))
    geoms = np.empty(k, dtype=object)
    members = []
    for g in range(k):
        idx = order[cuts[g] : cuts[g + 1]]
        members.append(idx.tolist())
        geom = graph.geoms[idx[0]] if len(idx) == 1 else _coverage_union(graph.geoms[idx])
        if geom is None or geom.geom_type != "Polygon" or not geom.is_valid:
            # coverage union trusts exact shared edges; fall back to the robust overlay
            geom = shapely.union_all(graph.geoms[idx])
        if geom.geom_type == "MultiPolygon" and len(geom.geoms) > 1:
            raise AssertionError(f"internal: grid {g} is not contiguous")
        geoms[g] = geom
    return gpd.GeoDataFrame(
        {
            "households": np.bincount(labels, weights=block_hh, minlength=k).astype(np.int64),
            "address_count": np.bincount(labels, weights=addr_count, minlength=k).astype(np.int64),
            "blocks": members,
        },
        geometry=gpd.GeoSeries(geoms, crs=graph.crs),
    )


def _coverage_union(geoms: np.ndarray) -> shapely.Geometry | None:
    """The union of blocks sharing exact edges, or None when GEOS finds them not exactly noded."""
    try:
        return shapely.coverage_union_all(geoms)
    except shapely.errors.GEOSException:
        return None


def partition_blocks(
    blocks: gpd.GeoDataFrame,
    rule: Rule | str | tuple[int, int],
    *,
    households: str = "households",
    k: int | None = None,
    seed: int = 0,
    time_limit: float = 30.0,
) -> BlockPartition:
    """Partition an existing blocks frame (from :func:`geogrid.blocks.make_blocks`) by its household column.

    Skips geometry work: useful for benchmarks and for re-running with other rules.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, box
    >>> from geogrid.blocks import make_blocks
    >>> crs = "EPSG:32651"
    >>> lines = [LineString([(x, -5), (x, 105)]) for x in (100, 200, 300)]
    >>> streets = gpd.GeoDataFrame(geometry=lines, crs=crs)
    >>> blocks = make_blocks(gpd.GeoSeries([box(0, 0, 400, 100)], crs=crs), streets)
    >>> blocks["households"] = 10
    >>> partition_blocks(blocks, (15, 25)).households.tolist()
    [20, 20]
    """
    graph = graph_from_frame(blocks)
    w = blocks[households].to_numpy(dtype=np.int64)
    return partition_graph(graph.adjacency(graph.cost), w, rule, k=k, seed=seed, time_limit=time_limit)


__all__ = [
    "AssembledGrids",
    "BlockPartition",
    "BlockSet",
    "Blocks",
    "PartitionDiagnostics",
    "PartitionResult",
    "PreparedInputs",
    "SearchResult",
    "assemble",
    "build_blocks",
    "choose_k",
    "diagnose",
    "partition",
    "partition_blocks",
    "partition_graph",
    "polsby_popper",
    "prepare",
    "search",
]
