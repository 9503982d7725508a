"""The SparkManager's app factory: `create_manager_app(settings, cluster_name)`.

One app per Kubernetes cluster, built from the same configuration file as the gateway. Its lifespan
creates (or upgrades) the database schema, connects to the cluster (kubeconfig context named like the
cluster, the pod's service account, or an EKS token with `certificateAuthorityB64File`), starts the
watch and the status writers, and on shutdown stops watching and gives pending writes
`sparkManager.shutdownSeconds` before closing. Prometheus metrics are served on the same app at
`sparkManager.metricsServer.endpoint`; `spark-gateway manager` also listens on the metrics port when it
differs from the API port, where `metrics_port_only` lets nothing but the metrics (and /health) through.
Every call but /health and /ready needs the bearer token shared with the gateway (`token`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from spark_gateway.api.errors import install_error_handlers
from spark_gateway.api.manager import routes
from spark_gateway.api.manager.metrics import build_registry
from spark_gateway.api.manager.token import BearerTokenGuard, required_token
from spark_gateway.backends.kubernetes.k8s_api import K8sApi, load_cluster_config
from spark_gateway.db.availability import upgrade_when_available
from spark_gateway.db.engine import Database
from spark_gateway.domain.errors import ConfigError
from spark_gateway.services.manager.service import ManagerService
from spark_gateway.settings import ClusterConfig, Settings

log = logging.getLogger(__name__)

__all__ = ["create_manager_app", "kubernetes_cluster", "metrics_port_only"]


def kubernetes_cluster(settings: Settings, cluster_name: str) -> ClusterConfig:
    cluster = settings.cluster_by_name(cluster_name)
    if cluster is None:
        names = ", ".join(c.name for c in settings.clusters)
        raise ConfigError(f"--cluster: no cluster named '{cluster_name}' is configured ({names})")
    if cluster.type != "kubernetes":
        raise ConfigError(f"--cluster: cluster '{cluster_name}' is of type {cluster.type}, not kubernetes")
    return cluster


def create_manager_app(
    settings: Settings, cluster_name: str, *, k8s: K8sApi | None = None, db: Database | None = None
) -> FastAPI:
    """The SparkManager of one cluster. Cluster access is configured now, so mistakes stop start-up."""
    cluster = kubernetes_cluster(settings, cluster_name)
    token = required_token(settings)
    conf = settings.sparkManager
    access = None if k8s is not None else load_cluster_config(cluster, conf.clusterAuthType)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = db or Database(
            settings.database_url(),
            pool_size=settings.database.poolSize,
            statement_timeout_s=settings.database.statementTimeoutSeconds,
        )
        if k8s is not None:
            api = k8s
        else:
            assert access is not None
            api = K8sApi.from_config(access, timeout=conf.kubernetesTimeoutSeconds)
        try:
            await upgrade_when_available(database)
            service = ManagerService(settings, cluster, api, database)
            app.state.manager = service
            await service.start()
            log.info("SparkManager of cluster %s watching %s", cluster.name, api.server)
            try:
                yield
            finally:
                await service.stop()
        finally:
            if k8s is None:
                await api.close()
            if db is None:
                await database.dispose()

    app = FastAPI(
        title=f"Spark Gateway SparkManager ({cluster.name})",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if settings.gateway.enableSwaggerUI else None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.manager = None
    install_error_handlers(app)
    app.include_router(routes.router)
    registry = build_registry(cluster, lambda: app.state.manager)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    endpoint = "/" + conf.metricsServer.endpoint.lstrip("/")
    app.add_api_route(endpoint, metrics, methods=["GET"], include_in_schema=False)
    if token is not None:
        app.add_middleware(BearerTokenGuard, token=token)
    return app


def metrics_port_only(app: ASGIApp, metrics_port: int, endpoint: str) -> ASGIApp:
    """On connections to `metrics_port`, serve only the metrics endpoint and /health."""
    allowed = {"/" + endpoint.lstrip("/"), "/health"}

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") or (None, None)
        if scope["type"] == "http" and server[1] == metrics_port and scope["path"] not in allowed:
            await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)
            return
        await app(scope, receive, send)

    return wrapper
