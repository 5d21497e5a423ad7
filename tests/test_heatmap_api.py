"""Heatmap endpoints: PostGIS H3 counts equal a Python-side h3 aggregation of the same points;
MVT tiles; the per-grid choropleth; dashboard statistics and map pages."""

from __future__ import annotations

from datetime import timedelta

import h3
import mapbox_vector_tile
import numpy as np
import pytest
from incident_support import G1, G2, G3, IN_G1, T0, publish_sample

from geogrid import heat
from geogrid import incidents as wf
from geogrid.db import incidents as st

CAT = wf.load_catalogue()
N = 400


def test_import_matches_create(engine):
    """A bulk import places and indexes incidents exactly as a single report does."""
    import pandas as pd

    publish_sample(engine)
    one = st.create(engine, st.NewIncident("HW01", *IN_G1, "hotline"), catalogue=CAT, now=T0).incident
    frame = pd.DataFrame({"lon": [IN_G1[0]], "lat": [IN_G1[1]], "category": ["HW01"], "created_at": [T0]})
    assert st.import_incidents(engine, frame, catalogue=CAT) == 1
    two = st.get(engine, "E00000002")
    same = (
        "category_major",
        "status",
        "h3_cell",
        "grid_code",
        "village_code",
        "township_code",
        "accept_due",
        "complete_due",
        "created_at",
        "source",
        "lon",
        "lat",
    )
    assert {k: getattr(two, k) for k in same} == {k: getattr(one, k) for k in same}
    assert [h.action for h in st.history(engine, "E00000002")] == ["report"]
    with pytest.raises(wf.CategoryError, match="row 1"):
        st.import_incidents(engine, frame.assign(category="ZZ"), catalogue=CAT)


@pytest.fixture
def points(engine):
    """N seeded incidents over the sample county (and a few outside it), created through the library."""
    publish_sample(engine)
    rng = np.random.default_rng(42)
    lon = np.r_[120.60 + rng.random(N) * 0.04, 120.70 + rng.random(20) * 0.01]
    lat = np.r_[31.30 + rng.random(N) * 0.01, 31.40 + rng.random(20) * 0.01]
    cats = np.where(rng.random(lon.size) < 0.5, "HW01", "CG01")
    import pandas as pd

    created = [T0 + timedelta(days=int(i % 60)) for i in range(lon.size)]
    frame = pd.DataFrame({"lon": lon, "lat": lat, "category": cats, "created_at": created})
    assert st.import_incidents(engine, frame, catalogue=CAT) == lon.size
    return lon, lat, cats


def python_counts(lon, lat, res) -> dict[str, int]:
    """Counts per cell with the h3 library alone: the res-`res` parent of each point's stored res-12 cell.

    (Not ``latlng_to_cell(p, res)``: H3 children do not tile their parent exactly, so near cell
    edges a point's coarse cell can differ from its fine cell's parent.  The heatmap is defined
    by the stored fine cell, as the issue asks.)
    """
    counts: dict[str, int] = {}
    for x, y in zip(lon, lat, strict=True):
        c = h3.cell_to_parent(h3.latlng_to_cell(float(y), float(x), heat.STORED_RES), res)
        counts[c] = counts.get(c, 0) + 1
    return counts


@pytest.mark.parametrize("res", [6, 8, 9, 11])
def test_heatmap_counts_equal_python_h3(client, points, res, api_key):
    lon, lat, _ = points
    # Anonymous heat stops at res 10 (about 100 m); a staff key sees finer cells.
    headers = api_key("viewer") if res > 10 else {}
    fc = client.get(f"/heatmap?res={res}", headers=headers).json()
    got = {f["properties"]["cell"]: f["properties"]["count"] for f in fc["features"]}
    assert got == python_counts(lon, lat, res)
    assert fc["total"] == lon.size and fc["res"] == res
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    assert 120 < ring[0][0] < 121 and 31 < ring[0][1] < 32  # lon first


