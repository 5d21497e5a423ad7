"""Bulk-load rate of ``geogrid.db.store.load_frame`` (COPY into staging, INSERT … SELECT).

Loads the divisions, addresses and streets of the first ``--counties`` counties of a province
folder (``geogrid province generate``) into a throwaway database on the project's cluster, one
transaction per county, and prints rows/s per table.  ``--geogrid PATH`` imports geogrid from
another checkout (e.g. an export of an older commit) to measure before/after with one script.

    .venv/bin/python scripts/bench/bench_copy.py /tmp/prov10 --counties 3
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
    parser.add_argument("province")
    parser.add_argument("--counties", type=int, default=3)
    parser.add_argument("--geogrid", help="import geogrid from this checkout instead")
    args = parser.parse_args()
    if args.geogrid:
        sys.path.insert(0, args.geogrid)

    import geopandas as gpd

    from geogrid.db import database_url, make_engine, migrate, store
    from geogrid.db.cluster import drop_database, ensure_database

    server = make_engine(database_url()).url
    name = f"geogrid_bench_copy_{uuid.uuid4().hex[:6]}"
    admin = server.set(database="postgres").render_as_string(hide_password=False)
    ensure_database(admin, name)
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        from pathlib import Path

        counties = sorted(p.name for p in (Path(args.province) / "counties").iterdir())[: args.counties]
        totals: dict[str, list[float]] = {}
        for code in counties:
            base = Path(args.province) / "counties" / code
            with engine.begin() as conn:
                for layer in ("divisions", "addresses", "streets"):
                    frame = gpd.read_parquet(base / f"{layer}.parquet")
                    t0 = time.perf_counter()
                    n = store.load_frame(conn, frame, store.SPECS[layer], source=layer)
                    dt = time.perf_counter() - t0
                    totals.setdefault(layer, [0, 0.0])
                    totals[layer][0] += n
                    totals[layer][1] += dt
                    print(f"{code} {layer}: {n:,} rows in {dt:.2f}s = {n / dt:,.0f} rows/s")
        for layer, (n, dt) in totals.items():
            print(f"TOTAL {layer}: {n:,.0f} rows in {dt:.2f}s = {n / dt:,.0f} rows/s")
    finally:
        engine.dispose()
        drop_database(admin, name)


if __name__ == "__main__":
    main()
