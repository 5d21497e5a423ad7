"""Incidents at province scale: 20M+ synthetic incidents in the monthly partitions of migration 0013.

A fresh database on the project-local cluster gets the whole schema; ``--n`` seeded incidents
(default 20,000,000, spread over ``--months`` months in time order, 8,000 villages of 100
counties, 12 grids each) are COPYed into ``incidents`` in chunks of 1M rows, through the
partition routing and the ``incidents_register`` trigger (each id written to ``incident_ids``),
with the plain indexes and foreign keys dropped during the load and built afterwards.  Then
``--plain`` copies the same rows into a plain table ``plain.incidents`` with the same indexes
(``INSERT ... SELECT``), and the same library calls run against both (the plain one through
``search_path = plain, public``):

- heatmap of a county bbox for one month (``heat_cells``, res 8),
- statistics by village of a county for one month (``statistics``),
- the listing of a grid's incidents, newest first (``list_incidents`` as that grid's worker),
- the point lookup of one incident by public id (``get``),

each ``--repeat`` times on random counties/months/grids/ids (same draws for both tables),
with ``EXPLAIN`` of the monthly statistics showing the partitions read.  The database is
dropped at the end unless ``--keep``.

    .venv/bin/python scripts/bench/bench_incidents_scale.py --n 20000000 --plain
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from geogrid import heat
from geogrid import incidents as wf
from geogrid.catalogue import load_catalogue
from geogrid.db import ENV_URL, default_home, make_engine, migrate
from geogrid.db import incidents as store
from geogrid.db.cluster import LocalCluster, drop_database, ensure_database

DB = os.environ.get("GEOGRID_BENCH_DB", "geogrid_bench_incidents")
CHUNK = 1_000_000
COUNTIES, TOWNSHIPS, VILLAGES, GRIDS = 100, 10, 8, 12
BOX = (116.0, 30.0, 121.0, 34.0)  # a province-sized box; counties on a 10 × 10 lattice
T0 = datetime(2025, 1, 1, tzinfo=UTC)
_COLUMNS = (
    "category_major, category_minor, description, source, status, level, location, h3_cell, grid_code, "
    "village_code, township_code, accept_due, complete_due, accepted_at, resolved_at, closed_at, "
    "created_at, updated_at"
)


def server_url() -> str:
    url = os.environ.get(ENV_URL) or LocalCluster(default_home()).start()
    return url


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def county_codes() -> list[str]:
    return [f"32{c // 10 + 1:02d}{c % 10 + 1:02d}" for c in range(COUNTIES)]


def county_bbox(c: int) -> tuple[float, float, float, float]:
    w = BOX[0] + (c % 10) * (BOX[2] - BOX[0]) / 10
    s = BOX[1] + (c // 10) * (BOX[3] - BOX[1]) / 10
    return (w, s, w + (BOX[2] - BOX[0]) / 10, s + (BOX[3] - BOX[1]) / 10)


def _iso(seconds: np.ndarray) -> np.ndarray:
    stamps = (np.datetime64(T0.replace(tzinfo=None), "s") + seconds.astype("timedelta64[s]")).astype(
        "datetime64[s]"
    )
    return np.char.add(np.datetime_as_string(stamps, unit="s"), "Z")


def _maybe(seconds: np.ndarray, present: np.ndarray) -> pa.Array:
    return pa.array(np.where(present, _iso(seconds), None))


def chunk(rng: np.random.Generator, start: int, n: int, total: int, span_s: int, cats: list) -> pa.Table:
    """Rows ``start .. start + n`` of ``total`` (created in time order), as COPY columns."""
    created = ((start + np.arange(n)) * (span_s / total)).astype(np.int64)
    county = rng.integers(0, COUNTIES, n)
    town, village, grid = (
        rng.integers(0, TOWNSHIPS, n),
        rng.integers(0, VILLAGES, n),
        rng.integers(0, GRIDS, n),
    )
    w, s = BOX[0] + (county % 10) * 0.5, BOX[1] + (county // 10) * 0.4
    lon = w + (town * VILLAGES + village + rng.random(n)) * (0.5 / (TOWNSHIPS * VILLAGES))
    lat = s + (grid + rng.random(n)) * (0.4 / GRIDS)
    codes = np.array(county_codes())[county]
    township = np.char.add(np.char.add(codes, np.char.zfill((town + 1).astype(str), 3)), "000")
    village_code = np.char.add(
        np.char.add(codes, np.char.zfill((town + 1).astype(str), 3)),
        np.char.zfill((village + 200).astype(str), 3),
    )
    cat = rng.integers(0, len(cats), n)
    roll = rng.random(n)
    closed, accepted = roll < 0.85, roll < 0.95
    accept_h = np.array([c.accept_hours for c in cats])[cat] * 3600
    complete_h = np.array([c.complete_hours for c in cats])[cat] * 3600
    acc_at = created + (rng.random(n) * 1.3 * accept_h).astype(np.int64)
    res_at = acc_at + (rng.random(n) * 1.2 * complete_h).astype(np.int64)
    points = shapely.set_srid(shapely.points(lon, lat), 4326)
    return pa.table(
        {
            "category_major": np.array([c.major_code for c in cats])[cat],
            "category_minor": np.array([c.code for c in cats])[cat],
            "description": np.full(n, ""),
            "source": np.array(wf.SOURCES)[rng.integers(0, len(wf.SOURCES), n)],
            "status": np.where(closed, "closed", np.where(accepted, "in_progress", "reported")),
            "level": np.full(n, "grid"),
            "location": shapely.to_wkb(points, hex=True, include_srid=True),
            "h3_cell": heat.cells_for_points(lon, lat, res=heat.STORED_RES),
            "grid_code": np.char.add(village_code, np.char.zfill((grid + 1).astype(str), 3)),
            "village_code": village_code,
            "township_code": township,
            "accept_due": _iso(created + accept_h.astype(np.int64)),
            "complete_due": _iso(created + complete_h.astype(np.int64)),
            "accepted_at": _maybe(acc_at, accepted),
            "resolved_at": _maybe(res_at, closed),
            "closed_at": _maybe(res_at + 3600, closed),
            "created_at": _iso(created),
            "updated_at": _iso(np.where(closed, res_at + 3600, created)),
        }
    )


def _copy(engine: sa.Engine, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(
                f"COPY incidents ({_COLUMNS}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (description))",
                buffer,
            )
        raw.commit()
    finally:
        raw.close()


def _index_defs(conn: sa.Connection, table: str) -> list[str]:
    return [
        d
        for (d,) in conn.execute(
            sa.text(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = CAST(:t AS regclass) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1"
            ),
            {"t": table},
        )
    ]


_CONSTRAINTS = [
    ("incidents_pkey", "PRIMARY KEY (id, created_at)"),
    ("incidents_id_fkey", "FOREIGN KEY (id) REFERENCES incident_ids (id)"),
    ("incidents_merged_into_fkey", "FOREIGN KEY (merged_into) REFERENCES incident_ids (id)"),
]


def load(engine: sa.Engine, n: int, months: int, seed: int) -> dict[str, float]:
    """COPY ``n`` incidents in chunks; indexes and keys built afterwards.  Timings per step."""
    catalogue = load_catalogue()
    cats = list(catalogue)
    span_s = int(
        (
            np.datetime64("2025-01-01")
            + np.timedelta64(months, "M").astype("timedelta64[D]")
            - np.datetime64("2025-01-01")
        )
        / np.timedelta64(1, "s")
    )
    span_s = months * 30 * 86400 if span_s <= 0 else span_s
    with engine.begin() as conn:
        conn.execute(
            sa.text("SELECT incidents_ensure_months(:a, :b)"),
            {"a": T0, "b": datetime.fromtimestamp(T0.timestamp() + span_s, UTC)},
        )
        defs = _index_defs(conn, "incidents")
        for d in defs:
            conn.execute(sa.text("DROP INDEX " + d.split(" ")[2]))
        for name, _ in reversed(_CONSTRAINTS):
            conn.execute(sa.text(f"ALTER TABLE incidents DROP CONSTRAINT {name}"))
    rng = np.random.default_rng(seed)
    times: dict[str, float] = {"generate": 0.0, "copy": 0.0}
    for start in range(0, n, CHUNK):
        t0 = time.perf_counter()
        table = chunk(rng, start, min(CHUNK, n - start), n, span_s, cats)
        t1 = time.perf_counter()
        _copy(engine, table)
        times["generate"] += t1 - t0
        times["copy"] += time.perf_counter() - t1
        print(
            f"  {start + len(table):,} rows: copy {times['copy']:.0f} s, generate {times['generate']:.0f} s",
            flush=True,
        )
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for name, definition in _CONSTRAINTS:
            conn.execute(sa.text(f"ALTER TABLE incidents ADD CONSTRAINT {name} {definition}"))
    times["keys"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for d in defs:
            conn.execute(sa.text(d.replace(" ON ONLY ", " ON ")))
    times["indexes"] = time.perf_counter() - t0
    times["vacuum"] = vacuum(engine, "incidents")
    return times


def vacuum(engine: sa.Engine, table: str) -> float:
    t0 = time.perf_counter()
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
    return time.perf_counter() - t0


def copy_plain(engine: sa.Engine) -> dict[str, float]:
    """The same rows in ``plain.incidents``: one table, the same indexes, id as primary key."""
    t0 = time.perf_counter()
    with engine.begin() as conn:
        defs = _index_defs(conn, "incidents")
        conn.execute(sa.text("CREATE SCHEMA plain"))
        conn.execute(
            sa.text(
                "CREATE TABLE plain.incidents (LIKE public.incidents INCLUDING DEFAULTS "
                "INCLUDING GENERATED INCLUDING CONSTRAINTS)"
            )
        )
        cols = ", ".join(
            c
            for (c,) in conn.execute(
                sa.text(
                    "SELECT attname FROM pg_attribute WHERE attrelid = 'public.incidents'::regclass AND attnum > 0 "
                    "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
                )
            )
        )
        conn.execute(
            sa.text(
                f"INSERT INTO plain.incidents ({cols}) SELECT {cols} FROM public.incidents "
                "ORDER BY created_at, id"
            )
        )
    copied = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE plain.incidents ADD PRIMARY KEY (id)"))
        for d in defs:
            conn.execute(sa.text(d.replace(" ON ONLY public.incidents", " ON plain.incidents")))
    return {"copy": copied, "indexes": time.perf_counter() - t0, "vacuum": vacuum(engine, "plain.incidents")}


def sizes(engine: sa.Engine, schema: str) -> dict[str, int]:
    """Heap and index bytes of ``schema.incidents`` and its partitions, and of the registry."""
    sql = """
        SELECT coalesce(sum(pg_table_size(r.relid)), 0), coalesce(sum(pg_indexes_size(r.relid)), 0)
        FROM (SELECT relid FROM pg_partition_tree(CAST(:t AS regclass))
              UNION SELECT CAST(:t AS regclass)) r
    """
    with engine.connect() as conn:
        heap, idx = conn.execute(sa.text(sql), {"t": f"{schema}.incidents"}).one()
        out = {"heap": int(heap), "indexes": int(idx)}
        if schema == "public":
            out["registry"] = int(
                conn.execute(sa.text("SELECT pg_total_relation_size('incident_ids')")).scalar_one()
            )
    return out


def timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    times = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))], "max": times[-1]}


def month_range(m: int) -> tuple[datetime, datetime]:
    """The m-th month (0 = January 2025) in China Standard Time, as UTC instants."""
    from zoneinfo import ZoneInfo

    cst = ZoneInfo("Asia/Shanghai")
    lo = datetime(2025 + m // 12, m % 12 + 1, 1, tzinfo=cst)
    hi = datetime(2025 + (m + 1) // 12, (m + 1) % 12 + 1, 1, tzinfo=cst)
    return lo, hi


def workload(months: int, repeat: int, seed: int, max_id: int) -> dict[str, list[tuple]]:
    """The same random draws for every table: counties, months, grids, ids."""
    rng = np.random.default_rng(seed + 1)
    codes = county_codes()
    out: dict[str, list[tuple]] = {"heatmap": [], "stats": [], "listing": [], "lookup": []}
    for _ in range(repeat):
        c, m = int(rng.integers(COUNTIES)), int(rng.integers(months))
        out["heatmap"].append((county_bbox(c), month_range(m)))
        out["stats"].append((codes[c], month_range(int(rng.integers(months)))))
        grid = (
            f"{codes[c]}{int(rng.integers(TOWNSHIPS)) + 1:03d}{int(rng.integers(VILLAGES)) + 200:03d}"
            f"{int(rng.integers(GRIDS)) + 1:03d}"
        )
        out["listing"].append((grid,))
        out["lookup"].append((f"E{int(rng.integers(1, max_id + 1)):08d}",))
    return out


def measure(engine: sa.Engine, draws: dict[str, list[tuple]]) -> dict[str, dict[str, float]]:
    from geogrid.coords import BBox

    filters = store.Filters
    now = datetime.now(UTC)
    return {
        "heatmap": timed(
            [
                (
                    lambda b=b, r=r: store.heat_cells(
                        engine, res=8, filters=filters(bbox=BBox(*b), date_from=r[0], date_to=r[1])
                    )
                )
                for b, r in draws["heatmap"]
            ]
        ),
        "stats": timed(
            [
                (
                    lambda d=d, r=r: store.statistics(
                        engine,
                        group_by="village",
                        now=now,
                        filters=filters(division=d, date_from=r[0], date_to=r[1]),
                    )
                )
                for d, r in draws["stats"]
            ]
        ),
        "listing": timed(
            [
                (
                    lambda g=g: store.list_incidents(
                        engine,
                        actor=wf.Actor("bench", "worker", {"grid_codes": [g]}),
                        filters=filters(grid_code=g),
                        limit=20,
                        now=now,
                    )
                )
                for (g,) in draws["listing"]
            ]
        ),
        "lookup": timed([(lambda p=p: store.get(engine, p, now=now)) for (p,) in draws["lookup"]]),
    }


def explain_month(engine: sa.Engine) -> str:
    lo, hi = month_range(5)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "EXPLAIN SELECT village_code, count(*) FROM incidents i WHERE i.status <> 'merged' "
                "AND i.created_at >= :lo AND i.created_at < :hi GROUP BY 1"
            ),
            {"lo": lo, "hi": hi},
        ).all()
    return "\n".join(r[0] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--plain", action="store_true", help="also copy the rows into a plain table and compare")
    ap.add_argument("--keep", action="store_true", help="keep the database")
    ap.add_argument(
        "--measure-only", action="store_true", help="measure a database kept by an earlier --keep run"
    )
    args = ap.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
        f"load average {os.getloadavg()}",
        flush=True,
    )
    server = server_url()
    admin = _with_db(server, "postgres")
    url = _with_db(server, DB)
    if not args.measure_only:
        drop_database(admin, DB)
        ensure_database(admin, DB)
    try:
        if not args.measure_only:
            load_all(url, args)
        compare(url, args)
    finally:
        if not args.keep:
            drop_database(admin, DB)


def load_all(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    print("load (partitioned):", load(engine, args.n, args.months, args.seed), flush=True)
    print("sizes (partitioned):", sizes(engine, "public"), flush=True)
    if args.plain:
        print("copy (plain):", copy_plain(engine), flush=True)
        print("sizes (plain):", sizes(engine, "plain"), flush=True)
    engine.dispose()


def compare(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    print("EXPLAIN of a month's counts by village:\n" + explain_month(engine), flush=True)
    draws = workload(args.months, args.repeat, args.seed, args.n)
    tables = {"partitioned": engine}
    if args.plain:
        tables["plain"] = make_engine(url, connect_args={"options": "-csearch_path=plain,public"})
    results: dict[str, dict] = {name: {} for name in tables}
    for round_ in range(2):  # alternating, so a busy minute on the machine hits both
        for name, eng in tables.items() if round_ == 0 else reversed(tables.items()):
            results[name][round_] = measure(eng, draws)
            print(
                f"round {round_ + 1} {name}: "
                + ", ".join(
                    f"{q} p50 {v['p50']:.1f} / p95 {v['p95']:.1f} ms"
                    for q, v in results[name][round_].items()
                ),
                flush=True,
            )
    print(f"load average at the end {os.getloadavg()}", flush=True)
    for eng in tables.values():
        eng.dispose()


if __name__ == "__main__":
    main()
