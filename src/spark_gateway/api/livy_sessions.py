"""Livy interactive sessions and statements under `/api/livy/sessions` (Livy's shapes and statuses)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from spark_gateway.api.bodies import parse_json
from spark_gateway.api.deps import CurrentCaller, CurrentGateway, set_audit
from spark_gateway.api.livy_shared import ListFrom, LivyNamespace, LogFrom, app_info, deleted, log_json
from spark_gateway.api.schemas import LOCATION, LivyBatchLog, LivyMessage, json_body, livy_answers
from spark_gateway.api.session_schemas import (
    LivyCompletion,
    LivySession,
    LivySessionList,
    LivySessionState,
    LivyStatement,
    LivyStatementList,
)
from spark_gateway.domain.sessions import CompletionRequest, LivySessionRequest, StatementRequest
from spark_gateway.services import sessions, statements
from spark_gateway.services.sessions import SessionView
from spark_gateway.services.statements import StatementView

router = APIRouter(prefix="/api/livy", tags=["livy sessions"])


def session_json(view: SessionView) -> dict[str, Any]:
    """Livy's SessionInfo, field for field (unset numbers are 0, unset strings null)."""
    req, record = view.request, view.record
    return {
        "id": view.session_id,
        "name": record.name,
        "appId": record.spark_app_id,
        "owner": record.owner,
        "proxyUser": record.proxy_user,
        "state": view.state,
        "kind": view.kind,
        "appInfo": app_info(record),
        "log": view.recent_log,
        "ttl": req.get("ttl"),
        "idleTimeout": req.get("idleTimeout"),
        "driverMemory": req.get("driverMemory"),
        "driverCores": req.get("driverCores") or 0,
        "executorMemory": req.get("executorMemory"),
        "executorCores": req.get("executorCores") or 0,
        "conf": req.get("conf") or {},
        "archives": req.get("archives") or [],
        "files": req.get("files") or [],
        "heartbeatTimeoutInSecond": view.heartbeat_timeout_s,
        "jars": req.get("jars") or [],
        "numExecutors": req.get("numExecutors") or 0,
        "pyFiles": req.get("pyFiles") or [],
        "queue": req.get("queue"),
    }


def statement_json(view: StatementView) -> dict[str, Any]:
    return {
        "id": view.statement_id,
        "code": view.code,
        "state": view.state,
        "output": view.output,
        "progress": view.progress,
        "started": view.started,
        "completed": view.completed,
    }


@router.get(
    "/sessions",
    summary="List interactive sessions (from = offset, size = page size)",
    response_model=None,
    responses=livy_answers(200, LivySessionList, "The sessions the caller may see"),
)
async def list_sessions(
    gateway: CurrentGateway, caller: CurrentCaller, from_: ListFrom = 0, size: int = 100
) -> dict[str, Any]:
    total, views = await sessions.list_sessions(gateway, caller, offset=from_, size=size)
    return {"from": from_, "total": total, "sessions": [session_json(v) for v in views]}


@router.post(
    "/sessions",
    status_code=201,
    summary="Start an interactive session (kinds pyspark, sql, shared)",
    response_model=None,
    responses=livy_answers(201, LivySession, "The new session, starting", 413, 415, headers=LOCATION),
    openapi_extra=json_body(LivySessionRequest.model_json_schema()),
)
async def create_session(
    request: Request,
    gateway: CurrentGateway,
    caller: CurrentCaller,
    namespace: LivyNamespace = None,
) -> JSONResponse:
    payload = parse_json(await request.body(), empty={})
    view = await sessions.create_session(gateway, caller, payload, namespace=namespace)
    set_audit(request, session_id=view.session_id, gateway_id=view.record.gateway_id)
    return JSONResponse(
        session_json(view), status_code=201, headers={"Location": f"/api/livy/sessions/{view.session_id}"}
    )


@router.get(
    "/sessions/{session_id}",
    summary="One session",
    response_model=None,
    responses=livy_answers(200, LivySession, "The session", 404),
)
async def get_session(session_id: str, gateway: CurrentGateway, caller: CurrentCaller) -> dict[str, Any]:
    return session_json(await sessions.get_session(gateway, caller, session_id))


@router.get(
    "/sessions/{session_id}/state",
    summary="A session's state",
    response_model=None,
    responses=livy_answers(200, LivySessionState, "The state", 404),
)
async def session_state(session_id: str, gateway: CurrentGateway, caller: CurrentCaller) -> dict[str, Any]:
    view = await sessions.get_session(gateway, caller, session_id, with_log=False)
    return {"id": view.session_id, "state": view.state}


