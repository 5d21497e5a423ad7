"""Reading and checking input files: divisions, addresses and streets.

The readers accept GeoJSON, GeoPackage, Shapefile, GeoParquet and CSV (points from lon/lat
columns or a WKT ``geometry`` column), rename source fields to the names of
:mod:`geogrid.frames` (built-in Chinese field names plus a caller's ``columns`` mapping),
transform to EPSG:4326 and check every row.

Row numbers
-----------
A :class:`~geogrid.errors.RowError` names the **1-based data row** of the source: the n-th
feature of a GeoJSON/GeoPackage/Shapefile/GeoParquet layer, or the n-th record after the
header of a CSV (so CSV row 1 is the second line of the file, the first line below the
header in a spreadsheet).

All or nothing
--------------
By default a reader raises :class:`~geogrid.errors.ImportRowsError` listing *every* bad row
and returns nothing, so nothing half-checked gets written anywhere.  With
``on_error="skip"`` it returns a :class:`ReadResult` with the good rows, the rejected source
rows and the errors; :func:`write_rejected` saves the rejected rows with an ``error`` column
so they can be fixed and imported again.

Text columns come back as ``object`` dtype (``None`` for missing), whatever pandas' default
string dtype, so codes keep their leading zeros and compare equal after a round trip
through :func:`write_frame`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from geogrid.encodings import Encoding, encoding_hint, text_errors
from geogrid.errors import ImportRowsError, InputFileError, RowError
from geogrid.frames import ADDRESS_COMPONENTS, STREET_CLASSES, WGS84
from geogrid.input_crs import InputCRS, looks_like_degrees, missing_crs_message, parse_crs
from geogrid.sources import TEXT_SUFFIXES as _TEXT_SUFFIXES
from geogrid.sources import read_source

__all__ = [
    "CHINESE_FIELDS",
    "LAT_NAMES",
    "LON_NAMES",
    "STREET_CLASS_ALIASES",
    "ReadResult",
    "read_addresses",
    "read_divisions",
    "read_features",
    "read_streets",
    "street_class_of",
    "write_frame",
    "write_rejected",
]

OnError = Literal["raise", "skip"]

#: Column names recognised as longitude / latitude in a CSV (case-insensitive), in order of preference.
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")

#: Common Chinese (and a few English) source field names -> geogrid names, per kind of file.
#: A name is applied automatically only when the target is not already a column and exactly
#: one source column maps onto it.
CHINESE_FIELDS: dict[str, dict[str, str]] = {
    "divisions": {
        "代码": "code",
        "区划代码": "code",
        "统计用区划代码": "code",
        "行政区划代码": "code",
        "编码": "code",
        "名称": "name",
        "区划名称": "name",
        "单位名称": "name",
        "级别": "level",
        "层级": "level",
        "上级代码": "parent_code",
        "父级代码": "parent_code",
        "上级区划代码": "parent_code",
        "类型": "kind",
        "城乡类型": "kind",
    },
    "addresses": {
        "地址编码": "address_id",
        "地址代码": "address_id",
        "编号": "address_id",
        "地址ID": "address_id",
        "id": "address_id",
        "户数": "households",
        "住户数": "households",
        "户": "households",
        "地址": "full_text",
        "标准地址": "full_text",
        "详细地址": "full_text",
        "地址全称": "full_text",
        "省": "province",
        "省份": "province",
        "市": "city",
        "城市": "city",
        "区县": "county",
        "县区": "county",
        "乡镇": "township",
        "乡镇街道": "township",
        "街道": "township",
        "村社区": "village",
        "社区": "village",
        "村": "village",
        "街路巷": "street",
        "街巷": "street",
        "道路": "street",
        "路名": "street",
        "门牌号": "house_number",
        "门牌": "house_number",
        "小区": "compound",
        "楼栋": "building",
        "楼栋号": "building",
        "幢": "building",
        "单元": "unit",
        "单元号": "unit",
        "房号": "room",
        "室": "room",
        "村社区代码": "village_code",
        "村代码": "village_code",
        "社区代码": "village_code",
        "所属区划代码": "village_code",
        "addr:street": "street",
        "addr:housenumber": "house_number",
        "name": "full_text",  # a KML placemark's name
    },
    "grids": {
        "网格编码": "code",
        "网格代码": "code",
        "网格编号": "code",
        "编码": "code",
        "网格名称": "name",
        "名称": "name",
        "户数": "households",
        "住户数": "households",
        "区划代码": "division_code",
        "所属区划": "division_code",
        "所属区划代码": "division_code",
        "类型": "kind",
        "网格类型": "kind",
    },
    "streets": {
        "道路名称": "name",
        "名称": "name",
        "路名": "name",
        "街巷名称": "name",
        "等级": "street_class",
        "道路等级": "street_class",
        "类别": "street_class",
        "highway": "street_class",
    },
}

#: Street class of common OSM ``highway`` values and Chinese road grades (lower-case keys).
STREET_CLASS_ALIASES: dict[str, str] = {
    **{c: c for c in STREET_CLASSES},
    **dict.fromkeys(
        (
            "motorway",
            "motorway_link",
            "trunk",
            "trunk_link",
            "primary",
            "primary_link",
            "secondary",
            "secondary_link",
            "快速路",
            "主干路",
            "主干道",
            "主路",
            "国道",
            "省道",
            "高速公路",
            "干道",
        ),
        "arterial",
    ),
    **dict.fromkeys(
        (
            "tertiary",
            "tertiary_link",
            "unclassified",
            "residential",
            "living_street",
            "road",
            "次干路",
            "次干道",
            "支路",
            "县道",
            "乡道",
            "街道",
            "街",
        ),
        "street",
    ),
    **dict.fromkeys(
        ("service", "alley", "track", "busway", "街巷", "巷道", "巷", "胡同", "弄", "村道", "小巷"), "lane"
    ),
    **dict.fromkeys(
        (
            "footway",
            "path",
            "trail",
            "pedestrian",
            "cycleway",
            "steps",
            "bridleway",
            "corridor",
            "步行道",
            "人行道",
            "小路",
            "绿道",
            "步道",
        ),
        "path",
    ),
}

_PROGRESS_ROWS = 50_000
_CHUNK = 20_000
_CODE_RE = re.compile(r"^\d{12}$")


@dataclass
class ReadResult:
    """Outcome of a read with ``on_error="skip"``.

    Attributes
    ----------
    frame
        The good rows, checked and in EPSG:4326, with geogrid column names.
    rejected
        The bad source rows as read (source column names and CRS), with ``row`` (1-based data
        row) and ``error`` (every reason for the row, ``"; "``-separated).
    errors
        One :class:`~geogrid.errors.RowError` per problem, ordered by row.
    source
        The file as messages name it.
    encoding
        The text encoding the file was read with and how it was chosen (None: typed format).
    """

    frame: gpd.GeoDataFrame
    rejected: gpd.GeoDataFrame
    errors: list[RowError] = field(default_factory=list)
    source: str = ""
    encoding: Encoding | None = None

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return not self.errors


# --------------------------------------------------------------------------- public readers


def read_divisions(
    source: str | Path | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    layer: str | int | None = None,
    crs: Any = None,
    lon: str | None = None,
    lat: str | None = None,
    on_error: OnError = "raise",
    progress: bool | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame | ReadResult:
    """Read township and village boundaries and check every row.

    Output columns: ``code`` (12 digits), ``name``, ``level`` (``township`` | ``village``),
    ``parent_code``, ``kind`` (``urban`` | ``rural``), geometry (Polygon/MultiPolygon, EPSG:4326),
    plus any other source columns unchanged.  ``level`` and ``parent_code`` follow from the
    code when absent (a township code ends in ``000``; a village's parent is its first 9 digits +
    ``000``); when present they must agree with it.  ``kind`` defaults from the code's
    statistical ranges (街道 001-099 and 社区/居委会 001-199 urban, others rural).

    Parameters
    ----------
    source
        Path of a CSV, Excel (``.xlsx``/``.xls``), KML/KMZ, GeoJSON, GeoPackage, Shapefile (also
        zipped) or GeoParquet file (see :func:`geogrid.sources.read_source`), or a (Geo)DataFrame.
    columns
        Source field name -> geogrid name, e.g. ``{"区划代码": "code"}``; applied before the
        built-in :data:`CHINESE_FIELDS`.
    layer
        Layer of a multi-layer file (GeoPackage), folder of a KML, file inside a zip.
    crs
        CRS of the data when the file has none (CSV: default EPSG:4326): anything pyproj reads
        (``"EPSG:4490"`` for CGCS2000), or ``"gcj02"`` / ``"bd09"`` for lon/lat copied from
        AMap/Tencent or Baidu maps, converted exactly as lookups convert them
        (:func:`geogrid.input_crs.parse_crs`).  A file without a CRS whose coordinates are not
        lon/lat degrees is refused with the CRS they look like.
    lon, lat
        CSV coordinate columns when not one of :data:`LON_NAMES` / :data:`LAT_NAMES`.
    on_error
        ``"raise"`` (default): any bad row raises :class:`~geogrid.errors.ImportRowsError` listing
        all of them.  ``"skip"``: return a :class:`ReadResult`.
    progress
        Show a progress bar while checking; default: for more than 50,000 rows.
    sheet
        Excel sheet (name or 1-based number); default the first.
    encoding
        Text encoding of a CSV or Shapefile (e.g. ``"gbk"``); default detected
        (:mod:`geogrid.encodings`).  Text that reads as mojibake is refused row by row.

    Returns
    -------
    GeoDataFrame or ReadResult

    Examples
    --------
    >>> from shapely.geometry import box
    >>> src = gpd.GeoDataFrame({"区划代码": ["320508001001"], "名称": ["平江社区"]},
    ...                        geometry=[box(120.6, 31.3, 120.61, 31.31)], crs="EPSG:4326")
    >>> read_divisions(src)[["code", "name", "level", "parent_code", "kind"]].iloc[0].tolist()
    ['320508001001', '平江社区', 'village', '320508001000', 'urban']
    """
    return _read(
        "divisions",
        source,
        columns=columns,
        layer=layer,
        crs=crs,
        lon=lon,
        lat=lat,
        on_error=on_error,
        progress=progress,
        sheet=sheet,
        encoding=encoding,
    )


def read_addresses(
    source: str | Path | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    layer: str | int | None = None,
    crs: Any = None,
    lon: str | None = None,
    lat: str | None = None,
    on_error: OnError = "raise",
    progress: bool | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame | ReadResult:
    """Read standard address points with household counts and check every row.

    Output columns: ``address_id`` (str; the source row number when the file has no id),
    ``households`` (int >= 0; 1 when the file has no household column), ``full_text`` (built
    from the components when absent), the :data:`~geogrid.frames.ADDRESS_COMPONENTS` present in
    the source, ``village_code`` when present, geometry (Point, EPSG:4326).

    Parameters are those of :func:`read_divisions`.

    Examples
    --------
    >>> df = pd.DataFrame({"经度": [120.61, 120.62], "纬度": [31.31, 31.32], "户数": [12, "3"],
    ...                    "地址": ["人民路1号", "人民路3号"]})
    >>> out = read_addresses(df)
    >>> out["households"].tolist(), out["address_id"].tolist(), out.crs.to_epsg()
    ([12, 3], ['1', '2'], 4326)
    """
    return _read(
        "addresses",
        source,
        columns=columns,
        layer=layer,
        crs=crs,
        lon=lon,
        lat=lat,
        on_error=on_error,
        progress=progress,
        sheet=sheet,
        encoding=encoding,
    )


def read_streets(
    source: str | Path | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    layer: str | int | None = None,
    crs: Any = None,
    on_error: OnError = "raise",
    progress: bool | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame | ReadResult:
    """Read street and alley centre lines and check every row.

    Output columns: ``name`` (empty string when unknown), ``street_class`` (one of
    :data:`~geogrid.frames.STREET_CLASSES`, mapped from OSM ``highway`` values or Chinese road
    grades by :func:`street_class_of`; ``street`` when the file has no class), geometry
    (LineString, EPSG:4326; a MultiLineString row becomes one row per part).

    Parameters are those of :func:`read_divisions` (no lon/lat: streets are lines).

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> src = gpd.GeoDataFrame({"道路名称": ["人民路"], "等级": ["主干路"]},
    ...                        geometry=[LineString([(120.6, 31.3), (120.61, 31.3)])], crs="EPSG:4326")
    >>> read_streets(src)[["name", "street_class"]].iloc[0].tolist()
    ['人民路', 'arterial']
    """
    return _read(
        "streets",
        source,
        columns=columns,
        layer=layer,
        crs=crs,
        lon=None,
        lat=None,
        on_error=on_error,
        progress=progress,
        sheet=sheet,
        encoding=encoding,
    )


def street_class_of(value: object) -> str | None:
    """The geogrid street class of an OSM ``highway`` value or Chinese road grade (None if unknown).

    Examples
    --------
    >>> street_class_of("residential"), street_class_of("主干路"), street_class_of("footway")
    ('street', 'arterial', 'path')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return STREET_CLASS_ALIASES.get(str(value).strip().lower())


