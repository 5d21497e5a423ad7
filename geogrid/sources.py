"""Opening the files county offices have, whatever the format, as one raw table.

:func:`read_source` reads CSV/TSV, Excel (``.xlsx``, ``.xls``, ``.ods``; first sheet or
``sheet``), KML/KMZ (every ``Placemark`` with its ``ExtendedData`` fields, Chinese names kept),
Shapefile (also zipped), GeoPackage, GeoJSON, GeoParquet and anything else GDAL reads.  It
decides the text encoding first (:mod:`geogrid.encodings`) and reports which it used, and
returns the table as the file has it: source column names, source CRS, one row per record.
Checking rows, renaming fields and re-projecting are :mod:`geogrid.io`'s job.

Row ``n`` of the returned frame is the n-th record of the file: the n-th data line below a
CSV's header, the n-th row below a sheet's header, the n-th placemark of a KML, the n-th
feature of a layer.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from geogrid.encodings import (
    LDID_ENCODINGS,
    Encoding,
    check_declared,
    cpg_encoding,
    dbf_text_sample,
    detect_encoding,
    gdal_name,
    normalise_encoding,
)
from geogrid.errors import InputFileError

__all__ = ["EXCEL_SUFFIXES", "KML_SUFFIXES", "TEXT_SUFFIXES", "Source", "read_source"]

TEXT_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
KML_SUFFIXES = {".kml", ".kmz"}
PARQUET_SUFFIXES = {".parquet", ".geoparquet"}
# What a zip may hold for us (the first wins when the zip holds only one of them).
_IN_ZIP = (".shp", ".gpkg", ".geojson", ".json", ".kml", ".kmz", ".csv", ".xlsx", ".xls", ".parquet")
_ZIP_MAX_BYTES = 2 * 1024**3
_DBF_SAMPLE_BYTES = 4_000_000


@dataclass
class Source:
    """A file read as it is.

    Attributes
    ----------
    name
        The file as messages name it (``a.zip!村界.shp`` for a file inside a zip).
    frame
        The records: a GeoDataFrame when the format has geometries (``geometry`` column, the
        file's CRS or none), else a DataFrame (CSV, Excel) with coordinates in columns.
    format
        ``"CSV"``, ``"Excel"``, ``"KML"``, ``"Shapefile"``, ``"GeoPackage"``...
    encoding
        The text encoding used and how it was chosen; None where the format fixes UTF-8
        or stores typed cells (GeoPackage, GeoJSON, GeoParquet, Excel).
    malformed
        0-based rows whose geometry could not be parsed (e.g. bad KML coordinates).
    """

    name: str
    frame: pd.DataFrame
    format: str
    encoding: Encoding | None = None
    malformed: list[int] = field(default_factory=list)

    @property
    def has_geometry(self) -> bool:
        return isinstance(self.frame, gpd.GeoDataFrame) and "geometry" in self.frame.columns

    def describe(self) -> str:
        """One line for the user: format, rows, encoding.

        Examples
        --------
        >>> Source("a.csv", pd.DataFrame({"x": [1]}), "CSV", Encoding("gb18030", "detected")).describe()
        'a.csv: CSV, 1 rows, text GB18030 (GBK) (detected)'
        """
        text = f", text {self.encoding}" if self.encoding is not None else ""
        return f"{self.name}: {self.format}, {len(self.frame)} rows{text}"


def read_source(
    path: str | Path,
    *,
    layer: str | int | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> Source:
    """Read a file of any supported format as one raw table (see the module docstring).

    Parameters
    ----------
    path
        The file.  A ``.zip`` may hold one Shapefile (or GeoPackage, GeoJSON, KML, CSV,
        Excel file); ``layer`` picks one by name when it holds several.
    layer
        Layer of a GeoPackage, folder of a KML, file inside a zip.
    sheet
        Excel sheet: its name, or its 1-based number; default the first.
    encoding
        Text encoding of a CSV or a Shapefile's DBF, e.g. ``"gbk"``; default detected.

    Raises
    ------
    InputFileError
        The file is missing, unreadable, or its text encoding cannot be told.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "a.csv")
    >>> _ = open(p, "wb").write("编号,经度,纬度\\nA1,120.6,31.3\\n".encode("gbk"))
    >>> src = read_source(p)
    >>> list(src.frame.columns), str(src.encoding)
    (['编号', '经度', '纬度'], 'GB18030 (GBK) (detected)')
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    given = Encoding(normalise_encoding(encoding), "given") if encoding else None
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _read_zip(path, layer=layer, sheet=sheet, given=given)
    try:
        if suffix in TEXT_SUFFIXES:
            source = _read_csv(path, given)
        elif suffix in EXCEL_SUFFIXES:
            source = _read_excel(path, sheet)
        elif suffix in KML_SUFFIXES:
            source = _read_kml(path, layer)
        elif suffix in PARQUET_SUFFIXES:
            source = Source(str(path), gpd.read_parquet(path), "GeoParquet")
        elif suffix in (".shp", ".dbf"):
            source = _read_shapefile(path, layer, given)
        else:
            source = _read_gdal(path, layer, given)
    except (OSError, ValueError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputFileError(f"{path}: cannot read: {exc}") from exc
    source.frame = source.frame.rename(columns=lambda c: c.strip() if isinstance(c, str) else c)
    return source


# --------------------------------------------------------------------------- tables


def _read_csv(path: Path, given: Encoding | None) -> Source:
    data = path.read_bytes()
    enc = given or detect_encoding(data, what=str(path))
    try:
        text = data.decode(enc.codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n")
        where = "the header" if line == 0 else f"row {line}"
        raise InputFileError(
            f"{path}: {where} is not {enc} text (byte {data[exc.start]:#04x}); "
            "pass --encoding with the file's encoding (e.g. gbk, utf-8)"
        ) from None
    header = text.split("\n", 1)[0]
    sep = "\t" if path.suffix.lower() == ".tsv" or ("\t" in header and "," not in header) else ","
    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], sep=sep)
    return Source(str(path), table, "CSV", enc)


