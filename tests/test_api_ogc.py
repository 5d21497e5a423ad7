"""OGC API conformance details: landing page by content negotiation, /conformance, /api (OpenAPI
3.0), CRSs (Part 2), queryables and property filters, 400s for what is not understood, tilesets
with tileMatrixSetLimits, MVT ids, TileJSON per scope, CORS and the favicon."""

from __future__ import annotations

import geopandas as gpd
import mapbox_vector_tile
import pytest
from shapely.geometry import box

from geogrid.db import store
from geogrid.db.plans import publish_plan, save_plan
from tests.api_support import V1, V2, load_township, tile_of

GEOJSON = "application/geo+json"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def township(engine):
    return load_township(engine, publish="a")


def _codes(body: dict) -> list[str]:
    return [f["id"] for f in body["features"]]


@pytest.mark.parametrize(
    ("headers", "query", "kind"),
    [
        ({}, "", "json"),  # curl, requests, OWSLib: */*
        ({"Accept": "application/json"}, "", "json"),
        (BROWSER, "?f=json", "json"),
        (BROWSER, "", "html"),
        ({}, "?f=html", "html"),
    ],
)
def test_landing_page_by_content_negotiation(client, headers, query, kind):
    r = client.get("/" + query, headers=headers)
    assert r.status_code == 200
    if kind == "html":
        assert r.headers["content-type"].startswith("text/html") and "网格化服务管理" in r.text
        return
    links = {link["rel"]: link for link in r.json()["links"]}
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert links["service-desc"]["href"].endswith("/api") and links["service-doc"]["href"].endswith("/docs")
    assert links["conformance"]["href"].endswith("/conformance")
    assert links["data"]["href"].endswith("/collections")


