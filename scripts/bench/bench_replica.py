"""Reads served by a streaming replica vs by the primary, and by the replica while the primary is down.

    .venv/bin/python scripts/bench/bench_replica.py [--workdir /tmp/geogrid-replica-bench]
        [--households 100000] [--duration 10] [--connections 32] [--rounds 2] [--rebuild]

1. A primary of its own (:class:`geogrid.db.cluster.LocalCluster` in ``--workdir``) gets the
   seeded synthetic county of ``bench_api.py`` (partitioned, published) and 5,000 seeded
   incidents; kept between runs (``--rebuild`` starts over).
2. ``geogrid db replica start``'s code makes a replica of it (:class:`geogrid.db.replica.ReplicaCluster`),
   which replays everything before the serving starts.
3. In ``--rounds`` rounds (alternating order) one uvicorn worker serves, tile cache off:
   ``primary`` (``GEOGRID_DATABASE_URL`` only), ``replica`` (plus ``GEOGRID_REPLICA_URLS``: reads go
   to the replica) and ``replica, primary down`` (the same server with the primary stopped).
   ``wrk`` measures ``/ping`` (no database: what the routing itself costs), point lookups
   (2,000 address points), uncached grid tiles z12-15, grid features in 200 small bboxes, the
   county's heatmap (res 8) and statistics by village: req/s, p50/p95 and non-2xx answers.
4. Side measurements without HTTP: a point lookup on one connection to each server, and the
   app's own time per ``GET /ping`` called in process with and without replicas configured
   (what the routing middleware adds).  ``--rounds 0`` measures only these.
5. Both clusters are stopped at the end (their data stays in ``--workdir``).

Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import REPO, Server, prepare, tiles_covering, warm, wrk
from bench_scale import free_port

from geogrid.db import make_engine
from geogrid.db.cluster import LocalCluster
from geogrid.db.replica import ReplicaCluster, wait_for_replay

INCIDENTS = 5_000
CONFIGS = ("primary", "replica", "replica, primary down")


def add_incidents(url: str) -> None:
    """5,000 seeded reports over the county's addresses, unless there are incidents already."""
    from geogrid.db import store
    from geogrid.db.incidents import import_incidents
    from geogrid.incidents import load_catalogue
    from geogrid.synthetic import make_incidents

    engine = make_engine(url)
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar():
            engine.dispose()
            return
    catalogue = load_catalogue()
    addresses = store.read_table(engine, "addresses")
    reports = make_incidents(addresses, n=INCIDENTS, categories=sorted(catalogue.categories), seed=0)
    import_incidents(engine, reports, catalogue=catalogue, actor_name="bench_replica")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE incidents"))
    engine.dispose()


def requests_for(county: dict) -> dict[str, list[str]]:
    points, extent = county["points"], county["extent"]
    rng = np.random.default_rng(0)
    windows = []
    for _ in range(200):
        x, y = points[int(rng.integers(len(points)))]
        windows.append(f"{x - 0.01:.5f},{y - 0.01:.5f},{x + 0.01:.5f},{y + 0.01:.5f}")
    bbox = ",".join(f"{v:.5f}" for v in extent)
    return {
        "ping (no database: the routing's own cost)": ["/ping"],
        "lookup (point)": [f"/lookup?lon={x:.7f}&lat={y:.7f}" for x, y in points],
        "tiles z12-15 (uncached)": [
            f"/collections/grids/tiles/WebMercatorQuad/{z}/{x}/{y}"
            for z, x, y in tiles_covering(extent, range(12, 16))
        ],
        "features (bbox, limit 100)": [f"/collections/grids/items?bbox={w}&limit=100" for w in windows],
        "heatmap (county bbox, res 8)": [f"/heatmap?res=8&bbox={bbox}"],
        "stats (by village)": ["/stats?group_by=village&division=320508000000"],
    }


def serve(config: str, primary: LocalCluster, urls: tuple[str, str], paths, args) -> dict:
    primary_url, replica_url = urls
    env = {"GEOGRID_DATABASE_URL": primary_url, "GEOGRID_TILE_CACHE_ENTRIES": "0", "PYTHONPATH": str(REPO)}
    if config != "primary":
        env["GEOGRID_REPLICA_URLS"] = replica_url
    port = free_port()
    server = Server("api:create_app", port, env, factory=True, cwd=REPO)
    out = {}
    try:
        server.wait("/ping")
        if config == "replica, primary down":
            primary.stop()
        for name, requests in paths.items():
            warm(port, requests[:20])
            out[name] = wrk(port, requests, duration=args.duration, connections=args.connections)
    finally:
        server.stop()
        if not primary.is_running():
            primary.start()
    return out


