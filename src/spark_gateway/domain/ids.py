"""Gateway ids: `<clusterId>-<namespaceId>-<UUIDv7>`.

The cluster and namespace ids are short configured tokens, so an id alone tells which cluster owns an
application, and UUIDv7 sorts by creation time.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import uuid_utils

from spark_gateway.domain.errors import BadRequest

SHORT_ID_PATTERN = re.compile(r"^[a-z0-9]{1,12}$")
_GATEWAY_ID_PATTERN = re.compile(
    r"^(?P<cluster>[a-z0-9]{1,12})-(?P<namespace>[a-z0-9]{1,12})-"
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


def is_valid_short_id(value: str) -> bool:
    """Cluster and namespace ids: lowercase letters and digits, 1 to 12 characters."""
    return bool(SHORT_ID_PATTERN.fullmatch(value))


@dataclass(frozen=True)
class GatewayId:
    cluster_id: str
    namespace_id: str
    uuid: uuid.UUID

    def __str__(self) -> str:
        return f"{self.cluster_id}-{self.namespace_id}-{self.uuid}"


def new_gateway_id(cluster_id: str, namespace_id: str) -> str:
    return str(GatewayId(cluster_id, namespace_id, uuid.UUID(str(uuid_utils.uuid7()))))


def parse_gateway_id(value: str) -> GatewayId:
    match = _GATEWAY_ID_PATTERN.fullmatch(value)
    if match is None:
        raise BadRequest(f"invalid gatewayId '{value}', format must be 'cluster-namespace-uuid'")
    return GatewayId(match["cluster"], match["namespace"], uuid.UUID(match["uuid"]))
