"""Address lookup as people write addresses, against a real PostGIS: every normalisation kind,
ambiguity across townships, typo tolerance, nonsense, type-ahead, batch and the migration's
back-fill.

Two townships of one county both have a 人民路12号 (as real counties repeat street names):

- 枫桥街道 (320508001000) / 枫门社区 (320508001001), grids ``…001`` (west) and ``…002`` (east);
- 和平镇 (320508101000) / 新庄村 (320508101201), one grid ``…001``.
"""

from __future__ import annotations

import geopandas as gpd
import pytest
import sqlalchemy as sa
from shapely.geometry import Point, box

from geogrid.db import migrate, plans, store
from geogrid.db.cluster import drop_database, ensure_database
from geogrid.db.lookup import MAX_SUGGESTIONS
from geogrid.frames import ADDRESS_COMPONENTS

T1, V1 = "320508001000", "320508001001"
T2, V2 = "320508101000", "320508101201"
G1W, G1E, G2 = V1 + "001", V1 + "002", V2 + "001"
PREFIX = {"province": "江苏省", "city": "苏州市", "county": "姑苏区"}
TOWN = {V1: ("枫桥街道", "枫门社区"), V2: ("和平镇", "新庄村")}

# id, village, street, house number, compound, building, lon
ROWS = [
    ("a1", V1, "人民路", "12号", "阳光花园", "3幢", 120.602),
    ("a2", V1, "人民路", "12号", "阳光花园", "4幢", 120.604),
    ("a3", V2, "人民路", "12号", None, None, 120.625),
    ("a4", V1, "枫门四街", "4号", None, None, 120.615),
    ("a5", V2, "新庄2巷", "7号", None, None, 120.632),
    ("a6", V1, "中山路", "8号", None, None, 120.616),
    ("a7", V2, "解放路", "5号", None, None, 120.634),
]
GRID_OF = {"a1": G1W, "a2": G1W, "a3": G2, "a4": G1E, "a5": G2, "a6": G1E, "a7": G2}


def _addresses() -> gpd.GeoDataFrame:
    records = []
    for aid, village, street, number, compound, building, _lon in ROWS:
        township, village_name = TOWN[village]
        parts = {
            **PREFIX,
            "township": township,
            "village": village_name,
            "street": street,
            "house_number": number,
            "compound": compound,
            "building": building,
        }
        full = "".join(parts.get(c) or "" for c in ADDRESS_COMPONENTS)
        records.append({"address_id": aid, "full_text": full, "village_code": village, **parts})
    points = [Point(row[-1], 31.305) for row in ROWS]
    return gpd.GeoDataFrame(records, geometry=points, crs="EPSG:4326")


def _load(engine) -> None:
    divisions = gpd.GeoDataFrame(
        {
            "code": [T1, V1, T2, V2],
            "name": ["枫桥街道", "枫门社区", "和平镇", "新庄村"],
            "level": ["township", "village", "township", "village"],
            "parent_code": [None, T1, None, T2],
            "kind": ["urban", "urban", "rural", "rural"],
        },
        geometry=[box(120.60, 31.30, 120.62, 31.31)] * 2 + [box(120.62, 31.30, 120.64, 31.31)] * 2,
        crs="EPSG:4326",
    )
    store.load(engine, "divisions", divisions)
    store.load(engine, "addresses", _addresses())
    grids = gpd.GeoDataFrame(
        {
            "code": [G1W, G1E, G2],
            "division_code": [V1, V1, V2],
            "name": ["枫门西网格", "枫门东网格", "新庄网格"],
        },
        geometry=[
            box(120.60, 31.30, 120.61, 31.31),
            box(120.61, 31.30, 120.62, 31.31),
            box(120.62, 31.30, 120.64, 31.31),
        ],
        crs="EPSG:4326",
    )
    for scope, frame in ((V1, grids.iloc[:2]), (V2, grids.iloc[2:])):
        plans.publish_plan(engine, plans.save_plan(engine, frame.reset_index(drop=True), scope_code=scope))


