"""OGC API – Features collections and the code hierarchy, against a real PostGIS."""

from __future__ import annotations

import pytest

from tests.api_support import COUNTY, TOWNSHIP, V1, V2, load_township

GEOJSON = "application/geo+json"
PROBLEM = "application/problem+json"


@pytest.fixture
def township(engine):
    return load_township(engine, publish="a")


def _codes(body: dict) -> list[str]:
    return [f["id"] for f in body["features"]]


def test_collections_list_and_describe(client, township):
    body = client.get("/collections").json()
    assert [c["id"] for c in body["collections"]] == ["grids", "divisions", "addresses"]
    grids = client.get("/collections/grids").json()
    assert grids["extent"]["spatial"]["bbox"] == [[120.6, 31.3, 120.62, 31.32]]
    rels = {link["rel"] for link in grids["links"]}
    assert {"self", "items"} <= rels
    missing = client.get("/collections/roads")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


def test_items_are_rfc7946_geojson_with_counts_and_links(client, township):
    response = client.get("/collections/grids/items", params={"limit": 2})
    assert response.headers["content-type"] == GEOJSON
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == 6 and body["numberReturned"] == 2
    assert _codes(body) == [V1 + "001", V1 + "00101"]
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "Polygon"
    lon, lat = feature["geometry"]["coordinates"][0][0]
    assert 120 < lon < 121 and 31 < lat < 32  # lon first
    assert feature["properties"]["head_phone"] == "13800000001"
    links = {link["rel"]: link["href"] for link in body["links"]}
    assert "prev" not in links
    # follow next links to the end
    seen, url = _codes(body), links["next"]
    while url:
        page = client.get(url).json()
        seen += _codes(page)
        rels = {link["rel"]: link["href"] for link in page["links"]}
        assert "prev" in rels
        url = rels.get("next")
    assert len(seen) == len(set(seen)) == 6
    last = client.get("/collections/grids/items", params={"limit": 4, "offset": 4}).json()
    assert last["numberReturned"] == 2 and "next" not in {link["rel"] for link in last["links"]}
    beyond = client.get("/collections/grids/items", params={"offset": 50}).json()
    assert beyond["numberMatched"] == 6 and beyond["features"] == []


def test_item_filters(client, township):
    def codes(**params) -> list[str]:
        return _codes(client.get("/collections/grids/items", params=params).json())

    assert len(codes(division=TOWNSHIP)) == 6  # a township gives all its villages' grids
    assert len(codes(division=COUNTY)) == 6
    assert codes(division=V2) == [V2 + "001", V2 + "002"]
    assert codes(division=V1 + "001") == [V1 + "001", V1 + "00101", V1 + "00102"]
    assert codes(level=3, kind="urban", division=V2) == [V2 + "001", V2 + "002"]
    assert codes(kind="rural") == []
    assert codes(bbox="120.611,31.301,120.612,31.302") == [V2 + "001"]
    # drafts only with plan=
    assert codes(plan=township["b"], division=V1) == [V1 + "003", V1 + "004"]
    assert codes(plan=999) == []
    divisions = _codes(client.get("/collections/divisions/items", params={"level": "village"}).json())
    assert divisions == [V1, V2]
    addresses = client.get("/collections/addresses/items", params={"grid": V2 + "002"}).json()
    assert sorted(_codes(addresses)) == ["A4", "A6"]
    assert addresses["features"][0]["properties"]["full_text"].startswith("江苏省")
    in_village = client.get("/collections/addresses/items", params={"division": V1}).json()
    assert in_village["numberMatched"] == 2


def test_limit_is_clamped_not_refused(client, township, app):
    app.state.settings.page_limit_max = 3
    body = client.get("/collections/grids/items", params={"limit": 1000}).json()
    assert body["numberReturned"] == 3


@pytest.mark.parametrize(
    ("path", "params", "status", "needle"),
    [
        ("/collections/grids/items", {"bbox": "1,2,3"}, 400, "4 comma-separated"),
        ("/collections/grids/items", {"bbox": "120.62,31.3,120.6,31.32"}, 400, "west"),
        ("/collections/grids/items", {"bbox": "31.3,120.6,31.32,120.62"}, 400, "swapped"),
        ("/collections/grids/items", {"limit": 0}, 400, "limit"),
        ("/collections/grids/items", {"offset": -1}, 400, "offset"),
        ("/collections/grids/items", {"level": 7}, 400, "level must be 1, 2 or 3"),
        ("/collections/grids/items", {"kind": "forest"}, 400, "kind must be one of"),
        ("/collections/grids/items", {"division": "12345"}, 400, "digits"),
        ("/collections/divisions/items", {"level": 3}, 400, "township, village"),
        ("/collections/divisions/items", {"plan": 1}, 400, "grids only"),
        ("/collections/addresses/items", {"grid": V1}, 400, "grid code"),
        ("/collections/nowhere/items", {}, 404, "does not exist"),
        ("/collections/grids/items/320508001001009", {}, 404, "published plan"),
        ("/collections/grids/items/abc", {}, 400, "digits"),
        ("/collections/addresses/items/A99", {}, 404, "does not exist"),
    ],
)
def test_bad_item_requests(client, township, path, params, status, needle):
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert needle in response.json()["detail"]


def test_single_items(client, township):
    grid = client.get(f"/collections/grids/items/{V2}002")
    assert grid.headers["content-type"] == GEOJSON
    assert grid.json()["properties"]["name"] == "东网格"
    draft = client.get(f"/collections/grids/items/{V2}004", params={"plan": township["b"]}).json()
    assert draft["properties"]["plan_id"] == township["b"]
    assert client.get(f"/collections/grids/items/{V2}004").status_code == 404
    assert client.get(f"/collections/divisions/items/{V1}").json()["geometry"]["type"] == "MultiPolygon"
    assert client.get("/collections/addresses/items/A3").json()["properties"]["grid_code"] == V2 + "001"


def test_hierarchy(client, township):
    county = client.get(f"/hierarchy/{COUNTY}").json()
    assert county["type"] == "county" and [c["code"] for c in county["children"]] == [TOWNSHIP]
    town = client.get(f"/hierarchy/{TOWNSHIP}").json()
    assert [p["code"] for p in town["parents"]] == [COUNTY]
    assert [c["code"] for c in town["children"]] == [V1, V2]
    village = client.get(f"/hierarchy/{V1}").json()
    assert [p["type"] for p in village["parents"]] == ["county", "township"]
    assert [(c["code"], c["type"]) for c in village["children"]] == [
        (V1 + "001", "grid"),
        (V1 + "002", "grid"),
    ]
    grid = client.get(f"/hierarchy/{V1}001").json()
    assert grid["type"] == "grid" and grid["name"] == "西网格"
    assert [p["code"] for p in grid["parents"]] == [COUNTY, TOWNSHIP, V1]
    assert [c["type"] for c in grid["children"]] == ["subgrid", "subgrid"]
    sub = client.get(f"/hierarchy/{V1}00102").json()
    assert [p["code"] for p in sub["parents"]] == [COUNTY, TOWNSHIP, V1, V1 + "001"]
    assert sub["children"] == []
    draft = client.get(f"/hierarchy/{V2}", params={"plan": township["b"]}).json()
    assert [c["code"] for c in draft["children"]] == [V2 + "003", V2 + "004"]
    bad = client.get("/hierarchy/32050800100")
    assert bad.status_code == 400 and "digits" in bad.json()["detail"]
    assert client.get("/hierarchy/320508001009").status_code == 404
    assert client.get(f"/hierarchy/{V2}009").status_code == 404
