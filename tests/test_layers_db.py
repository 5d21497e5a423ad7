"""Department layers stored beside the published base grids: versions, comparison, acceptance,
and lookups that answer the base grid and every department's grid consistently."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from layer_support import (
    VILLAGE,
    base_grids,
    cutting_layer,
    households_by_cutting_grid,
    load_village,
    random_points,
)

from geogrid import layers
from geogrid.db import layers as db_layers
from geogrid.db import lookup
from geogrid.db.rawpool import pool_for
from geogrid.errors import ImportRowsError
from geogrid.synthetic_layers import nearly_aligned_layer


@pytest.fixture
def two_layers(engine):
    load_village(engine)
    cut = db_layers.import_layer(
        engine, cutting_layer(), department_code="ZZB", department_name="综治办", source="zz.gpkg"
    )
    near = db_layers.import_layer(
        engine,
        nearly_aligned_layer(base_grids(), per_grid=4, shift_m=2.0, seed=3),
        department_code="CGJ",
        department_name="城市管理局",  # as the catalogue names the department of 垃圾乱堆乱放
    )
    return cut, near


def test_imports_are_versioned_per_department_and_scoped_to_the_county(engine, two_layers):
    cut, _near = two_layers
    assert (cut.version, cut.kind, cut.status, cut.scope_code) == (1, "imported", "active", "320508000000")
    again = db_layers.import_layer(engine, cutting_layer(), department_code="ZZB", department_name="综治办")
    assert again.version == 2 and again.status == "active"
    assert db_layers.get_layer(engine, "ZZB", 1).status == "inactive"
    departments = {d["department_code"]: d for d in db_layers.list_departments(engine)}
    assert departments["ZZB"]["versions"] == 2 and departments["CGJ"]["active_version"] == 1


def test_a_bad_row_stores_nothing(engine, two_layers):
    bad = cutting_layer()
    bad.loc[2, "code"] = bad.loc[1, "code"]
    bad.loc[4, "geometry"] = shapely.Point(120.601, 31.301)
    with pytest.raises(ImportRowsError) as info:
        db_layers.import_layer(engine, bad, department_code="ZZB", department_name="综治办")
    assert [(e.row, e.field) for e in info.value.errors] == [(3, "code"), (5, "geometry")]
    assert [layer.version for layer in db_layers.list_layers(engine, "ZZB")] == [1]


def test_the_stored_comparison_is_the_one_of_the_core(engine, two_layers):
    done = db_layers.compare(engine, "ZZB")
    cw = layers.crosswalk(done.frames)
    assert cw.groupby("department_code")["households"].sum().to_dict() == pytest.approx(
        households_by_cutting_grid()
    )
    report = layers.conflicts(done.frames)
    assert len(report.cut_base_codes) == 2 * 4 + 4 and report.gaps.empty and report.outside.empty
    assert done.base_plan_ids


def _answer(pool, lon, lat) -> dict:
    return json.loads(lookup.lookup_point(pool, float(lon), float(lat)))


def test_lookups_answer_the_base_grid_and_each_departments_grid(engine, two_layers):
    pool = pool_for(engine)
    original = {"ZZB": cutting_layer().set_index("code").geometry}
    for lon, lat in random_points(40, seed=1):
        doc = _answer(pool, lon, lat)
        point = shapely.Point(lon, lat)
        assert base_grids().set_index("code").geometry.loc[doc["grid"]["code"]].contains(point)
        by_dept = {d["department_code"]: d for d in doc["departments"]}
        assert set(by_dept) == {"ZZB", "CGJ"}
        assert original["ZZB"].loc[by_dept["ZZB"]["code"]].contains(point)
        assert by_dept["ZZB"]["unit_name"].startswith("综治第") and not by_dept["ZZB"]["aligned"]


def test_accepted_alignments_are_unions_of_base_grids_and_lookups_agree_with_routing(engine, two_layers):
    for dept in ("ZZB", "CGJ"):
        aligned = db_layers.accept_alignment(engine, dept, author="planner")
        assert (aligned.kind, aligned.status, aligned.version) == ("aligned", "active", 2)
    base = base_grids().set_index("code").geometry
    for dept in ("ZZB", "CGJ"):
        info = db_layers.get_layer(engine, dept)
        frame = db_layers.department_frame(engine, info.id)
        seen: set[str] = set()
        for row in frame.itertuples():
            union = shapely.union_all(base.loc[list(row.base_codes)].values)
            assert row.geometry.symmetric_difference(union).area < 1e-12
            assert not seen & set(row.base_codes)
            seen |= set(row.base_codes)
    # 城管's original was drawn along whole base grids: the accepted layer keeps every household
    cg = db_layers.department_frame(engine, db_layers.get_layer(engine, "CGJ").id)
    near = db_layers.compare(engine, "CGJ", 1)
    originals = dict(zip(near.frames.layer["code"], layers.layer_households(near.frames), strict=True))
    for row in cg.itertuples():
        assert abs(row.households - originals[row.code]) <= 0.05 * originals[row.code]
    pool = pool_for(engine)
    with engine.connect() as conn:
        for lon, lat in random_points(40, seed=2):
            doc = _answer(pool, lon, lat)
            base_code = doc["grid"]["code"]
            for d in doc["departments"]:
                assert d["aligned"]
                routed = db_layers.route_for_grid(conn, d["department_code"], base_code)
                assert routed is not None and routed["code"] == d["code"] and routed["aligned"]
                frame = {"ZZB": None, "CGJ": cg}[d["department_code"]]
                if frame is not None:
                    assert base_code in frame.set_index("code").loc[d["code"], "base_codes"]


def test_routing_of_an_imported_layer_goes_where_most_households_are(engine, two_layers):
    cw = layers.crosswalk(db_layers.compare(engine, "ZZB").frames)
    with engine.connect() as conn:
        for base_code, group in cw.groupby("base_code"):
            routed = db_layers.route_for_grid(conn, "综治办", base_code)  # by name, as incidents carry it
            assert routed is not None
            best = group.sort_values(["households", "area_m2"], ascending=False).iloc[0]
            assert routed["code"] == best.department_code, base_code
        assert db_layers.route_for_grid(conn, "no such department", base_code) is None


def test_a_layer_over_no_published_grid_needs_a_scope(engine):
    far = gpd.GeoDataFrame({"code": ["X1"]}, geometry=[shapely.box(100.0, 20.0, 100.01, 20.01)], crs=4326)
    with pytest.raises(Exception, match="give its scope"):
        db_layers.import_layer(engine, far, department_code="X", department_name="某部门")
    assert VILLAGE


def test_a_new_incident_is_routed_through_its_base_grid_to_the_departments_unit(engine, two_layers):
    from geogrid import incidents as wf
    from geogrid.db import incidents as store

    lon, lat = (float(v) for v in random_points(1, seed=5)[0])
    new = store.NewIncident(category="HW01", lon=lon, lat=lat, source="patrol", reporter_key_name="w1")
    created = store.create(engine, new, catalogue=wf.load_catalogue()).incident
    [reported] = store.history(engine, created.public_id)
    route = reported.details["route"]
    with engine.connect() as conn:
        assert route == db_layers.route_for_grid(conn, "城市管理局", created.grid_code)
    assert route["department_code"] == "CGJ" and route["base_grid"] == created.grid_code
    assert route["unit_name"].startswith("城管第")
    # a category whose department has no layer is created as before
    other = store.NewIncident(category="MD01", lon=lon, lat=lat, source="patrol", reporter_key_name="w1")
    created = store.create(engine, other, catalogue=wf.load_catalogue()).incident
    assert "route" not in store.history(engine, created.public_id)[0].details
