"""Building the FastAPI application: ``create_app()`` reads settings and wires the routers."""

from __future__ import annotations

import importlib
import pkgutil
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from api import errors, routing
from api.cors import ReadCorsMiddleware, parse_origins
from api.deps import libpq_options, session_settings
from api.limits import BodyLimit, RateLimit
from api.settings import Settings
from geogrid.db import database_url, make_engine
from geogrid.db.health import state_for
from geogrid.db.keys import KeyCache

STATIC_DIR = Path(__file__).resolve().parents[1] / "geogrid" / "static"


def _routers():
    """Every module in ``api.routers`` that defines ``router``, in name order."""
    import api.routers as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"api.routers.{info.name}")
        if hasattr(module, "router"):
            yield module.router


def body_limits(settings: Settings):
    """The body size limit of each endpoint (bytes): plans and batches are larger than JSON,
    incident reports carry up to 9 photos."""
    from api.routers.incidents import MAX_PHOTOS

    limits = {
        "/plans": settings.plan_max_bytes,
        "/lookup/batch": settings.batch_max_bytes,
        "/incidents": settings.max_body_bytes + MAX_PHOTOS * settings.photo_max_bytes,
        "/register/imports": settings.plan_max_bytes,
    }

    def limit_for(method: str, path: str) -> int:
        if path.startswith("/departments/") and path.endswith("/layers"):  # a department's layer file
            return settings.plan_max_bytes
        return limits.get(path, settings.max_body_bytes)

    return limit_for


def _install_limits(app: FastAPI, settings: Settings) -> None:
    """Rate limits, then body sizes, before any endpoint (the middleware added last runs first)."""
    app.add_middleware(BodyLimit, limit_for=body_limits(settings))
    app.add_middleware(
        RateLimit,
        per_key=settings.rate_limit_per_key,
        per_address=settings.rate_limit_per_address,
        burst_s=settings.rate_limit_burst_s,
    )


def notify_config(settings: Settings):
    """The notification delivery of these settings (``GEOGRID_NOTIFY_*``)."""
    from geogrid.db.notify import DeliveryConfig

    return DeliveryConfig(
        url=settings.notify_webhook_url,
        fmt=settings.notify_format,
        secret=settings.notify_secret,
        base_s=settings.notify_retry_base_s,
        cap_s=settings.notify_retry_cap_s,
        max_attempts=settings.notify_max_attempts,
    )


def start_notifier(settings: Settings, engine: Engine):
    """Run the notification worker (flags, then deliveries) in a thread of this process when a
    webhook is set and ``notify_in_api``; returns the function that stops it."""
    import threading

    from geogrid.db.notify import run_forever

    if not (settings.notify_webhook_url and settings.notify_in_api):
        return lambda: None
    from geogrid.incidents import load_catalogue

    stop = threading.Event()
    catalogue = load_catalogue(settings.incident_catalogue)
    worker = threading.Thread(
        target=run_forever,
        args=(engine, notify_config(settings)),
        kwargs={"interval_s": settings.notify_interval_s, "catalogue": catalogue, "stop": stop},
        name="geogrid-notify",
        daemon=True,
    )
    worker.start()

    def halt() -> None:
        stop.set()
        worker.join(timeout=30)

    return halt


def _lifespan(settings: Settings, engine: Engine, *, own_engine: bool):
    """Start the notification worker (when configured) with the app; stop it and dispose of
    an engine of our own when the app stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        stop_notifier = start_notifier(settings, engine)
        yield
        stop_notifier()
        await routing.dispose(app)
        if own_engine:
            engine.dispose()

    return lifespan


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The geogrid service.

    Parameters
    ----------
    settings
        Configuration; read from ``GEOGRID_*`` environment variables when not given.
    engine
        A SQLAlchemy engine to use instead of one built from ``settings.database_url``
        (tests pass the engine of their throwaway database).
    """
    settings = settings or Settings()
    own_engine = engine is None
    server_settings = session_settings(settings)
    if engine is None:
        engine = make_engine(
            settings.database_url or database_url(),
            pool_size=20,
            max_overflow=20,
            connect_args={"options": libpq_options(server_settings), "connect_timeout": 5},
        )

    lifespan = _lifespan(settings, engine, own_engine=own_engine)
    app = FastAPI(
        title="geogrid",
        version="0.1.0",
        description="Grid-based community management (网格化服务管理): grids, lookups, tiles, incidents, maps.",
        lifespan=lifespan,
        # /docs is served below with Swagger UI from this service: intranets have no CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    # Registers the engine's "connect" listener now: adding it while requests connect races
    # with SQLAlchemy's dispatch of that event (RuntimeError: deque mutated during iteration).
    state_for(engine)
    # Session settings of the connections this app opens (its own engine, the raw and asyncpg
    # pools, the replicas' engines and pools); an engine passed in keeps its own.
    app.state.server_settings = server_settings
    app.state.key_cache = KeyCache(check_interval_s=settings.key_check_interval_s)
    if settings.replica_url_list():
        routing.install(
            app,
            settings.replica_url_list(),
            retry_after_s=settings.retry_after_s,
            header=settings.served_by_header,
            max_lag_mb=settings.replica_max_lag_mb,
        )
    errors.install(app)
    _install_limits(app, settings)
    # Added last, so outermost: 413/429 answers to another origin carry the CORS headers too.
    origins = parse_origins(settings.cors_origins)
    if origins:
        app.add_middleware(ReadCorsMiddleware, origins=origins)
    for router in _routers():
        app.include_router(router)
    STATIC_DIR.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="geogrid API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
            # Swagger UI would fetch a validity badge from validator.swagger.io: no outside calls.
            swagger_ui_parameters={"validatorUrl": None},
        )

    return app
