"""One table from geogrid's exceptions to HTTP statuses, answered as RFC 9457 problem details."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from geogrid import errors

log = logging.getLogger("geogrid.api")

PROBLEM = "application/problem+json"

# Most specific first: the first class an exception is an instance of decides the status.
STATUS_BY_ERROR: list[tuple[type[Exception], int]] = [
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
    (errors.PlanEditError, 409),
    (errors.InfeasibleError, 422),
    (errors.ImportRowsError, 422),
    (errors.InvalidGeometryError, 400),
    (errors.GridCodeError, 400),
    (errors.RuleViolationError, 400),
    (errors.DatabaseUnavailableError, 503),
    (errors.GeogridError, 400),
]


def problem(status: int, detail: str, *, title: str | None = None, **extra) -> JSONResponse:
    """An ``application/problem+json`` response."""
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def status_for(exc: Exception) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem details."""

    @app.exception_handler(errors.GeogridError)
    async def _geogrid_error(request: Request, exc: errors.GeogridError) -> JSONResponse:
        extra: dict = {}
        if isinstance(exc, errors.ImportRowsError):
            extra["errors"] = [
                {"row": e.row, "field": e.field, "reason": e.reason} for e in exc.errors[:1000]
            ]
        if isinstance(exc, errors.InfeasibleError) and exc.details:
            extra["details"] = exc.details
        return problem(status_for(exc), str(exc), title=type(exc).__name__, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(str(p) for p in i['loc'])}: {i['msg']}" for i in issues)
        return problem(422, detail, title="Invalid request", errors=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(ValueError)
    async def _nul_in_text(request: Request, exc: ValueError) -> JSONResponse:
        # PostgreSQL text cannot hold NUL; the driver refuses it wherever it came from (query
        # string, path, JSON body), so the answer is the client's 400, in one place.
        if "NUL (0x00)" in str(exc):
            return problem(400, "text values must not contain NUL (0x00) characters")
        raise exc  # any other ValueError is our bug: on to the 500 handler

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A 500 is always our bug; log it with the traceback and say little to the client.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; see the server log")
