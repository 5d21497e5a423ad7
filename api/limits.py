"""Two ASGI middlewares that refuse abuse before any endpoint runs.

- :class:`BodyLimit`: a request body larger than its endpoint allows is a 413.  A declared
  ``Content-Length`` is checked up front; a body without one (chunked) is counted while it
  streams in and cut off at the limit, so a 100 MB upload never sits in memory.
- :class:`RateLimit`: token buckets per API key and per client address; an empty bucket is a
  429 with ``Retry-After``.  The buckets live in the process (with N workers a client gets N
  times the rate): enough to stop one client from occupying the service, with no shared store.

Both are plain ASGI (no ``BaseHTTPMiddleware``): the point lookup is the hot path, and they
cost a dictionary lookup or two per request.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException

from geogrid.limits import message

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


async def send_problem(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """An ``application/problem+json`` answer straight from a middleware."""
    from http import HTTPStatus

    body = orjson.dumps(
        {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    )
    raw = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class BodyLimit:
    """Refuse request bodies over ``limit_for(method, path)`` bytes with a 413 problem."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODYLESS:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_problem(send, 413, message("body_too_large", limit=limit), {"Connection": "close"})
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    # Raised inside the endpoint's read of the body: the error table answers it.
                    raise HTTPException(413, message("body_too_large", limit=limit))
            return msg

        await self.app(scope, counted, send)


class TokenBuckets:
    """Token buckets by identity: ``rate`` tokens a second, holding at most ``burst``.

    Examples
    --------
    >>> buckets = TokenBuckets(rate=1.0, burst=2.0)
    >>> [buckets.take("a", now=0.0) for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> buckets.take("a", now=1.0)
    0.0
    """

    MAX_IDENTITIES = 100_000

    def __init__(self, *, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # identity -> (tokens, at)

    def take(self, identity: str, *, now: float) -> float:
        """Take one token; 0.0 if there was one, else the seconds until there will be."""
        tokens, at = self._buckets.get(identity, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            if len(self._buckets) >= self.MAX_IDENTITIES:
                self._forget_full(now)
            self._buckets[identity] = (tokens - 1.0, now)
            return 0.0
        self._buckets[identity] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: drop those.
        refill = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}


class RateLimit:
    """429 with ``Retry-After`` when a client address or an API key spends requests faster
    than its bucket refills.  Every request counts against its address; a request with a key
    also against its key (a made-up key per request cannot escape the address limit)."""

    def __init__(self, app: ASGIApp, *, per_key: float, per_address: float, burst_s: float) -> None:
        self.app = app
        self.keys = TokenBuckets(rate=per_key, burst=per_key * burst_s) if per_key > 0 else None
        self.addresses = (
            TokenBuckets(rate=per_address, burst=per_address * burst_s) if per_address > 0 else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = time.monotonic()
        wait = 0.0
        if self.addresses is not None:
            client = scope.get("client")
            wait = self.addresses.take(client[0] if client else "?", now=now)
        if not wait and self.keys is not None:
            key = _header(scope, b"x-api-key") or _bearer(_header(scope, b"authorization"))
            if key:
                wait = self.keys.take(hashlib.sha256(key).hexdigest(), now=now)
        if wait:
            retry = max(1, math.ceil(wait))
            await send_problem(
                send, 429, message("rate_limited", retry_after=retry), {"Retry-After": str(retry)}
            )
            return
        await self.app(scope, receive, send)


def _bearer(value: bytes | None) -> bytes | None:
    if value and value[:7].lower() == b"bearer ":
        return value[7:].strip()
    return None
