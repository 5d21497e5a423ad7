"""Seeded synthetic department layers (部门网格) over a set of base grids, for tests and the demo.

Two kinds, as counties meet them before merging their grids ("多网合一"):

- :func:`nearly_aligned_layer`: a department that drew its grids along the base grids (several
  whole base grids each) on another map: every vertex is off by up to ``shift_m`` metres, so the
  boundaries wobble across the base grids' streets without really cutting them;
- :func:`cutting_layer`: a department that drew its own cells with no regard to the base grids
  (Voronoi cells of random seeds over the area), cutting through them.

Codes are the department's own (``ZZ-001``), never base grid codes; every grid names the unit
(``unit_code``/``unit_name``) that works in it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from geogrid.codes import spatial_order
from geogrid.crs import planar_crs_for
from geogrid.frames import WGS84
from geogrid.layers import _adjacency

__all__ = ["cutting_layer", "nearly_aligned_layer", "warp"]

_UNIT_DIGITS = "一二三四五六七八九十"


def _unit_name(department_name: str, k: int) -> str:
    digit = _UNIT_DIGITS[k] if k < len(_UNIT_DIGITS) else str(k + 1)
    return f"{department_name}第{digit}工作站"


def _named(geoms: list, *, prefix: str, department_name: str, per_unit: int, crs=WGS84) -> gpd.GeoDataFrame:
    n = len(geoms)
    units = [i // max(1, per_unit) for i in range(n)]
    return gpd.GeoDataFrame(
        {
            "code": [f"{prefix}-{i + 1:03d}" for i in range(n)],
            "name": [f"{department_name}第{i + 1}网格" for i in range(n)],
            "unit_code": [f"{prefix}-U{u + 1:02d}" for u in units],
            "unit_name": [_unit_name(department_name, u) for u in units],
        },
        geometry=geoms,
        crs=crs,
    )


def warp(geoms, *, shift_m: float, wavelength_m: float = 400.0, crs=None) -> np.ndarray:
    """Move every vertex by a smooth shift of at most ``shift_m`` metres (shared edges stay shared).

    Edges are first cut into pieces of ``wavelength_m / 20`` so that they bend.  ``crs`` is the
    metric CRS the shift is applied in (default: planar around the geometries).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> g = gpd.GeoSeries([box(120.60, 31.30, 120.61, 31.31)], crs="EPSG:4326")
    >>> moved = warp(g, shift_m=2.0)
    >>> 0 < g.to_crs(3857).iloc[0].symmetric_difference(gpd.GeoSeries(moved, crs=4326).to_crs(3857).iloc[0]).area
    True
    """
    series = geoms if isinstance(geoms, gpd.GeoSeries) else gpd.GeoSeries(list(geoms), crs=WGS84)
    crs = crs or planar_crs_for(series)
    metric = shapely.segmentize(np.asarray(series.to_crs(crs).values), wavelength_m / 20)
    k = 2 * np.pi / wavelength_m

    def shift(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack((x + shift_m * np.sin(k * y), y + shift_m * np.sin(k * x + 1.0)))

    moved = shapely.make_valid(shapely.transform(metric, shift))
    return np.asarray(gpd.GeoSeries(moved, crs=crs).to_crs(WGS84).values)


def _groups(
    metric: np.ndarray, base: gpd.GeoDataFrame, size: int, rng: np.random.Generator, crs
) -> np.ndarray:
    """Contiguous groups of up to ``size`` base grids of one village, grown breadth-first from
    the north-west; ties among neighbours broken by ``rng``."""
    adj = _adjacency(metric).tolil()
    village = base["division_code"].astype(str).to_numpy() if "division_code" in base else np.zeros(len(base))
    start_order = spatial_order(gpd.GeoSeries(metric, crs=crs))
    group = np.full(len(base), -1)
    next_group = 0
    for start in start_order:
        if group[start] >= 0:
            continue
        members, frontier = [int(start)], [int(start)]
        group[start] = next_group
        while frontier and len(members) < size:
            b = frontier.pop(0)
            for n in rng.permutation(adj.rows[b]):
                if len(members) < size and group[n] < 0 and village[n] == village[start]:
                    group[n] = next_group
                    members.append(int(n))
                    frontier.append(int(n))
        next_group += 1
    return group


def nearly_aligned_layer(
    base: gpd.GeoDataFrame,
    *,
    per_grid: int = 3,
    shift_m: float = 2.0,
    prefix: str = "CG",
    department_name: str = "城管",
    per_unit: int = 5,
    seed: int = 0,
) -> gpd.GeoDataFrame:
    """Department grids of about ``per_grid`` neighbouring whole base grids each, then warped.

    Base grids are grouped breadth-first from the north-west over their adjacency (a group never
    crosses a village: a department's grid is drawn within one village here), dissolved and
    shifted by up to ``shift_m`` metres.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> base = gpd.GeoDataFrame({"code": [f"32050800100100{i}" for i in range(1, 5)],
    ...     "division_code": ["320508001001"] * 4},
    ...     geometry=[box(120.60 + 0.002 * i, 31.30, 120.602 + 0.002 * i, 31.302) for i in range(4)], crs=4326)
    >>> layer = nearly_aligned_layer(base, per_grid=2)
    >>> layer.code.tolist(), layer.unit_name.iloc[0]
    (['CG-001', 'CG-002'], '城管第一工作站')
    """
    base = base.to_crs(WGS84).reset_index(drop=True)
    crs = planar_crs_for(base)
    metric = np.asarray(base.geometry.to_crs(crs).values)
    group = _groups(metric, base, per_grid, np.random.default_rng(seed), crs)
    next_group = int(group.max()) + 1
    geoms = [shapely.union_all(np.asarray(base.geometry.values)[group == g]) for g in range(next_group)]
    order = np.lexsort((shapely.get_x(shapely.centroid(geoms)), -shapely.get_y(shapely.centroid(geoms))))
    warped = warp(gpd.GeoSeries([geoms[i] for i in order], crs=WGS84), shift_m=shift_m, crs=crs)
    return _named(list(warped), prefix=prefix, department_name=department_name, per_unit=per_unit)


def cutting_layer(
    area,
    *,
    n: int,
    seed: int = 0,
    prefix: str = "ZZ",
    department_name: str = "综治",
    per_unit: int = 5,
) -> gpd.GeoDataFrame:
    """``n`` Voronoi cells of seeded random points over ``area`` (EPSG:4326), clipped to it.

    Seamless, no overlaps, and with no regard to any base grid: it cuts through them.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> layer = cutting_layer(box(120.60, 31.30, 120.62, 31.32), n=4, seed=1)
    >>> whole = gpd.GeoSeries([box(120.60, 31.30, 120.62, 31.32)], crs=4326).to_crs(3857).area.iloc[0]
    >>> len(layer), float(round(layer.to_crs(3857).area.sum() / whole, 6))
    (4, 1.0)
    """
    area_series = gpd.GeoSeries([area], crs=WGS84)
    crs = planar_crs_for(area_series)
    area_m = area_series.to_crs(crs).iloc[0]
    rng = np.random.default_rng(seed)
    west, south, east, north = area_m.bounds
    points: list = []
    while len(points) < n:
        p = shapely.Point(rng.uniform(west, east), rng.uniform(south, north))
        if area_m.contains(p):
            points.append(p)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.MultiPoint(points), extend_to=area_m))
    clipped = [shapely.intersection(c, area_m) for c in cells]
    clipped = [c for c in clipped if not c.is_empty]
    cents = shapely.centroid(clipped)
    order = np.lexsort((shapely.get_x(cents), -shapely.get_y(cents)))
    geoms = gpd.GeoSeries([clipped[i] for i in order], crs=crs).to_crs(WGS84)
    return _named(list(geoms.values), prefix=prefix, department_name=department_name, per_unit=per_unit)
