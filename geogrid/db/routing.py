"""Which server answers: writes on the primary, reads on replicas, around servers that are down.

:class:`ServerSet` holds one engine per server and remembers for a few seconds which of them
failed to answer, so requests stop trying a server that is down and try it again later.
:func:`is_unavailable` tells a lost or refused server from every other database error (a bad
value, a statement cancelled by its time limit): only the former makes a read move on to the
next server.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from geogrid.errors import DatabaseUnavailableError

# SQLSTATEs of a server that cannot answer: classes 08 (connection exception), 53 (insufficient
# resources: too many connections, out of memory or disk), 58 (system error) and 57P (shutdown,
# crash shutdown, cannot connect now...; not 57014, a statement cancelled by its time limit);
# 25006 is a write sent to a standby (read-only transaction), which the primary can answer.
_UNAVAILABLE_STATES = ("08", "53", "58", "57P")
READ_ONLY_STATE = "25006"


@dataclass(frozen=True)
class Server:
    """One database server: ``name`` is ``"primary"`` or a replica's (``"replica 1"``, ...)."""

    name: str
    engine: Engine

    @property
    def primary(self) -> bool:
        return self.name == "primary"


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)


def _causes(exc: BaseException):
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the server could not be reached or stopped answering.

    Examples
    --------
    >>> is_unavailable(ConnectionRefusedError(111, "Connection refused"))
    True
    >>> is_unavailable(ValueError("bad value"))
    False
    """
    import psycopg2

    for cause in _causes(exc):
        if isinstance(cause, (DatabaseUnavailableError, ConnectionError, TimeoutError)):
            return True
        if isinstance(cause, (psycopg2.OperationalError, psycopg2.InterfaceError)):
            state = _sqlstate(cause)
            return state is None or state.startswith(_UNAVAILABLE_STATES)
        if type(cause).__module__.startswith("asyncpg"):
            state = _sqlstate(cause)
            if state is not None:
                return state.startswith(_UNAVAILABLE_STATES)
            return type(cause).__name__ == "ConnectionDoesNotExistError"
    return False


def needs_primary(exc: BaseException) -> bool:
    """True when a replica refused ``exc``'s statement because it writes (SQLSTATE 25006).

    Examples
    --------
    >>> class Refused(Exception):
    ...     pgcode = "25006"
    >>> needs_primary(Refused("cannot execute INSERT in a read-only transaction"))
    True
    >>> needs_primary(ConnectionRefusedError())
    False
    """
    return any(_sqlstate(cause) == READ_ONLY_STATE for cause in _causes(exc))


class ServerSet:
    """The primary and its replicas, with the servers that recently failed set aside.

    Parameters
    ----------
    primary
        Engine of the primary (every write).
    replicas
        Engines of the replicas, in the order of ``GEOGRID_REPLICA_URLS``.
    recheck_s
        How long a server that failed is tried only after all the others.

    Examples
    --------
    >>> import sqlalchemy as sa
    >>> servers = ServerSet(sa.create_engine("postgresql+psycopg2://p/db"),
    ...                     [sa.create_engine("postgresql+psycopg2://r1/db"),
    ...                      sa.create_engine("postgresql+psycopg2://r2/db")])
    >>> [s.name for s in servers.for_read()]
    ['replica 1', 'replica 2', 'primary']
    >>> servers.mark_down(servers.replicas[0])
    >>> [s.name for s in servers.for_read()]
    ['replica 2', 'primary', 'replica 1']
    >>> [s.name for s in servers.for_read(primary_first=True)]
    ['primary', 'replica 2', 'replica 1']
    >>> servers.set_lagging({"replica 2"})   # too far behind the primary: after it
    >>> [s.name for s in servers.for_read()]
    ['primary', 'replica 2', 'replica 1']
    """

    def __init__(self, primary: Engine, replicas: list[Engine], *, recheck_s: float = 2.0) -> None:
        self.primary = Server("primary", primary)
        self.replicas = [Server(f"replica {i}", engine) for i, engine in enumerate(replicas, start=1)]
        self.recheck_s = recheck_s
        self._down_until: dict[str, float] = {}
        self._lagging: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._turn = itertools.count()

    def mark_down(self, server: Server) -> None:
        """``server`` failed to answer: try it after the others for ``recheck_s`` seconds."""
        with self._lock:
            self._down_until[server.name] = time.monotonic() + self.recheck_s

    def is_down(self, server: Server) -> bool:
        with self._lock:
            return self._down_until.get(server.name, 0.0) > time.monotonic()

    def set_lagging(self, names: set[str]) -> None:
        """The replicas (by name) that are too far behind the primary: read after the primary."""
        self._lagging = frozenset(names)

    def for_read(self, *, primary_first: bool = False) -> list[Server]:
        """Servers to try for a read, in order: the replicas taking turns (or the primary first,
        for reads that must see the latest writes), then the primary, then replicas too far
        behind it, then servers marked down."""
        start = next(self._turn) % len(self.replicas) if self.replicas else 0
        replicas = self.replicas[start:] + self.replicas[:start]
        fresh = [s for s in replicas if s.name not in self._lagging]
        late = [s for s in replicas if s.name in self._lagging]
        order = [self.primary, *fresh, *late] if primary_first else [*fresh, self.primary, *late]
        return [s for s in order if not self.is_down(s)] + [s for s in order if self.is_down(s)]

    def for_write(self) -> list[Server]:
        """Writes go to the primary only."""
        return [self.primary]

    def engines(self) -> list[Engine]:
        return [self.primary.engine, *(s.engine for s in self.replicas)]
