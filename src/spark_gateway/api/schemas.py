"""What the API answers, described for OpenAPI: success bodies, error envelopes and their headers.

The routes build their JSON by hand (Livy's exact shapes); these models only document it, so clients and
schemathesis can check every response against `/openapi.json`. Errors are `{"msg"}` under `/api/livy`
and `{"error"}` on every other route, whoever answers (a route, the error handlers or the security
middleware); 401 always carries `WWW-Authenticate` and 503 `Retry-After`.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, RootModel

from spark_gateway.domain.states import SEED_LIVY_STATES, LivyState


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# Errors ----------------------------------------------------------------------------------------------


class LivyError(_Closed):
    """An error on a Livy route."""

    msg: str


class ApiError(_Closed):
    """An error on a native (non-Livy) route."""

    error: str


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request, a forbidden value, or (with livy.csrfProtection) a missing X-Requested-By",
    401: "No or invalid credentials",
    403: "Authenticated, but not allowed (deny list, impersonation, a viewer changing something)",
    404: "No such application or batch (another user's answers the same)",
    409: "Conflicts with an existing application",
    413: "Request body larger than gateway.maxRequestBodyBytes",
    415: "With authentication configured: the body was not sent as Content-Type: application/json",
    422: "Well-formed but invalid SparkApplication",
    503: "The database (or a cluster) cannot serve right now; retry after Retry-After seconds",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The accepted authentication schemes",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before retrying",
            "required": True,
            "schema": {"type": "integer"},
        }
    },
}


def error_responses(model: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error statuses a route can answer."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": model, "description": ERROR_DESCRIPTIONS[status]}
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        responses[status] = entry
    return responses


def livy_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(LivyError, *statuses)


def api_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(ApiError, *statuses)


def documented(
    status: int, model: type[BaseModel] | None, description: str, **extra: Any
) -> dict[int | str, Any]:
    entry: dict[str, Any] = {"description": description, **extra}
    if model is not None:
        entry["model"] = model
    return {status: entry}


# Every route may answer these (request checks, authentication, deny lists, database down).
COMMON_ERRORS = (400, 401, 403, 503)
# The `Location` header of a 201.
LOCATION = {"Location": {"required": True, "schema": {"type": "string"}}}


def livy_answers(
    status: int, model: type[BaseModel] | None, description: str, *errors: int, **extra: Any
) -> dict[int | str, Any]:
    """A Livy route's `responses`: its success, the common errors and its own `errors`."""
    return {**documented(status, model, description, **extra), **livy_errors(*COMMON_ERRORS, *errors)}


def api_answers(
    status: int, model: type[BaseModel] | None, description: str, *errors: int, **extra: Any
) -> dict[int | str, Any]:
    """A native route's `responses`: its success, the common errors and its own `errors`."""
    return {**documented(status, model, description, **extra), **api_errors(*COMMON_ERRORS, *errors)}


# Livy ------------------------------------------------------------------------------------------------

# Livy's state names, and the seed gateway's `finished` (only with `livy.dialect: spark-gateway`).
LIVY_STATE_NAMES = sorted({s.value for s in LivyState} | set(SEED_LIVY_STATES.values()))


def _livy_state() -> Any:
    return Field(json_schema_extra={"enum": list(LIVY_STATE_NAMES)})


class LivyAppInfo(_Closed):
    driverLogUrl: str | None
    sparkUiUrl: str | None
    sparkHistoryUrl: str | None
    executorLogUrls: dict[str, str] | None
    GatewayId: str
    Cluster: str


class LivyBatch(_Closed):
    id: int
    name: str | None
    owner: str | None
    proxyUser: str | None
    state: str = _livy_state()
    appId: str | None
    appInfo: LivyAppInfo
    log: list[str]


class LivyPage(_Closed):
    """A list page: `from` as asked, `total` counting everything the caller may see."""

    from_: int = Field(alias="from")
    total: int = Field(ge=0)


class LivyBatchList(LivyPage):
    sessions: list[LivyBatch]


class LivyBatchState(_Closed):
    id: int
    state: str = _livy_state()


class LivyBatchLog(_Closed):
    id: int
    from_: int = Field(alias="from")
    size: int = Field(ge=0)
    total: int = Field(ge=0)
    log: list[str]


class LivyMessage(_Closed):
    msg: str


class LivyVersion(_Closed):
    version: str
    user: str
    revision: str
    branch: str
    date: str
    url: str


# Native API ------------------------------------------------------------------------------------------


class ObjectMetaView(_Closed):
    name: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]


class ApplicationState(_Open):
    state: str
    errorMessage: str | None = None


class ApplicationStatus(_Open):
    """The operator-style status (executorState left out)."""

    applicationState: ApplicationState
    driverInfo: dict[str, Any]
    terminationTime: str | None
    lastSubmissionAttemptTime: str | None


class SparkApplicationView(_Closed):
    apiVersion: str | None
    kind: str | None
    metadata: ObjectMetaView
    spec: dict[str, Any]
    status: ApplicationStatus


class SparkLogURLs(_Closed):
    sparkUI: str | None
    sparkHistoryUI: str | None
    logsUI: str | None


class GatewayApplication(_Closed):
    sparkApplication: SparkApplicationView
    gatewayId: str
    cluster: str
    user: str | None
    sparkLogURLs: SparkLogURLs


class ApplicationSummary(_Closed):
    apiVersion: str | None
    kind: str | None
    metadata: ObjectMetaView
    status: ApplicationStatus
    gatewayId: str
    cluster: str
    user: str | None


class ListMeta(_Closed):
    continue_: str | None = Field(alias="continue")


class ApplicationPage(_Closed):
    """The paged form (`limit` or `continue` given): Kubernetes' list shape."""

    items: list[ApplicationSummary]
    metadata: ListMeta


class ApplicationList(RootModel[list[ApplicationSummary] | ApplicationPage]):
    pass


class DeleteResult(_Closed):
    status: Literal["success"]


class Health(_Closed):
    status: Literal["OK"]


class Readiness(_Closed):
    status: Literal["OK", "unavailable"]
    database: Literal["ok", "unreachable"]


# Request bodies --------------------------------------------------------------------------------------


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every `$defs` reference inlined (for `openapi_extra` bodies)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return resolve({**copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), **rest})
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its JSON body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# The document ----------------------------------------------------------------------------------------


def install_openapi(app: FastAPI) -> None:
    """Make `/openapi.json` say what the gateway really answers.

    FastAPI documents a 422 `HTTPValidationError` for every route with parameters, but the gateway
    answers request validation errors with 400 and its own envelope (see `api.errors`); the routes
    declare their real statuses, so the generated 422 entries (and their schemas) are dropped.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _drop_generated_422(generate())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


_GENERATED_422 = {"$ref": "#/components/schemas/HTTPValidationError"}


def _drop_generated_422(document: dict[str, Any]) -> None:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            schema = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema")
            if schema == _GENERATED_422:
                del responses["422"]
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
