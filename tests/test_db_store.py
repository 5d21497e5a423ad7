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


def _addresses(n: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "address_id": [f"a{i}" for i in range(n)],
            "full_text": [f"人民路{i}号" for i in range(n)],
            "households": [1 + i % 5 for i in range(n)],
            "street": ["人民路"] * n,
            "room": [None] * n,
        },
        geometry=[Point(120.60 + i * 1e-5, 31.30) for i in range(n)],
        crs="EPSG:4326",
    )


def _address_count(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM addresses")).scalar_one())


def test_copy_refuses_a_value_the_column_type_rejects_naming_row_and_column(engine):
    frame = _addresses(3000)
    frame["households"] = frame["households"].astype(object)
    frame.loc[2345, "households"] = "many"  # row 2346 of the file
    with pytest.raises(ImportRowsError) as info:
        store.load(engine, "addresses", frame, source="big.csv")
    assert info.value.source == "big.csv"
    assert (info.value.errors[0].row, info.value.errors[0].field) == (2346, "households")
    assert "many" in info.value.errors[0].reason
    assert _address_count(engine) == 0


def test_the_first_row_the_table_refuses_is_named_in_a_large_load(engine):
    frame = _addresses(5000)
    frame.loc[3999, "households"] = -1  # breaks ck_addresses_households on row 4000
    frame.loc[4500, "households"] = -2  # a later bad row: the first one is named
    with pytest.raises(ImportRowsError) as info:
        store.load(engine, "addresses", frame)
    assert info.value.errors[0].row == 4000
    assert info.value.errors[0].field == "ck_addresses_households"
    assert _address_count(engine) == 0


def test_duplicate_keys_within_one_file_are_named_with_the_earlier_row(engine):
    frame = _addresses(10)
    frame.loc[7, "address_id"] = "a2"
    with pytest.raises(ImportRowsError) as info:
        store.load(engine, "addresses", frame)
    assert [(e.row, e.field) for e in info.value.errors] == [(8, "source_id")]
    assert "row 3" in info.value.errors[0].reason
    assert _address_count(engine) == 0


def test_copy_keeps_missing_apart_from_empty_text(engine):
    frame = _addresses(2)
    frame["unit"] = ["", None]
    store.load(engine, "addresses", frame)
    with engine.connect() as conn:
        units = conn.execute(sa.text("SELECT unit FROM addresses ORDER BY id")).scalars().all()
    assert units == ["", None]
