"""Benchmark evaluation on the demo county: the report page and the exports of a quarter.

Run:  .venv/bin/python scripts/bench/bench_evaluation.py [--households 100000] [--incidents 5000] [--repeat 5]

1. Creates a throwaway database on the project-local cluster (or $GEOGRID_DATABASE_URL's server)
   and builds the demo county in it exactly as ``geogrid demo`` does: 100,000 households
   partitioned into published grids, the organisation and its 4+N roster, 5,000 reports over
   90 days run through the workflow (吹哨报到, 督办, 改派 ...) and the hotline's follow-ups.
2. Picks the quarter holding most reports and, through the API app in process (FastAPI's test
   client: routing, dependencies, the database and serialisation, no network), times
   ``/evaluation`` for every level as JSON, ``.xlsx`` and CSV, and ``/reports/monthly`` for the
   county for each month of that quarter.  Each request runs ``--repeat`` times; the table shows
   the median and the slowest.

Prints a Markdown section for docs/BENCHMARKS.md.  Drops the database at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from geogrid import evaluation as ev
from geogrid.db import ENV_URL, default_home, make_engine
from geogrid.db.cluster import LocalCluster, drop_database, ensure_database

COUNTY = "320508"


def _server() -> str:
    return os.environ.get(ENV_URL) or LocalCluster(default_home()).start()


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _busiest_quarter(engine) -> ev.Period:
    with engine.connect() as conn:
        middle = conn.execute(
            sa.text("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY created_at) FROM incidents")
        ).scalar_one()
    return ev.period_of("quarter", middle)


def _time(client, url: str, repeat: int) -> tuple[float, float, int]:
    times, size = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        size = len(r.content)
    return statistics.median(times), max(times), size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    server = _server()
    name = f"geogrid_bench_eval_{uuid.uuid4().hex[:8]}"
    admin = _with_db(server, "postgres")
    ensure_database(admin, name)
    url = _with_db(server, name)
    os.environ[ENV_URL] = url
    try:
        _run(url, args)
    finally:
        drop_database(admin, name)


def _run(url: str, args: argparse.Namespace) -> None:
    from fastapi.testclient import TestClient

    from api import create_app
    from api.settings import Settings
    from geogrid.db import keys
    from geogrid.demo import run_demo

    t = time.perf_counter()
    run_demo(households=args.households, incidents=args.incidents, seed=args.seed, county_code=COUNTY)
    built = time.perf_counter() - t
    engine = make_engine(url)
    quarter = _busiest_quarter(engine)
    with engine.connect() as conn:
        in_quarter = conn.execute(
            sa.text("SELECT count(*) FROM incidents WHERE created_at >= :a AND created_at < :b"),
            {"a": quarter.start, "b": quarter.end},
        ).scalar_one()
    key = keys.create_key(engine, "bench viewer", "viewer")
    settings = Settings(database_url=url, rate_limit_per_key=0, rate_limit_per_address=0)
    rows = []
    with TestClient(create_app(settings, engine=engine), headers={"X-API-Key": key}) as client:
        client.get("/evaluation?level=grid")  # warm: catalogue, configuration, connections
        for level in ev.LEVELS:
            for fmt in ("json", "xlsx", "csv"):
                path = f"/evaluation?level={level}&period={quarter.key}&format={fmt}"
                rows.append((path, *_time(client, path, args.repeat)))
        for n in range(3):
            key_month = ev.period_of("month", quarter.start.replace(month=quarter.start.month + n))
            path = f"/reports/monthly?division={COUNTY}&month={key_month.key}"
            rows.append((path, *_time(client, path, args.repeat)))
    _print(args, built, quarter, in_quarter, rows)


def _print(args, built: float, quarter: ev.Period, in_quarter: int, rows) -> None:
    slowest = max(r[2] for r in rows)
    print(
        f"## Evaluation: report page and exports of the demo county's quarter ({time.strftime('%Y-%m-%d')})\n"
    )
    print(
        f"Command: `.venv/bin/python scripts/bench/bench_evaluation.py --households {args.households} "
        f"--incidents {args.incidents} --repeat {args.repeat}`  "
    )
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}  ")  # fmt: skip
    print(f"Data: the demo county built in {built:.1f} s; quarter {quarter.key} ({quarter.name}) holds "
          f"{in_quarter:,} of {args.incidents:,} reports run through the workflow.  "
          f"Requests through the API app in process, a viewer's key, {args.repeat} runs each.\n")  # fmt: skip
    print("| request | median (s) | slowest (s) | bytes |")
    print("|---|---:|---:|---:|")
    for path, median, worst, size in rows:
        print(f"| `{path}` | {median:.3f} | {worst:.3f} | {size:,} |")
    verdict = "under" if slowest < 2 else "NOT under"
    print(f"\nEvery request {verdict} 2 s (slowest run {slowest:.3f} s).")


if __name__ == "__main__":
    main()
