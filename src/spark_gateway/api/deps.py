"""Request dependencies: the gateway (its `GatewayRuntime`) and the calling user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from spark_gateway.services.applications import Caller
from spark_gateway.services.gateway import GatewayRuntime


def gateway_of(request: Request) -> GatewayRuntime:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime


# Async, though they do not await: FastAPI runs a sync dependency in a worker thread, a thread
# handoff per request. The single-object reads (clients poll them) skip dependencies altogether and
# call `gateway_of(request)` and `caller_of(request)`: solving two dependencies cost more than the
# database read.
async def get_gateway(request: Request) -> GatewayRuntime:
    return gateway_of(request)


def caller_of(request: Request) -> Caller:
    return Caller(user=getattr(request.state, "user", None))


async def get_caller(request: Request) -> Caller:
    return caller_of(request)


def set_audit(request: Request, **fields: object) -> None:
    """Details for the audit line of this request (batch id, gateway id)."""
    audit = getattr(request.state, "audit", None)
    if not isinstance(audit, dict):
        audit = {}
        request.state.audit = audit
    audit.update(fields)


CurrentGateway = Annotated[GatewayRuntime, Depends(get_gateway)]
CurrentCaller = Annotated[Caller, Depends(get_caller)]
