"""The FastAPI application factory: `create_app(settings)`.

Settings come in explicitly; the database schema is created or upgraded at start-up, background work
starts with the app and stops gracefully with it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from spark_gateway.api import applications, health, livy, livy_sessions, metrics, session_runner
from spark_gateway.api.console import install_console
from spark_gateway.api.docs import install_docs
from spark_gateway.api.errors import install_error_handlers
from spark_gateway.api.livy_root import LivyRootPaths
from spark_gateway.api.point_routes import PointReadRoutes
from spark_gateway.api.schemas import install_openapi
from spark_gateway.api.security import install_security
from spark_gateway.db.availability import upgrade_when_available
from spark_gateway.services.gateway import GatewayRuntime, build_runtime
from spark_gateway.services.supervision.background import BackgroundWork
from spark_gateway.settings import Settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    runtime: GatewayRuntime | None = None,
    background: bool = True,
) -> FastAPI:
    """Build the gateway. `background=False` leaves supervision to the caller (tests drive it)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway = runtime or build_runtime(settings)
        await upgrade_when_available(gateway.db)  # retries with back-off while the database is down
        app.state.runtime = gateway
        work = BackgroundWork(gateway)
        if background:
            await work.start()
        log.info("spark gateway ready with clusters %s", [c.id for c in settings.clusters])
        try:
            yield
        finally:
            await work.stop()
            await gateway.close()

    swagger = settings.gateway.enableSwaggerUI
    app = FastAPI(
        title="Spark Gateway",
        version="0.1.0",
        description="Submit and watch Spark applications: a Livy-compatible API and a native API.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by install_docs, not from a CDN
        redoc_url=None,
        openapi_url="/openapi.json" if swagger else None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Routes are matched in order, one by one: the batch and application routes (the ones clients
    # poll) come first. No two routers share a path.
    if settings.livy.enable:
        app.include_router(livy.router)
    app.include_router(applications.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    if settings.livy.enable:
        app.include_router(livy_sessions.router)
        app.include_router(session_runner.router)
    install_openapi(app)
    if swagger:
        install_docs(app)
    if settings.gateway.enableConsole:
        install_console(app)
    # Innermost: the polled reads skip FastAPI's routing, never the security chain around them.
    app.add_middleware(PointReadRoutes, livy_enabled=settings.livy.enable)
    install_security(app, settings, extra_open_paths=session_runner.OPEN_PATHS)
    if settings.livy.enable and settings.livy.rootPaths:
        app.add_middleware(LivyRootPaths)  # outermost: every layer sees the /api/livy path
    return app