def lookup_db_us(urls: dict[str, str], passes: int = 5) -> dict[str, float]:
    """Per point lookup on one asyncpg connection to each server, best of ``passes`` passes over
    2,000 address points (the servers' own time plus one loopback round trip)."""
    import asyncio

    import asyncpg

    from geogrid.db import load_sql

    async def measure() -> dict[str, float]:
        conns = {name: await asyncpg.connect(url.replace("+psycopg2", "")) for name, url in urls.items()}
        first = next(iter(conns.values()))
        points = await first.fetch(
            "SELECT ST_X(geom), ST_Y(geom) FROM addresses ORDER BY md5(id::text) LIMIT 2000"
        )
        sql, best = load_sql("lookup_point"), dict.fromkeys(conns, float("inf"))
        for _ in range(passes):
            for name, conn in conns.items():
                t0 = time.perf_counter()
                for x, y in points:
                    await conn.fetchval(sql, x, y)
                best[name] = min(best[name], (time.perf_counter() - t0) / len(points) * 1e6)
        for conn in conns.values():
            await conn.close()
        return best

    return asyncio.run(measure())


def routing_us(batches: int = 15, n: int = 2000) -> dict[str, float]:
    """The app's own time per ``GET /ping`` called in process (no server, no database), without and
    with replicas configured: best of ``batches`` batches of ``n`` calls, the two interleaved."""
    import asyncio

    from api import create_app
    from api.settings import Settings

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/ping", "raw_path": b"/ping", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        pass

    async def batch(app) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await app({**scope, "state": {}}, receive, send)
        return (time.perf_counter() - t0) / n * 1e6

    unused = "postgresql+psycopg2://bench@127.0.0.1:9/none"  # /ping never connects
    apps = {
        "no replicas": create_app(Settings(database_url=unused, photo_dir=Path("/tmp"))),
        "replicas": create_app(Settings(database_url=unused, replica_urls=unused, photo_dir=Path("/tmp"))),
    }
    best = dict.fromkeys(apps, float("inf"))
    for _ in range(batches):
        for name, app in apps.items():
            best[name] = min(best[name], asyncio.run(batch(app)))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/geogrid-replica-bench"))
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()

    primary = LocalCluster(args.workdir / "home")
    replica = ReplicaCluster(primary, "r1")
    try:
        primary_url = primary.start()
        county = prepare(primary_url, households=args.households, seed=0, rebuild=args.rebuild)
        add_incidents(primary_url)
        replica_url = replica.start()
        wait_for_replay(primary_url, [replica_url], timeout_s=600)
        sequential = {"lookup_db_us": lookup_db_us({"primary": primary_url, "replica": replica_url})}
        sequential["routing_us"] = routing_us()
        paths = requests_for(county)
        rounds: dict[str, list[dict]] = {c: [] for c in CONFIGS}
        for r in range(args.rounds):
            for config in CONFIGS if r % 2 == 0 else CONFIGS[::-1]:
                print(f"# round {r + 1}: {config}", file=sys.stderr)
                rounds[config].append(serve(config, primary, (primary_url, replica_url), paths, args))
    finally:
        replica.stop()
        primary.stop()
    print_markdown(county, rounds, args)
    print(
        "\nOne connection, 2,000 address points, best of 5 passes: point lookup "
        + ", ".join(f"{k} {v:.0f} µs" for k, v in sequential["lookup_db_us"].items())
        + ".  The app's own time per GET /ping in process, best of 15 × 2,000: "
        + ", ".join(f"{k} {v:.1f} µs" for k, v in sequential["routing_us"].items())
        + "."
    )


def print_markdown(county: dict, rounds: dict[str, list[dict]], args) -> None:
    stats = county["stats"]
    if not rounds[CONFIGS[0]]:
        return
    print(
        f"\n{platform.node()} ({os.cpu_count()} cores, {platform.machine()}), {time.strftime('%Y-%m-%d')}; "
        f"county: {stats['households']:,} households, {stats['addresses']:,} addresses, {stats['grids']:,} grids, "
        f"{INCIDENTS:,} incidents; 1 uvicorn worker, wrk -t1 -c{args.connections} -d{args.duration}s, "
        f"mean of {args.rounds} rounds\n"
    )
    head = " | ".join(f"{c}: req/s · p50 · p95 ms" for c in CONFIGS)
    print(f"| endpoint | {head} |\n|---|" + "---|" * len(CONFIGS))
    for name in rounds[CONFIGS[0]][0]:
        cells = []
        for config in CONFIGS:
            runs = [r[name] for r in rounds[config]]
            rps, p50, p95 = (statistics.mean(run[k] for run in runs) for k in ("rps", "p50", "p95"))
            errors = sum(run["errors"] for run in runs)
            cells.append(f"{rps:,.0f} · {p50:.1f} · {p95:.1f}" + (f" ({errors} errors)" if errors else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
