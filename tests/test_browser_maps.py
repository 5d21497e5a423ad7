"""Screenshot tests: the map pages a county leader puts on a screen, rendered in headless
Chromium from a real server, show the text they should (title with the division's name, plan
version and data date; Chinese legends without jargon; no flag in the attribution; the
favicon) and a bad division gets an HTML page.  Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from incident_support import T0, TOWNSHIP, V1, publish_sample
from selenium.webdriver.support.ui import WebDriverWait

from geogrid import incidents as wf
from geogrid.db import incidents as st
from tests.live_support import chromium, console_errors, serve_app

pytestmark = pytest.mark.browser


@pytest.fixture
def site(app, engine):
    publish_sample(engine)
    rng = np.random.default_rng(11)
    n = 120
    frame = pd.DataFrame(
        {
            "lon": 120.60 + rng.random(n) * 0.04,
            "lat": 31.30 + rng.random(n) * 0.01,
            "category": np.where(np.arange(n) % 2 == 0, "HW01", "CG01"),
            "created_at": [T0 + timedelta(hours=i) for i in range(n)],
        }
    )
    st.import_incidents(engine, frame, catalogue=wf.load_catalogue())
    with serve_app(app) as url, chromium() as browser:
        yield url, browser


def _open(browser, url: str) -> str:
    browser.get(url)
    WebDriverWait(browser, 20).until(lambda d: d.find_elements("css selector", ".geogrid-legend"))
    return browser.find_element("tag name", "body").text


def test_grid_map_page_speaks_to_leaders(site, artifacts_dir):
    url, browser = site
    text = _open(browser, f"{url}/maps/grids?division={TOWNSHIP}")
    # title: the division's name, the plan version and its date
    assert "金港街道 网格划分" in text and "2 个方案（第 1 版）" in text and "发布" in text  # one per village
    assert browser.title == "金港街道 网格划分"
    # legend: Chinese, the households against the bounds, no jargon
    assert "网格户数与标准" in text and "城镇 300–500 户" in text and "农村 50–100 户" in text
    assert "低于下限" in text and "个网格" in text and "H3" not in text
    # attribution: the word, without Leaflet's flag icon
    attribution = browser.find_element("css selector", ".leaflet-control-attribution")
    assert "Leaflet" in attribution.text
    assert attribution.find_elements("css selector", "svg, img") == []
    # the favicon is served (browsers ask for it; a 404 shows as a console error)
    assert (
        browser.execute_script(
            "return fetch('/favicon.ico').then(r => r.status + ' ' + r.headers.get('content-type'))"
        )
        == "200 image/x-icon"
    )
    assert console_errors(browser) == []
    browser.save_screenshot(str(artifacts_dir / "grids_map.png"))


def test_dashboard_page_names_the_data_date_and_uses_two_palettes(site, artifacts_dir):
    url, browser = site
    text = _open(browser, f"{url}/maps/dashboard?division={V1}&res=9")
    assert "东港社区 网格事件态势" in text
    assert "数据截至 2024-05-" in text  # the newest incident, China time
    assert "方案第 1 版" in text
    assert "事件热力：每个六边形（边长约 200 米）内的事件数" in text and "H3" not in text
    assert "指标：每百户事件数" in text
    # heat and KPI legends do not share a colour
    swatches = browser.execute_script(
        "return Array.from(document.querySelectorAll('.geogrid-legend h4')).map(h => {"
        "  const out = []; let n = h.nextElementSibling;"
        "  while (n && n.tagName === 'DIV') { out.push(n.querySelector('i').style.background); n = n.nextElementSibling; }"
        "  return [h.textContent, out]; })"
    )
    by_title = {title: set(colours) for title, colours in swatches}
    heat = next(c for t, c in by_title.items() if t.startswith("事件热力"))
    kpi = next(c for t, c in by_title.items() if t.startswith("指标"))
    assert heat and kpi and not heat & kpi
    assert console_errors(browser) == []
    browser.save_screenshot(str(artifacts_dir / "dashboard_titled.png"))


def test_a_bad_division_gets_an_html_page(site, artifacts_dir):
    url, browser = site
    for division, words in (("320508019099", "未找到"), ("abc", "请求有误")):
        browser.get(f"{url}/maps/grids?division={division}")
        text = browser.find_element("tag name", "body").text
        assert words in text and "返回首页" in text and "{" not in text  # a page, not raw JSON
    browser.save_screenshot(str(artifacts_dir / "map_error_page.png"))
