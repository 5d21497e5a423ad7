"""PostGIS storage for geogrid: the local cluster, the schema and loading/saving frames.

This is the I/O edge: the core (``geogrid.partition`` etc.) never imports it.
"""

from __future__ import annotations

import importlib.resources
import os
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.db.cluster import DEFAULT_DBNAME, LocalCluster
from geogrid.db.home import ENV_HOME, find_home
from geogrid.errors import DatabaseUnavailableError

ENV_URL = "GEOGRID_DATABASE_URL"
__all__ = ["ENV_HOME", "ENV_URL", "database_url", "default_home", "load_sql", "make_engine", "require_schema"]


def default_home() -> Path:
    """Folder of the project's cluster: ``$GEOGRID_HOME``, else found from the project (:mod:`geogrid.db.home`).

    The same folder from any working directory of the project: the CLI, notebooks and the
    server share one database.
    """
    return find_home().path


def database_url(*, start: bool = True, create: bool = True) -> str:
    """The database to use: ``$GEOGRID_DATABASE_URL`` if set, else the project's cluster.

    ``start`` starts the cluster when it is stopped.  ``create=False`` refuses to initialise a
    cluster where none exists (the CLI's commands other than ``geogrid db start``/``demo``), so
    a command never makes a second, empty database by accident.
    """
    url = os.environ.get(ENV_URL)
    if url:
        return url
    home = find_home()
    cluster = LocalCluster(home.path)
    if not create and not (cluster.data_dir / "PG_VERSION").exists():
        raise DatabaseUnavailableError(
            f"no geogrid database in {home.path} ({home.reason}); run `geogrid db start` to create it, "
            f"or set {ENV_HOME} (or {ENV_URL}) to the one you mean"
        )
    return cluster.start() if start else cluster.url(DEFAULT_DBNAME)


def require_schema(engine: Engine) -> None:
    """Raise a one-line :class:`DatabaseUnavailableError` unless the schema is at the newest migration.

    Raises
    ------
    DatabaseUnavailableError
        The server cannot be reached, or its schema is missing or older than this geogrid; the
        message says to run ``geogrid db migrate``.
    """
    from geogrid.db import migrate

    where = engine.url.render_as_string(hide_password=True)
    try:
        current = migrate.current_revision(engine)
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot reach the database {where}: {exc.orig}".strip()) from None
    head = migrate.head_revision()
    if current is None:
        raise DatabaseUnavailableError(
            f"the database {where} has no geogrid schema; run `geogrid db migrate`"
        )
    if current != head:
        raise DatabaseUnavailableError(
            f"the database {where} is at schema revision {current}, this geogrid needs {head}; "
            "run `geogrid db migrate`"
        )


def make_engine(url: str, **kwargs) -> Engine:
    """A SQLAlchemy engine with sane pool settings for the service and scripts."""
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


@cache
def load_sql(name: str) -> str:
    """The text of ``geogrid/db/sql/<name>.sql`` (read once).

    Examples
    --------
    >>> "ST_Intersects" in load_sql("lookup_point")
    True
    """
    return (importlib.resources.files("geogrid.db") / "sql" / f"{name}.sql").read_text(encoding="utf-8")
