"""Open311 GeoReport v2 endpoints: discovery, services, requests list/get/post round trips."""

from __future__ import annotations

import pytest
from incident_support import G1, IN_G1, IN_G2, publish_sample


@pytest.fixture
def county(engine):
    return publish_sample(engine)


def test_discovery_and_services(client, county):
    d = client.get("/open311/v2/discovery.json").json()
    assert d["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert d["endpoints"][0]["url"].endswith("/open311/v2")
    services = client.get("/open311/v2/services.json").json()
    codes = {s["service_code"]: s for s in services}
    assert codes["HW01"]["service_name"] == "垃圾乱堆乱放" and codes["HW01"]["group"] == "人居环境"
    assert all(s["metadata"] is False and s["type"] == "realtime" for s in services)
    assert client.get("/open311/v2/services/HW01.json").json() == {"service_code": "HW01", "attributes": []}
    r = client.get("/open311/v2/services/NOPE.json")
    assert r.status_code == 400 and r.json()[0]["code"] == 400 and "NOPE" in r.json()[0]["description"]


def test_post_get_and_list_round_trip(client, county, api_key):
    key = api_key("resident", name="civic-app")["X-API-Key"]
    form = {
        "api_key": key,
        "service_code": "HW01",
        "lat": str(IN_G1[1]),
        "long": str(IN_G1[0]),
        "description": "垃圾没人收",
        "first_name": "三",
        "last_name": "张",
        "phone": "13900000000",
        "email": "z@example.org",
    }
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 201, r.text
    [created] = r.json()
    rid = created["service_request_id"]
    [req] = client.get(f"/open311/v2/requests/{rid}.json").json()
    assert req["service_request_id"] == rid and req["status"] == "open" and req["service_code"] == "HW01"
    # the public view: location to about 100 m, no free text (it may hold names and numbers)
    assert (req["lat"], req["long"]) == (round(IN_G1[1], 3), round(IN_G1[0], 3)) and req["description"] == ""
    assert req["address"] is None and req["requested_datetime"].endswith("+08:00")
    [staff] = client.get(f"/open311/v2/requests/{rid}.json", headers=api_key("dispatcher")).json()
    assert (staff["lat"], staff["long"]) == (IN_G1[1], IN_G1[0]) and staff["description"] == "垃圾没人收"
    assert req["agency_responsible"] == "城市管理局"
    assert "13900000000" not in r.text + str(req) and "example.org" not in str(req)
    # the same report in our own API, with the contact for those who handle it
    ours = client.get(f"/incidents/{rid}", headers=api_key("dispatcher")).json()
    assert ours["grid_code"] == G1 and ours["reporter"] == {
        "name": "三 张",
        "contact": "13900000000; z@example.org",
    }
    assert ours["source"] == "resident"
    # JSON body and header key work too
    r2 = client.post(
        "/open311/v2/requests.json",
        json={"service_code": "CG01", "lat": IN_G2[1], "long": IN_G2[0]},
        headers=api_key("dispatcher"),
    )
    rid2 = r2.json()[0]["service_request_id"]
    listed = client.get("/open311/v2/requests.json").json()
    assert {x["service_request_id"] for x in listed} == {rid, rid2}
    assert [
        x["service_request_id"] for x in client.get("/open311/v2/requests.json?service_code=CG01").json()
    ] == [rid2]
    assert (
        client.get(f"/open311/v2/requests.json?service_request_id={rid},E0404").json()[0][
            "service_request_id"
        ]
        == rid
    )
    # close one through the workflow: Open311 sees it closed
    admin = api_key("admin")
    for action in ("accept", "start", "resolve"):
        client.post(f"/incidents/{rid2}/transitions", json={"action": action}, headers=admin)
    assert client.get(f"/open311/v2/requests/{rid2}.json").json()[0]["status"] == "closed"
    assert [
        x["service_request_id"] for x in client.get("/open311/v2/requests.json?status=closed").json()
    ] == [rid2]
    assert [x["service_request_id"] for x in client.get("/open311/v2/requests.json?status=open").json()] == [
        rid
    ]
    old = client.get("/open311/v2/requests.json?start_date=2000-01-01&end_date=2000-02-01").json()
    assert old == []


def test_post_idempotent_and_errors(client, county, api_key):
    h = {**api_key("resident"), "Idempotency-Key": "abc"}
    form = {"service_code": "HW01", "lat": str(IN_G1[1]), "long": str(IN_G1[0])}
    a = client.post("/open311/v2/requests.json", data=form, headers=h).json()
    b = client.post("/open311/v2/requests.json", data=form, headers=h).json()
    assert a == b
    assert len(client.get("/open311/v2/requests.json").json()) == 1
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 401 and r.json()[0]["code"] == 401
    r = client.post("/open311/v2/requests.json", data={**form, "api_key": "gg_wrong"})
    assert r.status_code == 401
    r = client.post("/open311/v2/requests.json", data={"lat": "31.3"}, headers=h)
    assert r.status_code == 400 and "service_code" in r.json()[0]["description"]
    r = client.post("/open311/v2/requests.json", data={"service_code": "HW01"}, headers=h)
    assert r.status_code == 400 and "location" in r.json()[0]["description"]
    r = client.post("/open311/v2/requests.json", data={**form, "lat": "north"}, headers=h)
    assert r.status_code == 400 and "lat" in r.json()[0]["description"]
    r = client.post(
        "/open311/v2/requests.json",
        data={"service_code": "HW01", "address_string": "东港社区人民路88号"},
        headers={**api_key("resident")},
    )
    assert r.status_code == 201
    assert client.get("/open311/v2/requests/E0404.json").status_code == 404
    assert client.get("/open311/v2/requests.json?status=pending").status_code == 400


def test_open311_post_with_undecodable_body_is_a_400(client):
    r = client.post(
        "/open311/v2/requests.json", content=b"\xdd\x12", headers={"Content-Type": "application/json"}
    )
    # Open311 clients get GeoReport v2 errors: a list of {code, description}
    assert r.status_code == 400 and "not valid JSON" in r.json()[0]["description"]