def test_conformance_and_openapi_30(client):
    from openapi_spec_validator import validate

    conforms = client.get("/conformance").json()["conformsTo"]
    for cls in ("features-1/1.0/conf/core", "features-1/1.0/conf/geojson", "features-1/1.0/conf/oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-{cls}" in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conforms
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset" in conforms
    r = client.get("/api")
    assert r.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = r.json()
    assert doc["openapi"] == "3.0.3" and "/collections/{collection_id}/items" in doc["paths"]
    validate(doc)  # a valid OpenAPI 3.0 document
    assert '"type": "null"' not in r.text and "prefixItems" not in r.text


def test_collections_list_crs(client, township):
    grids = client.get("/collections/grids").json()
    assert grids["storageCrs"] == CRS84 and CGCS2000 in grids["crs"] and grids["crs"][0] == CRS84
    rels = {link["rel"] for link in grids["links"]}
    assert {"items", "http://www.opengis.net/def/rel/ogc/1.0/queryables"} <= rels


def test_items_in_cgcs2000_and_web_mercator(client, township):
    plain = client.get(f"/collections/grids/items/{V2}002")
    assert plain.headers["content-crs"] == f"<{CRS84}>"
    lon, lat = plain.json()["geometry"]["coordinates"][0][0]
    r = client.get(f"/collections/grids/items/{V2}002", params={"crs": CGCS2000})
    assert r.headers["content-crs"] == f"<{CGCS2000}>"
    # EPSG:4490 is latitude first; CGCS2000 and WGS 84 agree to centimetres
    assert r.json()["geometry"]["coordinates"][0][0] == pytest.approx([lat, lon], abs=1e-6)
    page = client.get(
        "/collections/grids/items", params={"crs": "http://www.opengis.net/def/crs/EPSG/0/3857"}
    )
    x, y = page.json()["features"][0]["geometry"]["coordinates"][0][0]
    assert 13_400_000 < x < 13_450_000 and 3_660_000 < y < 3_700_000
    assert '"crs"' not in page.text  # GeoJSON has no crs member: the header says it
    bad = client.get("/collections/grids/items", params={"crs": "EPSG:2000"})
    assert bad.status_code == 400 and "EPSG:2000" in bad.json()["detail"]


def test_bbox_in_another_crs(client, township):
    in_crs84 = _codes(
        client.get("/collections/grids/items", params={"bbox": "120.611,31.301,120.612,31.302"}).json()
    )
    in_cgcs2000 = client.get(
        "/collections/grids/items", params={"bbox": "31.301,120.611,31.302,120.612", "bbox-crs": CGCS2000}
    ).json()
    assert in_crs84 == _codes(in_cgcs2000) == [V2 + "001"]


def test_queryables_and_property_filters(client, township):
    r = client.get("/collections/grids/queryables")
    assert r.headers["content-type"] == "application/schema+json"
    schema = r.json()
    assert schema["type"] == "object" and schema["properties"]["households"]["type"] == "integer"
    assert schema["properties"]["kind"]["enum"] == ["urban", "rural", "dedicated"]

    def codes(**params) -> list[str]:
        r = client.get("/collections/grids/items", params=params)
        assert r.status_code == 200, r.text
        return _codes(r.json())

    assert codes(households=2) == [V2 + "001", V2 + "002"]  # counted from the addresses
    assert codes(name="东网格") == [V1 + "002", V2 + "002"]
    assert codes(division_code=V2, name="西网格") == [V2 + "001"]
    addresses = client.get("/collections/addresses/items", params={"grid_code": V2 + "002"}).json()
    assert sorted(_codes(addresses)) == ["A4", "A6"]


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("/collections/grids/items", {"colour": "red"}, "unknown query parameter 'colour'"),
        ("/collections/grids/items", {"datetime": "2024-01-01T00:00:00Z"}, "datetime is not supported"),
        ("/collections/grids/items", {"f": "html"}, "f='html'"),
        ("/collections/grids/items", {"limit": "many"}, "limit"),
        ("/collections/grids/items", {"households": "many"}, "households must be an integer"),
        ("/collections/grids/items", {"bbox-crs": "EPSG:1", "bbox": "1,2,3,4"}, "bbox-crs"),
        ("/collections/divisions/items", {"households": "3"}, "unknown query parameter 'households'"),
        ("/collections/grids/items/320508001001001", {"foo": "1"}, "unknown query parameter 'foo'"),
        ("/collections", {"bbox": "1,2,3,4"}, "unknown query parameter 'bbox'"),
        ("/conformance", {"f": "xml"}, "f='xml'"),
        ("/", {"q": "x"}, "unknown query parameter 'q'"),
        ("/collections/grids/tiles/WebMercatorQuad/tilejson.json", {"scope": "1"}, "unknown query parameter"),
        ("/collections/grids/tiles/WebMercatorQuad/12/3420/1672", {"style": "x"}, "unknown query parameter"),
    ],
)
def test_what_is_not_understood_is_a_400(client, township, path, params, needle):
    r = client.get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json" and needle in r.json()["detail"]


def test_tileset_limits_and_mvt_ids(client, township):
    tilesets = client.get("/collections/grids/tiles").json()["tilesets"]
    self_link = next(link for link in tilesets[0]["links"] if link["rel"] == "self")
    tileset = client.get(self_link["href"]).json()
    limits = {lim["tileMatrix"]: lim for lim in tileset["tileMatrixSetLimits"]}
    z, x, y = tile_of(120.61, 31.31, 12)
    assert limits["12"]["minTileCol"] <= x <= limits["12"]["maxTileCol"]
    assert limits["12"]["minTileRow"] <= y <= limits["12"]["maxTileRow"]
    assert limits["0"] == {
        "tileMatrix": "0",
        "minTileRow": 0,
        "maxTileRow": 0,
        "minTileCol": 0,
        "maxTileCol": 0,
    }
    template = next(link for link in tileset["links"] if link["rel"] == "item")["href"]
    url = template.replace("{tileMatrix}", str(z)).replace("{tileCol}", str(x)).replace("{tileRow}", str(y))
    tile = mapbox_vector_tile.decode(client.get(url).content)
    ids = [f["id"] for f in tile["grids"]["features"]]
    assert len(ids) == 6 and len(set(ids)) == 6 and all(isinstance(i, int) and i > 0 for i in ids)
    divisions = mapbox_vector_tile.decode(
        client.get(f"/collections/divisions/tiles/WebMercatorQuad/{z}/{x}/{y}").content
    )
    assert {f["id"] for f in divisions["divisions"]["features"]} >= {int(V1), int(V2)}
    tms = client.get("/tileMatrixSets/WebMercatorQuad").json()
    assert tms["id"] == "WebMercatorQuad" and len(tms["tileMatrices"]) == 25


