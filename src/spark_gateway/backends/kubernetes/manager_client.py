"""The gateway's side of a Kubernetes cluster: its SparkManager, reached over HTTP.

A gateway never talks to a Kubernetes API server itself. Each Kubernetes cluster runs one SparkManager
(`spark-gateway manager`), which creates, deletes and watches SparkApplications there and writes their
status to the shared database; the gateway only forwards create, delete and live-log requests to it.
Addresses follow the reference gateway: `http://<gateway.sparkManagerHostnameTemplate with
{{.clusterName}}>:<debugPorts[name].sparkManagerPort or sparkManagerPort>/api/v1/...`. Every failure
becomes a domain error: the SparkManager's own 4xx codes are kept, anything else (refused, timed out,
5xx) is `Unavailable`, so the API answers 503 and never a bare 500. Every call carries the managers'
bearer token (`Settings.manager_api_token`); a manager refusing it is a configuration error, reported so.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import quote

import httpx

from spark_gateway.backends.base import StatusUpdate, SubmitResult, TrackedApplication
from spark_gateway.domain.errors import (
    BadRequest,
    ConfigError,
    Conflict,
    GatewayError,
    Invalid,
    NotFound,
    Unavailable,
    Unreachable,
)
from spark_gateway.domain.sparkapp import SparkApplication
from spark_gateway.domain.status import state_of
from spark_gateway.settings import MANAGER_TOKEN_ENV, ClusterConfig, Settings

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}")
# A main file must say where it lives: an absolute path inside the image, or a URI (local://, s3a://, ...).
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CODES: dict[int, type[GatewayError]] = {
    400: BadRequest,
    404: NotFound,
    409: Conflict,
    422: Invalid,
}


# A pooled connection must be dropped by the client before the server closes it: reusing one the server
# has just closed fails the request with a ReadError (uvicorn's default keep-alive is only 5 s).
SERVER_KEEP_ALIVE_SECONDS = 75  # the SparkManager's uvicorn `timeout_keep_alive`
CLIENT_KEEP_ALIVE_SECONDS = 60  # the gateway's pool to it: always shorter


def render_hostname(template: str, cluster_name: str) -> str:
    """The reference gateway's Go template: `{{.clusterName}}` is the only field it offers."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) != ".clusterName":
            raise ConfigError(
                f"gateway.sparkManagerHostnameTemplate: unsupported action '{match.group(0)}' "
                "(only {{.clusterName}} is available)"
            )
        return cluster_name

    return _ACTION.sub(replace, template)


def manager_port(settings: Settings, cluster: ClusterConfig) -> int:
    debug = settings.debugPorts.get(cluster.name)
    if debug is not None and debug.sparkManagerPort is not None:
        return debug.sparkManagerPort
    return settings.sparkManagerPort


def metrics_port(settings: Settings, cluster: ClusterConfig) -> int:
    debug = settings.debugPorts.get(cluster.name)
    if debug is not None and debug.metricsPort is not None:
        return debug.metricsPort
    return settings.sparkManager.metricsServer.port


def manager_url(settings: Settings, cluster: ClusterConfig) -> str:
    host = render_hostname(settings.gateway.sparkManagerHostnameTemplate, cluster.name)
    return f"http://{host}:{manager_port(settings, cluster)}"


def metrics_url(settings: Settings, cluster: ClusterConfig) -> str:
    host = render_hostname(settings.gateway.sparkManagerHostnameTemplate, cluster.name)
    endpoint = "/" + settings.sparkManager.metricsServer.endpoint.lstrip("/")
    return f"http://{host}:{metrics_port(settings, cluster)}{endpoint}"


def manager_auth_headers(settings: Settings) -> dict[str, str]:
    """What every call to a SparkManager carries: its API token, when one is configured."""
    token = settings.manager_api_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def error_from_response(resp: httpx.Response, what: str) -> GatewayError:
    """The SparkManager's `{"error": ...}` with its status code kept for 400/404/409/422."""
    try:
        body = resp.json()
        message = str(body.get("error") or body) if isinstance(body, dict) else str(body)
    except ValueError:
        message = resp.text[:500] or resp.reason_phrase
    if resp.status_code == 401:
        return Unavailable(
            f"SparkManager {what} refused the gateway's API token ({message}): give the gateway and the "
            f"managers the same sparkManager.apiTokenFile or {MANAGER_TOKEN_ENV}"
        )
    cls = _CODES.get(resp.status_code)
    if cls is not None:
        return cls(message)
    retry = resp.headers.get("Retry-After", "")
    return Unavailable(
        f"SparkManager {what} failed with HTTP {resp.status_code}: {message}",
        retry_after=int(retry) if retry.isdigit() else 5,
    )


class SparkManagerBackend:
    """`ClusterBackend` for a Kubernetes cluster; its SparkManager tracks and records status."""

    kind = "kubernetes"

    def __init__(
        self, cluster: ClusterConfig, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.cluster = cluster
        self.base_url = manager_url(settings, cluster)  # validates the hostname template now
        self._timeout = settings.gateway.sparkManagerTimeoutSeconds
        self._headers = manager_auth_headers(settings)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # created on first use, inside the running event loop
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self._timeout,
                headers=self._headers,
                limits=httpx.Limits(
                    max_connections=100,
                    max_keepalive_connections=10,
                    keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS,
                ),
                transport=self._transport,
            )
        return self._client

    async def _call(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = await self._http().request(method, path, **kwargs)
        except httpx.ConnectError as exc:  # no connection: the request was never sent
            raise Unreachable(
                f"SparkManager of cluster '{self.cluster.name}' at {self.base_url} is unreachable: {exc!r}"
            ) from exc
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"SparkManager of cluster '{self.cluster.name}' at {self.base_url} is unreachable: {exc!r}"
            ) from exc
        if resp.status_code not in (200, 201):
            raise error_from_response(resp, what)
        return resp

    @staticmethod
    def _path(namespace: str, name: str, suffix: str = "") -> str:
        return f"/api/v1/{quote(namespace, safe='')}/{quote(name, safe='')}{suffix}"

    def validate(self, app: SparkApplication) -> None:
        main = app.spec.mainApplicationFile
        if not (main.startswith("/") or _URI.match(main)):
            raise BadRequest(
                f"mainApplicationFile '{main}' must be an absolute path in the image "
                "or a URI (local://, s3a://, https://, ...)"
            )

    async def submit(self, app: SparkApplication) -> SubmitResult:
        namespace, name = app.metadata.namespace or "", app.metadata.name or ""
        resp = await self._call("POST", self._path(namespace, name), "create", json=app.to_k8s())
        created = resp.json()
        state = state_of(created)
        meta = created.get("metadata") or {}
        ref = {"cluster": self.cluster.name, "uid": meta.get("uid")}
        return SubmitResult(backend_ref=ref, update=StatusUpdate(name, state))

    async def kill(self, tracked: TrackedApplication) -> None:
        # NotFound: gone already (deleted, or removed after its timeToLiveSeconds)
        with contextlib.suppress(NotFound):
            await self._call("DELETE", self._path(tracked.namespace, tracked.gateway_id), "delete")

    async def logs(self, tracked: TrackedApplication, lines: int) -> list[str] | None:
        try:
            resp = await self._call(
                "GET",
                self._path(tracked.namespace, tracked.gateway_id, "/logs"),
                "logs",
                params={"lines": lines},
            )
        except NotFound:
            return None
        text = resp.json()
        if not isinstance(text, str):
            raise Unavailable("SparkManager sent logs in an unexpected shape")
        return text.split("\n") if text else []

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
