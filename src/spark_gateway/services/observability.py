"""What the gateway's `/ready` and `/metrics` report, read from the database.

Why here: routers stay free of SQL. Both answers come from the shared database, so every replica
reports the same figures and nothing is lost when one restarts.
"""

from __future__ import annotations

import logging

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


async def applications_by_cluster_and_state(gateway: GatewayRuntime) -> dict[tuple[str, str], int]:
    """Live applications per (cluster name, operator state; "NEW" for New), every cluster included."""
    counts = {(cluster.name, "NEW"): 0 for cluster in gateway.settings.clusters}
    async with gateway.db.transaction() as session:
        for cluster_name, state, count in await repository.count_by_cluster_and_state(session):
            counts[(cluster_name, state or "NEW")] = count
    return counts


async def webhook_delivery_counts(gateway: GatewayRuntime) -> dict[str, int]:
    """Webhook deliveries by outcome (delivered, failed, pending) and events not yet expanded."""
    async with gateway.db.transaction() as session:
        return await webhook_outbox.delivery_counts(session)
