"""Loading frames into PostGIS and reading tables back as GeoDataFrames.

Every load is one transaction: either all rows arrive or none (a constraint failure rolls
the whole file back and is reported with the offending row).  Rows travel through
``COPY`` into a temporary staging table, which is what makes 100k addresses take about a
second instead of a minute of single INSERTs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
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


def _copy_rows(conn: Connection, staging: str, out: pd.DataFrame) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in out.itertuples(index=False, name=None):
        writer.writerow([v if _present(v) else "" for v in row])
    buffer.seek(0)
    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection always holds its DBAPI connection
    cursor = raw.cursor()
    cols = ", ".join(f'"{c}"' for c in out.columns)
    # Empty unquoted fields are NULL in CSV COPY.
    cursor.copy_expert(f'COPY "{staging}" ({cols}) FROM STDIN WITH (FORMAT csv)', buffer)


def load_frame(conn: Connection, frame: gpd.GeoDataFrame, spec: TableSpec, *, source: str = "frame") -> int:
    """Insert ``frame`` into ``spec.table`` on ``conn`` (inside the caller's transaction).

    Raises :class:`ImportRowsError` naming the rows whose key already exists in the table or
    whose values the schema rejects; the caller's transaction is then to be rolled back.
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
    conn.execute(sa.text(f'ALTER TABLE "{staging}" ADD COLUMN "__row" serial, ADD COLUMN "__wkb" text'))
    _copy_rows(conn, staging, out)
    if spec.key and spec.key in columns:
        clashes = conn.execute(
            sa.text(
                f'SELECT s."__row", s."{spec.key}" FROM "{staging}" s JOIN "{spec.table}" t USING ("{spec.key}") '
                f'ORDER BY s."__row" LIMIT 1000'
            )
        ).all()
        if clashes:
            raise ImportRowsError(
                source,
                [RowError(int(r), spec.key, f"{key!r} already exists in {spec.table}") for r, key in clashes],
            )
    # Validate geometries in the staging table and name the first offending rows.
    bad = conn.execute(
        sa.text(
            f'SELECT "__row", ST_IsValidReason(ST_GeomFromWKB(decode("__wkb", \'hex\'), 4326)) FROM "{staging}" '
            f'WHERE NOT ST_IsValid(ST_GeomFromWKB(decode("__wkb", \'hex\'), 4326)) ORDER BY "__row" LIMIT 1000'
        )
    ).all()
    if bad:
        raise ImportRowsError(source, [RowError(int(r), "geometry", str(reason)) for r, reason in bad])
    try:
        with conn.begin_nested():
            result = conn.execute(
                sa.text(
                    f'INSERT INTO "{spec.table}" ({cols}, "{spec.geometry}") '
                    f'SELECT {cols}, ST_GeomFromWKB(decode("__wkb", \'hex\'), 4326) FROM "{staging}" ORDER BY "__row"'
                )
            )
    except sa.exc.IntegrityError as exc:
        raise ImportRowsError(source, [_explain_integrity(conn, staging, spec, exc)]) from exc
    conn.execute(sa.text(f'DROP TABLE "{staging}"'))
    return int(result.rowcount)


def _explain_integrity(
    conn: Connection, staging: str, spec: TableSpec, exc: sa.exc.IntegrityError
) -> RowError:
    """Find the first staging row that violates the constraint PostgreSQL named."""
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or "constraint"
    message = str(getattr(diag, "message_primary", None) or exc.orig).strip()
    detail = getattr(diag, "message_detail", None)
    # Re-try rows one at a time to name the offender; this runs only after a failed load.
    rows = conn.execute(sa.text(f'SELECT "__row" FROM "{staging}" ORDER BY "__row"')).scalars().all()
    present = [c["name"] for c in sa.inspect(conn).get_columns(staging) if not c["name"].startswith("__")]
    names = ", ".join(f'"{c}"' for c in present)
    trial = sa.text(
        f'INSERT INTO "{spec.table}" ({names}, "{spec.geometry}") '
        f'SELECT {names}, ST_GeomFromWKB(decode("__wkb", \'hex\'), 4326) FROM "{staging}" WHERE "__row" = :r'
    )
    for row in rows:
        savepoint = conn.begin_nested()
        try:
            conn.execute(trial, {"r": row})
        except sa.exc.IntegrityError as row_exc:
            savepoint.rollback()
            row_diag = getattr(row_exc.orig, "diag", None)
            field = (
                getattr(row_diag, "column_name", None)
                or getattr(row_diag, "constraint_name", None)
                or constraint
            )
            reason = str(getattr(row_diag, "message_primary", None) or row_exc.orig).strip()
            return RowError(int(row), field, reason)
        savepoint.rollback()  # a trial only: the caller's transaction is rolled back anyway
    return RowError(0, constraint, f"{message}{'; ' + detail if detail else ''}")


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