def read_features(
    source: str | Path | pd.DataFrame,
    *,
    layer: str | int | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    crs: Any = None,
) -> tuple[gpd.GeoDataFrame, list[RowError]]:
    """Any supported file as EPSG:4326 features with its own columns, and its unreadable rows.

    The lighter sibling of the ``read_*`` functions for callers that check rows themselves
    (plan uploads, the partition command's area): formats, encodings, mojibake and CRS are
    handled as there (``crs`` also takes ``gcj02``/``bd09``); fields are not renamed and rows
    are not checked beyond their text and parseable geometry.  Errors name 1-based rows.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> src = gpd.GeoDataFrame({"区划代码": ["320508001001"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326")
    >>> frame, errors = read_features(src, crs="gcj02")
    >>> list(frame.columns), frame.crs.to_epsg(), errors
    (['区划代码', 'geometry'], 4326, [])
    """
    loaded = _load(source, layer=layer, crs=crs, lon=None, lat=None, sheet=sheet, encoding=encoding)
    errors = _text_problems(loaded)
    errors += [
        RowError(p + 1, loaded.coord_field, "malformed geometry (not parseable)") for p in loaded.malformed
    ]
    frame = loaded.frame
    to_ll = InputCRS(CRS.from_user_input(frame.crs), loaded.shift).to_wgs84()
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if to_ll is not None:
        live = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        geoms = geoms.copy()
        geoms[live] = shapely.transform(geoms[live], lambda c: np.column_stack(to_ll(c[:, 0], c[:, 1])))
    out = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=WGS84))
    return out, sorted(errors, key=lambda e: e.row)


