"""PostgreSQL crashes under a load of incident reports, repeatedly, and the API rides it out.

A throwaway cluster of its own (the suite's shared server is not killed) serves a uvicorn
process while clients file reports.  Between crashes (``pg_ctl stop -m immediate``) and
restarts, the API must answer only 503 problems with ``Retry-After``; once PostgreSQL accepts
connections again every request must succeed with no restart of the API; and every report
that was acknowledged with a 201 must be stored exactly once (retries reuse their
Idempotency-Key).  The time back to service is measured by ``scripts/bench/bench_outage.py``.
"""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from geogrid.db import keys, make_engine, migrate
from geogrid.db.cluster import LocalCluster
from tests.incident_support import publish_sample
from tests.outage_support import READS, ReportLoad, stored_reports
from tests.server_support import api_process

CYCLES = 3


@pytest.fixture
def crash_cluster(tmp_path):
    cluster = LocalCluster(tmp_path / "crash-home")
    url = cluster.start()
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield cluster, url, engine
    engine.dispose()
    cluster.stop()
    # As root the data folder lives under /var/tmp (postgres cannot enter tmp_path): remove it.
    shutil.rmtree(cluster.data_dir.parent, ignore_errors=True)


def test_reports_survive_repeated_crashes_and_the_api_recovers_by_itself(crash_cluster, tmp_path):
    cluster, url, engine = crash_cluster
    port = cluster.port
    publish_sample(engine)
    key = keys.create_key(engine, "reporter", "resident")
    with api_process(url, tmp_path, rate_limit_per_key="0", rate_limit_per_address="0") as (base, _proc):
        with ReportLoad(base, key, threads=6, readers=2, tag="crash") as load:
            time.sleep(1.0)
            for _ in range(CYCLES):
                load.crash_and_restart(cluster, down_s=1.0)
                assert cluster.port == port  # back where the running API expects it
                time.sleep(1.5)
        health = httpx.get(base + "/health").json()
        log = (tmp_path / f"uvicorn-{base.rsplit(':', 1)[1]}.log").read_text()
    result = load.result
    # Only 201s (reports) and 200s (reads) and, while the database was down, 503 problems
    # with Retry-After; every driver's reads among them.
    assert set(result.statuses) <= {200, 201, 503}, result.statuses
    assert result.statuses[503] > 0 and result.statuses[201] > 0
    assert {a.path for a in result.answers if a.status == 200} == set(READS)
    assert {a.path for a in result.answers if a.status == 503} >= set(READS)
    assert all(a.problem and a.retry_after for a in result.answers if a.status == 503)
    # Once PostgreSQL was back, nothing failed: the pools reconnected on their own.
    failed = [a for a in result.answers_after_up() if a.status not in (200, 201)]
    assert failed == [], (failed, [(o.down_at, o.up_at) for o in result.outages], log)
    assert all(o.first_ack_after_up is not None for o in result.outages)
    # Every acknowledged report is stored, exactly once.
    stored = stored_reports(engine, "crash")
    assert set(result.acknowledged) <= set(stored)
    assert [label for label, n in stored.items() if n > 1] == []
    assert health["database"]["state"] == "up"
    # One line per outage state change, not one per request, and no tracebacks.  A restarting
    # server may accept a connection and drop it once more (a real flap, logged as such), so an
    # outage may take two down/up pairs, however many requests failed during it.
    assert "Traceback" not in log
    assert 1 <= log.count("unreachable") <= 2 * CYCLES and log.count("reachable again") <= 2 * CYCLES
