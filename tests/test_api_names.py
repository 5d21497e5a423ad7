"""Every code in an answer comes with its Chinese name; errors speak the client's language.

The convention (``api/names.py``): ``code``/``key`` → ``name``, ``<x>_code`` → ``<x>_name``,
any other code field ``<x>`` → ``<x>_name``.  :func:`bare_codes` walks an answer and lists
every division/grid code, category code or status that has no name next to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from incident_support import (
    G1,
    G2,
    G3,
    IN_G1,
    IN_G2,
    IN_G3,
    TOWNSHIP,
    V1,
    install_organisation,
    publish_sample,
)

from api.names import name_field
from geogrid import incidents as wf

CATALOGUE = wf.load_catalogue()
DIGIT_CODE = re.compile(r"^\d{12}(\d{3}(\d{2})?)?$")
# Not codes although they may look like one: an H3 cell in hex, the echo of a query parameter.
NOT_CODES = {"h3_cell", "group_by", "period", "rank_by", "query", "normalised"}


def _is_code(value: object) -> bool:
    if not isinstance(value, str):
        return False
    return bool(
        DIGIT_CODE.match(value)
        or value in CATALOGUE.categories
        or value in CATALOGUE.majors
        or value in wf.STATUS_NAMES
    )


def bare_codes(doc: object, path: str = "$") -> Iterator[str]:
    """Paths of codes in ``doc`` without a non-empty name beside them."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in NOT_CODES:
                continue
            # A GeoJSON feature's id is named by its properties (code and name).
            named = doc.get(name_field(key))
            if key == "id" and doc.get("type") == "Feature":
                named = (doc.get("properties") or {}).get("name")
            if _is_code(value) and not named:
                yield f"{path}.{key}={value}"
            yield from bare_codes(value, f"{path}.{key}")
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            if _is_code(value):
                yield f"{path}[{i}]={value}"
            yield from bare_codes(value, f"{path}[{i}]")


def test_the_walker_finds_bare_codes():
    assert list(bare_codes({"a": {"grid_code": G1}, "b": [{"status": "closed"}]})) == [
        "$.a.grid_code=" + G1,
        "$.b[0].status=closed",
    ]
    assert list(bare_codes({"code": G1, "name": "一网格", "category": "HW01", "category_name": "x"})) == []


@pytest.fixture
def busy_county(client, engine, api_key):
    """The sample county with incidents in every grid, some dispatched, resolved and closed."""
    publish_sample(engine)
    install_organisation(engine)
    dispatcher = api_key("dispatcher", name="centre")
    worker = api_key("worker", name="w1", grid_codes=[G1, G2, G3])
    ids = []
    for where, category in ((IN_G1, "HW01"), (IN_G2, "邻里纠纷"), (IN_G3, "CG01"), (IN_G1, "AQ02")):
        payload = {"category": category, "lon": where[0], "lat": where[1], "description": "巡查发现"}
        r = client.post("/incidents", json=payload, headers=worker)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    for action in ("accept", "dispatch"):
        headers = worker if action == "accept" else dispatcher
        r = client.post(f"/incidents/{ids[0]}/transitions", json={"action": action}, headers=headers)
        assert r.status_code == 200, r.text
    client.post(f"/incidents/{ids[1]}/transitions", json={"action": "accept"}, headers=worker)
    client.post(f"/incidents/{ids[1]}/transitions", json={"action": "escalate"}, headers=worker)
    return {"ids": ids, "dispatcher": dispatcher}


