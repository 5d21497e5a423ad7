"""Check any set of grids (generated or hand-drawn) against the grid rules.

Checks: empty/invalid/non-polygon/multipart grids, overlapping pairs, gaps (against the
parent division, or holes enclosed by the grids when no parent is given), parts outside
the parent, household counts outside the rule, addresses covered by no grid, and codes
(malformed, duplicate, missing, wrongly nested under their division or parent).

Areas are measured in a local metric CRS (for lon/lat grids one affine in lon/lat,
:func:`geogrid.crs.planar_crs_for`, so straight edges stay straight); an overlap, gap or
outside part smaller than ``tolerance_m2`` (default :data:`DEFAULT_TOLERANCE_M2`) is
floating-point noise and is not reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geogrid.codes import DIVISION_LEN, parse_code
from geogrid.crs import planar_crs_for
from geogrid.errors import GridCodeError
from geogrid.frames import WGS84
from geogrid.rules import Rule, resolve_rule

# Re-projecting lon/lat grids to metres moves each vertex by ~1e-9 m; along kilometres of
# boundary that leaves slivers of ~1e-6 m².  1 cm² is far above that noise and far below
# anything a planner could draw on purpose.
DEFAULT_TOLERANCE_M2 = 1e-4
GAP_OPENING_M = 1e-5

ISSUE_KINDS = (
    "empty",
    "invalid",
    "not_polygon",
    "multipart",
    "overlap",
    "gap",
    "outside",
    "households",
    "address_uncovered",
    "code_missing",
    "code_malformed",
    "code_duplicate",
    "code_nesting",
)


@dataclass(frozen=True)
class Issue:
    """One problem: its kind, the grids involved, a message, where (EPSG:4326) and how much.

    ``measure`` is an area in m² for overlaps, gaps and outside parts, a household count
    for bound violations, a part count for multipart grids, an address count otherwise.
    """

    kind: str
    codes: tuple[str, ...]
    message: str
    geometry: shapely.Geometry | None = None
    measure: float | None = None


@dataclass
class ValidationReport:
    """All issues found in a set of grids; ``ok`` when there are none."""

    issues: list[Issue] = field(default_factory=list)
    n_grids: int = 0
    tolerance_m2: float = DEFAULT_TOLERANCE_M2
    rule: Rule | None = None
    checks: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.issues

    def counts(self) -> dict[str, int]:
        """Number of issues per kind (kinds with none are left out)."""
        return dict(Counter(i.kind for i in self.issues))

    def of_kind(self, kind: str) -> list[Issue]:
        return [i for i in self.issues if i.kind == kind]

    def to_frame(self) -> gpd.GeoDataFrame:
        """Issues as a GeoDataFrame (EPSG:4326): ``kind``, ``codes``, ``message``, ``measure``, geometry."""
        return gpd.GeoDataFrame(
            {
                "kind": [i.kind for i in self.issues],
                "codes": [", ".join(i.codes) for i in self.issues],
                "message": [i.message for i in self.issues],
                "measure": [i.measure for i in self.issues],
            },
            geometry=gpd.GeoSeries([i.geometry for i in self.issues], crs=WGS84),
        )

    def summary(self) -> str:
        """One line verdict plus one line per issue kind."""
        head = f"{self.n_grids} grid(s) checked ({', '.join(self.checks)}): "
        if self.ok:
            return head + "OK"
        lines = [head + f"{len(self.issues)} issue(s)"]
        lines += [f"  {kind}: {n}" for kind, n in sorted(self.counts().items())]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _geometry_of(obj, crs) -> tuple[shapely.Geometry, CRS]:
    if isinstance(obj, gpd.GeoDataFrame | gpd.GeoSeries):
        c = obj.crs or CRS.from_user_input(WGS84)
        return shapely.union_all(np.asarray(obj.geometry.values)), CRS.from_user_input(c)
    return obj, CRS.from_user_input(crs)


def _reproject(geoms: np.ndarray, src: CRS, dst: CRS) -> np.ndarray:
    if src == dst:
        return geoms
    return np.asarray(gpd.GeoSeries(geoms, crs=src).to_crs(dst).values)


def validate(
    grids: gpd.GeoDataFrame,
    *,
    parent=None,
    rule: Rule | str | tuple[int, int] | None = None,
    addresses: gpd.GeoDataFrame | None = None,
    tolerance_m2: float = DEFAULT_TOLERANCE_M2,
) -> ValidationReport:
    """Check a set of grids: geometry, coverage, household bounds and codes.

    Parameters
    ----------
    grids : GeoDataFrame
        Any grids (EPSG:4326 unless the frame says otherwise); ``code``,
        ``division_code`` and ``households`` columns are used when present.
    parent : geometry or GeoDataFrame, optional
        The division the grids must tile.  Without it, gaps are the holes enclosed by
        the union of the grids.  A frame's ``code`` column (one value) is also the code
        every grid code must extend.
    rule : Rule, "urban", "rural" or (lo, hi), optional
        Household bounds to check.
    addresses : GeoDataFrame, optional
        Address points (``households`` default 1): households per grid are counted from
        them instead of the ``households`` column, and addresses inside the parent but
        in no grid are reported.
    tolerance_m2 : float
        Overlaps, gaps and outside parts smaller than this are ignored.

    Returns
    -------
    ValidationReport

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame({"code": ["320508019044001", "320508019044001"], "households": [80, 120]},
    ...                          geometry=[box(0, 0, 100, 100), box(90, 0, 200, 100)], crs="EPSG:32651")
    >>> report = validate(grids, parent=gpd.GeoSeries([box(0, 0, 210, 100)], crs="EPSG:32651"), rule="rural")
    >>> report.ok, report.counts()
    (False, {'overlap': 1, 'gap': 1, 'households': 1, 'code_duplicate': 1})
    """
    rule_ = resolve_rule(rule) if rule is not None else None
    src = CRS.from_user_input(grids.crs or WGS84)
    geoms_src = np.asarray(grids.geometry.values, dtype=object)
    n = len(geoms_src)
    codes_col = grids["code"] if "code" in grids.columns else pd.Series([None] * n, index=grids.index)
    labels = [
        str(c) if isinstance(c, str) and c else f"#{idx}"
        for c, idx in zip(codes_col, grids.index, strict=True)
    ]
    issues: list[Issue] = []
    checks = ["geometry", "overlap", "gap"]
    if n == 0:
        return ValidationReport(issues=issues, n_grids=0, tolerance_m2=tolerance_m2, rule=rule_, checks=())

    # Lon/lat grids are measured in a CRS affine in lon/lat: their edges are straight in
    # lon/lat (as PostGIS compares them), and a conformal projection would bend an edge
    # with a vertex in the middle differently from the same edge without it.
    metric = src if src.is_projected else planar_crs_for(gpd.GeoSeries(geoms_src, crs=src).to_crs(WGS84))
    geoms = _reproject(geoms_src, src, metric)

    def to_ll(g: shapely.Geometry | None) -> shapely.Geometry | None:
        if g is None:
            return None
        return _reproject(np.array([g], dtype=object), metric, CRS.from_user_input(WGS84))[0]

    # ---- geometry of each grid
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    usable = ~missing
    for i in np.flatnonzero(missing):
        issues.append(Issue("empty", (labels[i],), f"grid {labels[i]} has no geometry"))
    type_ok = np.isin(shapely.get_type_id(geoms), [3, 6])
    for i in np.flatnonzero(usable & ~type_ok):
        issues.append(
            Issue("not_polygon", (labels[i],), f"grid {labels[i]} is a {geoms[i].geom_type}", to_ll(geoms[i]))
        )
        usable[i] = False
    valid = shapely.is_valid(geoms)
    fixed = geoms.copy()
    for i in np.flatnonzero(usable & ~valid):
        reason = shapely.is_valid_reason(geoms[i])
        issues.append(
            Issue("invalid", (labels[i],), f"grid {labels[i]} is invalid: {reason}", to_ll(geoms[i]))
        )
        repaired = shapely.make_valid(geoms[i])
        polys = [p for p in shapely.get_parts(repaired) if p.geom_type in ("Polygon", "MultiPolygon")]
        fixed[i] = shapely.union_all(polys) if polys else shapely.Polygon()
    parts_count = shapely.get_num_geometries(fixed)
    for i in np.flatnonzero(usable & (parts_count > 1)):
        issues.append(
            Issue(
                "multipart",
                (labels[i],),
                f"grid {labels[i]} has {parts_count[i]} separate parts; a grid must be one polygon",
                to_ll(fixed[i]),
                float(parts_count[i]),
            )
        )
    live = np.flatnonzero(usable & ~shapely.is_empty(fixed))
    live_geoms = fixed[live]

    # ---- overlaps
    tree = shapely.STRtree(live_geoms)
    a, b = tree.query(live_geoms, predicate="intersects")
    pair = a < b
    a, b = a[pair], b[pair]
    if len(a):
        inter = shapely.intersection(live_geoms[a], live_geoms[b])
        area = shapely.area(inter)
        for j in np.flatnonzero(area > tolerance_m2):
            ia, ib = live[a[j]], live[b[j]]
            issues.append(
                Issue(
                    "overlap",
                    (labels[ia], labels[ib]),
                    f"grids {labels[ia]} and {labels[ib]} overlap by {area[j]:.2f} m²",
                    to_ll(inter[j]),
                    float(area[j]),
                )
            )

    # ---- gaps and outside parts
    union = shapely.union_all(live_geoms) if len(live_geoms) else shapely.Polygon()
    parent_geom = None
    parent_code = None
    if parent is not None:
        checks.append("outside")
        pg, pcrs = _geometry_of(parent, WGS84)
        parent_geom = _reproject(np.array([pg], dtype=object), pcrs, metric)[0]
        if isinstance(parent, gpd.GeoDataFrame) and "code" in parent.columns:
            pcodes = parent["code"].dropna().astype(str).unique()
            parent_code = pcodes[0] if len(pcodes) == 1 else None
        uncovered = shapely.difference(parent_geom, union)
        shapely.prepare(parent_geom)
        out_idx = np.flatnonzero(~shapely.covers(parent_geom, live_geoms))
        if len(out_idx):
            outside = shapely.difference(live_geoms[out_idx], parent_geom)
            out_area = shapely.area(outside)
            for j in np.flatnonzero(out_area > tolerance_m2):
                i = live[out_idx[j]]
                issues.append(
                    Issue(
                        "outside",
                        (labels[i],),
                        f"grid {labels[i]} extends {out_area[j]:.2f} m² outside its parent",
                        to_ll(outside[j]),
                        float(out_area[j]),
                    )
                )
    else:
        holes = [shapely.Polygon(r) for p in shapely.get_parts(union) for r in p.interiors]
        uncovered = shapely.union_all(holes) if holes else shapely.Polygon()
    if not uncovered.is_empty:
        # Re-projection leaves hair-thin slivers along shared borders that can hang off a
        # real gap; a morphological opening by 10 µm drops them without changing the gap.
        uncovered = shapely.buffer(
            shapely.buffer(uncovered, -GAP_OPENING_M, join_style="mitre"), GAP_OPENING_M, join_style="mitre"
        )
    for gap in shapely.get_parts(uncovered):
        if gap.geom_type == "Polygon" and gap.area > tolerance_m2:
            touching = shapely.STRtree(live_geoms).query(gap, predicate="intersects")
            near = tuple(labels[live[t]] for t in sorted(touching))
            issues.append(
                Issue("gap", near, f"gap of {gap.area:.2f} m² covered by no grid", to_ll(gap), gap.area)
            )

    # ---- households
    hh = grids["households"].to_numpy() if "households" in grids.columns else None
    if addresses is not None and len(addresses):
        checks.append("addresses")
        pts = _reproject(
            np.asarray(addresses.geometry.values, dtype=object),
            CRS.from_user_input(addresses.crs or WGS84),
            metric,
        )
        weights = (
            addresses["households"].to_numpy(dtype=float)
            if "households" in addresses.columns
            else np.ones(len(pts))
        )
        pi, gi = tree.query(pts, predicate="intersects")
        hh = np.zeros(n)
        first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, dtype=bool)
        np.add.at(hh, live[gi[first]], weights[pi[first]])
        covered = np.zeros(len(pts), dtype=bool)
        covered[pi] = True
        if parent_geom is not None:
            stray = np.flatnonzero(~covered & shapely.intersects(parent_geom, pts))
            if len(stray):
                issues.append(
                    Issue(
                        "address_uncovered",
                        (),
                        f"{len(stray)} address(es) inside the parent lie in no grid",
                        to_ll(shapely.multipoints(pts[stray])),
                        float(len(stray)),
                    )
                )
    if rule_ is not None:
        checks.append("households")
        if hh is None:
            raise ValueError("checking a rule needs a 'households' column or addresses")
        for i in np.flatnonzero(~((hh >= rule_.lo) & (hh <= rule_.hi))):
            issues.append(
                Issue(
                    "households",
                    (labels[i],),
                    f"grid {labels[i]} has {hh[i]:g} households, outside [{rule_.lo}, {rule_.hi}]",
                    geoms_src[i] if src == CRS.from_user_input(WGS84) else to_ll(geoms[i]),
                    float(hh[i]),
                )
            )

    # ---- codes
    present = [isinstance(c, str) and bool(c) for c in codes_col]
    if any(present):
        checks.append("codes")
        divs = grids["division_code"].tolist() if "division_code" in grids.columns else [None] * n
        seen: dict[str, list[int]] = {}
        for row, (c, ok) in enumerate(zip(codes_col, present, strict=True)):
            if not ok:
                issues.append(Issue("code_missing", (labels[row],), f"grid {labels[row]} has no code"))
                continue
            try:
                parts = parse_code(c)
            except GridCodeError as exc:
                issues.append(Issue("code_malformed", (c,), str(exc)))
                continue
            seen.setdefault(c, []).append(row)
            if parts.level not in ("grid", "subgrid"):
                issues.append(
                    Issue("code_malformed", (c,), f"code {c!r} is a {parts.level} code, not a grid code")
                )
                continue
            d = divs[row]
            if isinstance(d, str) and d and c[:DIVISION_LEN] != d[:DIVISION_LEN]:
                issues.append(
                    Issue("code_nesting", (c,), f"grid code {c} does not extend its division code {d}")
                )
            if parent_code is not None and not c.startswith(parent_code):
                issues.append(
                    Issue(
                        "code_nesting", (c,), f"grid code {c} does not extend the parent code {parent_code}"
                    )
                )
        for c, idx in seen.items():
            if len(idx) > 1:
                issues.append(
                    Issue("code_duplicate", (c,), f"code {c} is used by {len(idx)} grids", None, len(idx))
                )

    return ValidationReport(
        issues=issues, n_grids=n, tolerance_m2=tolerance_m2, rule=rule_, checks=tuple(checks)
    )


__all__ = ["DEFAULT_TOLERANCE_M2", "ISSUE_KINDS", "Issue", "ValidationReport", "validate"]
