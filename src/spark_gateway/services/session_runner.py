"""The gateway's side of the statement runner protocol: the driver calls in, never the other way.

A session's driver (the runner) proves itself with its session's secret and then: registers once its
Spark is up (starting → idle), long-polls `next` for the statement to run (a statement it claimed but
never answered is handed out again, so a lost response loses nothing), posts each result once (a
repeated post is ignored), and heartbeats with the running statement's progress, hearing about
cancels and shutdown in the reply. Every call is one short transaction, so any replica can answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from spark_gateway.db import repository as repo
from spark_gateway.db import session_repository as srepo
from spark_gateway.db.models import LivySessionRow
from spark_gateway.domain.errors import BadRequest, NotFound, Unauthorized
from spark_gateway.domain.sessions import StatementState
from spark_gateway.domain.states import LivyState
from spark_gateway.services import sessions
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.session_launch import secret_matches
from spark_gateway.services.session_signals import signals

RECHECK_SECONDS = 0.5  # how often a long poll re-reads the database (other replicas' statements)
TRUNCATED = "\n...[output truncated by spark-gateway: {n} more bytes]"


@dataclass(frozen=True)
class RunnerIdentity:
    session_id: int
    secret: str


async def _authenticate(gateway: GatewayRuntime, session: Any, who: RunnerIdentity) -> LivySessionRow:
    """The session row, locked; Unauthorized unless the secret is this session's current one."""
    row = await srepo.get_session_including_deleted(session, who.session_id)
    if row is None or not secret_matches(who.secret, row.secret_hash):
        # The same answer for "no such session" and "wrong secret": a runner learns nothing of others.
        raise Unauthorized("session secret not accepted", challenge="SessionSecret")
    return row


async def _active(session: Any, row: LivySessionRow) -> bool:
    state = LivyState(row.state)
    if not state.is_active:
        return False
    found = await srepo.get_session(session, row.session_id)
    return found is not None


async def register(gateway: GatewayRuntime, who: RunnerIdentity, info: dict[str, Any]) -> dict[str, Any]:
    async with gateway.db.transaction() as session:
        row = await _authenticate(gateway, session, who)
        active = await _active(session, row)
        now = repo.utcnow()
        row.runner_seen_at = now
        if active and row.state in (LivyState.NOT_STARTED, LivyState.STARTING):
            row.state = LivyState.IDLE.value
            row.last_activity_at = now
        app = await repo.get_application(session, row.gateway_id, include_deleted=True, for_update=True)
        app_id = info.get("appId")
        if app is not None and isinstance(app_id, str) and app_id and not app.spark_app_id:
            await repo.save(session, app, spark_app_id=app_id[:253])
    return {"shutdown": not active}


async def next_statement(gateway: GatewayRuntime, who: RunnerIdentity, wait: float) -> dict[str, Any]:
    """The statement to run next (re-delivering a claimed, unanswered one), waiting up to `wait` s."""
    deadline = time.monotonic() + max(0.0, min(wait, gateway.settings.sessions.longPollSeconds))
    first = True
    while True:
        async with gateway.db.transaction() as session:
            row = await _authenticate(gateway, session, who)
            if first:  # later rounds only read, unless there is a statement to claim
                row.runner_seen_at = repo.utcnow()
                first = False
            if not await _active(session, row):
                return {"statement": None, "shutdown": True}
            claimed = await _claim(session, row.session_id)
            if claimed is not None:
                return {"statement": claimed, "shutdown": False}
        left = deadline - time.monotonic()
        if left <= 0:
            return {"statement": None, "shutdown": False}
        await signals.wait(who.session_id, min(left, RECHECK_SECONDS))


async def _claim(session: Any, session_id: int) -> dict[str, Any] | None:
    statements = await srepo.open_statements(session, session_id)
    target = next((s for s in statements if s.state != StatementState.WAITING), None)
    if target is None and statements:
        target = statements[0]
        target.state = StatementState.RUNNING.value
        target.started_ms = sessions.now_ms()
    if target is None:
        return None
    return {"id": target.statement_id, "code": target.code, "kind": target.kind}


def bound_output(output: Any, statement_id: int, limit: int) -> str:
    """The output as stored: Livy's shape, its text bounded, whatever the runner sent."""
    if not isinstance(output, dict) or output.get("status") not in ("ok", "error"):
        raise BadRequest("output must be an object with status 'ok' or 'error'")
    output = {**output, "execution_count": statement_id}
    data = output.get("data")
    if isinstance(data, dict):
        text = data.get("text/plain")
        if isinstance(text, str) and len(text.encode("utf-8")) > limit:
            raw = text.encode("utf-8")
            output["data"] = {
                **data,
                "text/plain": raw[:limit].decode("utf-8", "ignore") + TRUNCATED.format(n=len(raw) - limit),
            }
    # Lone surrogates cannot be sent back as UTF-8; NULs are escaped by json.dumps.
    return json.dumps(output, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")


async def post_result(
    gateway: GatewayRuntime, who: RunnerIdentity, statement_id: int, output: Any, cancelled: bool
) -> None:
    stored = bound_output(output, statement_id, gateway.settings.sessions.maxOutputBytes)
    async with gateway.db.transaction() as session:
        row = await _authenticate(gateway, session, who)
        row.runner_seen_at = repo.utcnow()
        statement = await srepo.get_statement(session, row.session_id, statement_id, for_update=True)
        if statement is None:
            raise NotFound("Statement not found")
        if statement.state not in (StatementState.RUNNING, StatementState.CANCELLING):
            return  # answered already (a retried post) or ended with the session
        was_cancelling = statement.state == StatementState.CANCELLING
        statement.state = (
            StatementState.CANCELLED if cancelled or was_cancelling else StatementState.AVAILABLE
        ).value
        statement.output = stored
        statement.progress = 1.0
        statement.completed_ms = sessions.now_ms()
        row.last_activity_at = repo.utcnow()


async def heartbeat(
    gateway: GatewayRuntime, who: RunnerIdentity, statement_id: int | None, progress: float | None
) -> dict[str, Any]:
    async with gateway.db.transaction() as session:
        row = await _authenticate(gateway, session, who)
        row.runner_seen_at = repo.utcnow()
        active = await _active(session, row)
        cancel: list[int] = []
        if statement_id is not None:
            statement = await srepo.get_statement(session, row.session_id, statement_id, for_update=True)
            if statement is not None and statement.state in (
                StatementState.RUNNING,
                StatementState.CANCELLING,
            ):
                if progress is not None:
                    statement.progress = max(0.0, min(1.0, float(progress)))
                if statement.state == StatementState.CANCELLING:
                    cancel.append(statement_id)
    return {"cancel": cancel, "shutdown": not active}
