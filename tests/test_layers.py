"""Department layers against the base grids: crosswalk shares, conflicts, alignment, routing.

Two synthetic department layers over the 6 × 4 village of ``layer_support``: one cutting through
base grids at 40 % of their width or height (expected shares known exactly), one drawn along whole
base grids but off by up to 2 m everywhere (nearly aligned).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from layer_support import (
    COLS,
    CUT_XS,
    CUT_Y,
    EAST,
    NORTH,
    ROWS,
    SOUTH,
    WEST,
    XS,
    YS,
    addresses,
    base_code,
    base_grids,
    cutting_layer,
    households_by_cutting_grid,
    rect,
)

from geogrid import layers
from geogrid.synthetic_layers import nearly_aligned_layer

AREA = rect(WEST, SOUTH, EAST, NORTH)


@pytest.fixture(scope="module")
def cutting():
    return layers.prepare_layer(base_grids(), cutting_layer(), addresses=addresses(), area=AREA)


@pytest.fixture(scope="module")
def nearly():
    layer = nearly_aligned_layer(base_grids(), per_grid=4, shift_m=2.0, seed=3)
    return layers.prepare_layer(base_grids(), layer, addresses=addresses(), area=AREA)


def _column_share(c: int) -> dict[str, float]:
    """Share of column c's width in each W/M/E band of the cutting layer."""
    x0, x1 = XS[c], XS[c + 1]
    bands = {"W": (WEST, CUT_XS[0]), "M": CUT_XS, "E": (CUT_XS[1], EAST)}
    out = {}
    for name, (a, b) in bands.items():
        w = max(0.0, min(x1, b) - max(x0, a)) / (x1 - x0)
        if w > 0:
            out[name] = w
    return out


def _row_share(r: int) -> dict[str, float]:
    y0, y1 = YS[r], YS[r + 1]
    out = {}
    for name, (a, b) in {"S": (SOUTH, CUT_Y), "N": (CUT_Y, NORTH)}.items():
        h = max(0.0, min(y1, b) - max(y0, a)) / (y1 - y0)
        if h > 0:
            out[name] = h
    return out


def test_crosswalk_shares_of_the_cutting_layer(cutting):
    cw = layers.crosswalk(cutting)
    dept_hh = households_by_cutting_grid()
    expected_rows = 0
    for c in range(COLS):
        for r in range(ROWS):
            for we, sx in _column_share(c).items():
                for ns, sy in _row_share(r).items():
                    expected_rows += 1
                    row = cw[(cw.base_code == base_code(c, r)) & (cw.department_code == f"ZZ-{we}{ns}")]
                    assert len(row) == 1, (c, r, we, ns)
                    row = row.iloc[0]
                    assert row.base_area_share == pytest.approx(sx * sy, abs=1e-3)
                    # the addresses sit on a 5 × 5 lattice: a cut at 40 % leaves 40 % of them
                    assert row.households == pytest.approx(50 * sx * sy)
                    assert row.base_household_share == pytest.approx(sx * sy)
                    assert row.department_household_share == pytest.approx(
                        row.households / dept_hh[f"ZZ-{we}{ns}"]
                    )
    assert len(cw) == expected_rows
    # every base grid is covered whole, by area and by households
    per_base = cw.groupby("base_code")[["base_area_share", "base_household_share"]].sum()
    assert np.allclose(per_base.to_numpy(), 1.0, atol=1e-3)
    per_dept = cw.groupby("department_code")[["department_area_share", "department_household_share"]].sum()
    assert np.allclose(per_dept.to_numpy(), 1.0, atol=1e-3)
    assert cw.groupby("department_code")["households"].sum().to_dict() == pytest.approx(dept_hh)


def test_crosswalk_without_addresses_shares_households_by_area():
    frames = layers.prepare_layer(base_grids(), cutting_layer())
    cw = layers.crosswalk(frames)
    assert not frames.exact
    assert np.allclose(cw["households"], 50 * cw["base_area_share"], rtol=1e-3)