def _read_excel(path: Path, sheet: str | int | None) -> Source:
    book = pd.ExcelFile(path, engine="calamine")
    names = [str(n) for n in book.sheet_names]
    if sheet is None:
        chosen: str | int = 0
    elif str(sheet) in names:
        chosen = str(sheet)
    elif str(sheet).isdigit() and 1 <= int(sheet) <= len(names):
        chosen = int(sheet) - 1
    else:
        raise InputFileError(f"{path}: no sheet {sheet!r}; its sheets are {names}")
    table = pd.read_excel(book, sheet_name=chosen, dtype=object)
    table = table.dropna(how="all").reset_index(drop=True)  # blank lines below the data
    label = names[chosen] if isinstance(chosen, int) else chosen
    return Source(f"{path} (sheet {label})", table, "Excel")


# --------------------------------------------------------------------------- shapefiles and GDAL


def _sibling(path: Path, suffix: str) -> Path | None:
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.exists():
            return candidate
    return None


def shapefile_encoding(path: Path) -> Encoding:
    """The encoding of a Shapefile's DBF: ``.cpg``, then its code-page byte, then detection.

    A declared encoding that does not decode the text is refused with what it reads as.
    """
    dbf = _sibling(path, ".dbf")
    if dbf is None:
        return Encoding("utf-8", "ASCII only")
    with dbf.open("rb") as fh:
        sample, ldid = dbf_text_sample(fh.read(_DBF_SAMPLE_BYTES))
    what = f"{path} (DBF)"
    cpg = _sibling(path, ".cpg")
    declared = cpg_encoding(cpg.read_text(encoding="ascii", errors="replace")) if cpg else None
    if declared:
        return check_declared(sample, Encoding(declared, ".cpg"), what=what)
    if ldid in LDID_ENCODINGS:
        return check_declared(sample, Encoding(LDID_ENCODINGS[ldid], "code page byte"), what=what)
    return detect_encoding(sample, what=what)


def _read_shapefile(path: Path, layer: str | int | None, given: Encoding | None) -> Source:
    shp = path if path.suffix.lower() == ".shp" else (_sibling(path, ".shp") or path)
    enc = given or shapefile_encoding(shp)
    frame = pyogrio.read_dataframe(shp, layer=layer, encoding=gdal_name(enc.codec))
    return Source(str(path), frame, "Shapefile", enc)


