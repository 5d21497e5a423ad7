"""partition_county on a small synthetic county: in-process and on a 2-process Dask cluster."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from geogrid.county import partition_county, village_seed
from geogrid.synthetic import make_county
from geogrid.validate import validate


@pytest.fixture(scope="module")
def county():
    return make_county(households=6_000, seed=3)


def _check(result, county) -> None:
    villages = county.divisions[county.divisions["level"] == "village"]
    assert len(result.villages) == len(villages)
    assert result.ok, result.failed
    assert int(result.grids["households"].sum()) == int(county.addresses["households"].sum())
    for row in villages.itertuples():
        grids = result.grids[result.grids["division_code"] == row.code]
        assert grids["code"].str.startswith(row.code).all()
        report = validate(grids, parent=row.geometry, rule=row.kind)
        assert report.ok, (row.code, report.summary())


def test_county_in_process_matches_rules_and_codes(county):
    result = partition_county(
        county.divisions, county.addresses, county.streets, scheduler="synchronous", progress=False
    )
    _check(result, county)
    assert set(result.villages["rule"]) <= {"300-500", "50-100"}
    assert result.grids["code"].is_unique


def test_county_on_local_dask_cluster_gives_the_same_grids(county):
    local = partition_county(
        county.divisions, county.addresses, county.streets, scheduler="synchronous", progress=False, seed=5
    )
    dask = partition_county(county.divisions, county.addresses, county.streets, progress=True, seed=5)
    assert dask.diagnostics["scheduler"].startswith("LocalCluster")
    key = ["code", "households"]
    assert (
        dask.grids.sort_values("code")[key]
        .reset_index(drop=True)
        .equals(local.grids.sort_values("code")[key].reset_index(drop=True))
    )


def test_failed_village_is_reported_not_raised(county):
    divisions = county.divisions.copy()
    villages = divisions.index[divisions["level"] == "village"]
    # one village made tiny: it holds none of its addresses any more -> below the lower bound
    v0 = villages[0]
    c = divisions.loc[v0, "geometry"].centroid
    divisions.loc[v0, "geometry"] = box(c.x - 1e-5, c.y - 1e-5, c.x + 1e-5, c.y + 1e-5)
    addresses = county.addresses.drop(columns="village_code")  # force point-in-polygon assignment
    result = partition_county(divisions, addresses, county.streets, scheduler="synchronous", progress=False)
    code = divisions.loc[v0, "code"]
    assert list(result.failed) == [code]
    assert "InfeasibleError" in result.failed[code]
    row = result.villages.set_index("code").loc[code]
    assert row["status"] == "failed" and row["grids"] == 0
    assert (result.villages["status"] == "ok").sum() == len(villages) - 1


def test_one_rule_for_all_and_village_seed_is_stable(county):
    villages = county.divisions[county.divisions["level"] == "village"].head(3)
    addresses = county.addresses[county.addresses["village_code"].isin(villages["code"])]
    result = partition_county(
        gpd.GeoDataFrame(villages),
        addresses,
        county.streets,
        rule=(20, 60),
        scheduler="synchronous",
        progress=False,
    )
    assert set(result.villages["rule"]) == {"20-60"}
    assert result.grids["households"].between(20, 60).all()
    assert (
        village_seed(0, "320508001001") == village_seed(0, "320508001001") != village_seed(1, "320508001001")
    )
