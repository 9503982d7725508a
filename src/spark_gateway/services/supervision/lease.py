"""Leases: work that must run in exactly one gateway process at a time, chosen through the database.

Why this exists: any number of gateway replicas serve one API against one PostgreSQL, but supervising
a self-run cluster (admission queue, local job tracking, reconciliation) must happen in exactly one of
them. A `LeaseGuard` contends for a named lease row (`supervisor:<clusterId>`) and runs its work only
while it holds it; a survivor takes over about `ttlSeconds` after the holder dies, and within a second
after it shuts down gracefully.

The algorithm (statements in `db.repository`, each a single conditional INSERT/UPDATE judged by the
database clock):
* acquire: insert the row, or update it when it has expired or is already ours. Every acquisition
  increments the fencing token, so one uninterrupted holding (a term) is identified by (holder, token).
* renew every `renewIntervalSeconds`: expiry = now() + ttl, only if (holder, token) match and the
  lease has not expired.
* The holder trusts its lease only until `t0 + ttl - margin` on its own monotonic clock, t0 taken
  *before* the acquire/renew statement was sent. The database set expiry to its now() + ttl with
  now() >= t0, so the holder has stopped its work `margin` seconds before anyone can take over, even
  when renewals hang or fail (a database outage) and no answer ever comes.
* release on graceful shutdown: expiry = now(), so a contender's next attempt succeeds.
* Writes made during a term can be fenced (`services.supervision.background.FencedSink`): (holder, token,
  unexpired) is checked under a share lock in the same transaction, so a stale holder's write is
  refused, never applied, and a successor's takeover waits for fenced writes in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from spark_gateway.db import repository as repo
from spark_gateway.db.availability import LogThrottle, describe, is_unavailable
from spark_gateway.db.engine import Database
from spark_gateway.domain.backoff import Backoff
from spark_gateway.domain.errors import ConfigError
from spark_gateway.services.supervision.loops import LoopService
from spark_gateway.services.supervision.tasks import spawn
from spark_gateway.settings import LeaseConfig

log = logging.getLogger(__name__)

MARGIN_FRACTION = 0.2  # the holder stops at ttl - 20%: time to cancel its work before expiry
WORK_STOP_TIMEOUT = 5.0  # graceful stop: how long the work may take to wind down before cancellation


def new_holder_id() -> str:
    """Unique per process start: host, pid, and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class LeaseTerm:
    """One uninterrupted holding of a lease; `stop` is set when the work must end."""

    name: str
    holder: str
    token: int
    number: int  # 1 for the guard's first term in this process, 2 for the next, ...
    stop: asyncio.Event = field(default_factory=asyncio.Event)


class LeaseLost(Exception):
    """A fenced write was refused: this process no longer holds the lease."""


Work = Callable[[LeaseTerm], Coroutine[Any, Any, None]]


