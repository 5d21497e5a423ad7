"""Province scale end to end: 1× and 10× the demo county on this machine, 100× partitioned on Dask.

    .venv/bin/python scripts/bench/bench_scale.py [--scales 1x,10x] [--with-100x]
        [--workdir /tmp/geogrid-scale] [--duration 10] [--connections 32] [--rounds 2] [--serve-only]

For each scale (N counties of 100,000 households, :func:`geogrid.province.province_counties`):

1. generate: ``geogrid province generate`` in a child process (time, its peak RSS); a folder
   already generated in ``--workdir`` is reused (the generator resumes);
2. load: a fresh database ``geogrid_bench_scale_<scale>`` on the project cluster,
   :func:`geogrid.db.province.load_province` (COPY, one transaction per county; rows/s);
3. partition: a real Dask cluster (``dask scheduler`` + 2 ``dask worker`` processes,
   :class:`geogrid.dask_cluster.DaskCluster`), :func:`geogrid.province.partition_province` twice
   (seed 0 = plan A, seed 1 = plan B; a re-draw with other grids) — time, workers' peak RSS;
4. publish: plan A of every county (:func:`geogrid.db.province.publish_province`), 5,000 seeded
   incidents per county, then plan B of every county while a reader thread looks points up
   without pause (its latency shows whether readers wait), then every county rolled back to A;
5. serve: uvicorn (1 worker) over each scale's database in turn, ``--rounds`` rounds in alternating
   order (``--serve-only`` repeats just this on the databases of the last run), ``wrk``
   on point lookups (2,000 address points of the whole province), grid tiles z12–15 of the
   first county, grid features in 200 small bboxes, heatmaps of county bboxes and statistics by
   village of a county: req/s and p50/p95/p99;
6. sizes: tables and indexes.

``--with-100x`` also generates 100 counties (10M households) and partitions them on the Dask
cluster (no load or serving at that size here).  Prints Markdown for docs/BENCHMARKS.md and
writes ``results.json`` to the work folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import REPO, Server, tiles_covering, warm, wrk

from geogrid.dask_cluster import DaskCluster
from geogrid.db import database_url, make_engine, migrate, plans
from geogrid.db.cluster import drop_database, ensure_database
from geogrid.province import SCALES, partition_province, read_manifest

VENV_BIN = Path(sys.executable).parent
INCIDENTS_PER_COUNTY = 5_000


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def group_peak_rss_mb(pgid: int) -> float:
    """The largest VmHWM among the processes of a process group (the Dask worker processes)."""
    peaks = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                peaks.append(peak_rss_mb(int(proc.name)))
        except (OSError, ValueError, IndexError):
            continue
    return max(peaks, default=0.0)


def generate(folder: Path, counties: int, households: int) -> dict:
    """``geogrid province generate`` as a child process: wall time and the child's peak RSS."""
    t0 = time.perf_counter()
    child = subprocess.Popen(
        [
            *(str(VENV_BIN / "geogrid"), "province", "generate", str(folder)),
            *("--counties", str(counties), "--households", str(households)),
        ],
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"generation failed ({child.returncode})")
    manifest = read_manifest(folder)
    entries = manifest["counties"].values()
    return {
        "seconds": time.perf_counter() - t0,
        "county_seconds": sum(c["seconds"] for c in entries),
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "households": sum(c["households"] for c in entries),
        "addresses": sum(c["addresses"] for c in entries),
        "streets": sum(c["streets"] for c in entries),
        "villages": sum(c["villages"] for c in entries),
        "files_mb": sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 1e6,
    }


