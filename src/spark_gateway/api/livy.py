"""The Livy-compatible batch API under `/api/livy` (shapes per Apache Livy's REST contract)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from spark_gateway.api.bodies import parse_json
from spark_gateway.api.deps import CurrentCaller, CurrentGateway, caller_of, gateway_of, set_audit
from spark_gateway.api.livy_shared import ListFrom, LivyNamespace, LogFrom, app_info, deleted, log_json
from spark_gateway.api.schemas import (
    LOCATION,
    LivyBatch,
    LivyBatchList,
    LivyBatchLog,
    LivyBatchState,
    LivyMessage,
    LivyVersion,
    documented,
    json_body,
    livy_answers,
    livy_errors,
)
from spark_gateway.domain.livy import LivyBatchRequest
from spark_gateway.domain.records import ApplicationRecord
from spark_gateway.domain.states import LivyDialect, livy_state
from spark_gateway.services import livy
from spark_gateway.services.applications import MAX_LOG_LINES
from spark_gateway.services.gateway import GatewayRuntime

router = APIRouter(prefix="/api/livy", tags=["livy"])

# Read routes answer a JSONResponse themselves: the bodies are plain JSON already, and FastAPI would
# otherwise walk them through jsonable_encoder on every poll.

LIVY_VERSION = {
    "version": "0.9.0-incubating",
    "user": "spark-gateway",
    "revision": "spark-gateway",
    "branch": "main",
    "date": "2026-11-28",
    "url": "https://livy.apache.org",
}
BATCH_ID_DOC = "Batch id (digits) or batch name"


def dialect(gateway: GatewayRuntime) -> LivyDialect:
    return LivyDialect(gateway.settings.livy.dialect)


def batch_json(gateway: GatewayRuntime, record: ApplicationRecord, log: list[str]) -> dict[str, Any]:
    return {
        "id": record.batch_id,
        "name": record.name,
        "owner": record.owner,
        "proxyUser": record.proxy_user,
        "state": livy_state(record.state, dialect(gateway)),
        "appId": record.spark_app_id,
        "appInfo": app_info(record),
        "log": log,
    }


@router.get(
    "/version",
    summary="Livy version (some clients compare it)",
    response_model=None,
    responses={**documented(200, LivyVersion, "The Livy version"), **livy_errors(400, 401, 403)},
)
async def version() -> dict[str, str]:
    return LIVY_VERSION


@router.get(
    "/batches",
    summary=f"List batches (from = offset, size = page size, clamped to {livy.MAX_LIST_SIZE})",
    response_model=None,
    responses=livy_answers(200, LivyBatchList, "The batches the caller may see; total counts all of them"),
)
async def list_batches(
    gateway: CurrentGateway, caller: CurrentCaller, from_: ListFrom = 0, size: int = 100
) -> JSONResponse:
    page = await livy.list_batches(gateway, caller, offset=from_, size=size)
    sessions = [batch_json(gateway, r, r.recent_log) for r in page.batches]
    return JSONResponse({"from": from_, "total": page.total, "sessions": sessions})


@router.post(
    "/batches",
    status_code=201,
    summary="Submit a batch",
    response_model=None,
    responses=livy_answers(
        201,
        LivyBatch,
        "The new batch (or, with a known Idempotency-Key, the original one)",
        409,
        413,
        415,
        headers=LOCATION,
    ),
    openapi_extra=json_body(LivyBatchRequest.model_json_schema()),
)
async def create_batch(
    request: Request,
    gateway: CurrentGateway,
    caller: CurrentCaller,
    namespace: LivyNamespace = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
    callback: Annotated[
        str | None,
        Header(alias="X-Spark-Gateway-Callback", description="URL to POST to when the batch ends"),
    ] = None,
) -> JSONResponse:
    # Livy reads the body as JSON whatever the Content-Type says; so do we.
    payload = parse_json(await request.body(), empty={})
    record = await livy.create_batch(
        gateway, caller, payload, namespace=namespace, idempotency_key=idempotency_key, callback_url=callback
    )
    set_audit(request, batch_id=record.batch_id, gateway_id=record.gateway_id)
    body = batch_json(gateway, record, record.recent_log)
    return JSONResponse(body, status_code=201, headers={"Location": f"/api/livy/batches/{record.batch_id}"})


@router.get(
    "/batches/{batch_id}",
    summary="One batch",
    response_model=None,
    responses=livy_answers(200, LivyBatch, "The batch", 404),
)
async def get_batch(batch_id: str, request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    record = await livy.get_batch(gateway, caller_of(request), batch_id)
    return JSONResponse(batch_json(gateway, record, record.recent_log))


@router.get(
    "/batches/{batch_id}/state",
    summary="A batch's state",
    response_model=None,
    responses=livy_answers(200, LivyBatchState, "The batch's state", 404),
)
async def batch_state(batch_id: str, request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    number, state = await livy.batch_state(gateway, caller_of(request), batch_id)
    return JSONResponse({"id": number, "state": livy_state(state, dialect(gateway))})


@router.get(
    "/batches/{batch_id}/log",
    summary=f"A batch's driver log (size alone = the last lines; at most {MAX_LOG_LINES} per page)",
    response_model=None,
    responses=livy_answers(200, LivyBatchLog, "A page of the log", 404),
)
async def batch_log(batch_id: str, request: Request, from_: LogFrom = None, size: int = 100) -> JSONResponse:
    gateway = gateway_of(request)
    number, page = await livy.batch_log(gateway, caller_of(request), batch_id, offset=from_, size=size)
    shown_from = -1 if dialect(gateway) is LivyDialect.SPARK_GATEWAY else page.offset
    return JSONResponse(log_json(number, page, shown_from=shown_from))


@router.delete(
    "/batches/{batch_id}",
    summary="Kill and remove a batch",
    response_model=None,
    responses=livy_answers(200, LivyMessage, "Deleted", 404),
)
async def delete_batch(
    batch_id: str, request: Request, gateway: CurrentGateway, caller: CurrentCaller
) -> dict[str, str]:
    set_audit(request, batch_id=batch_id)
    await livy.delete_batch(gateway, caller, batch_id)
    return deleted()
