"""Read replicas: a primary and two streaming standbys started by geogrid, the API reading from the
standbys, a report readable right after it is made, reads going on while a replica and then the
primary are stopped, and ``geogrid db replica start|status|stop``."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_support import tile_of
from incident_support import G1, G3, IN_G1, IN_G3, publish_sample
from typer.testing import CliRunner

from api.routing import WATCH_NAME
from geogrid.db import keys, make_engine, migrate
from geogrid.db.cluster import LocalCluster
from geogrid.db.replica import REPLICATION_ROLE, ReplicaCluster, wait_for_replay

SERVED_BY = "x-geogrid-served-by"


@dataclass
class Servers:
    primary: LocalCluster
    replicas: list[ReplicaCluster]
    primary_url: str
    replica_urls: list[str]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A primary with the incident sample county and two replicas, all stopped and deleted after."""
    primary = LocalCluster(tmp_path_factory.mktemp("replication") / "home")
    replicas = [ReplicaCluster(primary, "r1"), ReplicaCluster(primary, "r2")]
    try:
        url = primary.start()
        engine = make_engine(url)
        migrate.upgrade(engine)
        publish_sample(engine)
        engine.dispose()
        replica_urls = [replica.start() for replica in replicas]
        wait_for_replay(url, replica_urls)
        yield Servers(primary, replicas, url, replica_urls)
    finally:
        for replica in replicas:
            replica.remove()
        primary.stop()
        shutil.rmtree(primary.data_dir.parent, ignore_errors=True)


def _count(url: str, sql: str, params: dict | None = None) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql), params or {}).scalar() or 0)
    finally:
        engine.dispose()


def _execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def _connections_since(url: str, since: datetime) -> int:
    """Connections of the API's pools to the ``geogrid`` database of this server opened after
    ``since`` (not the asking one, nor the lag watch's, which reads WAL positions only)."""
    return _count(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'geogrid' AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() AND backend_start > :t AND application_name <> :watch",
        {"t": since, "watch": WATCH_NAME},
    )


