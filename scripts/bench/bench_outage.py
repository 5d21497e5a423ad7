"""PostgreSQL crashes under a load of incident reports: what is lost, what clients see, how fast
the service is back — with synchronous commit on (the cluster's setting) and off (as before).

    .venv/bin/python scripts/bench/bench_outage.py [--cycles 5] [--clients 16] [--down 1.0]

For each mode a throwaway cluster (``LocalCluster`` in a temporary folder, never the project's
own) serves one uvicorn process; ``--clients`` threads file reports (each retried with its
Idempotency-Key until acknowledged, see ``tests/outage_support.py``) and two threads read
through every driver while PostgreSQL is killed with ``pg_ctl stop -m immediate``, kept down
``--down`` seconds and started again, ``--cycles`` times.  "off" sets
``synchronous_commit = off`` on the database (``ALTER DATABASE``), which overrides the
server's setting for every session.

Also measures what synchronous commit costs: reports per second for 10 s with no crash, on
and off.  Prints Markdown for docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.* hold the load driver

from geogrid.db import keys, make_engine, migrate
from geogrid.db.cluster import LocalCluster
from tests.incident_support import publish_sample
from tests.outage_support import ReportLoad, stored_reports
from tests.server_support import api_process


def _prepare(home: Path, synchronous_commit: str) -> tuple[LocalCluster, str, str]:
    cluster = LocalCluster(home)
    url = cluster.start()
    engine = make_engine(url)
    migrate.upgrade(engine)
    publish_sample(engine)
    key = keys.create_key(engine, "bench", "resident")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"ALTER DATABASE geogrid SET synchronous_commit = {synchronous_commit}"))
    engine.dispose()
    return cluster, url, key


def _throughput(base: str, key: str, clients: int, seconds: float, tag: str) -> float:
    with ReportLoad(base, key, threads=clients, tag=tag) as load:
        time.sleep(seconds)
    return len(load.result.acknowledged) / seconds


def run_mode(mode: str, *, cycles: int, clients: int, down_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"geogrid-outage-{mode}-") as tmp:
        cluster, url, key = _prepare(Path(tmp) / "home", mode)
        try:
            with api_process(url, Path(tmp), rate_limit_per_key="0", rate_limit_per_address="0") as (base, _):
                per_s = _throughput(base, key, clients, 10.0, f"tp-{mode}")
                with ReportLoad(base, key, threads=clients, readers=2, tag=f"crash-{mode}") as load:
                    time.sleep(2.0)
                    for _ in range(cycles):
                        load.crash_and_restart(cluster, down_s=down_s)
                        time.sleep(3.0)
            engine = make_engine(url)
            stored = stored_reports(engine, f"crash-{mode}")
            engine.dispose()
        finally:
            cluster.stop()
            shutil.rmtree(cluster.data_dir.parent, ignore_errors=True)  # /var/tmp/geogrid-* as root
    result = load.result
    lost = [label for label in result.acknowledged if stored.get(label, 0) == 0]
    back = [o.first_ack_after_up - o.up_at for o in result.outages if o.first_ack_after_up is not None]
    after_up = result.answers_after_up()
    return {
        "mode": mode,
        "reports_per_s": per_s,
        "acknowledged": len(result.acknowledged),
        "lost": len(lost),
        "duplicated": sum(1 for n in stored.values() if n > 1),
        "statuses": dict(sorted(result.statuses.items())),
        "failed_after_up": sum(1 for a in after_up if a.status not in (200, 201)),
        "back_median_s": statistics.median(back) if back else None,
        "back_max_s": max(back) if back else None,
        "down_s": statistics.median(o.up_at - o.down_at for o in result.outages),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--down", type=float, default=1.0, help="seconds PostgreSQL stays down")
    args = parser.parse_args()
    rows = [run_mode(m, cycles=args.cycles, clients=args.clients, down_s=args.down) for m in ("on", "off")]
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"cycles {args.cycles}, clients {args.clients}, PostgreSQL down {args.down} s + restart\n")
    print(
        "| synchronous_commit | reports/s (no crash) | acknowledged | lost | duplicated | answers |"
        " failed after PG back | back after PG up (median / max) | PG down (median) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        statuses = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
        print(
            f"| {r['mode']} | {r['reports_per_s']:.0f} | {r['acknowledged']} | {r['lost']} | {r['duplicated']} | "
            f"{statuses} | {r['failed_after_up']} | {r['back_median_s']:.3f} s / {r['back_max_s']:.3f} s | "
            f"{r['down_s']:.1f} s |"
        )


if __name__ == "__main__":
    main()
