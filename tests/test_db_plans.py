"""Plans in PostGIS: drafts, atomic publishing, address re-assignment and roll back."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from shapely.geometry import Point, box

from geogrid.db import plans, store
from geogrid.errors import ConflictError, ImportRowsError, NotFoundError
from tests.support import load_village

VILLAGE = "320508019001"


@pytest.fixture
def village(engine):
    load_village(engine, VILLAGE, (120.60, 31.30, 120.62, 31.31))
    store.load(
        engine,
        "addresses",
        gpd.GeoDataFrame(
            {"address_id": ["w", "e"], "full_text": ["西1号", "东1号"], "households": [120, 80]},
            geometry=[Point(120.605, 31.305), Point(120.615, 31.305)],
            crs="EPSG:4326",
        ),
    )
    return engine


def _plan(split_at: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": [VILLAGE + "001", VILLAGE + "002"],
            "division_code": [VILLAGE] * 2,
            "name": ["一网格", "二网格"],
            "households": [0, 0],
        },
        geometry=[box(120.60, 31.30, split_at, 31.31), box(split_at, 31.30, 120.62, 31.31)],
        crs="EPSG:4326",
    )


def _grid_of(engine, source_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT grid_code FROM addresses WHERE source_id = :s"), {"s": source_id}
        ).scalar()


def test_publish_assigns_addresses_and_counts(village):
    pid = plans.save_plan(village, _plan(120.61), scope_code=VILLAGE, author="张三")
    info = plans.get_plan(village, pid)
    assert (info.status, info.version, info.grid_count) == ("draft", 1, 2)
    published = plans.publish_plan(village, pid)
    assert published.status == "published" and published.households == 200
    assert _grid_of(village, "w") == VILLAGE + "001"
    assert _grid_of(village, "e") == VILLAGE + "002"
    grids = plans.load_plan(village, pid)
    assert list(grids["households"]) == [120, 80]
    assert set(grids["kind"]) == {"urban"}  # taken from the village


def test_republish_retires_old_and_rollback_returns(village):
    first = plans.save_plan(village, _plan(120.61), scope_code=VILLAGE)
    plans.publish_plan(village, first)
    second = plans.save_plan(village, _plan(120.618), scope_code=VILLAGE)
    plans.publish_plan(village, second)
    assert plans.get_plan(village, first).status == "retired"
    assert plans.published_plan_id(village, VILLAGE) == second
    assert _grid_of(village, "e") == VILLAGE + "001"  # the east address is now west of the split

    back = plans.rollback_plan(village, VILLAGE)
    assert back.id == first
    assert plans.get_plan(village, second).status == "retired"
    assert _grid_of(village, "e") == VILLAGE + "002"


def test_refusals(village):
    with pytest.raises(ConflictError, match="no published plan"):
        plans.rollback_plan(village, VILLAGE)
    pid = plans.save_plan(village, _plan(120.61), scope_code=VILLAGE)
    plans.publish_plan(village, pid)
    with pytest.raises(ConflictError, match="only a draft"):
        plans.publish_plan(village, pid)
    with pytest.raises(ConflictError, match="no earlier"):
        plans.rollback_plan(village, VILLAGE)
    with pytest.raises(NotFoundError):
        plans.get_plan(village, 9999)


def test_bad_grid_code_leaves_no_draft_behind(village):
    bad = _plan(120.61)
    bad.loc[1, "code"] = "3205080190010"  # 13 digits
    with pytest.raises(ImportRowsError) as info:
        plans.save_plan(village, bad, scope_code=VILLAGE)
    assert info.value.errors[0].row == 2
    assert plans.list_plans(village) == []


def test_village_redraw_inside_a_county_plan_keeps_the_other_villages(village, engine):
    other = "320508019002"
    load_village(engine, other, (120.62, 31.30, 120.63, 31.31), name="西港村", kind="rural")
    county = pd.concat(
        [
            _plan(120.61),
            gpd.GeoDataFrame(
                {"code": [other + "001"], "division_code": [other], "name": ["村网格"], "households": [0]},
                geometry=[box(120.62, 31.30, 120.63, 31.31)],
                crs="EPSG:4326",
            ),
        ],
        ignore_index=True,
    )
    county_plan = plans.save_plan(engine, county, scope_code="320508000000")
    plans.publish_plan(engine, county_plan)

    redraw = _plan(120.618)
    village_plan = plans.save_plan(engine, redraw, scope_code=VILLAGE)
    published = plans.publish_plan(engine, village_plan)
    # the re-draw became the county's next version and still holds the other village's grid
    assert (published.scope_code, published.version, published.grid_count) == ("320508000000", 2, 3)
    assert plans.get_plan(engine, county_plan).status == "retired"
    assert _grid_of(engine, "e") == VILLAGE + "001"
    back = plans.rollback_plan(engine, "320508000000")
    assert back.id == county_plan and _grid_of(engine, "e") == VILLAGE + "002"


def test_plan_with_grids_outside_its_scope_is_refused(village):
    pid = plans.save_plan(village, _plan(120.61), scope_code="320508019999")
    with pytest.raises(ConflictError, match="outside its scope"):
        plans.publish_plan(village, pid)


def test_addresses_lose_grid_codes_of_retired_grids(village, engine):
    first = plans.save_plan(engine, _plan(120.61), scope_code=VILLAGE)
    plans.publish_plan(engine, first)
    smaller = _plan(120.61).iloc[:1]  # only the west grid
    second = plans.save_plan(engine, smaller, scope_code=VILLAGE)
    plans.publish_plan(engine, second)
    assert _grid_of(engine, "e") is None


def test_workers_missing_on_some_rows_are_stored_empty(village):
    frame = _plan(120.61)
    frame["workers"] = [[{"name": "李四", "phone": "13800000000"}], float("nan")]
    pid = plans.save_plan(village, frame, scope_code=VILLAGE)
    back = plans.load_plan(village, pid)
    assert list(back["workers"]) == [[{"name": "李四", "phone": "13800000000"}], []]


def test_addresses_go_to_the_finest_grid_and_parents_count_their_subgrids(village, engine):
    frame = _plan(120.61)
    sub = gpd.GeoDataFrame(
        {
            "code": [VILLAGE + "00101"],
            "division_code": [VILLAGE],
            "name": ["一网格一单元"],
            "households": [0],
        },
        geometry=[box(120.60, 31.30, 120.61, 31.31)],
        crs="EPSG:4326",
    )
    pid = plans.save_plan(engine, pd.concat([frame, sub], ignore_index=True), scope_code=VILLAGE)
    plans.publish_plan(engine, pid)
    assert _grid_of(engine, "w") == VILLAGE + "00101"
    grids = plans.load_plan(engine, pid).set_index("code")
    assert grids.loc[VILLAGE + "001", "households"] == 120
    assert grids.loc[VILLAGE + "00101", "households"] == 120


def test_villages_without_a_register_keep_their_estimates(engine):
    load_village(engine, VILLAGE, (120.60, 31.30, 120.62, 31.31))
    frame = _plan(120.61)
    frame["households"] = [310, 420]
    pid = plans.save_plan(engine, frame, scope_code=VILLAGE)
    plans.publish_plan(engine, pid)
    assert list(plans.load_plan(engine, pid)["households"]) == [310, 420]
