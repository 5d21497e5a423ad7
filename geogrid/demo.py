"""The main job of the README: sample data in, grids partitioned and published.

1. a seeded synthetic county (townships → villages → streets → addresses with households),
2. the real Helsinki OpenStreetMap sample (``data/helsinki``; an illustrative village code),
both loaded into PostGIS, partitioned (urban 300–500, rural 50–100 households) and published,
then the county's organisation (a 综治中心 per county, township and village, the catalogue's
departments, each township's 派出所 and 司法所), a synthetic roster of the 4+N grid force, the
centres' dispatchers and the departments' liaisons, and seeded synthetic incident reports that
run through the real workflow (accepted, dispatched, summoned, escalated, closed, some late) so
the dashboard's rates and rankings mean something.  Idempotent: what is loaded is not loaded
again, and a scope that already has a published plan is not re-partitioned.
"""

from __future__ import annotations

import time
from collections import Counter
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


def _load_incidents(engine: Engine, county_code: str, *, n: int, seed: int) -> Counter:
    """Synthetic reports over the last 90 days (two in five found on patrol by the grid head, the
    rest from 12345 with a ticket number), their lives through the workflow up to now, then the
    hotline's follow-ups (回访) of the closed ones."""
    from datetime import UTC, datetime

    from geogrid.db.incidents import import_incidents
    from geogrid.db.replay import attribute_reports, follow_up_closed, replay_incidents
    from geogrid.incidents import load_catalogue
    from geogrid.synthetic import make_incidents

    catalogue = load_catalogue()
    addresses = store.read_table(
        engine, "addresses", where="division_code LIKE :p", params={"p": county_code + "%"}
    )
    now = datetime.now(UTC).replace(microsecond=0)
    reports = make_incidents(addresses, n=n, categories=sorted(catalogue.categories), seed=seed, end=now)
    import_incidents(engine, reports, catalogue=catalogue, actor_name="geogrid demo")
    attribute_reports(engine, catalogue, seed=seed, prefix=county_code)
    lives = replay_incidents(engine, catalogue, now=now, seed=seed, prefix=county_code)
    follow_up_closed(engine, catalogue, now=now, seed=seed, prefix=county_code)
    return lives


def _organise(engine: Engine, county_code: str, *, seed: int) -> None:
    """The county's centres and departments, and a roster of the 4+N grid force on every
    published grid, a dispatcher at every centre and a liaison in every department."""
    from geogrid.db.organisation import install_defaults, list_centres, list_departments
    from geogrid.db.staff import assign_staff
    from geogrid.incidents import load_catalogue
    from geogrid.synthetic import make_roster

    install_defaults(engine, load_catalogue(), county_prefix=county_code)
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
    centres = [c.code for c in list_centres(engine, within=county_code)]
    departments = [d.code for d in list_departments(engine) if d.code.startswith(county_code)]
    roster = make_roster(codes, seed=seed, roles=DEMO_ROLES, centres=centres, departments=departments)
    assign_staff(engine, roster, source="synthetic roster")


#: The grid roles the demo roster fills besides 网格长 and 专职网格员 (宁国's 4+N).
DEMO_ROLES = ("part_time_worker", "grid_instructor", "grid_police", "grid_legal")


def _summary(engine: Engine, url: str, scope: str, helsinki_code: str) -> dict[str, object]:
    plan_id = plans.published_plan_id(engine, scope)
    info = plans.get_plan(engine, plan_id) if plan_id else None
    helsinki_plan = plans.published_plan_id(engine, helsinki_code)
    return {
        "database": url,
        "divisions": _count(engine, "SELECT count(*) FROM divisions"),
        "addresses": _count(engine, "SELECT count(*) FROM addresses"),
        "households": _count(engine, "SELECT coalesce(sum(households), 0) FROM addresses"),
        "published plan": f"{info.id} (scope {info.scope_code}, version {info.version})" if info else "none",
        "grids": info.grid_count if info else 0,
        "Helsinki plan": helsinki_plan or "none",
        "addresses in a grid": _count(engine, "SELECT count(*) FROM addresses WHERE grid_code IS NOT NULL"),
        "incidents": _count(engine, "SELECT count(*) FROM incidents"),
        "centres (综治中心)": _count(engine, "SELECT count(*) FROM centres"),
        "staff (roster)": _count(engine, "SELECT count(*) FROM staff"),
        "summonses (吹哨)": _count(engine, "SELECT count(*) FROM summons"),
    }


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

    if not _count(engine, "SELECT count(*) FROM staff"):
        _organise(engine, county_code, seed=seed)
        console.print(
            "set up the 综治中心 (county, townships, villages), the departments and a synthetic roster "
            "(网格长, 专职/兼职网格员, 网格指导员, 警务员, 法务员, 调度员, 部门联络员)"
        )
    if not _count(engine, "SELECT count(*) FROM incidents"):
        lives = _load_incidents(engine, county_code, n=incidents, seed=seed)
        closed = lives.get("closed", 0)
        console.print(
            f"reported {incidents:,} synthetic incidents over the last 90 days and ran them through the "
            f"workflow: {closed:,} closed, {sum(lives.values()) - closed:,} at other stages"
        )

    from geogrid.demo_layers import load_demo  # issue 15: register, 联户, department layers

    issue15 = load_demo(engine, county_code, seed=seed, console=console)
    summary = {**_summary(engine, url, scope, helsinki_code), **issue15}
    summary["time"] = f"{time.perf_counter() - started:.1f}s"
    engine.dispose()
    return summary
