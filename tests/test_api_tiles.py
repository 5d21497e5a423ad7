"""Vector tiles (MVT) and TileJSON: content, empty tiles, ETags, cache invalidation on publish."""

from __future__ import annotations

import mapbox_vector_tile
import pytest

from geogrid.db.plans import publish_plan
from tests.api_support import V1, V2, load_township, tile_of

MVT = "application/vnd.mapbox-vector-tile"
PROBLEM = "application/problem+json"
# The test township (0.02° ≈ 2 km) lies in one zoom-12 tile and straddles two zoom-13 tiles.
CENTRE = (120.61, 31.31)
Z13_TILES = [(13, 6840, 3344), (13, 6840, 3345)]


def _url(collection: str, z: int, x: int, y: int) -> str:
    return f"/collections/{collection}/tiles/WebMercatorQuad/{z}/{x}/{y}"


@pytest.fixture
def township(engine):
    return load_township(engine, publish="a")


def _decode(response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    return mapbox_vector_tile.decode(response.content)


def _layer_codes(tile: dict, layer: str, key: str = "code") -> set[str]:
    return {f["properties"][key] for f in tile[layer]["features"]}


def test_grid_tile_decodes_with_attributes(client, township):
    z, x, y = tile_of(*CENTRE, 12)
    tile = _decode(client.get(_url("grids", z, x, y)))
    assert set(tile) == {"grids"}
    assert _layer_codes(tile, "grids") == {
        V1 + "001",
        V1 + "002",
        V1 + "00101",
        V1 + "00102",
        V2 + "001",
        V2 + "002",
    }
    props = next(f["properties"] for f in tile["grids"]["features"] if f["properties"]["code"] == V2 + "001")
    assert set(props) == {"code", "name", "households", "level", "kind"}
    assert props["name"] == "西网格" and props["level"] == 3 and props["kind"] == "urban"
    geometry = tile["grids"]["features"][0]["geometry"]
    assert geometry["type"] == "Polygon"
    assert tile["grids"]["extent"] == 4096


def test_division_and_address_tiles(client, township):
    z, x, y = tile_of(*CENTRE, 12)
    divisions = _decode(client.get(_url("divisions", z, x, y)))
    assert {V1, V2} <= _layer_codes(divisions, "divisions")
    levels = {f["properties"]["level"] for f in divisions["divisions"]["features"]}
    assert levels == {"township", "village"}
    assert [tile_of(120.60, 31.30, 13), tile_of(120.62, 31.32, 13)] == Z13_TILES[::-1]
    found: set[str] = set()
    for tile in Z13_TILES:
        addresses = _decode(client.get(_url("addresses", *tile)))
        found |= _layer_codes(addresses, "addresses", "address_id")
    assert found == {"A1", "A2", "A3", "A4", "A5", "A6"}
    first = addresses["addresses"]["features"][0]
    assert first["geometry"]["type"] == "Point" and first["properties"]["full_text"].startswith("江苏省")
    # below the address layer's minzoom: empty, not a flood of points
    assert client.get(_url("addresses", *tile_of(*CENTRE, 10))).status_code == 204


def test_empty_tile_is_204_with_etag(client, township):
    response = client.get(_url("grids", *tile_of(116.39, 39.9, 14)))
    assert response.status_code == 204 and response.content == b""
    assert response.headers["etag"]


def test_etag_and_if_none_match(client, township):
    url = _url("grids", *tile_of(*CENTRE, 13))
    first = client.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert first.headers["x-tile-cache"] == "MISS"
    again = client.get(url)
    assert again.headers["x-tile-cache"] == "HIT" and again.content == first.content
    assert again.headers["etag"] == etag
    not_modified = client.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert client.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_publish_invalidates_the_tile_cache(client, engine, township, api_key):
    url = _url("grids", *tile_of(*CENTRE, 12))
    before = _decode(client.get(url))
    assert V1 + "001" in _layer_codes(before, "grids")
    etag = client.get(url).headers["etag"]
    assert client.get(url).headers["x-tile-cache"] == "HIT"
    # publish through the API ...
    published = client.post(f"/plans/{township['b']}/publish", headers=api_key("planner"))
    assert published.status_code == 200, published.text
    after = client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["x-tile-cache"] == "MISS"
    assert _layer_codes(_decode(after), "grids") == {V1 + "003", V1 + "004", V2 + "003", V2 + "004"}
    # ... and by another process (here: the library directly, as a CLI would): rollback
    from geogrid.db.plans import rollback_plan

    rollback_plan(engine, "320508001000")
    assert V1 + "001" in _layer_codes(_decode(client.get(url)), "grids")


def test_draft_tiles_with_plan_parameter(client, engine, township):
    url = _url("grids", *tile_of(*CENTRE, 12))
    draft = client.get(url, params={"plan": township["b"]})
    assert draft.headers["cache-control"] == "no-cache"
    assert _layer_codes(_decode(draft), "grids") == {V1 + "003", V1 + "004", V2 + "003", V2 + "004"}
    publish_plan(engine, township["b"])  # the draft's tiles stay the plan's tiles
    assert _layer_codes(_decode(client.get(url, params={"plan": township["a"]})), "grids") >= {V1 + "001"}


def test_low_zoom_simplified_but_present(client, township):
    tile = _decode(client.get(_url("grids", *tile_of(*CENTRE, 5))))
    assert len(tile["grids"]["features"]) >= 1


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/collections/grids/tiles/WebMercatorQuad/3/8/0", 400, "x=8 is out of range for zoom 3"),
        ("/collections/grids/tiles/WebMercatorQuad/3/0/8", 400, "y=8 is out of range"),
        ("/collections/grids/tiles/WebMercatorQuad/25/0/0", 400, "zoom 25 is out of range"),
        ("/collections/grids/tiles/WebMercatorQuad/-1/0/0", 400, "zoom -1"),
        ("/collections/grids/tiles/WebMercatorQuad/a/0/0", 400, "must be an integer"),
        ("/collections/grids/tiles/WorldCRS84Quad/1/0/0", 404, "WebMercatorQuad"),
        ("/collections/roads/tiles/WebMercatorQuad/1/0/0", 404, "has no tiles"),
        ("/collections/divisions/tiles/WebMercatorQuad/1/0/0?plan=1", 400, "grids only"),
    ],
)
def test_bad_tile_requests(client, township, path, status, needle):
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert needle in response.json()["detail"]


def test_tile_suffix_and_tilejson(client, township):
    z, x, y = tile_of(*CENTRE, 13)
    assert client.get(_url("grids", z, x, f"{y}.mvt")).status_code == 200
    tj = client.get("/collections/grids/tiles/WebMercatorQuad/tilejson.json").json()
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"] == ["http://testserver/collections/grids/tiles/WebMercatorQuad/{z}/{x}/{y}"]
    assert tj["bounds"] == [120.6, 31.3, 120.62, 31.32]
    assert tj["vector_layers"][0]["id"] == "grids"
    assert set(tj["vector_layers"][0]["fields"]) == {"code", "name", "households", "level", "kind"}
    addresses = client.get("/collections/addresses/tiles/WebMercatorQuad/tilejson.json").json()
    assert addresses["minzoom"] == 13
    draft = client.get("/collections/grids/tiles/WebMercatorQuad/tilejson.json", params={"plan": 2}).json()
    assert draft["tiles"][0].endswith("?plan=2")
    sets = client.get("/collections/grids/tiles").json()
    assert sets["tilesets"][0]["dataType"] == "vector"
    assert client.get("/collections/grids/tiles/WebMercatorQuad/tilejson.json?plan=x").status_code == 422
