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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from sqlalchemy import event
from sqlalchemy.engine import Engine

from geogrid.db import load_sql  # noqa: F401 - re-exported for the lookup and tile modules
from geogrid.errors import DatabaseUnavailableError, QueryTimeoutError

T = TypeVar("T")


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

    def __init__(
        self,
        dsn: str,
        *,
        max_idle: int = 32,
        options: str | None = None,
        connect_timeout_s: int = 5,
        on_connect: Callable[[], object] | None = None,
    ) -> None:
        self.dsn = dsn
        self.max_idle = max_idle
        # Session settings for every connection, e.g. "-c statement_timeout=10000".
        self.options = options
        self.connect_timeout_s = connect_timeout_s
        self.on_connect = on_connect
        self._idle: list[_Connection] = []
        self._borrowed: dict[int, _Connection] = {}  # thread id -> connection it uses now
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> _Connection:
        extra: dict[str, Any] = {"connect_timeout": self.connect_timeout_s}
        if self.options:
            extra["options"] = self.options
        try:
            conn = psycopg2.connect(self.dsn, connection_factory=_Connection, **extra)
        except psycopg2.OperationalError as exc:
            raise DatabaseUnavailableError(f"cannot connect to the database: {exc}".strip()) from exc
        conn.autocommit = True
        if self.on_connect is not None:
            self.on_connect()
        return conn

    @contextmanager
    def connection(self) -> Iterator[_Connection]:
        """Borrow a connection; a connection that broke is dropped, not returned.

        When one connection turns out dead, the idle ones went with the same server: they
        are closed too, so the requests after a restart do not fail one by one on them.
        """
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        broken = False
        me = threading.get_ident()
        self._borrowed[me] = conn
        try:
            yield conn
        except psycopg2.errors.QueryCanceled as exc:
            # The server cancelled the statement (time limit, or the client went away and
            # :meth:`cancel` was called): the connection itself is fine.
            raise QueryTimeoutError(f"statement cancelled: {exc}".strip()) from exc
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
            raise _StaleConnectionError(f"database connection failed: {exc}".strip()) from exc
        finally:
            self._borrowed.pop(me, None)
            if broken:
                self._drop_idle()
            if broken or conn.closed or self._closed:
                conn.close()
            else:
                with self._lock:
                    keep = len(self._idle) < self.max_idle
                    if keep:
                        self._idle.append(conn)
                if not keep:
                    conn.close()

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def cancel(self, thread_id: int) -> bool:
        """Cancel the statement the connection borrowed by thread ``thread_id`` is running
        (``PQcancel``: safe from another thread); False when that thread holds none."""
        conn = self._borrowed.get(thread_id)
        if conn is None or conn.closed:
            return False
        conn.cancel()
        return True

    def _retrying(self, work: Callable[[_Connection], T]) -> T:
        """Run ``work`` on a connection; if the connection proves dead (the server restarted
        since it was opened), once more on a new one.  Only for reads, which may repeat."""
        try:
            with self.connection() as conn:
                return work(conn)
        except _StaleConnectionError:
            with self.connection() as conn:
                return work(conn)

    @staticmethod
    def _execute_prepared(cur, conn, name: str, sql: str, params: Sequence[Any]) -> None:
        if name not in conn.prepared:
            cur.execute(f"PREPARE {name} AS {sql}")
            conn.prepared.add(name)
        placeholders = ", ".join(["%s"] * len(params))
        cur.execute(f"EXECUTE {name} ({placeholders})" if params else f"EXECUTE {name}", tuple(params))

    def fetchone_prepared(self, name: str, sql: str, params: Sequence[Any]) -> tuple | None:
        """Run prepared statement ``name`` (``$1``-style ``sql``, prepared on first use); first row."""

        def work(conn: _Connection) -> tuple | None:
            with conn.cursor() as cur:
                self._execute_prepared(cur, conn, name, sql, params)
                return cur.fetchone()

        return self._retrying(work)

    def fetchone(self, sql: str, params: Any = None) -> tuple | None:
        """Run ``sql`` with psycopg2 ``%(name)s``/``%s`` parameters; first row."""

        def work(conn: _Connection) -> tuple | None:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchone()

        return self._retrying(work)

    def fetchall(self, sql: str, params: Any = None) -> list[tuple]:
        """Run ``sql`` with psycopg2 parameters; all rows."""

        def work(conn: _Connection) -> list[tuple]:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()

        return self._retrying(work)

    def close(self) -> None:
        """Close idle connections; borrowed ones close when given back."""
        with self._lock:
            self._closed = True
        self._drop_idle()


class _StaleConnectionError(DatabaseUnavailableError):
    """A pooled connection failed under a statement (its server went away)."""


_POOLS: weakref.WeakKeyDictionary[Engine, RawPool] = weakref.WeakKeyDictionary()
_POOLS_LOCK = threading.Lock()


def pool_for(engine: Engine, *, options: str | None = None) -> RawPool:
    """The :class:`RawPool` of ``engine`` (same database), created on first use.

    ``options`` are session settings for its connections (``-c statement_timeout=...``),
    taken when the pool is created.  It is closed when the engine is disposed
    (``engine.dispose()``) and replaced by a new one if the engine is used again afterwards.
    """
    from geogrid.db.health import state_for

    with _POOLS_LOCK:
        pool = _POOLS.get(engine)
        if pool is None or pool._closed:
            dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            pool = RawPool(
                dsn,
                max_idle=max(8, engine.pool.size() if hasattr(engine.pool, "size") else 8),
                options=options,
                on_connect=state_for(engine).mark_up,
            )
            _POOLS[engine] = pool
            if not event.contains(engine, "engine_disposed", _on_dispose):
                event.listen(engine, "engine_disposed", _on_dispose)
        return pool


def _on_dispose(engine: Engine) -> None:
    with _POOLS_LOCK:
        pool = _POOLS.pop(engine, None)
    if pool is not None:
        pool.close()
