"""Planner numbers that add up: for random edits of a plan (moves, splits, merges, growth,
demolition) the diff's flows balance per grid, its totals are the table's sums, every number comes
from one address snapshot, and sub-grids never change a total."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from geogrid import plans
from geogrid.errors import PlanEditError
from geogrid.partition import partition
from tests.geometries import lattice_village

V = "320508019044"
LOOSE = (1, 10_000)  # edits here test numbers, not bounds


@pytest.fixture(scope="module")
def base():
    v = lattice_village(8, 6, households=(0, 12), seed=11)
    result = partition(v.area, v.addresses, v.streets, (50, 100), division_code=V, seed=1)
    plan = result.grids
    blocks = result.blocks.to_crs(plan.crs)
    moves = plans.movable_blocks(plan, blocks, rule=LOOSE, addresses=v.addresses)
    pairs = sorted({tuple(sorted((a, b))) for a in plan["code"] for b in plans.neighbours(plan, a)})
    return plan, blocks, v.addresses, v.streets, moves, pairs


def _grow(addresses: gpd.GeoDataFrame, plan: gpd.GeoDataFrame, n: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` new addresses of 1-9 households at random spots inside the plan."""
    rng = np.random.default_rng(seed)
    west, south, east, north = plan.total_bounds
    area = plan.union_all()
    pts = []
    while len(pts) < n:
        p = Point(rng.uniform(west, east), rng.uniform(south, north))
        if area.contains(p):
            pts.append(p)
    new = gpd.GeoDataFrame(
        {"address_id": [f"new{seed}-{i}" for i in range(n)], "households": rng.integers(1, 10, n)},
        geometry=pts,
        crs=plan.crs,
    )
    return gpd.GeoDataFrame(pd.concat([addresses, new], ignore_index=True), crs=addresses.crs)


def _edit(plan, base, kind: str, pick: int, today, seed: int):
    _, blocks, _, streets, moves, pairs = base
    if kind == "move" and len(moves):
        m = moves.iloc[pick % len(moves)]
        if m.from_code in set(plan["code"]) and m.to_code in set(plan["code"]):
            return plans.move_blocks(
                plan, blocks, [m.block_id], m.to_code, rule=LOOSE, addresses=today, force=True
            )
    if kind == "merge":
        a, b = pairs[pick % len(pairs)]
        if {a, b} <= set(plan["code"]):
            return plans.merge_grids(plan, a, b, rule=LOOSE, force=True)
    if kind == "split":
        code = plan["code"].iloc[pick % len(plan)]
        return plans.split_grid(plan, code, today, rule=LOOSE, streets=streets, k=2, seed=seed)
    return plan


def check_numbers(d: plans.PlanDiff, old, new, today) -> None:
    f = d.frame
    matched = f["change"].isin(["changed", "unchanged"])
    # Flows balance per grid: after = before - out + in; in/out are parts of after/before.
    assert (f["households_after"] == f["households_before"] - f["households_out"] + f["households_in"]).all()
    assert (f["households_out"] <= f["households_before"]).all() and (
        f["households_in"] <= f["households_after"]
    ).all()
    added, removed = f[f["change"] == "added"], f[f["change"] == "removed"]
    assert (added["households_before"] == 0).all() and (
        added["households_in"] == added["households_after"]
    ).all()
    assert (removed["households_after"] == 0).all() and (
        removed["households_out"] == removed["households_before"]
    ).all()
    assert (f.loc[f["change"] == "unchanged", ["households_in", "households_out"]] == 0).all().all()
    assert (f["households_moved"] == f["households_in"] + f["households_out"]).all()
    # Totals are the table's sums, and the flows add up across grids.
    assert d.households_before == f["households_before"].sum()
    assert d.households_after == f["households_after"].sum()
    assert d.households_in == f["households_in"].sum() == d.households_moved + d.entered
    assert d.households_out == f["households_out"].sum() == d.households_moved + d.left
    assert d.households_after - d.households_before == d.entered - d.left
    assert d.growth == pd.to_numeric(f["growth"]).fillna(0).sum()
    assert (d.added, d.removed, d.changed + d.unchanged) == (len(added), len(removed), int(matched.sum()))
    # One snapshot: before/after are today's addresses counted in the old/new grids.
    before = dict(zip(old["code"], plans.recount(old, today)["households"], strict=True))
    after = dict(zip(new["code"], plans.recount(new, today)["households"], strict=True))
    old_rows = f[f["change"] != "added"]
    assert all(
        before[c] == h for c, h in zip(old_rows["code_before"], old_rows["households_before"], strict=True)
    )
    new_rows = f[f["change"] != "removed"]
    assert all(after[c] == h for c, h in zip(new_rows["code"], new_rows["households_after"], strict=True))
    recorded = dict(zip(old["code"], old["households"], strict=True))
    assert all(
        g == before[c] - recorded[c] for c, g in zip(old_rows["code_before"], old_rows["growth"], strict=True)
    )
    assert d.households_before == sum(before.values()) and d.households_after == sum(after.values())


