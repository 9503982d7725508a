"""Recording what the SparkManager observes in a cluster in the database, through the state machine.

Why a module of its own: the watch cannot promise to show every intermediate state (after a 410 it
relists and sees only the current one; while the database is slow, updates of one application are
coalesced), yet the state machine (`services.transitions`) only accepts allowed transitions.
`StatusRecorder` walks the shortest allowed chain in one transaction, so the row moves exactly as the
operator's state machine permits and ends with the operator's own status (fields the operator cleared
stay cleared). A terminal row never moves again here: the gateway may have recorded "killed by user"
already. A batch of changes is decided here, change by change, with `plan_update` (the decision
`apply_update` makes), and written by `db.status_writes` in a few statements for the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast

from spark_gateway.backends.base import StatusUpdate
from spark_gateway.db import repository as repo
from spark_gateway.db import status_writes
from spark_gateway.db.engine import Database
from spark_gateway.domain.states import ALLOWED_TRANSITIONS, AppState
from spark_gateway.domain.status import SparkApplicationStatus, status_of
from spark_gateway.services.transitions import RUNNING_TIME_KEY, Stored, apply_update, plan_update

log = logging.getLogger(__name__)

DELETED_MESSAGE = "the SparkApplication was deleted from the cluster"
LOG_PREFIX = "spark-gateway: "
KILLED_MESSAGE = "killed by user"  # what the gateway records for a DELETE (services.applications)


def transition_path(current: AppState, target: AppState) -> list[AppState]:
    """The shortest chain of allowed transitions from `current` to `target` (`[target]` if direct)."""
    if current == target or target in ALLOWED_TRANSITIONS[current]:
        return [target]
    previous: dict[AppState, AppState] = {}
    queue = deque([current])
    while queue:
        state = queue.popleft()
        for nxt in sorted(ALLOWED_TRANSITIONS[state], key=lambda s: s.value):
            if nxt in previous or nxt == current:
                continue
            previous[nxt] = state
            if nxt == target:
                path = [target]
                while previous[path[-1]] != current:
                    path.append(previous[path[-1]])
                return path[::-1]
            queue.append(nxt)
    return [target]  # unreachable in the operator's state machine: plan_update will refuse it


@dataclass
class _Batch:
    """What a batch of status changes writes: each row's columns once, and the applications that ended."""

    writes: dict[str, dict[str, Any]] = field(default_factory=dict)
    ended: list[tuple[str, str]] = field(default_factory=list)


class StatusRecorder:
    """Writes one cluster's observed statuses into the shared database."""

    def __init__(self, db: Database, cluster_id: str, *, keep: int) -> None:
        self.db = db
        self.cluster_id = cluster_id
        self.keep = keep  # retention.logLines
        self.writes = 0
        self._one_batch = asyncio.Lock()

    async def observed(self, gateway_id: str, obj: dict[str, Any]) -> bool:
        """Record the SparkApplication's status; False if nothing was written (refused or stored already)."""
        return (await self.observed_many([(gateway_id, obj)]))[0]

    async def observed_many(self, observed: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        """Record several applications' statuses in one transaction (one commit, not one each: what
        lets a manager keep up with hundreds of changes a second); for each, whether it was taken.

        The rows are read and rewritten as plain columns (`db.status_writes`): one locking read, one
        UPDATE for the batch, the outbox events of those that ended."""
        ids = sorted({gateway_id for gateway_id, _ in observed})  # rows locked in one order: no deadlock
        # One batch at a time: the count triggers lock a row per (cluster, state), which concurrent
        # batches would take in different orders; the batches grow instead.
        async with self._one_batch, self.db.transaction() as session:
            rows = {row.gateway_id: row for row in await status_writes.lock_statuses(session, ids)}
            stored = {gid: Stored.of(row) for gid, row in rows.items() if row.cluster_id == self.cluster_id}
            batch = _Batch()
            taken = [self._record(batch, stored.get(gid), gid, obj) for gid, obj in observed]
            await status_writes.write_statuses(session, list(batch.writes.values()))
            await status_writes.record_final_events(session, batch.ended, repo.utcnow())
        self.writes += sum(taken)
        return taken

    def _record(self, batch: _Batch, row: Stored | None, gateway_id: str, obj: dict[str, Any]) -> bool:
        """Decide what recording `obj`'s status changes of `row` (None: not this cluster's) and add it
        to `batch`; False if nothing is to be written (refused, or stored already)."""
        status = cast(
            SparkApplicationStatus,
            {k: v for k, v in status_of(obj).items() if k != "executorState"},
        )
        reported = status.get("applicationState") or {}
        state = AppState.parse(reported.get("state"))
        error = reported.get("errorMessage") or None
        status["applicationState"] = {"state": state.value}
        if error:
            status["applicationState"]["errorMessage"] = error
        status["driverInfo"] = status.get("driverInfo") or {}
        spark_app_id = status.get("sparkApplicationId") or None
        update = StatusUpdate(gateway_id, state, error, spark_app_id=spark_app_id, status=status)
        if row is None:
            return False
        current = AppState.parse(row.state)
        if current.is_terminal and state != current:
            log.info("%s is %s in the database; ignoring %s", gateway_id, current.value, state.value)
            return False
        operators = {k: v for k, v in row.status.items() if k != RUNNING_TIME_KEY}
        if current == state and operators == status and row.error_message == error:
            return False  # stored already (a restarted manager relisting): no write
        # A copy: `row` changes only once the whole walk is allowed.
        walked, ended = Stored(**vars(row)), []
        for step in [*(StatusUpdate(gateway_id, s) for s in transition_path(current, state)[:-1]), update]:
            if (planned := plan_update(walked, step)) is None:
                if step is update:
                    return False
                continue
            walked.apply(planned.changes)
            if planned.finished:  # the webhook outbox learns of every end exactly once, in this transaction
                ended.append((gateway_id, step.state.value))
        batch.ended += ended
        # The operator's status exactly, plus the gateway's own note of when the driver first ran
        # (the operator keeps no such time; the console's timeline shows it).
        first_ran = walked.status.get(RUNNING_TIME_KEY)
        walked.status = {**status, RUNNING_TIME_KEY: first_ran} if first_ran else dict(status)
        row.apply(vars(walked))  # a later change of the same application in this batch starts here
        batch.writes[gateway_id] = {**vars(walked), "updated_at": repo.utcnow()}
        return True

    async def gone(self, gateway_id: str, message: str = DELETED_MESSAGE) -> str | None:
        """The object was deleted from the cluster: settle a row that had not finished.

        Returns the message recorded (also as a line of the stored log), if any. Rows that had
        finished already are left alone, and so are rows the gateway has marked deleted (it records
        the kill itself).
        """
        async with self.db.transaction() as session:
            row = await repo.get_application(session, gateway_id, include_deleted=True, for_update=True)
            if row is None or row.cluster_id != self.cluster_id or row.deleted_at is not None:
                return None
            current = AppState.parse(row.state)
            if current.is_terminal:
                return None
            # A driver that had finished successfully (SUCCEEDING) did complete.
            target = AppState.COMPLETED if current == AppState.SUCCEEDING else AppState.FAILED
            recorded = None if target == AppState.COMPLETED else message
            for step in transition_path(current, target)[:-1]:
                await apply_update(session, row, StatusUpdate(gateway_id, step))
            await apply_update(session, row, StatusUpdate(gateway_id, target, error_message=recorded))
            if recorded:
                await repo.append_log_lines(session, gateway_id, [LOG_PREFIX + recorded], keep=self.keep)
        self.writes += 1
        return recorded