# --------------------------------------------------------------------------- writers


def write_frame(
    frame: gpd.GeoDataFrame, path: str | Path, *, layer: str | None = None, crs: Any = None
) -> Path:
    """Write a frame to GeoPackage (``.gpkg``), GeoJSON (``.geojson``/``.json``) or GeoParquet (``.parquet``).

    ``crs`` re-projects first, e.g. ``"EPSG:4490"`` (CGCS2000) or a Gauss-Krüger zone; GeoJSON
    is lon/lat WGS 84 by its standard (RFC 7946), so it takes no other CRS.

    Text stays text (codes keep leading zeros), integers stay integers and Chinese text is
    written as UTF-8, so the matching reader gives the same values back.  An existing file
    is replaced (a GeoPackage keeps its other layers).

    Examples
    --------
    >>> import tempfile, os
    >>> from shapely.geometry import Point
    >>> f = gpd.GeoDataFrame({"code": ["010101001001"], "households": [7]}, geometry=[Point(116.4, 39.9)],
    ...                      crs="EPSG:4326")
    >>> p = write_frame(f, os.path.join(tempfile.mkdtemp(), "a.gpkg"))
    >>> back = gpd.read_file(p)
    >>> back["code"].iloc[0], int(back["households"].iloc[0])
    ('010101001001', 7)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    out = _plain_text(frame)
    if crs is not None:
        target = parse_crs(crs)
        if target.shift is not None:
            raise InputFileError(f"{path}: cannot write {target}; it is not a CRS files declare")
        if suffix in (".geojson", ".json") and not target.crs.equals(CRS.from_user_input(WGS84)):
            raise InputFileError(
                f"{path}: GeoJSON is lon/lat WGS 84 (RFC 7946); write .gpkg or .parquet for {target}"
            )
        out = out.to_crs(target.crs)
    if suffix in (".parquet", ".geoparquet"):
        out.to_parquet(path, index=False)
        return path
    if suffix == ".gpkg":
        driver = "GPKG"
    elif suffix in (".geojson", ".json"):
        driver = "GeoJSON"
        if out.crs is not None and not out.crs.equals(WGS84):
            out = out.to_crs(WGS84)  # RFC 7946: lon/lat only
        if path.exists():
            path.unlink()
    else:
        raise InputFileError(
            f"{path}: cannot write {suffix or 'a file without suffix'}; use .gpkg, .geojson or .parquet"
        )
    kwargs: dict[str, Any] = {"driver": driver}
    if driver == "GPKG":
        kwargs["layer"] = layer or path.stem
    if len(out) == 0:
        kwargs["geometry_type"] = "Unknown"
    pyogrio.write_dataframe(out, path, **kwargs)
    return path


def write_rejected(result: ReadResult, path: str | Path) -> Path:
    """Write the rejected rows of a ``on_error="skip"`` read, with their ``row`` and ``error``.

    The format follows the suffix: ``.csv`` (geometry as WKT), ``.gpkg``, ``.geojson`` or
    ``.parquet``.  The rows keep their source column names and CRS so they can be fixed and
    imported again.

    Examples
    --------
    >>> import tempfile, os
    >>> df = pd.DataFrame({"lon": [120.6, 120.6], "lat": [31.3, 31.3], "households": [3, -1]})
    >>> res = read_addresses(df, on_error="skip")
    >>> p = write_rejected(res, os.path.join(tempfile.mkdtemp(), "bad.csv"))
    >>> pd.read_csv(p)[["row", "error"]].values.tolist()
    [[2, 'households: negative household count -1']]
    """
    path = Path(path)
    rejected = result.rejected
    if path.suffix.lower() in _TEXT_SUFFIXES:
        out = pd.DataFrame(rejected.drop(columns=rejected.geometry.name))
        out["geometry"] = [None if g is None else g.wkt for g in rejected.geometry]
        out.to_csv(path, index=False, encoding="utf-8")
        return path
    return write_frame(rejected, path)


# --------------------------------------------------------------------------- reading


@dataclass
class _Loaded:
    """A source as read: its name, rows (RangeIndex), the coordinate field(s) and CRS facts."""

    name: str
    frame: gpd.GeoDataFrame
    coord_field: str
    shift: str | None = None
    encoding: Encoding | None = None
    malformed: list[int] = field(default_factory=list)


def _read(
    kind: str,
    source: Any,
    *,
    columns: Mapping[str, str] | None,
    layer: Any,
    crs: Any,
    lon: str | None,
    lat: str | None,
    on_error: OnError,
    progress: bool | None,
    sheet: Any = None,
    encoding: str | None = None,
) -> Any:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    loaded = _load(source, layer=layer, crs=crs, lon=lon, lat=lat, sheet=sheet, encoding=encoding)
    name, raw = loaded.name, loaded.frame
    text_rows = _text_problems(loaded)
    frame, renamed = _rename(raw, kind, columns or {}, name)
    checker = _Checker(kind, frame, renamed, loaded.coord_field, name, set(loaded.malformed), loaded.shift)
    checker.add(text_rows)
    show = progress if progress is not None else len(frame) > _PROGRESS_ROWS
    good = checker.run(progress=show)
    errors = sorted(checker.errors, key=lambda e: e.row)
    if errors and on_error == "raise":
        raise ImportRowsError(name, errors)
    out = _finish(kind, good)
    if on_error == "raise":
        return out
    bad_rows = sorted({e.row for e in errors})
    rejected = raw.iloc[[r - 1 for r in bad_rows]].copy()
    reasons: dict[int, list[str]] = {}
    for e in errors:
        reasons.setdefault(e.row, []).append(f"{e.field}: {e.reason}")
    rejected.insert(0, "row", np.asarray(bad_rows, dtype=np.int64))
    rejected["error"] = ["; ".join(reasons[r]) for r in bad_rows]
    rejected = rejected.reset_index(drop=True)
    return ReadResult(
        frame=out, rejected=_plain_text(rejected), errors=errors, source=name, encoding=loaded.encoding
    )


def _text_problems(loaded: _Loaded) -> list[RowError]:
    """Mojibake in field names (refused for the whole file) and in cells (row errors)."""
    codec = loaded.encoding.codec if loaded.encoding is not None else None
    bad_fields, rows = text_errors(loaded.frame, codec, skip=(loaded.frame.geometry.name,))
    if bad_fields:
        raise InputFileError(f"{loaded.name}: {bad_fields[0]}; {encoding_hint(loaded.encoding)}")
    return [RowError(e.row, e.field, f"{e.reason}; {encoding_hint(loaded.encoding)}") for e in rows]


def _load(
    source: Any, *, layer: Any, crs: Any, lon: str | None, lat: str | None, sheet: Any, encoding: str | None
) -> _Loaded:
    """Read the source into a GeoDataFrame with a RangeIndex; name the coordinate field(s)."""
    given = parse_crs(crs) if crs is not None else None
    if isinstance(source, pd.DataFrame):
        if isinstance(source, gpd.GeoDataFrame) and source.geometry.name in source.columns:
            frame = source.copy()
            if frame.geometry.name != "geometry":
                frame = frame.rename_geometry("geometry")
            return _geo_loaded("frame", frame.reset_index(drop=True), given, None)
        return _table_loaded("frame", pd.DataFrame(source), given, lon, lat, None)
    src = read_source(source, layer=layer, sheet=sheet, encoding=encoding)
    if not src.has_geometry:
        if isinstance(src.frame, gpd.GeoDataFrame) or src.format not in ("CSV", "Excel"):
            raise InputFileError(f"{src.name}: no geometry column")
        return _table_loaded(src.name, src.frame, given, lon, lat, src.encoding)
    frame = src.frame
    if frame.geometry.name != "geometry":
        frame = frame.rename_geometry("geometry")
    loaded = _geo_loaded(src.name, frame.reset_index(drop=True), given, src.encoding)
    loaded.malformed = list(src.malformed)
    return loaded


def _geo_loaded(name: str, frame: gpd.GeoDataFrame, given: InputCRS | None, enc: Encoding | None) -> _Loaded:
    """Settle the CRS of a frame with geometries: declared, given, or refused with a guess."""
    if frame.crs is None:
        if given is None:
            xy = shapely.get_coordinates(np.asarray(frame.geometry.values))
            if len(xy) and not looks_like_degrees(xy[:, 0], xy[:, 1]):
                raise InputFileError(missing_crs_message(name, xy[:, 0], xy[:, 1]))
            given = InputCRS(CRS.from_user_input(WGS84))
        frame = frame.set_crs(given.crs)
    elif given is not None and not CRS.from_user_input(frame.crs).equals(given.crs):
        declared = CRS.from_user_input(frame.crs)
        if not (given.shift and declared.is_geographic):
            raise InputFileError(
                f"{name}: the file declares {declared.to_string()}, but crs {given} was given"
            )
        frame = frame.set_crs(given.crs, allow_override=True)
    return _Loaded(name, frame, "geometry", given.shift if given else None, enc)


def _table_loaded(
    name: str, table: pd.DataFrame, given: InputCRS | None, lon: str | None, lat: str | None, enc
) -> _Loaded:
    target = given or InputCRS(CRS.from_user_input(WGS84))
    frame, field_name, malformed = _points_from_table(table, name, crs=target.crs, lon=lon, lat=lat)
    if given is None:
        xy = shapely.get_coordinates(np.asarray(frame.geometry.values))
        if len(xy) and not looks_like_degrees(xy[:, 0], xy[:, 1]):
            raise InputFileError(missing_crs_message(name, xy[:, 0], xy[:, 1]).replace(" (no .prj)", ""))
    return _Loaded(name, frame, field_name, target.shift, enc, malformed)


def _points_from_table(
    table: pd.DataFrame, name: str, *, crs: Any, lon: str | None, lat: str | None
) -> tuple[gpd.GeoDataFrame, str, list[int]]:
    """Point geometries from lon/lat columns (or a WKT ``geometry``/``wkt`` column)."""
    target = CRS.from_user_input(crs) if crs is not None else CRS.from_user_input(WGS84)
    lower = {str(c).strip().lower(): c for c in table.columns}
    if lon is None and lat is None:
        for wkt_name in ("geometry", "wkt", "geom"):
            if wkt_name in lower:
                col = lower[wkt_name]
                geoms = [None] * len(table)
                bad: list[int] = []
                for i, text in enumerate(table[col]):
                    if isinstance(text, str) and text.strip():
                        try:
                            geoms[i] = shapely.from_wkt(text)
                        except shapely.errors.GEOSException:
                            bad.append(i)
                frame = gpd.GeoDataFrame(table.drop(columns=col), geometry=geoms, crs=target)
                return frame.reset_index(drop=True), col, bad
    lon_col = _pick(lower, lon, LON_NAMES, "longitude", name, table)
    lat_col = _pick(lower, lat, LAT_NAMES, "latitude", name, table)
    x = pd.to_numeric(table[lon_col], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(table[lat_col], errors="coerce").to_numpy(dtype=float)
    missing = table[lon_col].isna().to_numpy() | table[lat_col].isna().to_numpy()
    malformed = (np.isnan(x) | np.isnan(y)) & ~missing
    geoms = shapely.points(x, y)
    geoms[missing | malformed] = None
    frame = gpd.GeoDataFrame(table, geometry=geoms, crs=target)
    return frame.reset_index(drop=True), f"{lon_col}/{lat_col}", np.flatnonzero(malformed).tolist()


def _pick(
    lower: dict[str, Any],
    given: str | None,
    names: tuple[str, ...],
    what: str,
    source: str,
    table: pd.DataFrame,
) -> Any:
    if given is not None:
        if given not in table.columns:
            raise InputFileError(f"{source}: no {what} column {given!r}; columns are {list(table.columns)}")
        return given
    for n in names:
        if n in lower:
            return lower[n]
    raise InputFileError(
        f"{source}: no {what} column (looked for {', '.join(names)}); "
        "pass lon=/lat= or a WKT 'geometry' column"
    )


def _rename(
    raw: gpd.GeoDataFrame, kind: str, columns: Mapping[str, str], source: str
) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Apply the caller's mapping, then unambiguous built-in names; return ours -> source names."""
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise InputFileError(
            f"{source}: columns {missing} of the mapping are not in the file "
            f"(columns: {[c for c in raw.columns if c != 'geometry']})"
        )
    mapping = dict(columns)
    present = set(raw.columns) - set(mapping) | set(mapping.values())
    candidates: dict[str, list[str]] = {}
    builtin = {k.lower(): v for k, v in CHINESE_FIELDS[kind].items()}
    for col in raw.columns:
        if col in mapping or col == "geometry":
            continue
        target = CHINESE_FIELDS[kind].get(str(col)) or builtin.get(str(col).lower())
        if target and target not in present:
            candidates.setdefault(target, []).append(col)
    for target, cols in candidates.items():
        if len(cols) == 1:  # ambiguous names (two columns for one field) stay untouched
            mapping[cols[0]] = target
    frame = raw.rename(columns=mapping)
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise InputFileError(f"{source}: two columns would both be called {dup}; fix the mapping")
    return frame, {v: k for k, v in mapping.items()}


