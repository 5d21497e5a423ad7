"""A tiny township for the grid service API tests: two villages, two plans, a few addresses.

Township 320508001000 (平江街道) = two villages side by side, each 0.01° × 0.02°:

- 320508001001 鹤市社区: lon 120.60–120.61, lat 31.30–31.32
- 320508001002 桃园社区: lon 120.61–120.62, lat 31.30–31.32

Plan A splits every village west | east into grids ``…001`` and ``…002`` and grid
``320508001001001`` again into sub-grids ``…01`` (south) and ``…02`` (north).  Plan B splits
every village south / north into grids ``…003`` and ``…004``: no code is shared, so any
answer mixing codes of both plans would be visible.
"""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import Point, Polygon
from shapely.geometry import box as _box
from sqlalchemy.engine import Engine

from geogrid.db import store
from geogrid.db.plans import publish_plan, save_plan

WGS84 = "EPSG:4326"
COUNTY = "320508000000"
TOWNSHIP = "320508001000"
V1, V2 = "320508001001", "320508001002"
VILLAGES = {V1: (120.60, 120.61), V2: (120.61, 120.62)}
SOUTH, NORTH = 31.30, 31.32
MID_LAT = 31.31
HOUSEHOLDS = 400
# Every polygon carries all lattice points on its sides, so shared edges have identical
# vertices (a long parent edge against two short grid edges would leave re-projection
# slivers of ~0.01 m² that validation rightly reports).
_XS = (120.60, 120.605, 120.61, 120.615, 120.62)
_YS = (SOUTH, MID_LAT, NORTH)


