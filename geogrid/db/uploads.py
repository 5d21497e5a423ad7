"""Uploaded plans: GeoJSON or GeoPackage grids checked row by row, then saved as a draft.

A planner uploads a plan drawn elsewhere (QGIS, a notebook's partition result written to
a GeoPackage, a GeoJSON FeatureCollection).  Every row is checked before anything is
written: a bad feature is reported with its 1-based row number and reason
(:class:`~geogrid.errors.ImportRowsError`), nothing is half-saved.  Grids without a code get
new ones, numbered after every sequence their village ever used (codes are never reused).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from shapely.geometry import shape
from sqlalchemy.engine import Engine

from geogrid.codes import GRID_LEN, number_grids, parse_code
from geogrid.db.plans import published_grids, save_plan, scope_prefix
from geogrid.errors import (
    ConflictError,
    GeogridError,
    ImportRowsError,
    InvalidGeometryError,
    LimitError,
    RowError,
)
from geogrid.frames import GRID_KINDS, WGS84
from geogrid.limits import check_int, message
from geogrid.plans import SnapResult, snap_to_plan

__all__ = [
    "UploadResult",
    "infer_scope",
    "plan_frame",
    "read_plan_file",
    "read_plan_geojson",
    "snap_to_dict",
    "upload",
    "upload_plan",
]

_TEXT_FIELDS = ("code", "division_code", "name", "kind", "head_name", "head_phone")
_KNOWN = {*_TEXT_FIELDS, "level", "households", "address_count", "workers", "properties"}


def read_plan_geojson(
    document: Mapping[str, Any] | str | bytes, *, source: str = "GeoJSON"
) -> gpd.GeoDataFrame:
    """A plan frame from a GeoJSON FeatureCollection (RFC 7946: lon/lat).

    Raises
    ------
    InvalidGeometryError
        If the document is not a FeatureCollection.
    ImportRowsError
        Naming every bad feature (1-based) and why.

    Examples
    --------
    >>> doc = {"type": "FeatureCollection", "features": [{"type": "Feature",
    ...        "properties": {"code": "320508001001001", "households": 80},
    ...        "geometry": {"type": "Polygon",
    ...                     "coordinates": [[[120, 31], [120.01, 31], [120.01, 31.01], [120, 31]]]}}]}
    >>> read_plan_geojson(doc)[["code", "division_code", "level"]].values.tolist()
    [['320508001001001', '320508001001', 3]]
    """
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise InvalidGeometryError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(document, Mapping) or document.get("type") != "FeatureCollection":
        got = document.get("type") if isinstance(document, Mapping) else type(document).__name__
        raise InvalidGeometryError(f"{source}: expected a GeoJSON FeatureCollection, got {got!r}")
    feats = document.get("features")
    if not isinstance(feats, list):
        raise InvalidGeometryError(f"{source}: 'features' must be a list")
    errors: list[RowError] = []
    rows: list[dict] = []
    geoms: list = []
    for i, feature in enumerate(feats, start=1):
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            errors.append(RowError(i, "type", "not a GeoJSON Feature"))
            rows.append({})
            geoms.append(None)
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, Mapping):
            errors.append(RowError(i, "properties", "must be an object"))
            props = {}
        rows.append(dict(props))
        raw = feature.get("geometry")
        try:
            geoms.append(shape(raw) if raw else None)
        except Exception as exc:
            errors.append(RowError(i, "geometry", f"malformed GeoJSON geometry: {exc}"))
            geoms.append(None)
    frame = gpd.GeoDataFrame(pd.DataFrame(rows, index=range(len(rows))), geometry=geoms, crs=WGS84)
    return plan_frame(frame, source=source, errors=errors)


def read_plan_file(
    path: str | Path,
    *,
    layer: str | None = None,
    source: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
) -> gpd.GeoDataFrame:
    """A plan frame from any file :func:`geogrid.io.read_features` reads, in EPSG:4326.

    GeoPackage, GeoJSON, Shapefile (also zipped), KML/KMZ, GeoParquet, or CSV/Excel with a WKT
    ``geometry`` column; text encodings are detected (or ``encoding``), ``crs`` is the CRS of
    a file that declares none (also ``gcj02``/``bd09``).

    Raises
    ------
    InvalidGeometryError
        If the file cannot be read.
    ImportRowsError
        Naming every bad feature (1-based) and why.
    """
    from geogrid.errors import InputFileError
    from geogrid.io import read_features

    source = source or Path(path).name
    try:
        frame, errors = read_features(path, layer=layer, encoding=encoding, crs=crs)
    except InputFileError as exc:
        raise InvalidGeometryError(str(exc).replace(str(path), source)) from None
    return plan_frame(frame, source=source, errors=errors)


def _int(value: Any, default: int) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


#: A grid holds at most 500 households by the county rules; anything past this is a typo or an
#: attack (1e308 and 2**63 used to overflow into a 500 or a negative count).
MAX_HOUSEHOLDS = 1_000_000
#: Names, heads, phone numbers and codes of a grid.
MAX_TEXT_CHARS = 200


def _count(rec: Any, field: str, row: int, errors: list[RowError]) -> int:
    """A whole number in ``0..MAX_HOUSEHOLDS`` (missing: 0), or a row error."""
    value = rec.get(field)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    try:
        return check_int(value, field=field, lo=0, hi=MAX_HOUSEHOLDS)
    except LimitError as exc:
        errors.append(RowError(row, field, str(exc)))
        return 0


def _check_texts(rec: Any, row: int, errors: list[RowError]) -> None:
    """Text fields hold no NUL (PostgreSQL text cannot) and at most ``MAX_TEXT_CHARS``."""
    for name in _TEXT_FIELDS:
        value = rec.get(name)
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            errors.append(RowError(row, name, message("nul_char", field=name)))
        elif len(value) > MAX_TEXT_CHARS:
            errors.append(
                RowError(
                    row, name, message("text_too_long", field=name, limit=MAX_TEXT_CHARS, length=len(value))
                )
            )


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def plan_frame(
    raw: gpd.GeoDataFrame, *, source: str = "plan", errors: list[RowError] | None = None
) -> gpd.GeoDataFrame:
    """Check an EPSG:4326 frame of grids row by row and return a clean plan frame.

    Columns ``code``, ``division_code``, ``level`` (default 3), ``kind``, ``name``,
    ``households`` (default 0), ``head_name``, ``head_phone``, ``workers`` (a list) are taken
    when present; other columns go into ``properties``.  A one-part MultiPolygon becomes a
    Polygon; anything else that is not one valid polygon in lon/lat range is refused.

    Raises
    ------
    ImportRowsError
        Every bad row (1-based) with its field and reason; nothing is returned.
    """
    errors = list(errors or [])
    bad_rows = {e.row for e in errors}
    out_rows: list[dict] = []
    out_geoms: list = []
    seen: dict[str, int] = {}
    extra_columns = [c for c in raw.columns if c != raw.geometry.name and c not in _KNOWN]
    for i, (idx, geom) in enumerate(zip(raw.index, raw.geometry.values, strict=True), start=1):
        if i in bad_rows:
            continue
        rec = raw.loc[idx]
        polygon, row_errors = _checked_polygon(i, geom)
        code, division, code_errors = _checked_codes(i, rec, seen)
        fields, field_errors = _checked_fields(i, rec)
        row_errors += code_errors + field_errors
        _check_texts(rec, i, row_errors)
        if row_errors:
            errors.extend(row_errors)
            continue
        extra = {c: rec.get(c) for c in extra_columns if _jsonable(rec.get(c))}
        given = rec.get("properties")
        if isinstance(given, Mapping):
            extra = {**given, **extra}
        out_rows.append({"code": code, "division_code": division, **fields, "properties": extra})
        out_geoms.append(polygon)
    if errors:
        raise ImportRowsError(source, sorted(errors, key=lambda e: e.row))
    if not out_rows:
        raise ImportRowsError(source, [RowError(0, "features", "the plan has no grids")])
    return gpd.GeoDataFrame(pd.DataFrame(out_rows), geometry=out_geoms, crs=WGS84)


def _checked_polygon(i: int, geom) -> tuple[Any, list[RowError]]:
    """Row ``i``'s grid as one valid Polygon in lon/lat range, or the reasons it is not."""
    if geom is None or geom.is_empty:
        return None, [RowError(i, "geometry", "missing or empty geometry")]
    if geom.geom_type == "MultiPolygon" and len(geom.geoms) > 1:
        return None, [
            RowError(i, "geometry", f"multipart grid ({len(geom.geoms)} parts); a grid is one polygon")
        ]
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return None, [RowError(i, "geometry", f"{geom.geom_type} is not a polygon")]
    polygon = geom.geoms[0] if geom.geom_type == "MultiPolygon" else geom
    minx, miny, maxx, maxy = polygon.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        hint = " (swapped lat/lon?)" if minx >= -90 and maxx <= 90 and miny >= -180 and maxy <= 180 else ""
        reason = f"coordinates {polygon.bounds} are not lon/lat degrees{hint}; GeoJSON is lon/lat"
        return None, [RowError(i, "geometry", reason)]
    if not polygon.is_valid:
        return None, [RowError(i, "geometry", f"invalid polygon: {shapely.is_valid_reason(polygon)}")]
    return polygon, []


