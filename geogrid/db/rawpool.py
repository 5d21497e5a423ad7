"""A lean pool of autocommit psycopg2 connections for the service's hot read paths.

Point lookups and tiles are one read-only statement each.  Through a SQLAlchemy engine
every such statement costs four round trips (pre-ping ``SELECT 1``, ``BEGIN``, the query,
``ROLLBACK`` on return) plus planning; here it costs one: connections are in autocommit
mode (a single statement is already atomic and sees one snapshot, which is what makes
a lookup see either the old or the new plan, never a mix) and hot statements are
``PREPARE``-d once per connection.

The pool belongs to an engine (:func:`pool_for`) and is closed when that engine is
disposed, so an app that disposes its engine leaks no connections.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy import event
from sqlalchemy.engine import Engine

from geogrid.db import load_sql  # noqa: F401 - re-exported for the lookup and tile modules
from geogrid.errors import DatabaseUnavailableError


class _Connection(psycopg2.extensions.connection):
    """A psycopg2 connection that remembers which statements it has PREPARE-d."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: set[str] = set()


class RawPool:
    """A bounded, thread-safe pool of autocommit psycopg2 connections.

    Parameters
    ----------
    dsn
        A libpq connection string or ``postgresql://`` URI.
    max_idle
        Connections kept open when idle; more are opened under load and closed on return.

    Examples
    --------
    >>> pool = RawPool("postgresql://postgres@127.0.0.1:5432/geogrid")   # doctest: +SKIP
    >>> pool.fetchone("SELECT 1")                                         # doctest: +SKIP
    (1,)
    """

    def __init__(self, dsn: str, *, max_idle: int = 32) -> None:
        self.dsn = dsn
        self.max_idle = max_idle
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> _Connection:
        try:
            conn = psycopg2.connect(self.dsn, connection_factory=_Connection)
        except psycopg2.OperationalError as exc:
            raise DatabaseUnavailableError(f"cannot connect to the database: {exc}".strip()) from exc
        conn.autocommit = True
        return conn

    @contextmanager
    def connection(self) -> Iterator[_Connection]:
        """Borrow a connection; a connection that broke is dropped, not returned."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        broken = False
        try:
            yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
            raise DatabaseUnavailableError(f"database connection failed: {exc}".strip()) from exc
        finally:
            if broken or conn.closed or self._closed:
                conn.close()
            else:
                with self._lock:
                    keep = len(self._idle) < self.max_idle
                    if keep:
                        self._idle.append(conn)
                if not keep:
                    conn.close()

    @staticmethod
    def _execute_prepared(cur, conn, name: str, sql: str, params: Sequence[Any]) -> None:
        if name not in conn.prepared:
            cur.execute(f"PREPARE {name} AS {sql}")
            conn.prepared.add(name)
        placeholders = ", ".join(["%s"] * len(params))
        cur.execute(f"EXECUTE {name} ({placeholders})" if params else f"EXECUTE {name}", tuple(params))

    def fetchone_prepared(self, name: str, sql: str, params: Sequence[Any]) -> tuple | None:
        """Run prepared statement ``name`` (``$1``-style ``sql``, prepared on first use); first row."""
        with self.connection() as conn, conn.cursor() as cur:
            self._execute_prepared(cur, conn, name, sql, params)
            return cur.fetchone()

    def fetchone(self, sql: str, params: Any = None) -> tuple | None:
        """Run ``sql`` with psycopg2 ``%(name)s``/``%s`` parameters; first row."""
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def fetchall(self, sql: str, params: Any = None) -> list[tuple]:
        """Run ``sql`` with psycopg2 parameters; all rows."""
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def close(self) -> None:
        """Close idle connections; borrowed ones close when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


_POOLS: weakref.WeakKeyDictionary[Engine, RawPool] = weakref.WeakKeyDictionary()
_POOLS_LOCK = threading.Lock()


def pool_for(engine: Engine) -> RawPool:
    """The :class:`RawPool` of ``engine`` (same database), created on first use.

    It is closed when the engine is disposed (``engine.dispose()``) and replaced by a new
    one if the engine is used again afterwards.
    """
    with _POOLS_LOCK:
        pool = _POOLS.get(engine)
        if pool is None or pool._closed:
            dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            pool = RawPool(dsn, max_idle=max(8, engine.pool.size() if hasattr(engine.pool, "size") else 8))
            _POOLS[engine] = pool
            if not event.contains(engine, "engine_disposed", _on_dispose):
                event.listen(engine, "engine_disposed", _on_dispose)
        return pool


def _on_dispose(engine: Engine) -> None:
    with _POOLS_LOCK:
        pool = _POOLS.pop(engine, None)
    if pool is not None:
        pool.close()
