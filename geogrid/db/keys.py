"""API keys: created once, stored as SHA-256 hashes, looked up per request with a small cache."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.db.models import ROLES
from geogrid.errors import GeogridError


@dataclass(frozen=True)
class KeyRecord:
    name: str
    role: str
    scope: dict = field(default_factory=dict)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(engine: Engine, name: str, role: str, *, scope: dict | None = None) -> str:
    """Create an API key and return it in plain text (it is shown once; only its hash is kept).

    ``scope`` narrows what the key may act on, e.g. ``{"grid_codes": [...]}`` for a grid worker
    or ``{"department": "城管局"}`` for a department.
    """
    if role not in ROLES:
        raise GeogridError(f"unknown role {role!r}; use one of {list(ROLES)}")
    key = "gg_" + secrets.token_urlsafe(24)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_keys (name, key_hash, role, scope) VALUES (:n, :h, :r, CAST(:s AS jsonb))"
            ),
            {"n": name, "h": _hash(key), "r": role, "s": json.dumps(scope or {}, ensure_ascii=False)},
        )
    return key


def revoke_key(engine: Engine, name: str) -> int:
    """Revoke every key called ``name``; returns how many were revoked."""
    with engine.begin() as conn:
        return conn.execute(
            sa.text("UPDATE api_keys SET revoked_at = now() WHERE name = :n AND revoked_at IS NULL"),
            {"n": name},
        ).rowcount


def lookup_key(engine: Engine, key: str, *, cache: dict | None = None) -> KeyRecord | None:
    """The live key record for ``key``, or None.  ``cache`` (a dict) avoids a query per request."""
    digest = _hash(key)
    if cache is not None and digest in cache:
        return cache[digest]
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT name, role, scope FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL"),
            {"h": digest},
        ).first()
    record = KeyRecord(row.name, row.role, dict(row.scope or {})) if row else None
    if cache is not None and record is not None:
        cache[digest] = record
    return record
