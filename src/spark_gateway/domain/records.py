"""What the services hand to the API: a stored application, independent of the database row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from spark_gateway.domain.states import AppState
from spark_gateway.domain.status import SparkApplicationStatus


@dataclass
class ApplicationRecord:
    gateway_id: str
    cluster_id: str
    cluster_name: str
    namespace: str
    owner: str | None
    proxy_user: str | None
    name: str | None
    source: str
    spec: dict[str, Any]  # the whole SparkApplication as submitted (apiVersion, kind, metadata, spec)
    status: SparkApplicationStatus
    state: AppState
    error_message: str | None
    spark_app_id: str | None
    created_at: datetime
    terminated_at: datetime | None
    batch_id: int | None = None
    session_id: int | None = None  # set where the reader joined livy_sessions (the console's table)
    urls: dict[str, str | None] = field(default_factory=dict)
    recent_log: list[str] = field(default_factory=list)  # the last lines, for Livy's batch view

    def spark_application(self) -> dict[str, Any]:
        """The SparkApplication with its current status, as the operator would show it."""
        body = dict(self.spec)
        body["status"] = self.status
        return body


@dataclass
class LogPage:
    offset: int
    total: int
    lines: list[str]
