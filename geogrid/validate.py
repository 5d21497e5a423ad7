"""Check any set of grids (generated or hand-drawn) against the grid rules.

Checks: empty/invalid/non-polygon/multipart grids, overlapping pairs, gaps (against the
parent division, or holes enclosed by the grids when no parent is given), parts outside
the parent, household counts outside the rule, addresses covered by no grid, and codes
(malformed, duplicate, missing, wrongly nested under their division or parent).

Areas are measured in a local metric CRS (for lon/lat grids one affine in lon/lat,
:func:`geogrid.crs.planar_crs_for`, so straight edges stay straight).  Tolerances are stated in
metres: an overlap, gap or outside part is reported when it is wider than ``tolerance_m``
(default :data:`DEFAULT_TOLERANCE_M`, 2 cm) and larger than ``tolerance_m2`` (default
:data:`DEFAULT_TOLERANCE_M2`, 1 cm²).  Anything thinner is coordinate precision, not drawing:
geogrid's features API writes 7 decimals (a vertex moves up to 0.6 cm), desktop GIS rounds to
1 cm in a projected CRS (up to 0.7 cm), and where a vertex of one grid lies on an edge of
another both may move, leaving slivers up to about twice that wide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import box

from geogrid.codes import DIVISION_LEN, parse_code
from geogrid.crs import planar_crs_for
from geogrid.errors import GridCodeError
from geogrid.frames import WGS84
from geogrid.rules import Rule, resolve_rule

# Re-projecting lon/lat grids to metres moves each vertex by ~1e-9 m; along kilometres of
# boundary that leaves slivers of ~1e-6 m².  1 cm² is far above that noise and far below
# anything a planner could draw on purpose.
DEFAULT_TOLERANCE_M2 = 1e-4
#: Overlaps, gaps and outside parts narrower than this (metres) are coordinate precision.
DEFAULT_TOLERANCE_M = 0.02
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
    tolerance_m: float = DEFAULT_TOLERANCE_M

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
    tolerance_m: float = DEFAULT_TOLERANCE_M,
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
        Overlaps, gaps and outside parts smaller than this (m²) are ignored.
    tolerance_m : float
        Overlaps, gaps and outside parts narrower than this (m) are ignored: they are the
        coordinate precision of a file or a desktop GIS, not a drawing error.

    Returns
    -------
    ValidationReport
        The issues of every check that applies (:data:`CHECKS`, in that order).

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
    ctx = ValidationContext.build(
        grids,
        parent=parent,
        rule=rule,
        addresses=addresses,
        tolerance_m2=tolerance_m2,
        tolerance_m=tolerance_m,
    )
    if ctx.n == 0:
        return ValidationReport(
            n_grids=0, tolerance_m2=tolerance_m2, rule=ctx.rule, checks=(), tolerance_m=tolerance_m
        )
    issues: list[Issue] = []
    ran = []
    for name, check in CHECKS:
        found = check(ctx)
        if found is not None:
            ran.append(name)
            issues += found
    checks = tuple(c for c in _CHECK_NAMES if c in ran)
    return ValidationReport(
        issues=issues,
        n_grids=ctx.n,
        tolerance_m2=tolerance_m2,
        rule=ctx.rule,
        checks=checks,
        tolerance_m=tolerance_m,
    )


# --------------------------------------------------------------------------- the shared context


@dataclass
class ValidationContext:
    """What every check reads: the grids in a metric CRS, their labels, the parent, the households.

    Built once by :meth:`build`; each check function (:data:`CHECKS`) takes it and returns its
    issues, or None when it does not apply (no parent, no rule, no codes...).

    ``geoms`` are the grids in ``metric``; ``fixed`` the same with invalid ones repaired
    (``make_valid``, polygonal parts); ``live`` the positions of the usable, non-empty ones.
    ``households`` is the ``households`` column, or the count from ``addresses`` when given.
    """

    grids: gpd.GeoDataFrame
    labels: list[str]
    codes: list
    src: CRS
    metric: CRS
    geoms_src: np.ndarray
    geoms: np.ndarray
    usable: np.ndarray
    fixed: np.ndarray
    live: np.ndarray
    tolerance_m2: float
    tolerance_m: float = DEFAULT_TOLERANCE_M
    rule: Rule | None = None
    parent_geom: shapely.Geometry | None = None
    parent_code: str | None = None
    households: np.ndarray | None = None
    address_points: np.ndarray | None = None
    address_covered: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.geoms_src)

    @property
    def live_geoms(self) -> np.ndarray:
        return self.fixed[self.live]

    @cached_property
    def tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.live_geoms)

    @cached_property
    def union(self) -> shapely.Geometry:
        return shapely.union_all(self.live_geoms) if len(self.live) else shapely.Polygon()

    def noticeable(self, pieces: np.ndarray) -> np.ndarray:
        """Which pieces (overlaps, outside parts) are above both tolerances: larger and wider."""
        big = shapely.area(pieces) > self.tolerance_m2
        if self.tolerance_m > 0 and big.any():
            # A piece narrower than the tolerance vanishes when eroded by half of it.
            big[big] = ~shapely.is_empty(shapely.buffer(pieces[big], -self.tolerance_m / 2))
        return big

    def to_ll(self, geom: shapely.Geometry | None) -> shapely.Geometry | None:
        """A metric geometry in EPSG:4326 (where issues are located)."""
        if geom is None:
            return None
        return _reproject(np.array([geom], dtype=object), self.metric, CRS.from_user_input(WGS84))[0]

    @classmethod
    def build(
        cls,
        grids: gpd.GeoDataFrame,
        *,
        parent=None,
        rule: Rule | str | tuple[int, int] | None = None,
        addresses: gpd.GeoDataFrame | None = None,
        tolerance_m2: float = DEFAULT_TOLERANCE_M2,
        tolerance_m: float = DEFAULT_TOLERANCE_M,
    ) -> ValidationContext:
        """Project the grids (and parent, addresses) to one metric CRS and repair what can be measured."""
        src = CRS.from_user_input(grids.crs or WGS84)
        geoms_src = np.asarray(grids.geometry.values, dtype=object)
        n = len(geoms_src)
        codes = grids["code"].tolist() if "code" in grids.columns else [None] * n
        labels = [
            str(c) if isinstance(c, str) and c else f"#{idx}"
            for c, idx in zip(codes, grids.index, strict=True)
        ]
        metric = _metric_crs(src, geoms_src)
        geoms = _reproject(geoms_src, src, metric)
        usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        usable &= np.isin(shapely.get_type_id(geoms), [3, 6])
        fixed = geoms.copy()
        for i in np.flatnonzero(usable & ~shapely.is_valid(geoms)):
            repaired = shapely.make_valid(geoms[i])
            polys = [p for p in shapely.get_parts(repaired) if p.geom_type in ("Polygon", "MultiPolygon")]
            fixed[i] = shapely.union_all(polys) if polys else shapely.Polygon()
        live = np.flatnonzero(usable & ~shapely.is_empty(fixed))
        ctx = cls(
            grids=grids,
            labels=labels,
            codes=codes,
            src=src,
            metric=metric,
            geoms_src=geoms_src,
            geoms=geoms,
            usable=usable,
            fixed=fixed,
            live=live,
            tolerance_m2=tolerance_m2,
            tolerance_m=tolerance_m,
            rule=resolve_rule(rule) if rule is not None else None,
        )
        if parent is not None:
            ctx._set_parent(parent)
        hh = grids["households"].to_numpy() if "households" in grids.columns else None
        ctx.households = hh
        if addresses is not None and len(addresses) and n:
            ctx._count_addresses(addresses)
        return ctx

    def _set_parent(self, parent) -> None:
        pg, pcrs = _geometry_of(parent, WGS84)
        self.parent_geom = _reproject(np.array([pg], dtype=object), pcrs, self.metric)[0]
        if isinstance(parent, gpd.GeoDataFrame) and "code" in parent.columns:
            pcodes = parent["code"].dropna().astype(str).unique()
            self.parent_code = pcodes[0] if len(pcodes) == 1 else None

    def _count_addresses(self, addresses: gpd.GeoDataFrame) -> None:
        """Households per grid from address points (a point on a shared edge counts in the first grid)."""
        pts = _reproject(
            np.asarray(addresses.geometry.values, dtype=object),
            CRS.from_user_input(addresses.crs or WGS84),
            self.metric,
        )
        weights = (
            addresses["households"].to_numpy(dtype=float)
            if "households" in addresses.columns
            else np.ones(len(pts))
        )
        pi, gi = self.tree.query(pts, predicate="intersects")
        hh = np.zeros(self.n)
        first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, dtype=bool)
        np.add.at(hh, self.live[gi[first]], weights[pi[first]])
        covered = np.zeros(len(pts), dtype=bool)
        covered[pi] = True
        self.households, self.address_points, self.address_covered = hh, pts, covered


def _metric_crs(src: CRS, geoms_src: np.ndarray) -> CRS:
    """The CRS areas are measured in: the grids' own if projected, else one affine in lon/lat.

    Lon/lat grids are measured in a CRS affine in lon/lat: their edges are straight in
    lon/lat (as PostGIS compares them), and a conformal projection would bend an edge
    with a vertex in the middle differently from the same edge without it.
    """
    if src.is_projected:
        return src
    return planar_crs_for(gpd.GeoSeries(geoms_src, crs=src).to_crs(WGS84))


# --------------------------------------------------------------------------- one check per kind


def _example_context() -> ValidationContext:
    """The context of the check functions' examples: grids 320508019044001 (80 households) and
    320508019044002 (120) in UTM 51N, overlapping by a 10 m strip and ending 10 m short of their
    210 m × 100 m parent, checked against the rural rule."""
    grids = gpd.GeoDataFrame(
        {"code": ["320508019044001", "320508019044002"], "households": [80, 120]},
        geometry=[box(0, 0, 100, 100), box(90, 0, 200, 100)],
        crs="EPSG:32651",
    )
    parent = gpd.GeoSeries([box(0, 0, 210, 100)], crs="EPSG:32651")
    return ValidationContext.build(grids, parent=parent, rule="rural")


def check_geometry(ctx: ValidationContext) -> list[Issue]:
    """``empty``, ``not_polygon``, ``invalid`` and ``multipart`` grids (always applies)

    Examples
    --------
    >>> ctx = _example_context()  # two rural grids overlapping by 10 m, 10 m short of the parent
    >>> check_geometry(ctx)
    []
    """
    issues = []
    geoms, labels = ctx.geoms, ctx.labels
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        issues.append(Issue("empty", (labels[i],), f"grid {labels[i]} has no geometry"))
    for i in np.flatnonzero(~missing & ~ctx.usable):
        issues.append(
            Issue(
                "not_polygon",
                (labels[i],),
                f"grid {labels[i]} is a {geoms[i].geom_type}",
                ctx.to_ll(geoms[i]),
            )
        )
    for i in np.flatnonzero(ctx.usable & ~shapely.is_valid(geoms)):
        reason = shapely.is_valid_reason(geoms[i])
        issues.append(
            Issue("invalid", (labels[i],), f"grid {labels[i]} is invalid: {reason}", ctx.to_ll(geoms[i]))
        )
    parts_count = shapely.get_num_geometries(ctx.fixed)
    for i in np.flatnonzero(ctx.usable & (parts_count > 1)):
        issues.append(
            Issue(
                "multipart",
                (labels[i],),
                f"grid {labels[i]} has {parts_count[i]} separate parts; a grid must be one polygon",
                ctx.to_ll(ctx.fixed[i]),
                float(parts_count[i]),
            )
        )
    return issues


def check_overlaps(ctx: ValidationContext) -> list[Issue]:
    """``overlap``: every pair of grids sharing more than the tolerance of area (always applies)

    Examples
    --------
    >>> ctx = _example_context()  # two rural grids overlapping by 10 m, 10 m short of the parent
    >>> [(i.codes, round(i.measure)) for i in check_overlaps(ctx)]
    [(('320508019044001', '320508019044002'), 1000)]
    """
    live, live_geoms, labels = ctx.live, ctx.live_geoms, ctx.labels
    a, b = ctx.tree.query(live_geoms, predicate="intersects")
    pair = a < b
    a, b = a[pair], b[pair]
    if not len(a):
        return []
    inter = shapely.intersection(live_geoms[a], live_geoms[b])
    area = shapely.area(inter)
    issues = []
    for j in np.flatnonzero(ctx.noticeable(inter)):
        ia, ib = live[a[j]], live[b[j]]
        issues.append(
            Issue(
                "overlap",
                (labels[ia], labels[ib]),
                f"grids {labels[ia]} and {labels[ib]} overlap by {area[j]:.2f} m²",
                ctx.to_ll(inter[j]),
                float(area[j]),
            )
        )
    return issues


def check_outside(ctx: ValidationContext) -> list[Issue] | None:
    """``outside``: parts of grids beyond the parent (applies with a parent)

    Examples
    --------
    >>> ctx = _example_context()  # two rural grids overlapping by 10 m, 10 m short of the parent
    >>> check_outside(ctx)
    []
    """
    if ctx.parent_geom is None:
        return None
    parent = ctx.parent_geom
    shapely.prepare(parent)
    out_idx = np.flatnonzero(~shapely.covers(parent, ctx.live_geoms))
    if not len(out_idx):
        return []
    outside = shapely.difference(ctx.live_geoms[out_idx], parent)
    out_area = shapely.area(outside)
    issues = []
    for j in np.flatnonzero(ctx.noticeable(outside)):
        i = ctx.live[out_idx[j]]
        label = ctx.labels[i]
        issues.append(
            Issue(
                "outside",
                (label,),
                f"grid {label} extends {out_area[j]:.2f} m² outside its parent",
                ctx.to_ll(outside[j]),
                float(out_area[j]),
            )
        )
    return issues


def check_gaps(ctx: ValidationContext) -> list[Issue]:
    """``gap``: parts of the parent covered by no grid, or holes enclosed by the grids without one

    Examples
    --------
    >>> ctx = _example_context()  # two rural grids overlapping by 10 m, 10 m short of the parent
    >>> [round(i.measure) for i in check_gaps(ctx)]
    [1000]
    """
    if ctx.parent_geom is not None:
        uncovered = shapely.difference(ctx.parent_geom, ctx.union)
    else:
        holes = [shapely.Polygon(r) for p in shapely.get_parts(ctx.union) for r in p.interiors]
        uncovered = shapely.union_all(holes) if holes else shapely.Polygon()
    if not uncovered.is_empty:
        # Re-projection and rounding leave slivers along shared borders, alone or hanging off
        # a real gap; a morphological opening by half the tolerance drops them and keeps the
        # gap's shape (mitred corners).
        r = max(ctx.tolerance_m / 2, GAP_OPENING_M)
        uncovered = shapely.buffer(shapely.buffer(uncovered, -r, join_style="mitre"), r, join_style="mitre")
    issues = []
    for gap in shapely.get_parts(uncovered):
        if gap.geom_type == "Polygon" and gap.area > ctx.tolerance_m2:
            touching = ctx.tree.query(gap, predicate="intersects")
            near = tuple(ctx.labels[ctx.live[t]] for t in sorted(touching))
            issues.append(
                Issue("gap", near, f"gap of {gap.area:.2f} m² covered by no grid", ctx.to_ll(gap), gap.area)
            )
    return issues


def check_addresses(ctx: ValidationContext) -> list[Issue] | None:
    """``address_uncovered``: addresses inside the parent in no grid (applies with addresses)

    Examples
    --------
    >>> ctx = _example_context()  # two rural grids overlapping by 10 m, 10 m short of the parent
    >>> check_addresses(ctx) is None  # no addresses given
    True
    """
    if ctx.address_points is None:
        return None
    if ctx.parent_geom is None or ctx.address_covered is None:
        return []
    pts = ctx.address_points
    stray = np.flatnonzero(~ctx.address_covered & shapely.intersects(ctx.parent_geom, pts))
    if not len(stray):
        return []
    return [
        Issue(
            "address_uncovered",
            (),
            f"{len(stray)} address(es) inside the parent lie in no grid",
            ctx.to_ll(shapely.multipoints(pts[stray])),
            float(len(stray)),
        )
    ]


def check_households(ctx: ValidationContext) -> list[Issue] | None:
    """``households``: grids outside the rule's bounds (applies with a rule)

    Examples
    --------
    >>> ctx = _example_context()  # two rural grids overlapping by 10 m, 10 m short of the parent
    >>> [i.message for i in check_households(ctx)]
    ['grid 320508019044002 has 120 households, outside [50, 100]']
    """
    rule = ctx.rule
    if rule is None:
        return None
    hh = ctx.households
    if hh is None:
        raise ValueError("checking a rule needs a 'households' column or addresses")
    in_ll = ctx.src == CRS.from_user_input(WGS84)
    issues = []
    for i in np.flatnonzero(~((hh >= rule.lo) & (hh <= rule.hi))):
        label = ctx.labels[i]
        issues.append(
            Issue(
                "households",
                (label,),
                f"grid {label} has {hh[i]:g} households, outside [{rule.lo}, {rule.hi}]",
                ctx.geoms_src[i] if in_ll else ctx.to_ll(ctx.geoms[i]),
                float(hh[i]),
            )
        )
    return issues


def check_codes(ctx: ValidationContext) -> list[Issue] | None:
    """``code_missing``, ``code_malformed``, ``code_duplicate``, ``code_nesting`` (applies when any grid has a code)

    Examples
    --------
    >>> ctx = _example_context()  # two rural grids overlapping by 10 m, 10 m short of the parent
    >>> check_codes(ctx)
    []
    """
    present = [isinstance(c, str) and bool(c) for c in ctx.codes]
    if not any(present):
        return None
    grids = ctx.grids
    divs = grids["division_code"].tolist() if "division_code" in grids.columns else [None] * ctx.n
    issues: list[Issue] = []
    seen: dict[str, list[int]] = {}
    for row, (c, ok) in enumerate(zip(ctx.codes, present, strict=True)):
        if not ok:
            issues.append(Issue("code_missing", (ctx.labels[row],), f"grid {ctx.labels[row]} has no code"))
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
        issues += _nesting_issues(c, divs[row], ctx.parent_code)
    for c, idx in seen.items():
        if len(idx) > 1:
            issues.append(
                Issue("code_duplicate", (c,), f"code {c} is used by {len(idx)} grids", None, len(idx))
            )
    return issues


def _nesting_issues(code: str, division: str | None, parent_code: str | None) -> list[Issue]:
    out = []
    if isinstance(division, str) and division and code[:DIVISION_LEN] != division[:DIVISION_LEN]:
        out.append(
            Issue("code_nesting", (code,), f"grid code {code} does not extend its division code {division}")
        )
    if parent_code is not None and not code.startswith(parent_code):
        out.append(
            Issue("code_nesting", (code,), f"grid code {code} does not extend the parent code {parent_code}")
        )
    return out


#: The checks :func:`validate` runs, in order: (name, function of the context → issues or None).
CHECKS: tuple[tuple[str, Callable[[ValidationContext], list[Issue] | None]], ...] = (
    ("geometry", check_geometry),
    ("overlap", check_overlaps),
    ("outside", check_outside),
    ("gap", check_gaps),
    ("addresses", check_addresses),
    ("households", check_households),
    ("codes", check_codes),
)
# Order of the names in ``ValidationReport.checks``.
_CHECK_NAMES = ("geometry", "overlap", "gap", "outside", "addresses", "households", "codes")


__all__ = [
    "CHECKS",
    "DEFAULT_TOLERANCE_M",
    "DEFAULT_TOLERANCE_M2",
    "ISSUE_KINDS",
    "Issue",
    "ValidationContext",
    "ValidationReport",
    "check_addresses",
    "check_codes",
    "check_gaps",
    "check_geometry",
    "check_households",
    "check_outside",
    "check_overlaps",
    "validate",
]
