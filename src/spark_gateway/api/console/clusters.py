"""The Clusters page: clusters and namespaces, SparkManager readiness, load, and routing."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from spark_gateway.api.console.rendering import CONSOLE_PREFIX, error_page, page
from spark_gateway.api.deps import CurrentGateway
from spark_gateway.domain.errors import GatewayError
from spark_gateway.services.cluster_overview import cluster_overview

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)


@router.get("/clusters", response_class=HTMLResponse)
async def clusters_page(request: Request, rt: CurrentGateway) -> HTMLResponse:
    try:
        clusters, routing = await cluster_overview(rt)
    except GatewayError as exc:
        return error_page(request, exc)
    return page(request, "clusters.html", clusters=clusters, routing=routing)
