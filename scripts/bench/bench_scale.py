"""Province scale end to end: 1×, 10× and 100× the demo county on this machine, partitioned on Dask.

    .venv/bin/python scripts/bench/bench_scale.py [--scales 1x,10x[,100x]] [--reuse-runs]
        [--with-100x] [--keep-100x] [--workdir /tmp/geogrid-scale] [--results results.json]
        [--duration 10] [--connections 32] [--rounds 2] [--serve-only]

For each scale (N counties of 100,000 households, :func:`geogrid.province.province_counties`):

1. generate: ``geogrid province generate`` in a child process (time, its peak RSS); a folder
   already generated in ``--workdir`` is reused (the generator resumes);
2. load: a fresh database ``geogrid_bench_scale_<scale>`` on the project cluster,
   :func:`geogrid.db.province.load_province` (COPY, one transaction per county; rows/s);
3. partition: a real Dask cluster (``dask scheduler`` + 2 ``dask worker`` processes,
   :class:`geogrid.dask_cluster.DaskCluster`), :func:`geogrid.province.partition_province` twice
   (seed 0 = plan A, seed 1 = plan B; a re-draw with other grids) — time, workers' peak RSS;
   at 100× plan A only (``run_100x``);
4. publish: plan A of every county (:func:`geogrid.db.province.publish_province`), 5,000 seeded
   incidents per county, then plan B of every county while a reader thread looks points up
   without pause (its latency shows whether readers wait), then every county rolled back to A
   (no re-draw at 100×);
5. serve: uvicorn (1 worker) over each scale's database in turn, ``--rounds`` rounds in alternating
   order (``--serve-only`` repeats just this on the databases of the last run), ``wrk``
   on point lookups (2,000 address points of the whole province), grid tiles z12–15 of the
   first county, grid features in 200 small bboxes, heatmaps of county bboxes and statistics by
   village of a county: req/s and p50/p95/p99;
6. sizes: tables and indexes.

``--reuse-runs`` skips steps 1 and 3: the provinces and partition runs already in ``--workdir``
are loaded and published as they are (their earlier times come from their manifests).  The 100×
database (a few GB) is dropped at the end unless ``--keep-100x``.  ``--with-100x`` generates 100
counties (10M households) and partitions them on the Dask cluster (no load or serving).  Prints
Markdown for docs/BENCHMARKS.md and writes ``--results`` to the work folder.
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
from typing import Any

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
            sa.text(  # points in a published grid: a county left unpublished answers 404 there
                "SELECT ST_X(geom), ST_Y(geom) FROM addresses WHERE grid_code IS NOT NULL "
                "ORDER BY md5(id::text) LIMIT :n"
            ),
            {"n": n},
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


def publish(url: str, folder: Path, run_a: Path, run_b: Path | None) -> dict:
    """Plan A everywhere, incidents, then (with ``run_b``) plan B county by county under a lookup
    loop and every county rolled back to A."""
    from geogrid.db.province import publish_province

    engine = make_engine(url)
    t0 = time.perf_counter()
    first = publish_province(engine, run_a)
    out: dict[str, Any] = {"publish_a": summary_of(first, time.perf_counter() - t0)}
    out["incidents_seconds"] = report_incidents(engine, folder)
    if run_b is not None:
        out.update(redraw_and_rollback(engine, run_b))
    with engine.connect() as conn:
        in_grids = conn.execute(
            sa.text("SELECT count(*) FROM addresses WHERE grid_code IS NOT NULL")
        ).scalar()
    engine.dispose()
    out["addresses_in_grids"] = int(in_grids or 0)
    return out


def summary_of(rows: list[dict], seconds: float) -> dict:
    """Per-county publish times of :func:`publish_province` rows: median/max, and the counties
    left unpublished (villages the partition engine could not partition)."""
    times = [r["publish_seconds"] for r in rows if "publish_seconds" in r]
    saves = [r["save_seconds"] for r in rows if "save_seconds" in r]
    return {
        "seconds": seconds,
        "published": len(times),
        "median_s": statistics.median(times),
        "max_s": max(times),
        "save_median_s": statistics.median(saves),
        "save_max_s": max(saves),
        "not_published": [r["code"] for r in rows if r["reason"]],
    }


def redraw_and_rollback(engine, run_b: Path) -> dict:
    """Plan B county by county while a reader looks points up, then every county back to A."""
    from geogrid.db.province import publish_province

    points = sample_points(engine)
    t0 = time.perf_counter()
    with LookupLoop(engine, points) as loop:
        redraw = publish_province(engine, run_b)
    seconds = time.perf_counter() - t0
    rollbacks = []
    for row in redraw:
        t0 = time.perf_counter()
        plans.rollback_plan(engine, row["code"] + "000000")
        rollbacks.append(time.perf_counter() - t0)
    return {
        "redraw_b": summary_of(redraw, seconds),
        "rollback_median_s": statistics.median(rollbacks),
        "rollback_max_s": max(rollbacks),
        "readers_during_redraw": loop.summary(),
    }


# A table partitioned by month (incidents, migration 0013) has its rows and sizes in its partitions.
SIZES_SQL = """
SELECT c.relname, coalesce(t.heap, pg_table_size(c.oid))::bigint, coalesce(t.indexes, pg_indexes_size(c.oid))::bigint,
       coalesce(t.rows, c.reltuples)::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
    SELECT sum(pg_table_size(p.relid)) heap, sum(pg_indexes_size(p.relid)) indexes,
           sum(greatest(k.reltuples, 0)) rows
    FROM pg_partition_tree(c.oid) p JOIN pg_class k ON k.oid = p.relid
) t ON true
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
    env |= {"GEOGRID_RATE_LIMIT_PER_ADDRESS": "0", "GEOGRID_RATE_LIMIT_PER_KEY": "0"}  # wrk is one address
    port = free_port()  # other benchmarks may run on this machine at the same time
    server = Server("api:create_app", port, env, factory=True, cwd=REPO)
    out: dict[str, Any] = {}
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


