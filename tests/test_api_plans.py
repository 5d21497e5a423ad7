"""Plans over the API: upload, list, validate, diff, publish (atomic, refused when invalid), roll back."""

from __future__ import annotations

import copy

import pytest

from tests.api_support import TOWNSHIP, V1, V2, feature_collection, load_base, load_township, plan_a, plan_b

PROBLEM = "application/problem+json"


@pytest.fixture
def planner(api_key):
    return api_key("planner", name="规划员")


def _upload(client, headers, body, **params):
    return client.post("/plans", json=body, headers=headers, params=params)


def test_upload_geojson_creates_a_draft(client, engine, planner):
    load_base(engine)
    response = _upload(client, planner, feature_collection(plan_b()), note="南北划分")
    assert response.status_code == 201, response.text
    plan = response.json()
    assert response.headers["location"] == f"/plans/{plan['id']}"
    assert plan["status"] == "draft" and plan["scope_code"] == TOWNSHIP  # inferred: both villages
    assert plan["author"] == "规划员" and plan["note"] == "南北划分"
    assert plan["grid_count"] == 4 and plan["households"] == 1600
    assert client.get(f"/plans/{plan['id']}").json() == plan
    listed = client.get("/plans").json()["plans"]
    assert [p["id"] for p in listed] == [plan["id"]]
    assert client.get("/plans", params={"status": "published"}).json()["plans"] == []
    # a one-village plan gets that village as scope; an explicit scope must contain the grids
    one = feature_collection(plan_b()[plan_b()["division_code"] == V1])
    assert _upload(client, planner, one).json()["scope_code"] == V1
    outside = _upload(client, planner, one, scope=V2)
    assert outside.status_code == 400 and "outside scope" in outside.json()["detail"]


def test_upload_multipart_geopackage_and_numbering(client, engine, planner, tmp_path):
    load_base(engine)
    frame = plan_b()
    frame["workers"] = "[]"
    path = tmp_path / "plan.gpkg"
    frame.drop(columns=["code"]).to_file(path, driver="GPKG")  # no codes: numbered on upload
    with path.open("rb") as f:
        response = client.post(
            "/plans", files={"file": ("plan.gpkg", f, "application/geopackage+sqlite3")}, headers=planner
        )
    assert response.status_code == 201, response.text
    plan_id = response.json()["id"]
    items = client.get("/collections/grids/items", params={"plan": plan_id}).json()["features"]
    codes = sorted(f["id"] for f in items)
    assert codes == [V1 + "001", V1 + "002", V2 + "001", V2 + "002"]
    # north-west first within each village (west→east, north→south)
    assert next(f for f in items if f["id"] == V1 + "001")["properties"]["name"] == "北网格"
    # a second upload without codes never reuses the first one's sequences
    with path.open("rb") as f:
        again = client.post("/plans", files={"file": ("plan.gpkg", f)}, headers=planner).json()
    codes = sorted(
        f["id"]
        for f in client.get("/collections/grids/items", params={"plan": again["id"]}).json()["features"]
    )
    assert codes == [V1 + "003", V1 + "004", V2 + "003", V2 + "004"]
    geojson = feature_collection(plan_a())
    import json

    response = client.post(
        "/plans", files={"file": ("plan.geojson", json.dumps(geojson).encode())}, headers=planner
    )
    assert response.status_code == 201 and response.json()["grid_count"] == 4
    assert response.json()["subgrid_count"] == 2  # counted apart: sub-grids lie inside grids


def test_upload_errors_name_rows_and_reasons(client, engine, planner):
    load_base(engine)
    good = feature_collection(plan_b())
    bad = copy.deepcopy(good)
    bad["features"][0]["properties"]["code"] = "320508001001"  # a village code
    bad["features"][1]["geometry"] = {"type": "Point", "coordinates": [120.6, 31.3]}
    bad["features"][2]["properties"]["households"] = -5
    bowtie = [[[120.61, 31.30], [120.62, 31.31], [120.62, 31.30], [120.61, 31.31], [120.61, 31.30]]]
    bad["features"][3]["geometry"] = {"type": "Polygon", "coordinates": bowtie}
    response = _upload(client, planner, bad)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    errors = {(e["row"], e["field"]) for e in response.json()["errors"]}
    assert errors == {(1, "code"), (2, "geometry"), (3, "households"), (4, "geometry")}
    assert "Self-intersection" in str(response.json()["errors"])
    assert client.get("/plans").json()["plans"] == []  # nothing half-written
    swapped = copy.deepcopy(good)
    ring = swapped["features"][0]["geometry"]["coordinates"][0]
    swapped["features"][0]["geometry"]["coordinates"][0] = [[y, x] for x, y in ring]
    detail = str(_upload(client, planner, swapped).json()["errors"])
    assert "swapped lat/lon" in detail
    unknown = feature_collection(plan_b()[plan_b()["division_code"] == V1])
    for f in unknown["features"]:
        f["properties"]["code"] = "320508001009" + f["properties"]["code"][12:]
        f["properties"]["division_code"] = "320508001009"
    response = _upload(client, planner, unknown)
    assert response.status_code == 422 and "division" in response.text
    cases = [
        ({"type": "Feature"}, 400, "FeatureCollection"),
        ({"type": "FeatureCollection", "features": []}, 422, "no grids"),
        ({"type": "FeatureCollection", "features": "x"}, 400, "must be a list"),
    ]
    for body, status, needle in cases:
        response = _upload(client, planner, body)
        assert response.status_code == status and needle in response.text, response.text
    raw = client.post("/plans", content=b"{oops", headers={**planner, "content-type": "application/json"})
    assert raw.status_code == 400 and "not valid JSON" in raw.json()["detail"]
    assert (
        client.post("/plans", content=b"x", headers={**planner, "content-type": "text/csv"}).status_code
        == 415
    )
    shp = client.post("/plans", files={"file": ("plan.shp", b"x")}, headers=planner)
    assert shp.status_code == 415
    junk = client.post("/plans", files={"file": ("plan.gpkg", b"not a geopackage")}, headers=planner)
    assert junk.status_code == 400 and "cannot read" in junk.json()["detail"]


