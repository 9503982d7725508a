"""The interfaces cluster kinds implement: `ClusterBackend` (submit, kill, logs) for every cluster, and
`SupervisedBackend` for clusters the gateway runs itself (reattach, poll, running_count).

Backends never touch the database. They report what happens on the cluster through a `StatusSink`
(provided by the services layer, the only place state transitions are applied), and raise only
`spark_gateway.domain.errors` exceptions: third-party errors are wrapped at this edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from spark_gateway.domain.sparkapp import SparkApplication
from spark_gateway.domain.states import AppState
from spark_gateway.domain.status import SparkApplicationStatus


@dataclass
class StatusUpdate:
    """What a backend observed about one application."""

    gateway_id: str
    state: AppState
    error_message: str | None = None
    spark_app_id: str | None = None
    # Extra operator-style status fields (driverInfo, submissionAttempts, ...), merged into the status.
    status: SparkApplicationStatus = field(default_factory=lambda: SparkApplicationStatus())
    # Backend bookkeeping (pid, log file, ...) to persist so another process can re-attach.
    backend_ref: dict[str, Any] | None = None
    observed_at: datetime | None = None


class StatusSink(Protocol):
    async def update(self, update: StatusUpdate) -> None:
        """Record an observed status (applied through the state machine)."""

    async def append_logs(
        self, gateway_id: str, lines: list[str], *, ref_update: dict[str, Any] | None = None
    ) -> None:
        """Record driver log lines as they are produced; `ref_update` (how far the log was read) is
        merged into the stored `backend_ref` in the same transaction, so a successor resuming from it
        neither repeats nor skips a line."""


@dataclass
class SubmitResult:
    backend_ref: dict[str, Any]
    update: StatusUpdate


@dataclass
class TrackedApplication:
    """What a backend needs to find an application again (from the database)."""

    gateway_id: str
    namespace: str
    state: AppState
    backend_ref: dict[str, Any]
    app: SparkApplication


@runtime_checkable
class ClusterBackend(Protocol):
    """One cluster. Implementations: `local.LocalBackend`, `kubernetes.SparkManagerBackend`."""

    kind: str

    def validate(self, app: SparkApplication) -> None:
        """Reject, before anything is stored, what this cluster could never run (BadRequest)."""
        ...

    async def submit(self, app: SparkApplication) -> SubmitResult:
        """Start the application; raise BadRequest/Invalid/Conflict/Unavailable on failure."""
        ...

    async def kill(self, tracked: TrackedApplication) -> None:
        """Stop the application and everything it started; idempotent."""
        ...

    async def logs(self, tracked: TrackedApplication, lines: int) -> list[str] | None:
        """The last `lines` driver log lines live from the cluster, or None if not available there."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class SupervisedBackend(ClusterBackend, Protocol):
    """A cluster the gateway runs itself (local). Exactly one process per cluster, the holder of its lease
    (`services.supervision`), submits queued work to it, re-attaches and polls it. Clusters behind a
    SparkManager are plain `ClusterBackend`s: the SparkManager does all of this."""

    async def reattach(self, tracked: TrackedApplication, sink: StatusSink) -> None:
        """Resume tracking an application started by an earlier process (or report it failed)."""
        ...

    async def poll(self, sink: StatusSink) -> None:
        """One round: report status changes and new driver log lines to `sink`."""
        ...

    async def running_count(self) -> int:
        """How many applications this backend is running now (admission control)."""
        ...
