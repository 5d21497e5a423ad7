"""Small builders shared by database tests."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import box

from geogrid.db import store


def village_frame(
    code: str, bounds: tuple[float, float, float, float], *, name: str = "东港社区", kind: str = "urban"
) -> gpd.GeoDataFrame:
    """One village (a box) with its township as parent, as a divisions frame."""
    return gpd.GeoDataFrame(
        {
            "code": [code],
            "name": [name],
            "level": ["village"],
            "parent_code": [code[:9] + "000"],
            "kind": [kind],
        },
        geometry=[box(*bounds)],
        crs="EPSG:4326",
    )


def load_village(engine, code: str, bounds: tuple[float, float, float, float], **options) -> None:
    """Store one village (see :func:`village_frame`)."""
    store.load(engine, "divisions", village_frame(code, bounds, **options))