edits = st.lists(st.tuples(st.sampled_from(["move", "merge", "split"]), st.integers(0, 10_000)), max_size=3)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=edits, grow=st.integers(0, 12), demolish=st.floats(0, 0.3), seed=st.integers(0, 1000))
@example(steps=[("split", 3), ("merge", 5)], grow=8, demolish=0.1, seed=1)
@example(steps=[("move", 0), ("move", 7)], grow=0, demolish=0.0, seed=2)
def test_diff_flows_balance_and_totals_are_sums_for_random_edits(base, steps, grow, demolish, seed):
    plan, _, addresses, _, _, _ = base
    today = _grow(addresses, plan, grow, seed) if grow else addresses
    today = today.sample(frac=1 - demolish, random_state=seed) if demolish else today
    new = plan
    for kind, pick in steps:
        try:
            new = _edit(new, base, kind, pick, today, seed)
        except PlanEditError:
            continue  # an edit the plan refuses (e.g. nothing to split): the next one
    d = plans.diff_plans(plan, new, addresses=today)
    assert d.exact and "addresses given" in d.snapshot
    check_numbers(d, plan, new, today)
    # The diff the other way round is its mirror image.
    back = plans.diff_plans(new, plan, addresses=today)
    assert (back.households_before, back.households_after) == (d.households_after, d.households_before)
    assert back.households_moved == d.households_moved


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.integers(0, 10_000), seed=st.integers(0, 100))
def test_sub_grids_never_change_a_total(base, pick, seed):
    plan, _, addresses, streets, _, _ = base
    parent = plan.iloc[pick % len(plan)]
    area = gpd.GeoSeries([parent.geometry], crs=plan.crs)
    inside = addresses[addresses.within(parent.geometry)]
    subs = partition(area, inside, streets, (1, 10_000), k=2, division_code=parent["code"], seed=seed).grids
    with_subs = gpd.GeoDataFrame(pd.concat([plan, subs], ignore_index=True), crs=plan.crs)
    totals, plain = plans.plan_totals(with_subs), plans.plan_totals(plan)
    assert totals.set_index("level").loc["grid"].tolist() == plain.set_index("level").loc["grid"].tolist()
    assert totals.set_index("level").loc["subgrid", "households"] == parent["households"]
    assert plans.household_table(with_subs, (1, 10_000))["households"].sum() == plan["households"].sum()
    d_plain = plans.diff_plans(plan, plan, addresses=addresses)
    d_subs = plans.diff_plans(plan, with_subs, addresses=addresses)
    assert (d_subs.households_after, d_subs.households_moved, d_subs.added) == (
        d_plain.households_after,
        d_plain.households_moved,
        0,
    )
    sub_diff = plans.diff_plans(plan, with_subs, addresses=addresses, level="subgrid")
    assert sub_diff.level == "subgrid" and sub_diff.added == 2
    assert sub_diff.households_after == parent["households"]
