"""Pages of the v1 application list: a `limit` and an opaque continue token, as Kubernetes lists do.

The token names the last application of the page served (its creation time and gateway id), so the
next page is one index range whatever the history size, and applications created meanwhile never
shift a page (they sort before the first page). Callers repeat their filters with the token.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from spark_gateway.db import lists
from spark_gateway.domain.errors import BadRequest
from spark_gateway.domain.records import ApplicationRecord
from spark_gateway.services.applications import V1_LIST_LIMIT, Caller
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.stored import application_record

# One cap for every page (the conf policy's V1_LIST_LIMIT): a caller that passes no limit, or a
# larger one, gets at most this many (Kubernetes too may return fewer than asked).
DEFAULT_LIMIT = MAX_LIMIT = V1_LIST_LIMIT


@dataclass
class ApplicationPage:
    records: list[ApplicationRecord]
    continue_token: str | None  # None: this was the last page


def encode_token(created_at: datetime, gateway_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), gateway_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created, gateway_id = json.loads(raw)
        if not isinstance(created, str) or not isinstance(gateway_id, str):
            raise ValueError("not a token")
        return datetime.fromisoformat(created), gateway_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("invalid continue token: pass back the one a list answered") from exc


async def list_applications(
    gateway: GatewayRuntime,
    caller: Caller,
    *,
    cluster: str | None,
    namespace: str | None,
    limit: int | None = None,
    token: str | None = None,
) -> ApplicationPage:
    cluster_id = None
    if cluster is not None:
        config = gateway.settings.cluster_by_name(cluster) or gateway.settings.cluster_by_id(cluster)
        if config is None:
            raise BadRequest(f"cluster '{cluster}' is not configured")
        cluster_id = config.id
    size = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
    after = decode_token(token) if token else None
    async with gateway.db.transaction() as session:
        rows = await lists.list_applications(
            session,
            cluster_id=cluster_id,
            namespace=namespace,
            owner=gateway.access.visible_owner_filter(caller.user),
            limit=size + 1,  # one more tells whether another page follows
            after=after,
        )
    records = [application_record(r) for r in rows[:size]]
    more = len(rows) > size
    last = rows[size - 1] if more else None
    return ApplicationPage(records, encode_token(last.created_at, last.gateway_id) if last else None)
