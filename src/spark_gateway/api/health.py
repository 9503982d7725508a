"""Liveness (`/health`) and readiness (`/ready`, which checks the database)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from spark_gateway.api.deps import Runtime

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "OK"}


@router.get("/ready", summary="Readiness: the database answers")
async def ready(rt: Runtime) -> JSONResponse:
    try:
        async with rt.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "OK", "database": "ok"})