class LeaseGuard(LoopService):
    """Contends for one lease and runs `work(term)` exactly while it holds it.

    `run()` (the `LoopService` rounds) until stopped, then stop the work and release the lease;
    `step()` is one round (contend, or renew and check), returning the seconds until the next is due.
    """

    def __init__(
        self,
        db: Database,
        name: str,
        work: Work,
        *,
        holder: str,
        ttl: float,
        renew_interval: float,
        acquire_interval: float | None = None,
        work_name: str | None = None,
    ) -> None:
        self.margin = ttl * MARGIN_FRACTION
        if renew_interval >= ttl - self.margin:
            raise ConfigError(
                f"lease.renewIntervalSeconds ({renew_interval}) must be below 80% of "
                f"lease.ttlSeconds ({ttl}), or the lease lapses between renewals"
            )
        self.acquire_interval = acquire_interval or min(renew_interval, 1.0)
        super().__init__(name, self.acquire_interval)
        self.db, self.work, self.holder = db, work, holder
        self.ttl, self.renew_interval = ttl, renew_interval
        self.work_name = work_name or f"work:{name}"
        self.term: LeaseTerm | None = None
        self.valid_until = 0.0  # monotonic
        self.next_renew = 0.0
        self.terms = 0
        self.task: asyncio.Task[Any] | None = None
        self._work_started = 0.0
        self._restart_at: float | None = None
        self._db_backoff = Backoff(base=self.acquire_interval, maximum=max(5.0, self.acquire_interval))
        self._work_backoff = Backoff(base=1.0, maximum=30.0)
        self._quiet = LogThrottle(30.0)

    @property
    def holding(self) -> bool:
        return self.term is not None and time.monotonic() < self.valid_until

    @property
    def idle_timeout(self) -> float:
        """How long a lease transaction may idle before PostgreSQL ends it (and its locks)."""
        return max(self.margin, 1.0)

    async def _tx(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        async with self.db.transaction() as session:
            await repo.limit_idle_transaction(session, self.idle_timeout)
            return await fn(session, *args)

    # One round ------------------------------------------------------------------------------------

    async def step(self) -> float:
        """Contend when not holding, else renew when due and look after the work."""
        if self.term is None:
            return await self._contend()
        now = time.monotonic()
        if now >= self.valid_until:
            await self._lose("it could not be renewed in time")
            return 0.0
        if now >= self.next_renew and not await self._renew():
            return 0.0
        self._look_after_work()
        due = min(self.valid_until, self.next_renew, self._restart_at or float("inf"))
        return max(due - time.monotonic(), 0.0)

    async def _contend(self) -> float:
        t0 = time.monotonic()
        try:
            token = await asyncio.wait_for(
                self._tx(repo.acquire_lease, self.name, self.holder, self.ttl), self.ttl - self.margin
            )
        except Exception as exc:
            self._db_trouble("acquiring", exc)
            return self._db_backoff.next()
        self._db_backoff.reset()
        if token is None:
            return await self._until_expiry()
        self.terms += 1
        self.term = LeaseTerm(self.name, self.holder, int(token), self.terms)
        self.valid_until = t0 + self.ttl - self.margin
        self.next_renew = t0 + self.renew_interval
        log.info("lease %s acquired by %s (fencing token %d)", self.name, self.holder, token)
        self._start_work()
        return max(self.next_renew - time.monotonic(), 0.0)

    async def _until_expiry(self) -> float:
        """Wait until just after the current holder's expiry, but retry at least every acquire_interval."""
        try:
            state: repo.LeaseState | None = await asyncio.wait_for(
                self._tx(repo.get_lease, self.name), self.acquire_interval
            )
        except Exception as exc:
            self._db_trouble("reading", exc)
            return self.acquire_interval
        if state is None:
            return 0.05
        return min(max(state.seconds_left + 0.05, 0.05), self.acquire_interval)

    async def _renew(self) -> bool:
        """Renew the held lease; False when it turned out to be lost (the work is stopped then)."""
        assert self.term is not None
        term, t0 = self.term, time.monotonic()
        try:
            renewed = await asyncio.wait_for(
                self._tx(repo.renew_lease, self.name, self.holder, term.token, self.ttl),
                max(self.valid_until - t0, 0.01),
            )
        except Exception as exc:
            self._db_trouble("renewing", exc)
            self.next_renew = t0 + max(self.renew_interval / 3, 0.05)
            return True
        if not renewed:
            await self._lose("another process holds it now")
            return False
        self.valid_until = t0 + self.ttl - self.margin
        self.next_renew = t0 + self.renew_interval
        return True

    def _db_trouble(self, doing: str, exc: BaseException) -> None:
        if isinstance(exc, TimeoutError) or is_unavailable(exc):
            if self._quiet.due():
                log.warning("lease %s: %s failed, database unavailable: %s", self.name, doing, describe(exc))
        else:
            log.error("lease %s: %s failed", self.name, doing, exc_info=exc)

    # The work ---------------------------------------------------------------------------------------

    def _start_work(self) -> None:
        assert self.term is not None
        self._restart_at = None
        self._work_started = time.monotonic()
        self.task = spawn(self.work(self.term), name=self.work_name)

    def _look_after_work(self) -> None:
        """Restart work that ended on its own (a crash, logged by `spawn`) with back-off."""
        if self.task is None or not self.task.done():
            return
        now = time.monotonic()
        if self._restart_at is None:
            if now - self._work_started > 60.0:
                self._work_backoff.reset()
            delay = self._work_backoff.next()
            self._restart_at = now + delay
            log.error(
                "%s ended while holding lease %s; restarting in %.1fs", self.work_name, self.name, delay
            )
        elif now >= self._restart_at:
            self._start_work()

    async def _stop_work(self, term: LeaseTerm, *, graceful: bool) -> None:
        term.stop.set()
        task, self.task = self.task, None
        if task is None or task.done():
            return
        if graceful:
            await asyncio.wait({task}, timeout=WORK_STOP_TIMEOUT)
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=max(self.margin / 2, 0.5))
        if not task.done():
            log.error("%s did not stop after cancellation", self.work_name)

    async def _lose(self, reason: str) -> None:
        term, self.term = self.term, None
        if term is None:
            return
        log.warning(
            "lease %s lost by %s (token %d): %s; stopping %s",
            self.name,
            self.holder,
            term.token,
            reason,
            self.work_name,
        )
        await self._stop_work(term, graceful=False)

    # Running (the rounds are `LoopService.run`) --------------------------------------------------------

    async def run_once(self) -> float:
        return await self.step()

    def wake_on(self) -> set[asyncio.Task[Any]]:
        """The work ending on its own ends the pause, so it is restarted (or the lease checked) at once."""
        return {self.task} if self.task is not None and not self.task.done() else set()

    async def on_stop(self) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop the work gracefully, then release the lease so a successor takes over at once."""
        term, self.term = self.term, None
        if term is None:
            return
        await self._stop_work(term, graceful=True)
        try:
            await asyncio.wait_for(self._tx(repo.release_lease, self.name, self.holder, term.token), 3.0)
        except Exception as exc:
            log.warning("lease %s: release failed (%s); it expires by itself", self.name, describe(exc))
            return
        log.info("lease %s released by %s (token %d)", self.name, self.holder, term.token)


def configured_guard(
    db: Database, lease: LeaseConfig, name: str, work: Work, *, holder: str, work_name: str
) -> LeaseGuard:
    """A guard with the configured `lease.ttlSeconds` and `lease.renewIntervalSeconds`."""
    return LeaseGuard(
        db,
        name,
        work,
        holder=holder,
        ttl=lease.ttlSeconds,
        renew_interval=lease.renewIntervalSeconds,
        work_name=work_name,
    )
