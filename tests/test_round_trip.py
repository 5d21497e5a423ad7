"""Plans survive a round trip: exported in every format geogrid writes (or saved by desktop GIS,
rounded to 7 decimals or to 1 cm in a projected CRS), they re-upload as a valid plan with no change
in households; an upload can be snapped onto the published plan's shared edges first."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geogrid import plans
from geogrid.county import partition_county
from geogrid.db import plans as db_plans
from geogrid.db import review, store, uploads
from geogrid.io import write_frame
from geogrid.synthetic import make_county

COUNTY = "320507"
SCOPE = COUNTY + "000000"


@pytest.fixture(scope="module")
def county():
    """A seeded county and its grids, partitioned once for the module (no database needed)."""
    c = make_county(households=2_500, seed=5, county_code=COUNTY)
    done = partition_county(c.divisions, c.addresses, c.streets, scheduler="synchronous", progress=False)
    return c, done.grids.drop(columns="blocks")


@pytest.fixture
def published(engine, county):
    c, grids = county
    for name in ("divisions", "addresses", "streets"):
        store.load(engine, name, getattr(c, name))
    db_plans.publish_plan(engine, db_plans.save_plan(engine, grids, scope_code=SCOPE))
    return db_plans.load_published(engine, SCOPE)


def _rounded(frame: gpd.GeoDataFrame, decimals: int, crs=None) -> gpd.GeoDataFrame:
    """``frame`` with every coordinate rounded to ``decimals`` in ``crs`` (default its own), as a GIS saves it."""
    work = frame.to_crs(crs) if crs is not None else frame
    geoms = shapely.transform(np.asarray(work.geometry.values, dtype=object), lambda c: np.round(c, decimals))
    out = work.set_geometry(gpd.GeoSeries(geoms, index=work.index, crs=work.crs))
    return out.to_crs(frame.crs) if crs is not None else out


def _check_reupload(engine, original: gpd.GeoDataFrame, plan_id: int) -> gpd.GeoDataFrame:
    """The re-uploaded draft validates and holds, grid for grid, the same households as the original."""
    report = review.validate_plan(engine, plan_id)
    answer = review.review_to_dict(report)
    assert report.ok, answer["counts"]
    assert answer["tolerances"] == {"width_m": 0.02, "area_m2": 1e-4}  # stated in metres
    back = db_plans.load_plan(engine, plan_id)
    assert sorted(back["code"]) == sorted(original["code"])
    stored = dict(zip(original["code"], original["households"], strict=True))
    assert dict(zip(back["code"], back["households"], strict=True)) == stored
    register = store.read_table(engine, "addresses")
    recount = plans.recount(back, register)
    assert dict(zip(recount["code"], recount["households"], strict=True)) == stored
    return back


def _export(frame: gpd.GeoDataFrame, path):
    out = frame.drop(columns=["workers", "properties"], errors="ignore")
    if path.suffix == ".shp":
        out.to_file(path)  # what desktop GIS writes on "save as Shapefile"
    else:
        write_frame(out, path)
    return path


@pytest.mark.filterwarnings("ignore:Column names longer than 10", "ignore:Normalized/laundered field name")
@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet", ".shp"])
def test_every_file_format_round_trips(engine, published, tmp_path, suffix):
    path = _export(published, tmp_path / f"plan{suffix}")
    read = (
        (lambda p: uploads.plan_frame(gpd.read_parquet(p)))
        if suffix == ".parquet"
        else uploads.read_plan_file
    )
    frame = read(path)
    _check_reupload(engine, published, uploads.upload_plan(engine, frame, scope_code=SCOPE))


@pytest.mark.parametrize(
    ("decimals", "crs"),
    [(7, None), (2, "EPSG:32651")],
    ids=["7 decimals", "1 cm in UTM 51N"],
)
def test_copies_rounded_by_desktop_gis_round_trip(engine, published, decimals, crs):
    rounded = _rounded(published, decimals, crs)
    moved = shapely.hausdorff_distance(
        np.asarray(rounded.to_crs(32651).geometry.values), np.asarray(published.to_crs(32651).geometry.values)
    )
    assert 0 < moved.max() < 0.01  # really moved, by less than a centimetre
    frame = uploads.plan_frame(rounded.drop(columns=["workers", "properties"]))
    _check_reupload(engine, published, uploads.upload_plan(engine, frame, scope_code=SCOPE))


def test_features_api_round_trips_and_an_upload_snaps_onto_the_published_edges(
    client, engine, published, api_key
):
    planner = api_key("planner", name="规划员")
    items = client.get("/collections/grids/items", params={"limit": 1000, "division": SCOPE}).json()
    assert len(items["features"]) == len(published)
    ring = items["features"][0]["geometry"]["coordinates"][0]
    assert max(len(repr(x).split(".")[1]) for pt in ring for x in pt) <= 7  # 7 decimals
    response = client.post("/plans", json=items, headers=planner, params={"scope": SCOPE})
    assert response.status_code == 201, response.text
    _check_reupload(engine, published, response.json()["id"])

    # A copy saved at 1 cm in a projected CRS, snapped back onto the published edges on upload.
    rounded = _rounded(published, 2, "EPSG:32651").drop(columns=["workers", "properties"])
    body = json.loads(rounded.to_json(drop_id=True))
    response = client.post("/plans", json=body, headers=planner, params={"scope": SCOPE, "snap": 0.05})
    assert response.status_code == 201, response.text
    snap = response.json()["snap"]
    assert 0 < snap["max_moved_m"] <= 0.05 and snap["vertices_moved"] > 0 and not snap["unsnapped"]
    assert {v["code"] for v in snap["vertices"]} <= set(published["code"])
    back = _check_reupload(engine, published, response.json()["id"]).set_index("code")
    # Back on the published vertices: within a tenth of a millimetre (two published vertices that
    # close cannot be told apart after a 1 cm rounding), most grids bit for bit.
    ref = published.set_index("code").loc[back.index]
    gap = shapely.hausdorff_distance(
        np.asarray(back.to_crs(32651).geometry.values), np.asarray(ref.to_crs(32651).geometry.values)
    )
    assert gap.max() < 1e-3
    assert back.geometry.geom_equals_exact(ref.geometry, tolerance=0).mean() >= 0.5
    nothing = client.post(
        "/plans", json=body, headers=planner, params={"scope": "320599000000", "snap": 0.05}
    )
    assert nothing.status_code in (400, 409)


def test_snap_to_plan_reports_each_vertex_and_refuses_nothing_silently(published):
    rounded = _rounded(published, 2, "EPSG:32651")
    snapped = plans.snap_to_plan(rounded, published, tolerance_m=0.05)
    assert len(snapped.moves) and snapped.max_moved_m <= 0.05
    assert set(snapped.per_grid["code"]) <= set(published["code"])
    assert snapped.moves["moved_m"].between(0, 0.05).all()
    none = plans.snap_to_plan(rounded, published, tolerance_m=0)
    assert none.moves.empty and none.plan.geometry.geom_equals_exact(rounded.geometry, tolerance=0).all()
    with pytest.raises(ValueError, match="tolerance_m"):
        plans.snap_to_plan(rounded, published, tolerance_m=-1)
