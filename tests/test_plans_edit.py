"""Planner edits on plan frames: moves, splits, merges, their refusals, diffs and recoding.

The test village is a row of six 100 m street blocks near Suzhou, stored in lon/lat like
real plans.  Each block holds two address points; block households are

    block      0   1   2   3   4   5
    households 30  30  30  30  30  50

and the plan has three grids: 001 = blocks 0-2 (90), 002 = blocks 3-4 (60), 003 = block 5 (50).
"""

from __future__ import annotations

import geopandas as gpd
import matplotlib
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from geogrid import plans
from geogrid.crs import local_metric_crs
from geogrid.errors import PlanEditError
from geogrid.frames import WGS84
from geogrid.rules import RURAL, Rule
from geogrid.validate import validate

matplotlib.use("Agg")

METRIC = local_metric_crs(120.6, 31.3)
V = "320508019044"
A, B, C = V + "001", V + "002", V + "003"
BLOCK_HH = [30, 30, 30, 30, 30, 50]
MEMBERS = {A: [0, 1, 2], B: [3, 4], C: [5]}


def _ll(geoms: list) -> gpd.GeoSeries:
    return gpd.GeoSeries(geoms, crs=METRIC).to_crs(WGS84)


@pytest.fixture
def blocks() -> gpd.GeoDataFrame:
    """Blocks as PartitionResult.blocks has them: metric CRS, block_id, households, address_count."""
    return gpd.GeoDataFrame(
        {"block_id": range(6), "households": BLOCK_HH, "address_count": [2] * 6},
        geometry=[box(100 * i, 0, 100 * (i + 1), 100) for i in range(6)],
        crs=METRIC,
    )


