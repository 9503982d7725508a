"""Starting and stopping the gateway's background work: per self-run cluster, lease-guarded supervision.

Why this exists: several gateway processes may serve one database, but a cluster the gateway runs
itself (local) must be supervised by exactly one of them. Each process runs one `LeaseGuard` per such
cluster; whichever holds the lease `supervisor:<clusterId>` runs that cluster's `ClusterSupervisor`
(reconcile on acquiring: re-attach running jobs, settle the rest; then admit queued work and watch).
Its status writes go through a `FencedSink`, so they only land while its term is current. A term after
the first in this process starts from a fresh backend instance: what the previous term knew about jobs
(log offsets, reported states) may have been overtaken by another holder, the database has not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from functools import partial
from typing import Any

from spark_gateway.backends.base import SupervisedBackend
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.services.gateway import GatewayRuntime, build_backend
from spark_gateway.services.retention import retention_guard
from spark_gateway.services.session_reaper import SessionReaper
from spark_gateway.services.supervision.lease import (
    LeaseGuard,
    LeaseLost,
    LeaseTerm,
    configured_guard,
    new_holder_id,
)
from spark_gateway.services.supervision.supervisor import ClusterSupervisor
from spark_gateway.services.supervision.tasks import cancel_all, spawn
from spark_gateway.services.transitions import DatabaseSink
from spark_gateway.services.webhooks.sender import webhook_guard
from spark_gateway.settings import ClusterConfig

log = logging.getLogger(__name__)

FENCE_IDLE_TIMEOUT = 2.0  # a fenced write frozen mid-transaction blocks a takeover at most this long


class FencedSink(DatabaseSink):
    """The supervisor's `StatusSink` for one term: every write first checks, in its own transaction and
    under a share lock, that the term still holds the lease, else it is refused (`LeaseLost`)."""

    def __init__(self, db: Database, term: LeaseTerm, *, keep: int) -> None:
        super().__init__(db, log_retention_lines=keep)
        self.term = term
        self.refused = 0

    async def _fence(self, session: Any) -> None:
        term = self.term
        await repo.limit_idle_transaction(session, FENCE_IDLE_TIMEOUT)
        if not await repo.lease_is_held(session, term.name, term.holder, term.token, lock=True):
            self.refused += 1
            log.error(
                "fenced write refused: lease %s is no longer held by %s (token %d)",
                term.name,
                term.holder,
                term.token,
            )
            raise LeaseLost(f"lease {term.name} is no longer held by {term.holder} (token {term.token})")


def lease_name(cluster_id: str) -> str:
    return f"supervisor:{cluster_id}"


class BackgroundWork:
    """One lease guard per cluster that needs a supervisor; `start()` and `stop()` with the app."""

    def __init__(self, gateway: GatewayRuntime, *, holder: str | None = None) -> None:
        self.gateway = gateway
        self.holder = holder or new_holder_id()
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []
        self.sinks: list[FencedSink] = []  # one per term, so tests can count refused writes
        self.guards = [
            self._guard(cluster)
            for cluster in gateway.settings.clusters
            if isinstance(gateway.backend(cluster.id), SupervisedBackend)
        ]
        if gateway.settings.webhooks.enable:
            self.guards.append(webhook_guard(gateway, self.holder))
        if gateway.settings.retention.enabled:
            self.guards.append(retention_guard(gateway, self.holder))

    def _guard(self, cluster: ClusterConfig) -> LeaseGuard:
        return configured_guard(
            self.gateway.db,
            self.gateway.settings.lease,
            lease_name(cluster.id),
            partial(self._supervise, cluster),
            holder=self.holder,
            work_name=f"supervisor:{cluster.id}",
        )

    async def _supervise(self, cluster: ClusterConfig, term: LeaseTerm) -> None:
        """The work of one term: the cluster's supervisor, writing through a sink fenced by the term."""
        if term.number > 1:
            old = self.gateway.backends[cluster.id]
            self.gateway.backends[cluster.id] = build_backend(cluster, self.gateway.settings)
            await old.close()
        sink = FencedSink(self.gateway.db, term, keep=self.gateway.settings.retention.log_lines)
        self.sinks.append(sink)
        supervisor = ClusterSupervisor(dataclasses.replace(self.gateway, sink=sink), cluster)
        log.info("supervising cluster %s (lease token %d)", cluster.id, term.token)
        await supervisor.run(term.stop)

    def holding(self) -> list[str]:
        """Names of the leases this process holds now."""
        return [guard.name for guard in self.guards if guard.holding]

    async def start(self) -> None:
        for guard in self.guards:
            self.tasks.append(spawn(guard.run(self.stop_event), name=f"lease:{guard.name}"))
        self.tasks.append(spawn(SessionReaper(self.gateway).run(self.stop_event), name="session-reaper"))

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop every supervisor (local jobs keep running) and release the leases."""
        self.stop_event.set()
        for cluster_id in list(self.gateway.wakeups):
            self.gateway.wake(cluster_id)
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=timeout)
            if pending:
                log.warning("background work did not stop within %.0fs; cancelling it", timeout)
            await cancel_all(list(pending))
        self.tasks.clear()
