"""A village of 6 × 4 base grids with known households, and department layers drawn over it.

Village 320508019001 spans lon 120.600–120.612, lat 31.300–31.308; base grid (column c, row r)
spans 0.002° × 0.002° (≈ 190 m × 222 m), columns west→east, rows south→north.  Every base grid
holds 25 addresses of 2 households (50 households) at fractions 0.1, 0.3, 0.5, 0.7 and 0.9 of
its width and height, so a boundary at fraction 0.4 of a grid leaves 40 % of its area *and*
of its households on one side.

The cutting layer (综治) has boundaries at lon 120.6028 and 120.6068 (40 % into columns 1 and 3)
and lat 31.3048 (40 % into row 2): six department grids, each cutting base grids in two.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely.geometry import MultiPolygon, Point, Polygon

from geogrid.db import store
from geogrid.db.plans import publish_plan, save_plan

WGS84 = "EPSG:4326"
COUNTY = "320508000000"
TOWNSHIP = "320508019000"
VILLAGE = "320508019001"
WEST, SOUTH, STEP = 120.600, 31.300, 0.002
COLS, ROWS = 6, 4
EAST, NORTH = WEST + COLS * STEP, SOUTH + ROWS * STEP
HOUSEHOLDS_PER_ADDRESS = 2
FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
XS = [round(WEST + c * STEP, 6) for c in range(COLS + 1)]
YS = [round(SOUTH + r * STEP, 6) for r in range(ROWS + 1)]
CUT_XS = (120.6028, 120.6068)
CUT_Y = 31.3048


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """A rectangle with a vertex wherever a lattice line meets its sides (shared edges stay exact)."""
    xs = sorted({x for x in (*XS, *CUT_XS) if x0 < x < x1})
    ys = sorted({y for y in (*YS, CUT_Y) if y0 < y < y1})
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


def base_code(c: int, r: int) -> str:
    """Codes numbered west→east, north→south as geogrid numbers grids."""
    return VILLAGE + f"{(ROWS - 1 - r) * COLS + c + 1:03d}"


def base_grids() -> gpd.GeoDataFrame:
    rows = []
    for r in range(ROWS):
        for c in range(COLS):
            rows.append(
                {
                    "code": base_code(c, r),
                    "division_code": VILLAGE,
                    "name": f"第{(ROWS - 1 - r) * COLS + c + 1}网格",
                    "kind": "rural",
                    "households": 25 * HOUSEHOLDS_PER_ADDRESS,
                    "geometry": rect(XS[c], YS[r], XS[c + 1], YS[r + 1]),
                }
            )
    return gpd.GeoDataFrame(rows, crs=WGS84).sort_values("code").reset_index(drop=True)


def addresses() -> gpd.GeoDataFrame:
    rows = []
    for r in range(ROWS):
        for c in range(COLS):
            for i, fx in enumerate(FRACTIONS):
                for j, fy in enumerate(FRACTIONS):
                    x, y = WEST + (c + fx) * STEP, SOUTH + (r + fy) * STEP
                    rows.append(
                        {
                            "address_id": f"A{c}{r}{i}{j}",
                            "full_text": f"金港街道东港村{c + 1}组{r * 25 + i * 5 + j + 1}号",
                            "households": HOUSEHOLDS_PER_ADDRESS,
                            "geometry": Point(round(x, 7), round(y, 7)),
                        }
                    )
    return gpd.GeoDataFrame(rows, crs=WGS84)


def village() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": [COUNTY, TOWNSHIP, VILLAGE],
            "name": ["姑苏区", "金港街道", "东港村"],
            "level": ["county", "township", "village"],
            "parent_code": [None, None, TOWNSHIP],
            "kind": [None, "rural", "rural"],
        },
        geometry=[rect(WEST, SOUTH, EAST, NORTH)] * 3,
        crs=WGS84,
    )


def cutting_layer() -> gpd.GeoDataFrame:
    """Six department grids: W/M/E (cuts at 40 % of columns 1 and 3) × S/N (40 % of row 2)."""
    xs = (WEST, *CUT_XS, EAST)
    ys = (SOUTH, CUT_Y, NORTH)
    rows = []
    for j, ns in ((1, "N"), (0, "S")):
        for i, we in enumerate("WME"):
            rows.append(
                {
                    "code": f"ZZ-{we}{ns}",
                    "name": f"综治{we}{ns}网格",
                    "unit_code": f"ZZ-U{i + 1}",
                    "unit_name": f"综治第{'一二三'[i]}工作站",
                    "geometry": rect(xs[i], ys[j], xs[i + 1], ys[j + 1]),
                }
            )
    return gpd.GeoDataFrame(rows, crs=WGS84)


def households_by_cutting_grid() -> dict[str, int]:
    """Households inside each cutting grid, counted address by address (the expected values)."""
    out: dict[str, int] = {}
    for row in cutting_layer().itertuples():
        out[row.code] = int(
            sum(HOUSEHOLDS_PER_ADDRESS for p in addresses().geometry if row.geometry.contains(p))
        )
    return out


def multipart(a: Polygon, b: Polygon) -> MultiPolygon:
    return MultiPolygon([a, b])


def load_village(engine, *, publish: bool = True) -> int:
    """The village, its addresses and its base grids published; returns the plan id."""
    store.load(engine, "divisions", village())
    store.load(engine, "addresses", addresses())
    plan_id = save_plan(engine, base_grids().drop(columns="households"), scope_code=VILLAGE, author="test")
    if publish:
        publish_plan(engine, plan_id)
    return plan_id


def random_points(n: int, seed: int = 0) -> np.ndarray:
    """Points strictly inside the village, away from every lattice and cut line (by > 1 m)."""
    rng = np.random.default_rng(seed)
    out = []
    lines_x = (*XS, *CUT_XS)
    lines_y = (*YS, CUT_Y)
    while len(out) < n:
        x, y = rng.uniform(WEST, EAST), rng.uniform(SOUTH, NORTH)
        if min(abs(x - v) for v in lines_x) > 2e-5 and min(abs(y - v) for v in lines_y) > 2e-5:
            out.append((x, y))
    return np.asarray(out)
