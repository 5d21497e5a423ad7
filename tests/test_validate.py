"""validate() on hand-drawn grids with known problems, on partitions, and through the CLI."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import typer
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, box
from typer.testing import CliRunner

from geogrid._cli_partition import parse_rule, partition_division, register
from geogrid.partition import partition
from geogrid.validate import ISSUE_KINDS, validate
from tests.geometries import CATALOGUE_M, METRIC, VALID, grid_frame, lattice_village, to_lonlat

PARENT = box(0, 0, 300, 100)
VILLAGE = "320508019044"


def good_grids():
    return grid_frame(
        [box(0, 0, 100, 100), box(100, 0, 200, 100), box(200, 0, 300, 100)],
        codes=[f"{VILLAGE}001", f"{VILLAGE}002", f"{VILLAGE}003"],
        households=[60, 70, 80],
        division_code=VILLAGE,
    )


def test_clean_grids_are_ok():
    report = validate(good_grids(), parent=to_lonlat(PARENT), rule="rural")
    assert report.ok, report.summary()
    assert "OK" in report.summary()
    assert report.to_frame().empty


def test_overlap_is_reported_with_pair_and_area():
    g = good_grids()
    g.loc[1, "geometry"] = to_lonlat(box(90, 0, 200, 100))
    report = validate(g, parent=to_lonlat(PARENT))
    (issue,) = report.of_kind("overlap")
    assert issue.codes == (f"{VILLAGE}001", f"{VILLAGE}002")
    assert issue.measure == pytest.approx(1000, rel=1e-3)
    assert not report.ok


def test_gap_against_parent_and_without_parent():
    g = good_grids()
    g.loc[1, "geometry"] = to_lonlat(box(100, 0, 190, 100))
    with_parent = validate(g, parent=to_lonlat(PARENT))
    (gap,) = with_parent.of_kind("gap")
    assert gap.measure == pytest.approx(1000, rel=1e-3)
    assert set(gap.codes) == {f"{VILLAGE}002", f"{VILLAGE}003"}
    # without a parent, an open notch at the edge is not a gap but an enclosed hole is
    assert not validate(g).of_kind("gap")
    ring = grid_frame([box(0, 0, 300, 300).difference(box(100, 100, 200, 200))])
    (hole,) = validate(ring).of_kind("gap")
    assert hole.measure == pytest.approx(10_000, rel=1e-3)


def test_outside_parent_multipart_invalid_and_empty():
    g = good_grids()
    g.loc[2, "geometry"] = to_lonlat(box(200, 0, 320, 100))
    g.loc[1, "geometry"] = to_lonlat(MultiPolygon([box(100, 0, 150, 100), box(160, 0, 200, 100)]))
    g.loc[0, "geometry"] = to_lonlat(CATALOGUE_M["bowtie"])
    g = gpd.GeoDataFrame(
        [*g.to_dict("records"), {"code": f"{VILLAGE}004", "households": 70, "geometry": None}],
        geometry="geometry",
        crs=g.crs,
    )
    counts = validate(g, parent=to_lonlat(PARENT)).counts()
    assert counts["outside"] == 2  # the widened grid and the bowtie's wing above y=100
    assert counts["multipart"] == 2  # the two-part grid and the bowtie (repaired into two triangles)
    assert counts["invalid"] == 1
    assert counts["empty"] == 1
    (out,) = [
        i for i in validate(g, parent=to_lonlat(PARENT)).of_kind("outside") if i.codes == (f"{VILLAGE}003",)
    ]
    assert out.measure == pytest.approx(2000, rel=1e-3)


def test_household_bounds_from_column_and_from_addresses():
    g = good_grids()
    g["households"] = [40, 70, 120]
    report = validate(g, rule="rural")
    assert sorted(i.measure for i in report.of_kind("households")) == [40, 120]
    pts = gpd.GeoDataFrame(
        {"households": [60, 60, 60, 5]},
        geometry=[
            to_lonlat(Point(50, 50)),
            to_lonlat(Point(150, 50)),
            to_lonlat(Point(250, 50)),
            to_lonlat(Point(350, 50)),
        ],
        crs="EPSG:4326",
    )
    assert validate(g, rule="rural", addresses=pts).ok  # counted from addresses: 60 each
    g.loc[2, "geometry"] = to_lonlat(box(200, 0, 240, 100))
    report = validate(g, rule="rural", addresses=pts, parent=to_lonlat(PARENT))
    assert report.counts()["address_uncovered"] == 1
    assert report.counts()["households"] == 1
    with pytest.raises(ValueError, match="households"):
        validate(g.drop(columns="households"), rule="rural")


def test_codes_malformed_duplicate_missing_and_nesting():
    g = good_grids()
    g["code"] = [f"{VILLAGE}001", f"{VILLAGE}001", "12345"]
    counts = validate(g).counts()
    assert counts == {"code_duplicate": 1, "code_malformed": 1}
    g["code"] = [f"{VILLAGE}001", None, "320508019045003"]
    counts = validate(g).counts()
    assert counts == {"code_missing": 1, "code_nesting": 1}
    parent = gpd.GeoDataFrame({"code": ["320508019045"]}, geometry=[to_lonlat(PARENT)], crs="EPSG:4326")
    g["code"] = [f"{VILLAGE}001", f"{VILLAGE}002", f"{VILLAGE}003"]
    g["division_code"] = None
    assert validate(g, parent=parent).counts() == {"code_nesting": 3}
    g["code"] = [VILLAGE, f"{VILLAGE}002", f"{VILLAGE}003"]
    assert validate(g).counts() == {"code_malformed": 1}


@pytest.mark.parametrize("name", VALID)
def test_catalogue_geometry_as_its_own_parent(name):
    geom = CATALOGUE_M[name]
    report = validate(grid_frame([geom]), parent=to_lonlat(geom))
    multipart = geom.geom_type == "MultiPolygon"
    assert report.counts() == ({"multipart": 1} if multipart else {})


def test_report_frame_and_kinds():
    g = good_grids()
    g.loc[1, "geometry"] = to_lonlat(box(90, 0, 190, 100))
    report = validate(g, parent=to_lonlat(PARENT), rule="rural")
    frame = report.to_frame()
    assert frame.crs.to_epsg() == 4326
    assert set(frame["kind"]) <= set(ISSUE_KINDS)
    assert set(frame["kind"]) == {"overlap", "gap"}
    assert frame.geometry.notna().all()
    assert "gap: 1" in report.summary()


def test_partition_result_validates_and_tampering_is_caught():
    v = lattice_village(10, 10, households=(0, 25), seed=6)
    result = partition(v.area, v.addresses, v.streets, "rural", division_code=VILLAGE)
    assert validate(result.grids, parent=v.area, rule="rural", addresses=v.addresses, tolerance_m2=1e-6).ok
    g = result.grids.copy()
    g = g.drop(index=g.index[0])
    report = validate(g, parent=v.area, rule="rural")
    assert report.counts() == {"gap": 1}


# --------------------------------------------------------------------------- CLI


@pytest.fixture()
def cli():
    app = typer.Typer()
    register(app)
    return app


def test_cli_validate_exit_codes(tmp_path, cli):
    good = tmp_path / "good.geojson"
    good_grids().to_file(good, driver="GeoJSON")
    parent = tmp_path / "parent.geojson"
    gpd.GeoDataFrame(geometry=[to_lonlat(PARENT)], crs="EPSG:4326").to_file(parent, driver="GeoJSON")
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", str(good), "--parent", str(parent), "--rule", "rural"])
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output
    bad = runner.invoke(cli, ["validate", str(good), "--rule", "65,75"])
    assert bad.exit_code == 1
    assert "households" in bad.output


def test_cli_partition_writes_grids(tmp_path, cli):
    v = lattice_village(6, 6, households=(0, 25), seed=1)
    paths = {}
    for name, frame in (
        ("area", gpd.GeoDataFrame(geometry=[v.area], crs="EPSG:4326")),
        ("addresses", v.addresses),
        ("streets", v.streets),
    ):
        paths[name] = tmp_path / f"{name}.geojson"
        frame.to_file(paths[name], driver="GeoJSON")
    out = tmp_path / "grids.gpkg"
    args = ["partition", "--out", str(out), "--rule", "50,100", "--division-code", VILLAGE]
    for name, path in paths.items():
        args += [f"--{name}", str(path)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out)
    assert grids["households"].between(50, 100).all()
    assert grids["code"].str.startswith(VILLAGE).all()
    assert json.dumps(grids["households"].sum().item()) == str(v.households)


def test_parse_rule_and_partition_division():
    assert parse_rule("urban").hi == 500 and parse_rule("10,20").lo == 10
    v = lattice_village(5, 5, households=(0, 25), seed=9)
    row = gpd.GeoDataFrame({"code": [VILLAGE], "kind": ["rural"]}, geometry=[v.area], crs="EPSG:4326")
    result = partition_division(row, v.addresses, v.streets)
    assert result.grids["code"].str.startswith(VILLAGE).all()
    assert result.diagnostics.rule.name == "rural"
    assert str(METRIC)  # the catalogue frame is importable alongside


# --------------------------------------------------------------------------- small overlaps


@settings(max_examples=30, deadline=None)
@given(width_m=st.floats(0.03, 0.5), length_m=st.floats(0.05, 2.0))
@example(width_m=0.05, length_m=0.2)  # 0.01 m²: 100x the area tolerance, 10x below 0.1 m²
@example(width_m=0.03, length_m=0.05)  # 0.0015 m²: a few tolerances
def test_overlaps_above_the_tolerance_are_reported_however_small(width_m, length_m):
    """Overlaps wider than the linear tolerance and larger than the area tolerance are reported
    with their area, down to a few cm² (a threshold of 0.1 m² would hide them)."""
    g = good_grids()
    notch = box(100 - width_m, 40, 100, 40 + length_m)  # grid 002 reaches into 001
    g.loc[1, "geometry"] = to_lonlat(box(100, 0, 200, 100).union(notch))
    report = validate(g, parent=to_lonlat(PARENT))
    (issue,) = report.of_kind("overlap")
    assert issue.codes == (f"{VILLAGE}001", f"{VILLAGE}002")
    assert issue.measure == pytest.approx(width_m * length_m, rel=1e-3)


# --------------------------------------------------------------------------- each check alone


def test_each_check_runs_alone_on_a_shared_context():
    from geogrid.validate import (
        CHECKS,
        ValidationContext,
        check_codes,
        check_gaps,
        check_geometry,
        check_households,
        check_outside,
        check_overlaps,
    )

    g = good_grids()
    g.loc[1, "geometry"] = to_lonlat(box(90, 0, 190, 100))  # overlaps 001, leaves a gap to 003
    g.loc[2, "geometry"] = to_lonlat(box(200, 0, 310, 100))  # 1000 m² beyond the parent
    g["households"] = [60, 70, 120]
    ctx = ValidationContext.build(g, parent=to_lonlat(PARENT), rule="rural")
    assert [i.kind for i in check_geometry(ctx)] == []
    assert [i.codes for i in check_overlaps(ctx)] == [(f"{VILLAGE}001", f"{VILLAGE}002")]
    assert [round(i.measure) for i in check_outside(ctx)] == [1000]
    assert [round(i.measure) for i in check_gaps(ctx)] == [1000]
    assert [i.codes for i in check_households(ctx)] == [(f"{VILLAGE}003",)]
    assert check_codes(ctx) == []
    # A check that does not apply says so with None, and validate() leaves it out of `checks`.
    bare = ValidationContext.build(g.drop(columns="code"))
    assert check_outside(bare) is None and check_households(bare) is None and check_codes(bare) is None
    assert validate(g.drop(columns="code")).checks == ("geometry", "overlap", "gap")
    assert [name for name, _ in CHECKS] == [
        "geometry",
        "overlap",
        "outside",
        "gap",
        "addresses",
        "households",
        "codes",
    ]


@pytest.mark.parametrize(("width_m", "reported"), [(0.015, False), (0.03, True)])
def test_tolerances_are_in_metres_and_cover_coordinate_precision(width_m, reported):
    """Gaps, overlaps and outside parts narrower than 2 cm are coordinate precision (7 decimals,
    1 cm rounding) however long they are; wider ones are reported however thin their area."""
    from geogrid.validate import DEFAULT_TOLERANCE_M

    assert DEFAULT_TOLERANCE_M == 0.02
    gap = good_grids()
    gap.loc[1, "geometry"] = to_lonlat(box(100 + width_m, 0, 200, 100))  # a strip 100 m long
    assert bool(validate(gap, parent=to_lonlat(PARENT)).of_kind("gap")) == reported
    over = good_grids()
    over.loc[1, "geometry"] = to_lonlat(box(100 - width_m, 0, 200, 100))
    assert bool(validate(over, parent=to_lonlat(PARENT)).of_kind("overlap")) == reported
    out = good_grids()
    out.loc[2, "geometry"] = to_lonlat(box(200, 0, 300 + width_m, 100))
    assert bool(validate(out, parent=to_lonlat(PARENT)).of_kind("outside")) == reported
    # With no linear tolerance even the narrow strip is a gap of its full area.
    (strict,) = validate(gap, parent=to_lonlat(PARENT), tolerance_m=0).of_kind("gap")
    assert strict.measure == pytest.approx(100 * width_m, rel=1e-3)


def test_cli_validate_reads_a_county_shapefile_in_gbk_without_cpg(tmp_path, cli):
    """A county office's grids: GBK text, no .cpg, Chinese field names, CGCS2000 Gauss-Krüger."""
    import pyogrio

    grids = good_grids().rename(columns={"code": "网格编码", "households": "户数"})
    grids["网格名称"] = [f"第{i + 1}网格" for i in range(len(grids))]
    shp = tmp_path / "网格.shp"
    pyogrio.write_dataframe(grids.to_crs("EPSG:4549"), shp, encoding="GBK")
    shp.with_suffix(".cpg").unlink()
    parent = tmp_path / "parent.geojson"
    gpd.GeoDataFrame(geometry=[to_lonlat(PARENT)], crs="EPSG:4326").to_file(parent, driver="GeoJSON")
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", str(shp), "--parent", str(parent), "--rule", "rural"])
    assert ok.exit_code == 0, ok.output
    # 户数 is read as the households and 网格编码 as the codes: a narrower rule names the grids.
    narrow = runner.invoke(cli, ["validate", str(shp), "--rule", "65,75"])
    assert narrow.exit_code == 1
    assert f"{VILLAGE}001" in narrow.output and f"{VILLAGE}003" in narrow.output
    # Read as UTF-8 the same file is refused, naming the file and the encoding.
    forced = runner.invoke(cli, ["validate", str(shp), "--encoding", "utf-8"])
    assert forced.exit_code == 2
    assert "网格.shp" in forced.output and "utf-8" in forced.output