def run_folders(workdir: Path, scale: str) -> dict[int, Path]:
    """The partition runs of a scale by seed: plan A (seed 0) and the re-draw B (seed 1); at 100×
    plan A only (``run_100x``; 25 minutes on the Dask cluster here, no re-draw at that size)."""
    if scale == "100x":
        return {0: workdir / "run_100x"}
    return {seed: workdir / f"run_{scale}_seed{seed}" for seed in (0, 1)}


def run_scale(scale: str, workdir: Path, households: int, *, reuse_runs: bool = False) -> dict:
    """Generate, load, partition, publish and measure one scale; with ``reuse_runs`` the province
    folder and partition runs already in ``workdir`` are used as they are (load and publish only)."""
    n = SCALES[scale]
    folder = workdir / f"province_{scale}"
    runs = run_folders(workdir, scale)
    result: dict = {"counties": n, "reused_runs": reuse_runs}
    result["generate"] = generated(folder) if reuse_runs else generate(folder, n, households)
    print(f"# {scale}: generated {result['generate']}", file=sys.stderr)
    url = fresh_database(f"geogrid_bench_scale_{scale}")
    result["url"] = url
    result["load"] = load(url, folder)
    print(f"# {scale}: loaded {result['load']}", file=sys.stderr)
    for seed, out in runs.items():
        key = "partition" if seed == 0 else "partition_b"
        if reuse_runs:
            result[key] = partitioned(out)
        else:
            result[key] = with_cluster(
                workdir,
                lambda address, pgid, out=out, seed=seed: partition(folder, out, address, pgid, seed=seed),
            )
    print(f"# {scale}: partitioned {result['partition']}", file=sys.stderr)
    result["publish"] = publish(url, folder, runs[0], runs.get(1))
    print(f"# {scale}: published {result['publish']}", file=sys.stderr)
    result["sizes"] = sizes(url)
    return result


def generated(folder: Path) -> dict:
    """What the manifest of a province generated earlier says (its wall time and RSS are not known)."""
    entries = read_manifest(folder)["counties"].values()
    return {
        "seconds": None,
        "county_seconds": sum(c["seconds"] for c in entries),
        "peak_rss_mb": None,
        **{k: sum(c[k] for c in entries) for k in ("households", "addresses", "streets", "villages")},
        "files_mb": sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 1e6,
    }