def box(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """A lon/lat rectangle with a vertex at every lattice point on its boundary."""
    xs = [x for x in _XS if x0 < x < x1]
    ys = [y for y in _YS if y0 < y < y1]
    ring = [
        (x0, y0),
        *((x, y0) for x in xs),
        (x1, y0),
        *((x1, y) for y in ys),
        (x1, y1),
        *((x, y1) for x in reversed(xs)),
        (x0, y1),
        *((x0, y) for y in reversed(ys)),
    ]
    return Polygon(ring)


def divisions() -> gpd.GeoDataFrame:
    rows = [
        {
            "code": COUNTY,
            "name": "姑苏区",
            "level": "county",
            "parent_code": None,
            "kind": None,
            "geometry": _box(120.59, 31.29, 120.63, 31.33),
        },
        {
            "code": TOWNSHIP,
            "name": "平江街道",
            "level": "township",
            "parent_code": COUNTY,
            "kind": "urban",
            "geometry": box(120.60, SOUTH, 120.62, NORTH),
        },
        {
            "code": V1,
            "name": "鹤市社区",
            "level": "village",
            "parent_code": TOWNSHIP,
            "kind": "urban",
            "geometry": box(120.60, SOUTH, 120.61, NORTH),
        },
        {
            "code": V2,
            "name": "桃园社区",
            "level": "village",
            "parent_code": TOWNSHIP,
            "kind": "urban",
            "geometry": box(120.61, SOUTH, 120.62, NORTH),
        },
    ]
    return gpd.GeoDataFrame(rows, crs=WGS84)


def plan_a() -> gpd.GeoDataFrame:
    rows = []
    for village, (w, e) in VILLAGES.items():
        mid = (w + e) / 2
        rows.append(
            {
                "code": village + "001",
                "division_code": village,
                "name": "西网格",
                "households": HOUSEHOLDS,
                "head_name": "张三",
                "head_phone": "13800000001",
                "workers": [{"name": "李四", "phone": "13800000002"}],
                "geometry": box(w, SOUTH, mid, NORTH),
            }
        )
        rows.append(
            {
                "code": village + "002",
                "division_code": village,
                "name": "东网格",
                "households": HOUSEHOLDS,
                "head_name": "王五",
                "head_phone": "13800000003",
                "workers": [],
                "geometry": box(mid, SOUTH, e, NORTH),
            }
        )
    w, e = VILLAGES[V1]
    mid = (w + e) / 2
    rows.append(
        {
            "code": V1 + "00101",
            "division_code": V1,
            "name": "南联户",
            "households": 200,
            "workers": [],
            "geometry": box(w, SOUTH, mid, MID_LAT),
        }
    )
    rows.append(
        {
            "code": V1 + "00102",
            "division_code": V1,
            "name": "北联户",
            "households": 200,
            "workers": [],
            "geometry": box(w, MID_LAT, mid, NORTH),
        }
    )
    return gpd.GeoDataFrame(rows, crs=WGS84)


def plan_b() -> gpd.GeoDataFrame:
    rows = []
    for village, (w, e) in VILLAGES.items():
        rows.append(
            {
                "code": village + "003",
                "division_code": village,
                "name": "南网格",
                "households": HOUSEHOLDS,
                "workers": [],
                "geometry": box(w, SOUTH, e, MID_LAT),
            }
        )
        rows.append(
            {
                "code": village + "004",
                "division_code": village,
                "name": "北网格",
                "households": HOUSEHOLDS,
                "workers": [],
                "geometry": box(w, MID_LAT, e, NORTH),
            }
        )
    return gpd.GeoDataFrame(rows, crs=WGS84)


ADDRESS_ROWS = [
    # (id, text, lon, lat, households)
    ("A1", "江苏省苏州市姑苏区平江街道鹤市社区鹤市2巷3号1幢", 120.6020, 31.3050, 1),
    ("A2", "江苏省苏州市姑苏区平江街道鹤市社区鹤市2巷5号", 120.6080, 31.3150, 1),
    ("A3", "江苏省苏州市姑苏区平江街道桃园社区桃园路18号", 120.6120, 31.3100, 1),
    ("A4", "江苏省苏州市姑苏区平江街道桃园社区桃园路20号", 120.6180, 31.3170, 1),
    # the same text recorded twice, in different grids: an ambiguous address
    ("A5", "江苏省苏州市姑苏区平江街道桃园社区观前街7号", 120.6120, 31.3020, 1),
    ("A6", "江苏省苏州市姑苏区平江街道桃园社区观前街7号", 120.6180, 31.3180, 1),
]


def addresses() -> gpd.GeoDataFrame:
    rows = []
    for aid, text, lon, lat, hh in ADDRESS_ROWS:
        village = V1 if lon < 120.61 else V2
        rows.append(
            {
                "address_id": aid,
                "full_text": text,
                "households": hh,
                "province": "江苏省",
                "city": "苏州市",
                "county": "姑苏区",
                "division_code": village,
                "geometry": Point(lon, lat),
            }
        )
    return gpd.GeoDataFrame(rows, crs=WGS84)


def load_base(engine: Engine) -> None:
    """Divisions and addresses (no plans)."""
    store.load(engine, "divisions", divisions())
    store.load(engine, "addresses", addresses())


def load_township(engine: Engine, *, publish: str | None = "a") -> dict[str, int]:
    """Divisions, addresses and both plans as drafts; ``publish`` = "a", "b" or None."""
    load_base(engine)
    ids = {
        "a": save_plan(engine, plan_a(), scope_code=TOWNSHIP, author="test"),
        "b": save_plan(engine, plan_b(), scope_code=TOWNSHIP, author="test"),
    }
    if publish:
        publish_plan(engine, ids[publish])
    return ids


def feature_collection(frame: gpd.GeoDataFrame) -> dict:
    """A GeoJSON FeatureCollection of a plan frame (what a planner uploads)."""
    import json

    return json.loads(frame.to_json(drop_id=True))


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The WebMercatorQuad tile ``(z, x, y)`` containing a lon/lat point."""
    import math

    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    rad = math.radians(lat)
    y = int((1.0 - math.log(math.tan(rad) + 1.0 / math.cos(rad)) / math.pi) / 2.0 * n)
    return z, x, y


def codes_of(plan: gpd.GeoDataFrame) -> set[str]:
    return set(plan["code"])