# --------------------------------------------------------------------------- checks


class _Checker:
    """Collects every RowError of a frame; ``run`` returns the good rows (EPSG:4326)."""

    def __init__(
        self,
        kind: str,
        frame: gpd.GeoDataFrame,
        renamed: dict[str, str],
        coord_field: str,
        source: str,
        malformed: set[int],
        shift: str | None = None,
    ) -> None:
        self.kind = kind
        self.malformed = malformed
        self.shift = shift
        self.frame = frame
        self.renamed = renamed
        self.coord_field = coord_field
        self.source = source
        self.errors: list[RowError] = []
        self.bad = np.zeros(len(frame), dtype=bool)

    def field(self, ours: str) -> str:
        """The name the user knows: the source column name of one of our columns."""
        if ours == "geometry":
            return self.coord_field
        return self.renamed.get(ours, ours)

    def error(self, positions: Any, ours: str, reason: str | Callable[[int], str]) -> None:
        for pos in np.atleast_1d(np.asarray(positions, dtype=np.int64)):
            text = reason(int(pos)) if callable(reason) else reason
            self.errors.append(RowError(int(pos) + 1, self.field(ours), text))
            self.bad[pos] = True

    def add(self, errors: list[RowError]) -> None:
        """Errors found before the checks (e.g. mojibake), already in source terms."""
        for e in errors:
            self.errors.append(e)
            self.bad[e.row - 1] = True

    def run(self, *, progress: bool) -> gpd.GeoDataFrame:
        geoms = self._check_geometry(progress=progress)
        frame = self.frame.set_geometry(gpd.GeoSeries(geoms, index=self.frame.index, crs=WGS84))
        self.frame = frame
        getattr(self, f"_check_{self.kind}")()
        return self.frame[~self.bad]

    # -- geometry ----------------------------------------------------------------------------
    def _check_geometry(self, *, progress: bool) -> np.ndarray:
        allowed = {
            "divisions": ("Polygon", "MultiPolygon"),
            "addresses": ("Point",),
            "streets": ("LineString", "MultiLineString"),
        }[self.kind]
        src = self.frame.geometry
        src_crs = CRS.from_user_input(src.crs)
        geoms = np.asarray(src.values, dtype=object).copy()
        out = np.empty(len(geoms), dtype=object)
        for pos in sorted(self.malformed):
            self.error(pos, "geometry", "malformed coordinates (not a number or not WKT)")
        transformer = InputCRS(src_crs, self.shift).to_wgs84()
        area = _area_of_use(src_crs)
        from tqdm.auto import tqdm

        # Counts rows, not chunks: the last chunk is usually short.
        with tqdm(total=len(geoms), desc=f"checking {self.kind}", unit="rows", disable=not progress) as bar:
            for start in range(0, len(geoms), _CHUNK):
                stop = min(start + _CHUNK, len(geoms))
                self._check_geometry_chunk(geoms, out, start, stop, allowed, transformer, area, src_crs)
                bar.update(stop - start)
        return out

    def _check_geometry_chunk(
        self,
        geoms: np.ndarray,
        out: np.ndarray,
        start: int,
        stop: int,
        allowed: tuple[str, ...],
        transformer: Callable[[np.ndarray, np.ndarray], tuple[Any, Any]] | None,
        area: tuple[float, float, float, float],
        src_crs: CRS,
    ) -> None:
        part = geoms[start:stop]
        malformed = self.malformed
        is_none = np.array([g is None for g in part])
        if self.kind == "addresses":  # a one-point MultiPoint is a point
            for i, g in enumerate(part):
                if g is not None and g.geom_type == "MultiPoint" and len(g.geoms) == 1:
                    part[i] = g.geoms[0]
        arr = np.asarray(part, dtype=object)
        for i in np.flatnonzero(is_none).tolist():
            if start + i not in malformed:
                self.error(start + i, "geometry", "missing geometry")
        live = np.flatnonzero(~is_none)
        empty = live[shapely.is_empty(arr[live])]
        self.error(start + empty, "geometry", "empty geometry")
        live = np.setdiff1d(live, empty)
        types = shapely.get_type_id(arr[live])
        wrong = live[~np.isin(types, [_TYPE_IDS[a] for a in allowed])]
        self.error(
            start + wrong,
            "geometry",
            lambda p: f"{arr[p - start].geom_type} where {' or '.join(allowed)} is expected",
        )
        live = np.setdiff1d(live, wrong)
        invalid = live[~shapely.is_valid(arr[live])]
        self.error(
            start + invalid,
            "geometry",
            lambda p: f"invalid geometry: {shapely.is_valid_reason(arr[p - start])}",
        )
        live = np.setdiff1d(live, invalid)
        if len(live) == 0:
            return
        coords_src = shapely.get_coordinates(arr[live])
        counts = shapely.get_num_coordinates(arr[live])
        if transformer is None:
            moved = arr[live]
        else:
            moved = shapely.transform(arr[live], lambda c: np.column_stack(transformer(c[:, 0], c[:, 1])))
        lonlat = shapely.get_coordinates(moved)
        west, south, east, north = area
        tol = 1e-6
        bad_coord = (
            ~np.isfinite(lonlat).all(axis=1)
            | (lonlat[:, 0] < west - tol)
            | (lonlat[:, 0] > east + tol)
            | (lonlat[:, 1] < south - tol)
            | (lonlat[:, 1] > north + tol)
        )
        owner = np.repeat(np.arange(len(live)), counts)
        bad_geom = np.zeros(len(live), dtype=bool)
        np.logical_or.at(bad_geom, owner, bad_coord)
        for k in np.flatnonzero(bad_geom):
            first = coords_src[owner == k][0]
            self.error(start + live[k], "geometry", _outside_reason(first, src_crs, area))
        good = live[~bad_geom]
        out[start + good] = np.asarray(moved, dtype=object)[~bad_geom]

    # -- per kind ------------------------------------------------------------------------------
    def _check_divisions(self) -> None:
        f = self.frame
        if "code" not in f.columns:
            raise InputFileError(
                f"{self.source}: no division code column (code, 代码, 区划代码, ...); "
                "pass columns={'<your field>': 'code'}"
            )
        codes = _codes(f["code"])
        f["code"] = codes
        for pos in np.flatnonzero([c is None for c in codes]).tolist():
            self.error(pos, "code", "missing code")
        for pos, c in enumerate(codes):
            if c is not None and not _CODE_RE.match(c):
                hint = " (leading zero lost? store codes as text)" if c.isdigit() and len(c) == 11 else ""
                self.error(pos, "code", f"malformed code {c!r}: expected 12 digits{hint}")
        valid = np.array([c is not None and bool(_CODE_RE.match(c)) for c in codes])
        expected_level = np.array(
            [
                None if not v or c is None else ("township" if c.endswith("000") else "village")
                for c, v in zip(codes, valid, strict=True)
            ],
            dtype=object,
        )
        for pos in np.flatnonzero(valid).tolist():
            c = codes[pos]
            assert c is not None  # valid codes matched _CODE_RE
            if c[6:9] == "000":
                self.error(pos, "code", f"code {c} is a county, not a township or village")
                valid[pos] = False
        if "level" in f.columns:
            levels = [_text(v) for v in f["level"]]
            for pos, (lvl, exp) in enumerate(zip(levels, expected_level, strict=True)):
                if lvl is None:
                    continue
                norm = _LEVEL_ALIASES.get(lvl.lower())
                if norm is None:
                    self.error(pos, "level", f"unknown level {lvl!r}: use township or village")
                elif exp is not None and valid[pos] and norm != exp:
                    self.error(pos, "level", f"level {lvl!r} contradicts code {codes[pos]} (a {exp} code)")
            f["level"] = [
                (_LEVEL_ALIASES.get(lv.lower()) if lv else None) or e
                for lv, e in zip(levels, expected_level, strict=True)
            ]
        else:
            f["level"] = expected_level
        expected_parent = [
            None if not v or c is None else (c[:6] + "000000" if c.endswith("000") else c[:9] + "000")
            for c, v in zip(codes, valid, strict=True)
        ]
        if "parent_code" in f.columns:
            parents = _codes(f["parent_code"])
            for pos, (p, e) in enumerate(zip(parents, expected_parent, strict=True)):
                if p is not None and e is not None and p != e:
                    self.error(
                        pos, "parent_code", f"parent code {p} does not contain {codes[pos]} (expected {e})"
                    )
            f["parent_code"] = [p or e for p, e in zip(parents, expected_parent, strict=True)]
        else:
            f["parent_code"] = expected_parent
        if "kind" in f.columns:
            kinds = [_text(v) for v in f["kind"]]
            for pos, k in enumerate(kinds):
                if k is not None and _KIND_ALIASES.get(k.lower()) is None:
                    self.error(pos, "kind", f"unknown kind {k!r}: use urban or rural")
            f["kind"] = [
                (_KIND_ALIASES.get(k.lower()) if k else None) or _kind_from_code(c)
                for k, c in zip(kinds, codes, strict=True)
            ]
        else:
            f["kind"] = [_kind_from_code(c) for c in codes]
        if "name" not in f.columns:
            f["name"] = None
        self._duplicates(codes, "code")

    def _check_addresses(self) -> None:
        f = self.frame
        if "address_id" in f.columns:
            ids = [_text(v) for v in f["address_id"]]
            for pos in np.flatnonzero([i is None for i in ids]).tolist():
                self.error(pos, "address_id", "missing address id")
            f["address_id"] = ids
            self._duplicates(ids, "address_id")
        else:
            f["address_id"] = [str(i + 1) for i in range(len(f))]
        if "households" in f.columns:
            values, problems = _households(f["households"])
            for pos, reason in problems:
                self.error(pos, "households", reason)
            f["households"] = values
        else:
            f["households"] = np.ones(len(f), dtype=np.int64)
        for comp in ADDRESS_COMPONENTS:
            if comp in f.columns:
                f[comp] = [_text(v) for v in f[comp]]
        if "full_text" in f.columns:
            f["full_text"] = [_text(v) for v in f["full_text"]]
        else:
            present = [c for c in ADDRESS_COMPONENTS if c in f.columns]
            f["full_text"] = (
                [
                    "".join(p for p in parts if p) or None
                    for parts in zip(*(f[c] for c in present), strict=True)
                ]
                if present
                else None
            )
        if "village_code" in f.columns:
            codes = _codes(f["village_code"])
            for pos, c in enumerate(codes):
                if c is not None and (not _CODE_RE.match(c) or c.endswith("000")):
                    self.error(
                        pos,
                        "village_code",
                        f"malformed village code {c!r}: expected 12 digits not ending in 000",
                    )
            f["village_code"] = codes

    def _check_streets(self) -> None:
        f = self.frame
        f["name"] = [_text(v) or "" for v in f["name"]] if "name" in f.columns else ""
        if "street_class" in f.columns:
            classes = []
            for pos, v in enumerate(f["street_class"]):
                cls = street_class_of(v)
                if cls is None and _text(v) is not None:
                    self.error(
                        pos,
                        "street_class",
                        f"unknown street class {v!r}: use one of "
                        f"{', '.join(STREET_CLASSES)} or an OSM highway value",
                    )
                classes.append(cls or "street")
            f["street_class"] = classes
        else:
            f["street_class"] = "street"

    def _duplicates(self, keys: list[str | None], ours: str) -> None:
        first: dict[str, int] = {}
        for pos, k in enumerate(keys):
            if k is None:
                continue
            if k in first:
                self.error(pos, ours, f"duplicate {ours} {k} (first at row {first[k] + 1})")
            else:
                first[k] = pos


