"""The seeded synthetic county: determinism, exact tiling, valid nested codes, household bounds."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geogrid.frames import ADDRESS_COMPONENTS, STREET_CLASS_WIDTH_M, STREET_CLASSES, WGS84
from geogrid.synthetic import MAX_ADDRESS_HOUSEHOLDS, VILLAGE_HOUSEHOLDS, make_county, make_village


@pytest.fixture(scope="module")
def big():
    return make_county(households=100_000, seed=0), None


@pytest.fixture(scope="module")
def small():
    return make_county(households=9_000, seed=7, urban_share=0.5)


def _frames_equal(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert list(shapely.to_wkb(a.geometry.values)) == list(shapely.to_wkb(b.geometry.values))


def test_100k_households_are_generated(big):
    """(How fast: ``scripts/bench/bench_infeasible.py`` times ``make_county(100_000)``.)"""
    county, _ = big
    assert int(county.addresses["households"].sum()) == 100_000
    assert len(county.villages) >= 40


def test_same_seed_gives_identical_frames_and_another_seed_differs(small):
    again = make_county(households=9_000, seed=7, urban_share=0.5)
    for name in ("divisions", "streets", "buildings", "addresses"):
        _frames_equal(getattr(small, name), getattr(again, name))
    other = make_county(households=9_000, seed=8, urban_share=0.5)
    assert not small.divisions.geometry.geom_equals(other.divisions.geometry).all()


def test_all_frames_are_wgs84_near_the_county(big):
    county, _ = big
    for frame in (county.divisions, county.streets, county.buildings, county.addresses):
        assert frame.crs.to_epsg() == 4326
    west, south, east, north = county.divisions.total_bounds
    assert 120.3 < west < east < 120.9 and 31.0 < south < north < 31.6  # around Suzhou Gusu


@pytest.mark.parametrize("level", ["village", "township"])
def test_divisions_tile_the_county_without_overlap_or_gap(big, level):
    county, _ = big
    metric = county.divisions.to_crs(county.metric_crs)
    part = metric[metric["level"] == level].geometry.values
    assert shapely.is_valid(part).all()
    assert set(shapely.get_type_id(part)) == {3}  # every division is one Polygon
    assert shapely.coverage_is_valid(part)  # edges match exactly: no overlap, no sliver
    whole = shapely.union_all(metric.geometry.values)
    assert whole.geom_type == "Polygon" and len(whole.interiors) == 0  # no gap
    assert abs(shapely.area(part).sum() - whole.area) < 1.0  # m²


def test_villages_tile_their_own_township(big):
    county, _ = big
    metric = county.divisions.to_crs(county.metric_crs)
    towns = metric[metric["level"] == "township"].set_index("code")
    villages = metric[metric["level"] == "village"]
    for code, group in villages.groupby("parent_code"):
        union = shapely.union_all(group.geometry.values)
        assert union.symmetric_difference(towns.geometry[code]).area < 1.0


def test_codes_are_valid_and_nested(big):
    county, _ = big
    d = county.divisions
    assert d["code"].str.fullmatch(r"\d{12}").all()
    assert d["code"].is_unique
    towns = d[d["level"] == "township"]
    villages = d[d["level"] == "village"]
    assert (towns["code"].str.slice(9) == "000").all()
    assert (towns["parent_code"] == "320508000000").all()
    assert (villages["parent_code"] == villages["code"].str.slice(0, 9) + "000").all()
    assert set(villages["parent_code"]) == set(towns["code"])
    assert (villages["code"].str.slice(9) != "000").all()
    # statistical ranges: 街道 001-099 and 社区 001-199 are urban, 镇 100-199 and 村 200-399 rural
    town_no = towns["code"].str.slice(6, 9).astype(int)
    assert ((town_no < 100) == (towns["kind"] == "urban")).all()
    village_no = villages["code"].str.slice(9).astype(int)
    assert ((village_no < 200) == (villages["kind"] == "urban")).all()
    assert (villages["kind"].to_numpy() == villages["parent_code"].map(towns.set_index("code")["kind"])).all()


def test_village_households_and_address_caps(big):
    county, _ = big
    villages = county.villages.set_index("code")
    a = county.addresses
    per_village = a.groupby("village_code")["households"].sum()
    assert (per_village == villages["households"].reindex(per_village.index)).all()
    for kind, (lo, hi) in VILLAGE_HOUSEHOLDS.items():
        codes = villages.index[villages["kind"] == kind]
        assert per_village.reindex(codes).between(lo, hi).all(), kind
        assert a[a["village_code"].isin(codes)]["households"].max() <= MAX_ADDRESS_HOUSEHOLDS[kind]
    assert (a["households"] >= 0).all() and a["households"].dtype.kind == "i"
    towns = county.townships.set_index("code")["households"]
    by_town = per_village.groupby(per_village.index.str.slice(0, 9) + "000").sum()
    assert (by_town == towns.reindex(by_town.index)).all()


def test_every_address_lies_inside_its_village(big):
    county, _ = big
    joined = county.addresses.sjoin(county.villages[["code", "geometry"]], predicate="within", how="left")
    assert len(joined) == len(county.addresses)
    assert (joined["code"] == joined["village_code"]).all()


def test_buildings_sit_in_blocks_clear_of_streets(big):
    county, _ = big
    b = county.buildings.to_crs(county.metric_crs)
    s = county.streets.to_crs(county.metric_crs)
    zones = shapely.buffer(
        s.geometry.values, s["street_class"].map(STREET_CLASS_WIDTH_M).to_numpy() / 2 - 0.01
    )
    hits = shapely.STRtree(zones).query(b.geometry.values, predicate="intersects")
    assert hits.shape[1] == 0
    residential = b[(b["use"] == "residential") & (b["village_code"].str.slice(9).astype(int) < 200)]
    assert residential["households"].between(1, 120).all()
    assert set(b["use"]) >= {"residential"}


def test_streets_follow_the_frame_schema(big):
    county, _ = big
    s = county.streets
    assert set(s["street_class"]) == set(STREET_CLASSES) - {"path"}
    assert (s.geom_type == "LineString").all() and s.is_valid.all()
    assert s["name"].str.len().gt(1).all()
    assert s["name"].str.contains("巷").any() and s["name"].str.contains("路").any()
    assert s["street_id"].is_unique


def test_addresses_read_as_chinese_standard_addresses(big):
    county, _ = big
    a = county.addresses
    assert a["address_id"].is_unique
    parts = a[list(ADDRESS_COMPONENTS)].fillna("").astype(str).agg("".join, axis=1)
    assert (parts == a["full_text"]).all()
    assert a["full_text"].str.startswith("江苏省苏州市姑苏区").all()
    urban = a[a["village_code"].str.slice(9).astype(int) < 200]
    assert urban["compound"].notna().all()
    assert (
        urban["full_text"].str.fullmatch(r"江苏省苏州市姑苏区.+街道.+社区.+\d+号\D+\d+幢")
        & np.array([row.full_text.endswith(f"{row.compound}{row.building}") for row in urban.itertuples()])
    ).all()
    rural = a[a["village_code"].str.slice(9).astype(int) >= 200]
    assert rural["full_text"].str.fullmatch(r"江苏省苏州市姑苏区.+镇.+村.+\d+号").all()
    # one gate number per street side is never given to two compounds
    gates = a.drop_duplicates(["village_code", "street", "house_number", "building"])
    assert len(gates) == len(a)


@pytest.mark.parametrize(("kind", "households"), [("urban", 4200), ("rural", 800), ("rural", 60)])
def test_make_village_totals_and_caps(kind, households):
    v = make_village(households=households, kind=kind, seed=2, village_code="320508100201")
    assert int(v.addresses["households"].sum()) == households
    assert v.addresses["households"].max() <= MAX_ADDRESS_HOUSEHOLDS[kind]
    assert len(v.divisions) == 1 and v.divisions["kind"].iloc[0] == kind
    assert v.divisions["code"].iloc[0] == "320508100201"
    assert v.divisions.crs == WGS84
    inside = shapely.contains(v.divisions.geometry.iloc[0], v.addresses.geometry.values)
    assert inside.all()


def test_make_village_is_deterministic():
    a = make_village(households=900, kind="rural", seed=11)
    b = make_village(households=900, kind="rural", seed=11)
    _frames_equal(a.addresses, b.addresses)
    c = make_village(households=900, kind="rural", seed=12)
    assert not np.array_equal(
        shapely.get_coordinates(a.addresses.geometry.values)[:10],
        shapely.get_coordinates(c.addresses.geometry.values)[:10],
    )


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_all_rural_or_all_urban_counties(share):
    c = make_county(households=12_000, seed=1, urban_share=share)
    kinds = set(c.divisions["kind"])
    assert kinds == ({"urban"} if share == 1.0 else {"rural"})
    assert int(c.addresses["households"].sum()) == 12_000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"households": 0},
        {"urban_share": 1.5},
        {"county_code": "32050"},
        {"county_code": "990508"},
    ],
)
def test_bad_county_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        make_county(**{"households": 1000, **kwargs})


def test_bad_village_arguments_are_refused():
    with pytest.raises(ValueError):
        make_village(households=100, kind="suburban")
    with pytest.raises(ValueError):
        make_village(households=100, village_code="320508001000")


def test_common_street_names_repeat_across_townships_never_within_one(big):
    county, _ = big
    a = county.addresses
    towns_per_name = a.groupby("street")["township"].nunique()
    assert towns_per_name.reindex(["人民路", "中山路", "解放路"]).ge(2).all()
    # the same street + number in several townships: real ambiguity for address lookups
    spread = a.groupby(["street", "house_number"])["township"].nunique()
    assert (spread >= 2).sum() >= 50
    # within a township a street + number + building is one address
    key = ["township", "street", "house_number", "building"]
    assert not a.duplicated(key).any()


def test_urban_blocks_are_compounds_with_numbered_lanes_and_stairway_units(big):
    county, _ = big
    a, b = county.addresses, county.buildings
    urban = a[a["village_code"].str.slice(9).astype(int) < 200]
    # one compound per gate, distinct within its village
    per_gate = urban.groupby(["village_code", "street", "house_number"])["compound"].nunique()
    assert (per_gate == 1).all()
    gates = urban.drop_duplicates(["village_code", "street", "house_number"])
    assert not gates.duplicated(["village_code", "compound"]).any()
    assert urban["street"].str.fullmatch(r".+路\d+弄|.+街\d+弄").any()  # lanes numbered off a street
    lived_in = b[b["households"] > 0]
    assert (lived_in["units"] >= 1).all() and (b.loc[b["households"] == 0, "units"] == 0).all()
    assert (lived_in["units"] * 2 * lived_in["levels"] >= lived_in["households"]).all()
