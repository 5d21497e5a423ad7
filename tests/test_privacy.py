"""Private by default: what anonymous readers, residents and scoped staff see of incidents.

The last test walks every operation of the OpenAPI document as an anonymous client, with
probing parameters, and checks that no answer carries a non-public report, a reporter's name
or contact, a description, or an exact location.
"""

from __future__ import annotations

import json
import math
import re

import h3
import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from incident_support import G1, G2, G3, IN_G1, TOWNSHIP, V1, V2, publish_sample

from geogrid import incidents as wf
from geogrid.db import followups, keys
from geogrid.db import incidents as store

CAT = wf.load_catalogue()
PUBLIC_AT = (120.6051234, 31.3051234)  # in G1
PRIVATE_AT = (120.6312345, 31.3056789)  # in G3, 2.5 km east of every public report
SECRETS = ("秘密报告人", "13912345678", "SECRET 家庭纠纷细节", "T20240501999", "SECRET 回访意见")
EXACT = ("120.60512", "31.30512", "120.63123", "31.30567")
ADMIN = wf.Actor("admin", "admin")


def _report(
    engine, category: str, at: tuple[float, float], reporter: str = "r1", ticket: str | None = None
) -> store.Incident:
    new = store.NewIncident(
        category=category,
        lon=at[0],
        lat=at[1],
        source="hotline" if ticket else "resident",
        hotline_ticket=ticket,
        description=SECRETS[2],
        reporter_name=SECRETS[0],
        reporter_contact=SECRETS[1],
        reporter_key_name=reporter,
        reporter_role="resident",
    )
    return store.create(engine, new, catalogue=CAT).incident


@pytest.fixture
def reports(engine) -> dict[str, list[str]]:
    """One public report in G1; private ones in G3: non-public categories, a rejected and a
    merged report of a public category."""
    publish_sample(engine)
    public = _report(engine, "HW01", PUBLIC_AT)
    private = [_report(engine, c, PRIVATE_AT).public_id for c in ("MD02", "GA01")]
    private.append(_report(engine, "ZA01", PRIVATE_AT, ticket=SECRETS[3]).public_id)  # a 12345 ticket
    rejected = _report(engine, "HW01", PRIVATE_AT)
    store.transition(engine, rejected.public_id, "reject", actor=ADMIN, catalogue=CAT)
    merged = _report(engine, "HW02", PRIVATE_AT)
    store.merge(engine, merged.public_id, into=public.public_id, actor=ADMIN)
    # the public report is closed and followed up (回访) with a note nobody outside may read
    for action in ("accept", "start", "resolve", "verify", "close"):
        store.transition(engine, public.public_id, action, actor=ADMIN, catalogue=CAT)
    followup = followups.FollowUpRequest("不满意", SECRETS[4], reopen=False)
    followups.record(engine, public.public_id, followup, actor=ADMIN, catalogue=CAT)
    return {"public": [public.public_id], "private": [*private, rejected.public_id, merged.public_id]}


def test_every_category_says_whether_it_is_public(client):
    services = {s["service_code"]: s["public"] for s in client.get("/open311/v2/services.json").json()}
    assert set(services) == set(CAT.categories)
    assert services["HW01"] and services["CG05"]
    # disputes, people in need, security, poverty monitoring, petitions, personal affairs
    for private in ("MD01", "MD02", "GA01", "GA04", "ZA01", "ZA04", "FP01", "XF01", "MS03", "MS04"):
        assert not services[private]


def test_open311_public_view(client, reports):
    listed = client.get("/open311/v2/requests.json", params={"status": "open,closed"}).json()
    assert [r["service_request_id"] for r in listed] == reports["public"]
    [one] = listed
    assert (one["long"], one["lat"]) == (round(PUBLIC_AT[0], 3), round(PUBLIC_AT[1], 3))
    assert one["address"] is None and one["description"] == ""
    ids = ",".join(reports["public"] + reports["private"])
    assert len(client.get("/open311/v2/requests.json", params={"service_request_id": ids}).json()) == 1
    for private in reports["private"]:
        assert client.get(f"/open311/v2/requests/{private}.json").status_code == 404