def _checked_codes(i: int, rec, seen: dict[str, int]) -> tuple[str | None, str | None, list[RowError]]:
    """Row ``i``'s grid code and village code (from the code when missing), or the reasons they are bad."""
    code = _text(rec.get("code"))
    division = _text(rec.get("division_code"))
    errors: list[RowError] = []
    if code is not None:
        try:
            level_of_code = parse_code(code).level
        except GeogridError as exc:
            errors.append(RowError(i, "code", str(exc)))
        else:
            if level_of_code not in ("grid", "subgrid"):
                errors.append(RowError(i, "code", f"{code} is a {level_of_code} code, not a grid code"))
            elif division is not None and division != code[:12]:
                errors.append(RowError(i, "division_code", f"{division} does not match code {code}"))
            division = division or code[:12]
            if code in seen:
                errors.append(RowError(i, "code", f"{code} already used by row {seen[code]}"))
            seen.setdefault(code, i)
    elif division is None:
        errors.append(RowError(i, "code", "a grid needs a code or at least a division_code"))
    else:
        try:
            if parse_code(division).level != "village":
                errors.append(RowError(i, "division_code", f"{division} is not a village code"))
        except GeogridError as exc:
            errors.append(RowError(i, "division_code", str(exc)))
    return code, division, errors


