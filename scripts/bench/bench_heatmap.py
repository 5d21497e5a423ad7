"""Benchmark the incident heatmap in PostGIS: 1M seeded incidents, H3 vs ST_HexagonGrid.

Run:  .venv/bin/python scripts/bench/bench_heatmap.py [--n 1000000] [--seed 42] [--requests 200]

1. Creates a throwaway database on the project-local cluster (or $GEOGRID_DATABASE_URL's
   server), migrates it and COPYs N seeded synthetic incidents in
   (:func:`geogrid.db.incidents.import_incidents`; clustered around 300 hot spots in a
   ~40 x 40 km city box, created over one year).
2. Times the H3 aggregation in PostGIS from the stored res-12 cells (bigint bit operations,
   ``geogrid.heat.parent_sql``) over all N incidents and over a city-sized bbox (20 x 20 km).
3. Times the same counts done the usual PostGIS way, on the fly: ``ST_HexagonGrid`` of a
   comparable cell size over the bbox, joined to the incidents with ``ST_Intersects``.
4. Times the stages of one city-bbox request in process: SQL (cell ranges on the covering
   index ``ix_incidents_heat``), GeoJSON hexagons (``cells_to_geojson``, rings cached after the
   first call) and serialisation (orjson vs json).
5. Serves the API with uvicorn on 127.0.0.1 (one worker, in this process) and measures the
   ``/heatmap`` endpoint (GeoJSON, res 8, the city bbox): a bounded number of sequential
   requests, p50/p95/max.

Prints a Markdown section for docs/BENCHMARKS.md.  Drops the database at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from geogrid import heat
from geogrid import incidents as wf
from geogrid.db import ENV_URL, default_home, make_engine, migrate
from geogrid.db import incidents as store
from geogrid.db.cluster import LocalCluster, drop_database, ensure_database
from geogrid.synthetic import hotspot_points

CITY_BBOX = (120.55, 31.20, 120.76, 31.38)  # ~20 x 20 km
# ST_HexagonGrid size is the hexagon's edge (circumradius) in metres of EPSG:3857; H3 res 8 has
# an average edge of ~461 m, which is ~540 m in Web Mercator at 31.3°N (1 / cos(lat)).
HEX_EDGE_3857 = 540.0


def synthetic(n: int, *, seed: int, catalogue: wf.Catalogue) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lon, lat = hotspot_points(n, rng=rng)
    codes = np.array(list(catalogue.categories))
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    created = pd.to_datetime(t0) + pd.to_timedelta(rng.integers(0, 365 * 24 * 3600, n), unit="s")
    return pd.DataFrame(
        {"lon": lon, "lat": lat, "category": codes[rng.integers(0, codes.size, n)], "created_at": created}
    )


def timed(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def hexgrid_counts(engine, bbox) -> int:
    sql = """
        WITH box AS (SELECT ST_Transform(ST_MakeEnvelope(:w, :s, :e, :n, 4326), 3857) AS g),
        hex AS (SELECT h.geom FROM box, ST_HexagonGrid(:size, box.g) AS h)
        SELECT count(*) FROM (
            SELECT hex.geom, count(*) AS n
            FROM hex JOIN incidents i
              ON ST_Intersects(ST_Transform(hex.geom, 4326), i.location)
            WHERE i.status <> 'merged' AND i.location && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
            GROUP BY hex.geom
        ) t
    """
    w, s, e, n = bbox
    with engine.connect() as conn:
        return int(
            conn.execute(sa.text(sql), {"w": w, "s": s, "e": e, "n": n, "size": HEX_EDGE_3857}).scalar()
        )


def serve(app) -> tuple[str, object, threading.Thread]:
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


Rows = list[tuple[str, str]]


def _load(engine, frame: pd.DataFrame, catalogue) -> Rows:
    """COPY the incidents in, then VACUUM until the heatmap's index-only scans can work."""
    n = len(frame)
    t0 = time.perf_counter()
    store.import_incidents(engine, frame, catalogue=catalogue, actor_name="bench")
    load_s = time.perf_counter() - t0
    # VACUUM, not just ANALYZE: the heatmap's index-only scans need the visibility map that a
    # fresh COPY has not got yet (autovacuum sets it a little later on a live server).  A
    # snapshot still open elsewhere in the cluster can keep VACUUM from marking the new rows
    # all-visible: repeat it a few times and report what it reached.
    t0 = time.perf_counter()
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        for _ in range(10):
            conn.execute(sa.text("VACUUM ANALYZE incidents"))
            visible = conn.execute(
                sa.text(
                    "SELECT relallvisible::float / greatest(relpages, 1) FROM pg_class "
                    "WHERE relname = 'incidents'"
                )
            ).scalar_one()
            if visible > 0.99:
                break
            time.sleep(2)
    vacuum_s = time.perf_counter() - t0
    print(f"loaded {n:,} incidents (COPY + history) in {load_s:.1f} s", flush=True)
    return [
        (
            f"load {n:,} incidents (COPY, grid placement join, {n:,} history rows)",
            f"{load_s:.1f} s (+ VACUUM ANALYZE {vacuum_s:.1f} s: {visible:.0%} of pages all-visible)",
        )
    ]


