"""One table from geogrid's exceptions to HTTP statuses, answered as RFC 9457 problem details."""

from __future__ import annotations

import contextlib
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
    (errors.ActionForbiddenError, 403),
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


# Kinds of error: a stable, language-free name for each (answered as the problem's ``kind``),
# by exception class (most specific first) and, for HTTP errors, by status.
KIND_BY_ERROR: list[tuple[type[Exception], str]] = [
    (errors.NotFoundError, "not-found"),
    (errors.ConflictError, "conflict"),
    (errors.ActionForbiddenError, "forbidden"),
    (errors.PlanEditError, "plan-edit-refused"),
    (errors.InfeasibleError, "infeasible"),
    (errors.ImportRowsError, "bad-rows"),
    (errors.InvalidGeometryError, "invalid-geometry"),
    (errors.GridCodeError, "invalid-code"),
    (errors.RuleViolationError, "invalid-rule"),
    (errors.DatabaseUnavailableError, "unavailable"),
]
KIND_BY_STATUS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
    429: "too-many-requests",
    500: "internal",
    503: "unavailable",
}
#: The one message table: the title of each kind of error, in Chinese and in English.  The
#: ``detail`` stays the specific reason (which row, which field, which code).
TITLES: dict[str, tuple[str, str]] = {
    "bad-request": ("请求有误", "Bad request"),
    "invalid-request": ("请求参数无效", "Invalid request"),
    "unauthorized": ("需要有效的 API 密钥", "Unauthorized"),
    "forbidden": ("无权进行此操作", "Forbidden"),
    "not-found": ("未找到", "Not found"),
    "method-not-allowed": ("不支持该请求方法", "Method not allowed"),
    "not-acceptable": ("无法提供所要求的格式", "Not acceptable"),
    "conflict": ("与当前状态冲突", "Conflict"),
    "too-large": ("请求内容过大", "Payload too large"),
    "unsupported-media-type": ("不支持的内容类型", "Unsupported media type"),
    "too-many-requests": ("请求过于频繁", "Too many requests"),
    "plan-edit-refused": ("方案修改被拒绝", "Plan edit refused"),
    "invalid-plan": ("方案未通过校验", "Invalid plan"),
    "infeasible": ("无法按规则划分网格", "Infeasible partition"),
    "bad-rows": ("导入数据有误，未写入任何数据", "Bad rows; nothing imported"),
    "invalid-geometry": ("几何图形或坐标无效", "Invalid geometry"),
    "invalid-code": ("编码有误", "Invalid code"),
    "invalid-rule": ("划分规则有误", "Invalid rule"),
    "unavailable": ("数据库暂不可用", "Database unavailable"),
    "internal": ("服务器内部错误", "Internal error"),
}
LANGUAGES = {"zh": "zh-CN", "en": "en"}


def negotiate_language(accept_language: str | None, default: str = "zh-CN") -> str:
    """``zh`` or ``en`` for an ``Accept-Language`` header (RFC 9110 weights), else ``default``'s.

    Examples
    --------
    >>> negotiate_language("en-US,en;q=0.9,zh-CN;q=0.8"), negotiate_language("zh-TW, en;q=0.5")
    ('en', 'zh')
    >>> negotiate_language(None), negotiate_language("fr, *;q=0.1", default="en")
    ('zh', 'en')
    """
    fallback = default.split("-")[0].lower()
    fallback = fallback if fallback in LANGUAGES else "zh"
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            ranked.append((-q, n, tag.strip().split("-")[0].lower()))
    for _q, _n, primary in sorted(ranked):
        if primary in LANGUAGES:
            return primary
        if primary == "*":
            return fallback
    return fallback


def request_language(request: Request | None) -> str:
    """The language of messages for ``request``: its ``Accept-Language``, else the setting."""
    default = "zh-CN"
    if request is None:
        return negotiate_language(None, default)
    settings = getattr(request.app.state, "settings", None)
    default = getattr(settings, "language", default) or default
    return negotiate_language(request.headers.get("accept-language"), default)


def kind_for(exc: Exception | None, status: int) -> str:
    for cls, kind in KIND_BY_ERROR:
        if exc is not None and isinstance(exc, cls):
            return kind
    return KIND_BY_STATUS.get(status, "bad-request" if status < 500 else "internal")


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    kind: str | None = None,
    request: Request | None = None,
    **extra,
) -> JSONResponse:
    """An ``application/problem+json`` response whose title speaks the client's language.

    ``kind`` (default: from the status) picks the title in :data:`TITLES`; the language comes
    from the request's ``Accept-Language`` (the setting ``language`` when it says nothing).
    """
    kind = kind or KIND_BY_STATUS.get(status, "bad-request" if status < 500 else "internal")
    lang = request_language(request)
    titles = TITLES.get(kind)
    if titles is not None:
        title = titles[0] if lang == "zh" else titles[1]
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "kind": kind,
        **extra,
    }
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM, headers={"Content-Language": LANGUAGES[lang]}
    )


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
    with contextlib.suppress(ImportError):  # asyncpg comes with the api extra
        import asyncpg

        classes += [asyncpg.PostgresError, asyncpg.InterfaceError]
    return tuple(classes)


def database_problem(
    request: Request, error: errors.GeogridError, cause: BaseException | None = None
) -> JSONResponse:
    """503 (with ``Retry-After``) while the database is unreachable, 504 for a statement past
    its time limit: one log line per outage (:class:`geogrid.db.health.DatabaseState`), one
    line per timeout, never a traceback per request."""
    from api.routing import engine_for
    from geogrid.db.health import state_for

    state = request.app.state
    if isinstance(error, errors.QueryTimeoutError):
        log.warning("statement cancelled on %s %s: %s", request.method, request.url.path, error)
        detail = message("query_timeout", limit_ms=state.settings.statement_timeout_ms)
        return problem(504, detail, title="QueryTimeoutError")
    reason = cause or error.__cause__ or error
    # The server this request was sent to (a replica's outage is not the primary's).
    state_for(engine_for(request)).mark_down(f"{type(reason).__name__}: {reason}".strip())
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
        status = status_for(exc)
        return problem(status, str(exc), kind=kind_for(exc, status), request=request, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(str(p) for p in i['loc'])}: {i['msg']}" for i in issues)
        return problem(422, detail, request=request, errors=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, str(exc.detail), request=request)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(ValueError)
    async def _nul_in_text(request: Request, exc: ValueError) -> JSONResponse:
        # PostgreSQL text cannot hold NUL; the driver refuses it wherever it came from (query
        # string, path, JSON body), so the answer is the client's 400, in one place.
        if "NUL (0x00)" in str(exc):
            return problem(400, "text values must not contain NUL (0x00) characters", request=request)
        raise exc  # any other ValueError is our bug: on to the 500 handler

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A 500 is always our bug; log it with the traceback and say little to the client.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; see the server log", request=request)
