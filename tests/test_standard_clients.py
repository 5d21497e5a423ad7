"""Clients nobody here wrote, against the running API (uvicorn on a free port):

- OWSLib's ``Features``: landing page, conformance, collections, items with bbox and paging,
  one item, queryables, the OpenAPI document;
- GDAL's OAPIF driver: ``ogrinfo`` and ``ogr2ogr`` of every grid (Debian's gdal-bin), and the
  GDAL inside pyogrio's wheel reading the same layer;
- MapLibre GL JS (from npm) on a page served by a second HTTP server, i.e. another origin,
  drawing the grid tiles in headless Chromium with no console error (CORS, TileJSON, MVT).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api_support import V1, V2, load_township
from tests.live_support import chromium, console_errors, free_port, serve_app, serve_folder

ROOT = Path(__file__).resolve().parents[1]
MAPLIBRE = ROOT / "node_modules" / "maplibre-gl" / "dist"
ALL_GRIDS = [V1 + "001", V1 + "00101", V1 + "00102", V1 + "002", V2 + "001", V2 + "002"]


@pytest.fixture
def township(engine):
    return load_township(engine, publish="a")


def _app(engine, tmp_path, **settings):
    from api import create_app
    from api.settings import Settings

    return create_app(
        Settings(database_url=str(engine.url), photo_dir=tmp_path / "photos", **settings), engine=engine
    )


@pytest.fixture
def live(engine, township, tmp_path):
    with serve_app(_app(engine, tmp_path)) as url:
        yield url


def test_owslib_features(live):
    from owslib.ogcapi.features import Features

    w = Features(live)
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in w.conformance()["conformsTo"]
    assert w.api()["openapi"].startswith("3.0")
    assert w.feature_collections() == ["grids", "divisions", "addresses"]
    assert w.collection("grids")["extent"]["spatial"]["bbox"] == [[120.6, 31.3, 120.62, 31.32]]
    # items with bbox, then every page
    inside = w.collection_items("grids", bbox=[120.611, 31.301, 120.612, 31.302])
    assert [f["id"] for f in inside["features"]] == [V2 + "001"]
    seen, offset = [], 0
    while True:
        page = w.collection_items("grids", limit=4, offset=offset)
        seen += [f["id"] for f in page["features"]]
        if not any(link["rel"] == "next" for link in page["links"]):
            break
        offset += 4
    assert seen == ALL_GRIDS and page["numberMatched"] == 6
    item = w.collection_item("grids", V2 + "002")
    assert item["properties"]["name"] == "东网格" and item["properties"]["division_name"] == "桃园社区"
    queryables = w.collection_queryables("grids")
    assert {"code", "name", "kind", "households"} <= set(queryables["properties"])
    rural = w.collection_items("grids", kind="rural")
    assert rural["numberMatched"] == 0


def test_gdal_ogrinfo_and_ogr2ogr_every_grid(live, tmp_path):
    import pyogrio

    assert shutil.which("ogr2ogr"), "gdal-bin is installed by scripts/setup.sh"
    source = f"OAPIF:{live}"
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", source, "grids"], capture_output=True, text=True, timeout=120, check=True
    )
    assert "Feature Count: 6" in info.stdout and "households" in info.stdout, info.stdout
    layers = subprocess.run(
        ["ogrinfo", "-ro", source], capture_output=True, text=True, timeout=120, check=True
    )
    assert all(name in layers.stdout for name in ("grids", "divisions", "addresses")), layers.stdout
    out = tmp_path / "grids.gpkg"
    # a small page size makes GDAL follow the next links
    subprocess.run(
        ["ogr2ogr", "-f", "GPKG", str(out), source, "grids", "-oo", "PAGE_SIZE=2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    copied = pyogrio.read_dataframe(out)
    assert sorted(copied["code"]) == sorted(ALL_GRIDS) and copied.crs.to_epsg() == 4326
    bounds = copied.set_index("code").geometry[V2 + "001"].bounds
    assert bounds == pytest.approx((120.61, 31.30, 120.615, 31.32))  # lon/lat kept, not swapped
    # The GDAL in pyogrio's wheel (a newer one) reads the same.  In another process: GDAL
    # would block this one's GIL while it waits for the server thread that must answer it.
    script = (
        "import json, sys, pyogrio; f = pyogrio.read_dataframe(sys.argv[1], layer='grids'); "
        "print(json.dumps([sorted(f['code']), sorted(set(f['division_name']))], ensure_ascii=False))"
    )
    read = subprocess.run(
        [sys.executable, "-c", script, source], capture_output=True, text=True, timeout=120, check=True
    )
    codes, villages = json.loads(read.stdout)
    assert codes == sorted(ALL_GRIDS) and villages == ["桃园社区", "鹤市社区"]


def _maplibre_page(folder: Path) -> None:
    shutil.copytree(MAPLIBRE, folder / "maplibre")
    (folder / "index.html").write_text(
        """<!doctype html><html><head><meta charset="utf-8"><title>grids</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="maplibre/maplibre-gl.css">