def test_heatmap_filters(client, points):
    lon, lat, cats = points
    box = (120.60, 31.30, 120.62, 31.31)
    inside = (lon >= box[0]) & (lon <= box[2]) & (lat >= box[1]) & (lat <= box[3])
    fc = client.get("/heatmap?res=9&bbox=" + ",".join(map(str, box))).json()
    assert {f["properties"]["cell"]: f["properties"]["count"] for f in fc["features"]} == python_counts(
        lon[inside], lat[inside], 9
    )
    fc = client.get("/heatmap?res=8&category=HW01").json()
    assert fc["total"] == int((cats == "HW01").sum())
    fc = client.get("/heatmap?res=8&category=HW").json()  # major category
    assert fc["total"] == int((cats == "HW01").sum())
    days = np.arange(lon.size) % 60
    fc = client.get("/heatmap?res=8&from=2024-05-01T01:00:00Z&to=2024-05-11T01:00:00Z").json()
    assert fc["total"] == int((days < 10).sum())
    assert client.get("/heatmap?res=8&status=reported").json()["total"] == lon.size
    assert client.get("/heatmap?res=8&status=closed").json()["total"] == 0
    assert client.get(f"/heatmap?res=8&division={G1}").json()["total"] == int(
        ((lon < 120.61) & (lat < 31.31) & (lon >= 120.6)).sum()
    )


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("res=13", "res"),
        ("res=8&bbox=1,2,3", "bbox"),
        ("res=8&bbox=120.7,31.3,120.6,31.4", "west"),
        ("format=mvt", "needs the tile"),
        ("format=png", "format"),
        ("res=8&from=soon", "from"),
        ("res=8&status=lost", "status"),
    ],
)
def test_heatmap_bad_input(client, points, query, needle):
    r = client.get("/heatmap?" + query)
    assert 400 <= r.status_code < 500 and needle in r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_heatmap_mvt(client, points):
    lon, lat, _ = points
    import math

    z = 14
    x = int((120.62 + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(31.305))) / math.pi) / 2 * 2**z)
    for url in (f"/heatmap/tiles/{z}/{x}/{y}?res=9", f"/heatmap?format=mvt&res=9&z={z}&x={x}&y={y}"):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        layer = mapbox_vector_tile.decode(r.content)["heat"]
        got = {f["properties"]["cell"]: f["properties"]["count"] for f in layer["features"]}
        want = python_counts(lon, lat, 9)
        # every cell drawn in the tile carries its full count
        assert got and all(got[c] == want[c] for c in got)
    assert client.get("/heatmap/tiles/3/99/0").status_code == 400


def test_grid_choropleth(client, points):
    lon, lat, _ = points
    fc = client.get("/heatmap/grids").json()
    props = {f["id"]: f["properties"] for f in fc["features"]}
    assert set(props) == {G1, G2, G3}
    in_g1 = int(((lon >= 120.60) & (lon < 120.61) & (lat <= 31.31)).sum())
    assert props[G1]["incidents"] == in_g1 and props[G1]["households"] == 400
    assert props[G1]["per_100_households"] == round(100 * in_g1 / 400, 3)
    assert sum(p["incidents"] for p in props.values()) == N  # the 20 outside points have no grid
    assert client.get("/heatmap/grids?division=320508019002").json()["features"][0]["id"] == G3


def test_stats_endpoint(client, points, api_key):
    r = client.get("/stats?group_by=grid&period=month&at=2024-05-01T00:00:00Z")
    body = r.json()
    assert r.status_code == 200 and body["summary"]["total"] == N + 20
    assert sum(row["total"] for row in body["rows"]) == N + 20
    assert {row["period"] for row in body["rows"]} == {"2024-05", "2024-06"}
    cats = client.get("/stats?group_by=category").json()["rows"]
    assert {(c["key"], c["name"]) for c in cats} == {("HW", "人居环境"), ("CG", "城乡管理")}
    far = client.get("/stats?at=2100-01-01").json()["summary"]
    assert far["overdue"] == N + 20 and far["acceptance_rate"] == 0.0
    assert client.get("/stats?group_by=colour").status_code == 400
    assert client.get("/stats?period=week").status_code == 400


def test_map_pages(client, points):
    r = client.get("/maps/dashboard?kpi=per_100_households")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "/static/vendor/" in page and "unpkg" not in page and "cdn" not in page.lower()
    assert G1 in page and "Incidents per 100 households" in page and "<title>" in page
    from geogrid.maps import external_urls

    assert external_urls(page) == []
    assert (
        client.get("/maps/dashboard?division=320508019002&kpi=completion_rate&category=HW").status_code == 200
    )
    # Errors of map pages are HTML pages (opened in browsers), in Chinese first.
    for url, status in (
        ("/maps/dashboard?division=320508019099", 404),
        ("/maps/dashboard?kpi=beauty", 400),
        ("/maps/grids?rule=lots", 400),
        ("/maps/grids?division=abc", 400),
    ):
        r = client.get(url)
        assert r.status_code == status and r.headers["content-type"].startswith("text/html"), url
        assert "返回首页" in r.text and "<h1>" in r.text
    assert "未找到" in client.get("/maps/grids?division=320508019099").text
    assert client.get("/maps/grids?rule=300-500").status_code == 200
    # By default each grid is judged by its own kind's rule: the legend names both bounds.
    page = client.get("/maps/grids").text
    # (the legend travels JSON-escaped inside the page: non-ASCII as \\uXXXX)
    assert "\\u57ce\\u9547 300\\u2013500" in page and "\\u519c\\u6751 50\\u2013100" in page  # 城镇, 农村
