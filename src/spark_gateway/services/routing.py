"""Choosing a cluster for a namespace when several clusters offer it.

`random` and `weightBasedRandom` need only the configuration; `weightBased` (which reads the
SparkManagers' metrics) plugs in through the same `ClusterRouter` interface. A primary router that
fails falls back to `clusterRouter.fallbackType`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from spark_gateway.domain.errors import BadRequest, Unavailable
from spark_gateway.settings import ClusterConfig, Settings

log = logging.getLogger(__name__)

HealthCheck = Callable[[ClusterConfig], Awaitable[bool]]


class ClusterRouter(Protocol):
    async def choose(self, candidates: Sequence[ClusterConfig], namespace: str) -> ClusterConfig: ...


def routing_weight(cluster: ClusterConfig, namespace: str, dimension: str) -> float:
    if dimension == "namespace":
        ns = cluster.namespace_by_name(namespace)
        return ns.routingWeight if ns else 0.0
    return cluster.routingWeight


class RandomRouter:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    async def choose(self, candidates: Sequence[ClusterConfig], namespace: str) -> ClusterConfig:
        if not candidates:
            raise Unavailable(f"no healthy cluster offers namespace '{namespace}'")
        return self.rng.choice(list(candidates))


class WeightBasedRandomRouter:
    """Picks a cluster with probability proportional to its (float) routing weight."""

    def __init__(self, dimension: str, rng: random.Random | None = None) -> None:
        self.dimension = dimension
        self.rng = rng or random.Random()

    async def choose(self, candidates: Sequence[ClusterConfig], namespace: str) -> ClusterConfig:
        if not candidates:
            raise Unavailable(f"no healthy cluster offers namespace '{namespace}'")
        ordered = sorted(candidates, key=lambda c: c.id)
        weights = [routing_weight(c, namespace, self.dimension) for c in ordered]
        if sum(weights) <= 0:
            raise Unavailable(f"all clusters offering namespace '{namespace}' have routing weight 0")
        return self.rng.choices(ordered, weights=weights, k=1)[0]


RouterFactory = Callable[[Settings, str], ClusterRouter]
ROUTER_FACTORIES: dict[str, RouterFactory] = {
    "random": lambda settings, kind: RandomRouter(),
    "weightBasedRandom": lambda settings, kind: WeightBasedRandomRouter(settings.clusterRouter.dimension),
}


class RoutingService:
    """Candidates for a namespace, minus unhealthy ones; primary router, then the fallback."""

    def __init__(
        self,
        settings: Settings,
        primary: ClusterRouter,
        fallback: ClusterRouter,
        health: HealthCheck | None = None,
    ) -> None:
        self.settings = settings
        self.primary = primary
        self.fallback = fallback
        self.health = health

    def candidates(self, namespace: str) -> list[ClusterConfig]:
        return [c for c in self.settings.clusters if c.namespace_by_name(namespace) is not None]

    async def healthy_candidates(self, namespace: str) -> list[ClusterConfig]:
        candidates = self.candidates(namespace)
        if not candidates:
            raise BadRequest(f"no configured cluster offers namespace '{namespace}'")
        if self.health is None or len(candidates) == 1:
            return candidates
        healthy = [c for c in candidates if await self.health(c)]
        if not healthy:
            raise Unavailable(f"no healthy cluster offers namespace '{namespace}'")
        return healthy

    async def choose(self, namespace: str) -> ClusterConfig:
        candidates = await self.healthy_candidates(namespace)
        if len(candidates) == 1:
            return candidates[0]
        try:
            return await self.primary.choose(candidates, namespace)
        except Exception as exc:
            log.warning("router %s failed (%s); using fallback", type(self.primary).__name__, exc)
            return await self.fallback.choose(candidates, namespace)


def build_routing(settings: Settings, health: HealthCheck | None = None) -> RoutingService:
    def make(kind: str) -> ClusterRouter:
        factory = ROUTER_FACTORIES.get(kind)
        if factory is None:
            raise ValueError(f"clusterRouter: router type '{kind}' is not available")
        return factory(settings, kind)

    router = settings.clusterRouter
    return RoutingService(settings, make(router.type), make(router.fallbackType), health)
