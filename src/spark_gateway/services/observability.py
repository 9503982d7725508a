"""What the gateway's `/ready` and `/metrics` report, read from the database.

Why here: routers stay free of SQL. Both answers come from the shared database, so every replica
reports the same figures and nothing is lost when one restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from spark_gateway.db import repository
from spark_gateway.db import webhooks as webhook_outbox
from spark_gateway.db.availability import describe
from spark_gateway.services.gateway import GatewayRuntime

log = logging.getLogger(__name__)


async def database_answers(gateway: GatewayRuntime) -> bool:
    """True when the database answers a trivial query now."""
    try:
        async with gateway.db.transaction() as session:
            await repository.ping(session)
    except Exception as exc:
        log.warning("readiness: the database does not answer (%s)", describe(exc))
        return False
    return True


@dataclass(frozen=True)
class MetricsFigures:
    applications: dict[tuple[str, str], int]  # live ones per (cluster name, state; "NEW" for New)
    webhooks: dict[str, int]  # deliveries by outcome (delivered, failed, pending), events not expanded


async def metrics_figures(gateway: GatewayRuntime) -> MetricsFigures:
    """What a scrape reports, every configured cluster included: maintained counts, read on one
    connection without a transaction (a scrape changes nothing)."""

    async def reads(conn: AsyncConnection) -> MetricsFigures:
        applications = {(cluster.name, "NEW"): 0 for cluster in gateway.settings.clusters}
        for cluster_name, state, count in await repository.count_by_cluster_and_state(conn):
            applications[(cluster_name, state or "NEW")] = count
        return MetricsFigures(applications, await webhook_outbox.delivery_counts(conn))

    return await gateway.db.read(reads)
