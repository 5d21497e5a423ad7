"""H3 heatmaps of incidents.

Each incident stores its H3 cell at one fine resolution (:data:`STORED_RES`, res 12: cells of
~300 m², edge ~10 m) as a signed 64-bit integer when it is created.  A heatmap at any coarser
resolution needs no geometry at all: the parent of an H3 index is the same index with the
resolution field rewritten and the finer digits set to 7 (``0b111``), which is a couple of
integer bit operations, in numpy (:func:`parent_cells`) or in SQL (:func:`parent_sql`).

H3 index layout (64 bits, most significant first)::

    1 reserved (0) | 4 mode (1 = cell) | 3 reserved | 4 resolution (bits 52-55)
    | 7 base cell | 15 digits x 3 bits (digit r at bits 3*(15-r) .. 3*(15-r)+2)

Bit 63 is always 0, so a cell fits a signed ``int64`` / PostgreSQL ``bigint`` unchanged.

In JSON, cells are written as H3 strings (hex, e.g. ``"8830981a3bfffff"``): JavaScript numbers
cannot hold 64-bit integers exactly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from geogrid.coords import BBox, check_bbox, check_lnglat
from geogrid.errors import InvalidCellError

STORED_RES = 12
"""Resolution at which incidents store their cell."""

_RES_SHIFT = 52
_RES_MASK = np.int64(0xF << _RES_SHIFT)
_MODE_SHIFT = 59
_CELL_MODE = 1
_SQL_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def _check_res(res: int) -> int:
    if isinstance(res, bool) or not isinstance(res, int | np.integer) or not 0 <= int(res) <= 15:
        raise InvalidCellError(f"H3 resolution must be an integer in 0..15, got {res!r}")
    return int(res)


def _parent_bits(res: int) -> tuple[int, int]:
    """(clear mask, set bits) such that ``parent = (cell & clear) | set`` for cells finer than ``res``."""
    unused_digits = (1 << (3 * (15 - res))) - 1  # digits res+1..15 all 0b111
    clear = ~((0xF << _RES_SHIFT) | unused_digits)  # a negative Python int: two's complement
    return clear, (res << _RES_SHIFT) | unused_digits


def cells_for_points(lon: Any, lat: Any, *, res: int = STORED_RES) -> np.ndarray:
    """H3 cells (``int64``) of WGS-84 points.

    h3 has no vectorised point indexer, so this maps the C function over the arrays without
    creating Python strings (~0.55 s per million points on one core).

    Parameters
    ----------
    lon, lat : array-like
        WGS-84 degrees (convert GCJ-02/BD-09 first with :func:`geogrid.coords.to_wgs84`).
    res : int, default 12
        H3 resolution.

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    InvalidGeometryError
        For non-finite, out-of-range or apparently swapped coordinates.

    Examples
    --------
    >>> import h3
    >>> c = cells_for_points([120.6], [31.3], res=9)
    >>> c.dtype, h3.int_to_str(int(c[0])) == h3.latlng_to_cell(31.3, 120.6, 9)
    (dtype('int64'), True)
    """
    from h3.api import basic_int

    res = _check_res(res)
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
    check_lnglat(lon_a, lat_a)
    # .tolist() hands the C function Python floats, the fastest argument type it takes.
    cells = np.fromiter(
        map(basic_int.latlng_to_cell, lat_a.tolist(), lon_a.tolist(), repeat(res)),
        dtype=np.uint64,
        count=lat_a.size,
    )
    return cells.view(np.int64)


def _as_cells(cells: Any) -> np.ndarray:
    arr = np.asarray(cells)
    if arr.dtype.kind == "U" or (arr.dtype.kind == "O" and arr.size and isinstance(arr.flat[0], str)):
        import h3

        arr = np.array([h3.str_to_int(c) for c in arr.ravel()], dtype=np.uint64).reshape(arr.shape)
    if arr.dtype.kind not in "iu":
        raise InvalidCellError(f"H3 cells must be integers (int64) or H3 strings, got dtype {arr.dtype}")
    return arr.astype(np.uint64, copy=False).view(np.int64) if arr.dtype.kind == "u" else arr.astype(np.int64)


def cell_resolutions(cells: Any) -> np.ndarray:
    """Resolution of each H3 cell, read from bits 52–55 (vectorised).

    Examples
    --------
    >>> cell_resolutions(cells_for_points([120.6, 121.0], [31.3, 31.0], res=7)).tolist()
    [7, 7]
    """
    arr = _as_cells(cells)
    return ((arr & _RES_MASK) >> _RES_SHIFT).astype(np.int8)


def parent_cells(cells: Any, res: int) -> np.ndarray:
    """Parents at ``res`` of H3 cells, with numpy bit operations (no Python loop).

    Parameters
    ----------
    cells : array-like of int64 (or H3 strings)
        Cells at resolution ``res`` or finer (e.g. the stored res-12 cells).
    res : int
        Target resolution, 0..15.

    Returns
    -------
    numpy.ndarray of int64
        Same shape as ``cells``; equal to ``h3.cell_to_parent(cell, res)`` for each.

    Raises
    ------
    InvalidCellError
        When a value is not an H3 cell index, or is coarser than ``res``.

    Examples
    --------
    >>> import h3
    >>> c = cells_for_points([120.6], [31.3], res=12)
    >>> int(parent_cells(c, 8)[0]) == h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c[0])), 8))
    True
    """
    res = _check_res(res)
    arr = _as_cells(cells)
    if arr.size:
        mode = (arr >> _MODE_SHIFT) & 0xF
        bad = (arr < 0) | (mode != _CELL_MODE)
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise InvalidCellError(
                f"value {int(arr.ravel()[i])} at index {i} is not an H3 cell index ({int(bad.sum())} bad)"
            )
        have = (arr & _RES_MASK) >> _RES_SHIFT
        coarse = have < res
        if coarse.any():
            i = int(np.flatnonzero(coarse.ravel())[0])
            raise InvalidCellError(
                f"cell at index {i} has resolution {int(have.ravel()[i])}, coarser than the requested {res}"
            )
    clear, set_bits = _parent_bits(res)
    return (arr & np.int64(clear)) | np.int64(set_bits)


def parent_sql(column: str, res: int) -> str:
    """A PostgreSQL ``bigint`` expression for the parent at ``res`` of an H3 cell column.

    Same arithmetic as :func:`parent_cells`, so PostGIS can aggregate incidents without the
    h3 extension: ``SELECT {expr} AS cell, count(*) FROM incident WHERE ... GROUP BY 1``.
    The column must hold cells at ``res`` or finer (rows of coarser cells give wrong parents;
    stored cells are :data:`STORED_RES`).  ``lower(to_hex(expr))`` gives the H3 string.

    Parameters
    ----------
    column : str
        Column name, optionally qualified (``"h3_cell"`` or ``"i.h3_cell"``); it is validated
        and double-quoted, so it cannot inject SQL.
    res : int
        Target resolution, 0..15 (an int; it is written into the SQL as a literal).

    Examples
    --------
    >>> parent_sql("i.h3_cell", 15)
    '(("i"."h3_cell" & -67553994410557441::bigint) | 67553994410557440::bigint)'
    """
    res = _check_res(res)
    if not isinstance(column, str) or not _SQL_IDENT.match(column):
        raise InvalidCellError(
            f"column must be a plain (optionally table-qualified) identifier, got {column!r}"
        )
    quoted = ".".join(f'"{part}"' for part in column.split("."))
    clear, set_bits = _parent_bits(res)
    return f"(({quoted} & {clear}::bigint) | {set_bits}::bigint)"


def aggregate(cells: Any, *, res: int, weights: Any = None) -> pd.DataFrame:
    """Count (or sum weights of) incidents per H3 cell at ``res``.

    Parameters
    ----------
    cells : array-like of int64
        Stored cells (resolution ``res`` or finer).
    res : int
        Resolution of the heatmap.
    weights : array-like, optional
        One weight per cell; ``count`` is then the sum of weights (float).

    Returns
    -------
    pandas.DataFrame
        Columns ``cell`` (int64, ascending) and ``count`` (int64, or float64 with weights);
        ``df.attrs["res"]`` is ``res``.  ~0.1 s per million cells.

    Examples
    --------
    >>> c = cells_for_points([120.6, 120.6001, 121.5], [31.3, 31.3001, 31.2], res=12)
    >>> aggregate(c, res=7)["count"].tolist()
    [2, 1]
    """
    parents = parent_cells(cells, res).ravel()
    uniq, inverse = np.unique(parents, return_inverse=True)
    if weights is None:
        counts = np.bincount(inverse, minlength=uniq.size).astype(np.int64)
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.shape != parents.shape:
            raise InvalidCellError(f"weights has {w.size} values for {parents.size} cells")
        counts = np.bincount(inverse, weights=w, minlength=uniq.size)
    df = pd.DataFrame({"cell": uniq.astype(np.int64), "count": counts})
    df.attrs["res"] = res
    return df


def cell_to_str(cells: Any) -> list[str]:
    """H3 strings (``"8830981a3bfffff"``) of int64 cells, for JSON and h3 string APIs.

    Examples
    --------
    >>> cell_to_str(parent_cells(cells_for_points([120.6], [31.3]), 8))
    ['8830981801fffff']
    """
    return [format(int(c), "x") for c in _as_cells(cells).ravel()]


@lru_cache(maxsize=200_000)
def _ring_lnglat(cell: int) -> tuple[tuple[float, float], ...]:
    """The closed lon/lat ring of a cell, counter-clockwise (RFC 7946).

    Cached: a cell's boundary never changes, and dashboards ask for the same city's cells over
    and over, so a repeated heatmap skips the h3 call and the orientation check (~6 µs a cell).
    Tuples, so no caller can alter the cached ring through a returned feature.
    """
    from h3.api import basic_int

    ring = [(lng, lat) for lat, lng in basic_int.cell_to_boundary(cell)]
    # RFC 7946: exterior rings counter-clockwise (shoelace area > 0 with x = lon).
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True))
    if area2 < 0:
        ring.reverse()
    ring.append(ring[0])
    return tuple(ring)


def _json_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def cells_to_geojson(df: pd.DataFrame, *, cell_column: str = "cell") -> dict:
    """A GeoJSON FeatureCollection of the cells' hexagons (RFC 7946 lon/lat order).

    Every other column becomes a property (``count`` among them); the cell is written as its
    H3 string in ``properties["cell"]`` and as the feature ``id``.

    Examples
    --------
    >>> fc = cells_to_geojson(aggregate(cells_for_points([120.6], [31.3]), res=8))
    >>> f = fc["features"][0]
    >>> f["properties"], len(f["geometry"]["coordinates"][0])
    ({'cell': '8830981801fffff', 'count': 1}, 7)
    >>> 120 < f["geometry"]["coordinates"][0][0][0] < 121   # longitude first
    True
    """
    if cell_column not in df.columns:
        raise InvalidCellError(f"frame has no {cell_column!r} column (columns: {list(df.columns)})")
    cells = _as_cells(df[cell_column].to_numpy())
    other = [c for c in df.columns if c != cell_column]
    columns = {c: df[c].tolist() for c in other}
    features = []
    for i, cell in enumerate(cells.tolist()):
        key = format(cell, "x")
        props = {"cell": key}
        props.update({c: _json_value(columns[c][i]) for c in other})
        features.append(
            {
                "type": "Feature",
                "id": key,
                "properties": props,
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [_ring_lnglat(cell)],
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def bbox_cells(
    bbox: BBox | tuple[float, float, float, float], *, res: int, contain: str = "overlap"
) -> np.ndarray:
    """H3 cells (int64, sorted) covering a lon/lat bbox at ``res``.

    Parameters
    ----------
    bbox : BBox or (west, south, east, north)
    res : int
    contain : {"center", "overlap", "full", "bbox_overlap"}, default "overlap"
        Containment rule of ``h3.h3shape_to_cells_experimental``: ``"overlap"`` returns every
        cell touching the box (no gap at the box's edge), ``"center"`` cells whose centre is in it.

    Examples
    --------
    >>> cells = bbox_cells((120.5, 31.2, 120.7, 31.4), res=7)
    >>> bool((cell_resolutions(cells) == 7).all()), len(cells) > 10
    (True, True)
    """
    import h3
    from h3.api import basic_int

    b = check_bbox(bbox)
    res = _check_res(res)
    if contain not in ("center", "overlap", "full", "bbox_overlap"):
        raise InvalidCellError(f"contain must be center, overlap, full or bbox_overlap, got {contain!r}")
    poly = h3.LatLngPoly([(b.south, b.west), (b.south, b.east), (b.north, b.east), (b.north, b.west)])
    cells = basic_int.h3shape_to_cells_experimental(poly, res, contain)
    return np.sort(np.asarray(cells, dtype=np.uint64).view(np.int64))


@dataclass(frozen=True)
class CellRanges:
    """A bbox as ranges of :data:`STORED_RES` cells: what :func:`bbox_cell_ranges` returns.

    ``lo[k] <= cell <= hi[k]`` (int64, sorted, disjoint) holds for every stored cell that
    descends from the k-th covering cell; ``inside[k]`` says that all of those cells lie inside
    the bbox, so their points need no coordinate test.  ``res`` is the covering resolution.
    """

    lo: np.ndarray
    hi: np.ndarray
    inside: np.ndarray
    res: int


# Descendants of an H3 cell stick out of its hexagon by at most ~0.15 of its edge length
# (measured at res 5-9 down to res 12: the 7 children of a hexagon do not tile it exactly).
# One full edge of margin keeps that safe wherever H3 cells are up to ~6x the average size.
_OVERHANG_EDGES = 1.0
_METRES_PER_DEGREE = 111_320.0


def _digits_below(res: int) -> int:
    return (1 << (3 * (15 - res))) - 1


def bbox_cell_ranges(
    bbox: BBox | tuple[float, float, float, float], *, max_cells: int = 2500
) -> CellRanges | None:
    """The stored (res-12) cells whose points can fall inside ``bbox``, as integer ranges.

    H3 indexes sort hierarchically: all res-12 descendants of a cell are one contiguous range of
    int64 values, so a btree on the stored cell answers "incidents in this bbox" with a few
    hundred range scans over a space-filling order, instead of a GiST lookup followed by random
    heap reads.  The covering cells are the ones that overlap the bbox grown by a margin larger
    than any descendant's overhang, so no point inside the bbox is missed; cells that lie, with
    the same margin, inside the shrunk bbox are flagged ``inside``.  Points in the other
    ("edge") ranges must still be tested against the bbox: the ranges are a superset.

    Parameters
    ----------
    bbox : BBox or (west, south, east, north)
    max_cells : int, default 2500
        The covering resolution is the finest (at most 12) whose cover has about this many
        cells or fewer before compaction: enough to make edge ranges thin, few enough that
        computing them stays a few milliseconds.

    Returns
    -------
    CellRanges or None
        None when the grown box would cross the antimeridian or reach beyond ±80° latitude,
        where a lon/lat box is not a good cell cover; use a plain spatial filter there.

    Examples
    --------
    >>> r = bbox_cell_ranges((120.55, 31.20, 120.76, 31.38))
    >>> c = cells_for_points([120.6], [31.3])
    >>> bool(((r.lo <= c[0]) & (c[0] <= r.hi)).any()), bool(r.inside.any()), r.res
    (True, True, 8)
    """
    return _cell_ranges(check_bbox(bbox), max_cells)


# Dashboards ask for the same views again and again: computing a view's ranges (two H3 polyfills)
# costs more than a third of a county heatmap's request; the cached arrays are read-only.
@lru_cache(maxsize=256)
def _cell_ranges(b: BBox, max_cells: int) -> CellRanges | None:
    import h3
    from h3.api import basic_int

    mid_lat = math.radians((b.south + b.north) / 2)
    area_km2 = (b.east - b.west) * math.cos(mid_lat) * (b.north - b.south) * (_METRES_PER_DEGREE / 1000) ** 2
    res = 0
    while res < STORED_RES and area_km2 / h3.average_hexagon_area(res + 1, "km^2") <= max_cells:
        res += 1
    margin_m = _OVERHANG_EDGES * h3.average_hexagon_edge_length(res, "m")
    dlat = margin_m / _METRES_PER_DEGREE
    grown_south, grown_north = b.south - dlat, b.north + dlat
    if grown_south < -80.0 or grown_north > 80.0:
        return None
    # Degrees of longitude shrink towards the poles: size the margin at the box's widest latitude.
    dlon = margin_m / (_METRES_PER_DEGREE * math.cos(math.radians(max(abs(grown_south), abs(grown_north)))))
    grown = (b.west - dlon, grown_south, b.east + dlon, grown_north)
    if grown[0] < -180.0 or grown[2] > 180.0:
        return None
    cover = bbox_cells(grown, res=res)
    inner = (b.west + dlon, b.south + dlat, b.east - dlon, b.north - dlat)
    if inner[0] < inner[2] and inner[1] < inner[3]:
        inside = np.isin(cover, bbox_cells(inner, res=res, contain="full"))
    else:
        inside = np.zeros(cover.size, dtype=bool)
    # Compact the two kinds apart: a compacted parent's own overhang is larger than the margin,
    # so only cells of the covering resolution may be judged inside.
    parts = [
        (np.asarray(basic_int.compact_cells(cover[flag].tolist()), dtype=np.uint64).view(np.int64), flag)
        for flag in (inside, ~inside)
    ]
    cells = np.concatenate([c for c, _ in parts])
    flags = np.concatenate([np.full(c.size, k == 0) for k, (c, _) in enumerate(parts)])
    res_of = cell_resolutions(cells).astype(np.int64)
    below = np.array([_digits_below(r) for r in range(16)], dtype=np.int64)[res_of]
    # lo: the cell's prefix at res 12 with its finer digits 0 (digits 13-15, unused at res 12: 7);
    # hi: the same with its finer digits down to res 12 all 7.
    lo = (cells & ~(_RES_MASK | below)) | np.int64((STORED_RES << _RES_SHIFT) | _digits_below(STORED_RES))
    hi = lo | (below & ~np.int64(_digits_below(STORED_RES)))
    # Sorted by lo, not by cell: a cell's own resolution field would sort coarse cells first.
    order = np.argsort(lo)
    lo, hi, flags = lo[order], hi[order], flags[order]
    # Merge neighbours of the same kind (hi + 512 is the next res-12 index after hi): fewer
    # ranges, fewer index descents.
    start = np.ones(lo.size, dtype=bool)
    start[1:] = (lo[1:] != hi[:-1] + 512) | (flags[1:] != flags[:-1])
    first = np.flatnonzero(start)
    last = np.r_[first[1:] - 1, lo.size - 1]
    arrays = lo[first], hi[last], flags[first]
    for array in arrays:
        array.setflags(write=False)
    return CellRanges(*arrays, res=res)