def test_tilejson_center_is_in_the_data_not_between_far_places(client, engine, township):
    # A second county far away (the Helsinki sample's illustrative code).
    far = box(24.93, 60.16, 24.95, 60.17)
    store.load(
        engine,
        "divisions",
        gpd.GeoDataFrame(
            {
                "code": ["320599001001"],
                "name": ["示例社区"],
                "level": ["village"],
                "parent_code": [None],
                "kind": ["urban"],
            },
            geometry=[far],
            crs="EPSG:4326",
        ),
    )
    frame = gpd.GeoDataFrame(
        {"code": ["320599001001001"], "division_code": ["320599001001"], "households": [300]},
        geometry=[far],
        crs="EPSG:4326",
    )
    publish_plan(engine, save_plan(engine, frame, scope_code="320599001001"))
    tj = client.get("/collections/grids/tiles/WebMercatorQuad/tilejson.json").json()
    assert tj["bounds"] == pytest.approx([24.93, 31.30, 120.62, 60.17])
    lon, lat, zoom = tj["center"]
    # the county with the most grids (6 against 1), not the middle of the two (in Kazakhstan)
    assert 120.60 <= lon <= 120.62 and 31.30 <= lat <= 31.32 and zoom >= 12
    helsinki = client.get(
        "/collections/grids/tiles/WebMercatorQuad/tilejson.json?division=320599001001"
    ).json()
    assert helsinki["bounds"] == pytest.approx([24.93, 60.16, 24.95, 60.17])
    assert helsinki["center"][:2] == pytest.approx([24.94, 60.165])


def _app_client(engine, tmp_path, **settings):
    from fastapi.testclient import TestClient

    from api import create_app
    from api.settings import Settings

    app = create_app(Settings(database_url=str(engine.url), photo_dir=tmp_path, **settings), engine=engine)
    return TestClient(app)


def test_cors_for_configured_origins_on_read_endpoints_only(engine, township, tmp_path):
    origin = {"Origin": "http://screen.example:8080"}
    tile = "/collections/grids/tiles/WebMercatorQuad/{}/{}/{}".format(*tile_of(120.61, 31.31, 12))
    with _app_client(engine, tmp_path) as plain:
        assert "access-control-allow-origin" not in plain.get(tile, headers=origin).headers
    with _app_client(engine, tmp_path, cors_origins="http://gis.example, http://screen.example:8080") as c:
        for path in (
            tile,
            "/collections/grids/tiles/WebMercatorQuad/tilejson.json",
            "/collections/grids/items",
            "/heatmap?res=8",
            "/lookup?lon=120.605&lat=31.305",
            "/",
        ):
            r = c.get(path, headers=origin)
            assert r.headers.get("access-control-allow-origin") == origin["Origin"], path
        assert "etag" in c.get(tile, headers=origin).headers["access-control-expose-headers"].lower()
        other = c.get(tile, headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = c.options(
            "/lookup/batch",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200 and "POST" in preflight.headers["access-control-allow-methods"]
        # writes and personal data are not shared across origins
        assert "access-control-allow-origin" not in c.get("/incidents", headers=origin).headers
        assert "access-control-allow-origin" not in c.get("/stats", headers=origin).headers


def test_favicon(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
