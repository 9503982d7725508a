"""Starting and stopping the gateway's background work: one supervisor per self-run cluster."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from spark_gateway.services.runtime import GatewayRuntime
from spark_gateway.services.supervisor import ClusterSupervisor
from spark_gateway.services.tasks import cancel_all, spawn

log = logging.getLogger(__name__)


class BackgroundWork:
    def __init__(self, rt: GatewayRuntime) -> None:
        self.rt = rt
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []

    def supervisors(self) -> list[ClusterSupervisor]:
        return [
            ClusterSupervisor(self.rt, cluster)
            for cluster in self.rt.settings.clusters
            if self.rt.backend(cluster.id).needs_supervisor
        ]

    async def start(self) -> None:
        for supervisor in self.supervisors():
            self.tasks.append(
                spawn(supervisor.run(self.stop_event), name=f"supervisor:{supervisor.cluster.id}")
            )

    async def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for cluster_id in list(self.rt.wakeups):
            self.rt.wake(cluster_id)
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=timeout)
            await cancel_all(list(pending))
        self.tasks.clear()
