"""One declaration of the incident filters for every endpoint that selects incidents, and the
403 of the error table."""

from __future__ import annotations

import pytest
from incident_support import G1, IN_G1, IN_G3, V1, V2, department_code, install_organisation, publish_sample

FILTERS = {
    "status",
    "category",
    "source",
    "division",
    "grid_code",
    "department",
    "centre",
    "from",
    "to",
    "bbox",
}
ENDPOINTS = [
    ("/incidents", "get"),
    ("/incidents/overdue", "get"),
    ("/stats", "get"),
    ("/heatmap", "get"),
    ("/heatmap/tiles/{z}/{x}/{y}", "get"),
    ("/heatmap/grids", "get"),
    ("/maps/dashboard", "get"),
]


@pytest.fixture
def reports(client, engine, api_key):
    publish_sample(engine)
    install_organisation(engine)
    admin = api_key("admin")
    ids = []
    for where in (IN_G1, IN_G1, IN_G3):
        r = client.post(
            "/incidents", json={"category": "HW01", "lon": where[0], "lat": where[1]}, headers=admin
        )
        ids.append(r.json()["id"])
    for action in ("accept", "dispatch"):
        client.post(f"/incidents/{ids[0]}/transitions", json={"action": action}, headers=admin)
    return {"ids": ids, "admin": admin}


@pytest.mark.parametrize(("path", "method"), ENDPOINTS)
def test_every_incident_endpoint_takes_the_same_filters(app, path, method):
    params = {p["name"] for p in app.openapi()["paths"][path][method]["parameters"] if p["in"] == "query"}
    assert params >= FILTERS, FILTERS - params


def test_filters_mean_the_same_everywhere(client, engine, reports):
    h = reports["admin"]
    hw = department_code(engine, "城市管理局")
    by_name = client.get("/incidents?department=城市管理局", headers=h).json()
    assert [i["id"] for i in by_name["items"]] == [reports["ids"][0]]
    assert client.get(f"/incidents?department={hw}", headers=h).json()["total"] == 1
    r = client.get("/incidents?department=水务局", headers=h)
    assert r.status_code == 400 and "水务局" in r.json()["detail"]
    assert client.get(f"/incidents?centre={V1}", headers=h).json()["total"] == 2
    assert client.get(f"/incidents?centre={V2}", headers=h).json()["total"] == 1
    # the same filters in statistics, heat and the overdue list
    assert client.get("/stats?status=dispatched", headers=h).json()["summary"]["total"] == 1
    assert client.get(f"/stats?centre={V1}&department={hw}", headers=h).json()["summary"]["total"] == 1
    heat = client.get(f"/heatmap?res=7&grid_code={G1}", headers=h).json()
    assert heat["total"] == 2
    overdue = client.get("/incidents/overdue?at=2100-01-01T00:00:00Z&status=reported", headers=h).json()
    assert overdue["total"] == 2
    assert client.get("/heatmap/tiles/10/857/418?bbox=120,31,121,32").status_code == 400


def test_forbidden_is_a_problem_from_the_error_table(client, reports, api_key):
    r = client.post(
        f"/incidents/{reports['ids'][2]}/transitions",
        json={"action": "accept"},
        headers=api_key("worker", grid_codes=[G1]),
    )
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["kind"] == "forbidden" and r.json()["title"] == "无权进行此操作"
    english = client.post(
        f"/incidents/{reports['ids'][2]}/transitions",
        json={"action": "accept"},
        headers={**api_key("resident"), "Accept-Language": "en"},
    )
    assert english.status_code == 403 and english.json()["title"] == "Forbidden"
