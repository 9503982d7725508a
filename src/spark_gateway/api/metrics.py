"""The gateway's Prometheus endpoint: stored applications by cluster and state, read at scrape time.

Counts come from the database, so every replica reports the same figures and nothing is lost when a
replica restarts. Open or protected by `gateway.authorization.protectMetrics`.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from spark_gateway.api.deps import Runtime
from spark_gateway.db import repository as repo
from spark_gateway.db import webhooks as webhook_outbox

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(rt: Runtime) -> Response:
    registry = CollectorRegistry()
    applications = Gauge(
        "spark_gateway_applications",
        "Applications the gateway tracks (not deleted), by cluster and operator state",
        ["cluster", "state"],
        registry=registry,
    )
    for cluster in rt.settings.clusters:
        applications.labels(cluster.name, "NEW")  # a series per cluster even before its first app
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
    async with rt.db.transaction() as session:
        for cluster_name, state, count in await repo.count_by_cluster_and_state(session):
            applications.labels(cluster_name, state or "NEW").set(count)
        counts = await webhook_outbox.delivery_counts(session)
    deliveries.labels("sent").set(counts["delivered"])
    deliveries.labels("failed").set(counts["failed"])
    deliveries.labels("pending").set(counts["pending"])
    events.set(counts["events"])
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