def _times(t: list[float]) -> str:
    return f"best {min(t):.3f} s, median {statistics.median(t):.3f} s"


def _whole_county(engine, n: int, repeat: int) -> Rows:
    """H3 cells of every incident at three resolutions."""
    rows = []
    for res in (7, 8, 9):
        t, df = timed(lambda r=res: store.heat_cells(engine, res=r), repeat)
        assert int(df["count"].sum()) == n
        rows.append((f"H3 in PostGIS, all {n:,} incidents, res {res} ({len(df):,} cells)", _times(t)))
    return rows


def _city(engine, frame: pd.DataFrame, repeat: int) -> Rows:
    """The city bbox the old way (GiST bitmap scan + heap) and by cell ranges, same answer."""
    city = store.Filters(bbox=heat.BBox(*CITY_BBOX))
    w, s_, e, n_ = CITY_BBOX
    in_city = int(((frame.lon >= w) & (frame.lon <= e) & (frame.lat >= s_) & (frame.lat <= n_)).sum())
    par8 = heat.parent_sql("i.h3_cell", 8)
    gist_sql = sa.text(
        f"SELECT {par8} AS cell, count(*) FROM incidents i WHERE i.status <> 'merged' "
        "AND ST_Intersects(i.location, ST_MakeEnvelope(:w, :s, :e, :n, 4326)) GROUP BY 1 ORDER BY 1"
    )
    with engine.connect() as conn:
        t, old = timed(lambda: conn.execute(gist_sql, {"w": w, "s": s_, "e": e, "n": n_}).all(), repeat)
    rows = [(f"city bbox ({in_city:,} incidents), res 8, GiST + heap (before, ST_Intersects)", _times(t))]
    for res in (7, 8, 9):
        t, df = timed(lambda r=res: store.heat_cells(engine, res=r, filters=city), repeat * 4)
        assert int(df["count"].sum()) == in_city
        if res == 8:
            assert list(zip(df["cell"].tolist(), df["count"].tolist(), strict=False)) == [
                tuple(r) for r in old
            ]
        rows.append(
            (
                f"city bbox ({in_city:,} incidents), res {res} ({len(df):,} cells), cell ranges on ix_incidents_heat",
                _times(t),
            )
        )
    return rows


