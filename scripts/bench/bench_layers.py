"""Department layers and the point lookup's cost of answering them, on the demo county.

    .venv/bin/geogrid demo --no-serve          # once: the county, its register and two layers
    .venv/bin/python scripts/bench/bench_layers.py [--points 2000] [--rounds 5]

1. For each of the demo's department layers (综治办 cutting across the base grids, 城市管理局
   nearly aligned): loading the comparison (base grids, addresses, layer) and the crosswalk,
   conflicts and alignment of :mod:`geogrid.layers`, best of three.
2. The point lookup statement as shipped (base grid, every department's grid, the 联户) against
   the same statement without the department and 联户 parts, on ``--points`` address points of
   the county, prepared, over one autocommit connection, in interleaved rounds (best round).

Prints Markdown rows for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from functools import partial

import sqlalchemy as sa

from geogrid import layers
from geogrid.db import database_url, load_sql, make_engine
from geogrid.db import layers as db_layers
from geogrid.db.rawpool import pool_for


def _best(work, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = work()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_layers(engine) -> None:
    print(
        "| layer | grids / base grids | load | crosswalk | conflicts | align | cut base grids | households changing hands |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for dept in ("ZZB", "CGJ"):
        t_load, done = _best(partial(db_layers.compare, engine, dept))
        frames = done.frames
        t_cw, _ = _best(partial(layers.crosswalk, frames))
        t_conf, report = _best(partial(layers.conflicts, frames))
        t_align, proposal = _best(partial(layers.align, frames))
        print(
            f"| {done.layer.department_name} v{done.layer.version} | {len(frames.layer)} / {len(frames.base)} "
            f"| {t_load:.2f} s | {t_cw:.2f} s | {t_conf:.2f} s | {t_align:.2f} s | {len(report.cut_base_codes)} "
            f"| {proposal.households_changed:,.0f} of {proposal.households_original:,.0f} |"
        )


def _without_issue15(sql: str) -> str:
    start = sql.index("    -- Issue 15:")
    end = sql.index("    'crs', 'wgs84',")
    return sql[:start] + sql[end:]


def bench_lookup(engine, points: int, rounds: int) -> None:
    pool = pool_for(engine)
    with engine.connect() as conn:
        pts = conn.execute(
            sa.text("SELECT ST_X(geom), ST_Y(geom) FROM addresses WHERE grid_code IS NOT NULL ORDER BY id"),
        ).all()
    step = max(1, len(pts) // points)
    pts = pts[::step][:points]
    shipped = load_sql("lookup_point")
    variants = {"shipped (departments and 联户)": shipped, "without them": _without_issue15(shipped)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for i, (name, sql) in enumerate(variants.items()):
            t = time.perf_counter()
            for x, y in pts:
                pool.fetchone_prepared(f"bench_lookup_{i}", sql, (x, y))
            times[name].append((time.perf_counter() - t) / len(pts) * 1e6)
    print(f"\n| point lookup statement ({len(pts)} points, best of {rounds} rounds) | µs per lookup |")
    print("|---|---|")
    for name, values in times.items():
        print(f"| {name} | {min(values):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    engine = make_engine(database_url(create=False))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    bench_layers(engine)
    bench_lookup(engine, args.points, args.rounds)


if __name__ == "__main__":
    main()
