"""The gateway's Prometheus endpoint: stored applications by cluster and state, read at scrape time.

Counts come from the database (`services.observability`), so every replica reports the same figures.
Open or protected by `gateway.authorization.protectMetrics`.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from spark_gateway.api.deps import CurrentGateway
from spark_gateway.services.observability import metrics_figures

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(gateway: CurrentGateway) -> Response:
    figures = await metrics_figures(gateway)
    registry = CollectorRegistry()
    applications = Gauge(
        "spark_gateway_applications",
        "Applications the gateway tracks (not deleted), by cluster and operator state",
        ["cluster", "state"],
        registry=registry,
    )
    for (cluster_name, state), count in figures.applications.items():
        applications.labels(cluster_name, state).set(count)
    deliveries = Gauge(
        "spark_gateway_webhook_deliveries",
        "Webhook deliveries kept (webhooks.keepDays) by outcome: sent, failed (given up), pending",
        ["outcome"],
        registry=registry,
    )
    events = Gauge(
        "spark_gateway_webhook_events_pending",
        "Application ends not yet turned into webhook deliveries",
        registry=registry,
    )
    counts = figures.webhooks
    deliveries.labels("sent").set(counts["delivered"])
    deliveries.labels("failed").set(counts["failed"])
    deliveries.labels("pending").set(counts["pending"])
    events.set(counts["events"])
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
