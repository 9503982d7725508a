"""A Livy interactive session's page: its state, its driver's timeline, its statements with their
code and output, the driver log, and Kill.

It reads through the same services as `/api/livy/sessions` with the same caller (another user's
session is "not found", as in the API), but without the heartbeat: a page left open in a browser
must not keep an abandoned session alive. Kill is a `DELETE /api/livy/sessions/{id}` from the page,
under the API's own authorization and CSRF rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from spark_gateway.api.console.applications import timeline
from spark_gateway.api.console.rendering import CONSOLE_PREFIX, error_page, page
from spark_gateway.api.deps import CurrentCaller, CurrentGateway
from spark_gateway.domain.errors import GatewayError
from spark_gateway.domain.sessions import SessionState
from spark_gateway.services import sessions, statements
from spark_gateway.services.statements import StatementView

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)

STATEMENTS_SHOWN = 50  # the newest ones; the API pages through all of them


@dataclass
class ShownStatement:
    """A statement as the page shows it: its code, and its output as text, a table, or an error."""

    id: int
    code: str
    state: str
    took: str  # "1.2 s" once completed, else ""
    text: str | None = None
    columns: list[str] | None = None
    rows: list[list[Any]] | None = None
    error: str | None = None


def took(view: StatementView) -> str:
    if not view.started or not view.completed or view.completed < view.started:
        return ""
    return f"{(view.completed - view.started) / 1000:.1f} s"


def shown(view: StatementView) -> ShownStatement:
    item = ShownStatement(view.statement_id, view.code, view.state, took(view))
    output = view.output if isinstance(view.output, dict) else {}
    if output.get("status") == "error":
        lines = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        traceback = output.get("traceback")
        if isinstance(traceback, list):
            lines += [str(line).rstrip("\n") for line in traceback]
        item.error = "\n".join(lines)
        return item
    data = output.get("data")
    if not isinstance(data, dict):
        data = {}
    table = data.get("application/json")
    if isinstance(table, dict) and isinstance(table.get("data"), list):
        fields = (table.get("schema") or {}).get("fields") or []
        item.columns = [str(f.get("name", "")) for f in fields if isinstance(f, dict)]
        item.rows = [row if isinstance(row, list) else [row] for row in table["data"]]
    elif "text/plain" in data:
        item.text = str(data["text/plain"])
    elif data:
        item.text = json.dumps(data, indent=2, sort_keys=True)
    return item


@router.get("/sessions/{session_ref}", response_class=HTMLResponse)
async def session_page(
    request: Request, session_ref: str, rt: CurrentGateway, caller: CurrentCaller
) -> HTMLResponse:
    try:
        view = await sessions.get_session(rt, caller, session_ref, with_log=False, heartbeat=False)
        total, newest = await statements.list_statements(
            rt, caller, str(view.session_id), offset=0, size=STATEMENTS_SHOWN, order="desc"
        )
    except GatewayError as exc:
        return error_page(request, exc)
    record = view.record
    active = SessionState(view.state).is_active
    return page(
        request,
        "session.html",
        session=view,
        app=record,
        steps=timeline(record),
        statements=[shown(s) for s in reversed(newest)],
        statement_total=total,
        active=active,
        can_kill=active and rt.access.can_modify(caller.user, record.owner, record.proxy_user),
    )