@pytest.fixture
def client(servers: Servers, tmp_path: Path):
    from fastapi.testclient import TestClient

    from api import create_app
    from api.settings import Settings

    settings = Settings(
        database_url=servers.primary_url,
        replica_urls=",".join(servers.replica_urls),
        served_by_header=True,
        retry_after_s=1,
        photo_dir=tmp_path / "photos",
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _lookup(client, where=IN_G1):
    return client.get("/lookup", params={"lon": where[0], "lat": where[1]})


def test_reads_on_replicas_reports_on_primary_and_reads_while_servers_are_down(servers: Servers, client):
    engine = make_engine(servers.primary_url)
    resident = {"X-API-Key": keys.create_key(engine, "居民甲", "resident")}
    admin = {"X-API-Key": keys.create_key(engine, "管理员", "admin")}
    viewer = {"X-API-Key": keys.create_key(engine, "领导乙", "viewer")}  # first used with the primary down
    engine.dispose()
    wait_for_replay(servers.primary_url, servers.replica_urls)
    # The admin key's first use is recorded (a write: on the primary, once per interval).
    assert client.get("/incidents", headers=admin).headers[SERVED_BY] == "primary"
    used = _count(servers.primary_url, "SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL", {})
    assert used == 1
    reads_start = datetime.now(UTC)

    # Reads: every kind is answered by a replica, the replicas taking turns.
    answers = [_lookup(client, where) for where in (IN_G1, IN_G3, IN_G1, IN_G3)]
    assert [r.json()["grid"]["code"] for r in answers] == [G1, G3, G1, G3]
    assert {r.headers[SERVED_BY] for r in answers} == {"replica 1", "replica 2"}
    z, x, y = tile_of(*IN_G1, 14)
    reads = [
        client.get(f"/collections/grids/tiles/WebMercatorQuad/{z}/{x}/{y}"),
        client.get("/collections/grids/items", params={"limit": 5}),
        client.get("/heatmap", params={"res": 8}),
        client.get("/stats", headers=admin),
        client.post("/lookup/batch", json={"points": [list(IN_G1), list(IN_G3)]}),
    ]
    for r in reads:
        assert r.status_code == 200, (r.request.url, r.text)
        assert r.headers[SERVED_BY].startswith("replica"), r.request.url
    # ... and the servers say so themselves: the API is connected to both replicas, not to the primary
    # (the key lookups of the keyed reads included).
    assert all(_connections_since(url, reads_start) >= 1 for url in servers.replica_urls)
    assert _connections_since(servers.primary_url, reads_start) == 0

    # A report is written on the primary and readable by its reporter at once.
    report = {"category": "HW01", "lon": IN_G1[0], "lat": IN_G1[1], "description": "路口垃圾"}
    created = client.post("/incidents", json=report, headers=resident)
    assert created.status_code == 201, created.text
    assert created.headers[SERVED_BY] == "primary"
    public_id = created.json()["id"]
    got = client.get(f"/incidents/{public_id}", headers=resident)
    assert got.status_code == 200 and got.json()["status"] == "reported"
    assert got.headers[SERVED_BY] == "primary"

    first = servers.replicas[0]
    try:
        # One replica down: reads move on to the other.
        first.stop()
        answers = [_lookup(client) for _ in range(4)]
        assert [r.status_code for r in answers] == [200] * 4
        assert {r.headers[SERVED_BY] for r in answers} == {"replica 2"}

        # The primary down too: reads go on (the report included), writes answer 503 + Retry-After.
        wait_for_replay(servers.primary_url, servers.replica_urls[1:])
        servers.primary.stop()
        assert _lookup(client, IN_G3).json()["grid"]["code"] == G3
        got = client.get(f"/incidents/{public_id}", headers=resident)
        assert got.status_code == 200 and got.json()["id"] == public_id
        assert got.headers[SERVED_BY] == "replica 2"
        # A key's first use cannot be recorded on a stopped primary: the read is answered anyway.
        stats = client.get("/stats", headers=viewer)
        assert stats.status_code == 200 and stats.headers[SERVED_BY] == "replica 2", stats.text
        refused = client.post("/incidents", json=report, headers=resident)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"].startswith("application/problem+json")
    finally:
        servers.primary.start()
        first.start()
    # Back to normal: writes on the primary again, and the replicas catch up.
    again = client.post("/incidents", json=report, headers=resident)
    assert again.status_code == 201, again.text
    wait_for_replay(servers.primary_url, servers.replica_urls)
    for url in servers.replica_urls:
        assert _count(url, "SELECT count(*) FROM incidents") == 2


def test_replica_commands(servers: Servers, monkeypatch):
    from geogrid.cli import app

    monkeypatch.setenv("GEOGRID_HOME", str(servers.primary.home))
    monkeypatch.delenv("GEOGRID_DATABASE_URL", raising=False)
    runner = CliRunner()
    status = runner.invoke(app, ["db", "replica", "status"])
    assert status.exit_code == 0, status.output
    assert status.output.count("in recovery: True") == 2
    assert "replicas: r1 (running), r2 (running)" in runner.invoke(app, ["db", "status"]).output
    # Both stream as the project's replication role, through its own pg_hba.conf line and slots.
    streams = _count(
        servers.primary_url,
        "SELECT count(*) FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid "
        "WHERE r.usename = :role AND s.slot_name IN ('geogrid_r1', 'geogrid_r2') AND r.state = 'streaming'",
        {"role": REPLICATION_ROLE},
    )
    assert streams == 2
    rule = "SELECT count(*) FROM pg_hba_file_rules WHERE :role = ANY(user_name) AND 'replication' = ANY(database)"
    assert _count(servers.primary_url, rule, {"role": REPLICATION_ROLE}) == 1
    stopped = runner.invoke(app, ["db", "replica", "stop", "--name", "r2"])
    assert "replica r2: stopped" in stopped.output
    assert not servers.replicas[1].is_running()
    status = runner.invoke(app, ["db", "replica", "status"])
    assert "replica r2: running: False" in status.output and "replica r1: running: True" in status.output
    # A replica made before starts while the primary is down (to serve reads); a new one cannot be made.
    servers.primary.stop()
    try:
        started = runner.invoke(app, ["db", "replica", "start", "--name", "r2"])
        assert started.exit_code == 0, started.output
        assert f"replica r2 ready: {servers.replica_urls[1]}" in started.output
        assert _count(servers.replica_urls[1], "SELECT count(*) FROM grids") == 3
        refused = runner.invoke(app, ["db", "replica", "start", "--name", "r3"])
        assert refused.exit_code == 1 and "the primary is not running" in refused.output
        assert "r3" not in runner.invoke(app, ["db", "replica", "status"]).output
    finally:
        servers.primary.start()
    assert servers.replicas[1].is_running()
    refused = runner.invoke(app, ["db", "replica", "start", "--name", "R-2"])
    assert refused.exit_code == 1 and "replica name 'R-2'" in refused.output


def test_server_errors_are_told_apart(servers: Servers):
    """Only a server that cannot answer moves a read on; a write refused by a replica goes to the
    primary; a cancelled statement is the request's own error."""
    import psycopg2

    from geogrid.db.routing import is_unavailable, needs_primary

    replica_dsn = servers.replica_urls[0].replace("+psycopg2", "")
    with psycopg2.connect(replica_dsn) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.Error) as written:
            cur.execute("CREATE TABLE on_a_replica (x int)")
        conn.rollback()
        cur.execute("SET statement_timeout = 10")
        with pytest.raises(psycopg2.Error) as cancelled:
            cur.execute("SELECT pg_sleep(1)")
    conn.close()
    assert needs_primary(written.value) and not is_unavailable(written.value)
    assert not is_unavailable(cancelled.value) and not needs_primary(cancelled.value)
    port = servers.replicas[0].port
    servers.replicas[0].stop()
    try:
        with pytest.raises(psycopg2.OperationalError) as refused:
            psycopg2.connect(replica_dsn)
        assert is_unavailable(refused.value) and not needs_primary(refused.value)
        engine = sa.create_engine(servers.replica_urls[0])
        with pytest.raises(sa.exc.OperationalError) as wrapped:
            engine.connect()
        engine.dispose()
        assert is_unavailable(wrapped.value)
    finally:
        servers.replicas[0].start()
    assert servers.replicas[0].port == port


