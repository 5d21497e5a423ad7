"""A load of incident reports against a running API while its PostgreSQL crashes and restarts.

Shared by ``tests/test_outage.py`` (a few cycles, asserting what must hold) and
``scripts/bench/bench_outage.py`` (more cycles, reporting the figures in docs/RELIABILITY.md).

Each client thread files reports one after another.  A report carries its own label in the
description and its own ``Idempotency-Key``; a 503 (or a lost connection) is retried with the
same key until the report is acknowledged with a 201, as a phone app would.  Every answer is
recorded with the moment its request started, so the checks can say which answers came
while the database was down and which after it was back.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.db.cluster import LocalCluster

POINT = (120.605, 31.305)
# Reads through the three drivers: asyncpg (point lookup), the raw psycopg2 pool (address
# lookup, features) and SQLAlchemy (statistics).  The sample of tests/incident_support.py
# has a published grid at POINT and the address text below.
READS = (
    f"/lookup?lon={POINT[0]}&lat={POINT[1]}",
    "/lookup?address=东港社区人民路12号",
    "/collections/grids/items?limit=5",
    "/stats",
)


@dataclass
class Answer:
    started: float  # time.monotonic() when the request was sent
    finished: float  # ... and when its answer (or error) came
    status: int  # 0: no HTTP answer (connection refused, reset...)
    problem: bool = False  # application/problem+json
    retry_after: bool = False
    detail: str = ""
    path: str = "/incidents"


@dataclass
class Outage:
    down_at: float  # PostgreSQL killed
    up_at: float  # PostgreSQL accepting connections again
    first_ack_after_up: float | None = None


@dataclass
class LoadResult:
    acknowledged: dict[str, str] = field(default_factory=dict)  # label -> public id of the 201
    answers: list[Answer] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)

    @property
    def statuses(self) -> Counter:
        return Counter(a.status for a in self.answers)

    def answers_after_up(self) -> list[Answer]:
        """Answers to requests sent after the database was back and answered before it went
        down again (the pools must not fail any of them)."""
        out = []
        for outage in self.outages:
            nxt = min((o.down_at for o in self.outages if o.down_at > outage.up_at), default=float("inf"))
            out += [a for a in self.answers if outage.up_at <= a.started and a.finished < nxt]
        return out


class ReportLoad:
    """``threads`` clients filing reports to ``base`` with ``key`` until :meth:`stop`."""

    def __init__(self, base: str, key: str, *, threads: int = 8, readers: int = 0, tag: str = "load") -> None:
        self.base = base
        self.key = key
        self.tag = tag
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(threads)
        ]
        self._threads += [threading.Thread(target=self._reader, daemon=True) for _ in range(readers)]

    def __enter__(self) -> ReportLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _client(self, n: int) -> None:
        with httpx.Client(base_url=self.base, timeout=30, headers={"X-API-Key": self.key}) as http:
            i = 0
            while not self._stop.is_set():
                i += 1
                self._file(http, f"{self.tag}-{n}-{i}")

    def _reader(self) -> None:
        """Anonymous reads, one after another, through every driver (not retried)."""
        with httpx.Client(base_url=self.base, timeout=30) as http:
            i = 0
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = http.get(READS[i % len(READS)])
                except httpx.TransportError:
                    answer = Answer(started, time.monotonic(), 0, path=READS[i % len(READS)])
                else:
                    answer = Answer(
                        started,
                        time.monotonic(),
                        response.status_code,
                        response.headers.get("content-type") == "application/problem+json",
                        "retry-after" in response.headers,
                        response.text[:300] if response.status_code != 200 else "",
                        path=READS[i % len(READS)],
                    )
                with self._lock:
                    self.result.answers.append(answer)
                i += 1
                time.sleep(0.01)

    def _file(self, http: httpx.Client, label: str) -> None:
        """One report, retried with its Idempotency-Key until acknowledged."""
        body = {"category": "HW01", "lon": POINT[0], "lat": POINT[1], "description": label}
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        while True:
            started = time.monotonic()
            try:
                response = http.post("/incidents", json=body, headers=headers)
            except httpx.TransportError:
                answer = Answer(started, time.monotonic(), 0)
            else:
                answer = Answer(
                    started,
                    time.monotonic(),
                    response.status_code,
                    response.headers.get("content-type") == "application/problem+json",
                    "retry-after" in response.headers,
                    response.text[:300] if response.status_code != 201 else "",
                )
            with self._lock:
                self.result.answers.append(answer)
                if answer.status == 201:
                    self.result.acknowledged[label] = response.json()["id"]
                    for outage in self.result.outages:
                        if outage.first_ack_after_up is None and started >= outage.up_at:
                            outage.first_ack_after_up = time.monotonic()
            if answer.status == 201 or answer.status not in (0, 503):
                return
            time.sleep(0.05)

    def crash_and_restart(self, cluster: LocalCluster, *, down_s: float) -> Outage:
        """Kill PostgreSQL (``-m immediate``), keep it down ``down_s`` seconds, start it again."""
        down_at = time.monotonic()
        cluster.crash()
        time.sleep(down_s)
        cluster.start()
        outage = Outage(down_at, time.monotonic())
        with self._lock:
            self.result.outages.append(outage)
        return outage


def stored_reports(engine: Engine, tag: str) -> Counter:
    """How many stored incidents carry each label of a load (more than 1: a duplicate)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT description, count(*) FROM incidents WHERE description LIKE :t GROUP BY 1"),
            {"t": f"{tag}-%"},
        ).all()
    return Counter({label: count for label, count in rows})