def _read_gdal(path: Path, layer: str | int | None, given: Encoding | None) -> Source:
    kwargs = {"encoding": gdal_name(given.codec)} if given is not None else {}
    frame = pyogrio.read_dataframe(path, layer=layer, **kwargs)
    info_driver = pyogrio.read_info(path, layer=layer).get("driver") or path.suffix.lstrip(".")
    fmt = {"GPKG": "GeoPackage", "ESRI Shapefile": "Shapefile"}.get(info_driver, info_driver)
    if not isinstance(frame, gpd.GeoDataFrame):
        frame = pd.DataFrame(frame)
    return Source(str(path), frame, fmt, given)


def _read_zip(path: Path, *, layer, sheet, given: Encoding | None) -> Source:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputFileError(f"{path}: not a zip file ({exc})") from None
    with archive, tempfile.TemporaryDirectory(prefix="geogrid-zip-") as tmp:
        members = [m for m in archive.infolist() if not m.is_dir() and "__MACOSX" not in m.filename]
        if sum(m.file_size for m in members) > _ZIP_MAX_BYTES:
            raise InputFileError(f"{path}: unpacks to more than {_ZIP_MAX_BYTES >> 30} GiB; unpack it first")
        data_files = [m.filename for m in members if Path(m.filename).suffix.lower() in _IN_ZIP]
        if isinstance(layer, str) and any(Path(f).stem == layer for f in data_files):
            data_files = [f for f in data_files if Path(f).stem == layer]
            layer = None
        if len(data_files) != 1:
            found = [Path(f).stem for f in data_files]
            raise InputFileError(
                f"{path}: holds {len(found)} data files {found}; name one with --layer"
                if found
                else f"{path}: holds no Shapefile, GeoPackage, GeoJSON, KML, CSV or Excel file"
            )
        archive.extractall(tmp, members=members)
        inner = read_source(Path(tmp) / data_files[0], layer=layer, sheet=sheet, encoding=_codec(given))
    inner.name = f"{path}!{data_files[0]}"
    return inner


def _codec(enc: Encoding | None) -> str | None:
    return enc.codec if enc is not None else None


# --------------------------------------------------------------------------- KML / KMZ


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(el, name: str):
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text_of(el) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _kml_coords(text: str | None) -> list[tuple[float, float]]:
    if not text or not text.strip():
        raise ValueError("no coordinates")
    out = []
    for token in text.split():
        parts = token.split(",")
        out.append((float(parts[0]), float(parts[1])))
    return out


def _kml_geometry(el):
    """A shapely geometry of a KML geometry element (2D; altitudes dropped)."""
    name = _local(el.tag)
    if name == "Point":
        return shapely.Point(_kml_coords(_text_of(_child(el, "coordinates")))[0])
    if name in ("LineString", "LinearRing"):
        return shapely.LineString(_kml_coords(_text_of(_child(el, "coordinates"))))
    if name == "Polygon":
        rings = []
        for boundary in ("outerBoundaryIs", "innerBoundaryIs"):
            for b in (c for c in el if _local(c.tag) == boundary):
                ring = _child(b, "LinearRing")
                rings.append(_kml_coords(_text_of(_child(ring, "coordinates") if ring is not None else None)))
        if not rings:
            raise ValueError("polygon without an outer boundary")
        return shapely.Polygon(rings[0], rings[1:])
    if name == "MultiGeometry":
        parts = [_kml_geometry(c) for c in el if _local(c.tag) in _KML_GEOMETRIES]
        types = {p.geom_type for p in parts}
        if types == {"Point"}:
            return shapely.MultiPoint(parts)
        if types == {"LineString"}:
            return shapely.MultiLineString(parts)
        if types == {"Polygon"}:
            return shapely.MultiPolygon(parts)
        return shapely.GeometryCollection(parts)
    raise ValueError(f"unsupported KML geometry {name}")


_KML_GEOMETRIES = {"Point", "LineString", "LinearRing", "Polygon", "MultiGeometry"}


def _kml_bytes(path: Path) -> bytes:
    if path.suffix.lower() != ".kmz":
        return path.read_bytes()
    with zipfile.ZipFile(path) as kmz:
        names = [n for n in kmz.namelist() if n.lower().endswith(".kml")]
        if not names:
            raise InputFileError(f"{path}: a KMZ without a .kml inside")
        main = "doc.kml" if "doc.kml" in names else names[0]
        return kmz.read(main)


