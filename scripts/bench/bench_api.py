"""Benchmark the grid service API on loopback, side by side in one run.

    .venv/bin/python scripts/bench/bench_api.py [--households 100000] [--seed 0]
        [--duration 10] [--connections 32] [--rebuild]

1. A database ``geogrid_bench_api`` on the local cluster gets a seeded synthetic county
   (:func:`geogrid.synthetic.make_county`), partitioned by :func:`geogrid.county.partition_county`
   and published as one plan (kept between runs; ``--rebuild`` starts over).
2. Each server runs alone (uvicorn, 1 worker, uvloop + httptools, no access log, 127.0.0.1)
   while ``wrk`` (1 thread, ``--connections`` connections, ``--duration`` s, a Lua script
   cycling through a fixed request list) measures it:

   - our app, tile cache off: ``/ping`` (the framework floor), ``/lookup`` over 2,000 address
     points of the county, ``/ping`` and ``/lookup`` again (drift check), uncached grid tiles
     over every z12–z15 tile of the county;
   - tipg 1.x (``uvicorn tipg.main:app``) serving the same ``grids`` table with the same
     properties and tile buffer, over the same tile list;
   - our app with its tile cache on, after one warm pass: cached tiles (also over 4
     connections, to show the service time without queueing).

Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from geogrid.db import database_url, make_engine, migrate
from geogrid.db.cluster import ensure_database

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DBNAME = "geogrid_bench_api"
COUNTY = "320508"
PORT_OURS, PORT_TIPG = 18731, 18732
LUA = r"""
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%f %%f %%f\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def bench_url() -> str:
    server = database_url()
    admin = make_url(server).set(database="postgres").render_as_string(hide_password=False)
    ensure_database(admin, DBNAME)
    return make_url(server).set(database=DBNAME).render_as_string(hide_password=False)


def prepare(url: str, *, households: int, seed: int, rebuild: bool) -> dict:
    """Load and publish the synthetic county unless it is already there."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        ready = conn.execute(sa.text("SELECT count(*) FROM plans WHERE status = 'published'")).scalar()
    if rebuild or not ready:
        from geogrid.county import partition_county
        from geogrid.db import store
        from geogrid.db.plans import publish_plan, save_plan
        from geogrid.synthetic import make_county

        t0 = time.perf_counter()
        county = make_county(households=households, seed=seed, county_code=COUNTY)
        with engine.begin() as conn:
            conn.execute(
                sa.text("TRUNCATE grids, plans, addresses, streets, divisions RESTART IDENTITY CASCADE")
            )
        divisions = county.divisions.drop(columns=["households"])
        store.load(engine, "divisions", divisions)
        addresses = county.addresses.rename(columns={"village_code": "division_code"}).drop(
            columns=["building_id"]
        )
        store.load(engine, "addresses", addresses)
        streets = county.streets.drop(columns=["street_id"])
        store.load(engine, "streets", streets)
        result = partition_county(
            county.divisions,
            county.addresses,
            county.streets,
            scheduler="synchronous",
            progress=False,
            seed=seed,
        )
        grids = result.grids.copy()
        # The partition engine may return a self-intersecting ring (reported to its owner);
        # the bench repairs those few by buffer(0), keeping the largest part.
        bad = ~grids.geometry.is_valid
        repaired = [
            max(getattr(g, "geoms", [g]), key=lambda p: p.area) for g in grids.geometry[bad].buffer(0)
        ]
        grids.loc[bad, "geometry"] = repaired
        print(f"# repaired {int(bad.sum())} invalid grid geometries", file=sys.stderr)
        plan_id = save_plan(engine, grids, scope_code=COUNTY + "000000", author="bench")
        publish_plan(engine, plan_id)
        print(f"# loaded and partitioned the county in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
    with engine.connect() as conn:
        stats = dict(
            conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM grids) AS grids, "
                    "(SELECT count(*) FROM addresses) AS addresses, "
                    "(SELECT sum(households) FROM addresses) AS households, "
                    "(SELECT count(*) FROM divisions WHERE level = 'village') AS villages"
                )
            )
            .mappings()
            .one()
        )
        points = conn.execute(
            sa.text("SELECT ST_X(geom), ST_Y(geom) FROM addresses ORDER BY md5(id::text) LIMIT 2000")
        ).all()
        extent = conn.execute(
            sa.text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geom) e FROM grids) s"
            )
        ).one()
    engine.dispose()
    return {"stats": stats, "points": points, "extent": extent}


def tiles_covering(extent, zooms) -> list[tuple[int, int, int]]:
    west, south, east, north = extent

    def tile(lon: float, lat: float, z: int) -> tuple[int, int]:
        n = 1 << z
        rad = math.radians(lat)
        return int((lon + 180) / 360 * n), int(
            (1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2 * n
        )

    out = []
    for z in zooms:
        x0, y0 = tile(west, north, z)
        x1, y1 = tile(east, south, z)
        out += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return out


class Server:
    """A uvicorn server process of ours or tipg's, started and stopped by this script only."""

    def __init__(self, app: str, port: int, env: dict, *, factory: bool, cwd: Path) -> None:
        cmd = [
            str(VENV_BIN / "uvicorn"),
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        if factory:
            cmd.append("--factory")
        self.port = port
        self.proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=cwd)

    def wait(self, path: str) -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server on port {self.port} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def wrk(port: int, paths: list[str], *, duration: int, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA % ", ".join(f'"{p}"' for p in paths))
        script = f.name
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", script, f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script)
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if m is None:
        raise RuntimeError(out)
    n, dur_us, sock_err, status_err = (int(m.group(i)) for i in range(1, 5))
    p50, p95, p99 = (float(m.group(i)) / 1000 for i in range(5, 8))
    return {
        "rps": n / (dur_us / 1e6),
        "requests": n,
        "errors": sock_err + status_err,
        "p50": p50,
        "p95": p95,
        "p99": p99,
    }


