"""GET /lookup (points and addresses) and POST /lookup/batch against a real PostGIS."""

from __future__ import annotations

import pytest

from api import create_app
from api.settings import Settings
from geogrid.coords import from_wgs84
from tests.api_support import TOWNSHIP, V1, V2, load_township

PROBLEM = "application/problem+json"


@pytest.fixture
def township(engine):
    return load_township(engine, publish="a")


def _problem(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    return body["detail"]


def test_point_lookup_returns_finest_grid_with_village_and_township(client, township):
    body = client.get("/lookup", params={"lon": 120.6075, "lat": 31.305}).json()
    assert body["grid"]["code"] == V1 + "002"
    assert body["grid"]["name"] == "东网格"
    assert body["grid"]["head"] == {"name": "王五", "phone": "13800000003"}
    assert body["grid"]["level"] == 3 and body["grid"]["plan_id"] == township["a"]
    assert body["village"] == {"code": V1, "name": "鹤市社区", "kind": "urban"}
    assert body["township"] == {"code": TOWNSHIP, "name": "平江街道"}
    # a point in a sub-grid answers the sub-grid and names its grid
    sub = client.get("/lookup", params={"lon": 120.602, "lat": 31.305}).json()
    assert sub["grid"]["code"] == V1 + "00101"
    assert sub["grid"]["parent_grid"] == V1 + "001"
    west = client.get("/lookup", params={"lon": 120.612, "lat": 31.315}).json()
    assert west["grid"]["code"] == V2 + "001"
    assert west["grid"]["workers"] == [{"name": "李四", "phone": "13800000002"}]


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "GCJ-02", "BD09"])
def test_point_lookup_converts_chinese_map_coordinates(client, township, crs):
    # The same WGS-84 place reported by AMap (GCJ-02) or Baidu (BD-09) is shifted by
    # hundreds of metres; without conversion it would land in the neighbouring grid.
    shifted = from_wgs84(120.6075, 31.305, crs=crs.replace("-", "").lower())
    assert (
        client.get("/lookup", params={"lon": shifted.lng, "lat": shifted.lat}).json()["grid"]["code"]
        != V1 + "002"
    )
    body = client.get("/lookup", params={"lon": shifted.lng, "lat": shifted.lat, "crs": crs}).json()
    assert body["grid"]["code"] == V1 + "002"
    assert abs(body["lon"] - 120.6075) < 1e-7 and abs(body["lat"] - 31.305) < 1e-7


def test_point_outside_every_grid_is_a_404_problem(client, township):
    detail = _problem(client.get("/lookup", params={"lon": 116.39, "lat": 39.9}), 404)
    assert "in no published grid" in detail


def test_swapped_coordinates_are_named(client, township):
    detail = _problem(client.get("/lookup", params={"lon": 31.305, "lat": 120.6075}), 400)
    assert "swapped" in detail and "lon=120.6075" in detail


def test_swapped_pair_inside_range_gets_a_hint(client, township):
    detail = _problem(client.get("/lookup", params={"lon": 31.305, "lat": 60.0}), 404)
    assert "swapped" not in detail
    # both values in range, but only the swapped pair lies in China: a 404 with a hint
    detail = _problem(client.get("/lookup", params={"lon": 31.305, "lat": 80.5}), 404)
    assert "in no published grid" in detail and "did you mean lon=80.5, lat=31.305" in detail


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"lon": 200, "lat": 31.3}, 400, "longitude 200.0 is outside"),
        ({"lon": 120.6, "lat": -95}, 400, "latitude -95.0 is outside"),
        ({"lon": "abc", "lat": 31.3}, 422, "lon"),
        ({"lon": "nan", "lat": 31.3}, 400, "finite"),
        ({"lon": 120.6}, 400, "missing lat"),
        ({}, 400, "missing lon and lat"),
        ({"lon": 120.6, "lat": 31.3, "crs": "epsg3857"}, 400, "unknown crs"),
        ({"lon": 120.6, "lat": 31.3, "address": "x"}, 400, "not both"),
        ({"address": "   "}, 400, "empty"),
    ],
)
def test_bad_lookup_requests_are_problems(client, township, params, status, needle):
    assert needle in _problem(client.get("/lookup", params=params), status)


def test_address_lookup_normalises_and_scores(client, township):
    # full-width digits, spaces and a different way of writing the prefixes
    body = client.get("/lookup", params={"address": "苏州市 姑苏区 鹤市２巷３号"}).json()
    assert body["normalised"] == "鹤市2巷3号"
    assert body["parsed"] == {**body["parsed"], "county": "姑苏区", "street": "鹤市2巷", "house_number": "3"}
    assert body["found"] and not body["ambiguous"]
    best = body["matches"][0]
    assert best["address_id"] == "A1"
    assert best["grid"]["code"] == V1 + "00101"
    assert body["grid"]["code"] == V1 + "00101"
    assert best["score"] == 1.0  # same street and number
    assert best["village"] == {"code": V1, "name": "鹤市社区"}
    assert best["township"] == {"code": TOWNSHIP, "name": "平江街道"}
    # one wrong character in the street still finds it, scored below an exact match
    typo = client.get("/lookup", params={"address": "鹤市2港5号"}).json()
    assert [m["address_id"] for m in typo["matches"]] == ["A2"] and not typo["ambiguous"]
    assert 0.5 <= typo["matches"][0]["score"] < 1 and typo["grid"]["code"] == V1 + "002"


