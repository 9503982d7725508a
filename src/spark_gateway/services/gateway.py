"""The gateway's runtime: settings, database, one backend per cluster, routing, wake-ups.

Built once by the app factory from explicit settings and handed to every service call, so tests can
build as many independent gateways as they like in one process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from spark_gateway.backends.base import ClusterBackend, SupervisedBackend
from spark_gateway.db.engine import Database
from spark_gateway.domain.access import AccessPolicy
from spark_gateway.domain.conf_policy import ConfPolicy
from spark_gateway.domain.errors import NotFound
from spark_gateway.services.routing import RoutingService, build_routing
from spark_gateway.services.transitions import DatabaseSink
from spark_gateway.settings import ClusterConfig, Settings


def build_backend(cluster: ClusterConfig, settings: Settings) -> ClusterBackend:
    if cluster.type == "local":
        from spark_gateway.backends.local import LocalBackend

        return LocalBackend(cluster, settings.dataDir.resolve(), secret_env=settings.secret_env_names())
    from spark_gateway.backends.kubernetes.manager_client import SparkManagerBackend

    return SparkManagerBackend(cluster, settings)


@dataclass
class GatewayRuntime:
    settings: Settings
    db: Database
    backends: dict[str, ClusterBackend]
    routing: RoutingService
    sink: DatabaseSink
    access: AccessPolicy
    conf_policy: ConfPolicy = field(default_factory=ConfPolicy)
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)

    def cluster(self, cluster_id: str) -> ClusterConfig:
        cluster = self.settings.cluster_by_id(cluster_id)
        if cluster is None:
            raise NotFound(f"cluster id '{cluster_id}' is not configured")
        return cluster

    def backend(self, cluster_id: str) -> ClusterBackend:
        try:
            return self.backends[cluster_id]
        except KeyError:
            raise NotFound(f"cluster id '{cluster_id}' is not configured") from None

    def supervised_backend(self, cluster_id: str) -> SupervisedBackend:
        """The backend of a cluster the gateway runs itself (ValueError for one behind a SparkManager)."""
        backend = self.backend(cluster_id)
        if not isinstance(backend, SupervisedBackend):
            raise ValueError(f"cluster '{cluster_id}' is not supervised by the gateway")
        return backend

    def wake(self, cluster_id: str) -> None:
        """Tell the cluster's supervisor that new work is waiting."""
        self.wakeups.setdefault(cluster_id, asyncio.Event()).set()

    def wakeup_event(self, cluster_id: str) -> asyncio.Event:
        return self.wakeups.setdefault(cluster_id, asyncio.Event())

    async def close(self) -> None:
        for backend in self.backends.values():
            await backend.close()
        await self.db.dispose()


def build_runtime(settings: Settings, db: Database | None = None) -> GatewayRuntime:
    db = db or Database(
        settings.database_url(),
        pool_size=settings.database.poolSize,
        statement_timeout_s=settings.database.statementTimeoutSeconds,
    )
    backends = {c.id: build_backend(c, settings) for c in settings.clusters}
    auth = settings.gateway
    return GatewayRuntime(
        settings=settings,
        db=db,
        backends=backends,
        routing=build_routing(settings),
        sink=DatabaseSink(db, log_retention_lines=settings.retention.log_lines),
        access=AccessPolicy.build(
            admins=auth.authorization.admins,
            viewers=auth.authorization.viewers,
            auth_enabled=bool(auth.middleware),
        ),
        conf_policy=ConfPolicy.build(forbidden=auth.forbiddenSparkConf, allowed=auth.allowedSparkConf),
    )
