"""Partition inputs as users give them: any CRS, stray or swapped addresses, codes from the area file.

- Results are validated in the CRS they were computed in, so ``report.ok`` holds for seamless
  output whatever CRS the input used (the Helsinki sample in its UTM zone; a property test over
  lon/lat, CGCS2000, UTM, Gauss-Krüger and Web Mercator inputs).
- An address outside the area, with swapped coordinates or without position is an error naming
  its 1-based row, or with ``drop_outside`` is left out and listed.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.errors import ImportRowsError, InfeasibleError
from geogrid.partition import partition
from geogrid.rules import URBAN
from geogrid.synthetic import make_village
from tests.geometries import helsinki_village, lattice_village

runner = CliRunner()


def test_helsinki_in_its_utm_zone_validates_ok():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = helsinki_village()
    crs = "EPSG:3067"  # ETRS-TM35FIN, the Finnish national UTM grid
    area = gpd.GeoSeries([v.area], crs="EPSG:4326").to_crs(crs)
    result = partition(area, v.addresses.to_crs(crs), v.streets.to_crs(crs), "urban", seed=0)
    assert result.report is not None and result.report.ok, result.report.summary()
    assert result.grids["households"].between(URBAN.lo, URBAN.hi).all()
    assert result.grids.crs.to_epsg() == 4326
    # Seamless where computed: the grids tile the UTM area (checked independently of validate()).
    grids_m = result.grids.to_crs(crs)
    assert shapely.symmetric_difference(shapely.union_all(grids_m.geometry.values), area.iloc[0]).area < 1.0


CRSS = ["EPSG:4326", "EPSG:4490", "EPSG:32651", "EPSG:4549", "EPSG:3857"]


def _with_straight_edges(area_ll, crs: str) -> shapely.Geometry:
    """The village outline with its collinear lon/lat vertices dropped in ``crs``: long straight edges there."""
    area = gpd.GeoSeries([area_ll], crs="EPSG:4326").to_crs(crs).iloc[0]
    tolerance = 1e-7 if gpd.GeoSeries(crs=crs).crs.is_geographic else 0.01
    return shapely.simplify(area, tolerance)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    crs=st.sampled_from(CRSS),
    nx=st.integers(2, 5),
    ny=st.integers(2, 5),
    seed=st.integers(0, 1000),
)
@example(crs="EPSG:32651", nx=4, ny=3, seed=1)
def test_partition_report_ok_whatever_the_input_crs(crs, nx, ny, seed):
    v = lattice_village(nx, ny, households=(5, 20), seed=seed)
    area = gpd.GeoSeries([_with_straight_edges(v.area, crs)], crs=crs)
    try:
        result = partition(area, v.addresses.to_crs(crs), v.streets.to_crs(crs), (10, 40), seed=seed)
    except InfeasibleError:
        return
    assert result.report.ok, (crs, result.report.summary())
    assert result.diagnostics.total_households == v.households
    assert result.grids["households"].between(10, 40).all()


# ------------------------------------------------------------------ addresses that cannot be partitioned


@pytest.fixture(scope="module")
def village():
    return make_village(households=300, kind="rural", seed=1, village_code="320508201201")


def _area(village):
    return village.divisions[village.divisions["level"] == "village"]


def test_outside_swapped_and_empty_addresses_are_errors_with_rows(village):
    addresses = village.addresses.reset_index(drop=True).copy()
    geoms = addresses.geometry.values.copy()
    far, swapped, empty = 1, 4, 6  # 0-based positions
    geoms[far] = Point(geoms[far].x + 1.0, geoms[far].y)  # ~95 km east
    geoms[swapped] = Point(geoms[swapped].y, geoms[swapped].x)
    geoms[empty] = Point()
    addresses = addresses.set_geometry(gpd.GeoSeries(geoms, crs=addresses.crs))
    with pytest.raises(ImportRowsError) as info:
        partition(_area(village), addresses, village.streets, "rural")
    rows = {e.row: e.reason for e in info.value.errors}
    assert sorted(rows) == [far + 1, swapped + 1, empty + 1]  # 1-based
    assert "outside the area" in rows[far + 1] and "swapped" in rows[swapped + 1]
    assert "no position" in rows[empty + 1]
    assert "--drop-outside" in str(info.value)
    # drop_outside: the stray ones are left out and listed, the empty one stays an error.
    with pytest.raises(ImportRowsError) as info:
        partition(_area(village), addresses, village.streets, "rural", drop_outside=True)
    assert [e.row for e in info.value.errors] == [empty + 1]
    kept = addresses.drop(index=empty)
    result = partition(_area(village), kept, village.streets, "rural", drop_outside=True)
    assert sorted(result.diagnostics.addresses_outside) == sorted(kept["address_id"].iloc[[far, swapped]])
    assert (
        result.diagnostics.total_households
        == kept["households"].sum() - kept["households"].iloc[[far, swapped]].sum()
    )


def test_address_ids_default_to_one_based_rows(village):
    addresses = village.addresses.drop(columns="address_id").reset_index(drop=True)
    geoms = addresses.geometry.values.copy()
    geoms[2] = Point(geoms[2].x + 1.0, geoms[2].y)
    addresses = addresses.set_geometry(gpd.GeoSeries(geoms, crs=addresses.crs))
    result = partition(_area(village), addresses, village.streets, "rural", drop_outside=True)
    assert result.diagnostics.addresses_outside == ["3"]


# ------------------------------------------------------------------ the partition command


def _files(village, tmp_path, *, shift_row: int | None = None):
    area = _area(village)[["code", "name", "kind", "geometry"]].rename(columns={"code": "区划代码"})
    area.to_file(tmp_path / "village.gpkg")
    a = village.addresses.reset_index(drop=True)
    table = pd.DataFrame(
        {
            "编号": a["address_id"],
            "地址": a["full_text"],
            "户数": a["households"],
            "经度": a.geometry.x,
            "纬度": a.geometry.y,
        }
    )
    if shift_row is not None:
        table.loc[shift_row - 1, "经度"] += 1.0
    table.to_csv(tmp_path / "addresses.csv", index=False, encoding="gbk")
    village.streets.to_file(tmp_path / "streets.gpkg")
    return [
        "partition",
        "--area",
        str(tmp_path / "village.gpkg"),
        "--addresses",
        str(tmp_path / "addresses.csv"),
        "--streets",
        str(tmp_path / "streets.gpkg"),
        "--out",
        str(tmp_path / "grids.gpkg"),
    ]


def test_cli_codes_and_rule_come_from_the_area_file(village, tmp_path):
    result = runner.invoke(app, _files(village, tmp_path))
    assert result.exit_code == 0, result.output
    grids = gpd.read_file(tmp_path / "grids.gpkg")
    assert grids["code"].str.fullmatch(r"320508201201\d{3}").all()
    assert grids["households"].between(50, 100).all()  # the area's kind: rural


def test_cli_refuses_an_address_outside_naming_its_row_or_drops_it(village, tmp_path):
    args = _files(village, tmp_path, shift_row=7)
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1
    assert (
        "row 7" in refused.output
        and "outside the area" in refused.output
        and "--drop-outside" in refused.output
    )
    dropped = runner.invoke(app, [*args, "--drop-outside"])
    assert dropped.exit_code == 0, dropped.output
    assert "left out" in dropped.output and "row 7" in dropped.output
    grids = gpd.read_file(tmp_path / "grids.gpkg")
    assert grids["households"].sum() == village.addresses["households"].sum() - int(
        village.addresses.reset_index(drop=True)["households"].iloc[6]
    )
    assert np.all(grids["code"].notna())
