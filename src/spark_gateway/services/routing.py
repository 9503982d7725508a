"""Choosing a cluster for a namespace when several clusters offer it.

Candidates are the configured clusters offering the namespace, minus those whose SparkManager is not
ready (`GET /ready`, cached for `clusterRouter.healthCacheSeconds`; local clusters are always ready).
Routers: `random`; `weightBasedRandom` (probability proportional to the float routing weight of the
`dimension`); `weightBased` (the reference's algorithm: read `prometheusQuery.metric` from each
SparkManager's metrics endpoint and pick the largest weight ratio minus current ratio; managers whose
metric cannot be read are left out, and weight ratios are taken among the clusters that remain; local
clusters have no metrics endpoint and are left out too). A primary router that fails falls back to
`clusterRouter.fallbackType`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families

from spark_gateway.backends.kubernetes.manager_client import manager_auth_headers, manager_url, metrics_url
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


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class ManagerProbe:
    """Readiness and metrics of SparkManagers over HTTP (a short-lived client per call, with the token)."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.ttl = settings.clusterRouter.healthCacheSeconds
        self.timeout = settings.clusterRouter.requestTimeoutSeconds
        self._transport = transport
        kubernetes = any(c.type == "kubernetes" for c in settings.clusters)
        self._headers = manager_auth_headers(settings) if kubernetes else {}
        if kubernetes and not self._headers:
            log.warning("no SparkManager API token configured: managers that require one will refuse calls")
        self._health: dict[str, tuple[float, bool]] = {}
        self._probing: dict[str, asyncio.Future[bool]] = {}

    def _client(self) -> httpx.AsyncClient:
        # One TLS context for all: building one per client (certifi's bundle) costs ~60 ms each.
        return httpx.AsyncClient(
            timeout=self.timeout, transport=self._transport, verify=_tls_context(), headers=self._headers
        )

    async def healthy(self, cluster: ClusterConfig) -> bool:
        """Ready or not, from a result at most `ttl` old; concurrent callers share one probe."""
        if cluster.type != "kubernetes":
            return True
        cached = self._health.get(cluster.id)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        probe = self._probing.get(cluster.id)
        if probe is None:
            probe = self._probing[cluster.id] = asyncio.ensure_future(self._probe(cluster))
            probe.add_done_callback(lambda _: self._probing.pop(cluster.id, None))
        return await asyncio.shield(probe)

    async def _probe(self, cluster: ClusterConfig) -> bool:
        try:
            async with self._client() as client:
                ok = (await client.get(manager_url(self.settings, cluster) + "/ready")).status_code == 200
        except httpx.HTTPError:
            ok = False
        cached = self._health.get(cluster.id)
        if not ok and (cached is None or cached[1]):
            log.warning("SparkManager of cluster %s is not ready: no traffic until it is", cluster.name)
        elif ok and cached is not None and not cached[1]:
            log.info("SparkManager of cluster %s is ready again", cluster.name)
        self._health[cluster.id] = (time.monotonic(), ok)
        return ok

    def mark_down(self, cluster: ClusterConfig) -> None:
        """A call found the manager unreachable: treat it as not ready until the cache says otherwise."""
        if self._health.get(cluster.id, (0.0, True))[1]:
            log.warning(
                "SparkManager of cluster %s is unreachable: no traffic until it is ready", cluster.name
            )
        self._health[cluster.id] = (time.monotonic(), False)

    async def metrics_text(self, cluster: ClusterConfig) -> str:
        async with self._client() as client:
            resp = await client.get(metrics_url(self.settings, cluster))
        if resp.status_code not in (200, 201):
            raise Unavailable(f"metrics of cluster {cluster.name}: HTTP {resp.status_code}")
        return resp.text


def gauge_value(text: str, metric: str, labels: dict[str, str]) -> float:
    """The one gauge sample of `metric` whose labels include `labels` (missing labels count as "")."""
    for family in text_string_to_metric_families(text):
        if family.name != metric:
            continue
        if family.type != "gauge":
            raise ValueError(f"{metric} is a {family.type}, not a gauge")
        samples = [s for s in family.samples if all(s.labels.get(k, "") == v for k, v in labels.items())]
        if len(samples) != 1:
            raise ValueError(f"{len(samples)} series of {metric} match {labels}, need exactly one")
        value = float(samples[0].value)
        if math.isnan(value) or value < 0:
            raise ValueError(f"{metric}{labels} is {value}")
        return value
    raise ValueError(f"no metric {metric}")


