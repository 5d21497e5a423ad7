"""Publish and roll back the demo county's plan (100,000 households, ~900 grids).

    .venv/bin/python scripts/bench/bench_publish.py [--households 100000] [--geogrid PATH]

A throwaway database on the project's cluster gets the seeded demo county
(``make_county(households, seed=0, county_code="320508")``).  Timed: plan A (partition seed 0)
saved and published at once, as ``geogrid partition --publish`` and the demo do (every address
gets a grid), then plan B (seed 1: other grids, as after a re-draw), then rolled back to A and
back to B again.  ``--geogrid PATH`` imports geogrid from
another checkout (e.g. ``git archive`` of an older commit) to compare before/after with one script.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--geogrid", help="import geogrid from this checkout instead")
    args = parser.parse_args()
    if args.geogrid:
        sys.path.insert(0, args.geogrid)

    import sqlalchemy as sa

    from geogrid.county import partition_county
    from geogrid.db import database_url, make_engine, migrate, plans, store
    from geogrid.db.cluster import drop_database, ensure_database
    from geogrid.synthetic import make_county

    server = make_engine(database_url()).url
    name = f"geogrid_bench_publish_{uuid.uuid4().hex[:6]}"
    admin = server.set(database="postgres").render_as_string(hide_password=False)
    ensure_database(admin, name)
    engine = make_engine(server.set(database=name).render_as_string(hide_password=False))
    try:
        migrate.upgrade(engine)
        county = make_county(households=args.households, seed=0, county_code="320508")
        with engine.begin() as conn:
            for table in ("divisions", "addresses", "streets"):
                store.load_frame(conn, getattr(county, table), store.SPECS[table], source=table)
        scope = "320508000000"
        timings = []
        for seed, label in ((0, "publish A (first)"), (1, "publish B (re-draw)")):
            # As `geogrid partition --publish` and the demo do: save the draft, publish it at once.
            result = partition_county(
                county.divisions,
                county.addresses,
                county.streets,
                scheduler="synchronous",
                progress=False,
                seed=seed,
            )
            plan_id = plans.save_plan(engine, result.grids, scope_code=scope, author="bench")
            t0 = time.perf_counter()
            plans.publish_plan(engine, plan_id)
            timings.append((label, time.perf_counter() - t0, len(result.grids)))
        for label in ("roll back to A", "roll back to B"):
            t0 = time.perf_counter()
            plans.rollback_plan(engine, scope)
            timings.append((label, time.perf_counter() - t0, 0))
        with engine.connect() as conn:
            moved = conn.execute(
                sa.text("SELECT count(*) FROM addresses WHERE grid_code IS NOT NULL")
            ).scalar()
        print(
            f"county 320508: {len(county.addresses):,} addresses ({moved:,} in a grid), {timings[0][2]} grids"
        )
        for label, seconds, _ in timings:
            print(f"{label}: {seconds:.2f} s")
    finally:
        engine.dispose()
        drop_database(admin, name)


if __name__ == "__main__":
    main()
