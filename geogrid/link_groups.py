"""联户: link groups of 10–15 neighbouring households inside a grid, each under a named 联户长.

卓尼 runs 1,049 link groups (联户/联防组) under 联户长 beside its 488 grids: "小事不出联户、大事不出
网格".  A link group is a sub-grid of its grid (a 17-digit code: the grid's 15 digits and a
2-digit sequence, numbered west→east, north→south like every grid), formed by the partition
engine's graph splitter (:func:`geogrid.partition.partition_graph`) over the grid's households:

- every address is a node weighing its households; an address holding more households than a
  group may (an apartment building) is split into near-equal parts that stay chained together
  (a building's households go to as few groups as possible, cut between whole addresses first);
- addresses are joined to their Delaunay neighbours, with a cut cost that falls with distance,
  so groups are compact clusters of neighbours;
- a grid too small for the rule becomes one group, and a total that no count of groups fits
  (17 households with 10–15) gets the nearest even split; both are noted, never hidden.

Membership is by address and household count (``members``: the households of an address in a
group), so the register's households at an address fall into the address's groups in household
code order.  A group's polygon is the union of the Voronoi cells of its addresses within the
grid (groups sharing a building share its cell).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from geogrid.codes import number_grids
from geogrid.crs import planar_crs_for
from geogrid.errors import InfeasibleError, PlanEditError
from geogrid.frames import WGS84
from geogrid.partition import partition_graph
from geogrid.rules import Rule, resolve_rule

__all__ = ["LINK_RULE", "LinkGroups", "form_link_groups", "group_geometries", "move_households"]

#: Households of a link group (联户): 10–15, as the grid-duty lists set them.
LINK_RULE = Rule(10, 15, "link")
# Parts of one address are cut apart only when nothing else fits.
_SAME_ADDRESS_COST = 1e3


@dataclass
class LinkGroups:
    """The link groups of one grid.

    ``groups``: ``code`` (17 digits), ``grid_code``, ``households``, ``address_count``,
    ``within_rule``, geometry (EPSG:4326); ``members``: ``code``, ``address_id``, ``households``;
    ``notes``: what could not follow the rule and why.
    """

    groups: gpd.GeoDataFrame
    members: pd.DataFrame
    rule: Rule
    notes: list[str] = field(default_factory=list)


def _nodes(households: np.ndarray, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """(address index, weight) of every node.

    An address above ``rule.hi`` is split into near-equal parts of at most half the lower bound,
    so that groups can be made of two or three parts: parts of exactly one group's size would
    leave the splitter no choice of the number of groups.
    """
    owner, weight = [], []
    part = max(1, rule.lo // 2)
    for i, h in enumerate(households.astype(int)):
        parts = max(1, math.ceil(h / part)) if h > rule.hi else 1
        sizes = [h // parts + (1 if k < h % parts else 0) for k in range(parts)]
        owner += [i] * parts
        weight += sizes
    return np.asarray(owner, dtype=np.int64), np.asarray(weight, dtype=np.int64)


def _graph(xy: np.ndarray, owner: np.ndarray) -> sparse.csr_matrix:
    """Nodes of one address chained (dear to cut), addresses joined to their Delaunay neighbours."""
    n = len(owner)
    rows, cols, cost = [], [], []
    same = np.flatnonzero(owner[1:] == owner[:-1])
    rows += same.tolist()
    cols += (same + 1).tolist()
    cost += [_SAME_ADDRESS_COST] * len(same)
    spots, spot_of = np.unique(np.round(xy, 3), axis=0, return_inverse=True)
    first_node = {int(a): int(np.flatnonzero(owner == a)[0]) for a in np.unique(owner)}
    # addresses at one spot: chained like parts of one address
    by_spot: dict[int, list[int]] = {}
    for a in sorted(first_node):
        by_spot.setdefault(int(spot_of.ravel()[first_node[a]]), []).append(a)
    for members in by_spot.values():
        for a, b in itertools.pairwise(members):
            rows.append(first_node[a])
            cols.append(first_node[b])
            cost.append(_SAME_ADDRESS_COST)
    if len(spots) >= 2:
        rows, cols, cost = _delaunay_edges(spots, by_spot, first_node, rows, cols, cost)
    m = sparse.coo_matrix((cost, (rows, cols)), shape=(n, n)).tocsr()
    return (m + m.T).tocsr()


def _delaunay_edges(spots, by_spot, first_node, rows, cols, cost):
    if len(spots) == 2:
        edges = [(0, 1)]
    else:
        lines = shapely.get_parts(shapely.delaunay_triangles(shapely.multipoints(spots), only_edges=True))
        ends = shapely.get_coordinates(lines).reshape(-1, 2, 2)
        index = {tuple(p): k for k, p in enumerate(spots.tolist())}
        edges = [
            (index[tuple(e[0])], index[tuple(e[1])]) for e in ends.round(3).tolist() if tuple(e[0]) in index
        ]
    for s, t in edges:
        d = float(np.hypot(*(spots[s] - spots[t])))
        rows.append(first_node[by_spot[s][0]])
        cols.append(first_node[by_spot[t][0]])
        cost.append(100.0 / (d + 1.0))  # cutting between far neighbours is cheap
    return rows, cols, cost


def _labels(
    adj: sparse.csr_matrix, weight: np.ndarray, rule: Rule, seed: int
) -> tuple[np.ndarray, list[str]]:
    total = int(weight.sum())
    if total < rule.lo:
        return np.zeros(len(weight), dtype=np.int64), [f"{total} households: fewer than {rule.lo}, one group"]
    notes: list[str] = []
    if not len(rule.feasible_k(total)):
        k = max(1, round(total / ((rule.lo + rule.hi) / 2)))
        relaxed = Rule(min(rule.lo, total // k), max(rule.hi, math.ceil(total / k)))
        notes.append(
            f"{total} households fit no count of groups of {rule.lo}–{rule.hi}; "
            f"{k} groups of {relaxed.lo}–{relaxed.hi}"
        )
        rule = relaxed
    for widen in range(0, rule.lo):
        trial = Rule(max(1, rule.lo - widen), rule.hi + widen)
        try:
            part = partition_graph(adj, weight, trial, seed=seed, time_limit=2.0)
        except InfeasibleError:
            continue
        if widen:
            notes.append(f"no contiguous split within {rule.lo}–{rule.hi}; groups of {trial.lo}–{trial.hi}")
        return part.labels, notes
    return np.zeros(len(weight), dtype=np.int64), [*notes, "no split found: one group"]


def group_geometries(grid, addresses: gpd.GeoDataFrame, members: pd.DataFrame) -> gpd.GeoSeries:
    """Polygon of each group in ``members`` (``code``, ``address_id``): the union of its addresses'
    Voronoi cells within ``grid`` (EPSG:4326), indexed by code.

    Examples
    --------
    >>> from shapely.geometry import Point, box
    >>> addresses = gpd.GeoDataFrame({"address_id": ["a", "b"]}, crs=4326,
    ...     geometry=[Point(120.601, 31.301), Point(120.609, 31.301)])
    >>> members = pd.DataFrame({"code": ["X01", "X02"], "address_id": ["a", "b"]})
    >>> g = group_geometries(box(120.60, 31.30, 120.61, 31.31), addresses, members)
    >>> [round(p.bounds[2], 3) for p in g]
    [120.605, 120.61]
    """
    crs = planar_crs_for(gpd.GeoSeries([grid], crs=WGS84))
    grid_m = gpd.GeoSeries([grid], crs=WGS84).to_crs(crs).iloc[0]
    # cells of member addresses only: an empty address's cell goes to its neighbours
    pts = addresses.set_index("address_id").geometry.to_crs(crs)
    pts = pts[pts.index.isin(members["address_id"])]
    xy = np.unique(np.round(shapely.get_coordinates(pts.values), 3), axis=0)
    if len(xy) >= 2:
        # Addresses on a lattice are cocircular, where GEOS may write a cell vertex twice and
        # return an invalid cell; a fixed sub-centimetre nudge of the sites avoids that.
        nudge = np.random.default_rng(0).uniform(-0.005, 0.005, size=xy.shape)
        sites = shapely.multipoints(xy + nudge)
        cells = shapely.get_parts(shapely.voronoi_polygons(sites, extend_to=grid_m))
        cells = shapely.intersection(shapely.make_valid(cells), grid_m)
    else:
        cells = np.asarray([grid_m], dtype=object)
    tree = shapely.STRtree(cells)
    out = {}
    for code, group in members.groupby("code", sort=True):
        hits = tree.query(pts.loc[group["address_id"].unique()].values, predicate="intersects")[1]
        out[code] = shapely.union_all(cells[np.unique(hits)]) if len(hits) else shapely.Polygon()
    return gpd.GeoSeries(out, crs=crs).to_crs(WGS84)


def _finish(
    grid, grid_code: str, addresses: gpd.GeoDataFrame, members: pd.DataFrame, rule: Rule
) -> gpd.GeoDataFrame:
    geoms = group_geometries(grid, addresses, members)
    totals = members.groupby("code").agg(
        households=("households", "sum"), address_count=("address_id", "nunique")
    )
    groups = gpd.GeoDataFrame(totals, geometry=geoms.loc[totals.index].values, crs=WGS84).reset_index()
    groups["grid_code"] = grid_code
    groups["within_rule"] = [rule.contains(h) for h in groups["households"]]
    return groups[["code", "grid_code", "households", "address_count", "within_rule", "geometry"]]


def form_link_groups(
    grid,
    grid_code: str,
    addresses: gpd.GeoDataFrame,
    *,
    rule: Rule | str | tuple[int, int] = LINK_RULE,
    seed: int = 0,
) -> LinkGroups:
    """Split the households of one grid into link groups within ``rule`` (default 10–15).

    Parameters
    ----------
    grid : shapely Polygon (EPSG:4326)
    grid_code : str
        The grid's 15-digit code; groups get 17-digit codes under it.
    addresses : GeoDataFrame
        The grid's addresses: ``address_id``, ``households``, points.

    Examples
    --------
    >>> from shapely.geometry import Point, box
    >>> pts = [Point(120.6 + 0.001 * i, 31.301 + 0.001 * j) for i in range(1, 10) for j in range(1, 4)]
    >>> addresses = gpd.GeoDataFrame({"address_id": [f"a{i}" for i in range(27)], "households": [2] * 27},
    ...                              geometry=pts, crs=4326)
    >>> lg = form_link_groups(box(120.60, 31.30, 120.61, 31.305), "320508019001001", addresses)
    >>> int(lg.groups.households.sum()), bool(lg.groups.within_rule.all()), lg.groups.code.iloc[0]
    (54, True, '32050801900100101')
    """
    rule = resolve_rule(rule)
    addresses = addresses[addresses["households"] > 0].reset_index(drop=True)
    if addresses.empty:
        return LinkGroups(
            gpd.GeoDataFrame(
                columns=["code", "grid_code", "households", "address_count", "within_rule"],
                geometry=[],
                crs=WGS84,
            ),
            pd.DataFrame(columns=["code", "address_id", "households"]),
            rule,
            ["no households"],
        )
    crs = planar_crs_for(gpd.GeoSeries([grid], crs=WGS84))
    xy = shapely.get_coordinates(addresses.geometry.to_crs(crs).values)
    owner, weight = _nodes(addresses["households"].to_numpy(), rule)
    labels, notes = _labels(_graph(xy[owner], owner), weight, rule, seed)
    members = pd.DataFrame(
        {"label": labels, "address_id": addresses["address_id"].to_numpy()[owner], "households": weight}
    )
    members = members.groupby(["label", "address_id"], as_index=False)["households"].sum()
    # codes west→east, north→south by each group's centre of households
    centres = members.merge(addresses[["address_id", "geometry"]], on="address_id")
    points = gpd.GeoSeries(
        [
            shapely.centroid(shapely.multipoints([(p.x, p.y) for p in g.geometry]))
            for _, g in centres.groupby("label")
        ],
        index=sorted(centres["label"].unique()),
        crs=WGS84,
    )
    coded = number_grids(
        gpd.GeoDataFrame({"label": points.index}, geometry=points.values, crs=WGS84), grid_code
    )
    members["code"] = members["label"].map(dict(zip(coded["label"], coded["code"], strict=True)))
    members = (
        members[["code", "address_id", "households"]]
        .sort_values(["code", "address_id"])
        .reset_index(drop=True)
    )
    return LinkGroups(_finish(grid, grid_code, addresses, members, rule), members, rule, notes)


def move_households(
    members: pd.DataFrame, *, address_id: str, source: str, target: str, households: int
) -> pd.DataFrame:
    """``households`` of ``address_id`` moved from group ``source`` to group ``target`` (same grid).

    Raises
    ------
    PlanEditError
        The groups are in different grids, the address has fewer households in ``source``, or
        ``source`` would be left empty (a group is removed by re-forming, not by an edit).

    Examples
    --------
    >>> g = "320508019001001"
    >>> m = pd.DataFrame({"code": [g + "01", g + "01", g + "02"], "address_id": ["a", "b", "c"],
    ...                   "households": [8, 4, 12]})
    >>> moved = move_households(m, address_id="b", source=g + "01", target=g + "02", households=4)
    >>> [(c[-2:], a, h) for c, a, h in moved.values.tolist()]
    [('01', 'a', 8), ('02', 'b', 4), ('02', 'c', 12)]
    """
    if source[:15] != target[:15]:
        raise PlanEditError(f"link groups {source} and {target} are in different grids")
    if households < 1:
        raise PlanEditError("move at least one household")
    at = (members["code"] == source) & (members["address_id"] == address_id)
    have = int(members.loc[at, "households"].sum())
    if have < households:
        raise PlanEditError(f"address {address_id} has {have} household(s) in {source}, not {households}")
    if members.loc[members["code"] == source, "households"].sum() == households:
        raise PlanEditError(f"moving {households} household(s) would leave {source} empty")
    out = members.copy()
    out.loc[at, "households"] -= households
    into = (out["code"] == target) & (out["address_id"] == address_id)
    if into.any():
        out.loc[into, "households"] += households
    else:
        out = pd.concat(
            [out, pd.DataFrame([{"code": target, "address_id": address_id, "households": households}])]
        )
    out = out[out["households"] > 0]
    return out.sort_values(["code", "address_id"]).reset_index(drop=True).astype({"households": int})