class WeightBasedRouter:
    """The cluster furthest below its share: max(weight ratio - metric ratio), ties to the lowest id."""

    def __init__(self, settings: Settings, probe: ManagerProbe) -> None:
        self.settings = settings
        self.probe = probe

    async def _metric(self, cluster: ClusterConfig, namespace: str) -> float | None:
        query = self.settings.clusterRouter.prometheusQuery
        dimension = self.settings.clusterRouter.dimension
        labels = {"cluster": cluster.name, "namespace": namespace if dimension == "namespace" else ""}
        labels |= query.additionalLabels
        try:
            if cluster.type != "kubernetes":
                raise ValueError("a local cluster has no SparkManager metrics")
            return gauge_value(await self.probe.metrics_text(cluster), query.metric, labels)
        except (httpx.HTTPError, Unavailable, ValueError) as exc:
            log.warning("weightBased: leaving out cluster %s: %s", cluster.name, exc)
            return None

    async def choose(self, candidates: Sequence[ClusterConfig], namespace: str) -> ClusterConfig:
        ordered = sorted(candidates, key=lambda c: c.id)
        values = await asyncio.gather(*(self._metric(c, namespace) for c in ordered))
        measured = [(c, v) for c, v in zip(ordered, values, strict=True) if v is not None]
        if not measured:
            raise Unavailable(f"no cluster offering namespace '{namespace}' has readable metrics")
        dimension = self.settings.clusterRouter.dimension
        weights = [routing_weight(c, namespace, dimension) for c, _ in measured]
        total_weight, total_metric = sum(weights), sum(v for _, v in measured)
        if total_weight <= 0:
            raise Unavailable(f"all clusters offering namespace '{namespace}' have routing weight 0")
        best, best_diff = measured[0][0], -math.inf
        for (cluster, value), weight in zip(measured, weights, strict=True):
            diff = weight / total_weight - (value / total_metric if total_metric > 0 else 1.0)
            if diff > best_diff:
                best, best_diff = cluster, diff
        return best


RouterFactory = Callable[[Settings, ManagerProbe], ClusterRouter]
ROUTER_FACTORIES: dict[str, RouterFactory] = {
    "random": lambda settings, probe: RandomRouter(),
    "weightBasedRandom": lambda settings, probe: WeightBasedRandomRouter(settings.clusterRouter.dimension),
    "weightBased": WeightBasedRouter,
}


class RoutingService:
    """Candidates for a namespace, minus unhealthy ones; primary router, then the fallback."""

    def __init__(
        self,
        settings: Settings,
        primary: ClusterRouter,
        fallback: ClusterRouter,
        health: HealthCheck | None = None,
        mark_down: Callable[[ClusterConfig], None] | None = None,
    ) -> None:
        self.settings = settings
        self.primary = primary
        self.fallback = fallback
        self.health = health
        self.mark_down = mark_down or (lambda cluster: None)

    def candidates(self, namespace: str) -> list[ClusterConfig]:
        return [c for c in self.settings.clusters if c.namespace_by_name(namespace) is not None]

    async def healthy_candidates(
        self, namespace: str, exclude: frozenset[str] = frozenset()
    ) -> list[ClusterConfig]:
        candidates = self.candidates(namespace)
        if not candidates:
            raise BadRequest(f"no configured cluster offers namespace '{namespace}'")
        if exclude:
            candidates = [c for c in candidates if c.id not in exclude]
            if not candidates:
                raise Unavailable(f"no reachable cluster offers namespace '{namespace}'")
        if self.health is None or len(candidates) == 1:
            return candidates
        checks = await asyncio.gather(*(self.health(c) for c in candidates))
        healthy = [c for c, ok in zip(candidates, checks, strict=True) if ok]
        if not healthy:
            raise Unavailable(f"no healthy cluster offers namespace '{namespace}'")
        return healthy

    async def choose(self, namespace: str, exclude: frozenset[str] = frozenset()) -> ClusterConfig:
        """A cluster for `namespace`, never one of `exclude` (ids found unreachable by this request)."""
        candidates = await self.healthy_candidates(namespace, exclude)
        if len(candidates) == 1:
            return candidates[0]
        try:
            return await self.primary.choose(candidates, namespace)
        except Exception as exc:
            log.warning("router %s failed (%s); using fallback", type(self.primary).__name__, exc)
            return await self.fallback.choose(candidates, namespace)


def build_routing(
    settings: Settings, health: HealthCheck | None = None, probe: ManagerProbe | None = None
) -> RoutingService:
    """Routers from `clusterRouter`; by default SparkManager readiness decides which clusters are up."""
    probe = probe or ManagerProbe(settings)

    def make(kind: str) -> ClusterRouter:
        factory = ROUTER_FACTORIES.get(kind)
        if factory is None:
            raise ValueError(f"clusterRouter: router type '{kind}' is not available")
        return factory(settings, probe)

    router = settings.clusterRouter
    return RoutingService(
        settings,
        make(router.type),
        make(router.fallbackType),
        health or probe.healthy,
        mark_down=probe.mark_down,
    )
