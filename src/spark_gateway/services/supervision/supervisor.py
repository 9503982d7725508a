"""Supervision of clusters the gateway runs itself (local): admission, tracking, reconciliation.

One `ClusterSupervisor` per such cluster. It re-attaches to applications an earlier process launched,
admits queued applications in submission order while fewer than `maxConcurrentJobs` run, kills
applications deleted while they were being launched, and polls the backend for status changes and
driver log lines. Exactly one process per cluster may do this at a time (see `services.supervision.lease`).
"""

from __future__ import annotations

import asyncio
import logging

from spark_gateway.backends.base import StatusUpdate, SupervisedBackend, TrackedApplication
from spark_gateway.db import repository as repo
from spark_gateway.domain.errors import GatewayError
from spark_gateway.domain.states import AppState
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.session_launch import prepare_launch
from spark_gateway.services.stored import tracked_application
from spark_gateway.services.supervision.loops import Periodic
from spark_gateway.settings import ClusterConfig

log = logging.getLogger(__name__)


class ClusterSupervisor:
    """Two loops over one cluster: admission (woken early when work is queued) and backend polling."""

    def __init__(self, gateway: GatewayRuntime, cluster: ClusterConfig) -> None:
        self.gateway = gateway
        self.cluster = cluster
        self.backend: SupervisedBackend = gateway.supervised_backend(cluster.id)
        self.max_jobs = cluster.local.maxConcurrentJobs
        self.admission = Periodic(
            f"admission:{cluster.id}", max(cluster.local.pollIntervalSeconds, 0.2), self.admit_once
        )
        self.polling = Periodic(f"watch:{cluster.id}", cluster.local.pollIntervalSeconds, self.poll_once)
        # A poll between a launch and its record would store log lines and their offset, which the
        # launch record (offset 0) then overwrites: a successor would store those lines again.
        self._launching = asyncio.Lock()

    async def reconcile(self) -> int:
        """Re-attach to (or settle) every application an earlier process left non-terminal."""
        async with self.gateway.db.transaction() as session:
            rows = await repo.active_applications(session, self.cluster.id)
            tracked = [tracked_application(r) for r in rows]
        for app in tracked:
            try:
                await self.backend.reattach(app, self.gateway.sink)
            except Exception:
                log.exception("re-attaching %s failed", app.gateway_id)
                await self.gateway.sink.update(
                    StatusUpdate(app.gateway_id, AppState.FAILED, error_message="could not re-attach")
                )
        return len(tracked)

    async def admit_once(self) -> int:
        """Launch queued applications while capacity allows; returns how many were launched."""
        free = self.max_jobs - await self.backend.running_count()
        if free <= 0:
            return 0
        async with self.gateway.db.transaction() as session:
            rows = await repo.queued_applications(session, self.cluster.id, free)
            queued = [tracked_application(r) for r in rows]
        launched = 0
        for app in queued:
            async with self._launching:
                launched += await self._launch(app)
        return launched

    async def _launch(self, app: TrackedApplication) -> int:
        # A holder paused past its lease must not launch: the fence is checked right before the
        # launch and again in the transaction recording it (the sink raises LeaseLost when stale).
        # A launch whose record is refused is adopted by the successor (same job directory).
        await self.gateway.sink.check()
        try:
            result = await self.backend.submit(await prepare_launch(self.gateway, app.app))
        except GatewayError as exc:
            await self.gateway.sink.update(
                StatusUpdate(app.gateway_id, AppState.FAILED, error_message=f"submission failed: {exc}")
            )
            await self.gateway.sink.append_logs(app.gateway_id, [f"spark-gateway: submission failed: {exc}"])
            return 0
        update = result.update
        update.backend_ref = result.backend_ref
        if not await self.gateway.sink.record_launch(update):
            # Deleted while it was being launched: do not leave it running.
            app.backend_ref = result.backend_ref
            await self.backend.kill(app)
            return 0
        return 1

    async def poll_once(self) -> None:
        async with self._launching:
            await self.backend.poll(self.gateway.sink)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Reconcile, then admit and poll until cancelled or `stop` is set."""
        stop = stop or asyncio.Event()
        await self.reconcile()
        self.polling.start(stop)
        try:
            await self.admission.run(stop, wake=self.gateway.wakeup_event(self.cluster.id))
        finally:
            await self.polling.stop()

    async def run_once(self) -> None:
        """One round of everything, for tests."""
        await self.admit_once()
        await self.poll_once()
