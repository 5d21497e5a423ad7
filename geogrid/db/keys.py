"""API keys: created once, stored only as SHA-256 hashes, checked per request through a cache
that every change to the keys table invalidates within :data:`CHECK_INTERVAL_S`.

A key is 24 random bytes, so an unsalted SHA-256 is enough: there is no password to guess
from the hash.  The plain key is printed once by ``geogrid keys create`` and never stored.

Caching: a :class:`KeyCache` (one per API process) keeps key records and reads the one-row
``api_key_epoch`` table at most every :data:`CHECK_INTERVAL_S`; a trigger gives that row a new
version whenever a key is created, revoked or changed (migration ``0005_trust``), and a new
version empties the cache.  So a revocation or a role/scope change reaches every worker
process within a second, while a busy key costs one tiny query per half second per process
instead of one per request.  The last use of a key is written at most once a minute per key
and process (:data:`LAST_USED_INTERVAL_S`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid.db.models import ROLES
from geogrid.errors import GeogridError

#: Longest a process may go on trusting cached key records without checking the version.
CHECK_INTERVAL_S = 0.5
#: Least time between two writes of a key's ``last_used_at`` by one process.
LAST_USED_INTERVAL_S = 60.0
#: Unknown keys remembered (so a flood of made-up keys does not query per request).
MAX_CACHED = 10_000


@dataclass(frozen=True)
class KeyRecord:
    name: str
    role: str
    scope: dict = field(default_factory=dict)


@dataclass(frozen=True)
class KeyInfo:
    """A key as ``geogrid keys list`` shows it (never the key or its hash)."""

    name: str
    role: str
    scope: dict
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise GeogridError(f"unknown role {role!r}; use one of {list(ROLES)}")


def _check_scope(scope: dict | None) -> dict:
    if scope is None:
        return {}
    if not isinstance(scope, dict):
        raise GeogridError(
            f'scope must be a JSON object such as {{"division": "320508001000"}}, got {scope!r}'
        )
    division = scope.get("division")
    if division is not None:
        from geogrid.db.incidents import division_prefix

        division_prefix(str(division))  # refuses a malformed code now, not on every request
    for code in scope.get("grid_codes") or ():
        if not (isinstance(code, str) and code.isdigit() and len(code) in (15, 17)):
            raise GeogridError(f"grid_codes must be 15-digit grid or 17-digit link group codes, got {code!r}")
    centre = scope.get("centre")
    if centre is not None:
        from geogrid.organisation import division_level

        division_level(str(centre))  # a centre is a 12-digit division code
    return scope


def create_key(engine: Engine, name: str, role: str, *, scope: dict | None = None) -> str:
    """Create an API key and return it in plain text (it is shown once; only its hash is kept).

    ``scope`` narrows what the key may act on, e.g. ``{"grid_codes": [...]}`` for a grid worker,
    ``{"department": "城管局"}`` for a department or ``{"division": "320508001000"}`` for a
    dispatcher of one township.
    """
    _check_role(role)
    scope = _check_scope(scope)
    key = "gg_" + secrets.token_urlsafe(24)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_keys (name, key_hash, role, scope) VALUES (:n, :h, :r, CAST(:s AS jsonb))"
            ),
            {"n": name, "h": _hash(key), "r": role, "s": json.dumps(scope, ensure_ascii=False)},
        )
    return key


def create_keys(
    engine: Engine,
    specs: Sequence[tuple[str, str, dict]],
    *,
    revoke: Sequence[str] = (),
    then: Callable[[Connection], None] | None = None,
) -> list[str]:
    """Create many keys ``(name, role, scope)`` in one transaction (revoking the keys named in
    ``revoke`` and running ``then(conn)`` in it too); returns the plain keys in order."""
    for _name, role, scope in specs:
        _check_role(role)
        _check_scope(scope)
    keys = ["gg_" + secrets.token_urlsafe(24) for _ in specs]
    with engine.begin() as conn:
        if revoke:
            conn.execute(
                sa.text(
                    "UPDATE api_keys SET revoked_at = now() WHERE name = ANY(CAST(:n AS text[])) AND revoked_at IS NULL"
                ),
                {"n": list(revoke)},
            )
        if specs:
            conn.execute(
                sa.text(
                    "INSERT INTO api_keys (name, key_hash, role, scope) VALUES (:n, :h, :r, CAST(:s AS jsonb))"
                ),
                [
                    {"n": name, "h": _hash(key), "r": role, "s": json.dumps(scope, ensure_ascii=False)}
                    for (name, role, scope), key in zip(specs, keys, strict=True)
                ],
            )
        if then is not None:
            then(conn)
    return keys


def revoke_key(engine: Engine, name: str) -> int:
    """Revoke every key called ``name``; returns how many were revoked."""
    with engine.begin() as conn:
        return conn.execute(
            sa.text("UPDATE api_keys SET revoked_at = now() WHERE name = :n AND revoked_at IS NULL"),
            {"n": name},
        ).rowcount


def update_key(engine: Engine, name: str, *, role: str | None = None, scope: dict | None = None) -> int:
    """Change the role and/or scope of the live keys called ``name``; returns how many changed."""
    if role is None and scope is None:
        raise GeogridError("give a new role, a new scope or both")
    sets, params = [], {"n": name}
    if role is not None:
        _check_role(role)
        sets.append("role = :r")
        params["r"] = role
    if scope is not None:
        sets.append("scope = CAST(:s AS jsonb)")
        params["s"] = json.dumps(_check_scope(scope), ensure_ascii=False)
    with engine.begin() as conn:
        return conn.execute(
            sa.text(f"UPDATE api_keys SET {', '.join(sets)} WHERE name = :n AND revoked_at IS NULL"), params
        ).rowcount


def list_keys(engine: Engine, *, include_revoked: bool = False) -> list[KeyInfo]:
    """Every key (live ones only unless ``include_revoked``), oldest first."""
    where = "" if include_revoked else "WHERE revoked_at IS NULL"
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT name, role, scope, created_at, last_used_at, revoked_at FROM api_keys "
                f"{where} ORDER BY created_at, id"
            )
        ).all()
    return [
        KeyInfo(r.name, r.role, dict(r.scope or {}), r.created_at, r.last_used_at, r.revoked_at) for r in rows
    ]


def _fetch(engine: Engine, digest: str) -> KeyRecord | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT name, role, scope FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL"),
            {"h": digest},
        ).first()
    return KeyRecord(row.name, row.role, dict(row.scope or {})) if row else None


def lookup_key(engine: Engine, key: str) -> KeyRecord | None:
    """The live key record for ``key``, or None (one query; see :class:`KeyCache`)."""
    return _fetch(engine, _hash(key))


def key_version(engine: Engine) -> int:
    """The current version of the keys table (changes with every key change)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT coalesce((SELECT version FROM api_key_epoch WHERE id = 1), 0)")
            ).scalar_one()
        )