def test_incidents_stats_rankings_and_lookups_name_every_code(client, busy_county):
    h = busy_county["dispatcher"]
    first = busy_county["ids"][0]
    answers = {
        "incidents": client.get("/incidents", headers=h),
        "incident": client.get(f"/incidents/{first}", headers=h),
        "overdue": client.get("/incidents/overdue?at=2099-01-01T00:00:00%2B08:00", headers=h),
        "duplicates": client.get(f"/incidents/{first}/duplicates?radius_m=5000", headers=h),
        "open311": client.get("/open311/v2/requests.json"),
        "lookup": client.get(f"/lookup?lon={IN_G2[0]}&lat={IN_G2[1]}"),
        "lookup_address": client.get("/lookup?address=东港社区人民路12号"),
        "lookup_batch": client.post("/lookup/batch", json={"points": [list(IN_G1), list(IN_G3)]}),
        "lookup_batch_addresses": client.post("/lookup/batch", json={"addresses": ["西塘路5号"]}),
        "grid_rates": client.get("/heatmap/grids"),
        "grids": client.get("/collections/grids/items"),
        "divisions": client.get("/collections/divisions/items"),
        "addresses": client.get("/collections/addresses/items"),
        "hierarchy": client.get(f"/hierarchy/{G1}"),
    }
    for group in wf_groups():
        answers[f"stats_{group}"] = client.get(f"/stats?group_by={group}&period=month", headers=h)
        answers[f"ranking_{group}"] = client.get(f"/stats?group_by={group}&rank_by=total", headers=h)
    answers["stats_category_public"] = client.get("/stats?group_by=category")
    for what, r in answers.items():
        assert r.status_code == 200, (what, r.text)
        assert list(bare_codes(r.json())) == [], what
    # and the names are the right ones
    incident = answers["incident"].json()
    assert incident["grid_name"] == "东港一网格" and incident["village_name"] == "东港社区"
    assert incident["township_name"] == "金港街道" and incident["status_name"] == "已派遣"
    assert incident["category"] == {
        "major": "HW",
        "minor": "HW01",
        "major_name": "人居环境",
        "minor_name": "垃圾乱堆乱放",
    }
    assert [e["action_name"] for e in incident["history"]] == ["上报", "受理", "派遣"]
    townships = answers["ranking_township"].json()["rows"]
    assert [(r["key"], r["name"], r["rank"]) for r in townships] == [(TOWNSHIP, "金港街道", 1)]
    villages = {r["key"]: r["name"] for r in answers["stats_village"].json()["rows"]}
    assert villages[V1] == "东港社区"
    categories = {r["key"]: r["name"] for r in answers["stats_category"].json()["rows"]}
    assert categories == {"HW": "人居环境", "MD": "矛盾纠纷", "CG": "城乡管理", "AQ": "安全隐患"}
    # anonymous readers count the public categories only (disputes are not posted on a notice board)
    public = {r["key"]: r["name"] for r in answers["stats_category_public"].json()["rows"]}
    assert public == {k: v for k, v in categories.items() if k != "MD"}


def wf_groups() -> list[str]:
    from geogrid.db.incidents import STAT_GROUPS

    return list(STAT_GROUPS)


def test_categories_by_chinese_name_in_filters(client, busy_county):
    h = busy_county["dispatcher"]
    by_name = client.get("/incidents?category=矛盾纠纷", headers=h).json()
    by_code = client.get("/incidents?category=MD", headers=h).json()
    assert by_name["total"] == by_code["total"] == 1
    assert by_name["items"][0]["category"]["minor_name"] == "邻里纠纷"
    assert client.get("/stats?category=邻里纠纷,垃圾乱堆乱放", headers=h).json()["summary"]["total"] == 2
    # anonymous: the dispute is not public, the rubbish is
    assert client.get("/stats?category=邻里纠纷,垃圾乱堆乱放").json()["summary"]["total"] == 1
    r = client.get("/incidents?category=没有这类", headers=h)
    assert r.status_code == 400 and "没有这类" in r.json()["detail"]


@pytest.mark.parametrize(
    ("accept_language", "title", "language"),
    [
        (None, "未找到", "zh-CN"),  # the default language
        ("zh-CN,zh;q=0.9", "未找到", "zh-CN"),
        ("en-US,en;q=0.9", "Not found", "en"),
        ("en;q=0.5, zh-CN;q=0.8", "未找到", "zh-CN"),
        ("fr-FR", "未找到", "zh-CN"),
    ],
)
def test_problems_speak_the_clients_language(client, accept_language, title, language):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    r = client.get("/collections/nope", headers=headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert (body["title"], body["kind"], r.headers["content-language"]) == (title, "not-found", language)
    assert "nope" in body["detail"]  # the specific reason stays


def test_default_language_is_a_setting(engine, tmp_path):
    from fastapi.testclient import TestClient

    from api import create_app
    from api.settings import Settings

    app = create_app(Settings(database_url=str(engine.url), photo_dir=tmp_path, language="en"), engine=engine)
    with TestClient(app) as c:
        assert c.get("/collections/nope").json()["title"] == "Not found"
        assert c.get("/collections/nope", headers={"Accept-Language": "zh"}).json()["title"] == "未找到"
        r = c.get("/incidents")
        assert r.status_code == 401 and r.json()["title"] == "Unauthorized"


def test_plans_name_their_scope_and_status(client, engine):
    publish_sample(engine)
    plans = client.get("/plans").json()["plans"]
    assert {(p["scope_code"], p["scope_name"], p["status_name"]) for p in plans} == {
        (V1, "东港社区", "已发布"),
        ("320508019002", "西塘村", "已发布"),
    }
    assert list(bare_codes(plans)) == []
