"""Ending sessions: drivers that exited or went silent, heartbeat timeouts, TTLs and idle timeouts.

Runs in every gateway process (each step is conditional on the stored state, so two processes doing
the same round do no harm). A reaped session stays listed as `dead` with the reason in its log; a
busy session is never reaped for being idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from spark_gateway.db import repository as repo
from spark_gateway.db import session_repository as srepo
from spark_gateway.db.models import ApplicationRow, LivySessionRow
from spark_gateway.domain.states import AppState, LivyState
from spark_gateway.services import sessions
from spark_gateway.services.applications import KILLED_MESSAGE
from spark_gateway.services.gateway import GatewayRuntime

log = logging.getLogger(__name__)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def expiry_reason(
    gateway: GatewayRuntime, srow: LivySessionRow, busy: bool, now: datetime, *, judge_runner: bool = True
) -> str | None:
    """Why an active session must stop now, or None. `judge_runner`: whether a silent runner counts
    (not right after this process started: runners were retrying against a gateway that was down)."""
    lost = gateway.settings.sessions.runnerLostSeconds
    if judge_runner and srow.runner_seen_at is not None and srow.state == LivyState.IDLE:
        silent = (now - _aware(srow.runner_seen_at)).total_seconds()
        if silent > lost:
            return f"the driver's statement runner has not called in for {silent:.0f}s"
    if srow.heartbeat_timeout_s > 0:
        silent = (now - _aware(srow.last_access_at)).total_seconds()
        if silent > srow.heartbeat_timeout_s:
            return (
                f"no client heartbeat for {silent:.0f}s (heartbeatTimeoutInSecond {srow.heartbeat_timeout_s})"
            )
    if srow.ttl_s is not None:
        age = (now - _aware(srow.created_at)).total_seconds()
        if age > srow.ttl_s:
            return f"ttl of {srow.ttl_s:g}s expired"
    idle_limit = (
        srow.idle_timeout_s
        if srow.idle_timeout_s is not None
        else gateway.settings.sessions.idleTimeoutSeconds
    )
    if idle_limit and srow.state == LivyState.IDLE and not busy:
        idle = (now - _aware(srow.last_activity_at)).total_seconds()
        if idle > idle_limit:
            return f"idle for {idle:.0f}s (idle timeout {idle_limit:g}s)"
    return None


def driver_end(app: ApplicationRow) -> tuple[LivyState, str] | None:
    """The session's final state when its driver application has ended (or was removed)."""
    state = AppState.parse(app.state)
    if state.is_terminal or state == AppState.SUBMISSION_FAILED:
        if app.error_message == KILLED_MESSAGE:
            return LivyState.KILLED, KILLED_MESSAGE
        return LivyState.DEAD, app.error_message or "the session's driver exited"
    return None


class SessionReaper:
    def __init__(self, gateway: GatewayRuntime, *, started: float | None = None) -> None:
        self.gateway = gateway
        self.started = time.monotonic() if started is None else started

    async def run_once(self) -> int:
        """One round; returns how many sessions it ended."""
        now = repo.utcnow()
        async with self.gateway.db.transaction() as session:
            rows = await srepo.active_sessions(session)
            busy = await srepo.busy_session_ids(session, [s.session_id for s, _ in rows])
        ended = 0
        for srow, app in rows:
            try:
                ended += await self._check(srow, app, srow.session_id in busy, now)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reaping session %d failed; retrying next round", srow.session_id)
        return ended

    async def _check(self, srow: LivySessionRow, app: ApplicationRow, busy: bool, now: datetime) -> int:
        final = driver_end(app)
        if final is not None:
            await sessions.finish(self.gateway, srow.session_id, final[0], final[1])
            return 1
        if app.deleted_at is not None or srow.state == LivyState.SHUTTING_DOWN:
            return 0  # being stopped by whoever deleted it; the driver's end is recorded above
        uptime = time.monotonic() - self.started
        judge_runner = uptime > self.gateway.settings.sessions.runnerLostSeconds
        reason = expiry_reason(self.gateway, srow, busy, now, judge_runner=judge_runner)
        if reason is None:
            return 0
        log.info("session %d: stopping, %s", srow.session_id, reason)
        await sessions.stop_session(self.gateway, srow.session_id, reason)
        return 1

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.gateway.settings.sessions.reapIntervalSeconds
        while True:  # the first round after one interval: start-up work (leases, re-attaching) first
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("session reaper round failed; retrying")
