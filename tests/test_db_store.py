"""Loading frames into PostGIS is all-or-nothing and round-trips."""

from __future__ import annotations

import geopandas as gpd
import pytest
import sqlalchemy as sa
from shapely.geometry import LineString, Point, Polygon

from geogrid.db import store
from geogrid.errors import ImportRowsError


def _villages() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": ["320508019001", "320508019002"],
            "name": ["东港社区", "西港村"],
            "level": ["village", "village"],
            "parent_code": ["320508019000", "320508019000"],
            "kind": ["urban", "rural"],
        },
        geometry=[
            Polygon([(120.60, 31.30), (120.61, 31.30), (120.61, 31.31), (120.60, 31.31)]),
            Polygon([(120.61, 31.30), (120.62, 31.30), (120.62, 31.31), (120.61, 31.31)]),
        ],
        crs="EPSG:4326",
    )


def test_divisions_round_trip(engine):
    assert store.load(engine, "divisions", _villages()) == 2
    back = store.read_table(engine, "divisions")
    assert list(back["code"]) == ["320508019001", "320508019002"]
    assert list(back["name"]) == ["东港社区", "西港村"]
    assert back.geometry.iloc[0].geom_type == "MultiPolygon"
    assert back.geometry.iloc[0].equals(_villages().geometry.iloc[0]) or back.geometry.iloc[0].geoms[
        0
    ].equals(_villages().geometry.iloc[0])


def test_duplicate_key_names_row_and_writes_nothing(engine):
    store.load(engine, "divisions", _villages().iloc[:1])
    with pytest.raises(ImportRowsError) as info:
        store.load(engine, "divisions", _villages())
    assert info.value.errors[0].row == 1
    assert info.value.errors[0].field == "code"
    assert "already exists" in info.value.errors[0].reason
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM divisions")).scalar() == 1


def test_schema_violation_names_the_row_and_rolls_back(engine):
    frame = _villages()
    frame.loc[1, "parent_code"] = "320508018000"  # not the village's township
    with pytest.raises(ImportRowsError) as info:
        store.load(engine, "divisions", frame)
    assert info.value.errors[0].row == 2
    assert "ck_divisions_parent_prefix" in str(info.value)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM divisions")).scalar() == 0


def test_invalid_geometry_is_reported_with_reason(engine):
    frame = _villages()
    frame.loc[0, "geometry"] = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])  # bowtie
    with pytest.raises(ImportRowsError) as info:
        store.load(engine, "divisions", frame)
    assert info.value.errors[0].row == 1
    assert info.value.errors[0].field == "geometry"
    assert "intersection" in info.value.errors[0].reason.lower()


def test_addresses_and_streets_load_with_chinese_text(engine):
    addresses = gpd.GeoDataFrame(
        {
            "address_id": ["a1", "a2"],
            "full_text": ["人民路12号", "人民路14号3幢"],
            "households": [3, 40],
            "street": ["人民路", "人民路"],
        },
        geometry=[Point(120.601, 31.301), Point(120.602, 31.302)],
        crs="EPSG:4326",
    )
    streets = gpd.GeoDataFrame(
        {"name": ["人民路"], "street_class": ["arterial"]},
        geometry=[LineString([(120.60, 31.305), (120.62, 31.305)])],
        crs="EPSG:4326",
    )
    assert store.load(engine, "addresses", addresses) == 2
    assert store.load(engine, "streets", streets) == 1
    back = store.read_table(engine, "addresses")
    assert list(back["address_id"]) == ["a1", "a2"]
    assert list(back["households"]) == [3, 40]
    assert back["full_text"].iloc[1] == "人民路14号3幢"
