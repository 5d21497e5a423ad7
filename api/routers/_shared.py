"""Helpers shared by the grid service routers (no ``router`` here, so create_app skips it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import ANONYMOUS, Principal, get_principal, require_reader, require_roles
from api.routing import engine_for, replica_async_pool
from geogrid.db.rawpool import RawPool, pool_for

GEOJSON = "application/geo+json"


async def json_object(request: Request, *, empty: dict | None = None) -> dict:
    """The request body as a JSON object, or a 4xx saying why not.

    An empty body gives ``empty`` when one is allowed.  Bytes that are not UTF-8 or not JSON
    are the client's 400 (``json.loads`` raises ``UnicodeDecodeError`` for the former, a
    ``ValueError`` like ``JSONDecodeError``); JSON that is not an object is a 422.
    """
    body = await request.body()
    if not body and empty is not None:
        return dict(empty)
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise HTTPException(400, f"body is not valid JSON: {exc}") from None
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
    principal = await run_in_threadpool(get_principal, request, x_api_key, authorization)
    return require_reader(request, principal)


def pool(request: Request) -> RawPool:
    """The autocommit connection pool of the app's database (see :mod:`geogrid.db.rawpool`)."""
    return pool_for(engine_for(request))


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
                pool = state.asyncpg_pool = await asyncpg.create_pool(url, min_size=1, max_size=16)
    return pool


@asynccontextmanager
async def close_async_pool(app: FastAPI) -> AsyncIterator[None]:
    """Router lifespan: close the asyncpg pool when the app shuts down."""
    yield
    pool = getattr(app.state, "asyncpg_pool", None)
    if pool is not None:
        app.state.asyncpg_pool = None
        await pool.close()


def json_text(
    text: str, *, status_code: int = 200, media_type: str = "application/json", headers=None
) -> Response:
    """A response whose body is JSON already serialised (by PostgreSQL)."""
    return Response(content=text.encode(), status_code=status_code, media_type=media_type, headers=headers)


#: A reader of grids, tiles and lookups (see :func:`reader`).
Reader = Annotated[Principal, Depends(reader)]
#: A planner or admin (uploading, publishing, rolling back plans).
Planner = Annotated[Principal, Depends(require_roles("planner"))]