def _stages(engine, repeat: int) -> Rows:
    """The stages of one request, in process: cells to GeoJSON (cold, cached rings), serialising."""
    import json

    import orjson

    city = store.Filters(bbox=heat.BBox(*CITY_BBOX))
    rows = []
    for res in (8, 9):
        df = store.heat_cells(engine, res=res, filters=city)
        heat._ring_lnglat.cache_clear()
        t_cold, _ = timed(lambda d=df: heat.cells_to_geojson(d), 1)
        t_warm, fc = timed(lambda d=df: heat.cells_to_geojson(d), repeat)
        t_json, _ = timed(lambda f=fc: json.dumps(f, ensure_ascii=False, separators=(",", ":")), repeat)
        t_or, body = timed(lambda f=fc: orjson.dumps(f), repeat)
        rows.append(
            (
                f"stages at res {res} ({len(df):,} cells, {len(body) / 1e3:,.0f} kB): "
                "cells_to_geojson cold / cached rings; json.dumps / orjson",
                f"{t_cold[0] * 1e3:.1f} / {min(t_warm) * 1e3:.1f} ms; "
                f"{min(t_json) * 1e3:.1f} / {min(t_or) * 1e3:.1f} ms",
            )
        )
    return rows


def _hexgrid(engine, repeat: int) -> Rows:
    """The PostGIS alternative: a hexagon grid intersected with the incidents."""
    t, n_hex = timed(lambda: hexgrid_counts(engine, CITY_BBOX), max(1, min(3, repeat)))
    return [
        (f"ST_HexagonGrid({HEX_EDGE_3857:.0f} m) + ST_Intersects, city bbox ({n_hex:,} hexagons)", _times(t))
    ]


def _latencies(client, path: str, n: int) -> tuple[list[float], object]:
    out, r = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return out, r


def _api(engine, url: str, requests: int) -> Rows:
    """The heatmap endpoint end to end, sequential requests, beside /ping (the framework floor)."""
    import httpx

    from api import create_app
    from api.settings import Settings

    app = create_app(Settings(database_url=url, rate_limit_per_address=0), engine=engine)
    base, server, thread = serve(app)
    query = "/heatmap?res=8&bbox=" + ",".join(map(str, CITY_BBOX))
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            _latencies(client, query, 5)  # warm up connections and caches
            lat_ms, last = _latencies(client, query, requests)
            ping, _ = _latencies(client, "/ping", requests)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    features = len(last.json()["features"])  # type: ignore[union-attr]
    q = np.percentile(lat_ms, [50, 95])
    return [
        (
            f"GET {query} ({features:,} hexagons, GeoJSON), {requests} sequential requests",
            f"p50 {q[0]:.0f} ms, p95 {q[1]:.0f} ms, max {max(lat_ms):.0f} ms",
        ),
        (
            f"GET /ping (framework floor), {requests} requests",
            f"p50 {np.percentile(ping, 50):.1f} ms, p95 {np.percentile(ping, 95):.1f} ms",
        ),
    ]


def _print(args: argparse.Namespace, rows: Rows) -> None:
    print()
    print(
        f"Command: `.venv/bin/python scripts/bench/bench_heatmap.py --n {args.n} --seed {args.seed} "
        f"--requests {args.requests}`"
    )
    print(f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}")
    print()
    print("| measurement | time |")
    print("|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    server_url = os.environ.get(ENV_URL) or LocalCluster(default_home()).start()
    name = f"geogrid_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
    ensure_database(admin, name)
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=4)
    try:
        migrate.upgrade(engine)
        catalogue = wf.load_catalogue()
        frame = synthetic(args.n, seed=args.seed, catalogue=catalogue)
        rows = _load(engine, frame, catalogue)
        rows += _whole_county(engine, args.n, args.repeat)
        rows += _city(engine, frame, args.repeat)
        rows += _stages(engine, args.repeat)
        # Cross-check with the library on the same points (bit ops in numpy).
        lib = heat.aggregate(heat.cells_for_points(frame.lon.to_numpy(), frame.lat.to_numpy()), res=8)
        assert lib["count"].tolist() == store.heat_cells(engine, res=8)["count"].tolist()
        rows += _hexgrid(engine, args.repeat)
        rows += _api(engine, url, args.requests)
    finally:
        engine.dispose()
        drop_database(admin, name)
    _print(args, rows)


if __name__ == "__main__":
    main()