def test_ambiguous_addresses_are_flagged_not_hidden(client, township):
    body = client.get("/lookup", params={"address": "桃园社区观前街7号"}).json()
    assert body["ambiguous"] is True
    assert "2 个网格" in body["reason"] and "桃园社区" in body["reason"]
    assert body["grid"] is None
    assert {m["address_id"] for m in body["matches"][:2]} == {"A5", "A6"}
    assert {m["grid"]["code"] for m in body["matches"][:2]} == {V2 + "001", V2 + "002"}
    assert {m["village"]["name"] for m in body["matches"]} == {"桃园社区"}
    # a street name alone fits two house numbers equally well
    close = client.get("/lookup", params={"address": "桃园路"}).json()
    assert close["ambiguous"] is True and "2 个地址同样符合" in close["reason"]
    assert [m["score"] for m in close["matches"]] == [1.0, 1.0]


def test_address_without_match(client, township):
    body = client.get("/lookup", params={"address": "北京市朝阳区建国路88号"}).json()
    assert body == {**body, "found": False, "ambiguous": False, "grid": None, "matches": []}


def test_batch_points_in_input_order(client, township):
    points = [[120.6075, 31.305], [116.39, 39.9], [120.612, 31.315], [120.602, 31.305]]
    body = client.post("/lookup/batch", json={"points": points}).json()
    assert body["kind"] == "points" and body["count"] == 4
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    codes = [r["grid"]["code"] if r["grid"] else None for r in body["results"]]
    assert codes == [V1 + "002", None, V2 + "001", V1 + "00101"]
    shifted = from_wgs84([120.6075], [31.305], crs="gcj02")
    body = client.post(
        "/lookup/batch", json={"points": [[float(shifted.lng[0]), float(shifted.lat[0])]], "crs": "gcj02"}
    ).json()
    assert body["results"][0]["grid"]["code"] == V1 + "002"


def test_batch_addresses(client, township):
    body = client.post(
        "/lookup/batch", json={"addresses": ["鹤市2巷5号", "观前街7号", "不存在的地址"]}
    ).json()
    assert body["kind"] == "addresses" and body["count"] == 3
    first, second, third = body["results"]
    assert first["matches"][0]["address_id"] == "A2" and first["grid"]["code"] == V1 + "002"
    assert second["ambiguous"] is True
    assert third["found"] is False
    assert [r["index"] for r in body["results"]] == [0, 1, 2]


def test_batch_errors(client, township):
    assert "at most 10000" in _problem(
        client.post("/lookup/batch", json={"points": [[120.6, 31.3]] * 10_001}), 413
    )
    detail = _problem(client.post("/lookup/batch", json={"points": [[120.6, 31.3], [31.3, 120.6]]}), 400)
    assert "index 1" in detail and "swapped" in detail
    assert "either" in _problem(client.post("/lookup/batch", json={}), 400)
    assert "either" in _problem(client.post("/lookup/batch", json={"points": [], "addresses": []}), 400)
    _problem(client.post("/lookup/batch", json={"points": [[120.6]]}), 422)
    _problem(
        client.post("/lookup/batch", content=b"{not json", headers={"content-type": "application/json"}), 422
    )
    assert client.post("/lookup/batch", json={"points": []}).json()["results"] == []


def test_batch_limit_follows_settings(engine, township):
    from fastapi.testclient import TestClient

    app = create_app(Settings(database_url=str(engine.url), max_batch=2), engine=engine)
    with TestClient(app) as small:
        assert small.post("/lookup/batch", json={"addresses": ["a", "b", "c"]}).status_code == 413
        assert small.post("/lookup/batch", json={"points": [[120.6, 31.3]] * 2}).status_code == 200


def test_reads_need_a_key_when_not_open(engine, township, api_key):
    from fastapi.testclient import TestClient

    app = create_app(Settings(database_url=str(engine.url), open_read=False), engine=engine)
    params = {"lon": 120.6075, "lat": 31.305}
    with TestClient(app) as closed:
        assert closed.get("/lookup", params=params).status_code == 401
        assert closed.get("/lookup", params=params, headers={"X-API-Key": "gg_nope"}).status_code == 401
        assert closed.get("/lookup", params=params, headers=api_key("viewer")).status_code == 200
        bearer = {"Authorization": "Bearer " + api_key("worker")["X-API-Key"]}
        assert closed.get("/lookup", params=params, headers=bearer).status_code == 200
        assert closed.get("/collections/grids/items", headers=api_key("viewer")).status_code == 200
        assert closed.get("/collections/grids/items").status_code == 401
