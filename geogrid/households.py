"""Household estimates from building footprints, for places with footprints and no register.

A residential building holds about ``floor area ÷ dwelling size`` households, where floor
area is footprint area × number of levels; a detached house holds one.  Levels come from a
levels column (OSM ``building:levels``), else from a height column ÷ floor height, else a
default.  Buildings whose use or OSM ``building`` tag is not residential (commercial,
industrial, school, church, garage ...) hold none when ``residential_only``.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.crs import metric_crs_for
from geogrid.frames import WGS84

__all__ = ["DETACHED_TAGS", "NON_RESIDENTIAL_TAGS", "addresses_from_buildings", "estimate_households"]

#: Use / OSM ``building`` values that hold no households (lower case; Chinese uses included).
NON_RESIDENTIAL_TAGS = frozenset(
    [
        "commercial",
        "industrial",
        "retail",
        "office",
        "school",
        "university",
        "college",
        "kindergarten",
        "hospital",
        "church",
        "chapel",
        "cathedral",
        "mosque",
        "temple",
        "shrine",
        "synagogue",
        "religious",
        "public",
        "civic",
        "government",
        "warehouse",
        "garage",
        "garages",
        "parking",
        "carport",
        "shed",
        "hangar",
        "barn",
        "cowshed",
        "stable",
        "sty",
        "greenhouse",
        "farm_auxiliary",
        "train_station",
        "transportation",
        "sports_hall",
        "sports_centre",
        "stadium",
        "grandstand",
        "pavilion",
        "hotel",
        "supermarket",
        "kiosk",
        "service",
        "manufacture",
        "fire_station",
        "toilets",
        "bunker",
        "ruins",
        "roof",
        "construction",
        "transformer_tower",
        "water_tower",
        "bridge",
        "museum",
        "library",
        "theatre",
        "cinema",
        "bank",
        "police",
        "prison",
        "boathouse",
        "silo",
        "storage_tank",
        "tower",
        "gatehouse",
        "商业",
        "工业",
        "办公",
        "学校",
        "医院",
        "仓库",
        "厂房",
        "宗教",
        "公共",
        "车库",
        "商场",
        "酒店",
    ]
)
#: Use / OSM ``building`` values of one-household houses.
DETACHED_TAGS = frozenset(
    [
        "house",
        "detached",
        "bungalow",
        "cabin",
        "hut",
        "farm",
        "static_caravan",
        "独栋",
        "农房",
        "民房",
        "自建房",
    ]
)

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def estimate_households(
    buildings: gpd.GeoDataFrame,
    *,
    dwelling_m2: float = 90.0,
    floor_height_m: float = 3.0,
    detached_max_m2: float = 200.0,
    detached_max_levels: int = 2,
    levels_column: str = "levels",
    height_column: str = "height",
    default_levels: int = 3,
    use_columns: tuple[str, ...] = ("use", "building"),
    residential_only: bool = True,
) -> pd.Series:
    """Estimate the households of each building from its footprint, levels and use.

    Parameters
    ----------
    buildings
        Footprints (Polygon/MultiPolygon) in any CRS; areas are measured in a local metric CRS
        (:func:`geogrid.crs.metric_crs_for`) when the CRS is geographic.
    dwelling_m2
        Gross floor area of one dwelling (m²).  Households = footprint × levels ÷ this, rounded,
        at least 1 for a residential building.
    floor_height_m
        Storey height used to turn ``height_column`` (m) into levels when levels are missing.
    detached_max_m2
        A residential footprint up to this area with at most ``detached_max_levels`` levels is a
        detached house: 1 household.
    detached_max_levels
        See ``detached_max_m2``.
    levels_column
        Column of storey counts (numbers or text such as OSM's ``"3"`` / ``"3;4"``), if present.
    height_column
        Column of heights in metres (text such as ``"12 m"`` is read), if present.
    default_levels
        Levels of a building with neither levels nor height.
    use_columns
        Columns holding the use (``residential``, ``commercial``, ...) or OSM ``building`` tag;
        the first non-empty value per row counts.  A value in :data:`DETACHED_TAGS` marks a
        one-household house; one in :data:`NON_RESIDENTIAL_TAGS` a non-residential building.
        Anything else (including OSM's ``yes``) counts as residential.
    residential_only
        Give non-residential buildings 0 households (default).  With False they are estimated
        like apartment buildings.

    Returns
    -------
    pandas.Series
        ``households`` (int64, >= 0), indexed like ``buildings``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> b = gpd.GeoDataFrame({"levels": [6, 1, 4], "use": ["residential", "house", "school"]},
    ...                      geometry=[box(0, 0, 30, 15), box(100, 0, 110, 10), box(200, 0, 260, 40)],
    ...                      crs="EPSG:32650")
    >>> estimate_households(b).tolist()
    [30, 1, 0]
    """
    if dwelling_m2 <= 0 or floor_height_m <= 0 or default_levels < 1:
        raise ValueError("dwelling_m2 and floor_height_m must be > 0 and default_levels >= 1")
    n = len(buildings)
    if n == 0:
        return pd.Series(np.zeros(0, dtype=np.int64), index=buildings.index, name="households")
    frame = buildings
    if frame.crs is None or frame.crs.is_geographic:
        frame = frame.set_crs(WGS84) if frame.crs is None else frame
        frame = frame.to_crs(metric_crs_for(frame))
    area = shapely.area(frame.geometry.values)
    area = np.where(np.isfinite(area), area, 0.0)

    levels = np.full(n, np.nan)
    if levels_column in buildings.columns:
        levels = _numbers(buildings[levels_column])
    if height_column in buildings.columns:
        from_height = np.round(_numbers(buildings[height_column]) / floor_height_m)
        levels = np.where(np.isnan(levels), from_height, levels)
    levels = np.where(np.isnan(levels) | (levels < 1), default_levels, levels)

    tag = _tags(buildings, use_columns)
    non_residential = np.isin(tag, list(NON_RESIDENTIAL_TAGS))
    detached = np.isin(tag, list(DETACHED_TAGS)) | (
        (area <= detached_max_m2) & (levels <= detached_max_levels) & ~non_residential
    )
    estimate = np.maximum(1, np.round(area * levels / dwelling_m2))
    households = np.where(detached, 1, estimate)
    if residential_only:
        households = np.where(non_residential, 0, households)
    households = np.where(area > 0, households, 0)
    return pd.Series(households.astype(np.int64), index=buildings.index, name="households")


def addresses_from_buildings(
    buildings: gpd.GeoDataFrame,
    *,
    id_column: str | None = None,
    drop_empty: bool = False,
    **estimate_options: object,
) -> gpd.GeoDataFrame:
    """One address point per building, at a point inside it, with estimated households.

    Parameters
    ----------
    buildings
        Footprints; see :func:`estimate_households`.
    id_column
        Column to use as ``address_id`` (default: ``building_id`` or OSM ``id`` if present,
        else the row position).
    drop_empty
        Leave out buildings estimated at 0 households.
    **estimate_options
        Keyword options of :func:`estimate_households`.

    Returns
    -------
    GeoDataFrame
        ``address_id``, ``households``, ``full_text`` (street + house number from ``street`` /
        ``house_number`` or OSM ``addr:street`` / ``addr:housenumber`` when present), geometry
        (Point, EPSG:4326).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> b = gpd.GeoDataFrame({"levels": [6]}, geometry=[box(120.6, 31.3, 120.6003, 31.3002)], crs=4326)
    >>> a = addresses_from_buildings(b)
    >>> a["address_id"].tolist(), a.geom_type.tolist(), int(a["households"].iloc[0]) > 20
    (['1'], ['Point'], True)
    """
    households = estimate_households(buildings, **estimate_options)  # type: ignore[arg-type]
    if id_column is None:
        id_column = next((c for c in ("building_id", "id", "osm_id") if c in buildings.columns), None)
    ids = (
        [str(v) for v in buildings[id_column]]
        if id_column is not None
        else [str(i + 1) for i in range(len(buildings))]
    )
    street = _first_column(buildings, ("street", "addr:street"))
    number = _first_column(buildings, ("house_number", "addr:housenumber"))
    if street is not None or number is not None:
        parts = zip(
            street if street is not None else [None] * len(buildings),
            number if number is not None else [None] * len(buildings),
            strict=True,
        )
        full = [_join_address(pair) for pair in parts]
    else:
        full = [None] * len(buildings)
    points = buildings.geometry.representative_point()
    out = gpd.GeoDataFrame(
        {
            "address_id": pd.Series(ids, dtype=object).to_numpy(),
            "households": households.to_numpy(),
        },
        geometry=points.to_numpy(),
        crs=buildings.crs or WGS84,
    ).to_crs(WGS84)
    out.insert(2, "full_text", pd.Series(full, dtype=object, index=out.index))
    if drop_empty:
        out = out[out["households"] > 0].reset_index(drop=True)
    return out


def _numbers(series: pd.Series) -> np.ndarray:
    """First number in each cell (``"3;4"`` -> 3, ``"12 m"`` -> 12), NaN when none."""
    out = np.full(len(series), np.nan)
    for i, v in enumerate(series):
        if v is None:
            continue
        if isinstance(v, int | float | np.integer | np.floating):
            out[i] = float(v)
            continue
        match = _NUMBER.search(str(v))
        if match:
            out[i] = float(match.group())
    return out


def _tags(buildings: gpd.GeoDataFrame, columns: tuple[str, ...]) -> np.ndarray:
    tag = np.full(len(buildings), "", dtype=object)
    for col in columns:
        if col not in buildings.columns:
            continue
        values = buildings[col].astype(object).to_numpy()
        text = np.array(
            [
                "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip().lower()
                for v in values
            ],
            dtype=object,
        )
        tag = np.where(tag == "", text, tag)
    return tag


def _join_address(pair: tuple) -> str | None:
    """``人民路`` + ``12号`` -> ``人民路12号``; ``Mannerheimintie`` + ``5`` -> ``Mannerheimintie 5``."""
    parts = [str(p).strip() for p in pair if isinstance(p, str) and p.strip()]
    if not parts:
        return None
    cjk = any("\u4e00" <= ch <= "\u9fff" for ch in parts[0])
    return ("" if cjk else " ").join(parts)


def _first_column(frame: pd.DataFrame, names: tuple[str, ...]) -> list | None:
    for name in names:
        if name in frame.columns:
            return list(frame[name].astype(object).where(frame[name].notna(), None))
    return None