def fresh_database(name: str) -> str:
    server = make_url(database_url())
    admin = server.set(database="postgres").render_as_string(hide_password=False)
    drop_database(admin, name)
    ensure_database(admin, name)
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def load(url: str, folder: Path) -> dict:
    from geogrid.db.province import load_province

    engine = make_engine(url)
    t0 = time.perf_counter()
    rows = load_province(engine, folder)
    seconds = time.perf_counter() - t0
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    copy_seconds = sum(r["seconds"] for r in rows)
    addresses = sum(r["addresses"] for r in rows)
    return {"seconds": seconds, "addresses": addresses, "rows_per_s": addresses / copy_seconds}


def partition(folder: Path, out: Path, address: str, pgid: int, seed: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    run = partition_province(folder, out, scheduler=address, progress=False, seed=seed, retries=2)
    seconds = time.perf_counter() - t0
    per_county = run.counties["seconds"].astype(float)
    return {
        "seconds": seconds,
        "counties": len(run.ran),
        "failed": run.failed,
        "grids": int(run.counties["grids"].sum()),
        "county_median_s": float(per_county.median()),
        "county_max_s": float(per_county.max()),
        "failed_villages": int(run.counties["failed_villages"].map(len).sum()),
        "worker_peak_rss_mb": group_peak_rss_mb(pgid),
    }


class LookupLoop:
    """A reader that looks up points without pause (one connection) and records each latency."""

    def __init__(self, engine, points: list[tuple[float, float]]) -> None:
        from geogrid.db.rawpool import pool_for

        self.pool = pool_for(engine)
        self.points = points
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        from geogrid.db.lookup import lookup_point

        i = 0
        while not self.stop.is_set():
            lon, lat = self.points[i % len(self.points)]
            t0 = time.perf_counter()
            lookup_point(self.pool, lon, lat)
            self.latencies.append(time.perf_counter() - t0)
            i += 1

    def __enter__(self) -> LookupLoop:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def summary(self) -> dict:
        ms = np.asarray(self.latencies) * 1000
        return {
            "lookups": len(ms),
            "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)),
            "max_ms": float(ms.max()),
        }


def sample_points(engine, n: int = 2000) -> list[tuple[float, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT ST_X(geom), ST_Y(geom) FROM addresses ORDER BY md5(id::text) LIMIT :n"), {"n": n}
        ).all()
    return [(float(x), float(y)) for x, y in rows]


def report_incidents(engine, folder: Path) -> float:
    from geogrid.db import store
    from geogrid.db.incidents import import_incidents
    from geogrid.incidents import load_catalogue
    from geogrid.synthetic import make_incidents

    catalogue = load_catalogue()
    t0 = time.perf_counter()
    for i, code in enumerate(sorted(read_manifest(folder)["counties"])):
        addresses = store.read_table(
            engine, "addresses", where="division_code LIKE :p", params={"p": code + "%"}
        )
        reports = make_incidents(
            addresses, n=INCIDENTS_PER_COUNTY, categories=sorted(catalogue.categories), seed=i
        )
        import_incidents(engine, reports, catalogue=catalogue, actor_name="bench_scale")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE incidents"))
    return time.perf_counter() - t0


def publish(url: str, folder: Path, run_a: Path, run_b: Path) -> dict:
    """Plan A everywhere, incidents, then plan B county by county under a lookup loop, then rollbacks."""
    from geogrid.db.province import publish_province

    engine = make_engine(url)
    first = publish_province(engine, run_a)
    incidents_s = report_incidents(engine, folder)
    points = sample_points(engine)
    with LookupLoop(engine, points) as loop:
        redraw = publish_province(engine, run_b)
    rollbacks = []
    for row in redraw:
        t0 = time.perf_counter()
        plans.rollback_plan(engine, row["code"] + "000000")
        rollbacks.append(time.perf_counter() - t0)
    with engine.connect() as conn:
        in_grids = conn.execute(
            sa.text("SELECT count(*) FROM addresses WHERE grid_code IS NOT NULL")
        ).scalar()
    engine.dispose()
    times_a = [r["publish_seconds"] for r in first if "publish_seconds" in r]
    times_b = [r["publish_seconds"] for r in redraw if "publish_seconds" in r]
    return {
        "first_publish_median_s": statistics.median(times_a),
        "first_publish_max_s": max(times_a),
        "redraw_publish_median_s": statistics.median(times_b),
        "redraw_publish_max_s": max(times_b),
        "rollback_median_s": statistics.median(rollbacks),
        "rollback_max_s": max(rollbacks),
        "not_published": [r["code"] for r in (*first, *redraw) if r["reason"]],
        "readers_during_redraw": loop.summary(),
        "incidents_seconds": incidents_s,
        "addresses_in_grids": int(in_grids or 0),
    }


SIZES_SQL = """
SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid), c.reltuples::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname IN ('addresses', 'grids', 'divisions', 'streets', 'incidents')
ORDER BY c.relname
"""


def sizes(url: str) -> dict:
    engine = make_engine(url)
    with engine.connect() as conn:
        tables = {
            name: {"table_mb": t / 1e6, "indexes_mb": i / 1e6, "rows": int(n)}
            for name, t, i, n in conn.execute(sa.text(SIZES_SQL)).all()
        }
        database_mb = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one() / 1e6
        indexes = {
            name: size / 1e6
            for name, size in conn.execute(
                sa.text(
                    "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
                    "WHERE relname IN ('addresses', 'grids') ORDER BY indexrelname"
                )
            ).all()
        }
    engine.dispose()
    return {"database_mb": database_mb, "tables": tables, "indexes": indexes}


def requests_for(url: str, folder: Path) -> dict[str, list[str]]:
    """The request lists of each endpoint; the same shapes at every scale."""
    engine = make_engine(url)
    points = sample_points(engine)
    manifest = read_manifest(folder)
    codes = sorted(manifest["counties"])
    with engine.connect() as conn:
        first = conn.execute(
            sa.text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom) e FROM grids WHERE code LIKE :p) s"
            ),
            {"p": codes[0] + "%"},
        ).one()
    engine.dispose()
    rng = np.random.default_rng(0)
    windows = []
    for _ in range(200):
        x, y = points[int(rng.integers(len(points)))]
        windows.append(f"{x - 0.01:.5f},{y - 0.01:.5f},{x + 0.01:.5f},{y + 0.01:.5f}")
    boxes = [",".join(f"{v:.5f}" for v in manifest["counties"][c]["bbox"]) for c in codes]
    return {
        "lookup (point)": [f"/lookup?lon={x:.7f}&lat={y:.7f}" for x, y in points],
        "tiles z12-15 (uncached)": [
            f"/collections/grids/tiles/WebMercatorQuad/{z}/{x}/{y}"
            for z, x, y in tiles_covering(first, range(12, 16))
        ],
        "features (bbox, limit 100)": [f"/collections/grids/items?bbox={w}&limit=100" for w in windows],
        "heatmap (county bbox, res 8)": [f"/heatmap?res=8&bbox={b}" for b in boxes],
        "stats (by village of a county)": [f"/stats?group_by=village&division={c}000000" for c in codes],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_round(url: str, paths: dict[str, list[str]], *, duration: int, connections: int) -> dict:
    env = {"GEOGRID_DATABASE_URL": url, "GEOGRID_TILE_CACHE_ENTRIES": "0", "PYTHONPATH": str(REPO)}
    port = free_port()  # other benchmarks may run on this machine at the same time
    server = Server("api:create_app", port, env, factory=True, cwd=REPO)
    out = {}
    try:
        server.wait("/ping")
        for name, requests in paths.items():
            warm(port, requests[:20])
            out[name] = wrk(port, requests, duration=duration, connections=connections)
        out["server_peak_rss_mb"] = peak_rss_mb(server.proc.pid)
    finally:
        server.stop()
    return out


def average(rounds: list[dict]) -> dict:
    out = {}
    for name in rounds[0]:
        if name == "server_peak_rss_mb":
            out[name] = max(r[name] for r in rounds)
            continue
        out[name] = {k: statistics.mean(r[name][k] for r in rounds) for k in ("rps", "p50", "p95", "p99")}
        out[name]["errors"] = sum(r[name]["errors"] for r in rounds)
    return out


def with_cluster(workdir: Path, fn):
    """Run ``fn(address, worker_pgid)`` on a fresh Dask cluster (scheduler + 2 worker processes)."""
    cluster = DaskCluster(workdir / "dask")
    address = cluster.start(workers=2, port=0)
    try:
        return fn(address, cluster.status()["worker_pid"])
    finally:
        cluster.stop()


def run_scale(scale: str, workdir: Path, households: int) -> dict:
    n = SCALES[scale]
    folder = workdir / f"province_{scale}"
    result: dict = {"counties": n, "generate": generate(folder, n, households)}
    print(f"# {scale}: generated {result['generate']}", file=sys.stderr)
    url = fresh_database(f"geogrid_bench_scale_{scale}")
    result["url"] = url
    result["load"] = load(url, folder)
    print(f"# {scale}: loaded {result['load']}", file=sys.stderr)
    runs = {seed: workdir / f"run_{scale}_seed{seed}" for seed in (0, 1)}
    result["partition"] = with_cluster(
        workdir, lambda address, pgid: partition(folder, runs[0], address, pgid, seed=0)
    )
    result["partition_b"] = with_cluster(
        workdir, lambda address, pgid: partition(folder, runs[1], address, pgid, seed=1)
    )
    print(f"# {scale}: partitioned {result['partition']}", file=sys.stderr)
    result["publish"] = publish(url, folder, runs[0], runs[1])
    print(f"# {scale}: published {result['publish']}", file=sys.stderr)
    result["sizes"] = sizes(url)
    return result


def serve_all(results: dict, scales: list[str], args) -> None:
    """Serve every scale in turn, ``--rounds`` times, in alternating order (1x 10x 10x 1x …) so
    that load from elsewhere on the machine hits every scale alike."""
    paths = {s: requests_for(results["scales"][s]["url"], args.workdir / f"province_{s}") for s in scales}
    rounds: dict[str, list[dict]] = {s: [] for s in scales}
    for r in range(args.rounds):
        for s in scales if r % 2 == 0 else scales[::-1]:
            url = results["scales"][s]["url"]
            rounds[s].append(serve_round(url, paths[s], duration=args.duration, connections=args.connections))
    for s in scales:
        results["scales"][s]["serve"] = average(rounds[s])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="1x,10x")
    ap.add_argument("--with-100x", action="store_true")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/geogrid-scale"))
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2, help="serving rounds per scale (alternating order)")
    ap.add_argument("--serve-only", action="store_true", help="serve the databases of the last run again")
    ap.add_argument("--households", type=int, default=100_000, help="per county (smaller: a quick trial)")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    scales = args.scales.split(",")
    if args.serve_only:
        results = json.loads((args.workdir / "results.json").read_text())
    else:
        results = {"machine": machine(), "scales": {}}
        for scale in scales:
            results["scales"][scale] = run_scale(scale, args.workdir, args.households)
            save(args.workdir, results)
    serve_all(results, scales, args)
    if args.with_100x:
        results["scales"]["100x"] = run_100x(args.workdir, args.households)
    results["driver_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    save(args.workdir, results)
    print_markdown(results, args)


def run_100x(workdir: Path, households: int) -> dict:
    folder = workdir / "province_100x"
    result = {"counties": 100, "generate": generate(folder, 100, households)}
    print(f"# 100x: generated {result['generate']}", file=sys.stderr)
    result["partition"] = with_cluster(
        workdir, lambda address, pgid: partition(folder, workdir / "run_100x", address, pgid, seed=0)
    )
    print(f"# 100x: partitioned {result['partition']}", file=sys.stderr)
    return result


def machine() -> dict:
    import dask
    import shapely

    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / 1024**2
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib),
        "python": platform.python_version(),
        "dask": dask.__version__,
        "shapely": shapely.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def save(workdir: Path, results: dict) -> None:
    (workdir / "results.json").write_text(json.dumps(results, indent=1, default=str))


