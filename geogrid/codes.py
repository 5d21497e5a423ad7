"""Unified codes (统一编码) of divisions, grids and sub-grids.

- division: 12 digits = county (6, GB/T 2260) + township (3) + village (3), e.g.
  ``320508019044``; a township's own code ends in ``000`` and a county's in ``000000``;
- grid: village code + 3-digit sequence ``001``..``999`` (15 digits);
- sub-grid: grid code + 2-digit sequence ``01``..``99`` (17 digits).

Parent/child relations follow from prefixes.  Grid sequences are numbered west→east,
north→south inside their village (:func:`number_grids`); re-drawing keeps the code of
every essentially unchanged grid (:func:`recode`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely

from geogrid.crs import metric_crs_for
from geogrid.errors import GridCodeError
from geogrid.frames import WGS84

DIVISION_LEN = 12
GRID_LEN = 15
SUBGRID_LEN = 17
_DIGITS = re.compile(r"^[0-9]+$")
# First two digits of GB/T 2260 province-level codes.
PROVINCE_PREFIXES = frozenset(
    f"{n}" for n in (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46)
) | frozenset(f"{n}" for n in (50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82))


@dataclass(frozen=True)
class CodeParts:
    """A parsed code.  ``level`` is ``county``, ``township``, ``village``, ``grid`` or ``subgrid``."""

    code: str
    level: str
    county: str
    township: str | None = None
    village: str | None = None
    grid_seq: int | None = None
    subgrid_seq: int | None = None

    @property
    def division_code(self) -> str:
        """The 12-digit division the code belongs to (itself for a division)."""
        return self.code[:DIVISION_LEN]


def parse_code(code: str) -> CodeParts:
    """Split a 12-, 15- or 17-digit code into its parts, or raise :class:`GridCodeError`.

    Examples
    --------
    >>> parse_code("320508019044003").grid_seq
    3
    >>> parse_code("320508019000").level
    'township'
    >>> parse_code("32050801904")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.GridCodeError: code '32050801904' has 11 digits; expected 12 (division), ...
    """
    if not isinstance(code, str):
        raise GridCodeError(f"code must be a string of digits, got {type(code).__name__} {code!r}")
    if not _DIGITS.match(code):
        raise GridCodeError(f"code {code!r} must contain only the digits 0-9")
    if len(code) not in (DIVISION_LEN, GRID_LEN, SUBGRID_LEN):
        raise GridCodeError(
            f"code {code!r} has {len(code)} digits; expected 12 (division), 15 (grid) or 17 (sub-grid)"
        )
    if code[:2] not in PROVINCE_PREFIXES:
        raise GridCodeError(f"code {code!r} starts with {code[:2]!r}, not a GB/T 2260 province code")
    if code[2:6] == "0000":
        raise GridCodeError(f"code {code!r} has no county part (digits 3-6 are 0000)")
    county, township, village = code[:6], code[6:9], code[9:12]
    if township == "000" and village != "000":
        raise GridCodeError(f"code {code!r} has a village part {village!r} under township 000")
    if len(code) == DIVISION_LEN:
        if township == "000":
            return CodeParts(code, "county", county)
        if village == "000":
            return CodeParts(code, "township", county, township)
        return CodeParts(code, "village", county, township, village)
    if village == "000":
        raise GridCodeError(f"grid code {code!r} must extend a village code, not township {code[:12]!r}")
    seq = int(code[12:15])
    if seq == 0:
        raise GridCodeError(f"grid code {code!r} has sequence 000; sequences start at 001")
    if len(code) == GRID_LEN:
        return CodeParts(code, "grid", county, township, village, seq)
    sub = int(code[15:17])
    if sub == 0:
        raise GridCodeError(f"sub-grid code {code!r} has sequence 00; sequences start at 01")
    return CodeParts(code, "subgrid", county, township, village, seq, sub)


def check_code(code: str, *, level: str | None = None) -> str:
    """Return ``code`` if well formed (and of ``level`` when given); raise :class:`GridCodeError` otherwise.

    Examples
    --------
    >>> check_code("320508019044003", level="grid")
    '320508019044003'
    >>> check_code("320508019044", level="grid")
    Traceback (most recent call last):
    ...
    geogrid.errors.GridCodeError: code '320508019044' is a village code, expected a grid code
    """
    parts = parse_code(code)
    if level is not None and parts.level != level:
        raise GridCodeError(f"code {code!r} is a {parts.level} code, expected a {level} code")
    return code


def is_valid_code(code: object, *, level: str | None = None) -> bool:
    """True when :func:`check_code` accepts ``code``."""
    try:
        check_code(code, level=level)  # type: ignore[arg-type]
    except GridCodeError:
        return False
    return True


def grid_code(village_code: str, seq: int) -> str:
    """15-digit code of grid ``seq`` (1..999) of a village.

    Examples
    --------
    >>> grid_code("320508019044", 3)
    '320508019044003'
    """
    check_code(village_code, level="village")
    if not 1 <= int(seq) <= 999:
        raise GridCodeError(f"grid sequence must be 1..999, got {seq}")
    return f"{village_code}{int(seq):03d}"


def subgrid_code(parent_grid_code: str, seq: int) -> str:
    """17-digit code of sub-grid ``seq`` (1..99) of a grid.

    Examples
    --------
    >>> subgrid_code("320508019044003", 12)
    '32050801904400312'
    """
    check_code(parent_grid_code, level="grid")
    if not 1 <= int(seq) <= 99:
        raise GridCodeError(f"sub-grid sequence must be 1..99, got {seq}")
    return f"{parent_grid_code}{int(seq):02d}"


def child_code(parent: str, seq: int) -> str:
    """Code of child ``seq`` of a village (grid) or of a grid (sub-grid)."""
    level = parse_code(parent).level
    if level == "village":
        return grid_code(parent, seq)
    if level == "grid":
        return subgrid_code(parent, seq)
    raise GridCodeError(f"a {level} code ({parent!r}) has no numbered grids; use a village or grid code")


def sequence_of(code: str) -> int:
    """Sequence number of a grid or sub-grid code within its parent."""
    parts = parse_code(code)
    if parts.level == "grid":
        return int(parts.grid_seq)  # type: ignore[arg-type]
    if parts.level == "subgrid":
        return int(parts.subgrid_seq)  # type: ignore[arg-type]
    raise GridCodeError(f"{parts.level} code {code!r} has no sequence number")


def parent_code(code: str) -> str | None:
    """The code one level up: sub-grid → grid → village → township → county → ``None``.

    Division codes keep 12 digits (a township is ``ttttttttt000``).

    Examples
    --------
    >>> parent_code("32050801904400312")
    '320508019044003'
    >>> parent_code("320508019044")
    '320508019000'
    >>> parent_code("320508000000") is None
    True
    """
    parts = parse_code(code)
    return {
        "subgrid": lambda: code[:GRID_LEN],
        "grid": lambda: code[:DIVISION_LEN],
        "village": lambda: code[:9] + "000",
        "township": lambda: code[:6] + "000000",
        "county": lambda: None,
    }[parts.level]()


def is_ancestor(ancestor: str, code: str) -> bool:
    """True when ``ancestor`` is a strict ancestor of ``code`` (by prefix and level).

    Examples
    --------
    >>> is_ancestor("320508019000", "320508019044003")
    True
    >>> is_ancestor("320508019044", "320508019045001")
    False
    """
    up = parent_code(code)
    while up is not None:
        if up == ancestor:
            return True
        up = parent_code(up)
    return False


# --------------------------------------------------------------------------- numbering


def spatial_order(geoms: gpd.GeoSeries, *, band_height_m: float | None = None) -> np.ndarray:
    """Indices of ``geoms`` ordered north→south in row bands, west→east within a band.

    Each geometry's representative point (``point_on_surface``) is taken in a local
    metric CRS.  Rows are bands of height ``band_height_m`` counted down from the
    northernmost point (default: the square root of the median area, i.e. one typical
    grid); inside a band points go west→east; ties fall back to north first, then input
    order.  The result does not depend on input order except through exact ties.
    """
    if len(geoms) == 0:
        return np.empty(0, dtype=np.int64)
    gs = geoms if geoms.crs is not None else geoms.set_crs(WGS84)
    metric = gs if gs.crs.is_projected else gs.to_crs(metric_crs_for(gs.to_crs(WGS84)))
    pts = shapely.point_on_surface(np.asarray(metric.values))
    xy = shapely.get_coordinates(pts)
    if band_height_m is None:
        band_height_m = float(np.sqrt(np.median(shapely.area(np.asarray(metric.values))))) or 1.0
    band = np.floor((xy[:, 1].max() - xy[:, 1]) / band_height_m + 1e-9)
    return np.lexsort((np.arange(len(xy)), -xy[:, 1], xy[:, 0], band))


def number_grids(
    grids: gpd.GeoDataFrame,
    division_code: str,
    *,
    start: int = 1,
    band_height_m: float | None = None,
) -> gpd.GeoDataFrame:
    """Give each grid a code under ``division_code``, numbered west→east, north→south.

    Ordering is :func:`spatial_order` (row bands one typical grid high, north first;
    west→east within a band).  A 12-digit village code gives 15-digit grid codes; a
    15-digit grid code gives 17-digit sub-grid codes.

    Returns
    -------
    GeoDataFrame
        A copy with ``code`` and ``division_code`` set, rows in code order.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(100, 0, 200, 100), box(0, 0, 100, 100), box(0, 100, 200, 200)],
    ...                      crs="EPSG:32651")
    >>> number_grids(g, "320508019044").code.tolist()
    ['320508019044001', '320508019044002', '320508019044003']
    >>> number_grids(g, "320508019044").geometry.bounds.minx.tolist()
    [0.0, 0.0, 100.0]
    """
    order = spatial_order(grids.geometry, band_height_m=band_height_m)
    limit = 999 if parse_code(division_code).level == "village" else 99
    if start + len(grids) - 1 > limit:
        raise GridCodeError(f"{len(grids)} grids do not fit in sequences {start}..{limit} of {division_code}")
    out = grids.iloc[order].copy()
    out["code"] = [child_code(division_code, start + i) for i in range(len(out))]
    out["division_code"] = division_code[:DIVISION_LEN]
    return out


@dataclass
class RecodeResult:
    """Outcome of :func:`recode`.

    ``grids`` carries the new codes; ``kept`` maps each kept code to the IoU it was matched
    with; ``assigned`` lists codes given to new or changed grids; ``retired`` lists the
    previous codes no longer used (never to be reused).
    """

    grids: gpd.GeoDataFrame
    kept: dict[str, float] = field(default_factory=dict)
    assigned: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def recode(
    new: gpd.GeoDataFrame,
    previous: gpd.GeoDataFrame,
    *,
    retired: Iterable[str] = (),
    min_overlap: float = 0.8,
    division_code: str | None = None,
) -> RecodeResult:
    """Code a re-drawn plan, keeping the code of every essentially unchanged grid.

    A new grid keeps the code of the previous grid it matches with intersection over
    union ≥ ``min_overlap`` (one-to-one, best matches first).  Other new grids get
    sequence numbers never used before in their division: not used by any previous
    grid, nor listed in ``retired``; they are handed out west→east, north→south.
    Previous codes that were not kept are returned as newly retired.

    Parameters
    ----------
    new : GeoDataFrame
        The re-drawn grids; their division is ``division_code`` or their
        ``division_code`` column.
    previous : GeoDataFrame
        The current plan with ``code``.
    retired : iterable of str
        Codes retired earlier (never reused).
    min_overlap : float
        IoU threshold for "essentially unchanged".

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> crs = "EPSG:32651"
    >>> prev = gpd.GeoDataFrame({"code": ["320508019044001", "320508019044002"]},
    ...                         geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=crs)
    >>> new = gpd.GeoDataFrame({"division_code": "320508019044"}, index=[0, 1, 2],
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 150, 100), box(150, 0, 200, 100)], crs=crs)
    >>> r = recode(new, prev, retired=["320508019044003"])
    >>> r.grids.code.tolist(), r.retired
    (['320508019044001', '320508019044004', '320508019044005'], ['320508019044002'])
    """
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    retired = [check_code(c) for c in retired]
    prev_codes = [check_code(c) for c in previous["code"].astype(str)]
    if len(set(prev_codes)) != len(prev_codes):
        dup = sorted({c for c in prev_codes if prev_codes.count(c) > 1})
        raise GridCodeError(f"previous plan has duplicate codes: {dup}")
    out = new.copy()
    if division_code is not None:
        out["division_code"] = division_code
    if "division_code" not in out.columns or out["division_code"].isna().any():
        raise GridCodeError("every new grid needs a division_code (column or argument)")
    for d in out["division_code"].unique():
        check_code(str(d))

    crs = new.crs or previous.crs
    metric = metric_crs_for(gpd.GeoSeries(new.geometry.values, crs=crs).to_crs(WGS84))
    ng = np.asarray(gpd.GeoSeries(new.geometry.values, crs=crs).to_crs(metric).values)
    pg = np.asarray(gpd.GeoSeries(previous.geometry.values, crs=previous.crs or crs).to_crs(metric).values)
    ni, pi = shapely.STRtree(pg).query(ng, predicate="intersects")
    inter = shapely.area(shapely.intersection(ng[ni], pg[pi]))
    union = shapely.area(ng[ni]) + shapely.area(pg[pi]) - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    codes: list[str | None] = [None] * len(out)
    kept: dict[str, float] = {}
    used_new: set[int] = set()
    new_div = out["division_code"].astype(str).tolist()
    for j in np.argsort(-iou, kind="stable"):
        if iou[j] < min_overlap:
            break
        a, b = int(ni[j]), int(pi[j])
        code = prev_codes[b]
        if a in used_new or code in kept or code[:DIVISION_LEN] != new_div[a][:DIVISION_LEN]:
            continue
        codes[a] = code
        kept[code] = float(iou[j])
        used_new.add(a)

    taken: dict[str, set[int]] = {}
    for c in [*prev_codes, *retired]:
        taken.setdefault(parent_code(c), set()).add(sequence_of(c))  # type: ignore[arg-type]
    assigned: list[str] = []
    order = spatial_order(gpd.GeoSeries(ng, crs=metric))
    for i in order.tolist():
        if codes[i] is not None:
            continue
        div = new_div[i]
        used = taken.setdefault(div, set())
        limit = 999 if parse_code(div).level == "village" else 99
        seq = next((s for s in range(1, limit + 1) if s not in used), None)
        if seq is None:
            raise GridCodeError(f"division {div} has no unused sequence number left (1..{limit})")
        used.add(seq)
        code = child_code(div, seq)
        codes[i] = code
        assigned.append(code)
    out["code"] = codes
    newly_retired = [c for c in prev_codes if c not in kept]
    return RecodeResult(grids=out, kept=kept, assigned=assigned, retired=newly_retired)