def test_conflicts_of_the_cutting_layer_name_every_cut_base_grid(cutting):
    report = layers.conflicts(cutting)
    cut = {base_code(c, r) for c in range(COLS) for r in range(ROWS) if c in (1, 3) or r == 2}
    assert set(report.cut_base_codes) == cut
    assert len(report.gaps) == 0 and len(report.overlaps) == 0 and len(report.outside) == 0
    # every cut names both sides: 2 rows per base grid cut once, 4 per grid cut twice (columns 1/3 of row 2)
    assert len(report.cuts) == 2 * len(cut) + 2 * 2
    assert report.summary()["cut_base_grids"] == len(cut)


def test_conflicts_find_gaps_overlaps_and_outside_parts_with_their_households():
    layer = cutting_layer().set_index("code")
    # a gap: the NE grid stops 0.0004° short of the east edge (one column of addresses, 8 households)
    layer.loc["ZZ-EN", "geometry"] = rect(CUT_XS[1], CUT_Y, EAST - 0.0004, NORTH)
    # an overlap: the SW grid reaches 0.0003° into the middle one, over the addresses at lon 120.603
    layer.loc["ZZ-WS", "geometry"] = rect(WEST, SOUTH, CUT_XS[0] + 0.0003, CUT_Y)
    # outside: the NW grid reaches 0.0005° north of the village
    layer.loc["ZZ-WN", "geometry"] = rect(WEST, CUT_Y, CUT_XS[0], NORTH + 0.0005)
    frames = layers.prepare_layer(base_grids(), layer.reset_index(), addresses=addresses(), area=AREA)
    report = layers.conflicts(frames)
    assert len(report.gaps) == 1
    # addresses at fraction 0.9 of the last column, rows north of the cut: 3 of row 2 + 5 of row 3
    assert report.gaps.households.iloc[0] == pytest.approx(2 * (3 + 5))
    gap_m2 = report.gaps.to_crs(frames.crs).area.iloc[0]
    assert report.gaps.area_m2.iloc[0] == pytest.approx(gap_m2, rel=1e-6)
    assert [tuple(r) for r in report.overlaps[["department_code", "other_code"]].values] == [
        ("ZZ-MS", "ZZ-WS")
    ]
    assert report.overlaps.households.iloc[0] == 2 * (5 + 5 + 2)  # rows 0, 1 and the south of row 2
    assert report.outside.department_code.tolist() == ["ZZ-WN"]
    width_m = (CUT_XS[0] - WEST) * 111_320 * np.cos(np.radians(31.3))
    assert report.outside.area_m2.iloc[0] == pytest.approx(width_m * 0.0005 * 110_900, rel=0.01)
    assert not report.ok


def test_conflicts_of_the_nearly_aligned_layer_are_slivers_only(nearly):
    report = layers.conflicts(nearly)
    assert report.cut_base_codes == []  # 2 m wobble never holds 2 % of a 190 m × 222 m grid
    assert len(report.overlaps) == 0 and len(report.outside) == 0


def _is_union_of_base_grids(proposal, base: gpd.GeoDataFrame, crs) -> None:
    geoms = base.set_index("code").geometry
    seen: set[str] = set()
    for row in proposal.grids.itertuples():
        assert not seen & set(row.base_codes), "a base grid in two aligned grids"
        seen |= set(row.base_codes)
        union = shapely.union_all(geoms.loc[row.base_codes].values)
        diff = gpd.GeoSeries([row.geometry.symmetric_difference(union)], crs=4326).to_crs(crs).area.iloc[0]
        assert diff < 1e-6, (row.code, diff)
    assigned = {b for b, d in proposal.assignment.items() if d is not None}
    assert assigned == seen


def test_the_nearly_aligned_layer_aligns_to_itself_within_5_percent(nearly):
    proposal = layers.align(nearly)
    _is_union_of_base_grids(proposal, base_grids(), nearly.crs)
    assert len(proposal.grids) == len(nearly.layer) and not proposal.dropped
    assert proposal.grids.within_tolerance.all()
    assert (proposal.grids.households_aligned == proposal.grids.households_original).all()
    assert proposal.households_changed == 0 and proposal.moves.empty
    # each aligned grid is its original up to the 2 m wobble
    original = nearly.layer.set_index("code").geometry
    for row in proposal.grids.itertuples():
        diff = gpd.GeoSeries([row.geometry.symmetric_difference(original.loc[row.code])], crs=4326)
        area = gpd.GeoSeries([row.geometry], crs=4326).to_crs(nearly.crs).area.iloc[0]
        assert diff.to_crs(nearly.crs).area.iloc[0] < 0.05 * area


