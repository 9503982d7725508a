"""What the Livy batch and session routes share: paging and namespace parameters, and the JSON pieces
both answer with (`appInfo`, a log page, a delete), so batches and sessions keep one shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Query

from spark_gateway.domain.records import ApplicationRecord, LogPage

# `from` of a list page (an offset, 0 by default) and of a log page (None: the last `size` lines).
ListFrom = Annotated[int, Query(alias="from")]
LogFrom = Annotated[int | None, Query(alias="from")]
LivyNamespace = Annotated[
    str | None,
    Header(
        alias="X-Spark-Gateway-Livy-Namespace",
        json_schema_extra={"pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
    ),
]


def app_info(record: ApplicationRecord) -> dict[str, Any]:
    """Livy's `appInfo`, plus where the application runs."""
    return {
        "driverLogUrl": record.urls.get("logsUI"),
        "sparkUiUrl": record.urls.get("sparkUI"),
        "sparkHistoryUrl": record.urls.get("sparkHistoryUI"),
        "executorLogUrls": None,
        "GatewayId": record.gateway_id,
        "Cluster": record.cluster_name,
    }


def log_json(livy_id: int | None, page: LogPage, *, shown_from: int) -> dict[str, Any]:
    """A page of a driver log, as Livy's `/log` answers it."""
    return {
        "id": livy_id,
        "from": shown_from,
        "size": len(page.lines),
        "total": page.total,
        "log": page.lines,
    }


def deleted() -> dict[str, str]:
    return {"msg": "deleted"}