_LEVEL_ALIASES = {
    "township": "township",
    "village": "village",
    "乡镇": "township",
    "街道": "township",
    "镇": "township",
    "乡": "township",
    "乡级": "township",
    "村": "village",
    "社区": "village",
    "村级": "village",
    "村社区": "village",
}
_KIND_ALIASES = {
    "urban": "urban",
    "rural": "rural",
    "城镇": "urban",
    "城市": "urban",
    "城": "urban",
    "乡村": "rural",
    "农村": "rural",
    "乡": "rural",
}


_TYPE_IDS = {"Point": 0, "LineString": 1, "Polygon": 3, "MultiLineString": 5, "MultiPolygon": 6}


def _area_of_use(crs: CRS) -> tuple[float, float, float, float]:
    aou = crs.area_of_use
    if aou is None:
        return (-180.0, -90.0, 180.0, 90.0)
    west, south, east, north = aou.bounds
    if west > east:  # crosses the antimeridian: accept any longitude
        west, east = -180.0, 180.0
    return (west, south, east, north)


def _outside_reason(first: np.ndarray, crs: CRS, area: tuple[float, float, float, float]) -> str:
    x, y = float(first[0]), float(first[1])
    name = crs.to_string()
    where = (
        f"({x:g}, {y:g}) is outside the valid area of {name} "
        f"(lon {area[0]:g}..{area[2]:g}, lat {area[1]:g}..{area[3]:g})"
    )
    if crs.is_geographic:
        west, south, east, north = area
        if west <= y <= east and south <= x <= north:
            return where + "; latitude and longitude look swapped"
    return where


