"""Liveness and a trivial endpoint (the framework floor the lookup benchmark compares against)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.deps import get_engine

router = APIRouter(tags=["health"])


@router.get("/health")
def health(engine: Engine = Depends(get_engine)) -> dict:
    """The service is up and its database answers."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok"}


@router.get("/ping")
def ping() -> dict:
    """No work at all: the throughput floor of this app and server configuration."""
    return {"pong": True}
