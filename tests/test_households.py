"""Household estimates from hand-made footprints."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from geogrid.crs import local_metric_crs
from geogrid.households import addresses_from_buildings, estimate_households
from geogrid.synthetic import make_village

METRIC = local_metric_crs(120.6, 31.3)


def footprints(rows: list[dict], *, crs=METRIC) -> gpd.GeoDataFrame:
    geoms = [r.pop("geometry") for r in rows]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=crs)


def test_apartment_area_times_levels_over_dwelling_size():
    b = footprints(
        [
            {"levels": 6, "geometry": box(0, 0, 60, 15)},  # 900 m² x 6 / 90 = 60
            {"levels": "12", "geometry": box(0, 100, 30, 115)},  # 450 x 12 / 90 = 60
            {"levels": "3;4", "geometry": box(0, 200, 45, 220)},  # first number: 900 x 3 / 90 = 30
        ]
    )
    assert estimate_households(b).tolist() == [60, 60, 30]
    assert estimate_households(b, dwelling_m2=120.0).tolist() == [45, 45, 22]


def test_levels_from_height_then_default():
    b = footprints(
        [
            {"height": "18 m", "geometry": box(0, 0, 30, 30)},  # 6 levels: 900 x 6 / 90 = 60
            {"height": None, "geometry": box(0, 100, 30, 130)},  # default 3 levels -> 30
            {"height": 12.0, "geometry": box(0, 200, 30, 230)},  # 4 levels -> 40
        ]
    )
    assert estimate_households(b).tolist() == [60, 30, 40]
    assert estimate_households(b, floor_height_m=6.0, default_levels=5).tolist() == [30, 50, 20]


def test_detached_houses_hold_one_household():
    b = footprints(
        [
            {"levels": 2, "use": None, "geometry": box(0, 0, 12, 10)},  # small and low: a house
            {"levels": 3, "use": None, "geometry": box(0, 100, 12, 110)},  # small but 3 levels: 4 dwellings
            {"levels": 2, "building": "detached", "geometry": box(0, 200, 20, 220)},  # tag says house
            {"levels": 2, "use": None, "geometry": box(0, 300, 20, 320)},  # 400 m²: estimated 9
        ]
    )
    assert estimate_households(b).tolist() == [1, 4, 1, 9]
    assert estimate_households(b, detached_max_m2=500).tolist() == [1, 4, 1, 1]


@pytest.mark.parametrize("tag", ["commercial", "industrial", "school", "church", "garage", "商业", "Retail"])
def test_non_residential_buildings_hold_none_when_residential_only(tag):
    b = footprints([{"levels": 4, "building": tag, "geometry": box(0, 0, 30, 30)}])
    assert estimate_households(b).tolist() == [0]
    assert estimate_households(b, residential_only=False).tolist() == [40]


def test_use_column_wins_over_osm_building_tag():
    b = footprints(
        [{"use": "residential", "building": "commercial", "levels": 4, "geometry": box(0, 0, 30, 30)}]
    )
    assert estimate_households(b).tolist() == [40]


def test_lonlat_footprints_are_measured_in_metres():
    metric = footprints([{"levels": 6, "geometry": box(0, 0, 60, 15)}])
    lonlat = metric.to_crs(4326)
    assert estimate_households(lonlat).tolist() == [60]


def test_empty_and_degenerate_input():
    assert estimate_households(footprints([])).tolist() == []
    b = footprints([{"levels": 3, "geometry": Point(0, 0)}])
    assert estimate_households(b).tolist() == [0]
    with pytest.raises(ValueError):
        estimate_households(b, dwelling_m2=0)


def test_estimates_recover_synthetic_apartment_households():
    v = make_village(households=3000, kind="urban", seed=5)
    res = v.buildings[v.buildings["use"] == "residential"]
    est = estimate_households(res)
    # synthetic footprints are sized from their households with 90 m² dwellings
    assert np.abs(est.to_numpy() - res["households"].to_numpy()).max() <= 1
    others = v.buildings[v.buildings["use"] != "residential"]
    assert (estimate_households(others) == 0).all()


def test_addresses_from_buildings():
    b = footprints(
        [
            {
                "id": "w1",
                "levels": 6,
                "addr:street": "Mannerheimintie",
                "addr:housenumber": "5",
                "geometry": box(0, 0, 60, 15),
            },
            {
                "id": "w2",
                "levels": 6,
                "addr:street": "人民路",
                "addr:housenumber": "12号",
                "geometry": box(0, 100, 60, 115),
            },
            {
                "id": "w3",
                "levels": 2,
                "building": "garage",
                "addr:street": None,
                "addr:housenumber": None,
                "geometry": box(0, 200, 10, 210),
            },
        ]
    ).to_crs(4326)
    a = addresses_from_buildings(b)
    assert a["address_id"].tolist() == ["w1", "w2", "w3"]
    assert a["households"].tolist() == [60, 60, 0]
    assert a["full_text"].tolist() == ["Mannerheimintie 5", "人民路12号", None]
    assert a.crs.to_epsg() == 4326 and (a.geom_type == "Point").all()
    assert b.geometry.contains(a.geometry).all()
    assert addresses_from_buildings(b, drop_empty=True)["address_id"].tolist() == ["w1", "w2"]