def _checked_fields(i: int, rec) -> tuple[dict, list[RowError]]:
    """Row ``i``'s level, kind, name, households, counts and staff, or the reasons they are bad."""
    errors: list[RowError] = []
    level = _int(rec.get("level"), 3)
    if level is None or level not in (1, 2, 3):
        errors.append(RowError(i, "level", f"must be 1, 2 or 3, got {rec.get('level')!r}"))
    households = _count(rec, "households", i, errors)
    kind = _text(rec.get("kind"))
    if kind is not None and kind not in GRID_KINDS:
        errors.append(RowError(i, "kind", f"must be one of {list(GRID_KINDS)}, got {kind!r}"))
    workers = rec.get("workers")
    if isinstance(workers, str):
        try:
            workers = json.loads(workers)
        except ValueError:
            workers = [workers]
    if workers is None or (isinstance(workers, float) and math.isnan(workers)):
        workers = []
    if not isinstance(workers, list):
        errors.append(RowError(i, "workers", "must be a list of {name, phone} objects"))
    fields = {
        "level": level,
        "kind": kind,
        "name": _text(rec.get("name")),
        "households": households,
        "address_count": _count(rec, "address_count", i, errors),
        "head_name": _text(rec.get("head_name")),
        "head_phone": _text(rec.get("head_phone")),
        "workers": workers,
    }
    return fields, errors


