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

ENV_URL = "GEOGRID_DATABASE_URL"
ENV_HOME = "GEOGRID_HOME"


def default_home() -> Path:
    """Folder of the project-local cluster: ``$GEOGRID_HOME`` or ``./.geogrid``."""
    return Path(os.environ.get(ENV_HOME) or Path.cwd() / ".geogrid")


def database_url(*, start: bool = True) -> str:
    """The database to use: ``$GEOGRID_DATABASE_URL`` if set, else the local cluster (started if needed)."""
    url = os.environ.get(ENV_URL)
    if url:
        return url
    cluster = LocalCluster(default_home())
    return cluster.start() if start else cluster.url(DEFAULT_DBNAME)


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
