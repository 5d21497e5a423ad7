"""Notifications: the outbox delivered by webhook to a real HTTP receiver that refuses the first
attempts — retried with exponential backoff until acknowledged, logged, never sent twice."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
import sqlalchemy as sa
from incident_support import IN_G1, JUSTICE, POLICE, install_organisation, publish_sample
from typer.testing import CliRunner

from geogrid import incidents as wf
from geogrid.cli import app as cli
from geogrid.db import incidents as st
from geogrid.db import notify
from geogrid.db.staff import assign_staff
from geogrid.staff import read_roster

CAT = wf.load_catalogue()
ADMIN = wf.Actor("root", "admin")
T0 = datetime.now(UTC).replace(microsecond=0)


class Receiver:
    """A webhook receiver on a local port: refuses the first ``fail_first`` attempts of every
    event with 503 (or with an errcode for robot formats), then acknowledges."""

    def __init__(self, *, fail_first: int = 0, robot: bool = False, delay_s: float = 0.0) -> None:
        self.fail_first, self.robot, self.delay_s = fail_first, robot, delay_s
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Idempotency-Key")
                time.sleep(receiver.delay_s)
                with receiver.lock:
                    seen = sum(1 for r in receiver.requests if r["key"] == key)
                    ok = seen >= receiver.fail_first
                    receiver.requests.append(
                        {"key": key, "body": json.loads(body), "ok": ok, "path": self.path}
                    )
                if receiver.robot:
                    answer = {"errcode": 0 if ok else 93000, "errmsg": "ok" if ok else "invalid webhook url"}
                    self._answer(200, json.dumps(answer).encode())
                else:
                    self._answer(200 if ok else 503, b"{}")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def acknowledged(self) -> Counter:
        return Counter(r["key"] for r in self.requests if r["ok"])


@pytest.fixture
def county(engine):
    publish_sample(engine)
    install_organisation(engine)
    roster = pd.DataFrame(
        {"部门编码": [POLICE, JUSTICE], "部门联络员": ["派出所长 13800000021", "司法所长 13800000022"]}
    )
    assign_staff(engine, read_roster(roster))
    return engine


def summon(engine, n: int = 1) -> list[str]:
    """``n`` incidents at G1, accepted and summoned (两个部门): 2 notifications each."""
    ids = []
    for _ in range(n):
        pid = st.create(
            engine, st.NewIncident("HW01", *IN_G1, "patrol"), catalogue=CAT, now=T0
        ).incident.public_id
        st.transition(engine, pid, "accept", actor=ADMIN, catalogue=CAT, now=T0)
        request = st.ActionRequest(departments=(POLICE, JUSTICE), note="联合处置")
        st.transition(engine, pid, "summon", actor=ADMIN, catalogue=CAT, request=request, now=T0)
        ids.append(pid)
    return ids


def test_retried_with_backoff_until_acknowledged_and_logged(county):
    [pid] = summon(county)
    with Receiver(fail_first=2) as receiver:
        config = notify.DeliveryConfig(url=receiver.url, base_s=30, cap_s=3600)
        rounds = [(0, 0, 2), (29, 0, 0), (30, 0, 2), (89, 0, 0), (90, 2, 0), (36_000, 0, 0)]
        for seconds, delivered, failed in rounds:
            done = notify.deliver_due(county, config, now=T0 + timedelta(seconds=seconds))
            assert (done.delivered, done.failed) == (delivered, failed), seconds
        keys = Counter(r["key"] for r in receiver.requests)
        assert set(keys.values()) == {3} and len(keys) == 2  # 2 refused, then acknowledged
        assert set(receiver.acknowledged().values()) == {1}  # acknowledged once each
        body = receiver.requests[-1]["body"]
        assert body["kind"] == "summon" and body["incident"]["id"] == pid
        assert body["recipient"]["name"] in ("金港街道派出所", "金港街道司法所")
        assert body["recipient"]["phones"] in (["13800000021"], ["13800000022"])
        assert body["text"].startswith("【吹哨】金港街道综治中心召集") or body["text"].startswith(
            "【吹哨】东港社区综治中心召集"
        )
    [sent] = [n for n in notify.notifications(county, incident=pid) if n.event_key.endswith(POLICE)]
    assert (sent.status, sent.attempts) == ("delivered", 3)
    log = notify.deliveries(county, sent.id)
    assert [(d["attempt"], d["status_code"], d["ok"]) for d in log] == [
        (1, 503, False),
        (2, 503, False),
        (3, 200, True),
    ]
    # the waits double: 30 s after the first failure, 60 s after the second
    assert [d["at"] - T0 for d in log] == [timedelta(0), timedelta(seconds=30), timedelta(seconds=90)]


def test_never_sent_twice_for_one_event(county):
    summon(county, 10)  # 20 events
    with Receiver(delay_s=0.02) as receiver:
        config = notify.DeliveryConfig(url=receiver.url, batch=7)
        workers = [
            threading.Thread(target=notify.deliver_due, args=(county,), kwargs={"config": config, "now": T0})
            for _ in range(3)
        ]
        for _ in range(3):  # several rounds of three workers at once
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            workers = [
                threading.Thread(
                    target=notify.deliver_due, args=(county,), kwargs={"config": config, "now": T0}
                )
                for _ in range(3)
            ]
        assert len(receiver.requests) == 20 and set(receiver.acknowledged().values()) == {1}
        # enqueueing the same events again adds nothing, and nothing is sent again
        with county.begin() as conn:
            inc = st.get_many(conn, [receiver.requests[0]["body"]["incident"]["id"]])[0]
            again = notify.enqueue(
                conn,
                event_key=receiver.requests[0]["key"],
                kind="summon",
                incident=inc,
                catalogue=CAT,
                to=("department", POLICE),
                now=T0,
            )
        assert again is False
        assert notify.deliver_due(county, config, now=T0 + timedelta(days=1)).delivered == 0
        assert len(receiver.requests) == 20
    assert notify.status_counts(county) == {"delivered": 20}


def test_a_worker_that_died_mid_send_leaves_its_events_to_another(county):
    summon(county)
    with county.begin() as conn:  # a worker claimed both events and died
        conn.execute(
            sa.text("UPDATE notifications SET status = 'sending', attempts = 1, lease_until = :t"), {"t": T0}
        )
    with Receiver() as receiver:
        config = notify.DeliveryConfig(url=receiver.url)
        assert (
            notify.deliver_due(county, config, now=T0 - timedelta(seconds=1)).delivered == 0
        )  # lease still on
        assert notify.deliver_due(county, config, now=T0 + timedelta(seconds=1)).delivered == 2
        assert {n.attempts for n in notify.notifications(county)} == {2}


def test_robot_formats_and_errcodes(county):
    summon(county)
    with Receiver(fail_first=1, robot=True) as receiver:
        config = notify.DeliveryConfig(url=receiver.url, fmt="wecom")
        assert notify.deliver_due(county, config, now=T0).failed == 2  # 200 with errcode 93000
        assert notify.deliver_due(county, config, now=T0 + timedelta(hours=1)).delivered == 2
        body = receiver.requests[-1]["body"]
        assert body["msgtype"] == "text" and body["text"]["content"].startswith("【吹哨】")
        assert body["text"]["mentioned_mobile_list"][0] in ("13800000021", "13800000022")
    failed = [n for n in notify.notifications(county) if n.last_error]
    assert failed == [] and all(n.status == "delivered" for n in notify.notifications(county))
    log = notify.deliveries(county, notify.notifications(county)[0].id)
    assert log[0]["error"] == "errcode 93000: invalid webhook url"


def test_dead_after_the_last_attempt(county):
    summon(county)
    with Receiver(fail_first=99) as receiver:
        config = notify.DeliveryConfig(url=receiver.url, max_attempts=2, base_s=1)
        notify.deliver_due(county, config, now=T0)
        done = notify.deliver_due(county, config, now=T0 + timedelta(seconds=1))
        assert (done.failed, done.dead) == (2, 2)
        assert notify.deliver_due(county, config, now=T0 + timedelta(days=9)).failed == 0
        assert len(receiver.requests) == 4
    assert notify.status_counts(county) == {"dead": 2}


def test_flags_are_raised_once_per_deadline_and_colour(county):
    pid = st.create(
        county, st.NewIncident("ZA01", *IN_G1, "patrol"), catalogue=CAT, now=T0
    ).incident.public_id
    # 治安隐患线索: accept within 1 h, complete within 24 h
    assert notify.raise_flags(county, catalogue=CAT, now=T0 + timedelta(minutes=30)) == []
    [yellow] = notify.raise_flags(county, catalogue=CAT, now=T0 + timedelta(minutes=50))
    assert (yellow.deadline, yellow.colour) == ("accept", "yellow")
    assert notify.raise_flags(county, catalogue=CAT, now=T0 + timedelta(minutes=55)) == []
    [red] = notify.raise_flags(county, catalogue=CAT, now=T0 + timedelta(hours=2))
    assert (red.deadline, red.colour) == ("accept", "red")
    flags = [(f.deadline, f.colour) for f in st.flags_of(county, pid)]
    assert flags == [("accept", "yellow"), ("accept", "red")]
    texts = [n.payload["text"] for n in notify.notifications(county, incident=pid)]
    assert texts[0].startswith("【红牌】东港社区综治中心：事件") and "受理时限" in texts[0]
    assert texts[1].startswith("【黄牌】")
    inc = st.get(county, pid, now=T0 + timedelta(hours=20))
    assert inc.flags == {"accept": "red", "complete": "yellow"}


def test_the_api_process_delivers_by_itself(engine, county, api_key):
    from fastapi.testclient import TestClient

    from api import create_app
    from api.settings import Settings

    with Receiver() as receiver:
        settings = Settings(
            database_url=str(engine.url),
            notify_webhook_url=receiver.url,
            notify_interval_s=0.2,
            rate_limit_per_key=0,
        )
        with TestClient(create_app(settings, engine=engine)) as client:
            admin = api_key("admin")
            r = client.post(
                "/incidents", json={"category": "HW01", "lon": IN_G1[0], "lat": IN_G1[1]}, headers=admin
            )
            pid = r.json()["id"]
            client.post(f"/incidents/{pid}/transitions", json={"action": "accept"}, headers=admin)
            r = client.post(
                f"/incidents/{pid}/transitions",
                json={"action": "dispatch", "department": "城市管理局"},
                headers=admin,
            )
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + 30
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.1)
            outbox = client.get("/notifications", headers=admin).json()
        assert [r["body"]["kind"] for r in receiver.requests] == ["dispatch"]
        assert receiver.requests[0]["body"]["recipient"]["name"] == "城市管理局"
        assert outbox["counts"].get("delivered", 0) + outbox["counts"].get("sending", 0) >= 1


def test_cli_notify_run_once(county, db_url, monkeypatch):
    summon(county)
    with Receiver() as receiver:
        monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
        monkeypatch.setenv("GEOGRID_NOTIFY_WEBHOOK_URL", receiver.url)
        result = CliRunner().invoke(cli, ["notify", "run", "--once"])
        assert result.exit_code == 0, result.output
        assert "delivered: 2" in result.output and len(receiver.requests) == 2
        status = CliRunner().invoke(cli, ["notify", "status"])
        assert "delivered" in status.output
