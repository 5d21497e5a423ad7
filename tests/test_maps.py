"""Offline Folium maps: no CDN URL in any page, grid/KPI/diff content, vendored assets."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geogrid import assets
from geogrid.errors import AssetsMissingError, MapError
from geogrid.heat import aggregate, cells_for_points
from geogrid.maps import (
    CHANGE_COLORS,
    HEAT_PALETTE,
    HOUSEHOLD_COLORS,
    KPI_PALETTE,
    NO_DATA_COLOR,
    SEQUENTIAL,
    Basemap,
    classify,
    dashboard_map,
    diff_by_code,
    diff_map,
    external_urls,
    grid_map,
    map_html,
    rule_status,
    save_map,
)

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "/static/vendor"
CDN_MARKERS = ("cdn.jsdelivr", "cdnjs", "code.jquery", "bootstrapcdn", "bootstrap.min", "d3.min.js", "unpkg")


@pytest.fixture(scope="module", autouse=True)
def vendored():
    # The pages embed/link files installed from npm; vendor them once if this checkout lacks them.
    if assets.missing_assets():
        subprocess.run(["bash", str(ROOT / "scripts" / "vendor_assets.sh")], check=True, cwd=ROOT)
    assets.check_assets()


@pytest.fixture
def grids():
    codes = [f"320508019044{i:03d}" for i in range(1, 5)]
    return gpd.GeoDataFrame(
        {
            "code": codes,
            "name": ["东一", "东二", "西一", "西二"],
            "head": ["张伟", "李娜", "王芳", "刘洋"],
            "households": [40, 75, 150, None],
            "incident_rate": [0.5, 1.0, 8.0, 2.0],
        },
        geometry=[box(120.60 + 0.01 * i, 31.30, 120.61 + 0.01 * i, 31.31) for i in range(4)],
        crs=4326,
    )


def _points(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(120.60, 120.64, n), rng.uniform(31.30, 31.31, n)


def _shown(text, page):
    """``text`` appears in the page, literally or JSON-escaped (folium writes non-ASCII as \\u escapes)."""
    return text in page or json.dumps(text)[1:-1] in page


def _layers(m, cls=folium.GeoJson):
    return [c for c in m._children.values() if isinstance(c, cls)]


def _props(layer):
    return {f["properties"]["code"]: f["properties"] for f in layer.data["features"]}


def _builders(grids):
    lon, lat = _points()
    cells = aggregate(cells_for_points(lon, lat), res=8)
    old = grids.iloc[:3]
    new = grids.iloc[1:].assign(households=[75, 160, 90])
    return {
        "grid_map": lambda a: grid_map(grids, rule="rural", assets=a),
        "grid_map_kpi": lambda a: grid_map(grids, color_by="incident_rate", assets=a),
        "dashboard_cells": lambda a: dashboard_map(
            grids, heat=cells, kpi=grids.set_index("code")["incident_rate"], assets=a
        ),
        "dashboard_points": lambda a: dashboard_map(
            grids, heat=pd.DataFrame({"lon": lon, "lat": lat}), assets=a
        ),
        "diff_map": lambda a: diff_map(old, new, assets=a),
    }


@pytest.mark.parametrize("mode", ["inline", PREFIX])
@pytest.mark.parametrize(
    "builder", ["grid_map", "grid_map_kpi", "dashboard_cells", "dashboard_points", "diff_map"]
)
def test_no_external_urls_in_any_page(grids, builder, mode):
    page = map_html(_builders(grids)[builder](mode))
    assert external_urls(page) == []
    for marker in CDN_MARKERS:
        assert marker not in page, marker
    assert "L.control.layers" in page  # layer control
    assert "geogrid-legend" in page  # our HTML legend, not branca's
    if mode == "inline":
        # Leaflet's own code is in the page (its build sets L.version), and its CSS with images inlined.
        assert 'version="1.9.4"' in page
        assert ".leaflet-control-layers-toggle" in page and "data:image/png;base64," in page
        assert "<script src=" not in page and "<link " not in page
    else:
        assert f'<script src="{PREFIX}/leaflet/leaflet.js"></script>' in page
        assert f'<link rel="stylesheet" href="{PREFIX}/leaflet/leaflet.css"/>' in page
        assert 'version="1.9.4"' not in page
    uses_heat_plugin = builder == "dashboard_points"
    assert ("L.heatLayer" in page) == uses_heat_plugin
    if uses_heat_plugin:
        heat_ref = "simpleheat" if mode == "inline" else f'src="{PREFIX}/leaflet.heat/leaflet-heat.js"'
        assert heat_ref in page


def test_grid_map_colours_against_rule_bounds(grids):
    m = grid_map(grids, rule="rural")
    (layer,) = _layers(m)
    props = _props(layer)
    want = {  # households 40, 75, 150, None against rural 50–100
        "320508019044001": ("below", "低于下限"),
        "320508019044002": ("mid", "适中"),
        "320508019044003": ("above", "超过上限"),
        "320508019044004": ("unknown", "无户数标准"),
    }
    for code, (cls, label) in want.items():
        assert props[code]["status"] == label and props[code]["_class"] == cls
        assert props[code]["_fill"] == HOUSEHOLD_COLORS[cls]
    assert props["320508019044003"]["head"] == "王芳"
    assert props["320508019044003"]["households"] == 150
    assert props["320508019044004"]["households"] is None
    page = map_html(m)
    for code in want:
        assert code in page
    # Popup/tooltip show code, name, head and households with readable labels.
    assert '"code", "name", "head", "households"' in page
    assert _shown("网格长 Head", page)
    legend = next(c for c in m._children.values() if c.__class__.__name__ == "Legend")
    for text in (
        "少于 50 户（低于下限） · 1 个网格",
        "67–83 户（适中） · 1 个网格",
        "多于 100 户（超过上限）",
    ):
        assert text in legend.html
    assert "H3" not in legend.html and "res" not in legend.html
    # The style function really uses the colours (rendered into the page's style map).
    for color in (HOUSEHOLD_COLORS["below"], HOUSEHOLD_COLORS["above"]):
        assert color in page


def test_within_the_bounds_is_not_one_colour(grids):
    spread = grids.copy()
    spread["households"] = [52, 75, 98, 60]
    props = _props(_layers(grid_map(spread, rule="rural"))[0])
    fills = [props[c]["_fill"] for c in spread["code"]]
    # all within 50–100, yet near the lower bound, in the middle and near the upper bound differ
    assert fills == [HOUSEHOLD_COLORS[k] for k in ("low", "mid", "high", "low")]
    assert len(set(fills)) == 3


def test_grid_map_custom_rule_changes_status(grids):
    m = grid_map(grids, rule=(30, 60))
    props = _props(_layers(m)[0])
    assert props["320508019044001"]["_class"] == "mid"  # 40 in the middle third of 30–60
    assert props["320508019044002"]["_class"] == "above"


def test_grid_map_judges_each_grid_by_its_own_kind(grids):
    mixed = grids.copy()
    mixed["households"] = [60, 350, 120, 700]
    mixed["kind"] = ["rural", "urban", "urban", "dedicated"]
    props = _props(_layers(grid_map(mixed, rule="kind"))[0])
    got = {code: props[code]["_class"] for code in mixed["code"]}
    # 60 is low in rural [50,100]; 350 low in urban [300,500]; 120 is below the urban bound;
    # a dedicated grid (school, company) has no household rule.
    assert list(got.values()) == ["low", "low", "below", "unknown"]
    legend = next(
        c for c in grid_map(mixed, rule="kind")._children.values() if c.__class__.__name__ == "Legend"
    )
    assert "城镇 300–500 户" in legend.html and "农村 50–100 户" in legend.html
    assert "无户数标准 · 1 个网格" in legend.html
    with pytest.raises(MapError, match="kind"):
        grid_map(grids.drop(columns=["kind"], errors="ignore"), rule="kind")


def test_grid_map_colours_by_kpi_column(grids):
    m = grid_map(grids, color_by="incident_rate")
    props = _props(_layers(m)[0])
    assert props["320508019044003"]["incident_rate"] == 8.0
    assert props["320508019044003"]["_fill"] == SEQUENTIAL[-1]  # highest is darkest
    assert props["320508019044001"]["_fill"] == SEQUENTIAL[0]  # lowest is lightest
    assert "status" not in props["320508019044001"]


def test_grid_map_reprojects_and_geojson_is_lonlat(grids):
    m = grid_map(grids.to_crs(3857), rule="rural")
    coords = _layers(m)[0].data["features"][0]["geometry"]["coordinates"][0]
    assert all(120 < x < 121 and 31 < y < 32 for x, y in coords)


def test_dashboard_kpi_heat_and_popups(grids):
    lon, lat = _points(seed=3)
    cells = aggregate(cells_for_points(lon, lat), res=8)
    kpi = pd.Series({"320508019044001": 0.2, "320508019044002": 3.0, "320508019044003": 9.5})
    m = dashboard_map(grids, heat=cells, kpi=kpi, kpi_label="事件/百户 per 100 hh")
    kpi_layer, hex_layer, grid_layer = _layers(m)
    kp = _props(kpi_layer)
    assert kp["320508019044003"]["_fill"] == KPI_PALETTE[-1]
    assert kp["320508019044001"]["_fill"] == KPI_PALETTE[0]
    # heat and KPI never share colours
    hex_fills = {f["properties"]["_fill"] for f in hex_layer.data["features"]}
    assert hex_fills <= set(HEAT_PALETTE) and not set(HEAT_PALETTE) & set(KPI_PALETTE)
    assert kp["320508019044004"]["_fill"] == NO_DATA_COLOR  # grid without a KPI value
    # Hexagons: one feature per aggregated cell with its count; lon/lat order.
    assert len(hex_layer.data["features"]) == len(cells)
    assert sum(f["properties"]["count"] for f in hex_layer.data["features"]) == 400
    x, y = hex_layer.data["features"][0]["geometry"]["coordinates"][0][0]
    assert 120 < x < 121 and 31 < y < 32
    # Grid layer on top carries code, head, households and the KPI in its popup.
    gp = _props(grid_layer)
    assert gp["320508019044002"]["事件/百户 per 100 hh"] == 3.0
    assert gp["320508019044002"]["head"] == "李娜"
    assert gp["320508019044002"]["households"] == 75
    page = map_html(m)
    assert _shown("事件/百户 per 100 hh", page)
    legend = next(c for c in m._children.values() if c.__class__.__name__ == "Legend")
    assert "每个六边形（边长约 530 米）内的事件数" in legend.html and "H3" not in legend.html


def test_dashboard_kpi_must_match_codes(grids):
    with pytest.raises(MapError, match="no grid code matches the KPI index"):
        dashboard_map(grids, kpi=pd.Series({"999": 1.0}))
    with pytest.raises(MapError, match="Series"):
        dashboard_map(grids, kpi={"320508019044001": 1.0})
    with pytest.raises(MapError, match=r"cell\+count .* or lon\+lat"):
        dashboard_map(grids, heat=pd.DataFrame({"x": [1.0]}))


def test_dashboard_points_from_geodataframe(grids):
    lon, lat = _points(50)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(3857)
    page = map_html(dashboard_map(grids, heat=pts))
    match = re.search(r"L\.heatLayer\(\s*(\[\[.*?\]\])", page, re.S)
    first = json.loads(match.group(1))[0]
    assert first == pytest.approx([lat[0], lon[0]], abs=1e-9)  # leaflet.heat takes [lat, lng]


def test_diff_by_code_and_diff_map(grids):
    old = grids.iloc[:3]  # 001, 002, 003
    new = grids.iloc[1:].copy()  # 002, 003, 004
    new.loc[new["code"] == "320508019044003", "households"] = 120
    d = diff_by_code(old, new)
    change = dict(zip(d["code"], d["change"], strict=True))
    assert change == {
        "320508019044001": "removed",
        "320508019044002": "unchanged",
        "320508019044003": "changed",
        "320508019044004": "added",
    }
    row = d.set_index("code").loc["320508019044003"]
    assert (row["households_before"], row["households_after"]) == (150, 120)
    # a geometry change alone also counts
    moved = new.copy()
    moved.loc[moved["code"] == "320508019044002", "geometry"] = box(120.61, 31.30, 120.62, 31.312)
    assert diff_by_code(old, moved).set_index("code").loc["320508019044002", "change"] == "changed"

    m = diff_map(old, new)
    layers = {layer.layer_name: layer for layer in _layers(m)}
    assert set(layers) == {"unchanged (1)", "changed (1)", "removed (1)", "added (1)"}
    changed = _props(layers["changed (1)"])["320508019044003"]
    assert changed["households_moved"] == "-30"
    assert (
        layers["removed (1)"].style_function(layers["removed (1)"].data["features"][0])["color"]
        == (CHANGE_COLORS["removed"])
    )
    page = map_html(m)
    assert _shown("迁移户数 Households moved", page)


def test_diff_map_accepts_precomputed_diff_and_validates(grids):
    diff = gpd.GeoDataFrame(
        {
            "code": ["a", "b"],
            "change": ["added", "changed"],
            "households_before": [None, 80],
            "households_after": [60, 95],
        },
        geometry=[box(120.6, 31.3, 120.61, 31.31), box(120.61, 31.3, 120.62, 31.31)],
        crs=4326,
    )
    m = diff_map(None, None, diff)
    names = sorted(layer.layer_name for layer in _layers(m))
    assert names == ["added (1)", "changed (1)"]
    assert _props(_layers(m)[0])["b"]["households_moved"] == "+15"
    with pytest.raises(MapError, match="unknown change values \\['moved'\\]"):
        diff_map(None, None, diff.assign(change=["added", "moved"]))
    with pytest.raises(MapError, match="lacks columns \\['households_after'\\]"):
        diff_map(None, None, diff.drop(columns="households_after"))


def test_tiles_option(grids):
    tianditu = Basemap(
        "http://t{s}.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}&y={y}&l={z}",
        "天地图 GS(2024)",
        "天地图",
        18,
        "01234567",
    )
    m = grid_map(grids, tiles=tianditu)
    page = map_html(m)
    assert "tianditu.gov.cn/vec_w/wmts" in page and _shown("天地图 GS(2024)", page)
    assert external_urls(page) == []  # a tile template is the user's basemap, not a page resource
    page2 = map_html(grid_map(grids, tiles=("/tiles/{z}/{x}/{y}.png", "internal")))
    assert "L.tileLayer" in page2 and "/tiles/{z}/{x}/{y}.png" in page2
    assert "L.tileLayer" not in map_html(grid_map(grids))  # offline default: no basemap
    with pytest.raises(MapError, match="attribution"):
        grid_map(grids, tiles="https://x/{z}/{x}/{y}.png")
    with pytest.raises(MapError, match="must contain"):
        grid_map(grids, tiles=("https://x/tiles.png", "x"))


def test_bad_inputs(grids):
    with pytest.raises(MapError, match="no column 'nope'"):
        grid_map(grids, color_by="nope")
    with pytest.raises(MapError, match="GeoDataFrame"):
        grid_map(pd.DataFrame({"code": ["a"]}))
    with pytest.raises(MapError, match="nothing to draw"):
        grid_map(grids.iloc[:0])
    with pytest.raises(MapError, match="assets must be"):
        grid_map(grids, assets="")


def test_missing_assets_name_the_setup_command(grids, monkeypatch, tmp_path):
    monkeypatch.setattr(assets, "VENDOR_DIR", tmp_path / "vendor")
    with pytest.raises(AssetsMissingError, match=re.escape("bash scripts/vendor_assets.sh")):
        grid_map(grids)
    with pytest.raises(AssetsMissingError, match=r"leaflet\.js"):
        assets.check_assets()


def test_vendor_assets_copies_pinned_files(tmp_path):
    node_modules = ROOT / "node_modules"
    written = assets.vendor_assets(node_modules, dest=tmp_path)
    rel = sorted(str(p.relative_to(tmp_path)) for p in written)
    for a in assets.ASSETS.values():
        assert a.path in rel
    assert "leaflet/images/layers.png" in rel
    with pytest.raises(AssetsMissingError, match="npm ci"):
        assets.vendor_assets(tmp_path / "nothing")


def test_asset_helpers():
    urls = assets.asset_urls("/static/vendor/")
    assert urls == {
        "leaflet.css": "/static/vendor/leaflet/leaflet.css",
        "leaflet.js": "/static/vendor/leaflet/leaflet.js",
        "leaflet-heat.js": "/static/vendor/leaflet.heat/leaflet-heat.js",
        "swagger-ui.css": "/static/vendor/swagger-ui/swagger-ui.css",
        "swagger-ui-bundle.js": "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "chart.js": "/static/vendor/chart.js/chart.umd.js",
    }
    css = assets.asset_text("leaflet.css")
    assert "url(images/" not in css and css.count("data:image/png;base64,") >= 3
    assert "sourceMappingURL" not in assets.asset_text("leaflet.js")
    assert assets.inline_tag("leaflet.js").startswith("<script>")
    with pytest.raises(AssetsMissingError, match="unknown asset"):
        assets.asset_path("jquery.js")


def test_external_urls_finds_every_kind():
    page = """
    <script src="https://cdn.example.com/a.js"></script>
    <script src='//cdn.example.com/b.js'></script>
    <script src="/static/vendor/leaflet/leaflet.js"></script>
    <link rel="stylesheet" href="http://cdn.example.com/c.css"/>
    <link rel="stylesheet" href="/static/local.css"/>
    <style>@import "https://fonts.example.com/f.css"; .x{background:url( 'https://img.example.com/i.png' )}
    .y{background:url(images/local.png)} .z{background:url(data:image/png;base64,AAA)}</style>
    <img src=https://img.example.com/j.png>
    <a href="https://leafletjs.com">Leaflet</a>
    """
    assert external_urls(page) == [
        "//cdn.example.com/b.js",
        "http://cdn.example.com/c.css",
        "https://cdn.example.com/a.js",
        "https://fonts.example.com/f.css",
        "https://img.example.com/i.png",
        "https://img.example.com/j.png",
    ]


def test_plain_folium_map_would_fail_the_check():
    # Guard that the check bites: an unmodified folium map links CDNs.
    assert len(external_urls(map_html(folium.Map(tiles=None)))) >= 5


def test_save_map(grids, tmp_path):
    path = save_map(grid_map(grids), tmp_path / "out" / "grids.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "320508019044001" in text


def test_rule_status_and_classify():
    assert rule_status([299, 300, 500, 501], "urban").tolist() == ["below", "within", "within", "above"]
    colors, legend = classify([5, 5, 5])
    assert colors == [SEQUENTIAL[-1]] * 3 and len(legend) == 1
    colors, legend = classify([1.0, None, 3.0])
    assert colors[1] == NO_DATA_COLOR and legend[-1][0] == NO_DATA_COLOR


def test_title_plain_attribution_and_tianditu(grids):
    from geogrid.maps import tianditu_basemap

    m = grid_map(grids, rule="rural", title="东港社区网格", subtitle="方案第 2 版 · 数据截至 2024-05-01")
    page = map_html(m)
    assert "<title>东港社区网格</title>" in page and _shown("方案第 2 版 · 数据截至 2024-05-01", page)
    assert 'attributionControl.setPrefix("Leaflet")' in page  # no flag icon
    with pytest.raises(MapError, match="key"):
        tianditu_basemap("")
    m = grid_map(grids, rule="rural", tiles=tianditu_basemap("k123"))
    tiles = [c for c in m._children.values() if isinstance(c, folium.TileLayer)]
    assert [t.tile_name for t in tiles] == ["天地图", "地名 Place names"]
    assert all("tk=k123" in t.tiles and "{z}" in t.tiles for t in tiles)
    assert tiles[1].overlay and not tiles[0].overlay
