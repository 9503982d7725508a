"""The native API under `/api/v1/applications`: SparkApplications in, GatewayApplications out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from spark_gateway.api.bodies import parse_json
from spark_gateway.api.deps import CurrentCaller, CurrentGateway, caller_of, gateway_of, set_audit
from spark_gateway.api.schemas import (
    COMMON_ERRORS,
    ApplicationList,
    ApplicationStatus,
    DeleteResult,
    GatewayApplication,
    api_answers,
    api_errors,
    inline_schema,
    json_body,
)
from spark_gateway.domain.errors import BadRequest, Invalid
from spark_gateway.domain.records import ApplicationRecord
from spark_gateway.domain.sparkapp import LABEL_CLUSTER, SparkApplication, namespace_problem
from spark_gateway.services import applications as application_service
from spark_gateway.services import pages

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])

MAX_NAME_LENGTH = 253  # names and users are stored in columns of this size
MAX_ANNOTATIONS_BYTES = 256 * 1024  # Kubernetes' limit on all annotations of an object together

# Documented (not enforced by FastAPI: the services answer a mismatch with a clearer 400 message).
GATEWAY_ID_PATTERN = (
    "^[a-z0-9]{1,12}-[a-z0-9]{1,12}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
NAMESPACE_PATTERN = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
GatewayIdParam = Annotated[
    str,
    Path(
        description="clusterId-namespaceId-UUIDv7, as returned by a create",
        json_schema_extra={"pattern": GATEWAY_ID_PATTERN},
    ),
]

CONTINUE_HEADER = "X-Continue"  # the next page's token on an unpaged (array) list
TRUNCATED_HEADER = "X-Spark-Gateway-Truncated"


def _metadata(record: ApplicationRecord) -> dict[str, Any]:
    meta = record.spec.get("metadata") or {}
    return {
        "name": meta.get("name", record.gateway_id),
        "namespace": meta.get("namespace", record.namespace),
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
    }


def public_status(record: ApplicationRecord) -> dict[str, Any]:
    status = {k: v for k, v in record.status.items() if k != "executorState"}
    status.setdefault("applicationState", {"state": record.state.value})
    status.setdefault("driverInfo", {})
    status.setdefault("terminationTime", None)
    status.setdefault("lastSubmissionAttemptTime", None)
    return status


def gateway_application(record: ApplicationRecord) -> dict[str, Any]:
    return {
        "sparkApplication": {
            "apiVersion": record.spec.get("apiVersion"),
            "kind": record.spec.get("kind"),
            "metadata": _metadata(record),
            "spec": record.spec.get("spec") or {},
            "status": public_status(record),
        },
        "gatewayId": record.gateway_id,
        "cluster": _metadata(record)["labels"].get(LABEL_CLUSTER, record.cluster_name),
        "user": record.owner,
        "sparkLogURLs": {
            "sparkUI": record.urls.get("sparkUI"),
            "sparkHistoryUI": record.urls.get("sparkHistoryUI"),
            "logsUI": record.urls.get("logsUI"),
        },
    }


def summary(record: ApplicationRecord) -> dict[str, Any]:
    return {
        "apiVersion": record.spec.get("apiVersion"),
        "kind": record.spec.get("kind"),
        "metadata": _metadata(record),
        "status": public_status(record),
        "gatewayId": record.gateway_id,
        "cluster": record.cluster_name,
        "user": record.owner,
    }


def parse_application(raw: bytes) -> SparkApplication:
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a SparkApplication JSON object")
    try:
        app = SparkApplication.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise Invalid(f"invalid SparkApplication: {problems}") from exc
    if problem := size_problem(app):
        raise BadRequest(problem)
    return app


def size_problem(app: SparkApplication) -> str | None:
    """What is too long to store (names, users) or for Kubernetes to accept (annotations)."""
    for field, value in (("metadata.name", app.metadata.name), ("spec.proxyUser", app.spec.proxyUser)):
        if value is not None and len(value) > MAX_NAME_LENGTH:
            return f"{field}: longer than {MAX_NAME_LENGTH} characters"
    annotations = sum(len(k.encode()) + len(v.encode()) for k, v in app.metadata.annotations.items())
    if annotations > MAX_ANNOTATIONS_BYTES:
        return (
            f"metadata.annotations: {annotations} bytes in total, "
            f"Kubernetes accepts at most {MAX_ANNOTATIONS_BYTES}"
        )
    return None


@router.get(
    "",
    summary=(
        f"List applications, newest first, {application_service.V1_LIST_LIMIT} at most per page "
        "(filters: cluster, namespace; paging: limit, continue)"
    ),
    response_model=None,
    responses=api_answers(
        200,
        ApplicationList,
        "The applications the caller may see: without `limit` and `continue`, a JSON array of at "
        f"most {pages.DEFAULT_LIMIT} ({TRUNCATED_HEADER}: true and {CONTINUE_HEADER}: the next page's "
        "token when more exist); with either, `{items, metadata: {continue}}` as in Kubernetes lists",
        headers={
            CONTINUE_HEADER: {"schema": {"type": "string"}},
            TRUNCATED_HEADER: {"schema": {"type": "string", "enum": ["true"]}},
        },
    ),
)
async def list_applications(
    response: Response,
    gateway: CurrentGateway,
    caller: CurrentCaller,
    cluster: str | None = None,
    namespace: Annotated[str | None, Query(json_schema_extra={"pattern": NAMESPACE_PATTERN})] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description=f"page size (at most {pages.MAX_LIMIT} served)")
    ] = None,
    continue_: Annotated[
        str | None, Query(alias="continue", max_length=2000, description="the token of the previous page")
    ] = None,
) -> JSONResponse:
    if namespace is not None and (problem := namespace_problem(namespace)):
        raise BadRequest(problem)
    page = await pages.list_applications(
        gateway, caller, cluster=cluster, namespace=namespace, limit=limit, token=continue_
    )
    items = [summary(r) for r in page.records]
    if limit is None and continue_ is None:
        headers = {}
        if page.continue_token:
            headers = {TRUNCATED_HEADER: "true", CONTINUE_HEADER: page.continue_token}
        return JSONResponse(items, headers=headers)
    return JSONResponse({"items": items, "metadata": {"continue": page.continue_token}})


@router.post(
    "",
    status_code=201,
    summary="Submit a SparkApplication (metadata.namespace required)",
    response_model=None,
    responses=api_answers(
        201, GatewayApplication, "The stored (and, on Kubernetes, submitted) application", 409, 413, 415, 422
    ),
    openapi_extra=json_body(inline_schema(SparkApplication)),
)
async def create_application(
    request: Request,
    gateway: CurrentGateway,
    caller: CurrentCaller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> JSONResponse:
    app = parse_application(await request.body())
    callback = (app.model_extra or {}).pop("callbackUrl", None)  # ours, not the operator's
    if callback is not None and not isinstance(callback, str):
        raise BadRequest("callbackUrl must be a string (a URL)")
    record = await application_service.create_application(
        gateway, caller, app, source="v1", idempotency_key=idempotency_key, callback_url=callback
    )
    set_audit(request, gateway_id=record.gateway_id)
    return JSONResponse(gateway_application(record), status_code=201)


@router.get(
    "/{gateway_id}",
    summary="One application",
    response_model=None,
    responses=api_answers(200, GatewayApplication, "The application", 404),
)
async def get_application(gateway_id: GatewayIdParam, request: Request) -> JSONResponse:
    record = await application_service.get_application(gateway_of(request), caller_of(request), gateway_id)
    return JSONResponse(gateway_application(record))


@router.get(
    "/{gateway_id}/status",
    summary="An application's status (without executorState)",
    response_model=None,
    responses=api_answers(200, ApplicationStatus, "The status", 404),
)
async def application_status(gateway_id: GatewayIdParam, request: Request) -> JSONResponse:
    record = await application_service.get_application(gateway_of(request), caller_of(request), gateway_id)
    return JSONResponse(public_status(record))


@router.get(
    "/{gateway_id}/logs",
    summary="The last driver log lines, as one JSON string",
    responses=api_errors(*COMMON_ERRORS, 404),
)
async def application_logs(
    gateway_id: GatewayIdParam,
    gateway: CurrentGateway,
    caller: CurrentCaller,
    lines: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
) -> str:
    count = gateway.settings.defaultLogLines if lines is None else lines
    return "\n".join(await application_service.application_logs(gateway, caller, gateway_id, count))


@router.delete(
    "/{gateway_id}",
    summary="Kill and remove an application",
    response_model=None,
    responses=api_answers(200, DeleteResult, "Deleted", 404),
)
async def delete_application(
    gateway_id: GatewayIdParam, request: Request, gateway: CurrentGateway, caller: CurrentCaller
) -> dict[str, str]:
    set_audit(request, gateway_id=gateway_id)
    await application_service.delete_application(gateway, caller, gateway_id)
    return {"status": "success"}
