"""The app's skeleton: health, problem details, API keys."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends

from api.deps import Principal, require_roles
from geogrid.db import keys
from tests.support import load_village


def test_health_and_ping(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["database"]["state"] == "up"
    assert client.get("/ping").json() == {"pong": True}


def test_unknown_route_is_a_problem(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_roles_are_enforced(app, client, api_key, engine):
    router = APIRouter()

    @router.get("/_planner_only")
    def planner_only(p: Principal = Depends(require_roles("planner"))) -> dict:
        return {"name": p.name, "role": p.role}

    app.include_router(router)
    assert client.get("/_planner_only").status_code == 401
    assert client.get("/_planner_only", headers={"X-API-Key": "nonsense"}).status_code == 401
    assert client.get("/_planner_only", headers=api_key("viewer")).status_code == 403
    assert client.get("/_planner_only", headers=api_key("planner", name="p1")).json() == {
        "name": "p1",
        "role": "planner",
    }
    admin = api_key("admin", name="root")
    assert (
        client.get("/_planner_only", headers={"Authorization": "Bearer " + admin["X-API-Key"]}).status_code
        == 200
    )
    # a revoked key stops working in this running app (its cache re-checks the key version)
    p1 = api_key("planner", name="p1b")
    assert client.get("/_planner_only", headers=p1).status_code == 200
    assert keys.revoke_key(engine, "p1b") == 1
    assert keys.lookup_key(engine, p1["X-API-Key"]) is None
    time.sleep(app.state.settings.key_check_interval_s + 0.1)
    assert client.get("/_planner_only", headers=p1).status_code == 401


def test_home_lists_published_plans_with_their_map_links(client, engine):
    import geopandas as gpd
    from shapely.geometry import box

    from geogrid.db import plans

    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    assert "尚无已发布的方案" in client.get("/", headers=browser).text
    load_village(engine, "320508019001", (120.60, 31.30, 120.62, 31.31))
    pid = plans.save_plan(
        engine,
        gpd.GeoDataFrame(
            {"code": ["320508019001001"], "division_code": ["320508019001"], "households": [350]},
            geometry=[box(120.60, 31.30, 120.62, 31.31)],
            crs="EPSG:4326",
        ),
        scope_code="320508019001",
    )
    assert "320508019001" not in client.get("/", headers=browser).text  # a draft is not listed
    plans.publish_plan(engine, pid)
    page = client.get("/", headers=browser).text
    assert "/maps/dashboard?division=320508019001" in page and "<td>350</td>" in page


def test_api_docs_load_everything_from_this_service(client):
    import re

    from geogrid.maps import external_urls

    page = client.get("/docs").text
    assert "swagger-ui-bundle.js" in page
    assert external_urls(page) == []
    assert '"validatorUrl": null' in page  # no badge fetched from validator.swagger.io
    for url in re.findall(r"""(?:src|href)\s*=\s*['"](/static/[^'"]+)['"]|url:\s*['"](/[^'"]+)['"]""", page):
        path = next(u for u in url if u)
        assert client.get(path).status_code == 200, path
    assert client.get("/openapi.json").json()["info"]["title"] == "geogrid"


def test_nul_characters_are_the_clients_error(client, api_key):
    # A fuzzer found this: %00 in a query reached PostgreSQL and came back as a 500.
    response = client.get("/open311/v2/requests.json", params={"service_request_id": "a\x00b"})
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    response = client.get("/collections/grids/items", params={"division": "3205\x00"})
    assert response.status_code in (400, 422)
