"""Routes the statement runner inside each session's driver calls (never users).

They sit outside user authentication (`OPEN_PATHS`) and take the session id and its secret from
headers, so one fixed path per call; a user's credentials open nothing here, only a session's own
secret does, and it opens only that session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request

from spark_gateway.api.deps import CurrentGateway
from spark_gateway.domain.errors import BadRequest, Unauthorized
from spark_gateway.services import session_runner
from spark_gateway.services.session_runner import RunnerIdentity

PREFIX = "/api/livy/internal/session-runner"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
OPEN_PATHS = frozenset(f"{PREFIX}/{name}" for name in ("register", "next", "result", "heartbeat"))


@dataclass(frozen=True)
class RunnerHeaders:
    """The session id and secret as sent; each route checks them (`identity`) once its own request
    checks have passed, so a malformed request is a 400 whatever its headers."""

    session: str | None
    secret: str | None

    def identity(self) -> RunnerIdentity:
        session, secret = self.session, self.secret
        if not session or not secret or not session.isascii() or not session.isdigit() or len(session) > 10:
            raise Unauthorized("session id and secret required", challenge="SessionSecret")
        return RunnerIdentity(int(session), secret)


async def runner_headers(
    session: Annotated[str | None, Header(alias="X-Spark-Gateway-Session")] = None,
    secret: Annotated[str | None, Header(alias="X-Spark-Gateway-Session-Secret")] = None,
) -> RunnerHeaders:
    return RunnerHeaders(session, secret)


Runner = Annotated[RunnerHeaders, Depends(runner_headers)]


async def _body(request: Request) -> dict[str, Any]:
    try:
        payload = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    return payload


def _int_or_none(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise BadRequest(f"{what} must be a statement id")
    return value


@router.post("/register")
async def register(request: Request, gateway: CurrentGateway, runner: Runner) -> dict[str, Any]:
    return await session_runner.register(gateway, runner.identity(), await _body(request))


@router.get("/next")
async def next_statement(
    gateway: CurrentGateway, runner: Runner, wait: Annotated[float, Query(ge=0, le=60)] = 0.0
) -> dict[str, Any]:
    return await session_runner.next_statement(gateway, runner.identity(), wait)


@router.post("/result")
async def post_result(request: Request, gateway: CurrentGateway, runner: Runner) -> dict[str, Any]:
    body = await _body(request)
    statement_id = _int_or_none(body.get("id"), "id")
    if statement_id is None:
        raise BadRequest("id is required")
    await session_runner.post_result(
        gateway, runner.identity(), statement_id, body.get("output"), bool(body.get("cancelled"))
    )
    return {"ok": True}


@router.post("/heartbeat")
async def heartbeat(request: Request, gateway: CurrentGateway, runner: Runner) -> dict[str, Any]:
    body = await _body(request)
    progress = body.get("progress")
    if progress is not None and (not isinstance(progress, int | float) or isinstance(progress, bool)):
        raise BadRequest("progress must be a number")
    return await session_runner.heartbeat(
        gateway, runner.identity(), _int_or_none(body.get("statement"), "statement"), progress
    )
