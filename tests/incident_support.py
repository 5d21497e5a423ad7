"""A small published county slice for incident tests: one township, two villages, three grids.

Village 001 (东港社区) is split into grids 001 (west) and 002 (east); village 002 (西塘村) is one
grid.  Addresses give household counts (so rates per 100 households are known) and texts
for address lookups.
"""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point, box

from geogrid.db import plans, store

TOWNSHIP = "320508019000"
V1 = "320508019001"
V2 = "320508019002"
G1 = V1 + "001"  # west half of V1: 120.600-120.610
G2 = V1 + "002"  # east half of V1: 120.610-120.620
G3 = V2 + "001"  # all of V2: 120.620-120.640
T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)  # 09:00 China time

# A point inside each grid.
IN_G1 = (120.605, 31.305)
IN_G2 = (120.615, 31.305)
IN_G3 = (120.630, 31.305)


#: Link groups (联户, 17-digit sub-grids) of G1 when :func:`publish_sample` draws them.
L1 = G1 + "01"  # west half of G1: 120.600-120.605
L2 = G1 + "02"  # east half of G1: 120.605-120.610
IN_L1 = (120.602, 31.305)
IN_L2 = (120.607, 31.305)


def publish_sample(engine, *, link_groups: bool = False) -> dict[str, str]:
    """Publish the slice; with ``link_groups`` G1 is split into two link groups L1 and L2."""
    crs = "EPSG:4326"
    store.load(
        engine,
        "divisions",
        gpd.GeoDataFrame(
            {
                "code": [TOWNSHIP, V1, V2],
                "name": ["金港街道", "东港社区", "西塘村"],
                "level": ["township", "village", "village"],
                "parent_code": [None, TOWNSHIP, TOWNSHIP],
                "kind": ["urban", "urban", "rural"],
            },
            geometry=[
                box(120.60, 31.30, 120.64, 31.31),
                box(120.60, 31.30, 120.62, 31.31),
                box(120.62, 31.30, 120.64, 31.31),
            ],
            crs=crs,
        ),
    )
    store.load(
        engine,
        "addresses",
        gpd.GeoDataFrame(
            {
                "address_id": ["a1", "a2", "a3"],
                "full_text": [
                    "江苏省苏州市金港街道东港社区人民路12号",
                    "江苏省苏州市金港街道东港社区人民路88号",
                    "江苏省苏州市金港街道西塘村西塘路5号",
                ],
                "households": [400, 200, 50],
            },
            geometry=[Point(*IN_G1), Point(*IN_G2), Point(*IN_G3)],
            crs=crs,
        ),
    )
    grids = gpd.GeoDataFrame(
        {
            "code": [G1, G2, G3],
            "division_code": [V1, V1, V2],
            "name": ["东港一网格", "东港二网格", "西塘网格"],
            "head_name": ["王芳", "李强", "赵敏"],
        },
        geometry=[
            box(120.60, 31.30, 120.61, 31.31),
            box(120.61, 31.30, 120.62, 31.31),
            box(120.62, 31.30, 120.64, 31.31),
        ],
        crs=crs,
    )
    v1 = grids.iloc[:2]
    if link_groups:
        subs = gpd.GeoDataFrame(
            {
                "code": [L1, L2],
                "division_code": [V1, V1],
                "name": ["一组联户", "二组联户"],
                "head_name": [None, None],
            },
            geometry=[box(120.600, 31.30, 120.605, 31.31), box(120.605, 31.30, 120.61, 31.31)],
            crs=crs,
        )
        v1 = gpd.GeoDataFrame(pd.concat([v1, subs], ignore_index=True), geometry="geometry", crs=crs)
    for scope, frame in ((V1, v1), (V2, grids.iloc[2:])):
        pid = plans.save_plan(engine, frame.reset_index(drop=True), scope_code=scope)
        plans.publish_plan(engine, pid)
    return {"township": TOWNSHIP, "v1": V1, "v2": V2, "g1": G1, "g2": G2, "g3": G3}


COUNTY = "320508000000"
#: The default departments of the slice (geogrid.organisation.default_departments).
POLICE = "320508019D01"  # 金港街道派出所
JUSTICE = "320508019D02"  # 金港街道司法所


def install_organisation(engine, *, centres: bool = True) -> None:
    """The default organisation of the slice: 姑苏区综治中心, 金港街道综治中心, a centre per village,
    the catalogue's departments (城市管理局 is ``320508D..``) and 金港街道派出所/司法所."""
    import sqlalchemy as sa

    from geogrid.db.organisation import install_defaults
    from geogrid.incidents import load_catalogue

    install_defaults(engine, load_catalogue(), county_names={"320508": "姑苏区"})
    if not centres:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM centres"))


def department_code(engine, name: str) -> str:
    from geogrid.db.organisation import department_code as code

    return code(engine, name)
