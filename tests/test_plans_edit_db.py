"""Planner round trip through PostGIS: load the published plan, edit it, publish, roll back."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, box

from geogrid import plans
from geogrid.db import plans as db_plans
from geogrid.db import store
from geogrid.errors import NotFoundError

VILLAGE = "320508019044"
OTHER = "320508019045"


@pytest.fixture
def stored(engine):
    store.load(
        engine,
        "divisions",
        gpd.GeoDataFrame(
            {
                "code": [VILLAGE, OTHER],
                "name": ["东港村", "西港村"],
                "level": ["village"] * 2,
                "parent_code": ["320508019000"] * 2,
                "kind": ["rural"] * 2,
            },
            geometry=[box(120.60, 31.30, 120.63, 31.31), box(120.63, 31.30, 120.64, 31.31)],
            crs="EPSG:4326",
        ),
    )
    xs = [120.605, 120.615, 120.625, 120.635]
    store.load(
        engine,
        "addresses",
        gpd.GeoDataFrame(
            {
                "address_id": ["a", "b", "c", "d"],
                "full_text": ["1号", "2号", "3号", "4号"],
                "households": [40, 30, 50, 70],
                "division_code": [VILLAGE] * 3 + [OTHER],
            },
            geometry=[Point(x, 31.305) for x in xs],
            crs="EPSG:4326",
        ),
    )
    store.load(
        engine,
        "streets",
        gpd.GeoDataFrame(
            {"name": ["一路", "二路", "远路"], "street_class": ["street"] * 3},
            geometry=[
                LineString([(120.61, 31.299), (120.61, 31.311)]),
                LineString([(120.62, 31.299), (120.62, 31.311)]),
                LineString([(120.70, 31.299), (120.70, 31.311)]),
            ],
            crs="EPSG:4326",
        ),
    )
    grids = gpd.GeoDataFrame(
        {"code": [VILLAGE + "001", VILLAGE + "002"], "division_code": [VILLAGE] * 2, "households": [70, 50]},
        geometry=[box(120.60, 31.30, 120.62, 31.31), box(120.62, 31.30, 120.63, 31.31)],
        crs="EPSG:4326",
    )
    plan_id = db_plans.save_plan(engine, grids, scope_code=VILLAGE)
    db_plans.publish_plan(engine, plan_id)
    return plan_id


def test_load_published_and_scope(stored, engine):
    plan = db_plans.load_published(engine, VILLAGE)
    assert plan.attrs["plan_id"] == stored
    assert list(plan["code"]) == [VILLAGE + "001", VILLAGE + "002"]
    assert list(plan["households"]) == [70, 50]  # counted from the stored addresses on publish
    scope = db_plans.load_scope(engine, VILLAGE)
    assert list(scope.divisions["code"]) == [VILLAGE]
    assert sorted(scope.addresses["address_id"]) == ["a", "b", "c"]
    assert sorted(scope.streets["name"]) == ["一路", "二路"]  # the far street is not in the village
    county = db_plans.load_scope(engine, "320508000000")
    assert len(county.divisions) == 2 and len(county.addresses) == 4


def test_load_published_refusals(engine):
    with pytest.raises(NotFoundError, match="no published plan"):
        db_plans.load_published(engine, VILLAGE)
    with pytest.raises(NotFoundError, match="no divisions stored"):
        db_plans.load_scope(engine, VILLAGE)


def test_edit_publish_and_roll_back(stored, engine):
    plan = db_plans.load_published(engine, VILLAGE)
    scope = db_plans.load_scope(engine, VILLAGE)
    edited = plans.move_addresses(plan, scope.addresses, ["b"], VILLAGE + "002", rule=(20, 100))
    assert list(edited["households"]) == [40, 80]
    draft = db_plans.save_plan(engine, edited, scope_code=VILLAGE, note="moved 2号")
    db_plans.publish_plan(engine, draft)
    assert list(db_plans.load_published(engine, VILLAGE)["households"]) == [40, 80]
    diff = plans.diff_plans(plan, db_plans.load_published(engine, VILLAGE), addresses=scope.addresses)
    assert (diff.changed, diff.households_moved) == (2, 30)
    db_plans.rollback_plan(engine, VILLAGE)
    back = db_plans.load_published(engine, VILLAGE)
    assert back.attrs["plan_id"] == stored and list(back["households"]) == [70, 50]


def test_delete_addresses_is_all_or_nothing(stored, engine):
    with pytest.raises(NotFoundError, match=r"1 address\(es\) not stored: \['zz'\]"):
        db_plans.delete_addresses(engine, ["a", "zz"])
    assert len(db_plans.load_scope(engine, VILLAGE).addresses) == 3
    assert db_plans.delete_addresses(engine, ["a"]) == 1
    draft = db_plans.save_plan(engine, db_plans.load_published(engine, VILLAGE), scope_code=VILLAGE)
    assert db_plans.publish_plan(engine, draft).households == 80  # 2号 and 3号 remain
