"""Screenshot test: the monthly report page (月度通报), rendered in headless Chromium from a real
server, shows its Chinese title, headline figures, trend charts drawn by the vendored Chart.js,
the rankings, the overdue list and the grid map, with no console error.  The screenshot goes to
``test-artifacts/monthly_report.png`` and is checked for drawn charts (not a blank canvas)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from evaluation_support import NOW, build_month
from incident_support import TOWNSHIP
from PIL import Image
from selenium.webdriver.support.ui import WebDriverWait

from tests.live_support import chromium, console_errors, serve_app

pytestmark = pytest.mark.browser


def test_monthly_report_renders_with_chinese_text_and_charts(app, engine, artifacts_dir):
    ids = build_month(engine)
    with serve_app(app) as url, chromium(size="1100,2600") as browser:
        # opened as a browser opens it, without a key: the public page (public categories)
        browser.get(
            f"{url}/reports/monthly?division={TOWNSHIP}&month=2024-05&at={NOW.strftime('%Y-%m-%dT%H:%M')}"
        )
        WebDriverWait(browser, 20).until(lambda d: d.find_elements("css selector", "body[data-ready='1']"))
        text = browser.find_element("tag name", "body").text
        assert browser.title == "金港街道 2024年5月 网格化服务管理工作通报"
        for words in ("一、主要指标", "受理率", "按期办结率", "满意率", "较上月", "二、近十二个月走势",
                      "村(社区)考评排名", "职能部门考评排名", "超时未办结事件", "每百户事件数"):  # fmt: skip
            assert words in text, words
        assert ids[4] in text  # the 12345 case never accepted is on the overdue list
        # Chart.js drew both charts: their canvases hold coloured pixels
        inked = browser.execute_script(
            "return ['trend-cases', 'trend-rates'].map(id => {"
            "  const c = document.getElementById(id);"
            "  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "  let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; })"
        )
        assert all(n > 1000 for n in inked), inked
        assert browser.execute_script("return typeof Chart") == "function"
        # the map: three grids drawn as SVG paths, a Chinese legend
        assert len(browser.find_elements("css selector", "#heat path.leaflet-interactive")) == 3
        assert "每百户事件数" in browser.find_element("css selector", ".geogrid-legend").text
        assert console_errors(browser) == []
        png = browser.get_screenshot_as_png()
        (artifacts_dir / "monthly_report.png").write_bytes(png)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    # the red title and the blue bars of the cases chart are in the picture
    red = (shot[..., 0] > 140) & (shot[..., 1] < 60) & (shot[..., 2] < 60)
    blue = (abs(shot[..., 0] - 0x4C) < 12) & (abs(shot[..., 1] - 0x78) < 12) & (abs(shot[..., 2] - 0xA8) < 12)
    assert red.sum() > 200 and blue.sum() > 200, (red.sum(), blue.sum())
