"""Choosing a local metric CRS for lengths, areas and partitioning."""

from __future__ import annotations

from pyproj import CRS


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


def metric_crs_for(gdf_or_geom) -> CRS:  # noqa: ANN001 - GeoDataFrame, GeoSeries or shapely geometry
    """Local metric CRS centred on the bounds of a lon/lat frame or geometry."""
    bounds = gdf_or_geom.total_bounds if hasattr(gdf_or_geom, "total_bounds") else gdf_or_geom.bounds
    west, south, east, north = bounds
    return local_metric_crs((west + east) / 2, (south + north) / 2)
