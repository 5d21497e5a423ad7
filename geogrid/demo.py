"""The main job of the README: sample data in, a county partitioned and published.

Idempotent: data already loaded is not loaded again, and a county that already has a
published plan is not re-partitioned.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from rich.console import Console

from geogrid.db import database_url, make_engine, migrate, plans, store


def _count(engine, sql: str, **params) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar() or 0)


def run_demo(
    *, households: int = 100_000, seed: int = 0, county_code: str = "320508", console: Console | None = None
) -> dict[str, object]:
    """Start/migrate the database, load a synthetic county, partition it, publish; return a summary."""
    from geogrid.county import partition_county
    from geogrid.synthetic import make_county

    console = console or Console()
    started = time.perf_counter()
    url = database_url()
    engine = make_engine(url)
    migrate.upgrade(engine)
    scope = county_code + "000000"

    have = _count(engine, "SELECT count(*) FROM divisions WHERE code LIKE :p", p=county_code + "%")
    county = None
    if have == 0:
        console.print(f"generating a synthetic county {county_code} with {households:,} households (seed {seed})…")
        county = make_county(households=households, seed=seed, county_code=county_code)
        with engine.begin() as conn:
            for table, frame in (
                ("divisions", county.divisions),
                ("addresses", county.addresses),
                ("streets", county.streets),
            ):
                store.load_frame(conn, frame, store.SPECS[table], source=f"synthetic {table}")
        console.print("loaded divisions, addresses and streets")
    else:
        console.print(f"county {county_code} already loaded ({have} divisions)")

    plan_id = plans.published_plan_id(engine, scope)
    if plan_id is None:
        divisions = store.read_table(engine, "divisions", where="code LIKE :p", params={"p": county_code + "%"})
        addresses = store.read_table(
            engine, "addresses", where="division_code LIKE :p", params={"p": county_code + "%"}
        )
        streets = store.read_table(engine, "streets")
        console.print(f"partitioning {int((divisions['level'] == 'village').sum())} villages…")
        result = partition_county(
            divisions, addresses, streets, seed=seed, progress=True
        )
        if result.failed:
            console.print(f"[yellow]{len(result.failed)} village(s) could not be partitioned:[/]")
            for code, reason in list(result.failed.items())[:10]:
                console.print(f"  {code}: {reason}")
        plan_id = plans.save_plan(engine, result.grids, scope_code=scope, author="geogrid demo", note="partitioned by geogrid demo")
        plans.publish_plan(engine, plan_id)
    info = plans.get_plan(engine, plan_id)
    summary = {
        "database": url,
        "divisions": _count(engine, "SELECT count(*) FROM divisions"),
        "addresses": _count(engine, "SELECT count(*) FROM addresses"),
        "households": _count(engine, "SELECT coalesce(sum(households), 0) FROM addresses"),
        "published plan": f"{info.id} (scope {info.scope_code}, version {info.version})",
        "grids": info.grid_count,
        "time": f"{time.perf_counter() - started:.1f}s",
    }
    engine.dispose()
    return summary
