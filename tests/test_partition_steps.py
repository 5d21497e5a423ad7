"""The steps of partition() one at a time: prepare → blocks → search → assemble → diagnose."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from geogrid.errors import InfeasibleError
from geogrid.partition import (
    assemble,
    build_blocks,
    diagnose,
    partition,
    polsby_popper,
    prepare,
    search,
)
from tests.geometries import METRIC, lattice_village

AREA = gpd.GeoSeries([box(0, 0, 300, 100)], crs=METRIC)


def _row(households: list[list[int]], street_xs=(100.0, 200.0)):
    """Three blocks in a row; block i holds addresses with the given households, spread west to east."""
    streets = gpd.GeoDataFrame(
        {"street_class": ["street"] * len(street_xs)},
        geometry=[LineString([(x, -5), (x, 105)]) for x in street_xs],
        crs=METRIC,
    )
    pts, hh = [], []
    for i, block in enumerate(households):
        for j, h in enumerate(block):
            pts.append(Point(100 * i + 20 + 60 * j / max(1, len(block) - 1), 50))
            hh.append(h)
    addresses = gpd.GeoDataFrame(
        {"address_id": [f"a{i}" for i in range(len(hh))], "households": hh}, geometry=pts, crs=METRIC
    )
    return addresses, streets


def test_prepare_projects_counts_and_refuses_early():
    addresses, _ = _row([[30], [30], [30]])
    stray = gpd.GeoDataFrame(
        {"address_id": ["far"], "households": [9]}, geometry=[Point(900, 900)], crs=METRIC
    )
    p = prepare(AREA, gpd.GeoDataFrame(pd.concat([addresses, stray], ignore_index=True)), (20, 60))
    assert p.total == 90 and p.outside_ids == ["far"] and len(p.points) == 3
    assert p.crs == AREA.crs and p.area_ll.geom_type == "Polygon"
    with pytest.raises(InfeasibleError, match="at one point"):
        prepare(AREA, _row([[40, 40], [1], [1]])[0].assign(geometry=[Point(50, 50)] * 4), (20, 60))
    with pytest.raises(InfeasibleError, match="cannot be split"):
        prepare(AREA, addresses, (100, 120))


def test_build_blocks_tiles_the_area_and_cuts_over_full_blocks():
    addresses, streets = _row([[30], [40, 40], [30]])  # the middle block (80) is above 60
    p = prepare(AREA, addresses, (20, 60))
    block_set = build_blocks(p, streets)
    assert sorted(block_set.streets.households.tolist()) == [30, 30, 80]
    initial = block_set.initial
    assert len(initial.cut) == 1 and sorted(initial.households.tolist()) == [30, 30, 40, 40]
    union = shapely.union_all(initial.graph.geoms)
    assert union.symmetric_difference(p.area_m).area < 1e-6
    assert (initial.owner >= 0).all()


def test_build_blocks_refuses_a_block_that_cannot_be_cut():
    addresses, streets = _row([[30], [35, 35], [30]])
    addresses.loc[2, "geometry"] = addresses.geometry.iloc[1]  # both halves at one spot: 70 > 60
    with pytest.raises(InfeasibleError, match="at one point"):
        build_blocks(prepare(AREA, addresses, (20, 60)), streets)


def test_search_refines_only_when_whole_blocks_cannot_fit():
    coarse = _row([[40], [20, 20], [40]])  # whole blocks: 40 + 40 + 40 cannot make [50, 100] grids
    p = prepare(AREA, coarse[0], (50, 100))
    found = search(build_blocks(p, coarse[1]))
    assert found.refined and found.levels[0]["cut_above"] == 100
    assert sorted(found.partition.households.tolist()) == [60, 60]
    fine = _row([[30], [30], [30]])
    p = prepare(AREA, fine[0], (20, 60))
    found = search(build_blocks(p, fine[1]), seed=3)
    assert not found.refined and found.partition.households.sum() == 90
    assert ((found.partition.households >= 20) & (found.partition.households <= 60)).all()


def test_assemble_and_diagnose_agree_with_the_search():
    v = lattice_village(6, 5, households=(0, 25), seed=4)
    p = prepare(v.area, v.addresses, "rural")
    found = search(build_blocks(p, v.streets), seed=2)
    out = assemble(found, p, division_code="320508019044")
    grids = out.grids
    assert grids.crs.to_epsg() == 4326 and out.grids_m.crs == p.crs
    assert grids["code"].tolist() == [f"320508019044{i:03d}" for i in range(1, len(grids) + 1)]
    assert sorted(grids["households"]) == sorted(found.partition.households.tolist())
    assert (out.blocks["grid"].to_numpy() == found.partition.labels).all()
    assert shapely.union_all(out.grids_m.geometry.values).symmetric_difference(p.area_m).area < 1e-6
    d = diagnose(p, found, out, seed=2, seconds={"blocks": 0.1})
    assert (d.k, d.total_households) == (len(grids), p.total)
    assert (d.households_min, d.households_max) == (grids["households"].min(), grids["households"].max())
    assert d.compactness_mean == pytest.approx(polsby_popper(out.grids_m.geometry.values).mean())
    assert d.seconds == {"blocks": 0.1}


def test_the_steps_in_order_are_partition():
    v = lattice_village(7, 6, households=(0, 20), seed=8)
    whole = partition(v.area, v.addresses, v.streets, "rural", seed=5, division_code="320508019044")
    p = prepare(v.area, v.addresses, "rural")
    out = assemble(search(build_blocks(p, v.streets), seed=5), p, division_code="320508019044")
    assert whole.grids["blocks"].tolist() == out.grids["blocks"].tolist()
    assert shapely.equals_exact(whole.grids.geometry.values, out.grids.geometry.values, tolerance=0).all()
    assert np.array_equal(whole.blocks["grid"].to_numpy(), out.blocks["grid"].to_numpy())
