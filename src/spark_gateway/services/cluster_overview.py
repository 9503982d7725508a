"""What the console's Clusters page shows: each cluster and namespace, readiness, load and routing.

Readiness is the router's own health check (a SparkManager's `/ready`, cached; local clusters are
always ready), counts come from the database, and "the router's choice" is what `RoutingService`
answers for the namespace right now (with a random router, one draw).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from spark_gateway.db import repository as repo
from spark_gateway.domain.errors import GatewayError
from spark_gateway.domain.states import AppState
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.settings import ClusterConfig


@dataclass
class NamespaceView:
    name: str
    id: str
    routing_weight: float


@dataclass
class ClusterView:
    name: str
    id: str
    kind: str
    master_url: str | None
    routing_weight: float
    ready: bool
    namespaces: list[NamespaceView]
    queued: int = 0  # stored, not yet launched (state New)
    running: int = 0  # launched and not yet finished
    finished: int = 0


@dataclass
class RoutingView:
    router: str
    fallback: str
    dimension: str
    choices: dict[str, str] = field(default_factory=dict)  # namespace -> cluster name, or why none


async def _ready(rt: GatewayRuntime, cluster: ClusterConfig) -> bool:
    return True if rt.routing.health is None else await rt.routing.health(cluster)


async def _choice(rt: GatewayRuntime, namespace: str) -> str:
    try:
        return (await rt.routing.choose(namespace)).name
    except GatewayError as exc:
        return f"none: {exc}"


async def cluster_overview(rt: GatewayRuntime) -> tuple[list[ClusterView], RoutingView]:
    clusters = rt.settings.clusters
    readiness = await asyncio.gather(*(_ready(rt, c) for c in clusters))
    views = {
        c.name: ClusterView(
            name=c.name,
            id=c.id,
            kind=c.type or "local",
            master_url=c.masterURL,
            routing_weight=c.routingWeight,
            ready=ready,
            namespaces=[NamespaceView(ns.name, ns.id, ns.routingWeight) for ns in c.namespaces],
        )
        for c, ready in zip(clusters, readiness, strict=True)
    }
    async with rt.db.transaction() as session:
        counts = await repo.count_by_cluster_and_state(session)
    for cluster_name, state, count in counts:
        view = views.get(cluster_name)
        if view is None:
            continue  # a cluster removed from the configuration since
        parsed = AppState.parse(state)
        if parsed == AppState.NEW:
            view.queued += count
        elif parsed.is_terminal:
            view.finished += count
        else:
            view.running += count
    namespaces = sorted({ns.name for c in clusters for ns in c.namespaces})
    choices = await asyncio.gather(*(_choice(rt, ns) for ns in namespaces))
    config = rt.settings.clusterRouter
    routing = RoutingView(
        config.type, config.fallbackType, config.dimension, dict(zip(namespaces, choices, strict=True))
    )
    return list(views.values()), routing
