"""The harness's Kubernetes cluster: the fake API server, its operator, and a real SparkManager process.

The fake API server (tests/fakes) runs in the harness's process on its own thread; its simulated
spark-operator advances every SparkApplication to a terminal state, holding each in RUNNING for the
seconds its first argument names and ending it as its second argument says (`success` or `fail`), so the
harness knows what the cluster really did. The SparkManager (`spark-gateway manager`) is a separate
process reaching it through a kubeconfig, as in production; faults kill it with SIGKILL, drop its watch,
or answer its next watch with `410 Gone`. `check` holds the Kubernetes invariants.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from tests.e2e.processes import ManagerProcess, env_with_this_source, free_port
from tests.fakes.k8s_server import FakeKubernetes
from tests.fakes.k8s_store import Key
from tests.fakes.spark_operator import FakeSparkOperator

NAME, NAMESPACE = "kube", "spark"
TOKEN = "chaos-manager-token-0123456789"
TICK = 0.1  # the operator's reconcile interval


class TimedOperator(FakeSparkOperator):
    """The fake operator, with each driver running for `arguments[0]` seconds and ending as `arguments[1]`."""

    def __init__(self, server: FakeKubernetes) -> None:
        super().__init__(server)
        self.started: dict[Key, float] = {}

    def _outcome(self, key: Key, app: dict[str, Any], attempt: int) -> str:
        args = app["spec"].get("arguments") or []
        return "fail" if args[1:2] == ["fail"] else "success"

    def _start_driver(
        self, key: Key, app: dict[str, Any], status: dict[str, Any], pod: dict[str, Any]
    ) -> bool:
        self.started[key] = time.monotonic()
        return super()._start_driver(key, app, status, pod)

    def _finish_driver(
        self, key: Key, app: dict[str, Any], status: dict[str, Any], pod: dict[str, Any]
    ) -> bool:
        args = app["spec"].get("arguments") or ["0"]
        if time.monotonic() - self.started.get(key, 0.0) < float(args[0]):
            return False
        return super()._finish_driver(key, app, status, pod)


def cluster_config() -> dict[str, Any]:
    return {
        "name": NAME,
        "id": NAME,
        "type": "kubernetes",
        "namespaces": [{"name": NAMESPACE, "id": NAMESPACE}],
    }


class KubeCluster:
    """The fake API server with its operator, and the SparkManager process serving it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fake = FakeKubernetes()
        self.fake.operator = TimedOperator(self.fake)
        self.ports = {"sparkManagerPort": free_port(), "metricsPort": free_port()}
        self.manager: ManagerProcess | None = None

    def config(self) -> dict[str, Any]:
        """Settings the gateways and the manager share (merged into the one configuration file)."""
        return {
            "debugPorts": {NAME: self.ports},
            "gateway": {"sparkManagerHostnameTemplate": "127.0.0.1"},
            "clusterRouter": {"healthCacheSeconds": 0.2},
            "sparkManager": {"logCaptureSeconds": 0.2, "watchTimeoutSeconds": 30},
        }

    def env(self, base: dict[str, str]) -> dict[str, str]:
        kubeconfig = self.fake.write_kubeconfig(self.root / "kubeconfig", context=NAME)
        return dict(base, KUBECONFIG=str(kubeconfig), SPARK_MANAGER_API_TOKEN=TOKEN)

    def start_fake(self) -> None:
        self.fake.start()
        self.fake.call_sync(self.fake.operator._start_ticker, TICK)

    def start_manager(self, conf: Path, env: dict[str, str]) -> None:
        log = self.root / "manager.log"
        self.manager = ManagerProcess(
            conf, NAME, self.ports["sparkManagerPort"], log, env_with_this_source(env)
        )
        self.manager.start()

    def stop(self) -> None:
        if self.manager is not None:
            self.manager.stop(signal.SIGTERM, timeout=15)
        self.fake.stop()

    # Faults and recovery ---------------------------------------------------------------------------

    def manager_alive(self) -> bool:
        return self.manager is not None and self.manager.proc is not None and self.manager.proc.poll() is None

    def kill_manager(self) -> None:
        assert self.manager is not None and self.manager.proc is not None
        os.kill(self.manager.proc.pid, signal.SIGKILL)
        self.manager.proc.wait(10)

    def restart_manager(self, timeout: float = 60.0) -> None:
        if self.manager is not None and not self.manager_alive():
            self.manager.start(timeout)

    def requests_seen(self) -> int:
        return len(self.fake.requests)

    def watching_since(self, index: int, *, relisted: bool) -> bool:
        """The manager watches again, with requests made after `index` (and listed again, if `relisted`)."""
        later = self.fake.requests[index:]
        watched = any(r.query.get("watch") in ("true", "1") for r in later) and len(self.fake.watchers) > 0
        listed = any(
            r.method == "GET" and r.path.endswith("/sparkapplications") and "watch" not in r.query
            for r in later
        )
        return watched and (listed or not relisted)

    async def drop_watch(self, *, gone: bool, abrupt: bool) -> None:
        """Break the open watches; with `gone`, the history is compacted first so resuming gets 410."""

        def fault() -> None:
            if gone:
                self.fake.next_rv()  # later than anything the manager has seen, so its resume is too old
                self.fake.compact_history()
            self.fake.break_watches(abrupt)

        await self.fake.call(fault)

    # Invariants ------------------------------------------------------------------------------------

    async def apps(self) -> dict[str, dict[str, Any]]:
        return {app["metadata"]["name"]: app for app in await self.fake.all_apps()}

    async def logs(self, pod_namespace: str, pod: str) -> list[str]:
        return list(await self.fake.call(lambda: list(self.fake.logs.get((pod_namespace, pod), []))))
