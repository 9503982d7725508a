"""Applying what backends observe to stored applications, through the state machine.

`DatabaseSink` is the `StatusSink` every backend reports to (the local supervisor in the gateway, the
watch loop in a SparkManager). An update that the state machine forbids (say RUNNING after COMPLETED,
from a late or duplicated event) is logged and ignored, so stored history never goes backwards.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from spark_gateway.backends.base import StatusUpdate
from spark_gateway.db import repository as repo
from spark_gateway.db import webhooks as webhook_outbox
from spark_gateway.db.engine import Database
from spark_gateway.db.models import ApplicationRow
from spark_gateway.domain.dicts import deep_merge
from spark_gateway.domain.states import AppState, can_transition

log = logging.getLogger(__name__)

RUNNING_TIME_KEY = "firstRunningTime"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Stored:
    """The columns of a stored application that a transition reads and changes: taken from an ORM row
    (`of`) or from a plain row locked for a batch of status writes (the SparkManager's)."""

    gateway_id: str
    state: str
    status: dict[str, Any]
    error_message: str | None
    spark_app_id: str | None
    submitted_at: datetime | None
    terminated_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Stored:
        return cls(
            row.gateway_id,
            row.state,
            row.status or {},
            row.error_message,
            row.spark_app_id,
            row.submitted_at,
            row.terminated_at,
        )

    def apply(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)


@dataclass
class Planned:
    changes: dict[str, Any]  # column -> new value
    finished: bool  # the application has just ended: the webhook outbox must learn of it


def plan_update(stored: Stored, update: StatusUpdate) -> Planned | None:
    """What applying one observed status changes (the state machine's decision, without writing it);
    None if the transition is not allowed."""
    current = AppState.parse(stored.state)
    if not can_transition(current, update.state):
        log.warning(
            "ignoring %s -> %s for %s (not an allowed transition)",
            current.value or "New",
            update.state.value or "New",
            stored.gateway_id,
        )
        return None
    now = update.observed_at or repo.utcnow()
    app_state: dict[str, Any] = {"state": update.state.value}
    if update.error_message:
        app_state["errorMessage"] = update.error_message
    status = deep_merge(stored.status, cast(dict[str, Any], update.status))
    status["applicationState"] = app_state
    status.setdefault("driverInfo", {})
    changes: dict[str, Any] = {"state": update.state.value, "status": status}
    if update.error_message is not None or update.state != current:
        changes["error_message"] = update.error_message
    if update.spark_app_id:
        changes["spark_app_id"] = update.spark_app_id
        status["sparkApplicationId"] = update.spark_app_id
    if update.state == AppState.SUBMITTED and stored.submitted_at is None:
        changes["submitted_at"] = now
        status.setdefault("lastSubmissionAttemptTime", _iso(now))
    if update.state == AppState.RUNNING:
        status.setdefault(RUNNING_TIME_KEY, _iso(now))  # when it first ran, for the console's timeline
    finished = update.state.is_terminal and stored.terminated_at is None
    if finished:
        terminated = now
        if isinstance(update.status.get("terminationTime"), str):
            with contextlib.suppress(ValueError):
                terminated = datetime.fromisoformat(update.status["terminationTime"].replace("Z", "+00:00"))
        changes["terminated_at"] = terminated
        status.setdefault("terminationTime", _iso(terminated))
    return Planned(changes, finished)


async def apply_update(session: AsyncSession, row: ApplicationRow, update: StatusUpdate) -> bool:
    """Apply one observed status to a row; False (and no change) if the transition is not allowed."""
    planned = plan_update(Stored.of(row), update)
    if planned is None:
        return False
    changes = planned.changes
    if update.backend_ref is not None:
        changes["backend_ref"] = {**(row.backend_ref or {}), **update.backend_ref}
    await repo.save(session, row, **changes)
    if planned.finished:  # in this transaction: the webhook outbox learns of every end exactly once
        await webhook_outbox.record_final_event(session, row.gateway_id, update.state.value, repo.utcnow())
    return True


class DatabaseSink:
    """A `StatusSink` writing to the database, one short transaction per report."""

    def __init__(self, db: Database, *, log_retention_lines: int) -> None:
        self.db = db
        self.keep = log_retention_lines

    async def _fence(self, session: AsyncSession) -> None:
        """Checked at the start of every write transaction; subclasses refuse stale writers here."""

    async def update(self, update: StatusUpdate) -> None:
        async with self.db.transaction() as session:
            await self._fence(session)
            row = await repo.get_application(
                session, update.gateway_id, include_deleted=True, for_update=True
            )
            if row is None:
                log.warning("status for unknown application %s ignored", update.gateway_id)
                return
            await apply_update(session, row, update)

    async def check(self) -> None:
        """The fence alone (a stale writer is refused here), e.g. right before launching a job."""
        async with self.db.transaction() as session:
            await self._fence(session)

    async def record_launch(self, update: StatusUpdate) -> bool:
        """A launch's first status, fenced like every write; False when the application was deleted
        meanwhile (the caller then kills what it launched)."""
        async with self.db.transaction() as session:
            await self._fence(session)
            row = await repo.get_application(
                session, update.gateway_id, include_deleted=True, for_update=True
            )
            return row is not None and row.deleted_at is None and await apply_update(session, row, update)

    async def append_logs(
        self, gateway_id: str, lines: list[str], *, ref_update: dict[str, Any] | None = None
    ) -> None:
        if not lines and not ref_update:
            return
        async with self.db.transaction() as session:
            await self._fence(session)
            row = await repo.get_application(
                session, gateway_id, include_deleted=True, for_update=ref_update is not None
            )
            if row is None:
                return
            await repo.append_log_lines(session, gateway_id, lines, keep=self.keep)
            if ref_update:
                await repo.save(session, row, backend_ref={**(row.backend_ref or {}), **ref_update})