def test_public_heat_and_stats_count_public_reports_only(client, reports, api_key):
    assert client.get("/heatmap?res=8").json()["total"] == 1
    assert client.get("/heatmap?res=8", headers=api_key("viewer")).json()["total"] == 5  # merged never counts
    assert client.get("/heatmap?res=12").status_code == 403
    assert client.get("/heatmap?res=12", headers=api_key("viewer")).status_code == 200
    assert client.get("/heatmap?res=8&category=MD02").status_code == 403
    assert client.get("/heatmap?res=8&category=MD").status_code == 403
    assert client.get("/heatmap?res=8&category=ZA").status_code == 403  # no security report is public
    assert client.get("/heatmap?res=8&category=AQ").json()["total"] == 0  # public, none reported
    assert client.get("/stats").json()["summary"]["total"] == 1
    resident = api_key("resident", name="r1")  # a resident reads the public view, even of their own
    assert client.get("/stats", headers=resident).json()["summary"]["total"] == 1
    grids = {f["id"]: f["properties"]["incidents"] for f in client.get("/heatmap/grids").json()["features"]}
    assert grids == {G1: 1, G2: 0, G3: 0}


def test_duplicates_are_limited_to_what_the_caller_may_see(client, engine, api_key):
    publish_sample(engine)
    mine = _report(engine, "HW01", PUBLIC_AT, reporter="r1")
    other = _report(engine, "HW01", (PUBLIC_AT[0] + 0.0002, PUBLIC_AT[1]), reporter="r2")
    mine_too = _report(engine, "HW01", (PUBLIC_AT[0], PUBLIC_AT[1] + 0.0002), reporter="r1")
    r1 = api_key("resident", name="r1")
    found = client.get(f"/incidents/{mine.public_id}/duplicates", headers=r1).json()["items"]
    assert [d["id"] for d in found] == [mine_too.public_id]
    assert other.public_id not in json.dumps(found)
    g1_worker = api_key("worker", grid_codes=[G1])
    found = client.get(f"/incidents/{mine.public_id}/duplicates", headers=g1_worker).json()["items"]
    assert {d["id"] for d in found} == {other.public_id, mine_too.public_id}
    g3_worker = api_key("worker", grid_codes=[G3])
    assert client.get(f"/incidents/{mine.public_id}/duplicates", headers=g3_worker).status_code == 403


def test_a_division_scoped_dispatcher_sees_and_acts_only_inside_it(client, engine):
    publish_sample(engine)
    inside = _report(engine, "HW01", PUBLIC_AT)  # G1, village V1
    outside = _report(engine, "HW01", PRIVATE_AT)  # G3, village V2
    key = keys.create_key(engine, "张三", "dispatcher", scope={"division": V1})
    h = {"X-API-Key": key}
    listed = client.get("/incidents", headers=h).json()
    assert [i["id"] for i in listed["items"]] == [inside.public_id]
    assert client.get(f"/incidents/{outside.public_id}", headers=h).status_code == 403
    assert (
        client.post(
            f"/incidents/{outside.public_id}/transitions", json={"action": "accept"}, headers=h
        ).status_code
        == 403
    )
    accepted = client.post(f"/incidents/{inside.public_id}/transitions", json={"action": "accept"}, headers=h)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    merge = client.post(f"/incidents/{inside.public_id}/merge", json={"into": outside.public_id}, headers=h)
    assert merge.status_code == 403
    overdue = client.get("/incidents/overdue?at=2100-01-01", headers=h).json()
    assert [i["id"] for i in overdue["items"]] == [inside.public_id]
    # a township scope covers both villages
    township = {"X-API-Key": keys.create_key(engine, "李四", "dispatcher", scope={"division": TOWNSHIP})}
    assert client.get("/incidents", headers=township).json()["total"] == 2
    assert V2.startswith(TOWNSHIP[:9])