@pytest.fixture
def county(engine):
    _load(engine)


def _ask(client, text: str) -> dict:
    response = client.get("/lookup", params={"address": text})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("kind", "text", "address"),
    [
        ("exact text", "江苏省苏州市姑苏区枫桥街道枫门社区枫门四街4号", "a4"),
        ("Arabic for a Chinese numeral", "枫门4街4号", "a4"),
        ("Chinese for an Arabic numeral", "枫门四街四号", "a4"),
        ("full-width digits", "枫门４街４号", "a4"),
        ("traditional characters", "楓橋街道楓門社區人民路十二號陽光花園3號樓", "a1"),
        ("missing province and city", "姑苏区和平镇人民路12号", "a3"),
        ("short province and city", "江苏苏州姑苏区和平镇人民路12号", "a3"),
        ("synonym 栋 for 幢", "枫桥街道人民路12号阳光花园3栋", "a1"),
        ("synonym 座 and no compound", "枫桥街道人民路12号4座", "a2"),
        ("unit and room", "枫桥街道人民路12号3幢2单元502室", "a1"),
        ("building-unit-room with hyphens", "枫桥街道人民路12号4-1-301", "a2"),
        ("synonym 弄 for 巷", "新庄2弄7号", "a5"),
        ("spaces and punctuation", "和平镇，人民路 12 号", "a3"),
        ("village without township", "新庄村人民路十二号", "a3"),
    ],
)
def test_each_way_of_writing_finds_the_one_address(client, county, kind, text, address):
    body = _ask(client, text)
    assert body["found"] and not body["ambiguous"], (kind, body)
    best = body["matches"][0]
    assert best["address_id"] == address, kind
    assert body["grid"]["code"] == GRID_OF[address]
    township, village = TOWN[best["division_code"]]
    assert best["village"]["name"] == village and best["township"]["name"] == township
    assert body["grid"]["name"]  # the grid's Chinese name comes with its code


def test_same_gate_in_one_grid_answers_the_grid(client, county):
    # 人民路12号 of 枫桥街道 has buildings 3 and 4: the text names no building, but both lie
    # in the same grid, so the grid is certain.
    body = _ask(client, "枫桥街道人民路12号")
    assert not body["ambiguous"] and body["grid"]["code"] == G1W
    assert {m["address_id"] for m in body["matches"]} == {"a1", "a2"}


def test_same_street_and_number_in_two_townships_is_ambiguous(client, county):
    body = _ask(client, "人民路12号")
    assert body["ambiguous"] is True and body["grid"] is None
    assert {m["address_id"] for m in body["matches"]} == {"a1", "a2", "a3"}
    assert {m["township"]["name"] for m in body["matches"]} == {"枫桥街道", "和平镇"}
    assert "枫桥街道枫门社区" in body["reason"] and "和平镇新庄村" in body["reason"]
    # naming the township settles it; naming the other township's building does not fake it
    assert _ask(client, "和平镇人民路12号")["grid"]["code"] == G2


@pytest.mark.parametrize(
    ("text", "address"),
    [("中三路8号", "a6"), ("中路8号", "a6"), ("中山大路8号", "a6"), ("解方路5号", "a7"), ("解放街5号", "a7")],
)
def test_one_wrong_or_missing_character_still_finds_the_street(client, county, text, address):
    body = _ask(client, text)
    assert body["found"] and not body["ambiguous"]
    assert body["matches"][0]["address_id"] == address
    exact = _ask(client, {"a6": "中山路8号", "a7": "解放路5号"}[address])
    assert exact["matches"][0]["score"] == 1.0
    assert body["matches"][0]["score"] < exact["matches"][0]["score"]


@pytest.mark.parametrize(
    "text", ["火星基地一号", "不存在的地址", "北京市朝阳区建国路88号", "人民路999号", "qwerty"]
)
def test_nonsense_finds_nothing(client, county, text):
    body = _ask(client, text)
    assert body == {**body, "found": False, "ambiguous": False, "grid": None, "matches": []}


