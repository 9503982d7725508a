"""Liveness (`/health`) and readiness (`/ready`, which checks the database)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from spark_gateway.api.deps import Runtime
from spark_gateway.api.schemas import Health, Readiness, api_errors, documented
from spark_gateway.domain.errors import RETRY_AFTER_SECONDS

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


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
async def ready(rt: Runtime) -> JSONResponse:
    try:
        async with rt.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("readiness: the database does not answer: %r", exc)
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return JSONResponse({"status": "OK", "database": "ok"})
