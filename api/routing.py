"""Read replicas: each request is answered by the server its kind of work needs.

With ``GEOGRID_REPLICA_URLS`` set, :func:`install` adds :class:`ReadRouting` in front of the
app.  It picks the server before the endpoint runs and the endpoint's dependencies
(:func:`api.deps.get_engine`, the raw and asyncpg pools) hand out that server's connections:

- Reads (``GET``/``HEAD``, and ``POST /lookup/batch``) — lookups, tiles, features, heatmaps,
  stats, maps — go to the replicas, taking turns, then the primary.
- Writes go to the primary; while it is down they answer 503 with ``Retry-After``.
- Reads of the workflow endpoints (incidents, Open311 requests, plans) go to the primary first:
  a report, a transition or an uploaded plan is readable by the very next request, whichever
  API process it reaches, and a transition acts on the state the caller was shown.  While the
  primary is down they are answered by a replica (no writes happen then, so a replica that has
  replayed the primary's last WAL is as current as the primary was).

A read whose server cannot be reached is answered by the next server in line (the failed
attempt's response is never sent) and the failed server is tried last for
:attr:`geogrid.db.routing.ServerSet.recheck_s` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy.engine import Engine

from geogrid.db.routing import Server, ServerSet, is_unavailable, needs_primary

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("geogrid.api")

#: Path prefixes whose reads go to the primary first (read-your-writes).
PRIMARY_FIRST = ("/incidents", "/open311", "/plans", "/scopes")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Reads that are POSTed (their body is the question): routed like the other reads.
READ_POSTS = frozenset({"/lookup/batch"})
STATE_KEY = "geogrid_server"
SERVED_BY = "X-Geogrid-Served-By"
#: ``application_name`` of the lag watch's connections (one per server and API process).
WATCH_NAME = "geogrid lag watch"


def engine_for(request: Request) -> Engine:
    """The engine of the server chosen for this request (the app's engine without replicas)."""
    server = request.scope.get("state", {}).get(STATE_KEY)
    return server.engine if server is not None else request.app.state.engine


def servers_for(scope: Scope, servers: ServerSet) -> list[Server]:
    """The servers that may answer this request, in the order to try them.

    Examples
    --------
    >>> import sqlalchemy as sa
    >>> servers = ServerSet(sa.create_engine("postgresql+psycopg2://p/db"),
    ...                     [sa.create_engine("postgresql+psycopg2://r/db")])
    >>> [s.name for s in servers_for({"method": "GET", "path": "/lookup"}, servers)]
    ['replica 1', 'primary']
    >>> [s.name for s in servers_for({"method": "GET", "path": "/incidents/X1"}, servers)]
    ['primary', 'replica 1']
    >>> [s.name for s in servers_for({"method": "POST", "path": "/incidents"}, servers)]
    ['primary']
    >>> [s.name for s in servers_for({"method": "POST", "path": "/lookup/batch"}, servers)]
    ['replica 1', 'primary']
    """
    if scope["method"] not in READ_METHODS and not (
        scope["method"] == "POST" and scope["path"] in READ_POSTS
    ):
        return servers.for_write()
    return servers.for_read(primary_first=scope["path"].startswith(PRIMARY_FIRST))


class _Replay:
    """``receive`` for repeated attempts: the request body read by the first is given again."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.messages: list[Message] = []
        self.position = 0

    def rewind(self) -> None:
        self.position = 0

    async def __call__(self) -> Message:
        if self.position < len(self.messages):
            self.position += 1
            return self.messages[self.position - 1]
        message = await self.receive()
        if message["type"] == "http.request":
            self.messages.append(message)
            self.position += 1
        return message


class _Attempt:
    """``send`` for one attempt: holds back a 503 answer when another server may still answer."""

    def __init__(
        self, send: Send, server: Server, *, may_retry: bool, header: bool, retry_after_s: int
    ) -> None:
        self.send = send
        self.retry_after_s = retry_after_s
        self.server = server
        self.may_retry = may_retry
        self.header = header
        self.started = False
        self.unavailable = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if self.may_retry and message["status"] == 503:
                self.unavailable = True
                return
            headers = list(message.get("headers", []))
            if message["status"] == 503 and not any(k == b"retry-after" for k, _ in headers):
                headers.append((b"retry-after", str(self.retry_after_s).encode()))
            if self.header:
                headers.append((SERVED_BY.lower().encode(), self.server.name.encode()))
            message = {**message, "headers": headers}
            self.started = True
        elif self.unavailable:
            return
        await self.send(message)


class LagWatch:
    """Every ``interval_s`` seconds: how many bytes of WAL each replica is behind the primary.

    Replicas more than ``max_lag_bytes`` behind are read after the primary until they catch up
    (:meth:`geogrid.db.routing.ServerSet.set_lagging`), so a replica whose stream broke does not
    go on answering with old grids.  While the primary does not answer, no replica is behind.
    """

    def __init__(self, servers: ServerSet, *, max_lag_bytes: int, interval_s: float = 1.0) -> None:
        self.servers = servers
        self.max_lag_bytes = max_lag_bytes
        self.interval_s = interval_s
        self._conns: dict[str, Any] = {}
        self._task: asyncio.Task | None = None

    async def _value(self, server: Server, sql: str, *args: Any) -> Any:
        import asyncpg

        conn = self._conns.get(server.name)
        try:
            if conn is None or conn.is_closed():
                url = server.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                conn = self._conns[server.name] = await asyncpg.connect(
                    url, timeout=3, server_settings={"application_name": WATCH_NAME}
                )
            return await conn.fetchval(sql, *args, timeout=3)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._conns.pop(server.name, None)
            return None

    async def check(self) -> dict[str, int | None]:
        """Bytes each replica is behind (None: unknown); sets the lagging replicas aside."""
        head = await self._value(self.servers.primary, "SELECT pg_current_wal_lsn()::text")
        behind: dict[str, int | None] = {}
        for replica in self.servers.replicas:
            behind[replica.name] = (
                None
                if head is None
                else await self._value(
                    replica,
                    "SELECT pg_wal_lsn_diff(CAST($1::text AS pg_lsn), pg_last_wal_replay_lsn())::bigint",
                    head,
                )
            )
        self.servers.set_lagging({n for n, b in behind.items() if b is not None and b > self.max_lag_bytes})
        return behind

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # the watch must outlive any surprise; reads go on meanwhile
                log.exception("replica lag check failed")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        """Run the checks in the current event loop (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for conn in self._conns.values():
            conn.terminate()
        self._conns.clear()


class ReadRouting:
    """ASGI middleware: run each request on its server, moving on while servers are down."""

    def __init__(
        self, app: ASGIApp, *, servers: ServerSet, retry_after_s: int, header: bool, watch: LagWatch | None
    ) -> None:
        self.app = app
        self.servers = servers
        self.retry_after_s = retry_after_s
        self.header = header
        self.watch = watch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.watch is not None:
            self.watch.start()
        candidates = servers_for(scope, self.servers)
        # Only reads are tried again, and they read their (small) body again from the replay.
        replay = _Replay(receive) if len(candidates) > 1 else receive
        for i, server in enumerate(candidates):
            last = i == len(candidates) - 1
            attempt = _Attempt(
                send, server, may_retry=not last, header=self.header, retry_after_s=self.retry_after_s
            )
            scope.setdefault("state", {})[STATE_KEY] = server
            if isinstance(replay, _Replay):
                replay.rewind()
            try:
                await self.app(scope, replay, attempt)
            except Exception as exc:
                unavailable = is_unavailable(exc)
                if attempt.started or not (unavailable or needs_primary(exc)):
                    raise
                if unavailable:
                    self.servers.mark_down(server)
                if not last:
                    continue
                if not unavailable:
                    raise
                await self._unavailable(scope, send)
                return
            if not attempt.unavailable:
                return
            self.servers.mark_down(server)

    async def _unavailable(self, scope: Scope, send: Send) -> None:
        from api.errors import problem

        response = problem(503, "数据库暂时无法访问，请稍后重试", title="DatabaseUnavailableError")
        response.headers["Retry-After"] = str(self.retry_after_s)
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def install(
    app: FastAPI, replica_urls: list[str], *, retry_after_s: int, header: bool, max_lag_mb: float = 16.0
) -> ServerSet:
    """Route the app's requests over its engine (the primary) and engines of ``replica_urls``;
    replicas more than ``max_lag_mb`` behind the primary are read after it (0: never).

    The replicas' engines are disposed with the app (see :func:`dispose`).
    """
    from geogrid.db import make_engine

    # A replica on a machine that is gone must not hold a read for the TCP timeout.
    connect_args: dict[str, Any] = {"connect_timeout": 3}
    session = getattr(app.state, "server_settings", None)  # the primary's session settings, if any
    if session:
        connect_args["options"] = " ".join(f"-c {k}={v}" for k, v in session.items())
    replicas = [
        make_engine(url, pool_size=20, max_overflow=20, connect_args=connect_args) for url in replica_urls
    ]
    servers = ServerSet(app.state.engine, replicas)
    app.state.servers = servers
    watch = LagWatch(servers, max_lag_bytes=int(max_lag_mb * 2**20)) if max_lag_mb > 0 else None
    app.state.lag_watch = watch
    app.add_middleware(ReadRouting, servers=servers, retry_after_s=retry_after_s, header=header, watch=watch)
    return servers


async def dispose(app: FastAPI) -> None:
    """Close the replicas' engines and asyncpg pools (the primary's belong to the app)."""
    servers: ServerSet | None = getattr(app.state, "servers", None)
    if servers is None:
        return
    watch: LagWatch | None = getattr(app.state, "lag_watch", None)
    if watch is not None:
        await watch.stop()
    for server in servers.replicas:
        pools = getattr(app.state, "replica_asyncpg", {})
        pool = pools.pop(server.engine, None)
        if pool is not None:
            await pool.close()
        server.engine.dispose()


async def replica_async_pool(app: FastAPI, engine: Engine):
    """The asyncpg pool of a replica's ``engine`` (created on first use, one per replica)."""
    import asyncpg

    state = app.state
    if not hasattr(state, "replica_asyncpg"):
        state.replica_asyncpg, state.replica_asyncpg_lock = {}, asyncio.Lock()
    pool = state.replica_asyncpg.get(engine)
    if pool is None:
        async with state.replica_asyncpg_lock:
            pool = state.replica_asyncpg.get(engine)
            if pool is None:
                url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                pool = state.replica_asyncpg[engine] = await asyncpg.create_pool(
                    url,
                    min_size=1,
                    max_size=16,
                    timeout=3,
                    server_settings=getattr(state, "server_settings", None),
                )
    return pool
