"""The API of department layers, the register and 联户: uploads, reports, maps, scopes and names."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from layer_support import VILLAGE, base_code, base_grids, cutting_layer, load_village, random_points
from test_api_names import bare_codes

from geogrid.maps import external_urls
from geogrid.synthetic_layers import nearly_aligned_layer
from geogrid.synthetic_register import make_register


def _geojson(frame) -> dict:
    return json.loads(frame.to_json(drop_id=True))


@pytest.fixture
def village(engine):
    load_village(engine)


@pytest.fixture
def planner(api_key):
    return api_key("planner", name="规划员")


def test_department_layers_through_the_api(client, village, planner, tmp_path):
    r = client.post("/departments/ZZB/layers?name=综治办", json=_geojson(cutting_layer()), headers=planner)
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["status_name"], r.json()["scope_code"]) == (
        1,
        "使用中",
        "320508000000",
    )
    gpkg = tmp_path / "城管网格.gpkg"
    nearly_aligned_layer(base_grids(), per_grid=4, seed=3).rename(
        columns={"code": "网格编码", "unit_name": "责任单位"}
    ).to_file(gpkg)
    with gpkg.open("rb") as f:
        r = client.post(
            "/departments/CGJ/layers?name=城市管理局", files={"file": ("城管网格.gpkg", f)}, headers=planner
        )
    assert r.status_code == 201, r.text
    assert client.post("/departments/CGJ/layers?name=x", json=_geojson(cutting_layer())).status_code == 401
    listed = client.get("/departments/layers").json()["departments"]
    assert {d["department_code"]: d["department_name"] for d in listed} == {
        "ZZB": "综治办",
        "CGJ": "城市管理局",
    }

    cw = client.get("/departments/ZZB/layers/1/crosswalk").json()
    assert cw["households_exact"], cw.keys()
    assert len(cw["rows"]) == 24 + 12 + 4, len(cw["rows"])  # every base grid once, cut ones twice or 4 times
    conflicts = client.get("/departments/ZZB/layers/1/conflicts").json()
    assert not conflicts["ok"] and conflicts["summary"]["cut_base_grids"] == 12
    assert conflicts["gaps"]["type"] == "FeatureCollection"
    proposal = client.get("/departments/CGJ/layers/1/alignment").json()
    summary = proposal["summary"]
    assert summary["households_changed"] == 0 and summary["grids_within_tolerance"] == summary["grids"] > 1
    accepted = client.post("/departments/CGJ/layers/1/alignment", headers=planner)
    assert (
        accepted.status_code == 201
        and accepted.json()["kind"] == "aligned"
        and accepted.json()["version"] == 2
    )
    assert client.post("/departments/CGJ/layers/1/alignment").status_code == 401

    lon, lat = random_points(1, seed=4)[0]
    answer = client.get(f"/lookup?lon={lon}&lat={lat}").json()
    routed = client.get(f"/departments/城市管理局/route?grid={answer['grid']['code']}").json()
    [cg] = [d for d in answer["departments"] if d["department_code"] == "CGJ"]
    assert routed["code"] == cg["code"] and routed["aligned"] and cg["aligned"]
    for what, url in {
        "list": "/departments/layers",
        "layers": "/departments/ZZB/layers",
        "layer": "/departments/CGJ/layers/2",
        "crosswalk": "/departments/ZZB/layers/1/crosswalk",
        "conflicts": "/departments/ZZB/layers/1/conflicts",
        "alignment": "/departments/ZZB/layers/1/alignment",
        "lookup": f"/lookup?lon={lon}&lat={lat}",
    }.items():
        body = client.get(url).json()
        assert list(bare_codes(body)) == [], what
    for page in ("/maps/departments?department=ZZB", "/maps/departments/alignment?department=ZZB&version=1"):
        r = client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert external_urls(r.text) == [] and "综治办" in r.text
    assert client.get("/maps/departments?department=NOPE").status_code == 404


def test_a_bad_layer_file_is_refused_by_row(client, village, planner):
    bad = _geojson(cutting_layer())
    bad["features"][3]["properties"]["code"] = bad["features"][0]["properties"]["code"]
    r = client.post("/departments/ZZB/layers?name=综治办", json=bad, headers=planner)
    assert r.status_code == 422 and r.json()["errors"] == [
        {"row": 4, "field": "code", "reason": "ZZ-WN is already on row 1"}
    ]
    assert client.get("/departments/layers").json()["departments"] == []


def _register_csv(address_ids: list[str], *, seed: int = 0) -> bytes:
    frame = make_register(
        pd.DataFrame({"address_id": address_ids, "households": [2] * len(address_ids)}), seed=seed
    )
    return frame.to_csv(index=False).encode("gbk")


def test_register_imports_refuse_bad_id_numbers_and_phones_by_row(client, village, api_key):
    admin = api_key("admin", name="管理员")
    frame = make_register(pd.DataFrame({"address_id": ["A0000", "A0001"], "households": [1, 1]}), seed=1)
    frame.loc[0, "公民身份号码"] = frame.loc[0, "公民身份号码"][:-1] + (
        "1" if frame.loc[0, "公民身份号码"][-1] != "1" else "2"
    )
    frame.loc[len(frame) - 1, "联系电话"] = "1234567"
    data = frame.to_csv(index=False).encode("utf-8-sig")
    r = client.post("/register/imports", files={"file": ("一户一档.csv", data)}, headers=admin)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert {k: errors[0][k] for k in ("row", "field")} == {"row": 1, "field": "id_number"}
    assert errors[-1]["row"] == len(frame) and errors[-1]["field"] == "phone"
    assert "一户一档.csv" in r.json()["detail"]
    assert client.get("/register/residents", headers=admin).json()["total"] == 0


def test_register_reads_within_scope_audited(client, village, api_key):
    admin = api_key("admin", name="管理员")
    ids = [f"A00{i}{j}" for i in range(5) for j in range(5)]  # base grid (0, 0)
    r = client.post("/register/imports", files={"file": ("册.csv", _register_csv(ids))}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["households"] == 50
    mine = api_key("worker", name="网格员甲", grid_codes=[base_code(0, 0)])
    other = api_key("worker", name="网格员乙", grid_codes=[base_code(1, 0)])
    listed = client.get("/register/residents?limit=1000", headers=mine).json()
    assert listed["total"] > 0 and all(p["grid_name"] for p in listed["items"])
    assert client.get("/register/residents", headers=other).json()["total"] == 0
    person = listed["items"][0]
    assert "*" in person["id_number"] and len(person["id_number"]) == 18
    assert client.get(f"/register/residents/{person['id']}", headers=other).status_code == 404
    assert client.get(f"/register/residents/{person['id']}", headers=api_key("viewer")).status_code == 403
    assert client.get(f"/register/residents/{person['id']}").status_code == 401
    assert client.get(f"/register/residents/{person['id']}", headers=mine).json()["name"] == person["name"]
    reads = client.get(f"/register/residents/{person['id']}/reads", headers=admin).json()["reads"]
    assert [(x["reader_name"], x["endpoint"]) for x in reads] == [
        ("网格员甲", "GET /register/residents"),
        ("网格员甲", "GET /register/residents/{resident_id}"),
    ]
    assert reads[0]["at"].endswith("+08:00")
    assert client.get(f"/register/residents/{person['id']}/reads", headers=mine).status_code == 403
    address = client.get("/register/addresses/A0000").json()
    assert (
        address["registered_households"] == 2 and not address["personal"] and "household_list" not in address
    )
    assert person["name"] not in json.dumps(address, ensure_ascii=False)
    assert client.get("/register/addresses/A0000", headers=mine).json()["personal"]
    assert client.post("/register/residents/search", json={"id_number": "123"}, headers=mine).status_code in (
        400,
        422,
    )


def test_link_groups_through_the_api(client, village, planner, api_key):
    r = client.post("/link-groups", json={"division": VILLAGE}, headers=planner)
    assert r.status_code == 201 and r.json()["grids"] == 24
    groups = client.get(f"/link-groups?division={base_code(2, 2)}").json()["items"]
    assert len(groups) == 4 and all(g["within_rule"] and g["grid_name"] for g in groups)
    code = groups[0]["code"]
    worker = api_key("worker", grid_codes=[base_code(2, 2)])
    stranger = api_key("worker", grid_codes=[base_code(0, 0)])
    edit = {"leader_name": "李某强", "leader_phone": "13900002222"}
    assert client.patch(f"/link-groups/{code}", json=edit, headers=stranger).status_code == 403
    r = client.patch(f"/link-groups/{code}", json=edit, headers=worker)
    assert r.status_code == 200 and r.json()["leader"] == {"name": "李某强", "phone": "13900002222"}
    assert (
        client.patch(f"/link-groups/{code}", json={"leader_phone": "12"}, headers=worker).status_code == 400
    )
    detail = client.get(f"/link-groups/{code}").json()
    move = {"address_id": detail["addresses"][0]["address_id"], "households": 1, "to": groups[1]["code"]}
    r = client.post(f"/link-groups/{code}/moves", json=move, headers=worker)
    assert r.status_code == 200 and [g["households"] for g in r.json()["groups"]] == [
        groups[0]["households"] - 1,
        groups[1]["households"] + 1,
    ]
    r = client.post(f"/link-groups/{code}/moves", json={**move, "households": 99}, headers=worker)
    assert r.status_code == 409
    # the field app finds the group and its leader at the address
    at = client.get(f"/register/addresses/{move['address_id']}").json()
    assert {g["code"] for g in at["link_groups"]} == {
        code,
        groups[1]["code"],
    }  # one of its 2 households moved
    assert any(g["leader"] and g["leader"]["name"] == "李某强" for g in at["link_groups"])
    assert list(bare_codes(at)) == [] and list(bare_codes(detail)) == []


def test_register_import_needs_a_file_and_a_scope(client, village, api_key):
    assert client.post("/register/imports", files={"file": ("a.csv", b"x")}).status_code == 401
    assert (
        client.post(
            "/register/imports", files={"file": ("a.csv", b"x")}, headers=api_key("planner")
        ).status_code
        == 403
    )
    worker = api_key("worker", grid_codes=[base_code(1, 0)])
    r = client.post("/register/imports", files={"file": ("册.csv", _register_csv(["A0000"]))}, headers=worker)
    assert r.status_code == 422 and "outside your scope" in r.text
    assert (
        client.post(
            "/register/imports", files={"file": ("a.pdf", io.BytesIO(b"%PDF"))}, headers=worker
        ).status_code
        == 415
    )


def test_a_register_file_without_id_numbers_is_named_in_the_answer(client, village, api_key):
    data = "地址编码,户编号,姓名\nA0000,H1,王某芳\n".encode("gbk")
    r = client.post("/register/imports", files={"file": ("缺列.csv", data)}, headers=api_key("admin"))
    assert r.status_code == 400 and "缺列.csv" in r.json()["detail"] and "id_number" in r.json()["detail"]