@router.get(
    "/sessions/{session_id}/log",
    summary="A session's driver log (size alone = the last lines)",
    response_model=None,
    responses=livy_answers(200, LivyBatchLog, "A page of the log", 404),
)
async def session_log(
    session_id: str, gateway: CurrentGateway, caller: CurrentCaller, from_: LogFrom = None, size: int = 100
) -> dict[str, Any]:
    view, page = await sessions.session_log(gateway, caller, session_id, offset=from_, size=size)
    return log_json(view.session_id, page, shown_from=page.offset)


@router.delete(
    "/sessions/{session_id}",
    summary="Stop and remove a session",
    response_model=None,
    responses=livy_answers(200, LivyMessage, "Deleted", 404),
)
async def delete_session(
    session_id: str, request: Request, gateway: CurrentGateway, caller: CurrentCaller
) -> dict[str, str]:
    set_audit(request, session_id=session_id)
    await sessions.delete_session(gateway, caller, session_id)
    return deleted()


@router.get(
    "/sessions/{session_id}/statements",
    summary="A session's statements (from, size, order=desc)",
    response_model=None,
    responses=livy_answers(200, LivyStatementList, "The statements", 404),
)
async def list_statements(
    session_id: str,
    gateway: CurrentGateway,
    caller: CurrentCaller,
    from_: ListFrom = 0,
    size: int | None = None,
    order: Annotated[str | None, Query(max_length=10)] = None,
) -> dict[str, Any]:
    total, views = await statements.list_statements(
        gateway, caller, session_id, offset=from_, size=size, order=order
    )
    return {"total_statements": total, "statements": [statement_json(v) for v in views]}


@router.post(
    "/sessions/{session_id}/statements",
    status_code=201,
    summary="Run a statement (kind pyspark or sql; required in shared sessions)",
    response_model=None,
    responses=livy_answers(201, LivyStatement, "The statement, waiting", 404, 413, 415, headers=LOCATION),
    openapi_extra=json_body(StatementRequest.model_json_schema()),
)
async def create_statement(
    session_id: str, request: Request, gateway: CurrentGateway, caller: CurrentCaller
) -> JSONResponse:
    payload = parse_json(await request.body(), empty={})
    view = await statements.create_statement(gateway, caller, session_id, payload)
    set_audit(request, session_id=session_id, statement_id=view.statement_id)
    location = f"/api/livy/sessions/{session_id}/statements/{view.statement_id}"
    return JSONResponse(statement_json(view), status_code=201, headers={"Location": location})


@router.get(
    "/sessions/{session_id}/statements/{statement_id}",
    summary="One statement",
    response_model=None,
    responses=livy_answers(200, LivyStatement, "The statement", 404),
)
async def get_statement(
    session_id: str, statement_id: str, gateway: CurrentGateway, caller: CurrentCaller
) -> dict[str, Any]:
    return statement_json(await statements.get_statement(gateway, caller, session_id, statement_id))


@router.post(
    "/sessions/{session_id}/statements/{statement_id}/cancel",
    summary="Cancel a statement (a finished or unknown one is left alone)",
    response_model=None,
    responses=livy_answers(200, LivyMessage, "Canceled", 404, 413, 415),
    # Clients send `{}` (sparkmagic) or nothing; with authentication configured a body must be JSON.
    openapi_extra={
        "requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def cancel_statement(
    session_id: str, statement_id: str, request: Request, gateway: CurrentGateway, caller: CurrentCaller
) -> dict[str, str]:
    set_audit(request, session_id=session_id, statement_id=statement_id)
    await statements.cancel_statement(gateway, caller, session_id, statement_id)
    return {"msg": "canceled"}


@router.post(
    "/sessions/{session_id}/completion",
    summary="Completion candidates for the word before the cursor",
    response_model=None,
    responses=livy_answers(200, LivyCompletion, "Candidates", 404, 413, 415),
    openapi_extra=json_body(CompletionRequest.model_json_schema()),
)
async def completion(
    session_id: str, request: Request, gateway: CurrentGateway, caller: CurrentCaller
) -> dict[str, Any]:
    payload = parse_json(await request.body(), empty={})
    return {"candidates": await statements.completion(gateway, caller, session_id, payload)}