def _text(value: object) -> str | None:
    """A cell as stripped text, None when missing or blank (numbers print without ``.0``)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    return text or None


def _codes(series: pd.Series) -> list[str | None]:
    return [_text(v) for v in series]


def _kind_from_code(code: str | None) -> str | None:
    """Statistical ranges: 街道 (001-099) and 居委会/社区 (001-199) are urban, the rest rural."""
    if code is None or not _CODE_RE.match(code):
        return None
    if code.endswith("000"):
        return "urban" if code[6] == "0" else "rural"
    return "urban" if code[9] in "01" else "rural"


def _households(series: pd.Series) -> tuple[np.ndarray, list[tuple[int, str]]]:
    values = np.zeros(len(series), dtype=np.int64)
    problems: list[tuple[int, str]] = []
    for pos, v in enumerate(series):
        text = _text(v)
        if text is None:
            problems.append((pos, "missing household count"))
            continue
        try:
            number = float(text)
        except ValueError:
            problems.append((pos, f"household count {text!r} is not a number"))
            continue
        if not math.isfinite(number) or not number.is_integer():
            problems.append((pos, f"household count {text} is not a whole number"))
        elif number < 0:
            problems.append((pos, f"negative household count {int(number)}"))
        else:
            values[pos] = int(number)
    return values, problems


def _finish(kind: str, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.copy()
    if kind == "streets" and len(frame):
        parts_index = frame.index.repeat(shapely.get_num_geometries(frame.geometry.values))
        frame = gpd.GeoDataFrame(
            frame.drop(columns="geometry").loc[parts_index],
            geometry=shapely.get_parts(frame.geometry.values),
            crs=WGS84,
        )
    order = {
        "divisions": ["code", "name", "level", "parent_code", "kind"],
        "addresses": ["address_id", "households", "full_text"],
        "streets": ["name", "street_class"],
    }[kind]
    rest = [c for c in frame.columns if c not in order and c != "geometry"]
    frame = frame[[*order, *rest, "geometry"]].reset_index(drop=True)
    if kind == "addresses":
        frame["households"] = frame["households"].astype(np.int64)
    frame.attrs = {}
    return _plain_text(gpd.GeoDataFrame(frame, geometry="geometry", crs=WGS84))


def _plain_text(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Text columns as object dtype with None for missing (stable across pandas' string default)."""
    frame = frame.copy()
    for col in frame.columns:
        if col == frame.geometry.name:
            continue
        s = frame[col]
        if pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
            values = np.array(s.astype(object).to_numpy(), dtype=object)
            mask = pd.isna(values)
            values[mask] = None
            frame[col] = pd.Series(values, index=frame.index, dtype=object)
    return frame
