"""A stored application as the API sees it (`ApplicationRecord`) and as a backend sees it
(`TrackedApplication`): the one place each is built from its database row."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import Row

from spark_gateway.backends.base import TrackedApplication
from spark_gateway.db.models import ApplicationRow
from spark_gateway.domain.records import ApplicationRecord
from spark_gateway.domain.sparkapp import SparkApplication
from spark_gateway.domain.states import AppState
from spark_gateway.domain.status import SparkApplicationStatus


def application_record(
    row: ApplicationRow | Row[Any], batch_id: int | None = None, session_id: int | None = None
) -> ApplicationRecord:
    """From an ORM row, or a plain row of the application's columns (`repo.APPLICATION_COLUMNS`,
    the hot read path's Core statements)."""
    return ApplicationRecord(
        gateway_id=row.gateway_id,
        cluster_id=row.cluster_id,
        cluster_name=row.cluster_name,
        namespace=row.namespace,
        owner=row.owner,
        proxy_user=row.proxy_user,
        name=row.name,
        source=row.source,
        spec=row.spec,
        status=cast(SparkApplicationStatus, row.status or {}),
        state=AppState.parse(row.state),
        error_message=row.error_message,
        spark_app_id=row.spark_app_id,
        created_at=row.created_at,
        terminated_at=row.terminated_at,
        batch_id=batch_id,
        session_id=session_id,
    )


def tracked_application(row: ApplicationRow) -> TrackedApplication:
    """What a backend needs to find the application again, including its stored `backend_ref`."""
    return TrackedApplication(
        gateway_id=row.gateway_id,
        namespace=row.namespace,
        state=AppState.parse(row.state),
        backend_ref=dict(row.backend_ref or {}),
        app=SparkApplication.model_validate(row.spec),
    )