def test_reporter_contacts_are_shown_only_in_detail_and_every_staff_read_is_audited(client, engine, api_key):
    publish_sample(engine)
    inc = _report(engine, "MD02", PUBLIC_AT, reporter="r1")
    dispatcher = api_key("dispatcher", name="调度员")
    listed = client.get("/incidents", headers=dispatcher).json()
    assert "reporter" not in listed["items"][0] and SECRETS[1] not in json.dumps(listed, ensure_ascii=False)
    assert store.contact_reads(engine, inc.public_id) == []
    detail = client.get(f"/incidents/{inc.public_id}", headers=dispatcher).json()
    assert detail["reporter"] == {"name": SECRETS[0], "contact": SECRETS[1]}
    assert (
        client.get(f"/incidents/{inc.public_id}", headers=api_key("resident", name="r1")).status_code == 200
    )
    viewer = client.get(f"/incidents/{inc.public_id}", headers=api_key("viewer")).json()
    assert "reporter" not in viewer
    client.post(f"/incidents/{inc.public_id}/transitions", json={"action": "accept"}, headers=dispatcher)
    reads = store.contact_reads(engine, inc.public_id)
    assert [(r.reader_name, r.reader_role, r.endpoint) for r in reads] == [
        ("调度员", "dispatcher", "GET /incidents/{id}"),
        ("调度员", "dispatcher", "POST /incidents/{id}/transitions"),
    ]  # the reporter's own read and the viewer's (no contact) are not audited
    assert all(r.at.tzinfo is not None for r in reads)


def test_times_are_shown_in_the_county_zone_and_read_in_it(client, engine, api_key):
    publish_sample(engine)
    inc = _report(engine, "HW01", PUBLIC_AT)
    shown = client.get(f"/incidents/{inc.public_id}", headers=api_key("dispatcher")).json()
    for key in ("created_at", "updated_at", "accept_due", "complete_due"):
        assert shown[key].endswith("+08:00"), (key, shown[key])
    assert shown["history"][0]["at"].endswith("+08:00")
    assert client.get("/stats").json()["at"].endswith("+08:00")
    assert all(p["created_at"].endswith("+08:00") for p in client.get("/plans").json()["plans"])
    assert client.get("/collections/grids/items").json()["timeStamp"].endswith("+08:00")
    # a time without an offset is local time: 09:00 in Suzhou is 01:00 UTC
    overdue = client.get("/incidents/overdue?at=2024-05-01T09:00", headers=api_key("dispatcher")).json()
    assert overdue["at"] == "2024-05-01T09:00:00+08:00"


# --- every operation, anonymously ----------------------------------------------------------------


