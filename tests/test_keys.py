"""API keys: only hashes stored, revocation and role changes reach every process within a second,
last use recorded without a write per request, and the ``geogrid keys`` commands."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from geogrid.cli import app as cli
from geogrid.db import keys
from tests.server_support import api_process

runner = CliRunner()


def _rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM api_keys")).all()]


def test_keys_are_stored_only_as_hashes(engine):
    key = keys.create_key(engine, "张三", "dispatcher", scope={"division": "320508001000"})
    [row] = _rows(engine)
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert not any(key in str(value) for value in row.values())


def test_a_revoked_key_is_refused_within_the_check_interval(client, engine, app):
    headers = {"X-API-Key": keys.create_key(engine, "w1", "dispatcher")}
    assert client.get("/incidents", headers=headers).status_code == 200
    assert client.get("/incidents", headers=headers).status_code == 200  # now from the cache
    assert keys.revoke_key(engine, "w1") == 1
    time.sleep(app.state.settings.key_check_interval_s + 0.1)
    response = client.get("/incidents", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_a_role_change_takes_effect_without_a_restart(client, engine, app):
    headers = {"X-API-Key": keys.create_key(engine, "p1", "planner")}
    assert client.delete("/plans/12345", headers=headers).status_code == 404  # allowed; no such plan
    assert keys.update_key(engine, "p1", role="viewer") == 1
    time.sleep(app.state.settings.key_check_interval_s + 0.1)
    assert client.delete("/plans/12345", headers=headers).status_code == 403


def test_last_use_is_recorded_at_most_once_a_minute(client, engine):
    headers = {"X-API-Key": keys.create_key(engine, "v1", "viewer")}
    assert _rows(engine)[0]["last_used_at"] is None
    client.get("/incidents", headers=headers)
    first = _rows(engine)[0]["last_used_at"]
    assert first is not None
    for _ in range(5):
        client.get("/incidents", headers=headers)
    assert _rows(engine)[0]["last_used_at"] == first  # no write per request


def test_a_key_change_clears_every_cache_but_use_does_not(engine):
    cache = keys.KeyCache(check_interval_s=0.0)
    key = keys.create_key(engine, "v2", "viewer")
    assert cache.lookup(engine, key) == keys.KeyRecord("v2", "viewer", {})
    before = keys.key_version(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE api_keys SET last_used_at = now()"))
    assert keys.key_version(engine) == before
    keys.update_key(engine, "v2", scope={"grid_codes": ["320508001001001"]})
    assert keys.key_version(engine) != before
    assert cache.lookup(engine, key) == keys.KeyRecord("v2", "viewer", {"grid_codes": ["320508001001001"]})


def test_a_second_worker_process_refuses_a_revoked_key_within_a_second(client, engine, db_url, tmp_path):
    key = keys.create_key(engine, "d1", "dispatcher")
    headers = {"X-API-Key": key}
    with api_process(db_url, tmp_path, rate_limit_per_address="0") as (base, _proc):
        assert httpx.get(base + "/incidents", headers=headers).status_code == 200
        assert client.get("/incidents", headers=headers).status_code == 200
        assert keys.revoke_key(engine, "d1") == 1
        time.sleep(1.0)
        assert httpx.get(base + "/incidents", headers=headers).status_code == 401
        assert client.get("/incidents", headers=headers).status_code == 401


@pytest.fixture
def cli_env(engine, db_url, monkeypatch):
    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    return engine


def test_keys_commands_create_list_update_revoke(cli_env):
    result = runner.invoke(
        cli, ["keys", "create", "张三", "dispatcher", "--scope", '{"division": "320508001000"}']
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("gg_")
    listed = runner.invoke(cli, ["keys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.stdout)
    assert entry["name"] == "张三" and entry["scope"] == {"division": "320508001000"}
    assert key not in listed.stdout and "hash" not in listed.stdout
    result = runner.invoke(cli, ["keys", "update", "张三", "--role", "viewer"])
    assert result.exit_code == 0, result.output
    assert keys.lookup_key(cli_env, key) == keys.KeyRecord("张三", "viewer", {"division": "320508001000"})
    assert "revoked 1 key" in runner.invoke(cli, ["keys", "revoke", "张三"]).stdout
    assert keys.lookup_key(cli_env, key) is None
    assert json.loads(runner.invoke(cli, ["keys", "list", "--json"]).stdout) == []
    assert len(json.loads(runner.invoke(cli, ["keys", "list", "--json", "--all"]).stdout)) == 1


def test_a_malformed_division_scope_is_refused_when_the_key_is_made(cli_env):
    result = runner.invoke(cli, ["keys", "create", "李四", "dispatcher", "--scope", '{"division": "32"}'])
    assert result.exit_code == 1
    assert "division" in result.output
