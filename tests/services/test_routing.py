"""Routing across Kubernetes clusters, through the real RoutingService of a real gateway.

The split and convergence tests submit through the gateway's native API: each submission is routed,
stored, sent over HTTP to that cluster's real SparkManager and created in its fake Kubernetes API server
(CRD-validated); the counts are read back from the fake clusters. `weightBased` reads the managers' real
metrics endpoints over HTTP; readiness (`GET /ready`) is probed over HTTP too. Routing does not depend
on the database, so these run on SQLite only (the manager and API tests cover both databases).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from spark_gateway.services.routing import WeightBasedRandomRouter, gauge_value
from spark_gateway.settings import ClusterConfig, NamespaceConfig
from tests.api.conftest import Gateway
from tests.api.test_applications import spark_app
from tests.backends.kubernetes.harness import KubeEnv, KubeEnvFactory, wait_for
from tests.backends.kubernetes.harness import kube_env as kube_env  # the fixture
from tests.conftest import quick_or_long
from tests.fakes.k8s_server import sample_app

WEIGHTS = [("c1", "c1", 1.0), ("c2", "c2", 2.0), ("c3", "c3", 7.0)]
log = logging.getLogger(__name__)


def body(namespace: str = "default") -> dict[str, Any]:
    app = spark_app()
    app["metadata"]["namespace"] = namespace
    app["spec"]["mainApplicationFile"] = "local:///opt/spark/examples/src/main/python/pi.py"
    return app


async def submit(
    gw: Gateway, count: int, app: dict[str, Any] | None = None, *, concurrency: int = 1
) -> Counter[str]:
    """`count` submissions, `concurrency` at a time; how many each cluster got."""
    routed: Counter[str] = Counter()

    async def one() -> None:
        response = await gw.client.post("/api/v1/applications", json=app or body())
        assert response.status_code == 201, response.text
        routed[response.json()["cluster"]] += 1

    for start in range(0, count, concurrency):
        await asyncio.gather(*(one() for _ in range(min(concurrency, count - start))))
    return routed


async def in_cluster(env: KubeEnv) -> Counter[str]:
    return Counter({c.name: len(await c.fake.all_apps()) for c in env.clusters})


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_weights_1_2_7_split_the_submissions(kube_env: KubeEnvFactory) -> None:
    env = await kube_env(WEIGHTS)
    gw = await env.gateway()
    count = quick_or_long(300, 1000)
    started = time.monotonic()
    routed = await submit(gw, count, concurrency=25)  # as many clients would
    elapsed = time.monotonic() - started
    assert await in_cluster(env) == routed  # every submission really was created where it was routed
    shares = {name: 100 * routed[name] / count for name in ("c1", "c2", "c3")}
    log.warning("weightBasedRandom 1:2:7 over %d submissions: %s%% in %.1fs", count, shares, elapsed)
    for name, expected in (("c1", 10), ("c2", 20), ("c3", 70)):
        # 4.5 standard deviations of a binomial share: a correct router fails about once in 150,000 runs
        sigma = 100 * math.sqrt(expected / 100 * (1 - expected / 100) / count)
        assert abs(shares[name] - expected) <= 4.5 * sigma, shares


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_weight_based_converges_from_an_uneven_start(kube_env: KubeEnvFactory) -> None:
    env = await kube_env(WEIGHTS, clusterRouter={"type": "weightBased", "dimension": "cluster"})
    c1 = env.cluster("c1")
    for i in range(5):  # c1 already runs 5 applications: ten times its share of the first 5
        app = sample_app(f"c1-dflt-0190f0f0-0000-7000-8000-{i:012d}")
        await c1.fake.call(c1.fake.create_app, "default", app)
    gw = await env.gateway()
    assert c1.manager is not None
    async with httpx.AsyncClient(base_url=c1.manager.url, headers=env.manager_headers) as manager:

        async def preloaded_counted() -> bool:
            text = (await manager.get("/metrics")).text
            return gauge_value(text, "spark_application_count", {"cluster": "c1", "namespace": ""}) == 5

        await wait_for(preloaded_counted, what="c1's manager to count its 5 applications")
    deviations, routed = [], Counter[str]()
    for _ in range(9):
        routed += await submit(gw, 5)  # one at a time: each decision sees the previous one
        counts = await in_cluster(env)
        total = sum(counts.values())
        deviations.append(round(max(abs(counts[n] / total - w / 10) for n, _, w in WEIGHTS), 3))
    log.warning("weightBased from 5/0/0: routed %s; largest deviation after each 5: %s", routed, deviations)
    assert routed["c1"] == 0  # it was over its share all along
    assert await in_cluster(env) == {"c1": 5, "c2": 10, "c3": 35}  # exactly 10/20/70 of 50
    assert deviations == sorted(deviations, reverse=True) and deviations[-1] == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_dead_manager_gets_no_traffic(kube_env: KubeEnvFactory) -> None:
    env = await kube_env(WEIGHTS)
    gw = await env.gateway()
    dead = env.cluster("c3")
    assert dead.manager is not None
    await asyncio.to_thread(dead.manager.stop)  # the heaviest cluster's SparkManager is gone
    routed = await submit(gw, 90, concurrency=10)
    assert routed["c3"] == 0 and routed["c1"] + routed["c2"] == 90
    assert routed["c2"] > routed["c1"]  # still 1:2 between the live ones
    cut_off = env.cluster("c2")
    await cut_off.fake.server_down()  # c2's manager runs, but cannot reach its cluster

    async def unready() -> bool:
        return not await gw.runtime.routing.health(next(c for c in env.settings.clusters if c.name == "c2"))

    await wait_for(unready, timeout=20, what="c2's manager to report itself unready")
    assert (await submit(gw, 20)) == {"c1": 20}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_fallback_when_the_primary_router_fails(
    kube_env: KubeEnvFactory, caplog: pytest.LogCaptureFixture
) -> None:
    router = {
        "type": "weightBased",
        "fallbackType": "weightBasedRandom",
        "prometheusQuery": {"metric": "nope"},
    }
    env = await kube_env(WEIGHTS, clusterRouter=router)
    gw = await env.gateway()
    with caplog.at_level(logging.WARNING, logger="spark_gateway.services.routing"):
        routed = await submit(gw, 100, concurrency=20)
    # weightBasedRandom fell back in: every cluster gets some, the 7-weight one most. (c2 > c1 would fail
    # by chance about once in 40 runs at 100 draws, so it is not asserted.)
    assert sum(routed.values()) == 100 and min(routed.values()) > 0
    assert routed["c3"] > routed["c2"] and routed["c3"] > routed["c1"]
    assert "router WeightBasedRouter failed" in caplog.text and "using fallback" in caplog.text
    assert "leaving out cluster c1: no metric nope" in caplog.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_local_and_kubernetes_clusters_mix(kube_env: KubeEnvFactory) -> None:
    local = {
        "name": "laptop",
        "id": "laptop",
        "type": "local",
        "namespaces": [{"name": "default", "id": "dflt"}],
    }
    env = await kube_env([("kube", "kube", 1.0)])
    gw = await env.gateway(clusters=[*env.settings.model_dump(mode="json")["clusters"], local])
    on_kube = await gw.client.post(
        "/api/livy/batches",
        json={"file": "local:///opt/pi.py"},
        headers={"X-Spark-Gateway-Livy-Namespace": "team"},
    )
    assert on_kube.status_code == 201 and on_kube.json()["appInfo"]["Cluster"] == "kube"
    assert gw.runtime.backend("laptop").kind == "local" and gw.runtime.backend("kube").kind == "kubernetes"
    routed = await submit(gw, 30, spark_app())  # examples/pi.py: a path both kinds accept
    assert set(routed) == {"kube", "laptop"}  # "default" is offered by both kinds


async def test_float_weights_are_not_truncated() -> None:
    def cluster(name: str, weight: float) -> ClusterConfig:
        ns = [NamespaceConfig(name="default", id="d")]
        return ClusterConfig(name=name, id=name, type="kubernetes", routingWeight=weight, namespaces=ns)

    router = WeightBasedRandomRouter("cluster", random.Random(7))
    candidates = [cluster("a", 0.5), cluster("b", 1.5)]

    counts = Counter([(await router.choose(candidates, "default")).name for _ in range(20_000)])
    assert abs(counts["a"] / 20_000 - 0.25) < 0.02  # the reference's int(0.5) = 0 would never pick a


def test_gauge_value_reads_the_reference_metric_shape() -> None:
    text = (
        "# TYPE spark_application_count gauge\n"
        'spark_application_count{cluster="c1",namespace=""} 7\n'
        'spark_application_count{cluster="c1",namespace="team"} 2\n'
        'spark_application_count{cluster="c1",namespace="team",extra="x"} 2\n'
        "# TYPE requests counter\n"
        "requests_total 3\n"
    )
    assert gauge_value(text, "spark_application_count", {"cluster": "c1", "namespace": ""}) == 7
    with pytest.raises(ValueError, match="2 series"):
        gauge_value(text, "spark_application_count", {"cluster": "c1", "namespace": "team"})
    with pytest.raises(ValueError, match="not a gauge"):
        gauge_value(text, "requests", {})
    with pytest.raises(ValueError, match="no metric"):
        gauge_value(text, "cpu_allocated", {"cluster": "c1", "namespace": ""})


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_manager_that_died_within_the_health_cache_gets_its_submissions_rerouted(
    kube_env: KubeEnvFactory,
) -> None:
    """Readiness is cached for healthCacheSeconds: a manager that dies within it is still "ready" to
    routing. A submission that cannot connect to it goes to another cluster instead of a 503."""
    env = await kube_env([("c1", "c1", 1.0), ("c2", "c2", 1.0)], clusterRouter={"healthCacheSeconds": 600})
    gw = await env.gateway()
    assert set(await submit(gw, 10)) == {"c1", "c2"}  # both ready, and cached so for ten minutes
    dead = env.cluster("c2")
    assert dead.manager is not None
    await asyncio.to_thread(dead.manager.stop)
    livy = {"file": "local:///opt/spark/examples/src/main/python/pi.py"}
    ids = []
    for _ in range(10):
        response = await gw.client.post("/api/livy/batches", json=livy)
        assert response.status_code == 201, response.text
        assert response.json()["appInfo"]["Cluster"] == "c1"
        ids.append(response.json()["id"])
    assert (await submit(gw, 10)) == {"c1": 10}
    assert len(set(ids)) == 10
    listed = (await gw.client.get("/api/livy/batches", params={"size": 100})).json()
    assert sorted(s["id"] for s in listed["sessions"]) == sorted(ids)  # withdrawn attempts are not shown
