"""Helpers shared by the grid service routers (no ``router`` here, so create_app skips it)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import (
    ANONYMOUS,
    Principal,
    get_principal,
    key_from_headers,
    libpq_options,
    principal_of,
    require_reader,
    require_roles,
)
from api.routing import engine_for, replica_async_pool
from geogrid.db.health import state_for
from geogrid.db.lookup import normalise_address
from geogrid.db.rawpool import RawPool, pool_for
from geogrid.errors import LimitError
from geogrid.limits import check_text, loads_json

GEOJSON = "application/geo+json"
#: How often a running query checks whether its client is still there (seconds).
DISCONNECT_POLL_S = 0.1
T = TypeVar("T")


async def json_object(request: Request, *, empty: dict | None = None) -> dict:
    """The request body as a JSON object, or a 4xx saying why not.

    An empty body gives ``empty`` when one is allowed.  Bytes that are not UTF-8 or not JSON,
    and JSON nested deeper than ``max_json_depth``, are the client's 400
    (:func:`geogrid.limits.loads_json`); JSON that is not an object is a 422.
    """
    body = await request.body()
    if not body and empty is not None:
        return dict(empty)
    data = loads_json(body or b"null", max_depth=request.app.state.settings.max_json_depth)
    if not isinstance(data, dict):
        raise HTTPException(422, "body must be a JSON object")
    return data


async def reader(request: Request) -> Principal:
    """:func:`api.deps.require_reader` without thread hops for anonymous callers.

    FastAPI runs synchronous dependencies in the thread pool; for the point lookup (the
    field app's hot path) two extra hops per request cost more than the query.  Anonymous
    reads are decided here on the event loop; a request with a key takes the same path as
    ``require_reader`` (the key lookup may query the database, so it runs in a thread).
    """
    headers = request.headers
    x_api_key, authorization = headers.get("x-api-key"), headers.get("authorization")
    if x_api_key is None and authorization is None:
        return require_reader(request, ANONYMOUS)
    key = key_from_headers(x_api_key, authorization)
    if key is not None:
        # A key the cache can vouch for (version checked recently) needs no thread either.
        known, record = request.app.state.key_cache.cached(key)
        if known:
            return require_reader(request, principal_of(record))
    principal = await run_in_threadpool(get_principal, request, x_api_key, authorization)
    return require_reader(request, principal)


def pool(request: Request) -> RawPool:
    """The autocommit connection pool of the app's database (see :mod:`geogrid.db.rawpool`)."""
    state = request.app.state
    return pool_for(engine_for(request), options=libpq_options(state.server_settings))


async def async_pool(request: Request):
    """The app's asyncpg pool (created on first use, closed by :func:`close_async_pool`).

    The point lookup is the one hot path served from the event loop: no thread hop.
    """
    state = request.app.state
    engine = engine_for(request)
    if engine is not state.engine:
        return await replica_async_pool(request.app, engine)
    pool = getattr(state, "asyncpg_pool", None)
    if pool is None:
        # Per app (and so per event loop); no await between the check and the assignment.
        lock = getattr(state, "asyncpg_lock", None)
        if lock is None:
            lock = state.asyncpg_lock = asyncio.Lock()
        async with lock:
            pool = getattr(state, "asyncpg_pool", None)
            if pool is None:
                import asyncpg

                url = state.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                mark_up = state_for(state.engine).mark_up

                async def init(_connection) -> None:
                    mark_up()  # a new connection: the database is (back) up

                pool = state.asyncpg_pool = await asyncpg.create_pool(
                    url,
                    min_size=0,  # no floor to restore (asyncpg logs a traceback per failed try)
                    max_size=16,
                    timeout=5,
                    server_settings=state.server_settings,
                    init=init,
                )
    return pool


@asynccontextmanager
async def close_async_pool(app: FastAPI) -> AsyncIterator[None]:
    """Router lifespan: close the asyncpg pool when the app shuts down."""
    yield
    pool = getattr(app.state, "asyncpg_pool", None)
    if pool is not None:
        app.state.asyncpg_pool = None
        await pool.close()


async def cancellable(request: Request, db: RawPool, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``work(*args, **kwargs)`` (which queries through ``db``) in the thread pool, and
    cancel its statement in PostgreSQL if the client disconnects meanwhile: a client that
    gives up does not leave a query running for it (the statement time limit still bounds
    it when the server cannot tell)."""
    thread: dict[str, int] = {}

    def call() -> T:
        thread["id"] = threading.get_ident()
        return work(*args, **kwargs)

    task = asyncio.ensure_future(run_in_threadpool(call))
    while True:
        done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
        if done:
            return task.result()
        if await request.is_disconnected():
            if "id" in thread:
                db.cancel(thread["id"])
            return await task  # fails fast with the cancelled statement's error


def check_address(request: Request, text: str, *, index: int | None = None) -> str:
    """``text`` if it is at most ``address_max_chars`` long after normalisation, else a 400
    (naming the ``index`` of a batch's text).

    The raw text is checked against four times the limit first, so a megabyte of text is
    refused without being normalised."""
    limit = request.app.state.settings.address_max_chars
    try:
        # Separators and prefixes never make up three quarters of a real address.
        normalised = normalise_address(text) if len(text) <= 4 * limit else text
        check_text(normalised, field="address", limit=limit)
    except LimitError as exc:
        if index is None:
            raise
        raise LimitError(f"addresses[{index}]: {exc}") from None
    return text


def json_text(
    text: str, *, status_code: int = 200, media_type: str = "application/json", headers=None
) -> Response:
    """A response whose body is JSON already serialised (by PostgreSQL)."""
    return Response(content=text.encode(), status_code=status_code, media_type=media_type, headers=headers)


#: A reader of grids, tiles and lookups (see :func:`reader`).
Reader = Annotated[Principal, Depends(reader)]
#: A planner or admin (uploading, publishing, rolling back plans).
Planner = Annotated[Principal, Depends(require_roles("planner"))]
