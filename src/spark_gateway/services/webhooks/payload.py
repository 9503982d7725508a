"""What a webhook says: the event, the application with its final state, times and links; signed.

The body is built once, when the event is turned into deliveries, and stored: every retry sends (and
signs) the very same bytes. `X-Spark-Gateway-Signature: sha256=<hex>` is HMAC-SHA256 over those bytes
with the configured secret, so a receiver can check both origin and integrity.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from spark_gateway.db.models import ApplicationRow
from spark_gateway.domain.states import AppState, LivyDialect, livy_state
from spark_gateway.webhook_settings import BodyFormat, Event

KILLED_MESSAGE = "killed by user"  # services.applications records a kill with this message
SIGNATURE_HEADER = "X-Spark-Gateway-Signature"


def event_of(row: ApplicationRow, state: str) -> Event:
    if row.error_message == KILLED_MESSAGE:
        return "killed"
    return "completed" if AppState.parse(state) == AppState.COMPLETED else "failed"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def application_view(
    row: ApplicationRow, state: str, batch_id: int | None, urls: dict[str, str | None], dialect: LivyDialect
) -> dict[str, Any]:
    return {
        "gatewayId": row.gateway_id,
        "batchId": batch_id,
        "name": row.name,
        "source": row.source,
        "cluster": row.cluster_name,
        "namespace": row.namespace,
        "owner": row.owner,
        "proxyUser": row.proxy_user,
        "state": state,
        "livyState": livy_state(AppState.parse(state), dialect) if batch_id is not None else None,
        "errorMessage": row.error_message,
        "sparkAppId": row.spark_app_id,
        "createdAt": _iso(row.created_at),
        "submittedAt": _iso(row.submitted_at),
        "terminatedAt": _iso(row.terminated_at),
        "appInfo": {
            "sparkUiUrl": urls.get("sparkUI"),
            "sparkHistoryUrl": urls.get("sparkHistoryUI"),
            "driverLogUrl": urls.get("logsUI"),
        },
    }


def build_body(event: Event, application: dict[str, Any], fmt: BodyFormat, event_id: int) -> str:
    if fmt == "slack":
        what = f"batch {application['batchId']}" if application["batchId"] is not None else "application"
        name = f" ({application['name']})" if application["name"] else ""
        link = application["appInfo"]["sparkHistoryUrl"] or application["appInfo"]["sparkUiUrl"]
        text = (
            f"Spark {what}{name} {application['gatewayId']} {event}: {application['state']}"
            f" on {application['cluster']}/{application['namespace']}"
            + (f" - {application['errorMessage']}" if application["errorMessage"] else "")
            + (f" <{link}|Spark UI>" if link else "")
        )
        return json.dumps({"text": text})
    body = {"event": f"application.{event}", "eventId": event_id, "application": application}
    return json.dumps(body, separators=(",", ":"))


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
