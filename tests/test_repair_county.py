"""repair_county: villages that need nothing are untouched; the others are repaired on Dask."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geogrid.county import partition_county, repair_county
from geogrid.scenarios import growth
from geogrid.synthetic import make_county
from geogrid.validate import validate


@pytest.fixture(scope="module")
def county():
    c = make_county(households=6_000, seed=3)
    done = partition_county(c.divisions, c.addresses, c.streets, scheduler="synchronous", progress=False)
    assert done.ok
    return c, done.grids.drop(columns="blocks")


def _rows(frame: gpd.GeoDataFrame) -> list[tuple]:
    return sorted(zip(frame["code"], shapely.to_wkb(frame.geometry.values), frame["households"], strict=True))


def test_a_county_with_nothing_to_fix_changes_nothing(county):
    c, plan = county
    result = repair_county(plan, c.divisions, c.addresses, c.streets, scheduler="synchronous", progress=False)
    assert result.ok and result.operations == []
    assert set(result.villages["status"]) == {"unchanged"}
    assert (result.villages["out_of_bounds"] == 0).all() and (result.villages["changed"] == 0).all()
    assert _rows(result.plan) == _rows(plan)
    assert result.diagnostics["repaired"] == 0


def test_only_the_villages_that_grew_are_repaired_on_a_local_cluster(county):
    c, plan = county
    villages = c.divisions[c.divisions["level"] == "village"].sort_values("code")
    grown_codes = villages["code"].iloc[[0, 2]].tolist()
    addresses = c.addresses
    for code in grown_codes:
        kind = villages.set_index("code").loc[code, "kind"]
        grids = plan[plan["division_code"] == code]
        mine = addresses["village_code"] == code
        grown = growth(grids, addresses[mine], kind, share=0.1, seed=1)
        grown.addresses["village_code"] = code
        addresses = gpd.GeoDataFrame(
            pd.concat([addresses[~mine], grown.addresses], ignore_index=True), crs=plan.crs
        )
    result = repair_county(plan, c.divisions, addresses, c.streets, progress=True)
    assert result.diagnostics["scheduler"].startswith("LocalCluster")
    status = result.villages.set_index("code")["status"]
    assert set(status[grown_codes]) == {"repaired"} and set(status.drop(grown_codes)) == {"unchanged"}
    untouched = plan[~plan["division_code"].isin(grown_codes)]
    assert set(_rows(untouched)) <= set(_rows(result.plan))
    for code in grown_codes:
        kind = villages.set_index("code").loc[code, "kind"]
        grids = result.plan[result.plan["division_code"] == code]
        parent = villages[villages["code"] == code]
        assert validate(grids, parent=parent, rule=kind).ok
    assert result.operations and int(result.plan["households"].sum()) == int(addresses["households"].sum())
