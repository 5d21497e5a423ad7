"""One table from geogrid's exceptions to HTTP statuses, answered as RFC 9457 problem details."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from geogrid import errors
from geogrid.db.health import translate
from geogrid.limits import message

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
    (errors.QueryTimeoutError, 504),
    (errors.DatabaseUnavailableError, 503),
    (errors.PayloadTooLargeError, 413),
    (errors.LimitError, 400),
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


def _database_classes() -> tuple[type[Exception], ...]:
    """Exception classes through which the drivers report a lost server, a cancelled
    statement or a refused value (asyncpg only when installed)."""
    import psycopg2
    import sqlalchemy.exc

    classes: list[type[Exception]] = [
        sqlalchemy.exc.DBAPIError,
        psycopg2.Error,
        ConnectionError,
        TimeoutError,
    ]
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg comes with the api extra
        pass
    else:
        classes += [asyncpg.PostgresError, asyncpg.InterfaceError]
    return tuple(classes)


def database_problem(
    request: Request, error: errors.GeogridError, cause: BaseException | None = None
) -> JSONResponse:
    """503 (with ``Retry-After``) while the database is unreachable, 504 for a statement past
    its time limit: one log line per outage (:class:`geogrid.db.health.DatabaseState`), one
    line per timeout, never a traceback per request."""
    from geogrid.db.health import state_for

    state = request.app.state
    if isinstance(error, errors.QueryTimeoutError):
        log.warning("statement cancelled on %s %s: %s", request.method, request.url.path, error)
        detail = message("query_timeout", limit_ms=state.settings.statement_timeout_ms)
        return problem(504, detail, title="QueryTimeoutError")
    reason = cause or error.__cause__ or error
    state_for(state.engine).mark_down(f"{type(reason).__name__}: {reason}".strip())
    response = problem(503, message("db_unavailable"), title="DatabaseUnavailableError")
    response.headers["Retry-After"] = str(state.settings.retry_after_s)
    return response


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem details."""

    async def _driver_error(request: Request, exc: Exception) -> JSONResponse:
        error = translate(exc, timeout_ms=request.app.state.settings.statement_timeout_ms)
        if error is None:
            log.exception("unhandled database error on %s %s", request.method, request.url.path)
            return problem(500, "internal error; see the server log")
        if isinstance(error, errors.DatabaseUnavailableError):
            return database_problem(request, error, getattr(exc, "orig", None) or exc)
        return problem(status_for(error), str(error), title=type(error).__name__)

    for cls in _database_classes():
        app.add_exception_handler(cls, _driver_error)

    @app.exception_handler(errors.GeogridError)
    async def _geogrid_error(request: Request, exc: errors.GeogridError) -> JSONResponse:
        if isinstance(exc, errors.DatabaseUnavailableError):
            return database_problem(request, exc)
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