def partitioned(out: Path) -> dict:
    """What the ``run.json`` of an earlier partition run says (its wall time and RSS are not known)."""
    from geogrid.province import read_run

    counties = read_run(out)["counties"].values()
    seconds = [float(c["seconds"]) for c in counties if c.get("status") == "done"]
    return {
        "seconds": None,
        "counties": len(seconds),
        "failed": [c["code"] for c in counties if c.get("status") != "done"],
        "grids": sum(int(c.get("grids", 0)) for c in counties),
        "county_median_s": statistics.median(seconds),
        "county_max_s": max(seconds),
        "failed_villages": sum(len(c.get("failed_villages", [])) for c in counties),
        "worker_peak_rss_mb": None,
    }


def serve_all(results: dict, scales: list[str], args) -> None:
    """Serve every scale in turn, ``--rounds`` times, in alternating order (1x 10x 10x 1x …) so
    that load from elsewhere on the machine hits every scale alike."""
    paths = {s: requests_for(results["scales"][s]["url"], args.workdir / f"province_{s}") for s in scales}
    rounds: dict[str, list[dict]] = {s: [] for s in scales}
    for r in range(args.rounds):
        for s in scales if r % 2 == 0 else scales[::-1]:
            url = results["scales"][s]["url"]
            rounds[s].append(serve_round(url, paths[s], duration=args.duration, connections=args.connections))
            results["scales"][s]["serve"] = average(rounds[s])
            save(args, results)  # what is measured so far survives an interruption


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="1x,10x", help="1x, 10x and/or 100x, comma-separated")
    ap.add_argument("--with-100x", action="store_true", help="also generate and partition 100x (no load)")
    ap.add_argument(
        "--reuse-runs", action="store_true", help="load and publish the provinces and runs already there"
    )
    ap.add_argument("--keep-100x", action="store_true", help="keep the 100x database (a few GB) at the end")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/geogrid-scale"))
    ap.add_argument("--results", default="results.json", help="file name in the work folder")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2, help="serving rounds per scale (alternating order)")
    ap.add_argument("--build", help="scales to rebuild (default: all); the others as in --results")
    ap.add_argument("--serve-only", action="store_true", help="serve the databases of the last run again")
    ap.add_argument("--households", type=int, default=100_000, help="per county (smaller: a quick trial)")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    scales = args.scales.split(",")
    try:
        results = build(scales, args)
        serve_all(results, scales, args)
        save(args, results)
    finally:
        if "100x" in scales and not args.keep_100x:
            drop_scale_database("100x")
    if args.with_100x:
        results["scales"]["100x"] = run_100x(args.workdir, args.households)
    results["driver_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    save(args, results)
    print_markdown(results, args)


def build(scales: list[str], args) -> dict:
    """The databases of every scale (or, with ``--serve-only``, the results of the last run)."""
    if args.serve_only:
        return json.loads((args.workdir / args.results).read_text())
    # --build: rebuild only these scales; the others' databases come from the last run
    last = json.loads((args.workdir / args.results).read_text()) if args.build else None
    results = last or {"machine": machine(), "scales": {}}
    for scale in args.build.split(",") if args.build else scales:
        results["scales"][scale] = run_scale(scale, args.workdir, args.households, reuse_runs=args.reuse_runs)
        save(args, results)
    return results


def drop_scale_database(scale: str) -> None:
    admin = make_url(database_url()).set(database="postgres").render_as_string(hide_password=False)
    drop_database(admin, f"geogrid_bench_scale_{scale}")
    print(f"# {scale}: database dropped (--keep-100x keeps it)", file=sys.stderr)


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


def save(args, results: dict) -> None:
    (args.workdir / args.results).write_text(json.dumps(results, indent=1, default=str))


def cell(value, spec: str = ",.0f") -> str:
    """A number for a table, or a dash for what was not measured in this run."""
    return "—" if value is None else format(value, spec)


def print_markdown(results: dict, args) -> None:
    scales = [s for s in results["scales"] if "serve" in results["scales"][s]]
    print(
        f"\nMachine: {results['machine']}; wrk -t1 -c{args.connections} -d{args.duration}s, "
        f"{args.rounds} rounds in alternating order\n"
    )
    print_build_table(results)
    print_publish_table(results, scales)
    print_serve_table(results, scales)
    print_sizes_table(results, scales)
    if len(scales) >= 2:
        base, name = results["scales"][scales[0]]["serve"], "lookup (point)"
        for s in scales[1:]:
            top = results["scales"][s]["serve"]
            print(
                f"\nlookup {s} / {scales[0]}: throughput {top[name]['rps'] / base[name]['rps']:.0%}, "
                f"p50 {top[name]['p50'] / base[name]['p50']:.0%} (target at 10x: within 20%)"
            )


def print_build_table(results: dict) -> None:
    print(
        "| scale | counties | households | addresses | generate (s) / peak RSS (MB) | load (s) / addresses/s "
        "| partition on Dask (s) / county median (s) / worker peak RSS (MB) | grids |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for s, r in results["scales"].items():
        g, p = r["generate"], r["partition"]
        load_cell = f"{r['load']['seconds']:.0f} / {r['load']['rows_per_s']:,.0f}" if "load" in r else "—"
        print(
            f"| {s} | {r['counties']} | {g['households']:,} | {g['addresses']:,} | {cell(g['seconds'])} / "
            f"{cell(g['peak_rss_mb'])} | {load_cell} | {cell(p['seconds'])} / {p['county_median_s']:.1f} / "
            f"{cell(p['worker_peak_rss_mb'])} | {p['grids']:,} |"
        )


def print_publish_table(results: dict, scales: list[str]) -> None:
    print(
        "\n| scale | publish A: counties / median / max (s) / all (s) | re-draw B: median / max (s) "
        "| rollback: median / max (s) | lookups during re-draw: n / p50 / p95 / max (ms) | incidents (s) |"
    )
    print("|---|---|---|---|---|---|")
    for s in scales:
        u = results["scales"][s]["publish"]
        a = u["publish_a"]
        b, rd = u.get("redraw_b"), u.get("readers_during_redraw")
        redraw = f"{b['median_s']:.2f} / {b['max_s']:.2f}" if b else "— (not re-drawn)"
        rollback = f"{u['rollback_median_s']:.2f} / {u['rollback_max_s']:.2f}" if b else "—"
        readers = (
            f"{rd['lookups']:,} / {rd['p50_ms']:.2f} / {rd['p95_ms']:.2f} / {rd['max_ms']:.1f}" if rd else "—"
        )
        print(
            f"| {s} | {a['published']} / {a['median_s']:.2f} / {a['max_s']:.2f} / {a['seconds']:.0f} | "
            f"{redraw} | {rollback} | {readers} | {u['incidents_seconds']:.0f} |"
        )
        if a["not_published"]:
            print(f"\n{s}: not published (villages not partitioned): {', '.join(a['not_published'])}\n")


def print_serve_table(results: dict, scales: list[str]) -> None:
    print(
        "\n| endpoint | " + " | ".join(f"{s} req/s | {s} p50 / p95 (ms) | {s} errors" for s in scales) + " |"
    )
    print("|---|" + "---|---|---|" * len(scales))
    for name in results["scales"][scales[0]]["serve"]:
        if name == "server_peak_rss_mb":
            continue
        cells = []
        for s in scales:
            m = results["scales"][s]["serve"][name]
            cells.append(f"{m['rps']:,.1f} | {m['p50']:.2f} / {m['p95']:.2f} | {m['errors']}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_sizes_table(results: dict, scales: list[str]) -> None:
    print(
        "\n| scale | database (MB) | addresses table / indexes (MB) | grids table / indexes (MB) "
        "| incidents table / indexes (MB) | API peak RSS (MB) |"
    )
    print("|---|---|---|---|---|---|")
    for s in scales:
        z = results["scales"][s]["sizes"]
        a, g, i = (z["tables"][t] for t in ("addresses", "grids", "incidents"))
        print(
            f"| {s} | {z['database_mb']:.0f} | {a['table_mb']:.0f} / {a['indexes_mb']:.0f} | "
            f"{g['table_mb']:.1f} / {g['indexes_mb']:.1f} | {i['table_mb']:.1f} / {i['indexes_mb']:.1f} | "
            f"{results['scales'][s]['serve']['server_peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