<style>html, body, #map { margin: 0; height: 100%; }</style></head>
<body><div id="map"></div>
<script type="module">
import * as maplibregl from "./maplibre/maplibre-gl.mjs";
const api = new URLSearchParams(location.search).get("api");
const tilejson = api + "/collections/grids/tiles/WebMercatorQuad/tilejson.json";
const tj = await (await fetch(tilejson)).json();
const map = new maplibregl.Map({
  container: "map",
  center: tj.center.slice(0, 2),
  zoom: tj.center[2],
  style: {
    version: 8,
    sources: { grids: { type: "vector", url: tilejson } },
    layers: [
      { id: "land", type: "background", paint: { "background-color": "#f4f1ea" } },
      { id: "grids", type: "fill", source: "grids", "source-layer": "grids",
        paint: { "fill-color": "#4575b4", "fill-opacity": 0.5, "fill-outline-color": "#08306b" } },
    ],
  },
});
map.on("error", (e) => console.error("map error: " + (e.error ? e.error.message : e)));
map.once("idle", () => {
  window.rendered = map.queryRenderedFeatures({ layers: ["grids"] })
    .map((f) => ({ id: f.id, code: f.properties.code }));
});
</script></body></html>""",
        encoding="utf-8",
    )


@pytest.mark.browser
def test_maplibre_on_another_origin_draws_the_grid_tiles(engine, township, tmp_path, artifacts_dir):
    from selenium.webdriver.support.ui import WebDriverWait

    page = tmp_path / "page"
    page.mkdir()
    _maplibre_page(page)
    page_port = free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    app = _app(engine, tmp_path, cors_origins=page_origin)
    with serve_app(app) as api, serve_folder(page, port=page_port) as site, chromium(webgl=True) as browser:
        assert site == page_origin and api != site  # another port: another origin
        browser.get(f"{site}/index.html?api={api}")
        WebDriverWait(browser, 60).until(lambda d: d.execute_script("return window.rendered !== undefined"))
        rendered = browser.execute_script("return window.rendered")
        errors = console_errors(browser)
        browser.save_screenshot(str(artifacts_dir / "maplibre_other_origin.png"))
    assert errors == []
    codes = {f["code"] for f in rendered}
    assert codes == set(ALL_GRIDS), json.dumps(rendered)
    assert all(isinstance(f["id"], int) for f in rendered)  # MVT features carry ids


@pytest.mark.browser
def test_without_cors_another_origin_gets_nothing(engine, township, tmp_path):
    """The same page against a server with no GEOGRID_CORS_ORIGINS: the browser refuses."""
    page = tmp_path / "page"
    page.mkdir()
    _maplibre_page(page)
    with (
        serve_app(_app(engine, tmp_path)) as api,
        serve_folder(page) as site,
        chromium(webgl=True) as browser,
    ):
        browser.get(f"{site}/index.html?api={api}")
        from selenium.webdriver.support.ui import WebDriverWait

        seen: list[str] = []  # the log is read once: each read returns only what is new
        WebDriverWait(browser, 30).until(lambda d: seen.extend(console_errors(d)) or seen)
        errors = " ".join(seen)
    assert "CORS" in errors or "Access-Control-Allow-Origin" in errors, errors