def test_batch_uses_the_same_ranking(client, county):
    texts = ["人民路12号", "枫门4街4号", "楓橋街道人民路十二號3幢", "不存在的地址"]
    body = client.post("/lookup/batch", json={"addresses": texts}).json()
    singles = [_ask(client, t) for t in texts]
    for batch, single in zip(body["results"], singles, strict=True):
        assert batch["ambiguous"] == single["ambiguous"] and batch["grid"] == single["grid"]
        assert [m["address_id"] for m in batch["matches"]] == [m["address_id"] for m in single["matches"]][
            : len(batch["matches"])
        ]
    assert [r["grid"] and r["grid"]["code"] for r in body["results"]] == [None, G1E, G1W, None]


def _suggest(client, q: str, **params) -> list[dict]:
    response = client.get("/lookup/suggest", params={"q": q, **params})
    assert response.status_code == 200, response.text
    items = response.json()["suggestions"]
    assert len(items) <= MAX_SUGGESTIONS
    return items


def test_suggest_by_prefix_and_pinyin_initials(client, county):
    streets = _suggest(client, "人民")
    assert {(s["kind"], s["text"], s["village"]["name"], s["township"]["name"]) for s in streets} == {
        ("street", "人民路", "枫门社区", "枫桥街道"),
        ("street", "人民路", "新庄村", "和平镇"),
        ("address", "人民路12号阳光花园3幢", "枫门社区", "枫桥街道"),
        ("address", "人民路12号阳光花园4幢", "枫门社区", "枫桥街道"),
        ("address", "人民路12号", "新庄村", "和平镇"),
    }
    assert [s["kind"] for s in streets][:2] == ["street", "street"]  # streets before addresses
    assert {s["addresses"] for s in streets if s["kind"] == "street"} == {2, 1}
    by_initials = _suggest(client, "rml")
    assert [(s["kind"], s["text"]) for s in by_initials] == [(s["kind"], s["text"]) for s in streets]
    # a township narrows; a Chinese numeral being typed counts as digits
    town = _suggest(client, "枫桥街道人民路十")
    assert {s["address_id"] for s in town} == {"a1", "a2"}
    assert [s["text"] for s in _suggest(client, "fmsj")] == ["枫门四街", "枫门四街4号"]
    assert _suggest(client, "人民", limit=1) == streets[:1]
    assert _suggest(client, "银河") == []


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"q": " "}, 400),
        ({"q": "，。"}, 400),
        ({"q": "人民", "limit": 11}, 422),
        ({"q": "人" * 101}, 422),
        ({}, 422),
    ],
)
def test_suggest_refuses_bad_input(client, county, params, status):
    response = client.get("/lookup/suggest", params=params)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"


def test_migration_backfills_keys_of_existing_addresses(server_url):
    from sqlalchemy.engine import make_url

    from geogrid.db import make_engine
    from geogrid.db.lookup import lookup_address
    from geogrid.db.rawpool import pool_for

    name = "geogrid_backfill_test"
    admin = make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
    ensure_database(admin, name)
    engine = make_engine(make_url(server_url).set(database=name).render_as_string(hide_password=False))
    try:
        migrate.upgrade(engine, "0004_heat_index")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO addresses (source_id, full_text, households, geom) VALUES "
                    "('old1', '江苏省苏州市姑苏区和平镇新庄村解放路五号', 1, ST_SetSRID(ST_Point(120.63, 31.305), 4326))"
                )
            )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            keys = conn.execute(sa.text("SELECT street_key, number_key, street_keys FROM addresses")).one()
        assert keys[0] == "解放路" and keys[1] == "5" and "解放路" in keys[2]
        body = lookup_address(pool_for(engine), "和平镇解放路5号")
        assert body.best is not None and body.best.address_id == "old1"
    finally:
        engine.dispose()
        drop_database(admin, name)
