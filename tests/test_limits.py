"""Abuse limits: every one answers a clear 4xx problem (or 429) before doing the work."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from api import create_app
from api.routers._shared import async_pool, cancellable, pool
from api.settings import Settings
from geogrid.db.rawpool import RawPool
from geogrid.errors import QueryTimeoutError
from tests.api_support import feature_collection, load_township, plan_a
from tests.server_support import api_process, rss_bytes

ADDRESS = "江苏省苏州市姑苏区平江街道鹤市社区鹤市2巷3号1幢"
DEEP = b"[" * 100_000


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def test_address_text_is_capped_after_normalisation(client, engine):
    load_township(engine)
    long_text = (ADDRESS * 40)[:1000]
    detail = _problem(client.get("/lookup", params={"address": long_text}), 400)["detail"]
    assert detail.startswith("地址文本过长（最多 200 个字符")
    # Separators and a province prefix do not count: the normalised text is what is matched.
    padded = "江苏省 " + " ".join(ADDRESS) + " " * 300
    assert client.get("/lookup", params={"address": padded}).status_code == 200
    body = {"addresses": [ADDRESS, long_text]}
    assert "addresses[1]" in _problem(client.post("/lookup/batch", json=body), 400)["detail"]


def test_batches_are_capped_by_their_work(client, app):
    app.state.settings.max_batch_addresses = 3
    body = {"addresses": [ADDRESS] * 4}
    assert "最多 3 个" in _problem(client.post("/lookup/batch", json=body), 413)["detail"]
    app.state.settings.max_batch = 5
    body = {"points": [[120.6, 31.3]] * 6}
    _problem(client.post("/lookup/batch", json=body), 413)


def test_deeply_nested_json_is_a_400_everywhere(client, engine, api_key):
    resident, planner, admin = api_key("resident"), api_key("planner"), api_key("admin")
    posts = [
        ("/incidents", resident),
        ("/open311/v2/requests.json", resident),
        ("/plans", planner),
        ("/lookup/batch", {}),
        ("/incidents/E00000001/transitions", admin),
    ]
    for path, headers in posts:
        response = client.post(path, content=DEEP, headers={**headers, "Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
    response = client.post(
        "/incidents", content=DEEP, headers={**resident, "Content-Type": "application/json"}
    )
    assert "嵌套过深" in _problem(response, 400)["detail"]


@pytest.mark.parametrize("households", [1e308, 2**63, -1, 2.5, "很多"])
def test_plan_numbers_out_of_range_are_row_errors(client, engine, api_key, households):
    load_township(engine, publish=None)
    doc = feature_collection(plan_a())
    doc["features"][1]["properties"]["households"] = households
    body = _problem(client.post("/plans", json=doc, headers=api_key("planner")), 422)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "households")]


def test_a_nul_in_a_plan_name_is_a_row_error(client, engine, api_key):
    load_township(engine, publish=None)
    doc = feature_collection(plan_a())
    doc["features"][0]["properties"]["name"] = "东\x00网格"
    body = _problem(client.post("/plans", json=doc, headers=api_key("planner")), 422)
    assert body["errors"][0]["field"] == "name" and "NUL" in body["errors"][0]["reason"]


def test_numbers_past_what_postgresql_holds_are_a_400(client, api_key):
    dispatcher = api_key("dispatcher")
    for path in ("/incidents", "/collections/grids/items"):
        response = client.get(path, params={"offset": 2**63}, headers=dispatcher)
        assert 400 <= response.status_code < 500, (path, response.text)
    assert client.get("/plans/99999999999999999999").status_code == 404


def test_too_many_ids_in_one_open311_request(client, app):
    ids = ",".join(f"E{n:08d}" for n in range(app.state.settings.max_ids + 1))
    response = client.get("/open311/v2/requests.json", params={"service_request_id": ids})
    # Open311 answers errors in GeoReport's format
    assert response.status_code == 400 and "编号过多" in response.json()[0]["description"]


def _limited_app(engine, tmp_path, **limits):
    settings = Settings(database_url=str(engine.url), photo_dir=tmp_path / "photos", **limits)
    return create_app(settings, engine=engine)


def test_rate_limits_per_address_and_per_key(engine, tmp_path, api_key):
    app = _limited_app(
        engine, tmp_path, rate_limit_per_address=1.0, rate_limit_per_key=0, rate_limit_burst_s=3
    )
    with TestClient(app) as c:
        statuses = [c.get("/ping").status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
        response = c.get("/ping")
        assert int(_problem(response, 429)["status"]) == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert "请求过于频繁" in response.json()["detail"]
    app = _limited_app(
        engine, tmp_path, rate_limit_per_address=0, rate_limit_per_key=1.0, rate_limit_burst_s=2
    )
    viewer = api_key("viewer")
    with TestClient(app) as c:
        assert [c.get("/ping", headers=viewer).status_code for _ in range(3)] == [200, 200, 429]
        assert c.get("/ping", headers=api_key("viewer")).status_code == 200  # another key, its own bucket
        assert c.get("/ping").status_code == 200  # anonymous: no key bucket


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(engine, db_url, tmp_path):
    with api_process(db_url, tmp_path, rate_limit_per_address="0") as (base, _proc):
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as s:
            s.sendall(
                b"POST /lookup/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 104857600\r\n\r\n"
            )
            s.settimeout(10)
            head = s.recv(4096).decode(errors="replace")
        assert head.startswith("HTTP/1.1 413"), head
        assert "application/problem+json" in head


def test_a_streamed_100_mb_body_is_cut_off_without_the_server_growing(engine, db_url, tmp_path):
    chunk = b" " * (1 << 20)

    def body():
        yield b'{"addresses": ['
        for _ in range(100):
            yield chunk

    with api_process(db_url, tmp_path, rate_limit_per_address="0") as (base, proc):
        before = rss_bytes(proc.pid)
        try:
            response = httpx.post(
                base + "/lookup/batch",
                content=body(),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            status = response.status_code
        except httpx.TransportError:
            status = None  # the server may close the connection while we are still sending
        grown = rss_bytes(proc.pid) - before
        assert status in (413, None)
        assert grown < 40 * (1 << 20), f"server grew by {grown / (1 << 20):.0f} MB"
        # it still serves
        assert httpx.get(base + "/ping").status_code == 200
    assert status == 413 or status is None


def test_statements_past_the_time_limit_are_cancelled_on_every_driver(db_url, tmp_path):
    settings = Settings(
        database_url=db_url, photo_dir=tmp_path, statement_timeout_ms=200, rate_limit_per_address=0
    )
    app = create_app(settings)
    router = APIRouter()

    @router.get("/_slow/sqlalchemy")
    def slow_sqlalchemy(request: Request) -> dict:
        with request.app.state.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_sleep(5)"))
        return {}

    @router.get("/_slow/raw")
    def slow_raw(request: Request) -> dict:
        pool(request).fetchone("SELECT pg_sleep(5)")
        return {}

    @router.get("/_slow/asyncpg")
    async def slow_asyncpg(request: Request) -> dict:
        await (await async_pool(request)).fetchval("SELECT pg_sleep(5)")
        return {}

    app.include_router(router)
    with TestClient(app) as c:
        for driver in ("sqlalchemy", "raw", "asyncpg"):
            body = _problem(c.get(f"/_slow/{driver}"), 504)
            assert "查询超时" in body["detail"], (driver, body)
        assert c.get("/health").json()["database"]["state"] == "up"  # a timeout is not an outage


class _GoneClient:
    """A request whose client disconnects after the first poll."""

    def __init__(self) -> None:
        self.polls = 0

    async def is_disconnected(self) -> bool:
        self.polls += 1
        return self.polls > 1


def test_a_query_is_cancelled_when_its_client_goes_away(db_url, engine):
    db = RawPool(db_url.replace("+psycopg2", ""))
    marker = f"sleep for a client that left {time.time()}"
    with pytest.raises(QueryTimeoutError):
        asyncio.run(cancellable(_GoneClient(), db, db.fetchone, f"SELECT pg_sleep(30) -- {marker}"))  # type: ignore[arg-type]
    with engine.connect() as conn:
        running = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE query LIKE :m AND state = 'active' AND pid <> pg_backend_pid()"
            ),
            {"m": f"%{marker}%"},
        ).scalar()
    db.close()
    assert running == 0  # nothing left running in PostgreSQL


def test_idempotency_key_and_texts_of_a_report_are_capped(client, api_key):
    resident = api_key("resident")
    report = {"category": "HW01", "lon": 120.6, "lat": 31.3}
    response = client.post("/incidents", json=report, headers={**resident, "Idempotency-Key": "k" * 201})
    _problem(response, 400)
    response = client.post("/incidents", json={**report, "description": "脏" * 4001}, headers=resident)
    assert response.status_code == 422
    response = client.post("/incidents", json={"category": "HW01", "address": "号" * 250}, headers=resident)
    assert response.status_code == 400 and "地址文本过长" in response.json()["detail"]
    assert json.loads(client.get("/ping").text) == {"pong": True}


def test_a_heatmap_bbox_too_large_for_its_resolution_is_refused_before_counting(client, api_key):
    viewer = api_key("viewer")
    response = client.get("/heatmap", params={"res": 12, "bbox": "73,18,135,53"}, headers=viewer)
    assert "单元" in _problem(response, 400)["detail"]
    assert (
        client.get("/heatmap", params={"res": 5, "bbox": "73,18,135,53"}, headers=viewer).status_code == 200
    )