def _jsonable(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def infer_scope(frame: gpd.GeoDataFrame) -> str:
    """The smallest division containing every grid: a village, township or county code.

    Examples
    --------
    >>> import geopandas as gpd
    >>> infer_scope(gpd.GeoDataFrame({"division_code": ["320508001001", "320508001002"]}))
    '320508001000'
    """
    divisions = sorted(set(frame["division_code"]))
    if len(divisions) == 1:
        return divisions[0]
    if len({d[:9] for d in divisions}) == 1:
        return divisions[0][:9] + "000"
    if len({d[:6] for d in divisions}) == 1:
        return divisions[0][:6] + "000000"
    raise GeogridError(
        f"the grids span several counties ({sorted({d[:6] for d in divisions})}); upload one county at a time"
    )


def _number_missing(engine: Engine, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Give code-less grids new codes after every sequence their village ever used."""
    missing = frame["code"].isna()
    if not missing.any():
        return frame
    parts = [frame[~missing]]
    with engine.connect() as conn:
        for village, group in frame[missing].groupby("division_code"):
            used = conn.execute(
                sa.text(
                    "SELECT coalesce(max(substr(code, 13, 3)::int), 0) FROM grids "
                    "WHERE division_code = :v AND length(code) = :n"
                ),
                {"v": village, "n": GRID_LEN},
            ).scalar_one()
            taken = [
                int(c[12:15])
                for c in frame.loc[~missing & (frame["division_code"] == village), "code"]
                if len(c) == GRID_LEN
            ]
            start = max([used, *taken]) + 1
            parts.append(number_grids(group, village, start=start))
    out = pd.concat(parts)
    return gpd.GeoDataFrame(out, geometry=out.geometry.name, crs=WGS84).reset_index(drop=True)


def upload_plan(
    engine: Engine,
    frame: gpd.GeoDataFrame,
    *,
    scope_code: str | None = None,
    author: str | None = None,
    note: str | None = None,
) -> int:
    """Save a checked plan frame (:func:`plan_frame`) as a draft of ``scope_code``; its id.

    ``scope_code`` defaults to the smallest division containing every grid; a given scope
    must contain them all.  Code-less grids are numbered first.

    Raises
    ------
    GeogridError
        If a grid lies outside the scope.
    ImportRowsError
        If the database refuses rows (e.g. an unknown division code).
    """
    scope = scope_code or infer_scope(frame)
    kind = parse_code(scope).level
    if kind not in ("county", "township", "village"):
        raise GeogridError(f"scope {scope} must be a division code (county, township or village)")
    prefix = scope_prefix(scope)
    outside = [c for c in frame["division_code"] if not str(c).startswith(prefix)]
    if outside:
        raise GeogridError(f"{len(outside)} grid(s) lie outside scope {scope}, e.g. in division {outside[0]}")
    with engine.connect() as conn:
        known = set(
            conn.execute(
                sa.text("SELECT code FROM divisions WHERE level = 'village' AND code = ANY(:c)"),
                {"c": sorted(set(frame["division_code"]))},
            ).scalars()
        )
    unknown = [
        RowError(i + 1, "division_code", f"{code} is not a stored village; load the divisions first")
        for i, code in enumerate(frame["division_code"])
        if code not in known
    ]
    if unknown:
        raise ImportRowsError(f"plan for {scope}", unknown)
    frame = _number_missing(engine, frame)
    frame["households"] = np.asarray(frame["households"], dtype=int)
    return save_plan(engine, frame, scope_code=scope, author=author, note=note)


@dataclass
class UploadResult:
    """The draft saved from an upload, and the snapping applied first (None when not asked)."""

    plan_id: int
    snap: SnapResult | None = None


def upload(
    engine: Engine,
    frame: gpd.GeoDataFrame,
    *,
    scope_code: str | None = None,
    author: str | None = None,
    note: str | None = None,
    snap_m: float | None = None,
) -> UploadResult:
    """:func:`upload_plan`, after snapping the grids onto the published plan's edges when ``snap_m`` is given.

    A plan edited in desktop GIS comes back with coordinates rounded (to 1 cm, or 7
    decimals): ``snap_m`` (metres) puts every vertex within that distance back onto the
    published grids' vertices and edges (:func:`geogrid.plans.snap_to_plan`), and the result
    says how far each vertex moved.

    Examples
    --------
    >>> done = upload(engine, read_plan_file("edited_in_qgis.gpkg"), snap_m=0.05)   # doctest: +SKIP
    >>> done.plan_id, round(done.snap.max_moved_m, 3)                                # doctest: +SKIP
    (7, 0.007)

    Raises
    ------
    ConflictError
        ``snap_m`` is given but nothing is published in the scope to snap to.
    """
    snap = None
    if snap_m is not None:
        scope = scope_code or infer_scope(frame)
        published, _ = published_grids(engine, scope)
        if published.empty:
            raise ConflictError(f"nothing is published in scope {scope} to snap the upload to")
        snap = snap_to_plan(frame, published, tolerance_m=snap_m)
        frame = snap.plan
    plan_id = upload_plan(engine, frame, scope_code=scope_code, author=author, note=note)
    return UploadResult(plan_id, snap)


def snap_to_dict(snap: SnapResult, *, max_vertices: int = 1000) -> dict:
    """How far the vertices of an upload moved when snapped, as JSON-ready data."""
    moves = snap.moves
    return {
        "tolerance_m": snap.tolerance_m,
        "vertices_moved": len(moves),
        "max_moved_m": round(snap.max_moved_m, 4),
        "grids": [
            {
                "code": r.code,
                "vertices_moved": int(r.vertices_moved),
                "max_moved_m": round(float(r.max_moved_m), 4),
            }
            for r in snap.per_grid.itertuples()
        ],
        "vertices": [
            {k: (round(v, 7) if isinstance(v, float) else v) for k, v in row.items()}
            for row in moves.head(max_vertices).to_dict("records")
        ],
        "unsnapped": list(snap.unsnapped),
        "truncated": len(moves) > max_vertices,
    }
