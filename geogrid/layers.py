"""Department layers (部门网格) beside the base grids: crosswalk, conflicts, alignment, routing.

Counties merge the grids of Party building, 综治, petitions and other departments into one base
of grids ("多网合一", 宁国; "一网统筹", 稷山); until that is done each department keeps its own
layer, drawn on its own map.  This module compares such a layer with the base grids:

- :func:`crosswalk`: which base grids each department grid covers, with area and household
  shares both ways;
- :func:`conflicts`: department grids that cut through base grids, gaps, overlaps between
  department grids and parts outside the county (or another scope);
- :func:`align`: the nearest layer made only of whole base grids, with the households that
  would change hands (objective below);
- :func:`route`: which department grid a base grid belongs to (where a department's incidents
  in that base grid go).

Everything is computed in a planar CRS that is affine in lon/lat (:func:`geogrid.crs.planar_crs_for`),
so what is seamless in EPSG:4326 is seamless here.  Households come from address points when
given (exact), else base grid households are shared in proportion to area (an estimate).

Alignment objective
-------------------
Each base grid goes wholly to one department grid, or to none (outside the layer).  A household
*changes hands* when its department grid in the aligned layer differs from the one whose original
polygon holds it (none counts as a grid).  :func:`align` minimises, in this order, (1) households
changing hands and (2) area changing hands (the symmetric difference between original and aligned
grids, which keeps shapes closest).  Both sums are separable by base grid, so giving every base
grid to the department grid holding most of its households (then most of its area; none when
more of it lies outside the layer than in any grid) is the exact optimum.  Two repairs follow,
each taking the cheapest change: a department grid whose base grids fall apart keeps its
largest piece and its other pieces go to the neighbouring department grid they cost least to
join; a department grid left without any base grid takes the base grid it overlaps most when the
grid's current owner keeps at least one base grid and stays in one piece, else it is reported as
dropped.  A grid is *within tolerance* when its aligned households are within ``tolerance``
(5 %) of its original households.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from shapely.geometry import box

from geogrid.crs import planar_crs_for
from geogrid.errors import InvalidGeometryError
from geogrid.frames import WGS84

__all__ = [
    "LAYER_FIELDS",
    "AlignmentProposal",
    "ConflictReport",
    "LayerFrames",
    "align",
    "check_layer",
    "conflicts",
    "crosswalk",
    "prepare_layer",
    "route",
]

#: Intersections smaller than this (m²) are digitising noise, not coverage.
MIN_AREA_M2 = 1.0
#: A department grid cuts a base grid when it holds between this share and 1 - this share of it.
MIN_CUT_SHARE = 0.02
#: Gaps, overlaps and outside parts smaller than this (m²), or thinner than this (m), are
#: digitising slivers along a shared boundary, not conflicts: they are not reported.
MIN_CONFLICT_AREA_M2 = 50.0
MIN_CONFLICT_WIDTH_M = 5.0
#: Aligned households within this share of the original count as kept.
TOLERANCE = 0.05
#: Base grids sharing at least this much boundary (m) are neighbours.
MIN_SHARED_EDGE_M = 0.5

CROSSWALK_COLUMNS = [
    "department_code",
    "base_code",
    "area_m2",
    "base_area_share",
    "department_area_share",
    "households",
    "base_household_share",
    "department_household_share",
]


@dataclass
class LayerFrames:
    """A department layer, its base grids and addresses in one planar CRS, with indexes built once.

    Made by :func:`prepare_layer`; :func:`crosswalk`, :func:`conflicts` and :func:`align` take it.
    ``layer_hh``/``base_hh`` are the households inside each polygon (from the addresses, or the
    base grids' own counts spread by area when no addresses are given).
    """

    crs: CRS
    base: gpd.GeoDataFrame  # code, households, geometry (EPSG:4326, as given)
    layer: gpd.GeoDataFrame  # code, geometry (EPSG:4326), other columns as given
    base_m: np.ndarray
    layer_m: np.ndarray
    area_m: shapely.Geometry | None
    points_m: np.ndarray
    point_hh: np.ndarray
    exact: bool  # households from addresses (True) or estimated by area (False)
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)  # layer index, base index, area, households


def _wgs84(frame: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if frame.crs is None:
        frame = frame.set_crs(WGS84)
    elif not frame.crs.equals(WGS84):
        frame = frame.to_crs(WGS84)
    if "code" not in frame.columns:
        raise InvalidGeometryError(f"{what} needs a 'code' column")
    empty = shapely.is_missing(frame.geometry.values) | shapely.is_empty(frame.geometry.values)
    if empty.any():
        raise InvalidGeometryError(f"{what}: {int(empty.sum())} row(s) without geometry")
    return frame.reset_index(drop=True)


def prepare_layer(
    base: gpd.GeoDataFrame,
    layer: gpd.GeoDataFrame,
    *,
    addresses: gpd.GeoDataFrame | None = None,
    area=None,
) -> LayerFrames:
    """Project a department layer, the base grids, their addresses and the scope area once.

    Parameters
    ----------
    base : GeoDataFrame
        Base grids: ``code``, ``households`` (used when no addresses are given), geometry.
    layer : GeoDataFrame
        Department grids: ``code`` (the department's own codes), geometry (Polygon or MultiPolygon).
    addresses : GeoDataFrame, optional
        Address points with ``households``: household shares are then exact.
    area : shapely geometry (EPSG:4326), optional
        The county (or other scope) the layer should cover; default the union of the base grids.

    Examples
    --------
    >>> base, layer = _example_layers()  # base grids a, b; department grid D1 covers a and half of b
    >>> frames = prepare_layer(base, layer)
    >>> frames.exact, len(frames.pairs)
    (False, 2)
    """
    base = _wgs84(base, "base grids")
    layer = _wgs84(layer, "department layer")
    crs = planar_crs_for(pd.concat([base.geometry, layer.geometry]).pipe(gpd.GeoSeries, crs=WGS84))
    base_m = np.asarray(base.geometry.to_crs(crs).values)
    layer_m = shapely.make_valid(np.asarray(layer.geometry.to_crs(crs).values))
    area_m = None
    if area is not None:
        area_m = gpd.GeoSeries([area], crs=WGS84).to_crs(crs).iloc[0]
    if addresses is not None and len(addresses):
        pts = addresses.to_crs(crs) if addresses.crs is not None else addresses.set_crs(WGS84).to_crs(crs)
        points_m = np.asarray(pts.geometry.values)
        point_hh = np.asarray(addresses.get("households", pd.Series(1, index=addresses.index)), dtype=float)
        exact = True
    else:
        points_m, point_hh, exact = np.empty(0, dtype=object), np.empty(0), False
    frames = LayerFrames(crs, base, layer, base_m, layer_m, area_m, points_m, point_hh, exact)
    frames.pairs = _pairs(frames)
    return frames


def _first_container(tree_geoms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the first polygon holding each point (-1 for none): a point on a shared edge
    belongs to one grid only."""
    out = np.full(len(points), -1, dtype=np.int64)
    if not len(points) or not len(tree_geoms):
        return out
    p_idx, g_idx = shapely.STRtree(tree_geoms).query(points, predicate="intersects")
    order = np.lexsort((g_idx, p_idx))
    p_idx, g_idx = p_idx[order], g_idx[order]
    first = np.r_[True, p_idx[1:] != p_idx[:-1]] if len(p_idx) else np.zeros(0, dtype=bool)
    out[p_idx[first]] = g_idx[first]
    return out


def _point_pairs(frames: LayerFrames) -> pd.DataFrame:
    """Households of every (department grid, base grid) pair, counted at the addresses.

    An address counts once: in the first base grid and the first department grid holding it
    (an address on a shared edge, or in an overlap of two department grids, is not doubled).
    """
    if not frames.exact:
        return pd.DataFrame(columns=["d", "b", "households"])
    seen = pd.DataFrame(
        {
            "d": _first_container(frames.layer_m, frames.points_m),
            "b": _first_container(frames.base_m, frames.points_m),
            "households": frames.point_hh,
        }
    )
    seen = seen[(seen["d"] >= 0) & (seen["b"] >= 0)]
    return seen.groupby(["d", "b"], as_index=False)["households"].sum()


def _pairs(frames: LayerFrames) -> pd.DataFrame:
    """Area (m²) and households of every department grid × base grid intersection."""
    d_idx, b_idx = shapely.STRtree(frames.base_m).query(frames.layer_m, predicate="intersects")
    areas = shapely.area(shapely.intersection(frames.layer_m[d_idx], frames.base_m[b_idx]))
    pairs = pd.DataFrame({"d": d_idx, "b": b_idx, "area_m2": areas})
    pairs = pairs[pairs["area_m2"] >= MIN_AREA_M2]
    if frames.exact:
        hh = _point_pairs(frames)
        pairs = pairs.merge(hh, on=["d", "b"], how="outer").fillna({"area_m2": 0.0, "households": 0.0})
    else:
        base_area = shapely.area(frames.base_m)
        base_hh = pd.to_numeric(frames.base.get("households", 0), errors="coerce").fillna(0).to_numpy()
        pairs["households"] = base_hh[pairs["b"]] * pairs["area_m2"] / base_area[pairs["b"]]
    return pairs.astype({"d": np.int64, "b": np.int64}).sort_values(["d", "b"]).reset_index(drop=True)


def base_households(frames: LayerFrames) -> np.ndarray:
    """Households of each base grid (addresses inside it, or its own count)."""
    if frames.exact:
        base_of = _first_container(frames.base_m, frames.points_m)
        keep = base_of >= 0
        return np.bincount(base_of[keep], weights=frames.point_hh[keep], minlength=len(frames.base_m))
    return pd.to_numeric(frames.base.get("households", 0), errors="coerce").fillna(0).to_numpy(dtype=float)


def layer_households(frames: LayerFrames) -> np.ndarray:
    """Households inside each department grid (an address in two overlapping grids counts in both)."""
    if not frames.exact:
        return np.bincount(
            frames.pairs["d"], weights=frames.pairs["households"], minlength=len(frames.layer_m)
        )
    p_idx, d_idx = shapely.STRtree(frames.layer_m).query(frames.points_m, predicate="intersects")
    return np.bincount(d_idx, weights=frames.point_hh[p_idx], minlength=len(frames.layer_m))


def _share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def _example_layers() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The layers of this module's examples: base grids ``a`` (60 households) and ``b`` (40), two
    squares of 0.01° side by side, and a department's grid ``D1`` over ``a`` and the west half of ``b``."""
    base = gpd.GeoDataFrame(
        {"code": ["a", "b"], "households": [60, 40]},
        geometry=[box(120.60, 31.30, 120.61, 31.31), box(120.61, 31.30, 120.62, 31.31)],
        crs="EPSG:4326",
    )
    layer = gpd.GeoDataFrame({"code": ["D1"]}, geometry=[box(120.60, 31.30, 120.615, 31.31)], crs="EPSG:4326")
    return base, layer


def crosswalk(frames: LayerFrames) -> pd.DataFrame:
    """Which base grids each department grid covers, with area and household shares both ways.

    One row per department grid × base grid that overlap (by at least :data:`MIN_AREA_M2`, or
    share an address): ``area_m2``, ``base_area_share`` (of the base grid),
    ``department_area_share`` (of the department grid), ``households`` in the intersection and
    the same two shares of households.  Shares of a base grid over all rows add up to what of
    it the layer covers.

    Examples
    --------
    >>> base, layer = _example_layers()  # base grids a, b; department grid D1 covers a and half of b
    >>> cw = crosswalk(prepare_layer(base, layer))
    >>> cw[["base_code", "base_area_share", "households"]].round(2).values.tolist()
    [['a', 1.0, 60.0], ['b', 0.5, 20.0]]
    """
    pairs = frames.pairs
    d, b = pairs["d"].to_numpy(), pairs["b"].to_numpy()
    base_area, layer_area = shapely.area(frames.base_m), shapely.area(frames.layer_m)
    base_hh, layer_hh = base_households(frames), layer_households(frames)
    out = pd.DataFrame(
        {
            "department_code": frames.layer["code"].astype(str).to_numpy()[d],
            "base_code": frames.base["code"].astype(str).to_numpy()[b],
            "area_m2": pairs["area_m2"].to_numpy(),
            "base_area_share": _share(pairs["area_m2"].to_numpy(), base_area[b]),
            "department_area_share": _share(pairs["area_m2"].to_numpy(), layer_area[d]),
            "households": pairs["households"].to_numpy(),
            "base_household_share": _share(pairs["households"].to_numpy(), base_hh[b]),
            "department_household_share": _share(pairs["households"].to_numpy(), layer_hh[d]),
        },
        columns=CROSSWALK_COLUMNS,
    )
    return out.sort_values(["department_code", "base_code"]).reset_index(drop=True)


# --------------------------------------------------------------------------- conflicts


@dataclass
class ConflictReport:
    """What stands between a department layer and the base grids.

    ``cuts``: department grids that cut through base grids (one row per pair, holding between
    :data:`MIN_CUT_SHARE` and ``1 - MIN_CUT_SHARE`` of the base grid); ``gaps``: parts of the
    scope no department grid covers; ``overlaps``: parts two department grids both claim;
    ``outside``: parts of department grids outside the scope.  Gaps, overlaps and outside parts
    are GeoDataFrames (EPSG:4326) with ``area_m2`` and ``households``.
    """

    cuts: pd.DataFrame
    gaps: gpd.GeoDataFrame
    overlaps: gpd.GeoDataFrame
    outside: gpd.GeoDataFrame
    cut_base_codes: list[str]

    @property
    def ok(self) -> bool:
        return not (len(self.cuts) or len(self.gaps) or len(self.overlaps) or len(self.outside))

    def summary(self) -> dict[str, float | int | bool]:
        """Counts and totals of each kind of conflict.

        Examples
        --------
        >>> empty = gpd.GeoDataFrame({"area_m2": [], "households": []}, geometry=[], crs="EPSG:4326")
        >>> ConflictReport(pd.DataFrame(columns=["households"]), empty, empty, empty, []).summary()["ok"]
        True
        """
        return {
            "ok": self.ok,
            "cut_base_grids": len(self.cut_base_codes),
            "cuts": len(self.cuts),
            "cut_households": float(self.cuts["households"].sum()) if len(self.cuts) else 0.0,
            "gaps": len(self.gaps),
            "gap_area_m2": float(self.gaps["area_m2"].sum()),
            "gap_households": float(self.gaps["households"].sum()),
            "overlaps": len(self.overlaps),
            "overlap_area_m2": float(self.overlaps["area_m2"].sum()),
            "overlap_households": float(self.overlaps["households"].sum()),
            "outside": len(self.outside),
            "outside_area_m2": float(self.outside["area_m2"].sum()),
        }


def _pieces(geoms: np.ndarray, min_area: float, min_width: float = MIN_CONFLICT_WIDTH_M) -> np.ndarray:
    """The polygon parts of ``geoms`` at least ``min_area`` large and ``min_width`` wide somewhere."""
    parts = shapely.get_parts(
        np.asarray([g for g in geoms if g is not None and not g.is_empty], dtype=object)
    )
    parts = parts[shapely.get_type_id(parts) == 3] if len(parts) else parts
    if not len(parts):
        return parts
    parts = parts[shapely.area(parts) >= min_area]
    return parts[~shapely.is_empty(shapely.buffer(parts, -min_width / 2))]


def _households_in(frames: LayerFrames, geoms: np.ndarray) -> np.ndarray:
    if not len(geoms):
        return np.zeros(0)
    if frames.exact:
        p_idx, g_idx = shapely.STRtree(geoms).query(frames.points_m, predicate="intersects")
        return np.bincount(g_idx, weights=frames.point_hh[p_idx], minlength=len(geoms))
    base_hh = base_households(frames)
    g_idx, b_idx = shapely.STRtree(frames.base_m).query(geoms, predicate="intersects")
    share = shapely.area(shapely.intersection(geoms[g_idx], frames.base_m[b_idx])) / shapely.area(
        frames.base_m[b_idx]
    )
    return np.bincount(g_idx, weights=base_hh[b_idx] * share, minlength=len(geoms))


def _frame(frames: LayerFrames, geoms: np.ndarray, **columns) -> gpd.GeoDataFrame:
    data = {**columns, "area_m2": shapely.area(geoms), "households": _households_in(frames, geoms)}
    out = gpd.GeoDataFrame(
        data, geometry=gpd.GeoSeries(geoms, crs=frames.crs).to_crs(WGS84).values, crs=WGS84
    )
    return out.sort_values("area_m2", ascending=False).reset_index(drop=True)


def _cuts(frames: LayerFrames, min_share: float) -> pd.DataFrame:
    cw = crosswalk(frames)
    share = cw["base_area_share"]
    return cw[(share >= min_share) & (share <= 1 - min_share)].reset_index(drop=True)


def _overlaps(frames: LayerFrames, min_area: float) -> gpd.GeoDataFrame:
    i, j = shapely.STRtree(frames.layer_m).query(frames.layer_m, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    inter = shapely.intersection(frames.layer_m[i], frames.layer_m[j])
    big = np.asarray([len(_pieces(np.asarray([g], dtype=object), min_area)) > 0 for g in inter], dtype=bool)
    codes = frames.layer["code"].astype(str).to_numpy()
    first, second = codes[i[big]], codes[j[big]]
    # each pair named once, the smaller code first
    return _frame(
        frames,
        inter[big],
        department_code=np.minimum(first, second),
        other_code=np.maximum(first, second),
    )


def _outside(frames: LayerFrames, scope: shapely.Geometry, min_area: float) -> gpd.GeoDataFrame:
    rows, geoms = [], []
    codes = frames.layer["code"].astype(str).to_numpy()
    for k, piece in enumerate(shapely.difference(frames.layer_m, scope)):
        for part in _pieces(np.asarray([piece], dtype=object), min_area):
            rows.append(codes[k])
            geoms.append(part)
    return _frame(frames, np.asarray(geoms, dtype=object), department_code=np.asarray(rows, dtype=object))


def conflicts(
    frames: LayerFrames,
    *,
    min_share: float = MIN_CUT_SHARE,
    min_area_m2: float = MIN_CONFLICT_AREA_M2,
) -> ConflictReport:
    """Cuts through base grids, gaps, overlaps and parts outside the scope of a department layer.

    Parameters
    ----------
    frames : LayerFrames
        From :func:`prepare_layer` (its ``area`` is the scope; default the union of the base grids).
    min_share : float
        A department grid cuts a base grid when it holds between this share and ``1 - min_share``
        of the base grid's area (smaller slivers are digitising noise).
    min_area_m2 : float
        Smallest gap, overlap or outside part reported; parts thinner than
        :data:`MIN_CONFLICT_WIDTH_M` are slivers along a boundary and are not reported either.

    Examples
    --------
    >>> base, layer = _example_layers()  # base grids a, b; department grid D1 covers a and half of b
    >>> report = conflicts(prepare_layer(base, layer))
    >>> report.cut_base_codes, len(report.gaps), round(float(report.gaps.households.sum()))
    (['b'], 1, 20)
    """
    scope = frames.area_m if frames.area_m is not None else shapely.union_all(frames.base_m)
    cuts = _cuts(frames, min_share)
    covered = shapely.union_all(frames.layer_m)
    gaps = _pieces(np.asarray([shapely.difference(scope, covered)], dtype=object), min_area_m2)
    return ConflictReport(
        cuts=cuts,
        gaps=_frame(frames, gaps),
        overlaps=_overlaps(frames, min_area_m2),
        outside=_outside(frames, scope, min_area_m2),
        cut_base_codes=sorted(set(cuts["base_code"])),
    )


# --------------------------------------------------------------------------- alignment


@dataclass
class AlignmentProposal:
    """The nearest layer of whole base grids (see the module docstring for the objective).

    Attributes
    ----------
    grids
        One row per department grid kept: the layer's columns, ``base_codes`` (the base grids it
        is the union of), ``households_original``, ``households_aligned``, ``change``,
        ``change_share``, ``within_tolerance``; geometry = the union of its base grids (EPSG:4326).
    assignment
        Base grid code → department grid code (None: the base grid lies outside the layer).
    moves
        Households changing hands: ``base_code``, ``from_code``, ``to_code`` (None = no grid),
        ``households``.
    dropped
        Department grids that could not keep any whole base grid.
    repairs
        What the repairs changed after the optimal assignment, in words.
    """

    grids: gpd.GeoDataFrame
    assignment: dict[str, str | None]
    moves: pd.DataFrame
    households_original: float
    households_changed: float
    tolerance: float
    dropped: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        within = self.grids["within_tolerance"]
        return {
            "grids": len(self.grids),
            "grids_within_tolerance": int(within.sum()),
            "tolerance": self.tolerance,
            "households_original": self.households_original,
            "households_changed": self.households_changed,
            "households_changed_share": (
                self.households_changed / self.households_original if self.households_original else 0.0
            ),
            "dropped": list(self.dropped),
            "repairs": list(self.repairs),
        }


@dataclass
class _Costs:
    """Per base grid: the cost (households, area) of giving it to each overlapping grid or to none."""

    options: dict[int, list[tuple[float, float, str, int]]]  # base -> [(hh, area, code, d)] sorted
    none: dict[int, tuple[float, float]]


def _costs(frames: LayerFrames) -> _Costs:
    base_hh = base_households(frames)
    base_area = shapely.area(frames.base_m)
    codes = frames.layer["code"].astype(str).to_numpy()
    covered = frames.pairs.groupby("b")[["households", "area_m2"]].sum()
    options: dict[int, list[tuple[float, float, str, int]]] = {}
    for row in frames.pairs.itertuples(index=False):
        b, d = int(row.b), int(row.d)
        options.setdefault(b, []).append(
            (base_hh[b] - row.households, base_area[b] - row.area_m2, codes[d], d)
        )
    none = {}
    for b in range(len(frames.base_m)):
        options.setdefault(b, []).sort()
        # Left out, the households of b that lay in the layer lose their grid.
        hh, area = (covered.loc[b, "households"], covered.loc[b, "area_m2"]) if b in covered.index else (0, 0)
        none[b] = (float(min(hh, base_hh[b])), float(min(area, base_area[b])))
    return _Costs(options, none)


def _best_assignment(costs: _Costs) -> np.ndarray:
    """The separable optimum: each base grid to its cheapest option (-1 = none)."""
    out = np.full(len(costs.none), -1, dtype=np.int64)
    for b, options in costs.options.items():
        if options and options[0][:2] < costs.none[b]:
            out[b] = options[0][3]
    return out


def _adjacency(base_m: np.ndarray) -> sparse.csr_matrix:
    """Base grids sharing at least :data:`MIN_SHARED_EDGE_M` of boundary (within 5 cm: grids
    drawn elsewhere may meet with round-off, not bit for bit)."""
    i, j = shapely.STRtree(base_m).query(base_m, predicate="dwithin", distance=0.05)
    keep = i < j
    i, j = i[keep], j[keep]
    near = shapely.buffer(shapely.boundary(base_m[j]), 0.05)
    shared = shapely.length(shapely.intersection(shapely.boundary(base_m[i]), near))
    ok = shared >= MIN_SHARED_EDGE_M
    n = len(base_m)
    m = sparse.coo_matrix((np.ones(int(ok.sum())), (i[ok], j[ok])), shape=(n, n))
    return (m + m.T).tocsr()


def _pieces_of(members: np.ndarray, adj: sparse.csr_matrix) -> list[np.ndarray]:
    sub = adj[members][:, members]
    n, labels = connected_components(sub, directed=False)
    return [members[labels == k] for k in range(n)]


def _cost_of(costs: _Costs, b: int, d: int) -> tuple[float, float]:
    for hh, area, _code, dd in costs.options.get(b, []):
        if dd == d:
            return hh, area
    # A base grid the department grid does not overlap: every household of it changes hands.
    return costs.none[b][0] + 1e9, costs.none[b][1] + 1e9


def _join_cost(costs: _Costs, piece: np.ndarray, d: int) -> tuple[float, float]:
    parts = [_cost_of(costs, int(b), d) for b in piece]
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def _reconnect(assign: np.ndarray, adj: sparse.csr_matrix, costs: _Costs, codes: np.ndarray) -> list[str]:
    """Give the detached pieces of each department grid to the neighbour they cost least to join."""
    notes: list[str] = []
    for _ in range(len(assign) + 1):
        changed = False
        for d in np.unique(assign[assign >= 0]):
            pieces = _pieces_of(np.flatnonzero(assign == d), adj)
            if len(pieces) < 2:
                continue
            keep = min(pieces, key=lambda p: (_join_cost(costs, p, int(d)), -len(p)))
            for piece in pieces:
                if piece is keep:
                    continue
                neighbours = set(assign[adj[piece].indices]) - {int(d), -1}
                target = min(neighbours, key=lambda n: _join_cost(costs, piece, int(n)), default=-1)
                assign[piece] = target
                changed = True
                whom = codes[target] if target >= 0 else "no grid"
                notes.append(f"{codes[d]}: {len(piece)} detached base grid(s) given to {whom}")
        if not changed:
            break
    return notes


def _fill_empty(
    assign: np.ndarray, adj: sparse.csr_matrix, frames: LayerFrames
) -> tuple[list[str], list[str]]:
    """A department grid without base grids takes the one it overlaps most, if its owner can spare it."""
    codes = frames.layer["code"].astype(str).to_numpy()
    base_codes = frames.base["code"].astype(str).to_numpy()
    notes, dropped = [], []
    pairs = frames.pairs.sort_values(["households", "area_m2"], ascending=False)
    for d in range(len(codes)):
        if (assign == d).any():
            continue
        taken = False
        for b in pairs.loc[pairs["d"] == d, "b"].astype(int):
            owner = int(assign[b])
            rest = np.flatnonzero(assign == owner) if owner >= 0 else np.empty(0, dtype=np.int64)
            rest = rest[rest != b]
            if owner >= 0 and (not len(rest) or len(_pieces_of(rest, adj)) > 1):
                continue
            assign[b] = d
            notes.append(f"{codes[d]} had no whole base grid; takes {base_codes[b]}")
            taken = True
            break
        if not taken:
            dropped.append(codes[d])
    return notes, dropped


def _moves(frames: LayerFrames, assign: np.ndarray) -> pd.DataFrame:
    codes = frames.layer["code"].astype(str).to_numpy()
    base_codes = frames.base["code"].astype(str).to_numpy()
    base_hh = base_households(frames)
    rows = []
    for b in range(len(base_codes)):
        mine = frames.pairs[frames.pairs["b"] == b]
        to = codes[assign[b]] if assign[b] >= 0 else None
        for row in mine.itertuples(index=False):
            if int(row.d) != assign[b] and row.households > 0:
                rows.append((base_codes[b], codes[int(row.d)], to, float(row.households)))
        gap = base_hh[b] - float(mine["households"].sum())
        if to is not None and gap > 1e-9:
            rows.append((base_codes[b], None, to, gap))
    return pd.DataFrame(rows, columns=["base_code", "from_code", "to_code", "households"])


def _aligned_grids(
    frames: LayerFrames, assign: np.ndarray, tolerance: float, adj: sparse.csr_matrix
) -> gpd.GeoDataFrame:
    base_codes = frames.base["code"].astype(str).to_numpy()
    base_hh, layer_hh = base_households(frames), layer_households(frames)
    base_geoms = np.asarray(frames.base.geometry.values)
    rows, geoms = [], []
    for d, record in enumerate(frames.layer.drop(columns="geometry").to_dict("records")):
        members = np.flatnonzero(assign == d)
        if not len(members):
            continue
        aligned, original = float(base_hh[members].sum()), float(layer_hh[d])
        change = aligned - original
        share = change / original if original else (0.0 if aligned == 0 else float("inf"))
        rows.append(
            {
                **record,
                "base_codes": sorted(base_codes[members].tolist()),
                "households_original": original,
                "households_aligned": aligned,
                "change": change,
                "change_share": share,
                "within_tolerance": abs(share) <= tolerance,
                "contiguous": len(_pieces_of(members, adj)) == 1,
            }
        )
        geoms.append(shapely.union_all(base_geoms[members]))
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=WGS84)


def align(frames: LayerFrames, *, tolerance: float = TOLERANCE) -> AlignmentProposal:
    """Propose the nearest layer made only of whole base grids (objective in the module docstring).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> base = gpd.GeoDataFrame({"code": ["a", "b", "c"], "households": [50, 50, 50]},
    ...     geometry=[box(120.60, 31.30, 120.61, 31.31), box(120.61, 31.30, 120.62, 31.31),
    ...               box(120.62, 31.30, 120.63, 31.31)], crs="EPSG:4326")
    >>> layer = gpd.GeoDataFrame({"code": ["W", "E"]},
    ...     geometry=[box(120.60, 31.30, 120.613, 31.31), box(120.613, 31.30, 120.63, 31.31)], crs="EPSG:4326")
    >>> p = align(prepare_layer(base, layer))
    >>> p.assignment, p.grids["households_aligned"].tolist(), round(p.households_changed)
    ({'a': 'W', 'b': 'E', 'c': 'E'}, [50.0, 100.0], 15)
    """
    costs = _costs(frames)
    assign = _best_assignment(costs)
    adj = _adjacency(frames.base_m)
    codes = frames.layer["code"].astype(str).to_numpy()
    repairs = _reconnect(assign, adj, costs, codes)
    filled, dropped = _fill_empty(assign, adj, frames)
    repairs += filled
    moves = _moves(frames, assign)
    base_codes = frames.base["code"].astype(str).to_numpy()
    return AlignmentProposal(
        grids=_aligned_grids(frames, assign, tolerance, adj),
        assignment={base_codes[b]: (codes[d] if d >= 0 else None) for b, d in enumerate(assign)},
        moves=moves,
        households_original=float(layer_households(frames).sum()),
        households_changed=float(moves["households"].sum()),
        tolerance=tolerance,
        dropped=dropped,
        repairs=repairs,
    )


# --------------------------------------------------------------------------- routing


def route(overlaps: Sequence[Mapping[str, object]]) -> Mapping[str, object] | None:
    """The department grid a base grid belongs to, given the department grids overlapping it.

    Each overlap needs ``code``, ``households`` (in the intersection) and ``area_m2``; an aligned
    grid listing the base grid among its ``base_codes`` may instead say ``aligned=True`` and wins
    outright.  Otherwise the grid holding most of the base grid's households wins, then most of
    its area, then the smaller code: the same choice :func:`align` makes, so a department's
    incidents go where the aligned layer would put them.  None when nothing overlaps.

    Examples
    --------
    >>> route([{"code": "D2", "households": 10, "area_m2": 900.0},
    ...        {"code": "D1", "households": 30, "area_m2": 100.0}])["code"]
    'D1'
    >>> route([{"code": "D2", "households": 0, "area_m2": 900.0, "aligned": True},
    ...        {"code": "D1", "households": 30, "area_m2": 100.0}])["code"]
    'D2'
    >>> route([]) is None
    True
    """
    if not overlaps:
        return None

    def key(o: Mapping[str, object]) -> tuple:
        return (
            not bool(o.get("aligned")),
            -float(o.get("households") or 0),  # type: ignore[arg-type]
            -float(o.get("area_m2") or 0),  # type: ignore[arg-type]
            str(o.get("code")),
        )

    return min(overlaps, key=key)


# --------------------------------------------------------------------------- reading a department's file

#: Chinese (and English) field names of a department's grid file -> our names.
LAYER_FIELDS: dict[str, str] = {
    "网格编码": "code",
    "网格代码": "code",
    "网格编号": "code",
    "编码": "code",
    "编号": "code",
    "code": "code",
    "网格名称": "name",
    "名称": "name",
    "name": "name",
    "责任单位": "unit_name",
    "责任单位名称": "unit_name",
    "单位": "unit_name",
    "单位名称": "unit_name",
    "unit": "unit_name",
    "unit_name": "unit_name",
    "单位编码": "unit_code",
    "单位代码": "unit_code",
    "unit_code": "unit_code",
    "户数": "households",
    "households": "households",
}
LAYER_COLUMNS = ("code", "name", "unit_code", "unit_name", "households")


def _cell(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _check_geometry(geom) -> str | None:
    if geom is None or geom.is_empty:
        return "no geometry"
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return f"a {geom.geom_type}, not a polygon"
    if not geom.is_valid:
        return f"invalid polygon: {shapely.is_valid_reason(geom)}"
    return None


def check_layer(
    frame: gpd.GeoDataFrame, *, source: str = "layer", columns: Mapping[str, str] | None = None
) -> gpd.GeoDataFrame:
    """A department's grid file (EPSG:4326) checked row by row: code, name, unit, households.

    Every grid needs a code unique in the file (the department's own codes: any text without
    spaces) and a valid polygon; ``households``, when given, a whole number ≥ 0.

    Raises
    ------
    ImportRowsError
        Every bad row (1-based) with its field and reason; nothing is returned.

    Examples
    --------
    >>> from shapely.geometry import Point, box
    >>> f = gpd.GeoDataFrame({"网格编码": ["ZZ-1", "ZZ-1"], "责任单位": ["一站", "二站"]},
    ...                      geometry=[box(0, 0, 1, 1), Point(0, 0)], crs="EPSG:4326")
    >>> check_layer(f)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.ImportRowsError: layer: 2 bad row(s), nothing imported:
      row 2, field 'code': ZZ-1 is already on row 1
      row 2, field 'geometry': a Point, not a polygon
    """
    from geogrid.errors import ImportRowsError, RowError

    mapping = {**LAYER_FIELDS, **(columns or {})}
    frame = frame.rename(
        columns={c: mapping[c] for c in frame.columns if c in mapping and mapping[c] not in frame}
    )
    if "code" not in frame.columns:
        raise ImportRowsError(source, [RowError(0, "code", "no grid code column (网格编码, 编码 or code)")])
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    rows = []
    for i, (rec, geom) in enumerate(
        zip(frame.drop(columns="geometry").to_dict("records"), frame.geometry, strict=True), 1
    ):
        code = _cell(rec.get("code"))
        if code is None or any(ch.isspace() for ch in code) or len(code) > 64:
            errors.append(
                RowError(i, "code", f"a grid needs a code of 1–64 characters without spaces, got {code!r}")
            )
        elif code in seen:
            errors.append(RowError(i, "code", f"{code} is already on row {seen[code]}"))
        else:
            seen[code] = i
        problem = _check_geometry(geom)
        if problem:
            errors.append(RowError(i, "geometry", problem))
        households = _cell(rec.get("households"))
        if households is not None and not (households.isdigit()):
            errors.append(RowError(i, "households", f"must be a whole number >= 0, got {households!r}"))
        row: dict[str, object] = {c: _cell(rec.get(c)) for c in LAYER_COLUMNS}
        row["households"] = int(households) if households and households.isdigit() else None
        rows.append(row)
    if errors:
        raise ImportRowsError(source, errors)
    return gpd.GeoDataFrame(rows, columns=list(LAYER_COLUMNS), geometry=list(frame.geometry), crs=WGS84)
