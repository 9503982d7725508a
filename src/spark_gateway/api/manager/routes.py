"""The SparkManager's REST API (the seed gateway's): what the gateway calls, per cluster.

Paths and shapes follow the reference so either side can be swapped: `GET /api/v1/{namespace}` lists
summaries, `POST /api/v1/{namespace}/{name}` creates (201, the object as the API server returns it),
`GET` returns the object, `/status` its status, `/logs?lines=N` the driver log as one JSON string, and
`DELETE` answers `{"status": "success"}`. Errors are `{"error": ...}` with the Kubernetes code mapped
(409, 404, 422, 400; 503 when the cluster is unreachable), through the gateway's one error mapping.
Every route but /health and /ready needs the gateway's bearer token (`api.manager.token`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from spark_gateway.domain.errors import RETRY_AFTER_SECONDS, BadRequest
from spark_gateway.services.manager.service import ManagerService

router = APIRouter()
READY_FAILURES = 3  # consecutive failed watch rounds after which the manager reports itself unready


def get_manager(request: Request) -> ManagerService:
    manager: ManagerService = request.app.state.manager
    return manager


Manager = Annotated[ManagerService, Depends(get_manager)]


def summary(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {
        "kind": obj.get("kind"),
        "apiVersion": obj.get("apiVersion"),
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": meta.get("labels") or {},
            "annotations": meta.get("annotations") or {},
        },
        "status": obj.get("status") or {"applicationState": {"state": ""}, "driverInfo": {}},
    }


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "OK"}


@router.get("/ready", summary="Readiness: the watch has listed the cluster and is not failing")
async def ready(manager: Manager) -> JSONResponse:
    failures = manager.watch.failures
    if manager.synced and failures < READY_FAILURES:
        return JSONResponse({"status": "OK", "cluster": manager.cluster.name})
    reason = "not synced yet" if not manager.synced else f"watch failing ({failures} rounds)"
    body = {"status": "unavailable", "cluster": manager.cluster.name, "reason": reason}
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


@router.get("/api/v1/{namespace}", summary="SparkApplications of this gateway in a namespace")
async def list_applications(namespace: str, manager: Manager) -> list[dict[str, Any]]:
    return [summary(obj) for obj in await manager.list_apps(namespace)]


@router.post(
    "/api/v1/{namespace}/{name}",
    status_code=201,
    summary="Create a SparkApplication",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}},
)
async def create_application(namespace: str, name: str, request: Request, manager: Manager) -> JSONResponse:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a SparkApplication JSON object")
    return JSONResponse(await manager.create(namespace, name, body), status_code=201)


@router.get("/api/v1/{namespace}/{name}", summary="One SparkApplication")
async def get_application(namespace: str, name: str, manager: Manager) -> dict[str, Any]:
    return await manager.get(namespace, name)


@router.get("/api/v1/{namespace}/{name}/status", summary="Its status")
async def application_status(namespace: str, name: str, manager: Manager) -> dict[str, Any]:
    status: dict[str, Any] = summary(await manager.get(namespace, name))["status"]
    return status


@router.get("/api/v1/{namespace}/{name}/logs", summary="The driver log's last lines, as one JSON string")
async def application_logs(
    namespace: str,
    name: str,
    request: Request,
    manager: Manager,
    lines: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
) -> str:
    count = request.app.state.settings.defaultLogLines if lines is None else lines
    return "\n".join(await manager.driver_log(namespace, name, count))


@router.delete("/api/v1/{namespace}/{name}", summary="Delete a SparkApplication")
async def delete_application(namespace: str, name: str, manager: Manager) -> dict[str, str]:
    await manager.delete(namespace, name)
    return {"status": "success"}
