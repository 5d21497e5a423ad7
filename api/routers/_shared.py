"""Helpers shared by the grid service routers (no ``router`` here, so create_app skips it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import ANONYMOUS, Principal, get_principal, require_reader, require_roles
from geogrid.db.rawpool import RawPool, pool_for

GEOJSON = "application/geo+json"


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
    return pool_for(request.app.state.engine)


def json_text(
    text: str, *, status_code: int = 200, media_type: str = "application/json", headers=None
) -> Response:
    """A response whose body is JSON already serialised (by PostgreSQL)."""
    return Response(content=text.encode(), status_code=status_code, media_type=media_type, headers=headers)


#: A reader of grids, tiles and lookups (see :func:`reader`).
Reader = Annotated[Principal, Depends(reader)]
#: A planner or admin (uploading, publishing, rolling back plans).
Planner = Annotated[Principal, Depends(require_roles("planner"))]
