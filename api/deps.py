"""Request dependencies: the database engine, settings and the caller's identity (API keys)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.engine import Engine

from api.routing import engine_for
from api.settings import Settings
from geogrid.db import keys


@dataclass(frozen=True)
class Principal:
    """Who is calling: a named key with a role and a scope, or an anonymous reader."""

    name: str
    role: str
    scope: dict = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return self.role == "anonymous"


ANONYMOUS = Principal("anonymous", "anonymous")


def get_now() -> datetime:
    """The time a request acts at: reports, transitions and deadlines are stamped with it (a
    dependency, so tests can walk an incident through hours of deadlines)."""
    return datetime.now(UTC)


def get_engine(request: Request) -> Engine:
    """The engine of the server that answers this request (:mod:`api.routing`)."""
    return engine_for(request)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def key_from_headers(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def get_principal(
    request: Request,
    x_api_key: str | None = Header(default=None),
    authorization: str | None = Header(default=None),
) -> Principal:
    """The caller: resolved from ``X-API-Key`` or ``Authorization: Bearer``; anonymous without one."""
    key = key_from_headers(x_api_key, authorization)
    if key is None:
        return ANONYMOUS
    record = request.app.state.key_cache.lookup(engine_for(request), key, writer=request.app.state.engine)
    return principal_of(record)


def principal_of(record: keys.KeyRecord | None) -> Principal:
    """The caller a key record stands for; 401 for an unknown or revoked key."""
    if record is None:
        raise HTTPException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    return Principal(record.name, record.role, record.scope)


def require_roles(*roles: str) -> Callable[..., Principal]:
    """A dependency that lets through callers with one of ``roles`` (admins always)."""

    def check(principal: Principal = Depends(get_principal)) -> Principal:
        if principal.anonymous:
            raise HTTPException(401, "an API key is required", headers={"WWW-Authenticate": "Bearer"})
        if principal.role != "admin" and principal.role not in roles:
            raise HTTPException(403, f"role {principal.role!r} may not do this; needs one of {sorted(roles)}")
        return principal

    return check


def require_reader(request: Request, principal: Principal = Depends(get_principal)) -> Principal:
    """Reading grids, tiles and lookups: open when ``open_read`` is set, else any valid key."""
    if principal.anonymous and not request.app.state.settings.open_read:
        raise HTTPException(401, "an API key is required to read", headers={"WWW-Authenticate": "Bearer"})
    return principal


def session_settings(settings: Settings) -> dict[str, str]:
    """PostgreSQL settings of every request-path connection: the statement time limit and the
    county's time zone (so the database's own times come back in local time too)."""
    return {"statement_timeout": str(settings.statement_timeout_ms), "timezone": settings.timezone}


def libpq_options(server_settings: dict[str, str]) -> str:
    """``-c name=value ...`` for libpq's ``options`` (values here hold no spaces)."""
    return " ".join(f"-c {name}={value}" for name, value in server_settings.items())