@pytest.fixture
def addresses() -> gpd.GeoDataFrame:
    """Two points per block, at x + 25 m and x + 75 m, splitting the block's households."""
    rows, points = [], []
    for i, hh in enumerate(BLOCK_HH):
        for j, dx in enumerate((25, 75)):
            rows.append({"address_id": f"b{i}-{j}", "households": hh // 2})
            points.append(Point(100 * i + dx, 50))
    return gpd.GeoDataFrame(rows, geometry=_ll(points).values, crs=WGS84)


@pytest.fixture
def plan(blocks) -> gpd.GeoDataFrame:
    # Dissolved from the metric blocks, as geogrid.partition builds grids: shared vertices.
    geoms = [shapely.union_all(blocks.geometry.values[m]) for m in MEMBERS.values()]
    return gpd.GeoDataFrame(
        {
            "code": list(MEMBERS),
            "division_code": V,
            "level": 3,
            "kind": "rural",
            "name": ["一", "二", "三"],
            "households": [sum(BLOCK_HH[b] for b in m) for m in MEMBERS.values()],
            "address_count": [2 * len(m) for m in MEMBERS.values()],
            "blocks": list(MEMBERS.values()),
        },
        geometry=_ll(geoms).values,
        crs=WGS84,
    )


@pytest.fixture
def village(plan) -> shapely.Geometry:
    return shapely.union_all(plan.geometry.values)


def _hh(frame: gpd.GeoDataFrame) -> dict[str, int]:
    return dict(zip(frame["code"], frame["households"].astype(int), strict=True))


def _metric_bounds(frame: gpd.GeoDataFrame, code: str) -> tuple[float, ...]:
    geom = frame.loc[frame["code"] == code].to_crs(METRIC).geometry.iloc[0]
    return tuple(round(v, 3) for v in geom.bounds)


def _assert_valid(frame, village, addresses=None) -> None:
    report = validate(frame, parent=village, rule=RURAL, addresses=addresses)
    assert report.ok, report.summary() + "\n" + "\n".join(i.message for i in report.issues)


# --------------------------------------------------------------------------- move_blocks


def test_move_block_to_neighbour(plan, blocks, addresses, village):
    before = plan.copy()
    out = plans.move_blocks(plan, blocks, [2], B, rule="rural", addresses=addresses)
    assert _hh(out) == {A: 60, B: 90, C: 50}
    assert list(out["address_count"]) == [4, 6, 2]
    assert _metric_bounds(out, A) == (0, 0, 200, 100)
    assert _metric_bounds(out, B) == (200, 0, 500, 100)
    assert list(out["blocks"]) == [[0, 1], [2, 3, 4], [5]]
    assert list(out["code"]) == [A, B, C]  # a move keeps codes
    _assert_valid(out, village, addresses)
    pd.testing.assert_frame_equal(plan, before)  # the input is not touched


def test_move_block_households_from_blocks_frame(plan, blocks):
    out = plans.move_blocks(plan, blocks, [2], B, rule="rural")
    assert _hh(out) == {A: 60, B: 90, C: 50}
    assert list(out["address_count"]) == [4, 6, 2]


def test_untouched_grid_keeps_its_coordinates(plan, blocks):
    out = plans.move_blocks(plan, blocks, [2], B, rule="rural")
    assert out.geometry.iloc[2].equals_exact(plan.geometry.iloc[2], tolerance=0)


def test_move_refused_when_not_neighbour(plan, blocks):
    with pytest.raises(PlanEditError) as err:
        plans.move_blocks(plan, blocks, [1], B, rule="rural")
    message = str(err.value)
    assert message.startswith(f"moving block [1] to {B} (from {A}, 30 households)")
    assert f"the moved area does not border {B}, which would be split into 2 parts" in message
    assert f"{A} would be split into 2 parts" in message
    assert "force=True" in message


def test_move_refused_above_and_below_bounds(plan, blocks, addresses):
    with pytest.raises(PlanEditError) as err:
        plans.move_blocks(plan, blocks, [3], A, rule="rural", addresses=addresses)
    message = str(err.value)
    assert f"{A} would have 120 households, above the rural upper bound 100" in message
    assert f"{B} would have 30 households, below the rural lower bound 50" in message


def test_custom_rule_message_has_no_name(plan, blocks):
    with pytest.raises(PlanEditError, match=rf"{B} would have 30 households, below the lower bound 40"):
        plans.move_blocks(plan, blocks, [4], C, rule=(40, 90))


def test_force_applies_a_refused_move(plan, blocks, addresses):
    out = plans.move_blocks(plan, blocks, [3], A, rule="rural", addresses=addresses, force=True)
    assert _hh(out) == {A: 120, B: 30, C: 50}
    table = plans.household_table(out, "rural")
    assert list(table["status"]) == ["above", "below", "within"]


def test_moving_closer_to_the_bounds_is_allowed(plan, blocks, addresses):
    crowded = plan.copy()
    crowded["households"] = [130, 60, 50]  # A grew above the bound
    out = plans.move_blocks(crowded, blocks, [2], B, rule="rural")
    assert _hh(out) == {A: 100, B: 90, C: 50}
    crowded["households"] = [160, 60, 50]
    out = plans.move_blocks(crowded, blocks, [2], B, rule="rural")
    assert _hh(out)[A] == 130  # still above, but closer: allowed


def test_move_emptying_a_grid(plan, blocks):
    with pytest.raises(PlanEditError, match=rf"{C} would be left empty"):
        plans.move_blocks(plan, blocks, [5], B, rule=(10, 200))
    out = plans.move_blocks(plan, blocks, [5], B, rule=(10, 200), force=True)
    assert list(out["code"]) == [A, B]
    assert out.attrs["retired_codes"] == [C]


@pytest.mark.parametrize(
    ("ids", "to", "message"),
    [
        ([99], B, r"unknown block ids \[99\]"),
        ([], B, "no blocks given"),
        ([3], B, f"nothing to move, the area is already in {B}"),
        ([0], V + "009", f"grid {V}009 is not in the plan"),
    ],
)
def test_move_blocks_bad_requests(plan, blocks, ids, to, message):
    with pytest.raises(PlanEditError, match=message):
        plans.move_blocks(plan, blocks, ids, to, rule="rural")


def test_move_blocks_needs_households(plan, blocks):
    with pytest.raises(PlanEditError, match="give addresses or a blocks frame with households"):
        plans.move_blocks(plan, blocks.drop(columns="households"), [2], B, rule="rural")


# --------------------------------------------------------------------------- move_addresses


def test_move_address_takes_its_voronoi_share(plan, addresses, village):
    out = plans.move_addresses(plan, addresses, ["b2-1"], B, rule="rural")
    assert _hh(out) == {A: 75, B: 75, C: 50}
    # The cell of the point at x = 275 m among A's points reaches halfway to x = 225 m.
    assert _metric_bounds(out, A) == pytest.approx((0, 0, 250, 100), abs=0.5)
    assert _metric_bounds(out, B) == pytest.approx((250, 0, 500, 100), abs=0.5)
    _assert_valid(out, village, addresses)


def test_move_address_not_bordering_is_refused(plan, addresses):
    with pytest.raises(PlanEditError) as err:
        plans.move_addresses(plan, addresses, ["b2-0"], B, rule="rural")
    message = str(err.value)
    assert message.startswith(f"moving address [b2-0] to {B} (from {A}, 15 households)")
    assert "does not border" in message and f"{A} would be split into 2 parts" in message


def test_move_address_with_blocks_moves_the_block(plan, addresses, blocks):
    out = plans.move_addresses(plan, addresses, ["b2-1"], B, rule="rural", blocks=blocks)
    assert _hh(out) == {A: 60, B: 90, C: 50}
    assert list(out["blocks"]) == [[0, 1], [2, 3, 4], [5]]


def test_move_addresses_bad_requests(plan, addresses):
    with pytest.raises(PlanEditError, match=r"unknown address ids \[nope\]"):
        plans.move_addresses(plan, addresses, ["nope"], B, rule="rural")
    with pytest.raises(PlanEditError, match=f"already in {B}"):
        plans.move_addresses(plan, addresses, ["b3-0"], B, rule="rural")


def test_co_located_addresses_move_together(plan, addresses):
    twin = addresses[addresses["address_id"] == "b2-1"].assign(address_id="b2-1-twin", households=5)
    both = pd.concat([addresses, twin], ignore_index=True)
    out = plans.move_addresses(plan, both, ["b2-1"], B, rule="rural")
    assert _hh(out) == {A: 75, B: 80, C: 50}


# --------------------------------------------------------------------------- merge_grids


def test_merge_refused_above_bound_names_codes_households_and_bound(plan):
    with pytest.raises(PlanEditError) as err:
        plans.merge_grids(plan, B, C, rule="rural")
    assert str(err.value) == (
        f"merging {B} (60) and {C} (50) gives 110 households, above the rural upper bound 100 "
        "(force=True applies it anyway)"
    )


def test_merge_refused_when_not_neighbours(plan):
    small = plan.assign(households=[40, 30, 20])
    with pytest.raises(
        PlanEditError, match=rf"merging {A} \(40\) and {C} \(20\) is refused: .* not neighbours"
    ):
        plans.merge_grids(small, A, C, rule="rural")
    forced = plans.merge_grids(small, A, C, rule="rural", force=True)
    assert len(forced) == 2 and list(forced.geom_type).count("MultiPolygon") == 1


def test_merge_two_small_grids_gets_a_new_code(plan, village):
    small = plan.assign(households=[90, 35, 40])  # housing demolished in 002 and 003
    out = plans.merge_grids(small, B, C, rule="rural")
    assert len(out) == 2
    # 002 ∪ 003 is not essentially either of them (IoU 2/3 and 1/3): a new, unused number.
    assert _hh(out) == {A: 90, V + "004": 75}
    assert out.attrs["retired_codes"] == [B, C]
    assert sorted(out.loc[out["code"] == V + "004", "blocks"].iloc[0]) == [3, 4, 5]
    _assert_valid(out, village)


def test_merge_keeps_the_code_of_an_essentially_unchanged_grid(plan):
    # 001 holds blocks 0-4 and 002 only block 5: the merge is 001 plus a sixth.
    wide = plan.iloc[[0, 2]].copy()
    wide["geometry"] = _ll([box(0, 0, 500, 100), box(500, 0, 600, 100)]).values
    wide["code"] = [A, B]
    wide["households"] = [70, 20]
    out = plans.merge_grids(wide, A, B, rule="rural")
    assert list(out["code"]) == [A]
    assert out.attrs["retired_codes"] == [B]


def test_merge_never_crosses_villages(plan):
    other = plan.copy()
    other.loc[2, "division_code"] = "320508019045"
    with pytest.raises(PlanEditError, match="grids never cross villages"):
        plans.merge_grids(other.assign(households=[90, 20, 20]), B, C, rule="rural", force=True)


def test_move_never_crosses_villages(plan, blocks):
    other = plan.assign(division_code=[V, V, "320508019045"])
    with pytest.raises(
        PlanEditError, match=f"{C} lie outside village {V} of {B}; grids never cross villages"
    ):
        plans.move_blocks(other, blocks, [5], B, rule=(10, 200), force=True)


def test_movable_blocks_lists_the_accepted_moves(plan, blocks, addresses):
    table = plans.movable_blocks(plan, blocks, rule="rural", addresses=addresses)
    # 001 -> 002 (block 2) is the only move keeping both grids in [50, 100]; 003 has one block.
    assert table.to_dict("records") == [
        {
            "block_id": 2,
            "from_code": A,
            "to_code": B,
            "households_moved": 30,
            "from_households": 60,
            "to_households": 90,
        },
    ]
    assert plans.movable_blocks(plan, blocks, rule="rural", codes=[B]).empty


def test_validate_by_division(plan, village):
    villages = gpd.GeoDataFrame({"code": [V], "kind": ["rural"]}, geometry=[village], crs=WGS84)
    table = plans.validate_by_division(plan, villages)
    assert table[["division_code", "grids", "households", "ok", "issues"]].values.tolist() == [
        [V, 3, 200, True, ""]
    ]
    with pytest.raises(PlanEditError, match="no such division"):
        plans.validate_by_division(plan.assign(division_code="320508019045"), villages)


def test_addresses_in(plan, addresses):
    assert list(plans.addresses_in(plan, addresses, C)["address_id"]) == ["b5-0", "b5-1"]


def test_merge_bad_requests(plan):
    with pytest.raises(PlanEditError, match="with itself"):
        plans.merge_grids(plan, A, A, rule="rural")
    with pytest.raises(PlanEditError, match="not in the plan"):
        plans.merge_grids(plan, A, V + "042", rule="rural")


# --------------------------------------------------------------------------- split_grid


def _new_housing(addresses: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Three new buildings of 20 households in grid 001 (blocks 0 and 1)."""
    points = _ll([Point(50, 20), Point(50, 80), Point(150, 20)]).values
    new = gpd.GeoDataFrame(
        {"address_id": ["n1", "n2", "n3"], "households": [20, 20, 20]}, geometry=points, crs=WGS84
    )
    return pd.concat([addresses, new], ignore_index=True)


@pytest.fixture
def streets() -> gpd.GeoDataFrame:
    lines = [LineString([(100 * i, -10), (100 * i, 110)]) for i in range(1, 6)]
    return gpd.GeoDataFrame({"street_class": ["lane"] * 5}, geometry=_ll(lines).values, crs=WGS84)


@pytest.mark.parametrize("with_streets", [True, False])
def test_split_grid_above_bound(plan, addresses, streets, village, with_streets):
    grown_addresses = _new_housing(addresses)
    grown = plans.recount(plan, grown_addresses)
    assert _hh(grown)[A] == 150
    out = plans.split_grid(grown, A, grown_addresses, rule="rural", streets=streets if with_streets else None)
    hh = _hh(out)
    assert A not in hh and hh[B] == 60 and hh[C] == 50  # others keep code and households
    parts = {c: h for c, h in hh.items() if c not in (B, C)}
    assert sorted(parts) == [V + "004", V + "005"]  # unused numbers, old code retired
    assert all(50 <= h <= 100 for h in parts.values()) and sum(parts.values()) == 150
    assert out.attrs["retired_codes"] == [A]
    _assert_valid(out, village, grown_addresses)
    if with_streets:  # the cut follows a street: both parts are whole blocks
        bounds = sorted(_metric_bounds(out, c) for c in parts)
        assert all(b[0] % 100 == pytest.approx(0, abs=1e-6) for b in bounds)


def test_split_respects_retired_codes(plan, addresses):
    grown_addresses = _new_housing(addresses)
    grown = plans.recount(plan, grown_addresses)
    grown.attrs["retired_codes"] = [V + "004"]
    out = plans.split_grid(grown, A, grown_addresses, rule="rural", retired=[V + "006"])
    assert sorted(set(out["code"]) - {B, C}) == [V + "005", V + "007"]
    assert out.attrs["retired_codes"] == [A, V + "004", V + "006"]


def test_split_refused_when_nothing_to_split(plan, addresses):
    with pytest.raises(PlanEditError) as err:
        plans.split_grid(plan, A, addresses, rule="rural")
    assert str(err.value).startswith(
        f"splitting {A} (90 households) gives a single grid within the rural bounds"
    )


def test_split_refused_when_infeasible(plan, addresses):
    with pytest.raises(PlanEditError, match=rf"splitting {A} \(90 households\) within the bounds \[60, 80\]"):
        plans.split_grid(plan, A, addresses, rule=(60, 80))


# --------------------------------------------------------------------------- stable recoding


def test_codes_stay_stable_through_a_chain_of_edits(plan, addresses, blocks):
    grown_addresses = _new_housing(addresses)
    step1 = plans.split_grid(plans.recount(plan, grown_addresses), A, grown_addresses, rule="rural")
    step2 = plans.move_blocks(step1, blocks, [4], C, rule=(20, 100), addresses=grown_addresses)
    step3 = plans.merge_grids(step2, B, C, rule=(20, 120))
    assert set(step1["code"]) == {B, C, V + "004", V + "005"}
    assert set(step2["code"]) == set(step1["code"])
    assert _hh(step2)[B] == 30 and _hh(step2)[C] == 80
    # 003 now holds blocks 4-5 and 002 only block 3: their union is new, 001-005 are all taken.
    assert set(step3["code"]) == {V + "004", V + "005", V + "006"}
    assert step3.attrs["retired_codes"] == [A, B, C]


# --------------------------------------------------------------------------- diff


def test_diff_identical_plans(plan):
    d = plans.diff_plans(plan, plan.copy())
    assert (d.added, d.removed, d.changed, d.unchanged, d.households_moved) == (0, 0, 0, 3, 0)
    assert set(d.frame["change"]) == {"unchanged"}


def test_diff_after_a_move_counts_households_moved(plan, blocks, addresses):
    new = plans.move_blocks(plan, blocks, [2], B, rule="rural", addresses=addresses)
    d = plans.diff_plans(plan, new, addresses=addresses)
    assert (d.changed, d.unchanged, d.households_moved, d.exact) == (2, 1, 30, True)
    rows = d.frame.set_index("code")
    assert rows.loc[
        A, ["households_before", "households_after", "households_out", "households_moved"]
    ].tolist() == [
        90,
        60,
        30,
        30,
    ]
    assert rows.loc[B, ["households_in", "households_moved"]].tolist() == [30, 30]
    assert rows.loc[C, "change"] == "unchanged"
    estimated = plans.diff_plans(plan, new)  # households spread evenly: same answer here
    assert (estimated.households_moved, estimated.exact) == (30, False)
    assert "30 households moved" in str(d)


def test_diff_after_a_split(plan, addresses):
    grown_addresses = _new_housing(addresses)
    grown = plans.recount(plan, grown_addresses)
    new = plans.split_grid(grown, A, grown_addresses, rule="rural")
    d = plans.diff_plans(grown, new, addresses=grown_addresses)
    assert (d.added, d.removed, d.changed, d.unchanged) == (2, 1, 0, 2)
    assert d.households_moved == 150
    removed = d.frame[d.frame["change"] == "removed"].iloc[0]
    assert (removed["code"], removed["households_before"], removed["households_after"]) == (A, 150, 0)
    assert list(d.frame.columns[:4]) == ["code", "code_before", "division_code", "change"]
    assert d.frame.crs == WGS84


def test_diff_matches_recoded_grids_by_geometry(plan):
    renamed = plan.copy()
    renamed.loc[0, "code"] = V + "007"
    d = plans.diff_plans(plan, renamed)
    assert d.recoded == {A: V + "007"}
    row = d.frame[d.frame["code"] == V + "007"].iloc[0]
    assert (row["change"], row["code_before"]) == ("changed", A)
    # Below min_overlap a re-drawn grid without its code is a new grid.
    shrunk = renamed.copy()
    shrunk.loc[0, "geometry"] = _ll([box(0, 0, 150, 100)]).iloc[0]
    d = plans.diff_plans(plan, shrunk, min_overlap=0.9)
    assert (d.added, d.removed) == (1, 1)


def test_diff_geometry_change_with_same_households_is_a_change(plan):
    moved = plan.copy()
    moved.loc[0, "geometry"] = _ll([box(0, 0, 290, 100)]).iloc[0]
    d = plans.diff_plans(plan, moved)
    assert d.frame.set_index("code").loc[A, "change"] == "changed"


def test_diff_frame_draws_on_a_diff_map(plan, blocks, addresses):
    from geogrid.maps import diff_map, map_html

    new = plans.move_blocks(plan, blocks, [2], B, rule="rural", addresses=addresses)
    html = map_html(diff_map(plan, new, plans.diff_plans(plan, new, addresses=addresses).frame))
    assert "changed (2)" in html


# --------------------------------------------------------------------------- tables and helpers


def test_household_table_and_histogram(plan):
    odd = plan.assign(households=[120, 40, 70])
    table = plans.household_table(odd, RURAL)
    assert table[["code", "households", "status"]].values.tolist() == [
        [A, 120, "above"],
        [B, 40, "below"],
        [C, 70, "within"],
    ]
    ax = plans.household_histogram(odd, RURAL)
    bounds = sorted({line.get_xdata()[0] for line in ax.get_lines() if len(line.get_xdata())})
    assert bounds == [50, 100]
    assert "1 below, 1 above of 3" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_household_histogram_on_given_axes(plan):
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert plans.household_histogram(plan, Rule(10, 20), ax=ax) is ax
    plt.close("all")


def test_neighbours_border_blocks_and_recount(plan, blocks, addresses):
    assert plans.neighbours(plan, B) == [A, C]
    assert plans.neighbours(plan, A) == [B]
    assert plans.border_blocks(plan, blocks, A, B) == [2]
    assert plans.border_blocks(plan, blocks, B, A) == [3]
    counted = plans.recount(plan.assign(households=0, address_count=0), addresses)
    assert _hh(counted) == {A: 90, B: 60, C: 50}


def test_edits_on_a_partitioned_village():
    """The edits on a real partition: blocks and member ids from geogrid.partition."""
    from geogrid.partition import partition
    from geogrid.synthetic import make_village

    code = "320508101201"
    v = make_village(households=900, kind="rural", seed=1, village_code=code)
    result = partition(v.villages, v.addresses, v.streets, "rural", seed=0, division_code=code)
    grids = result.grids
    first = grids["code"].iloc[0]
    done = False
    for other in plans.neighbours(grids, first):
        for block in plans.border_blocks(grids, result.blocks, first, other):
            try:
                moved = plans.move_blocks(
                    grids, result.blocks, [block], other, rule="rural", addresses=v.addresses
                )
            except PlanEditError:
                continue
            _assert_valid(moved, v.villages, v.addresses)
            d = plans.diff_plans(grids, moved, addresses=v.addresses)
            assert (d.changed, d.unchanged) == (2, len(grids) - 2)
            assert d.households_moved == int(result.blocks.loc[block, "households"])
            done = True
            break
        if done:
            break
    assert done, "no border block could move without breaking bounds"