class KeyCache:
    """Key records of one process, trusted for at most ``check_interval_s`` after the key
    version was last seen unchanged.

    Parameters
    ----------
    check_interval_s
        How often the version row is read (the bound on how late a revocation takes effect).
    last_used_interval_s
        How often a key's ``last_used_at`` is written by this process.

    Examples
    --------
    >>> cache = KeyCache()
    >>> cache.lookup(engine, "gg_...")   # doctest: +SKIP
    KeyRecord(name='张三', role='dispatcher', scope={'division': '320508001000'})
    """

    _MISSING = object()

    def __init__(
        self,
        *,
        check_interval_s: float = CHECK_INTERVAL_S,
        last_used_interval_s: float = LAST_USED_INTERVAL_S,
    ) -> None:
        self.check_interval_s = check_interval_s
        self.last_used_interval_s = last_used_interval_s
        self._records: dict[str, KeyRecord | None] = {}
        self._used_written: dict[str, float] = {}
        self._version: int | None = None
        self._checked_at = float("-inf")
        self._generation = 0
        self._lock = threading.Lock()

    def _refresh(self, engine: Engine, now: float) -> None:
        version = key_version(engine)
        with self._lock:
            self._checked_at = now
            if version != self._version:
                self._version = version
                self._generation += 1
                self._records.clear()

    def cached(self, key: str) -> tuple[bool, KeyRecord | None]:
        """``(True, record)`` when the cache can answer for ``key`` without the database (the
        version was checked recently and no use needs recording), else ``(False, None)``."""
        now = time.monotonic()
        if now - self._checked_at > self.check_interval_s:
            return False, None
        digest = _hash(key)
        record = self._records.get(digest, self._MISSING)
        if record is self._MISSING or (record is not None and self._due_for_touch(digest, now)):
            return False, None
        assert record is None or isinstance(record, KeyRecord)
        return True, record

    def _touch(self, engine: Engine, digest: str, now: float) -> None:
        """Record the key's use (once per interval); skipped while the database is unreachable."""
        self._used_written[digest] = now
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE api_keys SET last_used_at = now() WHERE key_hash = :h"), {"h": digest}
                )
        except sa.exc.OperationalError:
            self._used_written.pop(digest, None)  # written with a later request

    def _due_for_touch(self, digest: str, now: float) -> bool:
        return now - self._used_written.get(digest, float("-inf")) > self.last_used_interval_s

    def lookup(self, engine: Engine, key: str, *, writer: Engine | None = None) -> KeyRecord | None:
        """The live record of ``key`` or None, from the cache while the key version is unchanged.

        ``engine`` may be a read replica; ``last_used_at`` is written through ``writer`` (the
        primary; default ``engine``), best effort: a primary that is down does not fail a read.
        """
        now = time.monotonic()
        if now - self._checked_at > self.check_interval_s:
            self._refresh(engine, now)
        digest = _hash(key)
        generation = self._generation
        record = self._records.get(digest, self._MISSING)
        if record is self._MISSING:
            record = _fetch(engine, digest)
            with self._lock:
                # A version change while we read means our row may predate it: don't keep it.
                if self._generation == generation:
                    if len(self._records) >= MAX_CACHED:
                        self._records.clear()
                    self._records[digest] = record
        assert record is None or isinstance(record, KeyRecord)
        if record is not None and self._due_for_touch(digest, now):
            self._touch(writer or engine, digest, now)
        return record