def _read_kml(path: Path, layer: str | int | None) -> Source:
    """Every Placemark: ``name``, ``description``, its ExtendedData fields, ``folder``, geometry."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        root = etree.fromstring(_kml_bytes(path), parser)
    except etree.XMLSyntaxError as exc:
        raise InputFileError(f"{path}: not valid KML ({exc})") from None
    rows: list[dict[str, object]] = []
    geoms: list[object] = []
    malformed: list[int] = []
    for mark in root.iter("{*}Placemark"):
        folder = next((_text_of(_child(a, "name")) for a in mark.iterancestors("{*}Folder")), None)
        if layer is not None and folder != str(layer):
            continue
        row: dict[str, object] = {"name": _text_of(_child(mark, "name"))}
        row["description"] = _text_of(_child(mark, "description"))
        extended = _child(mark, "ExtendedData")
        if extended is not None:
            for data in extended.iter("{*}Data"):
                row[str(data.get("name", "")).strip()] = _text_of(_child(data, "value"))
            for simple in extended.iter("{*}SimpleData"):
                row[str(simple.get("name", "")).strip()] = _text_of(simple)
        row["folder"] = folder
        geom_el = next((c for c in mark.iter() if _local(c.tag) in _KML_GEOMETRIES), None)
        try:
            geoms.append(None if geom_el is None else _kml_geometry(geom_el))
        except (ValueError, IndexError, shapely.errors.GEOSException):
            malformed.append(len(rows))
            geoms.append(None)
        rows.append(row)
    if layer is not None and not rows:
        raise InputFileError(f"{path}: no placemarks in a folder named {layer!r}")
    table = pd.DataFrame(rows, index=range(len(rows)), dtype=object)
    if "folder" in table.columns and table["folder"].isna().all():
        table = table.drop(columns="folder")
    table = table.replace({np.nan: None})
    frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs=CRS.from_epsg(4326))
    return Source(str(path), frame, "KMZ" if path.suffix.lower() == ".kmz" else "KML", None, malformed)


# --------------------------------------------------------------------------- plain tables


def read_table(
    source: str | Path | pd.DataFrame,
    *,
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> tuple[str, pd.DataFrame]:
    """A table without geometry (a roster, a list of departments) as text cells: ``(name, frame)``.

    Any format :func:`read_source` reads; a geometry column is dropped.  Excel keeps codes and
    phone numbers as numbers, so whole floats come back as their digits (``320508019044003.0``
    → ``"320508019044003"``) and empty cells as ``""``.  Mis-decoded text is refused: a
    mis-decoded header as :class:`~geogrid.errors.InputFileError`, mis-decoded cells as an
    :class:`~geogrid.errors.ImportRowsError` naming row and field, with the ``--encoding`` to try.
    A DataFrame is taken as it is (named ``"table"``).

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "部门.csv")
    >>> _ = open(p, "wb").write("部门编码,部门名称\\nD01,公安局\\n".encode("gbk"))
    >>> name, frame = read_table(p)
    >>> frame.to_dict("records")
    [{'部门编码': 'D01', '部门名称': '公安局'}]
    """
    from geogrid.encodings import encoding_hint, text_errors
    from geogrid.errors import ImportRowsError, RowError

    if isinstance(source, pd.DataFrame):
        return "table", source.copy()
    src = read_source(Path(source), sheet=sheet, encoding=encoding)
    raw = pd.DataFrame(src.frame).drop(columns="geometry", errors="ignore")
    raw = raw.astype(object).map(
        lambda v: "" if pd.isna(v) else str(int(v)) if isinstance(v, float) and v.is_integer() else v
    )
    bad_fields, mojibake = text_errors(raw, src.encoding.codec if src.encoding else None)
    if bad_fields:
        raise InputFileError(f"{src.name}: {bad_fields[0]}; {encoding_hint(src.encoding)}")
    if mojibake:
        hint = encoding_hint(src.encoding)
        raise ImportRowsError(src.name, [RowError(e.row, e.field, f"{e.reason}; {hint}") for e in mojibake])
    return src.name, raw
