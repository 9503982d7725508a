"""Typed views of the gateway's answers: Livy batches and native (v1) applications.

Each keeps the JSON it came from in `raw`, so fields this client does not know yet stay reachable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Livy states after which a batch never changes again (`finished` is the seed gateway's dialect).
LIVY_FINAL_STATES = frozenset({"success", "error", "dead", "killed", "finished"})
LIVY_SUCCESS_STATES = frozenset({"success", "finished"})
#: spark-operator states after which an application never changes again (unless its spec changes).
APP_FINAL_STATES = frozenset({"COMPLETED", "FAILED"})
APP_SUCCESS_STATES = frozenset({"COMPLETED"})


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Batch:
    """A Livy batch (`GET /batches/{id}`)."""

    id: int
    state: str
    name: str | None = None
    owner: str | None = None
    proxy_user: str | None = None
    app_id: str | None = None
    app_info: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Batch:
        return cls(
            id=int(data["id"]),
            state=str(data.get("state") or ""),
            name=_str(data.get("name")),
            owner=_str(data.get("owner")),
            proxy_user=_str(data.get("proxyUser")),
            app_id=_str(data.get("appId")),
            app_info=dict(data.get("appInfo") or {}),
            log=list(data.get("log") or []),
            raw=data,
        )

    @property
    def is_final(self) -> bool:
        return self.state in LIVY_FINAL_STATES

    @property
    def spark_ui_url(self) -> str | None:
        return _str(self.app_info.get("sparkUiUrl"))

    @property
    def gateway_id(self) -> str | None:
        return _str(self.app_info.get("GatewayId"))

    @property
    def cluster(self) -> str | None:
        return _str(self.app_info.get("Cluster"))


@dataclass(frozen=True)
class BatchPage:
    """One page of `GET /batches`: `total` counts every batch the caller may see."""

    offset: int
    total: int
    batches: list[Batch]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchPage:
        sessions = [Batch.from_json(s) for s in data.get("sessions") or []]
        return cls(int(data.get("from") or 0), int(data.get("total") or 0), sessions)


@dataclass(frozen=True)
class LogPage:
    """Lines `[offset, offset + len(lines))` of a batch's stored driver log, of `total` lines."""

    id: int
    offset: int
    total: int
    lines: list[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogPage:
        return cls(int(data["id"]), int(data.get("from") or 0), int(data.get("total") or 0), data["log"])


@dataclass(frozen=True)
class Application:
    """A native application (`GET /api/v1/applications/{gatewayId}` or an entry of the list)."""

    gateway_id: str
    state: str
    name: str | None = None
    namespace: str | None = None
    cluster: str | None = None
    user: str | None = None
    spark_app_id: str | None = None
    urls: dict[str, str | None] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Application:
        # A create/get answer wraps the resource in `sparkApplication`; a list entry is flat.
        resource = data.get("sparkApplication") or data
        metadata = resource.get("metadata") or {}
        status = dict(resource.get("status") or {})
        return cls(
            gateway_id=str(data["gatewayId"]),
            state=application_state(status),
            name=_str(metadata.get("name")),
            namespace=_str(metadata.get("namespace")),
            cluster=_str(data.get("cluster")),
            user=_str(data.get("user")),
            spark_app_id=_str(status.get("sparkApplicationId")),
            urls=dict(data.get("sparkLogURLs") or {}),
            status=status,
            raw=data,
        )

    @property
    def is_final(self) -> bool:
        return self.state in APP_FINAL_STATES

    @property
    def spark_ui_url(self) -> str | None:
        return _str(self.urls.get("sparkUI"))


def application_state(status: dict[str, Any]) -> str:
    """The operator state of a v1 status (`""` while the application is new)."""
    return str((status.get("applicationState") or {}).get("state") or "")
