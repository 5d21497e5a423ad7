"""The main job of the README: sample data in, grids partitioned and published.

1. a seeded synthetic county (townships → villages → streets → addresses with households),
2. the real Helsinki OpenStreetMap sample (``data/helsinki``; an illustrative village code),
both loaded into PostGIS, partitioned (urban 300–500, rural 50–100 households) and published,
plus seeded synthetic incident reports for the heatmaps.  Idempotent: what is loaded is not loaded again, and a scope that
already has a published plan is not re-partitioned.
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from geogrid.db import database_url, make_engine, migrate, plans, store
from geogrid.db.workflow import partition_scope

HELSINKI = Path(__file__).resolve().parents[1] / "data" / "helsinki" / "helsinki.gpkg"


def _count(engine: Engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar() or 0)


def _load(engine: Engine, frames: dict[str, gpd.GeoDataFrame], source: str) -> None:
    with engine.begin() as conn:
        for table, frame in frames.items():
            store.load_frame(conn, frame, store.SPECS[table], source=f"{source} {table}")


def _has_published_grids(engine: Engine, division_prefix: str) -> bool:
    return bool(
        _count(
            engine,
            "SELECT count(*) FROM grids g JOIN plans p ON p.id = g.plan_id AND p.status = 'published' "
            "WHERE g.division_code LIKE :p",
            p=division_prefix + "%",
        )
    )


def _load_incidents(engine: Engine, county_code: str, *, n: int, seed: int) -> None:
    from geogrid.db.incidents import import_incidents
    from geogrid.incidents import load_catalogue
    from geogrid.synthetic import make_incidents

    catalogue = load_catalogue()
    addresses = store.read_table(
        engine, "addresses", where="division_code LIKE :p", params={"p": county_code + "%"}
    )
    reports = make_incidents(addresses, n=n, categories=sorted(catalogue.categories), seed=seed)
    import_incidents(engine, reports, catalogue=catalogue, actor_name="geogrid demo")


def _assign_demo_staff(engine: Engine, *, seed: int) -> None:
    from geogrid.db.staff import assign_staff
    from geogrid.synthetic import make_roster

    with engine.connect() as conn:
        codes = (
            conn.execute(
                sa.text(
                    "SELECT g.code FROM grids g JOIN plans p ON p.id = g.plan_id AND p.status = 'published' ORDER BY g.code"
                )
            )
            .scalars()
            .all()
        )
    assign_staff(engine, make_roster(codes, seed=seed), source="synthetic roster")


def run_demo(
    *,
    households: int = 100_000,
    seed: int = 0,
    county_code: str = "320508",
    console: Console | None = None,
    scheduler: object = None,
    incidents: int = 5_000,
) -> dict[str, object]:
    """Start/migrate the database, load and partition the samples, publish; return a summary."""
    from geogrid.synthetic import make_county

    console = console or Console()
    started = time.perf_counter()
    url = database_url()
    engine = make_engine(url)
    migrate.upgrade(engine)
    scope = county_code + "000000"

    if not _count(
        engine, "SELECT count(*) FROM divisions WHERE code LIKE :p AND level = 'village'", p=county_code + "%"
    ):
        console.print(
            f"generating a synthetic county {county_code} with {households:,} households (seed {seed})…"
        )
        county = make_county(households=households, seed=seed, county_code=county_code)
        _load(
            engine,
            {"divisions": county.divisions, "addresses": county.addresses, "streets": county.streets},
            "synthetic",
        )
        console.print(
            f"loaded {len(county.divisions)} divisions, {len(county.addresses):,} addresses, "
            f"{len(county.streets):,} streets"
        )
    if not _has_published_grids(engine, county_code):
        console.print("partitioning the county's villages…")
        done = partition_scope(
            engine, scope, seed=seed, scheduler=scheduler, author="geogrid demo", publish=True
        )
        for code, reason in done.result.failed.items():
            console.print(f"[yellow]village {code} not partitioned:[/] {reason}")

    helsinki = gpd.read_file(HELSINKI, layer="area")
    helsinki_code = str(helsinki["code"].iloc[0])
    if not _count(engine, "SELECT count(*) FROM divisions WHERE code = :c", c=helsinki_code):
        _load(
            engine,
            {
                "divisions": helsinki,
                "addresses": gpd.read_file(HELSINKI, layer="addresses"),
                "streets": gpd.read_file(HELSINKI, layer="streets"),
            },
            "helsinki",
        )
        console.print("loaded the Helsinki OpenStreetMap sample (ODbL, © OpenStreetMap contributors)")
    if not _has_published_grids(engine, helsinki_code):
        console.print("partitioning the Helsinki sample with urban bounds…")
        partition_scope(
            engine,
            helsinki_code,
            rule="urban",
            seed=seed,
            scheduler="synchronous",
            author="geogrid demo",
            publish=True,
            progress=False,
        )

    if not _count(
        engine,
        "SELECT count(*) FROM grids g JOIN plans p ON p.id = g.plan_id "
        "AND p.status = 'published' WHERE g.head_name IS NOT NULL",
    ):
        _assign_demo_staff(engine, seed=seed)
        console.print("assigned synthetic grid heads and workers (网格长/网格员)")
    if not _count(engine, "SELECT count(*) FROM incidents"):
        _load_incidents(engine, county_code, n=incidents, seed=seed)
        console.print(f"reported {incidents:,} synthetic incidents over the last 90 days (for the heatmap)")

    from geogrid.demo_layers import load_demo  # issue 15: register, 联户, department layers

    issue15 = load_demo(engine, county_code, seed=seed, console=console)
    plan_id = plans.published_plan_id(engine, scope)
    info = plans.get_plan(engine, plan_id) if plan_id else None
    helsinki_plan = plans.published_plan_id(engine, helsinki_code)
    summary = {
        "database": url,
        "divisions": _count(engine, "SELECT count(*) FROM divisions"),
        "addresses": _count(engine, "SELECT count(*) FROM addresses"),
        "households": _count(engine, "SELECT coalesce(sum(households), 0) FROM addresses"),
        "published plan": f"{info.id} (scope {info.scope_code}, version {info.version})" if info else "none",
        "grids": info.grid_count if info else 0,
        "Helsinki plan": helsinki_plan or "none",
        "addresses in a grid": _count(engine, "SELECT count(*) FROM addresses WHERE grid_code IS NOT NULL"),
        "incidents": _count(engine, "SELECT count(*) FROM incidents"),
        **issue15,
        "time": f"{time.perf_counter() - started:.1f}s",
    }
    engine.dispose()
    return summary
