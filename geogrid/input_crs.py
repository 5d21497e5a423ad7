"""The CRS of input coordinates: EPSG codes, CGCS2000, and the shifted lon/lat of Chinese map apps.

``--crs`` (and ``crs=`` of the readers) takes anything pyproj reads (``EPSG:4490`` for
CGCS2000, ``EPSG:4527`` for a CGCS2000 3-degree Gauss-Krüger zone) or ``gcj02`` / ``bd09``:
lon/lat copied from AMap/Gaode or Tencent (GCJ-02) or Baidu (BD-09) maps, which are not a CRS
pyproj knows but an obfuscation of WGS-84; they are converted with :func:`geogrid.coords.to_wgs84`,
exactly as ``/lookup?crs=gcj02`` converts them.

A file that declares no CRS (a Shapefile without ``.prj``) and whose numbers are not lon/lat
degrees is refused with :func:`guess_crs`'s reading of the coordinate ranges, e.g. a CGCS2000
Gauss-Krüger zone recognised by the zone number in front of its false easting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geogrid.errors import InputFileError

__all__ = ["InputCRS", "guess_crs", "looks_like_degrees", "parse_crs"]

WGS84_CRS = CRS.from_epsg(4326)
_SHIFTED = {"gcj02": "GCJ-02 (AMap/Gaode, Tencent)", "bd09": "BD-09 (Baidu)"}
_NAMED = {"wgs84": 4326, "cgcs2000": 4490}


@dataclass(frozen=True)
class InputCRS:
    """Coordinates' CRS: a pyproj CRS, or lon/lat shifted by a Chinese map SDK (``shift``)."""

    crs: CRS
    shift: str | None = None

    def __str__(self) -> str:
        if self.shift:
            return _SHIFTED[self.shift]
        epsg = self.crs.to_epsg()
        return f"EPSG:{epsg} ({self.crs.name})" if epsg else self.crs.name

    @property
    def is_geographic(self) -> bool:
        return self.shift is not None or self.crs.is_geographic

    def to_wgs84(self) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
        """``(x, y) -> (lon, lat)`` in EPSG:4326 (vectorised); None when nothing changes.

        Examples
        --------
        >>> f = parse_crs("gcj02").to_wgs84()
        >>> lon, lat = f(np.array([116.39724]), np.array([39.90840]))
        >>> round(float(lon[0]), 4), round(float(lat[0]), 4)
        (116.391, 39.907)
        """
        if self.shift is not None:
            from geogrid.coords import to_wgs84

            shift = self.shift

            def unshift(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                p = to_wgs84(
                    np.asarray(x, dtype=float), np.asarray(y, dtype=float), crs=shift, validate=False
                )
                return np.asarray(p.lng, dtype=float), np.asarray(p.lat, dtype=float)

            return unshift
        if self.crs.equals(WGS84_CRS):
            return None
        transformer = Transformer.from_crs(self.crs, WGS84_CRS, always_xy=True)
        return lambda x, y: transformer.transform(x, y)


def parse_crs(value: Any) -> InputCRS:
    """``"gcj02"``, ``"bd09"``, ``"wgs84"``, ``"cgcs2000"``, ``"EPSG:n"`` or anything pyproj reads.

    Raises
    ------
    InputFileError
        For a value that names no CRS.

    Examples
    --------
    >>> str(parse_crs("GCJ-02")), str(parse_crs("cgcs2000")), parse_crs("EPSG:4527").crs.to_epsg()
    ('GCJ-02 (AMap/Gaode, Tencent)', 'EPSG:4490 (China Geodetic Coordinate System 2000)', 4527)
    """
    if isinstance(value, InputCRS):
        return value
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "").replace("_", "")
        if key in _SHIFTED:
            return InputCRS(WGS84_CRS, key)
        if key in _NAMED:
            return InputCRS(CRS.from_epsg(_NAMED[key]))
    try:
        return InputCRS(CRS.from_user_input(value))
    except CRSError:
        raise InputFileError(
            f"unknown crs {value!r}: use gcj02, bd09, wgs84, cgcs2000 or EPSG:<code> (e.g. EPSG:4490)"
        ) from None


def looks_like_degrees(x: np.ndarray, y: np.ndarray) -> bool:
    """True when most coordinates are lon/lat degrees (the median point is in range)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return True
    mx, my = float(np.median(x[ok])), float(np.median(y[ok]))
    return (abs(mx) <= 180 and abs(my) <= 90) or (abs(my) <= 180 and abs(mx) <= 90)


def guess_crs(x: np.ndarray, y: np.ndarray) -> tuple[str, str | None]:
    """What projected coordinates look like: a description and the EPSG code to suggest (or None).

    CGCS2000 Gauss-Krüger grids with the zone number written in front of the false easting
    are recognised by it: 3-degree zones 25-45 (x from 25,000,000; EPSG:4513-4533) and 6-degree
    zones 13-23 (x from 13,000,000; EPSG:4491-4501).  Without a zone number the zone cannot be
    told from the numbers (UTM and Gauss-Krüger both put 500,000 m on the central meridian).

    Examples
    --------
    >>> guess_crs(np.array([39_500_000.0]), np.array([4_330_000.0]))
    ('CGCS2000 3-degree Gauss-Krüger zone 39 (central meridian 117°E), zone number in the false easting', 'EPSG:4527')
    >>> guess_crs(np.array([385_000.0]), np.array([6_672_000.0]))[1] is None
    True
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    mx, my = float(np.median(x[ok])), float(np.median(y[ok]))
    zone = int(mx // 1_000_000)
    if 0 <= my <= 10_000_000 and 25 <= zone <= 45:
        return (
            f"CGCS2000 3-degree Gauss-Krüger zone {zone} (central meridian {3 * zone}°E), "
            "zone number in the false easting",
            f"EPSG:{4513 + zone - 25}",
        )
    if 0 <= my <= 10_000_000 and 13 <= zone <= 23:
        return (
            f"CGCS2000 6-degree Gauss-Krüger zone {zone} (central meridian {6 * zone - 3}°E), "
            "zone number in the false easting",
            f"EPSG:{4491 + zone - 13}",
        )
    if 100_000 <= mx <= 900_000 and 0 <= my <= 10_000_000:
        return (
            "metres of a transverse Mercator grid without zone number: UTM (EPSG:326NN) or CGCS2000 "
            "Gauss-Krüger by central meridian (EPSG:4534-4554 3-degree, 4502-4512 6-degree); "
            "the zone cannot be told from the numbers, ask the data's supplier or find the .prj",
            None,
        )
    return ("a projected CRS geogrid cannot recognise", None)


def missing_crs_message(name: str, x: np.ndarray, y: np.ndarray) -> str:
    """The refusal for a file without CRS whose coordinates are not degrees."""
    description, epsg = guess_crs(x, y)
    ok = np.isfinite(x) & np.isfinite(y)
    ranges = f"x {np.min(x[ok]):,.0f}..{np.max(x[ok]):,.0f}, y {np.min(y[ok]):,.0f}..{np.max(y[ok]):,.0f}"
    todo = f"pass --crs {epsg} (crs='{epsg}')" if epsg else "pass --crs EPSG:<code>"
    return (
        f"{name}: no CRS (no .prj) and the coordinates ({ranges}) are not lon/lat degrees; "
        f"they look like {description}; {todo} if that is right, or add the .prj"
    )