def print_markdown(results: dict, args) -> None:
    scales = [s for s in results["scales"] if "serve" in results["scales"][s]]
    print(
        f"\nMachine: {results['machine']}; wrk -t1 -c{args.connections} -d{args.duration}s, "
        f"{args.rounds} rounds in alternating order\n"
    )
    print(
        "| scale | counties | households | addresses | generate (s) / peak RSS (MB) | load (s) / addresses/s "
        "| partition on Dask (s) / county median (s) / worker peak RSS (MB) | grids |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for s, r in results["scales"].items():
        g, p = r["generate"], r["partition"]
        load_cell = f"{r['load']['seconds']:.0f} / {r['load']['rows_per_s']:,.0f}" if "load" in r else "—"
        print(
            f"| {s} | {r['counties']} | {g['households']:,} | {g['addresses']:,} | {g['seconds']:.0f} / "
            f"{g['peak_rss_mb']:.0f} | {load_cell} | {p['seconds']:.0f} / {p['county_median_s']:.1f} / "
            f"{p['worker_peak_rss_mb']:.0f} | {p['grids']:,} |"
        )
    print(
        "\n| scale | publish A: median / max (s) | re-draw B: median / max (s) | rollback: median / max (s) "
        "| lookups during re-draw: n / p50 / p95 / max (ms) |"
    )
    print("|---|---|---|---|---|")
    for s in scales:
        u = results["scales"][s]["publish"]
        rd = u["readers_during_redraw"]
        print(
            f"| {s} | {u['first_publish_median_s']:.2f} / {u['first_publish_max_s']:.2f} | "
            f"{u['redraw_publish_median_s']:.2f} / {u['redraw_publish_max_s']:.2f} | "
            f"{u['rollback_median_s']:.2f} / {u['rollback_max_s']:.2f} | "
            f"{rd['lookups']:,} / {rd['p50_ms']:.2f} / {rd['p95_ms']:.2f} / {rd['max_ms']:.1f} |"
        )
    print("\n| endpoint | " + " | ".join(f"{s} req/s | {s} p50 / p95 (ms)" for s in scales) + " |")
    print("|---|" + "---|---|" * len(scales))
    for name in results["scales"][scales[0]]["serve"]:
        if name == "server_peak_rss_mb":
            continue
        cells = []
        for s in scales:
            m = results["scales"][s]["serve"][name]
            cells.append(f"{m['rps']:,.0f} | {m['p50']:.2f} / {m['p95']:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(
        "\n| scale | database (MB) | addresses table / indexes (MB) | grids table / indexes (MB) | API peak RSS (MB) |"
    )
    print("|---|---|---|---|---|")
    for s in scales:
        z = results["scales"][s]["sizes"]
        a, g = z["tables"]["addresses"], z["tables"]["grids"]
        print(
            f"| {s} | {z['database_mb']:.0f} | {a['table_mb']:.0f} / {a['indexes_mb']:.0f} | "
            f"{g['table_mb']:.0f} / {g['indexes_mb']:.0f} | {results['scales'][s]['serve']['server_peak_rss_mb']:.0f} |"
        )
    if len(scales) >= 2:
        base, top = results["scales"][scales[0]]["serve"], results["scales"][scales[-1]]["serve"]
        name = "lookup (point)"
        print(
            f"\nlookup {scales[-1]} / {scales[0]}: throughput {top[name]['rps'] / base[name]['rps']:.0%}, "
            f"p50 {top[name]['p50'] / base[name]['p50']:.0%} (target: within 20%)"
        )


if __name__ == "__main__":
    main()
