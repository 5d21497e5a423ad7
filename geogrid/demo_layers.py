"""The demo county's register (一户一档), 联户 and two department layers (issue 15).

Kept small so that ``geogrid demo`` stays quick: the register covers two villages (the smallest
urban community and the smallest rural village, a few thousand clearly fake households) with their
link groups; the two department layers cover the whole county — 综治办's own cells cutting across
the base grids, and 城市管理局's grids drawn along whole base grids but a few metres off.
Idempotent: what is there is not loaded again.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from geogrid.db import layers as db_layers
from geogrid.db import link_groups as db_groups
from geogrid.db import register as db_register
from geogrid.db import store
from geogrid.db.plans import published_grids
from geogrid.db.secrets import register_keys
from geogrid.register import read_register
from geogrid.synthetic_layers import cutting_layer, nearly_aligned_layer
from geogrid.synthetic_register import make_register

#: The demo's two departments: (code, name, layer maker).
CUTTING = ("ZZB", "综治办")
ALIGNED = ("CGJ", "城市管理局")


def _count(engine: Engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar() or 0)


def register_villages(engine: Engine, county_code: str) -> list[str]:
    """The smallest urban community and the smallest rural village of the county."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT d.code, d.kind FROM divisions d JOIN addresses a ON a.division_code = d.code "
                "WHERE d.level = 'village' AND d.code LIKE :p GROUP BY d.code, d.kind ORDER BY sum(a.households), d.code"
            ),
            {"p": county_code + "%"},
        ).all()
    chosen: dict[str, str] = {}
    for code, kind in rows:
        chosen.setdefault(kind, code)
    return sorted(chosen.values())


def load_register(engine: Engine, villages: list[str], *, county_code: str, seed: int) -> int:
    """A synthetic register for every household of ``villages``; returns the residents imported."""
    addresses = store.read_table(
        engine, "addresses", where="division_code = ANY(:v) AND households > 0", params={"v": villages},
        columns=["address_id", "households"],
    )  # fmt: skip
    rows = read_register(
        make_register(pd.DataFrame(addresses.drop(columns="geometry")), seed=seed, county_code=county_code)
    )
    done = db_register.import_register(engine, rows, register_keys(), source="synthetic register")
    return done.residents


def load_layers(engine: Engine, county_code: str, *, seed: int) -> None:
    """综治办's cutting layer and 城市管理局's nearly aligned layer over the county's base grids."""
    base, _ = published_grids(engine, county_code + "000000")
    base = base[base["code"].str.len() == 15].reset_index(drop=True)
    area = base.union_all()
    cut = cutting_layer(area, n=max(4, len(base) // 3), seed=seed, prefix="ZZ", department_name="综治")
    near = nearly_aligned_layer(base, per_grid=3, shift_m=2.0, seed=seed, prefix="CG", department_name="城管")
    for (code, name), layer in ((CUTTING, cut), (ALIGNED, near)):
        db_layers.import_layer(
            engine, gpd.GeoDataFrame(layer), department_code=code, department_name=name,
            scope_code=county_code + "000000", source="synthetic", author="geogrid demo",
        )  # fmt: skip


def load_demo(engine: Engine, county_code: str, *, seed: int, console: Console) -> dict[str, object]:
    """Register, 联户 and department layers of the demo county (skipping what is loaded); a summary."""
    villages = register_villages(engine, county_code)
    if villages and not _count(engine, "SELECT count(*) FROM register_residents"):
        residents = load_register(engine, villages, county_code=county_code, seed=seed)
        console.print(
            f"loaded a synthetic register (一户一档) of {residents:,} clearly fake residents in {', '.join(villages)}"
        )
    if villages and not _count(engine, "SELECT count(*) FROM link_groups"):
        groups = sum(db_groups.form(engine, v, seed=seed).groups for v in villages)
        console.print(f"formed {groups:,} link groups (联户) of 10–15 households")
    if not _count(engine, "SELECT count(*) FROM department_layers"):
        load_layers(engine, county_code, seed=seed)
        console.print(
            f"imported two department layers: {CUTTING[1]} (cuts across grids), {ALIGNED[1]} (nearly aligned)"
        )
    return {
        "register residents": _count(engine, "SELECT count(*) FROM register_residents"),
        "link groups (联户)": _count(engine, "SELECT count(*) FROM link_groups"),
        "department layers": _count(engine, "SELECT count(*) FROM department_layers"),
    }