def test_the_cutting_layer_gets_the_optimal_union_of_base_grids(cutting):
    proposal = layers.align(cutting)
    _is_union_of_base_grids(proposal, base_grids(), cutting.crs)
    # each base grid goes where most of its households are: 60 % beats 40 %
    for c in range(COLS):
        for r in range(ROWS):
            we = max(_column_share(c).items(), key=lambda kv: kv[1])[0]
            ns = max(_row_share(r).items(), key=lambda kv: kv[1])[0]
            assert proposal.assignment[base_code(c, r)] == f"ZZ-{we}{ns}"
    # nothing needed repair, so the households changing hands are the separable minimum
    cw = layers.crosswalk(cutting)
    minimum = sum(50 - g.households.max() for _, g in cw.groupby("base_code"))
    assert not proposal.repairs
    assert proposal.households_changed == pytest.approx(minimum)
    assert proposal.moves.households.sum() == pytest.approx(minimum)
    grids = proposal.grids.set_index("code")
    dept_hh = households_by_cutting_grid()
    for code, row in grids.iterrows():
        assert row.households_original == dept_hh[code]
        assert row.households_aligned == 50 * len(row.base_codes)
        assert row.within_tolerance == (abs(row.change) <= 0.05 * row.households_original)
    # the moves add up grid by grid: original - out + in = aligned
    for code, row in grids.iterrows():
        out = proposal.moves.loc[proposal.moves.from_code == code, "households"].sum()
        into = proposal.moves.loc[proposal.moves.to_code == code, "households"].sum()
        assert row.households_original - out + into == pytest.approx(row.households_aligned)


def test_a_department_grid_in_two_pieces_is_reconnected():
    far = shapely.MultiPolygon([rect(XS[0], YS[0], XS[1], YS[1]), rect(XS[5], YS[3], XS[6], YS[4])])
    rest = shapely.difference(AREA, far)
    layer = gpd.GeoDataFrame({"code": ["D1", "D2"]}, geometry=[far, rest], crs=4326)
    proposal = layers.align(layers.prepare_layer(base_grids(), layer, addresses=addresses(), area=AREA))
    _is_union_of_base_grids(proposal, base_grids(), "EPSG:32651")
    assert proposal.grids.contiguous.all()
    d1 = proposal.grids.set_index("code").loc["D1"]
    assert len(d1.base_codes) == 1 and d1.base_codes[0] in (base_code(0, 0), base_code(5, 3))
    assert any("detached" in r for r in proposal.repairs)


def test_an_empty_department_grid_takes_the_base_grid_it_overlaps_most():
    inner = rect(XS[2], YS[1], XS[2] + 0.0006, YS[2])  # 30 % of base grid (2, 1)
    layer = gpd.GeoDataFrame(
        {"code": ["SMALL", "BIG"]}, geometry=[inner, shapely.difference(AREA, inner)], crs=4326
    )
    proposal = layers.align(layers.prepare_layer(base_grids(), layer, addresses=addresses(), area=AREA))
    assert proposal.assignment[base_code(2, 1)] == "SMALL"
    assert not proposal.dropped and proposal.grids.contiguous.all()
    assert any("takes" in r for r in proposal.repairs)


def test_route_prefers_the_aligned_grid_then_households_then_area():
    cw = layers.crosswalk(layers.prepare_layer(base_grids(), cutting_layer(), addresses=addresses()))
    for base, group in cw.groupby("base_code"):
        rows = [
            {"code": r.department_code, "households": r.households, "area_m2": r.area_m2}
            for r in group.itertuples()
        ]
        chosen = layers.route(rows)
        assert chosen is not None
        assert chosen["households"] == max(r["households"] for r in rows), base
    assert layers.route([]) is None
