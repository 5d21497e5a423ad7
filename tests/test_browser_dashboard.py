"""Headless Chromium loads the dashboard map from a real uvicorn server with no internet.

The server runs in a background thread on 127.0.0.1 against the test database.  The test
asserts the map renders (Leaflet container, grid shapes as SVG paths, the heat layer), that
every resource the page loaded came from 127.0.0.1, and keeps a screenshot in
``test-artifacts/dashboard.png``.
"""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from incident_support import G1, G2, G3, T0, publish_sample

from geogrid import incidents as wf
from geogrid.db import incidents as st
from tests.live_support import chromium, serve_app

pytestmark = pytest.mark.browser


@pytest.fixture
def server(app, engine):
    with serve_app(app) as url:
        yield url


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver


def test_dashboard_renders_offline(engine, server, browser, artifacts_dir):
    publish_sample(engine)
    rng = np.random.default_rng(5)
    # A hot spot in the east grid and scattered reports elsewhere.
    lon = np.r_[120.615 + rng.normal(0, 0.001, 150), 120.60 + rng.random(100) * 0.04]
    lat = np.r_[31.305 + rng.normal(0, 0.001, 150), 31.30 + rng.random(100) * 0.01]
    frame = pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "category": "HW01",
            "created_at": [T0 + timedelta(hours=i) for i in range(lon.size)],
        }
    )
    st.import_incidents(engine, frame, catalogue=wf.load_catalogue())

    browser.get(f"{server}/maps/dashboard?kpi=per_100_households&res=10")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 20).until(
        lambda d: (
            d.execute_script("return document.querySelectorAll('.leaflet-overlay-pane path').length") > 0
        )
    )
    assert browser.find_elements("css selector", ".leaflet-container")
    paths = browser.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-overlay-pane path'))"
        ".map(p => [p.getAttribute('fill'), p.getAttribute('stroke'), p.getAttribute('fill-opacity')])"
    )
    # grid boundaries: dark stroke, transparent fill; three grids
    boundaries = [p for p in paths if p[1] == "#222222"]
    assert len(boundaries) == 3
    # the heat layer: many hexagons without stroke, filled with the sequential palette
    hexagons = [p for p in paths if p[1] is None or p[1] == "none"]
    assert len(hexagons) > 20
    names = browser.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(l => l.textContent.trim())"
    )
    assert any("H3" in n or "事件" in n for n in names) and any("Grid" in n for n in names)
    assert browser.execute_script("return typeof L") == "object"
    legend = browser.find_element("css selector", ".leaflet-control-container").text
    assert "Incidents per 100 households" in legend

    urls = browser.execute_script(
        "return [document.location.href].concat(performance.getEntriesByType('resource').map(e => e.name))"
    )
    assert len(urls) >= 3  # the page, leaflet.js, leaflet.css at least
    outside = [u for u in urls if not u.startswith("http://127.0.0.1:") and not u.startswith("data:")]
    assert outside == [], f"requests left localhost: {outside}"
    assert any(u.endswith("leaflet.js") for u in urls)

    # clicking inside a grid opens its popup with its code and the KPI
    from selenium.webdriver.common.action_chains import ActionChains

    grid = next(
        p
        for p in browser.find_elements("css selector", ".leaflet-overlay-pane path")
        if p.get_attribute("stroke") == "#222222"
    )
    ActionChains(browser).move_to_element(grid).click().perform()
    WebDriverWait(browser, 5).until(lambda d: d.find_elements("css selector", ".leaflet-popup-content"))
    popup = browser.find_element("css selector", ".leaflet-popup-content").text
    assert any(code in popup for code in (G1, G2, G3)) and "100 households" in popup, popup
    time.sleep(0.5)  # let the popup's fade-in finish before the screenshot
    shot = artifacts_dir / "dashboard.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
