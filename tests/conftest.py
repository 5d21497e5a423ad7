"""Shared fixtures: a real throwaway PostGIS database for every test that asks for one.

The database lives on the project-local cluster (started here if it is not running) or on
the server of ``GEOGRID_DATABASE_URL``.  If no server can be started the suite fails
loudly: database tests are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import Engine, make_url

from geogrid.db import ENV_URL, default_home, make_engine, migrate
from geogrid.db.cluster import LocalCluster, drop_database, ensure_database

# CI explores the same examples every run (a red CI must mean a change broke something);
# local runs explore new random examples each time and keep failures in .hypothesis/.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"

_DATA_TABLES = ("grids", "plans", "addresses", "streets", "divisions", "api_keys")


def _server_url() -> str:
    url = os.environ.get(ENV_URL)
    if url:
        return url
    # The project's home, found as the CLI and notebooks find it (GEOGRID_HOME or the checkout).
    return LocalCluster(default_home()).start()


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of a database on the test server (the server is started if needed)."""
    try:
        return _server_url()
    except Exception as exc:
        pytest.exit(f"cannot start or reach PostGIS for the tests: {exc}", returncode=3)


def _with_db(url: str, dbname: str) -> str:
    return make_url(url).set(database=dbname).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def db_url(server_url: str) -> Iterator[str]:
    """A throwaway database migrated to head, dropped at the end of the session."""
    name = f"geogrid_test_{uuid.uuid4().hex[:8]}"
    admin = _with_db(server_url, "postgres")
    ensure_database(admin, name)
    url = _with_db(server_url, name)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    drop_database(admin, name)


@pytest.fixture(scope="session")
def _session_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def truncate_all(engine: Engine, tables: tuple[str, ...] = _DATA_TABLES) -> None:
    with engine.begin() as conn:
        present = set(sa.inspect(conn).get_table_names())
        names = [t for t in tables if t in present]
        # Tables added by later migrations (incidents...) are emptied too.
        names += [t for t in present if t not in names and t not in ("alembic_version", "spatial_ref_sys")]
        if names:
            conn.execute(
                sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in names) + " RESTART IDENTITY CASCADE")
            )


@pytest.fixture
def engine(_session_engine: Engine) -> Iterator[Engine]:
    """The session database, emptied after each test so tests stay independent."""
    yield _session_engine
    truncate_all(_session_engine)


@pytest.fixture
def fresh_db_url(server_url: str) -> Iterator[str]:
    """An empty database (PostGIS, no schema) of its own, for migration tests."""
    name = f"geogrid_fresh_{uuid.uuid4().hex[:8]}"
    admin = _with_db(server_url, "postgres")
    ensure_database(admin, name)
    yield _with_db(server_url, name)
    drop_database(admin, name)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def app(engine: Engine, tmp_path: Path):
    """The API app over the test database (open reads, photos in a temp folder)."""
    from api import create_app
    from api.settings import Settings

    # No rate limits: tests fire requests faster than any client should (tests/test_limits.py
    # checks the limits on apps of their own).
    settings = Settings(
        database_url=str(engine.url),
        photo_dir=tmp_path / "photos",
        rate_limit_per_key=0,
        rate_limit_per_address=0,
    )
    return create_app(settings, engine=engine)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def api_key(engine: Engine):
    """``api_key(role, **scope)`` creates a key in the test database and returns headers using it."""
    from geogrid.db import keys

    def make(role: str, name: str | None = None, **scope) -> dict[str, str]:
        key = keys.create_key(engine, name or f"test-{role}-{uuid.uuid4().hex[:6]}", role, scope=scope)
        return {"X-API-Key": key}

    return make
