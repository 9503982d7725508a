"""Statements of Livy sessions as users see them: submit, list, read, cancel, complete.

A statement is stored `waiting`; the session's runner claims it (`running`) and posts its output
(`available`, or `cancelled` after a cancel). Outputs are kept as Livy's JSON text, exactly as the
runner produced them.
"""

from __future__ import annotations

import builtins
import json
import keyword
from dataclasses import dataclass
from typing import Any

from spark_gateway.db import repository as repo
from spark_gateway.db import session_repository as srepo
from spark_gateway.db.models import LivyStatementRow
from spark_gateway.domain.errors import BadRequest, NotFound
from spark_gateway.domain.sessions import (
    CompletionRequest,
    StatementRequest,
    StatementState,
    statement_kind,
)
from spark_gateway.domain.states import LivyState
from spark_gateway.services import sessions
from spark_gateway.services.applications import Caller
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.livy_common import MAX_BATCH_ID, MAX_PAGE, page_offset, validated
from spark_gateway.services.session_signals import signals


@dataclass
class StatementView:
    statement_id: int
    code: str
    state: str
    output: Any
    progress: float
    started: int
    completed: int


def to_view(row: LivyStatementRow) -> StatementView:
    state = StatementState(row.state)
    progress = 1.0 if state in (StatementState.AVAILABLE, StatementState.CANCELLED) else row.progress
    return StatementView(
        statement_id=row.statement_id,
        code=row.code,
        state=state.value,
        output=json.loads(row.output) if row.output is not None else None,
        progress=max(0.0, min(1.0, progress)),
        started=row.started_ms,
        completed=row.completed_ms,
    )


def _statement_number(ref: str) -> int | None:
    """The statement id a path names; None when no statement can have it."""
    if not (ref.isascii() and ref.isdigit()) or int(ref) > MAX_BATCH_ID:
        return None
    return int(ref)


async def create_statement(
    gateway: GatewayRuntime, caller: Caller, ref: str, payload: object
) -> StatementView:
    request = validated(StatementRequest, payload)
    if "\x00" in request.code:
        raise BadRequest("code: contains a NUL character")
    async with gateway.db.transaction() as session:
        srow, app = await sessions.resolve(gateway, session, caller, ref, for_update=True)
        sessions.ensure_can_modify(gateway, caller, app, ref)
        kind = statement_kind(request.kind, srow.kind)
        if not LivyState(sessions.reported_state(srow, app, False)).is_active:
            raise BadRequest("requirement failed: Session isn't active.")
        statement_id = await srepo.next_statement_id(session, srow.session_id)
        row = await srepo.insert_statement(
            session,
            LivyStatementRow(
                session_id=srow.session_id,
                statement_id=statement_id,
                code=request.code,
                kind=kind,
                state=StatementState.WAITING.value,
                output=None,
                progress=0.0,
                started_ms=0,
                completed_ms=0,
            ),
        )
        now = repo.utcnow()
        await srepo.touch(session, srow.session_id, last_activity_at=now, last_access_at=now)
        view = to_view(row)
        session_id = srow.session_id
    signals.notify(session_id)
    return view


async def list_statements(
    gateway: GatewayRuntime, caller: Caller, ref: str, *, offset: int, size: int | None, order: str | None
) -> tuple[int, list[StatementView]]:
    descending = (order or "").strip().lower() == "desc"
    async with gateway.db.transaction() as session:
        srow, app = await sessions.resolve(gateway, session, caller, ref)
        sessions.ensure_can_view(gateway, caller, app, ref)
        rows, total = await srepo.list_statements(
            session,
            srow.session_id,
            offset=page_offset(offset),
            limit=None if size is None else min(max(size, 0), MAX_PAGE),
            descending=descending,
        )
    return total, [to_view(r) for r in rows]


async def get_statement(
    gateway: GatewayRuntime, caller: Caller, ref: str, statement_ref: str
) -> StatementView:
    number = _statement_number(statement_ref)
    if number is None:
        raise NotFound("Statement not found")
    async with gateway.db.transaction() as session:
        srow, app = await sessions.resolve(gateway, session, caller, ref)
        sessions.ensure_can_view(gateway, caller, app, ref)
        row = await srepo.get_statement(session, srow.session_id, number)
        if row is None:
            raise NotFound("Statement not found")
        return to_view(row)


async def cancel_statement(gateway: GatewayRuntime, caller: Caller, ref: str, statement_ref: str) -> None:
    """Livy's cancel: waiting → cancelled now; running → cancelling (the runner interrupts it);
    unknown or finished statements are left alone, and the answer is the same."""
    async with gateway.db.transaction() as session:
        srow, app = await sessions.resolve(gateway, session, caller, ref)
        sessions.ensure_can_modify(gateway, caller, app, ref)
        number = _statement_number(statement_ref)
        if number is None:
            return
        row = await srepo.get_statement(session, srow.session_id, number, for_update=True)
        if row is None:
            return
        if row.state == StatementState.WAITING:
            row.state = StatementState.CANCELLED.value
            row.completed_ms = sessions.now_ms()
        elif row.state == StatementState.RUNNING:
            row.state = StatementState.CANCELLING.value
        await srepo.touch(session, srow.session_id, last_activity_at=repo.utcnow())
        session_id = srow.session_id
    signals.notify(session_id)


_BUILTINS = sorted({*dir(builtins), *keyword.kwlist})
_SESSION_NAMES = ("spark", "sc", "sqlContext", "SparkSession")


async def completion(gateway: GatewayRuntime, caller: Caller, ref: str, payload: object) -> list[str]:
    """Names that complete the word before the cursor: keywords, builtins and the session's globals.

    Computed in the gateway (the driver's namespace is not consulted), so attribute completion after
    a `.` returns nothing, as Livy does for an interpreter it cannot ask.
    """
    request = validated(CompletionRequest, payload)
    async with gateway.db.transaction() as session:
        srow, app = await sessions.resolve(gateway, session, caller, ref)
        sessions.ensure_can_modify(gateway, caller, app, ref)
        await srepo.touch(session, srow.session_id, last_activity_at=repo.utcnow())
        kind = srow.kind
    if (request.kind or kind) not in ("pyspark", "python", "shared"):
        return []
    cursor = len(request.code) if request.cursor is None else min(request.cursor, len(request.code))
    before = request.code[:cursor]
    word = ""
    for char in reversed(before):
        if not (char.isalnum() or char == "_"):
            if char == ".":
                return []
            break
        word = char + word
    if not word:
        return []
    names = sorted({*_BUILTINS, *_SESSION_NAMES})
    return [n for n in names if n.startswith(word)][:100]
