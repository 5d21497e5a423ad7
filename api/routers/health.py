"""Liveness and a trivial endpoint (the framework floor the lookup benchmark compares against)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from api.deps import get_engine
from api.errors import problem
from geogrid.db.health import probe, state_for
from geogrid.limits import message

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"description": "The database does not answer"}})
def health(request: Request, engine: Engine = Depends(get_engine)) -> JSONResponse:
    """The service and its database: ``{"status": "ok", "database": {"state": "up", ...}}``,
    or a 503 problem with ``Retry-After`` while the database does not answer."""
    answered, round_trip_ms, error = probe(engine)
    if answered:
        database = {"state": "up", "round_trip_ms": round(round_trip_ms or 0.0, 2)}
        return JSONResponse({"status": "ok", "database": database})
    down_for = time.monotonic() - state_for(engine).snapshot().since
    response = problem(
        503,
        message("db_unavailable"),
        title="DatabaseUnavailableError",
        database={"state": "down", "down_for_s": round(down_for, 1), "error": error},
    )
    response.headers["Retry-After"] = str(request.app.state.settings.retry_after_s)
    return response


@router.get("/ping")
def ping() -> dict:
    """No work at all: the throughput floor of this app and server configuration."""
    return {"pong": True}
