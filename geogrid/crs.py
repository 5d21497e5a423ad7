"""Choosing a local metric CRS for lengths, areas and partitioning."""

from __future__ import annotations

import math

from pyproj import CRS

# WGS 84 ellipsoid: the radii of curvature below fix the local scale of the planar CRS.
_WGS84_A = 6378137.0
_WGS84_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)


def local_metric_crs(lon: float, lat: float) -> CRS:
    """A transverse Mercator CRS centred on ``(lon, lat)``: metres, negligible distortion locally.

    Examples
    --------
    >>> local_metric_crs(120.6, 31.3).axis_info[0].unit_name
    'metre'
    """
    return CRS.from_proj4(
        f"+proj=tmerc +lat_0={lat:.6f} +lon_0={lon:.6f} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    )


def metric_crs_for(gdf_or_geom) -> CRS:
    """Local metric CRS centred on the bounds of a lon/lat frame or geometry."""
    west, south, east, north = _bounds(gdf_or_geom)
    return local_metric_crs((west + east) / 2, (south + north) / 2)


def local_planar_crs(lon: float, lat: float) -> CRS:
    """A metric CRS that is an affine map of lon/lat, true to scale at ``(lon, lat)``.

    EPSG:4326 geometries (as PostGIS stores and compares them) have straight edges in
    lon/lat.  A conformal projection such as transverse Mercator bends those edges: a
    point put on a 2 km village edge in transverse Mercator lies centimetres off the
    same edge in lon/lat.  This CRS maps ``x = kx·(lon - lon0)``, ``y = ky·(lat - lat0)``
    (equidistant cylindrical on a sphere of the local meridian radius, ``lat_ts`` chosen
    so that ``kx`` is the true east-west scale), so straight lon/lat edges stay straight
    and coverage computed here is coverage in EPSG:4326.  Lengths and areas are off by
    less than 0.05 % within 5 km of the centre (the scale drifts with latitude; within 5°
    of the equator up to 0.7 %).

    Examples
    --------
    >>> from pyproj import Transformer
    >>> t = Transformer.from_crs("EPSG:4326", local_planar_crs(120.6, 31.3), always_xy=True)
    >>> [round(v) for v in t.transform(120.61, 31.3)]  # 0.01° of longitude at 31.3° N
    [952, 0]
    """
    s = math.sin(math.radians(lat))
    w = 1 - _WGS84_E2 * s * s
    prime_vertical = _WGS84_A / math.sqrt(w)
    meridian = _WGS84_A * (1 - _WGS84_E2) / w**1.5
    # Within ~5° of the equator no lat_ts makes the east-west scale true (it would need
    # cos > 1); lat_ts = 0 then leaves it at most 0.7 % off, harmless for partitioning.
    ratio = min(1.0, prime_vertical * math.cos(math.radians(lat)) / meridian)
    lat_ts = math.degrees(math.acos(ratio))
    return CRS.from_proj4(
        f"+proj=eqc +lat_ts={lat_ts!r} +lat_0={lat!r} +lon_0={lon!r} +x_0=0 +y_0=0 "
        f"+R={meridian!r} +units=m +no_defs"
    )


def planar_crs_for(gdf_or_geom) -> CRS:
    """:func:`local_planar_crs` centred on the bounds of a lon/lat frame or geometry.

    The centre is rounded to 1e-6° so that the same area always gets the same CRS.
    """
    west, south, east, north = _bounds(gdf_or_geom)
    return local_planar_crs(round((west + east) / 2, 6), round((south + north) / 2, 6))


def _bounds(gdf_or_geom) -> tuple[float, float, float, float]:
    bounds = gdf_or_geom.total_bounds if hasattr(gdf_or_geom, "total_bounds") else gdf_or_geom.bounds
    return tuple(float(b) for b in bounds)  # type: ignore[return-value]