def _tile(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 1 << z
    rad = math.radians(lat)
    return z, int((lon + 180.0) / 360.0 * n), int((1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * n)


Z, X, Y = _tile(*PRIVATE_AT, 14)
PRIVATE_CELLS = {h3.latlng_to_cell(PRIVATE_AT[1], PRIVATE_AT[0], res) for res in range(9, 13)}
PRIVATE_BOX = "120.625,31.30,120.64,31.31"


def _path_values(reports: dict[str, list[str]]) -> dict[str, list[str]]:
    ids = reports["public"] + reports["private"]
    return {
        "collection_id": ["grids", "divisions", "addresses"],
        "item_id": [G3],
        "code": [G3],
        "z": [str(Z)],
        "x": [str(X)],
        "y": [str(Y)],
        "tms": ["WebMercatorQuad"],
        "tms_id": ["WebMercatorQuad"],
        "public_id": ids,
        "service_request_id": ids,
        "photo_id": ["1"],
        "plan_id": ["1"],
        "scope_code": [V2],
        "service_code": ["MD02"],
        # issue 15: department layers, the register, 联户
        "department": ["ZZB"],
        "version": ["1"],
        "address_id": ["a1"],
        "resident_id": ["1"],
    }


def _probes(reports: dict[str, list[str]]) -> list[dict[str, str]]:
    ids = ",".join(reports["public"] + reports["private"])
    at = {"lon": str(PRIVATE_AT[0]), "lat": str(PRIVATE_AT[1])}
    return [
        {},
        {"res": "12", "category": "MD02", "status": "rejected", "group_by": "grid", "division": V2, **at},
        {"res": "10", "category": "HW,MD,ZA", "status": "reported,rejected,merged", "format": "mvt",
         "z": str(Z), "x": str(X), "y": str(Y), "group_by": "minor", "service_request_id": ids,
         "service_code": "MD02,HW01", "bbox": PRIVATE_BOX},
        {"res": "10", "bbox": PRIVATE_BOX, "kpi": "incidents", "group_by": "category", "division": G3,
         "service_request_id": ids, "status": "open,closed", "start_date": "2000-01-01"},
    ]  # fmt: skip


def _operations(client, reports, *, values: dict | None = None, probes: list | None = None):
    """Every operation of the OpenAPI document with every path value and probe (query parameters
    it declares), as (method, url, params)."""
    doc = client.get("/openapi.json").json()
    values = {**_path_values(reports), **(values or {})}
    for path, ops in doc["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        missing = [n for n in names if n not in values]
        assert not missing, f"{path}: no probe value for {missing}; add one to _path_values"
        urls = [path]
        for name in names:
            urls = [u.replace("{" + name + "}", v) for u in urls for v in values[name]]
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
            for url in urls:
                for probe in probes if probes is not None else _probes(reports):
                    yield method.upper(), url, {k: v for k, v in probe.items() if k in declared}


def _leaks(text: str, request: str, private_ids: list[str]) -> list[str]:
    """Private things in an answer (what the request itself sent may be echoed back)."""
    found = [s for s in SECRETS if s in text]
    found += [s for s in (*EXACT, *PRIVATE_CELLS, *private_ids) if s in text and s not in request]
    return found


def _body_text(response) -> str:
    if response.headers.get("content-type", "").startswith("application/vnd.mapbox-vector-tile"):
        decoded = mapbox_vector_tile.decode(response.content) if response.content else {}
        return json.dumps(decoded, ensure_ascii=False, default=str)
    return response.text


def test_an_anonymous_client_gets_nothing_private_from_any_operation(client, reports):
    checked = 0
    for method, url, params in _operations(client, reports):
        body = None if method in ("GET", "DELETE") else {}
        response = client.request(method, url, params=params, json=body)
        assert response.status_code < 500, (method, url, params, response.text[:300])
        text = _body_text(response)
        leaks = _leaks(text, url + json.dumps(params), reports["private"])
        assert not leaks, (method, url, params, leaks)
        if response.status_code == 200 and "application/geo+json" in response.headers.get("content-type", ""):
            for feature in response.json().get("features", []):
                if feature.get("id") == G3 and "incidents" in feature.get("properties", {}):
                    assert feature["properties"]["incidents"] == 0, (url, params)
        checked += 1
    # the batch lookup takes the private point too: it answers grids, never incidents
    body = {"points": [list(PRIVATE_AT)]}
    response = client.post("/lookup/batch", json=body)
    assert response.status_code == 200 and not _leaks(response.text, json.dumps(body), reports["private"])
    assert checked > 150


def test_the_time_zone_is_a_setting(engine, tmp_path, api_key):
    from fastapi.testclient import TestClient
    from pydantic import ValidationError

    from api import create_app
    from api.settings import Settings

    publish_sample(engine)
    inc = _report(engine, "HW01", PUBLIC_AT)
    settings = Settings(database_url=str(engine.url), photo_dir=tmp_path, timezone="Asia/Urumqi")
    with TestClient(create_app(settings, engine=engine)) as c:
        shown = c.get(f"/incidents/{inc.public_id}", headers=api_key("dispatcher")).json()
        assert shown["created_at"].endswith("+06:00")
        at = c.get("/incidents/overdue?at=2024-05-01T09:00", headers=api_key("dispatcher")).json()["at"]
        assert at == "2024-05-01T09:00:00+06:00"
    with pytest.raises(ValidationError, match="time zone"):
        Settings(timezone="Mars/Olympus")


# --- the register: no role without scope gets a resident's name, ID number or phone -------------


@pytest.fixture
def register(engine, reports):
    """A register of 8 households at a1 (G1) and a2 (G2), 联户 formed, a department layer."""
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import box

    from geogrid.db import layers as db_layers
    from geogrid.db import link_groups as db_groups
    from geogrid.db import register as db_register
    from geogrid.db.secrets import register_keys
    from geogrid.register import read_register
    from geogrid.synthetic_register import make_register

    rows = read_register(
        make_register(pd.DataFrame({"address_id": ["a1", "a2"], "households": [5, 3]}), seed=5)
    )
    db_register.import_register(engine, rows, register_keys())
    groups = db_groups.form(engine, TOWNSHIP, rule=(2, 6))
    layer = gpd.GeoDataFrame(
        {"code": ["ZZ-W", "ZZ-E"], "name": ["西片", "东片"], "unit_name": ["一站", "二站"]},
        geometry=[box(120.60, 31.30, 120.615, 31.31), box(120.615, 31.30, 120.64, 31.31)],
        crs=4326,
    )
    db_layers.import_layer(engine, layer, department_code="ZZB", department_name="综治办")
    with engine.connect() as conn:
        ids = [
            str(i) for i in conn.execute(sa.text("SELECT id FROM register_residents ORDER BY id")).scalars()
        ]
        codes = list(conn.execute(sa.text("SELECT code FROM link_groups ORDER BY code")).scalars())
    phones = [p for p in rows["phone"].dropna()]
    secrets = [*rows["name"], *rows["id_number"], *phones]
    assert groups.groups >= 2 and len(secrets) > 30
    return {"secrets": secrets, "ids": ids, "link_groups": codes, "id_number": rows["id_number"].iloc[0]}


#: Keys whose role or scope covers no registered address: they may read much, never a person.
UNCOVERED = {
    "viewer": ("viewer", {}),
    "planner": ("planner", {}),
    "resident": ("resident", {}),
    "department": ("department", {"department": "城市管理局"}),
    "dispatcher without scope": ("dispatcher", {}),
    "worker of another grid": ("worker", {"grid_codes": [G3]}),
    "dispatcher of another village": ("dispatcher", {"division": V2}),
}


def test_no_role_without_scope_gets_a_residents_personal_data_from_any_operation(
    client, engine, reports, register, api_key
):
    values = {
        "address_id": ["a1", "a2"],
        "resident_id": register["ids"][:2],
        "code": [G1, register["link_groups"][0]],
    }
    probes = [
        {},
        {"grid": G1, "tag": "独居老人", "division": TOWNSHIP, "department": "ZZB", "limit": "1000",
         "lon": str(IN_G1[0]), "lat": str(IN_G1[1])},
    ]  # fmt: skip
    principals = {"anonymous": {}} | {
        who: api_key(role, name=f"uncovered {who}", **scope) for who, (role, scope) in UNCOVERED.items()
    }
    checked = 0
    for who, headers in principals.items():
        for method, url, params in _operations(client, reports, values=values, probes=probes):
            # a search body with a real ID number, on the operations that take one
            body = {"id_number": register["id_number"]} if url.endswith("/search") else {}
            response = client.request(method, url, params=params, json=None if method in ("GET", "DELETE") else body,
                                      headers=headers)  # fmt: skip
            assert response.status_code < 500, (who, method, url, response.text[:300])
            text = _body_text(response)
            leaked = [x for x in register["secrets"] if x in text]
            assert not leaked, (who, method, url, params, leaked[:3])
            checked += 1
    assert checked > 8 * 150
    # nobody here read a person, so the audit holds no read
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM register_reads")).scalar() == 0
    # while a worker of G1 does see (and is recorded)
    mine = api_key("worker", name="东港一网格员", grid_codes=[G1])
    seen = client.get("/register/residents?limit=1000", headers=mine).json()
    assert seen["total"] > 0 and all(p["grid_code"] == G1 for p in seen["items"])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM register_reads")).scalar() == seen["total"]
