"""The evaluation API: rankings and grades with Chinese names as JSON, .xlsx and CSV; persons
for staff only, inside their scope; public readers count the public categories; follow-ups
by the reporter or a dispatcher; 12345 ticket numbers on reports; the monthly report page;
the ``geogrid evaluate`` command."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from evaluation_support import NOW, build_month
from incident_support import G1, G2, G3, IN_G1, TOWNSHIP, V2
from openpyxl import load_workbook
from typer.testing import CliRunner

from api.deps import get_now
from geogrid.db import keys

Q = {"period": "2024-05", "at": NOW.isoformat()}


@pytest.fixture
def month(engine):
    return build_month(engine)


@pytest.fixture
def cli_env(engine, db_url, monkeypatch):
    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    return engine


def test_grid_rankings_with_chinese_names_and_grades(client, month, api_key):
    body = client.get("/evaluation", params={**Q, "level": "grid"}, headers=api_key("viewer")).json()
    assert (body["level_name"], body["period_name"], body["method_name"]) == (
        "网格",
        "2024年5月",
        "按名额比例",
    )
    assert body["from"] == "2024-05-01T00:00:00+08:00" and body["to"] == "2024-06-01T00:00:00+08:00"
    assert body["quota"] == {"excellent": 1, "good": 2, "pass": 7} and body["min_cases"] == 5
    # min_cases 5: none of the three grids (2, 1 and 2 cases) is graded, each says why
    assert [(r["code"], r["name"], r["rank"], r["grade_name"]) for r in body["rows"]] == [
        (G1, "东港一网格", None, "不参评"),
        (G2, "东港二网格", None, "不参评"),
        (G3, "西塘网格", None, "不参评"),
    ]
    assert body["rows"][0]["note"] == "案件数 2 件少于 5 件，不参评" and body["not_graded"] == 3
    assert (
        body["rate_names"]["on_time_completion_rate"] == "按期办结率"
        and body["count_names"]["reopened"] == "返工数"
    )
    # thresholds instead of the quota still need five cases; a bad quota is a 400 naming it
    assert client.get("/evaluation", params={**Q, "method": "thresholds"}).json()["method_name"] == "按分数线"
    bad = client.get("/evaluation", params={**Q, "quota": "1-2-7"})
    assert bad.status_code == 400 and "1:2:7" in bad.json()["detail"]
    assert client.get("/evaluation", params={**Q, "level": "street"}).status_code == 400
    assert client.get("/evaluation", params={"period": "2024-13"}).status_code == 400


def test_exports_open_in_excel(client, month, api_key):
    viewer = api_key("viewer")
    r = client.get("/evaluation", params={**Q, "level": "township", "format": "xlsx"}, headers=viewer)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert 'filename="evaluation-township-2024-05.xlsx"' in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["考评结果", "指标权重", "评定规则"]
    sheet = wb["考评结果"]
    headers = [c.value for c in sheet[1]]
    row = dict(zip(headers, [c.value for c in sheet[2]], strict=True))
    assert (row["编码"], row["名称"], row["案件数"], row["超时未办结数"]) == (TOWNSHIP, "金港街道", 5, 2)
    assert row["满意率"] == round(2 / 3, 4)  # 满意, 基本满意, 不满意
    r = client.get("/evaluation", params={**Q, "level": "worker", "format": "csv"}, headers=viewer)
    assert r.content.startswith(b"\xef\xbb\xbf") and r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:4] == ["排名", "等次", "编码", "名称"]
    assert sorted(t[3] for t in table[1:]) == ["李雷（专职网格员，东港二网格）", "王芳（网格长，东港一网格）",
                                               "赵敏（网格长，西塘网格）"]  # fmt: skip


def test_persons_are_ranked_for_staff_only_and_inside_their_division(client, engine, month, api_key):
    assert client.get("/evaluation", params={**Q, "level": "worker"}).status_code == 403
    assert (
        client.get("/evaluation", params={**Q, "level": "worker"}, headers=api_key("resident")).status_code
        == 403
    )
    worker = api_key("worker", grid_codes=[G1])
    assert client.get("/evaluation", params={**Q, "level": "worker"}, headers=worker).status_code == 403
    west = {
        "X-API-Key": keys.create_key(engine, "西塘调度", "dispatcher", scope={"division": V2, "centre": V2})
    }
    rows = client.get("/evaluation", params={**Q, "level": "worker"}, headers=west).json()["rows"]
    assert [r["name"] for r in rows] == ["赵敏（网格长，西塘网格）"]
    # the same scope counts only its own incidents at every level
    grids = client.get("/evaluation", params={**Q, "level": "grid"}, headers=west).json()["rows"]
    assert [(r["code"], r["counts"]["cases"]) for r in grids] == [(G3, 2)]


def test_public_readers_count_public_categories_only(client, month, api_key):
    # the MD01 dispute in G3 is not public: anonymous readers see one case there (the rejected
    # one is not public either), staff see two
    public = {
        r["code"]: r["counts"]
        for r in client.get("/evaluation", params={**Q, "level": "grid"}).json()["rows"]
    }
    staff = client.get("/evaluation", params={**Q, "level": "grid"}, headers=api_key("viewer")).json()["rows"]
    assert public[G3]["cases"] == 0 and {r["code"]: r["counts"]["cases"] for r in staff}[G3] == 2
    assert public[G1]["cases"] == 2
    assert client.get("/evaluation", params={**Q, "category": "MD01"}).status_code == 403


def test_follow_ups_through_the_api(client, engine, month, api_key):
    dispatcher = api_key("dispatcher")
    pid = client.post(
        "/incidents",
        json={
            "category": "HW01",
            "lon": IN_G1[0],
            "lat": IN_G1[1],
            "source": "hotline",
            "hotline_ticket": "A-2024-77",
        },
        headers=dispatcher,
    ).json()["id"]
    admin = api_key("admin")
    for action in ("accept", "start", "resolve", "verify", "close"):
        r = client.post(f"/incidents/{pid}/transitions", json={"action": action}, headers=admin)
        assert r.status_code == 200, r.text
    shown = client.get(f"/incidents/{pid}", headers=admin).json()
    assert (shown["hotline_ticket"], shown["callback_status"], shown["callback_status_name"]) == (
        "A-2024-77", "pending", "待回访")  # fmt: skip
    assert client.post(f"/incidents/{pid}/followups", json={"verdict": "不满意"}).status_code == 401
    assert (
        client.post(
            f"/incidents/{pid}/followups", json={"verdict": "不满意"}, headers=api_key("resident")
        ).status_code
        == 403
    )
    assert (
        client.post(f"/incidents/{pid}/followups", json={"verdict": "一般"}, headers=dispatcher).status_code
        == 400
    )
    r = client.post(
        f"/incidents/{pid}/followups",
        json={"verdict": "不满意", "note": "垃圾又堆回来了"},
        headers=dispatcher,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["followup"]["verdict_name"] == "不满意" and body["followup"]["reopened"] is True
    assert (
        body["incident"]["status"] == "in_progress"
        and body["incident"]["callback_status_name"] == "不满意重办"
    )
    assert "重新处置" in body["reason"]
    listed = client.get(f"/incidents/{pid}/followups", headers=dispatcher).json()
    assert listed["hotline_ticket"] == "A-2024-77" and [f["note"] for f in listed["items"]] == [
        "垃圾又堆回来了"
    ]
    assert client.get(f"/incidents/{pid}/followups").status_code == 401
    detail = client.get(f"/incidents/{pid}", headers=admin).json()
    assert [h["action"] for h in detail["history"]][-2:] == ["follow_up", "reopen"]
    assert detail["followups"][0]["channel_name"] == "12345热线回访"
    again = client.post(f"/incidents/{pid}/followups", json={"verdict": "满意"}, headers=dispatcher)
    assert again.status_code == 409  # not closed any more
    dup = client.post("/incidents", json={"category": "HW01", "lon": IN_G1[0], "lat": IN_G1[1], "source": "hotline",
                                          "hotline_ticket": "A-2024-77"}, headers=dispatcher)  # fmt: skip
    assert dup.status_code == 409 and "A-2024-77" in dup.json()["detail"]


def test_the_window_is_a_setting(engine, month, tmp_path, api_key):
    from fastapi.testclient import TestClient

    from api import create_app
    from api.settings import Settings

    settings = Settings(
        database_url=str(engine.url), photo_dir=tmp_path, reopen_within_days=0, rate_limit_per_key=0
    )
    app = create_app(settings, engine=engine)
    clock = [NOW]
    app.dependency_overrides[get_now] = lambda: clock[0]
    admin = api_key("admin")
    with TestClient(app) as c:
        # with a window of 0 days an unsatisfied verdict a minute after closing no longer reopens
        pid = c.post("/incidents", json={"category": "HW01", "lon": IN_G1[0], "lat": IN_G1[1]},
                     headers=api_key("dispatcher")).json()["id"]  # fmt: skip
        for action in ("accept", "start", "resolve", "verify", "close"):
            c.post(f"/incidents/{pid}/transitions", json={"action": action}, headers=admin)
        clock[0] = NOW + timedelta(minutes=1)
        done = c.post(f"/incidents/{pid}/followups", json={"verdict": "不满意"}, headers=admin).json()
    assert done["incident"]["status"] == "closed" and done["reason"] == "结案已超过 0 天，不满意不再重办"
    assert done["followup"]["reopened"] is False


def test_monthly_report_page(client, month, api_key):
    r = client.get("/reports/monthly", params={"division": TOWNSHIP, "month": "2024-05", "at": NOW.isoformat()},
                   headers=api_key("viewer"))  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<title>金港街道 2024年5月 网格化服务管理工作通报</title>" in page
    assert "/static/vendor/chart.js/chart.umd.js" in page and "/static/vendor/leaflet/leaflet.js" in page
    assert "村(社区)考评排名" in page and "职能部门考评排名" in page
    assert month[4] in page and month[2] in page  # the overdue list: never accepted, reopened
    assert "东港二网格" in page
    assert client.get("/static/vendor/chart.js/chart.umd.js").status_code == 200
    # no division: an HTML page saying so; a quarter is not a month
    missing = client.get("/reports/monthly")
    assert (
        missing.status_code == 400
        and "区划" in missing.text
        and missing.headers["content-type"].startswith("text/html")
    )
    assert (
        client.get("/reports/monthly", params={"division": TOWNSHIP, "month": "2024-Q2"}).status_code == 400
    )
    # the public page: public categories, so the dispute is in no figure
    public = client.get("/reports/monthly", params={"division": TOWNSHIP, "month": "2024-05"}).text
    assert "公开范围：仅含可公开类别" in public and month[3] not in public


def test_evaluate_command_prints_and_exports(cli_env, engine, month, tmp_path):
    from geogrid.cli import app

    runner = CliRunner()
    out = tmp_path / "网格考评.xlsx"
    r = runner.invoke(app, ["evaluate", "--level", "grid", "--period", "2024-05", "--min-cases", "1",
                            "--at", NOW.isoformat(), "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "2024年5月 网格考评" in r.output and "西塘网格" in r.output and "良好" in r.output
    assert load_workbook(out)["考评结果"]["D2"].value == "西塘网格"
    csv_out = tmp_path / "t.csv"
    r = runner.invoke(app, ["evaluate", "--level", "township", "--period", "2024-Q2", "--out", str(csv_out)])
    assert r.exit_code == 0, r.output
    assert csv_out.read_bytes().startswith(b"\xef\xbb\xbf") and "金港街道" in csv_out.read_text(
        encoding="utf-8-sig"
    )
    html = tmp_path / "通报.html"
    r = runner.invoke(
        app, ["report", "monthly", "--division", TOWNSHIP, "--month", "2024-05", "--out", str(html)]
    )
    assert r.exit_code == 0, r.output
    page = html.read_text(encoding="utf-8")
    assert "金港街道 2024年5月" in page
    # one file that opens anywhere: Chart.js, Leaflet and its style are inside it
    assert (
        'src=""' not in page and 'href=""' not in page and "Chart.js v4" in page and ".leaflet-pane" in page
    )
    bad = runner.invoke(app, ["evaluate", "--period", "May"])
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output
