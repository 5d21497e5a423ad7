"""Cross-origin reads: map pages on another host may load features, tiles, TileJSON, heatmaps
and lookups; nothing else is shared across origins.

The allowed origins are ``settings.cors_origins`` (``GEOGRID_CORS_ORIGINS``, comma-separated);
with none, the app adds no CORS headers at all and only same-origin pages can read it.
Starlette's :class:`~starlette.middleware.cors.CORSMiddleware` does the protocol (preflight,
``Vary: Origin``); this wrapper decides which paths it applies to.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

#: Path prefixes readable across origins (``/`` itself is the OGC landing page).
READ_PATHS = ("/collections", "/conformance", "/api", "/tileMatrixSets", "/heatmap", "/lookup")
#: Headers a cross-origin page may send (an API key when reads are closed, conditional tiles).
ALLOWED_HEADERS = ["X-API-Key", "Authorization", "If-None-Match", "Accept-Language", "Content-Type"]
#: Headers a cross-origin page may read.
EXPOSED_HEADERS = ["ETag", "Content-Crs", "Content-Language", "X-Tile-Cache"]


def parse_origins(text: str) -> list[str]:
    """The origins in a comma-separated setting, without blanks or trailing slashes.

    Examples
    --------
    >>> parse_origins(" http://gis.county.gov.cn, https://screen.example:8443/ ,")
    ['http://gis.county.gov.cn', 'https://screen.example:8443']
    """
    return [o.strip().rstrip("/") for o in text.split(",") if o.strip()]


class ReadCorsMiddleware:
    """CORS for :data:`READ_PATHS` (and the landing page) from ``origins``; other paths untouched."""

    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            # POST: the batch lookup; writes are not under READ_PATHS.
            allow_methods=["GET", "HEAD", "POST"],
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _shared(scope.get("path", "")):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _shared(path: str) -> bool:
    return path == "/" or any(path == p or path.startswith(p + "/") for p in READ_PATHS)
