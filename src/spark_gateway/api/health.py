"""Liveness (`/health`) and readiness (`/ready`, which checks the database)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from spark_gateway.api.deps import CurrentGateway
from spark_gateway.api.schemas import Health, Readiness, api_errors, documented
from spark_gateway.domain.errors import RETRY_AFTER_SECONDS
from spark_gateway.services.observability import database_answers

router = APIRouter(tags=["health"])


# 401 only when `gateway.authorization.protectHealth` is on.
@router.get(
    "/health",
    summary="Liveness",
    response_model=None,
    responses={**documented(200, Health, "The process is up"), **api_errors(401)},
)
async def health() -> dict[str, str]:
    return {"status": "OK"}


@router.get(
    "/ready",
    summary="Readiness: the database answers",
    responses={
        **documented(200, Readiness, "The database answers"),
        **documented(
            503,
            Readiness,
            "The database does not answer",
            headers={"Retry-After": {"required": True, "schema": {"type": "integer"}}},
        ),
        **api_errors(401),
    },
)
async def ready(gateway: CurrentGateway) -> JSONResponse:
    if not await database_answers(gateway):
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return JSONResponse({"status": "OK", "database": "ok"})