def _served_by_within(client, wanted: str, timeout_s: float = 15.0) -> str:
    """Look up until a lookup is answered by a server whose name starts with ``wanted``."""
    deadline = time.monotonic() + timeout_s
    served = ""
    while time.monotonic() < deadline:
        served = _lookup(client).headers[SERVED_BY]
        if served.startswith(wanted):
            return served
        time.sleep(0.2)
    return served


def test_replicas_far_behind_are_read_after_the_primary(servers: Servers, tmp_path: Path):
    from fastapi.testclient import TestClient

    from api import create_app
    from api.settings import Settings

    settings = Settings(
        database_url=servers.primary_url,
        replica_urls=",".join(servers.replica_urls),
        served_by_header=True,
        replica_max_lag_mb=0.05,
        photo_dir=tmp_path / "photos",
    )
    with TestClient(create_app(settings)) as client:
        assert _lookup(client).headers[SERVED_BY].startswith("replica")
        for url in servers.replica_urls:
            _execute(url, "SELECT pg_wal_replay_pause()")
        try:
            # ~1 MB of WAL the paused replicas do not replay: lookups move to the primary.
            _execute(
                servers.primary_url,
                "CREATE TABLE lag_probe AS SELECT g, repeat('x', 100) AS t FROM generate_series(1, 8000) g",
            )
            assert _served_by_within(client, "primary") == "primary"
        finally:
            for url in servers.replica_urls:
                _execute(url, "SELECT pg_wal_replay_resume()")
            _execute(servers.primary_url, "DROP TABLE IF EXISTS lag_probe")
        # Caught up again: back on the replicas.
        assert _served_by_within(client, "replica").startswith("replica")
    wait_for_replay(servers.primary_url, servers.replica_urls)
