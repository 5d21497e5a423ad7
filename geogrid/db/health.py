"""Is the database there?  Telling outages and timeouts from bugs, and logging outages once.

Three drivers talk to PostgreSQL in the service (SQLAlchemy over psycopg2, the raw psycopg2
pool of :mod:`geogrid.db.rawpool`, asyncpg for the point lookup) and each reports a lost
server differently.  :func:`translate` turns any of their errors into a geogrid error when it
means "the database is unreachable" (:class:`~geogrid.errors.DatabaseUnavailableError`, a
503), "the statement ran past its time limit" (:class:`~geogrid.errors.QueryTimeoutError`,
a 504) or "this value is not acceptable" (a 400), and returns None for anything else (a bug).

:class:`DatabaseState` (one per engine, :func:`state_for`) remembers whether the database is
up and logs one line when it goes down and one when it comes back, however many requests
fail in between: an outage is not a traceback per request.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.engine import Engine

from geogrid.errors import DatabaseUnavailableError, GeogridError, LimitError, QueryTimeoutError
from geogrid.limits import message

log = logging.getLogger("geogrid.db")

#: SQLSTATE classes and codes that mean the server is gone, going or refusing connections.
_UNAVAILABLE_CLASSES = ("08", "53", "58")  # connection exception, insufficient resources, system error
_UNAVAILABLE_CODES = frozenset({"57P01", "57P02", "57P03", "57P04", "57P05"})  # shutdown, crash, starting
_QUERY_CANCELED = "57014"


def _sqlstate(exc: BaseException) -> str | None:
    code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    return str(code) if code else None


def _driver_error(exc: BaseException) -> BaseException:
    """The DBAPI error under a SQLAlchemy wrapper (or ``exc`` itself)."""
    return getattr(exc, "orig", None) or exc


def classify(exc: BaseException) -> str | None:
    """``"unavailable"``, ``"timeout"``, ``"bad_value"`` or None (not a database condition).

    Examples
    --------
    >>> classify(ConnectionRefusedError(111, "Connection refused"))
    'unavailable'
    >>> classify(KeyError("x")) is None
    True
    """
    if isinstance(exc, QueryTimeoutError):
        return "timeout"
    if isinstance(exc, DatabaseUnavailableError):
        return "unavailable"
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy saw the connection drop
        return "unavailable"
    orig = _driver_error(exc)
    state = _sqlstate(orig)
    if state == _QUERY_CANCELED:
        return "timeout"
    if state is not None:
        if state[:2] in _UNAVAILABLE_CLASSES or state in _UNAVAILABLE_CODES:
            return "unavailable"
        if state.startswith("22"):  # data exception: a value the column or function refuses
            return "bad_value"
        return None
    module = type(orig).__module__
    name = type(orig).__name__
    if module.startswith("psycopg2") and name in ("OperationalError", "InterfaceError"):
        return "unavailable"  # no SQLSTATE: refused, reset, "server closed the connection"
    if module.startswith("asyncpg") and name in ("InterfaceError", "ConnectionDoesNotExistError"):
        return "unavailable"
    if isinstance(orig, ConnectionError | TimeoutError):
        return "unavailable"  # asyncpg connecting to a server that is not listening
    return None


def translate(exc: BaseException, *, timeout_ms: int | None = None) -> GeogridError | None:
    """The geogrid error ``exc`` stands for, or None when it is not a database condition.

    Examples
    --------
    >>> translate(ConnectionRefusedError(111, "Connection refused"))  # doctest: +ELLIPSIS
    DatabaseUnavailableError('数据库暂时不可用，请稍后重试 / ...')
    """
    kind = classify(exc)
    if kind == "unavailable":
        return (
            exc
            if isinstance(exc, DatabaseUnavailableError)
            else DatabaseUnavailableError(message("db_unavailable"))
        )
    if kind == "timeout":
        return (
            exc
            if isinstance(exc, QueryTimeoutError)
            else QueryTimeoutError(
                message("query_timeout", limit_ms=timeout_ms if timeout_ms is not None else "?")
            )
        )
    if kind == "bad_value":
        reason = str(getattr(_driver_error(exc), "pgerror", None) or _driver_error(exc)).strip()
        return LimitError(message("bad_value", reason=reason.splitlines()[0] if reason else "?"))
    return None


@dataclass(frozen=True)
class Snapshot:
    """What :class:`DatabaseState` knows: ``up``, since when (monotonic s) and the last error."""

    up: bool
    since: float
    error: str | None


class DatabaseState:
    """Up or down, with one log line per change (thread-safe).

    Examples
    --------
    >>> state = DatabaseState("test")
    >>> state.mark_down("connection refused"), state.mark_down("connection refused")
    (True, False)
    >>> state.mark_up(), state.snapshot().up
    (True, True)
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._snapshot = Snapshot(True, time.monotonic(), None)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def mark_down(self, error: str) -> bool:
        """Record an outage; True (and one warning logged) only when it was up."""
        with self._lock:
            if not self._snapshot.up:
                return False
            self._snapshot = Snapshot(False, time.monotonic(), error)
        log.warning("database %s unreachable: %s", self.name, error.splitlines()[0] if error else "")
        return True

    def mark_up(self) -> bool:
        """Record that a connection succeeded; True (and one line logged) only when it was down."""
        if self._snapshot.up:  # the common case, without the lock
            return False
        with self._lock:
            if self._snapshot.up:
                return False
            down_for = time.monotonic() - self._snapshot.since
            self._snapshot = Snapshot(True, time.monotonic(), None)
        log.warning("database %s reachable again after %.1f s", self.name, down_for)
        return True


_STATES: weakref.WeakKeyDictionary[Engine, DatabaseState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def state_for(engine: Engine) -> DatabaseState:
    """The :class:`DatabaseState` of ``engine``'s database; a new connection marks it up."""
    with _STATES_LOCK:
        state = _STATES.get(engine)
        if state is None:
            url = engine.url
            state = _STATES[engine] = DatabaseState(f"{url.host}:{url.port}/{url.database}")
            event.listen(engine, "connect", lambda *_: state.mark_up())
        return state


def probe(engine: Engine) -> tuple[bool, float | None, str | None]:
    """Ask the database ``SELECT 1``: (answered, round trip in ms, error)."""
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        if classify(exc) is None:
            raise
        state_for(engine).mark_down(str(_driver_error(exc)))
        return False, None, str(_driver_error(exc)).strip().splitlines()[0]
    return True, (time.perf_counter() - started) * 1000.0, None
