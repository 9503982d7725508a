"""The system under fault: two gateway replicas, a local and a Kubernetes cluster, one PostgreSQL database.

Both replicas and the SparkManager read one configuration file and reach PostgreSQL through the
`PgProxy` (tests/support/pg_proxy.py), so the slow-database fault reaches all of them; the harness reads the database
directly. `full_service` is what recovery means: every replica answers, a live replica holds the local
cluster's supervisor lease, the SparkManager is ready and watching.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import asyncpg
import yaml

from tests.chaos import cluster_k8s, cluster_local
from tests.chaos.cluster_k8s import KubeCluster
from tests.e2e.processes import GatewayProcess, env_with_this_source, free_port
from tests.support.pg_proxy import PgProxy

LEASE = {"ttlSeconds": 2.0, "renewIntervalSeconds": 0.4}
RECOVERY_TIMEOUT = 120.0  # generous: the machine these run on is often loaded


async def pg_connect(url: str, patience: float = 60.0) -> asyncpg.Connection:
    """The harness's own connection (JSON decoded), retried while PostgreSQL restarts."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            break
        except (OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    await conn.set_type_codec("jsonb", encoder=str, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=str, decoder=json.loads, schema="pg_catalog")
    return conn


class System:
    """See the module docstring; `start()` and `stop()` run in a worker thread (they block)."""

    def __init__(self, root: Path, db_url: str) -> None:
        self.root, self.db_url = root, db_url
        self.proxy = PgProxy()
        self.kube = KubeCluster(root)
        config = {
            "dataDir": str(root / "data"),
            "database": {"url": self.proxy.url(db_url)},
            "lease": LEASE,
            "clusters": [cluster_local.cluster_config(root), cluster_k8s.cluster_config()],
            **self.kube.config(),
        }
        self.conf = root / "gateway.yaml"
        self.conf.write_text(yaml.safe_dump(config))
        (root / "job.py").write_text("")
        self.env: dict[str, str] = {}
        self.replicas: list[GatewayProcess] = []

    async def start(self) -> None:
        await self.proxy.start()
        await asyncio.to_thread(self.kube.start_fake)
        self.env = env_with_this_source(self.kube.env(dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")))
        self.replicas = [
            GatewayProcess(self.conf, free_port(), self.root / f"gateway-{i}.log", self.env) for i in range(2)
        ]
        await asyncio.to_thread(self.kube.start_manager, self.conf, self.env)
        for gw in self.replicas:
            await asyncio.to_thread(gw.start)

    async def stop(self) -> None:
        for gw in self.replicas:
            await asyncio.to_thread(gw.stop, signal.SIGTERM, 15)
        await asyncio.to_thread(self.kube.stop)
        await self.proxy.cut()

    def alive(self) -> list[GatewayProcess]:
        return [gw for gw in self.replicas if gw.proc is not None and gw.proc.poll() is None]

    async def holder(self) -> GatewayProcess | None:
        """The live replica holding the local cluster's supervisor lease, if any."""
        conn = await pg_connect(self.db_url)
        try:
            row = await conn.fetchrow(
                "SELECT holder FROM leases WHERE name = 'supervisor:local' AND expires_at > now()"
            )
        finally:
            await conn.close()
        if row is None:
            return None
        pid = int(row["holder"].split(":")[-2])
        return next((gw for gw in self.alive() if gw.proc is not None and gw.proc.pid == pid), None)

    async def restart_dead(self) -> None:
        """Start what is not running; one that does not get ready is left for the next call."""
        starts = [gw.start for gw in self.replicas if gw.proc is not None and gw.proc.poll() is not None]
        for start in [*starts, self.kube.restart_manager]:
            try:
                await asyncio.to_thread(start, RECOVERY_TIMEOUT)
            except RuntimeError as exc:
                print(f"chaos: restart failed: {str(exc)[:300]}", flush=True)

    async def full_service(
        self, started: float, *, since_request: int = 0, relisted: bool = False
    ) -> float | None:
        """Seconds from `started` until full service (see the module docstring); None if not so soon.

        `since_request`/`relisted`: the manager's watch must also be one opened after that many requests
        to the fake API server (after a listing, if `relisted`)."""
        await self.restart_dead()
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while time.monotonic() < deadline:
            if (
                len(self.alive()) == len(self.replicas)
                and self.kube.manager_alive()
                and self.kube.watching_since(since_request, relisted=relisted)
                and await self.holder() is not None
            ):
                return time.monotonic() - started
            await asyncio.sleep(0.05)
        return None
