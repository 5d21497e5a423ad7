"""Publish and roll back the demo county's plan (100,000 households, ~900 grids).

    .venv/bin/python scripts/bench/bench_publish.py [--households 100000] [--geogrid PATH]

A throwaway database on the project's cluster gets the seeded demo county
(``make_county(households, seed=0, county_code="320508")``), partitioned twice (seeds 0 and 1:
two plans whose grids differ, as after a re-draw).  Then, timed: publish plan A (first publish,
every address gets a grid), publish plan B (the re-draw: addresses move to other grids), roll
back to A, roll back to B again (undo of the undo).  ``--geogrid PATH`` imports geogrid from
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
        ids = []
        for seed in (0, 1):
            result = partition_county(
                county.divisions,
                county.addresses,
                county.streets,
                scheduler="synchronous",
                progress=False,
                seed=seed,
            )
            ids.append(plans.save_plan(engine, result.grids, scope_code=scope, author="bench"))
        with engine.connect() as conn:
            grids = conn.execute(
                sa.text("SELECT count(*) FROM grids WHERE plan_id = :p"), {"p": ids[0]}
            ).scalar()
        steps = [
            ("publish A (first)", lambda: plans.publish_plan(engine, ids[0])),
            ("publish B (re-draw)", lambda: plans.publish_plan(engine, ids[1])),
            ("roll back to A", lambda: plans.rollback_plan(engine, scope)),
            ("roll back to B", lambda: plans.rollback_plan(engine, scope)),
        ]
        print(f"county 320508: {len(county.addresses):,} addresses, {grids} grids in plan A")
        for label, step in steps:
            t0 = time.perf_counter()
            step()
            print(f"{label}: {time.perf_counter() - t0:.2f} s")
    finally:
        engine.dispose()
        drop_database(admin, name)


if __name__ == "__main__":
    main()
