"""Checking the addresses given to a partition: every row inside the area, or an error naming it.

An address 100 km away, one whose longitude and latitude were swapped, or one with no
position cannot belong to a grid of the village.  Silently leaving it out changes the
household count the grids are built for, so :func:`check_addresses` names such rows (1-based
positions in the address frame, i.e. data rows of the file it was read from) and why; with
``drop_outside=True`` addresses outside the area are reported and left out instead.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from geogrid.blocks import to_crs_array, working_crs
from geogrid.errors import ImportRowsError, RowError
from geogrid.frames import WGS84

__all__ = ["check_addresses"]


def _swapped(points: np.ndarray) -> np.ndarray:
    return shapely.transform(points, lambda c: c[:, ::-1])


def check_addresses(
    area, addresses: gpd.GeoDataFrame | None, *, drop_outside: bool = False, source: str = "addresses"
) -> list[RowError]:
    """Raise :class:`ImportRowsError` for addresses that cannot be partitioned; return the dropped ones.

    Errors (always): missing or empty geometry.  Errors unless ``drop_outside``: a point
    outside the area, with a hint when its swapped coordinates fall inside.  Rows are 1-based
    positions in ``addresses``.

    Returns
    -------
    list of RowError
        The addresses outside the area that ``drop_outside=True`` lets the partition leave out.

    Examples
    --------
    >>> from shapely.geometry import Point, box
    >>> area = gpd.GeoSeries([box(120.60, 31.30, 120.62, 31.32)], crs="EPSG:4326")
    >>> pts = gpd.GeoDataFrame(geometry=[Point(120.61, 31.31), Point(31.31, 120.61), Point(121.5, 31.3)],
    ...                        crs="EPSG:4326")
    >>> try:
    ...     check_addresses(area, pts)
    ... except ImportRowsError as exc:
    ...     print([(e.row, e.reason[:40]) for e in exc.errors])
    [(2, 'outside the area; x and y look swapped ('), (3, 'outside the area (121.5, 31.3)')]
    >>> [e.row for e in check_addresses(area, pts, drop_outside=True)]
    [2, 3]
    """
    if addresses is None or len(addresses) == 0:
        return []
    area_m, crs = working_crs(area)
    src = addresses.geometry
    src_crs = CRS.from_user_input(src.crs or WGS84)
    geoms = np.asarray(src.values, dtype=object)
    errors: list[RowError] = []
    absent = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for pos in np.flatnonzero(absent).tolist():
        errors.append(RowError(pos + 1, "geometry", "no position (missing or empty geometry)"))
    live = np.flatnonzero(~absent)
    metric = to_crs_array(gpd.GeoSeries(geoms[live], crs=src_crs), crs)
    outside = live[~shapely.intersects(area_m, metric)]
    if len(outside):
        flipped = to_crs_array(gpd.GeoSeries(_swapped(geoms[outside]), crs=src_crs), crs)
        swapped_inside = shapely.intersects(area_m, flipped)
    else:
        swapped_inside = np.zeros(0, dtype=bool)
    dropped: list[RowError] = []
    for pos, swapped in zip(outside.tolist(), swapped_inside.tolist(), strict=True):
        x, y = shapely.get_coordinates(geoms[pos])[0]
        reason = f"outside the area ({x:.6g}, {y:.6g})"
        if swapped:
            reason = (
                f"outside the area; x and y look swapped ({x:.6g}, {y:.6g} is inside as {y:.6g}, {x:.6g})"
            )
        row = RowError(pos + 1, "geometry", reason)
        (dropped if drop_outside else errors).append(row)
    if errors:
        hint = "" if drop_outside else "; --drop-outside (drop_outside=True) leaves outside addresses out"
        raise ImportRowsError(source, sorted(errors, key=lambda e: e.row), what=f"nothing partitioned{hint}")
    return dropped
