"""Loading frames into PostGIS and reading tables back as GeoDataFrames.

Every load is one transaction: either all rows arrive or none (a constraint failure rolls
the whole file back and is reported with the offending row).  Rows travel through
``COPY … FROM STDIN`` (CSV written by Arrow in batches) into a temporary staging table and
from there in one ``INSERT … SELECT``, which is what makes 100k addresses take about a
second instead of a minute of single INSERTs.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid.db.address_index import keys_frame
from geogrid.errors import ImportRowsError, RowError
from geogrid.frames import ADDRESS_COMPONENTS, WGS84


@dataclass(frozen=True)
class TableSpec:
    """How a frame maps onto a table: its columns, geometry column and type, unique key."""

    table: str
    columns: tuple[str, ...]
    geometry: str
    geometry_type: str
    key: str | None = None
    # JSON columns and the JSON text a missing value gets
    json_columns: tuple[tuple[str, str], ...] = ()
    # frame column name (geogrid.frames) -> table column name
    renames: tuple[tuple[str, str], ...] = ()
    # columns computed from the frame when it is loaded (e.g. the matching keys of addresses)
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None


DIVISIONS = TableSpec(
    "divisions", ("code", "name", "level", "parent_code", "kind"), "boundary", "MultiPolygon", key="code"
)
ADDRESSES = TableSpec(
    "addresses",
    ("source_id", *ADDRESS_COMPONENTS, "full_text", "households", "division_code", "grid_code"),
    "geom",
    "Point",
    key="source_id",
    renames=(("address_id", "source_id"), ("village_code", "division_code")),
    derive=keys_frame,
)
STREETS = TableSpec(
    "streets",
    ("name", "street_class", "division_code"),
    "geom",
    "LineString",
    renames=(("village_code", "division_code"),),
)
GRIDS = TableSpec(
    "grids",
    (
        "plan_id",
        "code",
        "division_code",
        "level",
        "kind",
        "name",
        "households",
        "address_count",
        "head_name",
        "head_phone",
        "workers",
        "properties",
    ),
    "geom",
    "Polygon",
    json_columns=(("workers", "[]"), ("properties", "{}")),
)
SPECS = {s.table: s for s in (DIVISIONS, ADDRESSES, STREETS, GRIDS)}


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and pd.isna(value))


def _prepare(frame: gpd.GeoDataFrame, spec: TableSpec) -> tuple[pd.DataFrame, list[str]]:
    frame = frame.rename(columns=dict(spec.renames))
    if frame.crs is not None and not frame.crs.equals(WGS84):
        frame = frame.to_crs(WGS84)
    geoms = frame.geometry.values
    if spec.geometry_type == "MultiPolygon":
        # A single Polygon boundary is stored as a one-part MultiPolygon.
        kinds = shapely.get_type_id(geoms)
        geoms = [shapely.MultiPolygon([g]) if k == 3 else g for g, k in zip(geoms, kinds, strict=True)]
    columns = [c for c in spec.columns if c in frame.columns]
    out = pd.DataFrame({c: frame[c].to_numpy() for c in columns})
    for c, empty in spec.json_columns:
        if c in out:
            # A JSON column missing on some rows arrives as NaN: give those rows the empty value.
            out[c] = [json.dumps(v, ensure_ascii=False) if _present(v) else empty for v in out[c]]
    if spec.derive is not None:
        derived = spec.derive(frame)
        for c in derived.columns:
            out[c] = derived[c].to_numpy()
        columns += list(derived.columns)
    out["__wkb"] = shapely.to_wkb(geoms, hex=True, output_dimension=2)
    return out, columns


class _CsvStream(io.RawIOBase):
    """A file-like view of CSV bytes produced batch by batch (what ``copy_expert`` reads).

    Only one batch of rows is held as CSV at a time, whatever the size of the frame.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def _arrow_column(values: pd.Series) -> pa.Array:
    """A column as Arrow values; anything Arrow cannot type by itself travels as its text."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([str(v) if _present(v) else None for v in values], type=pa.string())


def _csv_chunks(out: pd.DataFrame, batch: int) -> Iterator[bytes]:
    """CSV of ``out`` in batches, written by Arrow's C++ writer (no Python loop over rows).

    Every value is quoted and a missing value is an unquoted empty field: COPY reads the
    latter as NULL and an empty string as an empty string.
    """
    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
    for start in range(0, len(out), batch):
        part = out.iloc[start : start + batch]
        table = pa.table({str(c): _arrow_column(part[c]) for c in part.columns})
        sink = io.BytesIO()
        pacsv.write_csv(table, sink, options)
        yield sink.getvalue()


def _copy_rows(
    conn: Connection, staging: str, out: pd.DataFrame, *, source: str, batch: int = 50_000
) -> None:
    """COPY ``out`` into ``staging``; a value the column type refuses is an ImportRowsError naming its row."""
    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection always holds its DBAPI connection
    cols = ", ".join(f'"{c}"' for c in out.columns)
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(
                f'COPY "{staging}" ({cols}) FROM STDIN WITH (FORMAT csv)', _CsvStream(_csv_chunks(out, batch))
            )
    except psycopg2.DataError as exc:
        # COPY's context says "COPY _stage_addresses, line 1235, column households: ..."; line = row.
        context = getattr(exc.diag, "context", None) or ""
        where = re.search(r"line (\d+)(?:, column (\w+))?", context)
        row, column = (int(where.group(1)), where.group(2) or "") if where else (0, "")
        reason = str(exc.diag.message_primary or exc).strip()
        raise ImportRowsError(source, [RowError(row, column or "row", reason)]) from None


def _within_file_duplicates(conn: Connection, staging: str, key: str) -> list[RowError]:
    rows = conn.execute(
        sa.text(
            f'SELECT "__row", "{key}", first FROM (SELECT "__row", "{key}", '
            f'min("__row") OVER (PARTITION BY "{key}") AS first FROM "{staging}" WHERE "{key}" IS NOT NULL) s '
            f'WHERE "__row" > first ORDER BY "__row" LIMIT 1000'
        )
    ).all()
    return [RowError(int(r), key, f"{k!r} also on row {first}") for r, k, first in rows]


def _check_staging(conn: Connection, staging: str, spec: TableSpec, columns: list[str], source: str) -> None:
    """Refuse the load, naming rows, on keys that exist (in the table or earlier in the file) or bad geometry."""
    if spec.key and spec.key in columns:
        clashes = conn.execute(
            sa.text(
                f'SELECT s."__row", s."{spec.key}" FROM "{staging}" s JOIN "{spec.table}" t USING ("{spec.key}") '
                f'ORDER BY s."__row" LIMIT 1000'
            )
        ).all()
        errors = [RowError(int(r), spec.key, f"{key!r} already exists in {spec.table}") for r, key in clashes]
        errors += _within_file_duplicates(conn, staging, spec.key)
        if errors:
            raise ImportRowsError(source, sorted(errors, key=lambda e: e.row))
    bad = conn.execute(
        sa.text(
            f'SELECT "__row", ST_IsValidReason("__wkb") FROM "{staging}" '
            f'WHERE "__wkb" IS NULL OR NOT ST_IsValid("__wkb") ORDER BY "__row" LIMIT 1000'
        )
    ).all()
    if bad:
        raise ImportRowsError(
            source, [RowError(int(r), "geometry", str(reason or "no geometry")) for r, reason in bad]
        )


def load_frame(conn: Connection, frame: gpd.GeoDataFrame, spec: TableSpec, *, source: str = "frame") -> int:
    """Insert ``frame`` into ``spec.table`` on ``conn`` (inside the caller's transaction).

    Rows go by ``COPY … FROM STDIN`` (CSV streamed in batches) into a temporary staging table
    typed like the target, then in one ``INSERT … SELECT`` that builds the geometries.  Raises
    :class:`ImportRowsError` naming the rows whose key already exists (in the table or earlier
    in the frame), whose geometry is invalid or whose values the schema rejects; the caller's
    transaction is then to be rolled back, so nothing of the frame stays.
    """
    if frame.empty:
        return 0
    out, columns = _prepare(frame, spec)
    staging = f"_stage_{spec.table}"
    cols = ", ".join(f'"{c}"' for c in columns)
    # Same column types as the target but no constraints: the target checks them on insert.
    conn.execute(
        sa.text(
            f'CREATE TEMP TABLE "{staging}" ON COMMIT DROP AS SELECT {cols} FROM "{spec.table}" WITH NO DATA'
        )
    )
    # The hex WKB is parsed by COPY itself into a geometry (SRID set on insert).
    conn.execute(sa.text(f'ALTER TABLE "{staging}" ADD COLUMN "__row" serial, ADD COLUMN "__wkb" geometry'))
    _copy_rows(conn, staging, out, source=source)
    _check_staging(conn, staging, spec, columns, source)
    insert = (
        f'INSERT INTO "{spec.table}" ({cols}, "{spec.geometry}") '
        f'SELECT {cols}, ST_SetSRID("__wkb", 4326) FROM "{staging}"'
    )
    try:
        with conn.begin_nested():
            result = conn.execute(sa.text(insert + ' ORDER BY "__row"'))
    except sa.exc.DBAPIError as exc:
        raise ImportRowsError(source, [_first_refused_row(conn, staging, insert, exc)]) from exc
    conn.execute(sa.text(f'DROP TABLE "{staging}"'))
    return int(result.rowcount)


def _first_refused_row(conn: Connection, staging: str, insert: str, exc: sa.exc.DBAPIError) -> RowError:
    """The first row the target refuses, found by bisecting on prefixes of the file (only after a failure).

    A prefix that fails stays failing when it grows, so the shortest failing prefix ends at the
    culprit, also when it clashes with an earlier row: about log2(rows) trial inserts, each
    rolled back to a savepoint.
    """
    trial = sa.text(insert + ' WHERE "__row" <= :last')
    lo, hi = 1, int(conn.execute(sa.text(f'SELECT max("__row") FROM "{staging}"')).scalar_one())
    failure = exc
    while lo < hi:
        mid = (lo + hi) // 2
        savepoint = conn.begin_nested()
        try:
            conn.execute(trial, {"last": mid})
            lo = mid + 1
        except sa.exc.DBAPIError as trial_exc:
            failure, hi = trial_exc, mid
        savepoint.rollback()  # a trial only: the caller's transaction is rolled back anyway
    diag = getattr(failure.orig, "diag", None)
    field = getattr(diag, "column_name", None) or getattr(diag, "constraint_name", None) or "row"
    reason = str(getattr(diag, "message_primary", None) or failure.orig).strip()
    detail = getattr(diag, "message_detail", None)
    return RowError(lo, field, f"{reason}{'; ' + detail if detail else ''}")


def load(
    engine: Engine, table: str, frame: gpd.GeoDataFrame, *, source: str = "frame", replace: bool = False
) -> int:
    """Load ``frame`` into ``table`` all-or-nothing; ``replace`` empties the table first."""
    spec = SPECS[table]
    with engine.begin() as conn:
        if replace:
            conn.execute(sa.text(f'DELETE FROM "{table}"'))
        return load_frame(conn, frame, spec, source=source)


def read_table(
    engine: Engine | Connection,
    table: str,
    *,
    where: str | None = None,
    params: dict | None = None,
    columns: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read ``table`` (optionally filtered by a SQL ``where`` with bound ``params``) as a GeoDataFrame.

    Frames come back with the names of :mod:`geogrid.frames` (addresses: ``source_id`` →
    ``address_id``, ``division_code`` → ``village_code``) and ``geometry`` as the geometry column.
    """
    spec = SPECS[table]
    table_names = dict(spec.renames)
    columns = [table_names.get(c, c) for c in columns] if columns else None
    cols = ", ".join(f'"{c}"' for c in (columns or spec.columns))
    sql = f'SELECT {cols}, "{spec.geometry}" AS geometry FROM "{table}"'
    if where:
        sql += f" WHERE {where}"
    sql += " ORDER BY " + ('"code"' if "code" in (columns or spec.columns) else '"id"')
    frame = gpd.read_postgis(sa.text(sql), engine, geom_col="geometry", params=params or {})
    if frame.crs is None:
        frame = frame.set_crs(WGS84)
    return frame.rename(columns={table_col: frame_col for frame_col, table_col in spec.renames})
