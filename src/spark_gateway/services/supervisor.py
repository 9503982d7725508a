"""Supervision of clusters the gateway runs itself (local): admission, tracking, reconciliation.

One `ClusterSupervisor` per such cluster. It re-attaches to applications an earlier process launched,
admits queued applications in submission order while fewer than `maxConcurrentJobs` run, kills
applications deleted while they were being launched, and runs the backend's watch loop. Exactly one
process per cluster may do this at a time (see `services.leadership`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from spark_gateway.backends.base import ClusterBackend, StatusUpdate, TrackedApplication
from spark_gateway.db import repository as repo
from spark_gateway.db.models import ApplicationRow
from spark_gateway.domain.errors import GatewayError
from spark_gateway.domain.sparkapp import SparkApplication
from spark_gateway.domain.states import AppState
from spark_gateway.services.runtime import GatewayRuntime
from spark_gateway.services.session_launch import prepare_launch
from spark_gateway.services.tasks import spawn
from spark_gateway.services.tracking import apply_update
from spark_gateway.settings import ClusterConfig

log = logging.getLogger(__name__)


def tracked_from_row(row: ApplicationRow) -> TrackedApplication:
    return TrackedApplication(
        gateway_id=row.gateway_id,
        namespace=row.namespace,
        state=AppState.parse(row.state),
        backend_ref=dict(row.backend_ref or {}),
        app=SparkApplication.model_validate(row.spec),
    )


class ClusterSupervisor:
    def __init__(self, rt: GatewayRuntime, cluster: ClusterConfig) -> None:
        self.rt = rt
        self.cluster = cluster
        self.backend: ClusterBackend = rt.backend(cluster.id)
        self.max_jobs = cluster.local.maxConcurrentJobs
        self.poll_interval = max(cluster.local.pollIntervalSeconds, 0.2)

    async def reconcile(self) -> int:
        """Re-attach to (or settle) every application an earlier process left non-terminal."""
        async with self.rt.db.transaction() as session:
            rows = await repo.active_applications(session, self.cluster.id)
            tracked = [tracked_from_row(r) for r in rows]
        for app in tracked:
            try:
                await self.backend.reattach(app, self.rt.sink)
            except Exception:
                log.exception("re-attaching %s failed", app.gateway_id)
                await self.rt.sink.update(
                    StatusUpdate(app.gateway_id, AppState.FAILED, error_message="could not re-attach")
                )
        return len(tracked)

    async def admit_once(self) -> int:
        """Launch queued applications while capacity allows; returns how many were launched."""
        free = self.max_jobs - await self.backend.running_count()
        if free <= 0:
            return 0
        async with self.rt.db.transaction() as session:
            rows = await repo.queued_applications(session, self.cluster.id, free)
            queued = [tracked_from_row(r) for r in rows]
        launched = 0
        for app in queued:
            launched += await self._launch(app)
        return launched

    async def _launch(self, app: TrackedApplication) -> int:
        try:
            result = await self.backend.submit(await prepare_launch(self.rt, app.app))
        except GatewayError as exc:
            await self.rt.sink.update(
                StatusUpdate(app.gateway_id, AppState.FAILED, error_message=f"submission failed: {exc}")
            )
            await self.rt.sink.append_logs(app.gateway_id, [f"spark-gateway: submission failed: {exc}"])
            return 0
        update = result.update
        update.backend_ref = result.backend_ref
        async with self.rt.db.transaction() as session:
            row = await repo.get_application(session, app.gateway_id, include_deleted=True, for_update=True)
            applied = row is not None and row.deleted_at is None and await apply_update(session, row, update)
        if not applied:
            # Deleted while it was being launched: do not leave it running.
            app.backend_ref = result.backend_ref
            await self.backend.kill(app)
            return 0
        return 1

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Reconcile, then admit and watch until cancelled or `stop` is set."""
        stop = stop or asyncio.Event()
        await self.reconcile()
        watcher = spawn(self.backend.watch(self.rt.sink), name=f"watch:{self.cluster.id}")
        wake = self.rt.wakeup_event(self.cluster.id)
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    await self.admit_once()
                except Exception:
                    log.exception("admission round for cluster %s failed", self.cluster.id)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=self.poll_interval)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    async def run_once(self) -> None:
        """One round of everything, for tests."""
        await self.admit_once()
        await self.backend.watch(self.rt.sink, once=True)
