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
from api.settings import Settings
from geogrid.db import database_url, make_engine

STATIC_DIR = Path(__file__).resolve().parents[1] / "geogrid" / "static"


def _routers():
    """Every module in ``api.routers`` that defines ``router``, in name order."""
    import api.routers as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"api.routers.{info.name}")
        if hasattr(module, "router"):
            yield module.router


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
    if engine is None:
        engine = make_engine(settings.database_url or database_url(), pool_size=20, max_overflow=20)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await routing.dispose(app)
        if own_engine:
            engine.dispose()

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
    app.state.key_cache = {}
    if settings.replica_url_list():
        routing.install(
            app,
            settings.replica_url_list(),
            retry_after_s=settings.retry_after_s,
            header=settings.served_by_header,
            max_lag_mb=settings.replica_max_lag_mb,
        )
    errors.install(app)
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
