"""联户: link groups formed inside grids (rural houses and urban apartment buildings), and edits."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from geogrid.codes import parse_code
from geogrid.crs import planar_crs_for
from geogrid.errors import PlanEditError
from geogrid.link_groups import LINK_RULE, form_link_groups, group_geometries, move_households
from geogrid.partition import partition
from geogrid.synthetic import make_village


@pytest.fixture(scope="module", params=["rural", "urban"])
def village_grids(request):
    kind = request.param
    households = 400 if kind == "rural" else 1600
    village = make_village(households=households, kind=kind, seed=4, village_code="320508019001")
    area = village.villages.geometry.iloc[0]
    result = partition(area, village.addresses, village.streets, kind, division_code="320508019001", seed=1)
    return kind, result.grids, village.addresses


def _in(grid, addresses):
    return addresses[addresses.within(grid)].reset_index(drop=True)


def test_every_household_of_a_grid_is_in_exactly_one_group(village_grids):
    _kind, grids, addresses = village_grids
    for grid in grids.itertuples():
        mine = _in(grid.geometry, addresses)
        lg = form_link_groups(grid.geometry, grid.code, mine, seed=0)
        assert lg.groups.households.sum() == mine.households.sum()
        per_address = lg.members.groupby("address_id")["households"].sum()
        lived = mine[mine.households > 0]  # empty addresses belong to no group
        assert per_address.to_dict() == dict(zip(lived.address_id, lived.households, strict=True))
        assert all(parse_code(c).level == "subgrid" and c.startswith(grid.code) for c in lg.groups.code)
        assert lg.groups.code.is_unique
        # within 10–15 unless a note says why not
        assert lg.groups.within_rule.all() or lg.notes, (grid.code, lg.groups.households.tolist())
        # the groups' polygons cover the grid
        crs = planar_crs_for(grids)
        union = gpd.GeoSeries([shapely.union_all(lg.groups.geometry.values)], crs=4326).to_crs(crs).iloc[0]
        whole = gpd.GeoSeries([grid.geometry], crs=4326).to_crs(crs).iloc[0]
        assert whole.symmetric_difference(union).area < 1.0


def test_urban_buildings_are_split_only_when_they_must_be(village_grids):
    kind, grids, addresses = village_grids
    grid = grids.iloc[0]
    mine = _in(grid.geometry, addresses)
    lg = form_link_groups(grid.geometry, grid.code, mine, seed=0)
    groups_per_address = lg.members.groupby("address_id")["code"].nunique()
    households = mine.set_index("address_id").households.loc[groups_per_address.index]
    # a building fills groups of at least 10 of its own households, but for the two at its ends
    assert (groups_per_address <= np.ceil(households / LINK_RULE.lo) + 2).all()
    # and is never cut when it fits in one group
    assert (groups_per_address[households <= LINK_RULE.hi] == 1).all()
    if kind == "urban":
        assert (groups_per_address > 1).any()


def test_a_grid_too_small_or_awkward_is_noted_not_hidden():
    addresses = gpd.GeoDataFrame(
        {"address_id": ["a", "b", "c"], "households": [3, 3, 2]},
        geometry=[Point(120.601, 31.301), Point(120.602, 31.301), Point(120.603, 31.301)],
        crs=4326,
    )
    lg = form_link_groups(box(120.60, 31.30, 120.61, 31.31), "320508019001001", addresses)
    assert len(lg.groups) == 1 and lg.groups.households.iloc[0] == 8 and "fewer than 10" in lg.notes[0]
    awkward = addresses.assign(households=[6, 6, 5])  # 17: no count of 10–15 groups
    lg = form_link_groups(box(120.60, 31.30, 120.61, 31.31), "320508019001001", awkward)
    assert lg.groups.households.sum() == 17 and "fit no count" in lg.notes[0]


def test_moving_households_keeps_the_count_and_refuses_what_it_must():
    g = "320508019001001"
    members = pd.DataFrame(
        {"code": [g + "01", g + "01", g + "02"], "address_id": ["a", "b", "c"], "households": [8, 4, 12]}
    )
    moved = move_households(members, address_id="b", source=g + "01", target=g + "02", households=3)
    assert moved.households.sum() == 24
    assert moved.set_index(["code", "address_id"]).households.to_dict() == {
        (g + "01", "a"): 8,
        (g + "01", "b"): 1,
        (g + "02", "b"): 3,
        (g + "02", "c"): 12,
    }
    with pytest.raises(PlanEditError, match="different grids"):
        move_households(members, address_id="b", source=g + "01", target="32050801900100201", households=1)
    with pytest.raises(PlanEditError, match="has 4 household"):
        move_households(members, address_id="b", source=g + "01", target=g + "02", households=5)
    with pytest.raises(PlanEditError, match="empty"):
        move_households(members, address_id="c", source=g + "02", target=g + "01", households=12)


def test_group_polygons_follow_their_addresses():
    addresses = gpd.GeoDataFrame(
        {"address_id": ["a", "b", "c"]},
        geometry=[Point(120.601, 31.305), Point(120.605, 31.305), Point(120.609, 31.305)],
        crs=4326,
    )
    members = pd.DataFrame({"code": ["X01", "X01", "X02"], "address_id": ["a", "b", "c"]})
    geoms = group_geometries(box(120.60, 31.30, 120.61, 31.31), addresses, members)
    assert geoms.loc["X01"].contains(Point(120.606, 31.305)) and geoms.loc["X02"].contains(
        Point(120.608, 31.305)
    )
