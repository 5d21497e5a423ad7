"""Repair with the least change: seeded growth, decline and relocation in synthetic villages and
Helsinki; every repaired plan validates, grids within bounds are kept exactly, refusals say why."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from geogrid.codes import recode
from geogrid.errors import InfeasibleError, PlanEditError
from geogrid.partition import partition
from geogrid.plans import repair
from geogrid.repair import OPERATIONS
from geogrid.scenarios import SCENARIOS, growth
from geogrid.synthetic import make_village
from geogrid.validate import validate
from tests.geometries import METRIC

V = "320508201201"


@pytest.fixture(scope="module", params=["rural", "urban"])
def village(request):
    kind = request.param
    v = make_village(households=2000 if kind == "rural" else 9000, kind=kind, seed=3, village_code=V)
    result = partition(v.villages.geometry.iloc[0], v.addresses, v.streets, kind, division_code=V, seed=0)
    return kind, v, result.grids.drop(columns="blocks")


def kept_exactly(plan: gpd.GeoDataFrame, repaired: gpd.GeoDataFrame, codes) -> list[str]:
    """Codes among ``codes`` whose grid is in ``repaired`` with the same geometry, bit for bit."""
    new = dict(zip(repaired["code"], repaired.geometry.values, strict=True))
    old = dict(zip(plan["code"], plan.geometry.values, strict=True))
    return [c for c in codes if c in new and shapely.to_wkb(new[c]) == shapely.to_wkb(old[c])]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("seed", [0, 1])
def test_repair_keeps_the_grids_within_bounds_and_validates(village, scenario, seed):
    kind, v, plan = village
    sc = SCENARIOS[scenario](plan, v.addresses, kind, seed=seed)
    assert 0 < len(sc.affected) <= 0.1 * len(plan)
    result = repair(plan, sc.addresses, v.streets, kind, seed=seed)
    report = validate(result.plan, parent=v.villages, rule=kind, addresses=sc.addresses)
    assert report.ok, report.summary()
    within = [c for c in plan["code"] if c not in sc.affected]
    kept = kept_exactly(plan, result.plan, within)
    assert len(kept) >= 0.9 * len(within), result.summary()
    assert set(kept) <= set(result.kept)
    # The result says what changed and why, in the planners' terms.
    assert result.operations and {op.kind for op in result.operations} <= set(OPERATIONS)
    assert set(sc.affected) <= set(result.changed)
    assert set(result.changes["change"]) <= {"changed", "added", "retired"}
    assert not set(result.changes["code"]) & set(result.kept)
    assert all(op.describe().startswith(OPERATIONS[op.kind]) for op in result.operations)
    # Retired codes are never reused; every grid has a well-formed code of the village.
    assert not set(result.retired) & set(result.plan["code"])
    assert result.plan["code"].str.fullmatch(V + r"\d{3}").all() and result.plan["code"].is_unique
    assert int(result.plan["households"].sum()) == int(sc.addresses["households"].sum())


def test_repair_keeps_more_than_a_fresh_redraw_with_recode(village):
    kind, v, plan = village
    sc = growth(plan, v.addresses, kind, seed=0)
    within = [c for c in plan["code"] if c not in sc.affected]
    repaired = repair(plan, sc.addresses, v.streets, kind).plan
    area = v.villages.geometry.iloc[0]
    fresh = partition(area, sc.addresses, v.streets, kind, division_code=V, validate=False).grids
    recoded = recode(fresh.drop(columns="code"), plan).grids
    assert len(kept_exactly(plan, repaired, within)) > len(kept_exactly(plan, recoded, within))


def test_nothing_to_fix_changes_nothing(village):
    kind, v, plan = village
    result = repair(plan, v.addresses, v.streets, kind)
    assert result.operations == [] and result.changes.empty and result.households_moved == 0
    assert result.plan["code"].tolist() == plan["code"].tolist()
    assert shapely.equals_exact(result.plan.geometry.values, plan.geometry.values, tolerance=0).all()
    assert result.plan["households"].tolist() == plan["households"].tolist()


def test_max_changed_refuses_with_reasons(village):
    kind, v, plan = village
    sc = SCENARIOS["decline"](plan, v.addresses, kind, seed=0)
    needed = len(repair(plan, sc.addresses, v.streets, kind).changed)
    assert needed >= 2
    with pytest.raises(InfeasibleError, match="max_changed=1") as info:
        repair(plan, sc.addresses, v.streets, kind, max_changed=1)
    assert info.value.details["tried"] and all("budget" in t or ":" in t for t in info.value.details["tried"])
    assert len(repair(plan, sc.addresses, v.streets, kind, max_changed=needed).changed) <= needed


# --------------------------------------------------------------------------- small hand-made plans


def _row_plan(households_by_grid: list[list[int]], *, crs=METRIC, village: str = V):
    """Grids in a row, 100 m wide; each holds addresses in a 4 x 4 lattice with the given households."""
    n = len(households_by_grid)
    plan = gpd.GeoDataFrame(
        {"code": [f"{village}{i + 1:03d}" for i in range(n)], "division_code": [village] * n},
        geometry=[box(100 * i, 0, 100 * (i + 1), 100) for i in range(n)],
        crs=crs,
    )
    rows = []
    for i, hh in enumerate(households_by_grid):
        for j, h in enumerate(hh):
            rows.append(
                {
                    "address_id": f"{i}-{j}",
                    "households": h,
                    "geometry": Point(100 * i + 12.5 + 25 * (j % 4), 12.5 + 25 * (j // 4)),
                }
            )
    return plan, gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def test_an_over_full_grid_is_split_without_touching_its_neighbours():
    plan, addresses = _row_plan([[10] * 6, [10] * 16, [10] * 6])  # 60, 160, 60 in [50, 100]
    result = repair(plan, addresses, None, (50, 100))
    assert [op.kind for op in result.operations] == ["split"]
    assert result.kept == [V + "001", V + "003"]
    assert result.retired == [V + "002"]
    assert sorted(result.plan["households"]) == [60, 60, 80, 80]
    # New grids take sequence numbers never used: 004 and 005, not the retired 002.
    assert sorted(result.plan["code"]) == [V + "001", V + "003", V + "004", V + "005"]


def test_an_under_full_grid_borrows_from_or_merges_with_a_neighbour():
    plan, addresses = _row_plan([[10] * 9, [10] * 4, [10] * 9])  # 90, 40, 90
    moved = repair(plan, addresses, None, (50, 100))
    assert [op.kind for op in moved.operations] == ["move"]
    assert len(moved.kept) == 1 and moved.households_moved == 10
    plan, addresses = _row_plan([[10] * 6, [10] * 2, [10] * 6])  # 60, 20, 60: merge first
    merged = repair(plan, addresses, None, (50, 100))
    assert [op.kind for op in merged.operations] == ["merge"]
    assert sorted(merged.plan["households"]) == [60, 80]


def test_untouched_villages_and_crs_are_kept():
    other = "320508201202"
    a, pts_a = _row_plan([[10] * 6, [10] * 16, [10] * 6], crs="EPSG:4326")
    a = a.set_geometry(a.geometry.scale(1e-5, 1e-5, origin=(0, 0)).translate(120.6, 31.3))
    pts_a = pts_a.set_geometry(pts_a.geometry.scale(1e-5, 1e-5, origin=(0, 0)).translate(120.6, 31.3))
    b, pts_b = _row_plan([[10] * 6, [10] * 6], crs="EPSG:4326", village=other)
    b = b.set_geometry(b.geometry.scale(1e-5, 1e-5, origin=(0, 0)).translate(120.6, 31.31))
    pts_b = pts_b.set_geometry(pts_b.geometry.scale(1e-5, 1e-5, origin=(0, 0)).translate(120.6, 31.31))
    plan = gpd.GeoDataFrame(pd.concat([a, b], ignore_index=True), crs="EPSG:4326")
    addresses = gpd.GeoDataFrame(pd.concat([pts_a, pts_b], ignore_index=True), crs="EPSG:4326")
    result = repair(plan, addresses, None, (50, 100))
    assert result.plan.crs == plan.crs
    assert {other + "001", other + "002"} <= set(result.kept)
    assert len(result.plan) == 6 and validate(result.plan, rule=(50, 100)).ok


def test_bad_requests():
    plan, addresses = _row_plan([[10] * 6])
    with pytest.raises(PlanEditError, match="no grids"):
        repair(plan.iloc[:0], addresses, None, (50, 100))
    with pytest.raises(PlanEditError, match="no code column"):
        repair(plan.drop(columns="code"), addresses, None, (50, 100))
    lonely, pts = _row_plan([[10] * 3])  # one grid of 30, nothing to merge with: the reason says so
    with pytest.raises(InfeasibleError, match="cannot be brought within") as info:
        repair(lonely, pts, None, (50, 100))
    assert info.value.details["grid"] == V + "001"
    assert np.isfinite(info.value.details["households"])


def test_sub_grids_follow_their_grid():
    plan, addresses = _row_plan([[10] * 6, [10] * 16, [10] * 6])
    subs = gpd.GeoDataFrame(
        {"code": [V + "00101", V + "00102", V + "00201"], "division_code": [V] * 3},
        geometry=[box(0, 0, 50, 100), box(50, 0, 100, 100), box(100, 0, 200, 100)],
        crs=plan.crs,
    )
    with_subs = gpd.GeoDataFrame(pd.concat([plan, subs], ignore_index=True), crs=plan.crs)
    result = repair(with_subs, addresses, None, (50, 100))
    assert [op.kind for op in result.operations] == ["split"]  # sub-grids are not grids to repair
    assert result.dropped_subgrids == [V + "00201"]
    assert {V + "00101", V + "00102"} <= set(result.plan["code"])
    grid_rows = result.plan[result.plan["code"].str.len() == 15]
    assert int(grid_rows["households"].sum()) == int(addresses["households"].sum())