def test_roles(client, engine, api_key):
    ids = load_township(engine, publish=None)
    body = feature_collection(plan_b())
    assert client.post("/plans", json=body).status_code == 401
    assert client.post("/plans", json=body, headers=api_key("viewer")).status_code == 403
    assert client.post(f"/plans/{ids['a']}/publish", headers=api_key("worker")).status_code == 403
    assert client.post(f"/scopes/{TOWNSHIP}/rollback").status_code == 401
    assert client.delete(f"/plans/{ids['a']}", headers=api_key("viewer")).status_code == 403
    assert client.post(f"/plans/{ids['a']}/publish", headers=api_key("admin")).status_code == 200
    assert client.get("/plans").status_code == 200  # open reads


def test_validation_diff_publish_rollback(client, engine, planner):
    ids = load_township(engine, publish="a")
    report = client.get(f"/plans/{ids['b']}/validation").json()
    assert report == {**report, "ok": True, "n_grids": 4, "counts": {}, "issues": []}
    diff = client.get(f"/plans/{ids['b']}/diff").json()
    assert diff["against_plan_ids"] == [ids["a"]]
    assert diff["added"] + diff["changed"] == 4 and diff["exact"] is True
    assert diff["households_moved"] >= 1
    assert {g["change"] for g in diff["grids"]} <= {"added", "removed", "changed", "unchanged"}
    before = client.get("/lookup", params={"lon": 120.6075, "lat": 31.305}).json()["grid"]["code"]
    assert before == V1 + "002"
    published = client.post(f"/plans/{ids['b']}/publish", headers=planner)
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert client.get(f"/plans/{ids['a']}").json()["status"] == "retired"
    assert client.get("/lookup", params={"lon": 120.6075, "lat": 31.305}).json()["grid"]["code"] == V1 + "003"
    # addresses were re-assigned to the new grids
    assert client.get("/collections/addresses/items/A2").json()["properties"]["grid_code"] == V1 + "004"
    again = client.post(f"/plans/{ids['b']}/publish", headers=planner)
    assert again.status_code == 409 and "only a draft" in again.json()["detail"]
    rolled = client.post(f"/scopes/{TOWNSHIP}/rollback", headers=planner)
    assert rolled.status_code == 200 and rolled.json()["id"] == ids["a"]
    assert client.get("/lookup", params={"lon": 120.6075, "lat": 31.305}).json()["grid"]["code"] == V1 + "002"
    assert client.post(f"/scopes/{V1}/rollback", headers=planner).status_code == 409
    assert client.post("/scopes/123/rollback", headers=planner).status_code == 400
    diff_first = client.get(f"/plans/{ids['a']}/diff").json()  # against itself: nothing changes
    assert diff_first["added"] == diff_first["removed"] == 0


def test_invalid_plan_is_refused_unless_forced(client, engine, planner):
    load_township(engine, publish="a")
    broken = plan_b()
    broken = broken[broken["code"] != V2 + "004"]  # leaves the north of 桃园社区 uncovered
    broken.loc[broken["code"] == V1 + "003", "households"] = 20
    plan_id = _upload(client, planner, feature_collection(broken)).json()["id"]
    report = client.get(f"/plans/{plan_id}/validation").json()
    assert report["ok"] is False and report["counts"] == {"gap": 1, "households": 1}
    gap = next(i for i in report["issues"] if i["kind"] == "gap")
    assert gap["geometry"]["type"] == "Polygon"
    refused = client.post(f"/plans/{plan_id}/publish", headers=planner)
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    body = refused.json()
    assert "validation issue" in body["detail"] and body["report"]["counts"] == {"gap": 1, "households": 1}
    assert client.get(f"/plans/{plan_id}").json()["status"] == "draft"
    forced = client.post(f"/plans/{plan_id}/publish", params={"force": "true"}, headers=planner)
    assert forced.status_code == 200 and forced.json()["status"] == "published"


def test_delete_and_missing_plans(client, engine, planner):
    ids = load_township(engine, publish="a")
    assert client.delete(f"/plans/{ids['b']}", headers=planner).status_code == 204
    assert client.get(f"/plans/{ids['b']}").status_code == 404
    published = client.delete(f"/plans/{ids['a']}", headers=planner)
    assert published.status_code == 409 and "only drafts" in published.json()["detail"]
    for path in ("/plans/999", "/plans/999/validation", "/plans/999/diff"):
        response = client.get(path)
        assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert client.post("/plans/999/publish", headers=planner).status_code == 404
    assert client.get("/plans/abc").status_code == 422
    assert client.get("/plans", params={"status": "old"}).status_code == 400
