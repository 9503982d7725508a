"""Kubernetes clusters for tests: fake API servers, real SparkManagers over real HTTP, and a gateway.

Each cluster is a `FakeKubernetes` (tests/fakes: real HTTP, CRD-validated, simulated operator) and a real
SparkManager app (`create_manager_app`) served by uvicorn on a free port in a thread of its own, with its
own event loop and database engine, as a separate process would be. The managers reach their clusters
through one kubeconfig per fake (context = cluster name, `KUBECONFIG` lists them all), and the gateway
reaches the managers through `gateway.sparkManagerHostnameTemplate` and `debugPorts`, as configured in
production, with the managers' API token in a file both read (`MANAGER_TOKEN`). Nothing of ours is patched.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from spark_gateway.api.app import create_app
from spark_gateway.api.manager import create_manager_app
from spark_gateway.backends.kubernetes.manager_client import SERVER_KEEP_ALIVE_SECONDS
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.db.models import ApplicationRow
from spark_gateway.domain.ids import new_gateway_id
from spark_gateway.domain.sparkapp import SparkApplication, stamp
from spark_gateway.settings import ClusterConfig, Settings
from tests.api.conftest import Gateway
from tests.fakes.k8s_server import FakeKubernetes, sample_app

MANAGER_TOKEN = "test-manager-token-0123456789"


def bind_free_socket() -> socket.socket:
    # proto=IPPROTO_TCP, or asyncio leaves Nagle on for accepted connections (40 ms stalls per response)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServedApp:
    """An ASGI app served by uvicorn (lifespan on) in a background thread; `stop()` is graceful."""

    def __init__(self, app: ASGIApp, sock: socket.socket | None = None) -> None:
        self.sock = sock or bind_free_socket()
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_config=None,
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=SERVER_KEEP_ALIVE_SECONDS,  # as `spark-gateway manager` serves
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"served-app-{self.port}", daemon=True)
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # lifespan failures end in SystemExit
            self.error = exc

    def start(self, timeout: float = 20.0) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"app on port {self.port} did not start: {self.error!r}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()

    async def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
            while True:
                try:
                    if (await client.get("/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"SparkManager at {self.url} never became ready")
                await asyncio.sleep(0.02)


@dataclass
class KubeCluster:
    name: str
    id: str
    weight: float
    fake: FakeKubernetes
    sock: socket.socket
    manager: ServedApp | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "type": "kubernetes",
            "routingWeight": self.weight,
            "namespaces": [{"name": "default", "id": "dflt"}, {"name": "team", "id": "team"}],
        }


@dataclass
class KubeEnv:
    """Clusters, their managers, and gateways built on the same settings."""

    settings: Settings
    clusters: list[KubeCluster]
    gateways: list[tuple[Any, httpx.AsyncClient]] = field(default_factory=list)

    @property
    def manager_headers(self) -> dict[str, str]:
        """What the gateway sends to the managers (for tests that call a manager directly)."""
        token = self.settings.manager_api_token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def cluster(self, name: str) -> KubeCluster:
        return next(c for c in self.clusters if c.name == name)

    def start_manager(self, cluster: KubeCluster) -> ServedApp:
        cluster.manager = ServedApp(create_manager_app(self.settings, cluster.name), cluster.sock).start()
        return cluster.manager

    async def gateway(self, **overrides: Any) -> Gateway:
        settings = Settings.load(None, **_merge(self.settings.model_dump(mode="json"), overrides))
        app = create_app(settings, background=False)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
        self.gateways.append((lifespan, client))
        return Gateway(app, client, settings)

    async def close(self) -> None:
        for lifespan, client in reversed(self.gateways):
            await client.aclose()
            await lifespan.__aexit__(None, None, None)
        for cluster in self.clusters:
            if cluster.manager is not None:
                await asyncio.to_thread(cluster.manager.stop)
            cluster.fake.stop()
        for cluster in self.clusters:
            cluster.fake.assert_no_rejections()


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and key in merged else value
    return merged


KubeEnvFactory = Callable[..., Awaitable[KubeEnv]]


@pytest.fixture
async def kube_env(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[KubeEnvFactory]:
    """`await kube_env([("c1", "c1", 1.0), ...], **settings)`: clusters with running SparkManagers."""
    envs: list[KubeEnv] = []

    async def factory(
        specs: list[tuple[str, str, float]] | None = None, *, start: bool = True, **overrides: Any
    ) -> KubeEnv:
        clusters = []
        for name, cluster_id, weight in specs or [("kube", "kube", 1.0)]:
            fake = FakeKubernetes().start()
            fake.write_kubeconfig(tmp_path / f"kubeconfig-{name}", context=name)
            clusters.append(KubeCluster(name, cluster_id, weight, fake, bind_free_socket()))
        paths = [str(tmp_path / f"kubeconfig-{c.name}") for c in clusters]
        token_file = tmp_path / "manager-token"
        token_file.write_text(MANAGER_TOKEN + "\n")
        monkeypatch.setenv("KUBECONFIG", os.pathsep.join(paths))
        base: dict[str, Any] = {
            "dataDir": str(tmp_path / "data"),
            "database": {"url": db_url},
            "clusters": [c.config() for c in clusters],
            "debugPorts": {c.name: {"sparkManagerPort": c.port, "metricsPort": c.port} for c in clusters},
            "gateway": {"sparkManagerHostnameTemplate": "127.0.0.1"},
            "sparkManager": {
                "logCaptureSeconds": 0.1,
                "shutdownSeconds": 1,
                "watchResyncSeconds": 60,
                "apiTokenFile": str(token_file),
            },
            "clusterRouter": {"healthCacheSeconds": 0.2},
        }
        env = KubeEnv(Settings.load(None, **_merge(base, overrides)), clusters)
        envs.append(env)
        if start:
            for cluster in clusters:
                env.start_manager(cluster)
            for cluster in clusters:
                assert cluster.manager is not None
                await cluster.manager.wait_ready()
        return env

    yield factory
    for env in reversed(envs):
        await env.close()


# Applications as the gateway stores and submits them (for tests below the gateway) -----------------


async def insert_application(
    db: Database, settings: Settings, cluster: ClusterConfig, namespace: str = "default", **spec: Any
) -> tuple[str, dict[str, Any]]:
    """Store a row as `services.applications` does; returns the gateway id and the object to create."""
    ns = cluster.namespace_by_name(namespace)
    assert ns is not None
    gateway_id = new_gateway_id(cluster.id, ns.id)
    app = SparkApplication.model_validate(sample_app("my-app", namespace, **spec))
    body = stamp(
        app,
        gateway_id=gateway_id,
        cluster_name=cluster.name,
        user="alice",
        proxy_user="alice",
        selector=settings.selector(),
    ).to_k8s()
    now = repo.utcnow()
    async with db.transaction() as session:
        await repo.insert_application(
            session,
            ApplicationRow(
                gateway_id=gateway_id,
                cluster_id=cluster.id,
                cluster_name=cluster.name,
                namespace=namespace,
                owner="alice",
                proxy_user="alice",
                name="my-app",
                source="v1",
                spec=body,
                status={"applicationState": {"state": ""}, "driverInfo": {}},
                state="",
                backend_ref={},
                created_at=now,
                updated_at=now,
            ),
        )
    return gateway_id, body


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "") -> Any:
    """Poll `check` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)