def warm(port: int, paths: list[str]) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for p in paths:
            client.get(p).raise_for_status()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()

    url = bench_url()
    data = prepare(url, households=args.households, seed=args.seed, rebuild=args.rebuild)
    lookups = [f"/lookup?lon={x:.7f}&lat={y:.7f}" for x, y in data["points"]]
    tiles = tiles_covering(data["extent"], range(12, 16))
    ours_tiles = [f"/collections/grids/tiles/WebMercatorQuad/{z}/{x}/{y}" for z, x, y in tiles]
    props = "properties=code,name,households,level,kind"
    tipg_tiles = [f"/collections/public.grids/tiles/WebMercatorQuad/{z}/{x}/{y}?{props}" for z, x, y in tiles]
    run = {"duration": args.duration, "connections": args.connections}
    rows: list[tuple[str, dict]] = []
    workdir = Path(tempfile.mkdtemp(prefix="geogrid-bench-"))  # no stray .env for tipg

    ours_env = {"GEOGRID_DATABASE_URL": url, "GEOGRID_TILE_CACHE_ENTRIES": "0", "PYTHONPATH": str(REPO)}
    # wrk from one address asks thousands of times a second: no rate limits in a benchmark.
    ours_env |= {"GEOGRID_RATE_LIMIT_PER_ADDRESS": "0", "GEOGRID_RATE_LIMIT_PER_KEY": "0"}
    server = Server("api:create_app", PORT_OURS, ours_env, factory=True, cwd=REPO)
    try:
        server.wait("/ping")
        warm(PORT_OURS, lookups[:50] + ours_tiles[:20] + ["/ping"])
        for rnd in (1, 2):
            rows.append((f"/ping (framework floor), round {rnd}", wrk(PORT_OURS, ["/ping"], **run)))
            rows.append((f"/lookup point (2,000 points), round {rnd}", wrk(PORT_OURS, lookups, **run)))
        rows.append(
            (f"grid tiles uncached (ours, {len(tiles)} z12-15 tiles)", wrk(PORT_OURS, ours_tiles, **run))
        )
    finally:
        server.stop()

    libpq_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    tipg_env = {
        "DATABASE_URL": libpq_url,
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.grids"]',
        "TIPG_DB_FUNCTIONS": "[]",
        "TIPG_TILE_BUFFER": "64",
        "TIPG_MAX_FEATURES_PER_TILE": "100000",
    }
    server = Server("tipg.main:app", PORT_TIPG, tipg_env, factory=False, cwd=workdir)
    try:
        server.wait("/healthz")
        if "public.grids" not in httpx.get(f"http://127.0.0.1:{PORT_TIPG}/collections").text:
            raise RuntimeError("tipg does not list public.grids")
        warm(PORT_TIPG, tipg_tiles[:20])
        rows.append((f"grid tiles (tipg, same {len(tiles)} tiles)", wrk(PORT_TIPG, tipg_tiles, **run)))
    finally:
        server.stop()

    cached_env = {**ours_env, "GEOGRID_TILE_CACHE_ENTRIES": "20000"}
    server = Server("api:create_app", PORT_OURS, cached_env, factory=True, cwd=REPO)
    try:
        server.wait("/ping")
        warm(PORT_OURS, ours_tiles)
        rows.append(("grid tiles cached (ours, after a warm pass)", wrk(PORT_OURS, ours_tiles, **run)))
        # Service time without queueing: the same cached tiles over 4 connections.
        light = {**run, "connections": 4}
        rows.append(("grid tiles cached, 4 connections", wrk(PORT_OURS, ours_tiles, **light)))
    finally:
        server.stop()

    s = data["stats"]
    print(
        f"\nMachine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}; county: {s['villages']} villages, {s['grids']} grids, "
        f"{s['addresses']} addresses, {s['households']} households; "
        f"wrk -t1 -c{args.connections} -d{args.duration}s\n"
    )
    print("| endpoint | req/s | p50 (ms) | p95 (ms) | p99 (ms) | errors |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {r['errors']} |"
        )
    by = dict(rows)
    ping = (by["/ping (framework floor), round 1"]["rps"] + by["/ping (framework floor), round 2"]["rps"]) / 2
    look = (
        by["/lookup point (2,000 points), round 1"]["rps"]
        + by["/lookup point (2,000 points), round 2"]["rps"]
    ) / 2
    ours = by[f"grid tiles uncached (ours, {len(tiles)} z12-15 tiles)"]["rps"]
    tipg = by[f"grid tiles (tipg, same {len(tiles)} tiles)"]["rps"]
    print(
        f"\nlookup / ping = {look / ping:.0%} (target >= 70%); "
        f"uncached tiles ours / tipg = {ours / tipg:.2f}x (target >= 2x)"
    )


if __name__ == "__main__":
    main()
