"""The SparkManager's Kubernetes edge: SparkApplications and driver logs through the API server.

lightkube decides how to reach and authenticate to a cluster (kubeconfig contexts, exec plugins, client
certificates, rotating in-cluster tokens); the calls themselves go over its authenticated HTTP client as
plain JSON, because lightkube's watch cannot request bookmarks and its objects would have to be turned
back into dicts anyway. Every Kubernetes or transport error becomes a `spark_gateway.domain.errors`
exception here, so nothing above this module sees HTTP.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import yaml
from lightkube.config.client_adapter import AsyncClient as _authenticated_client
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import User
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from spark_gateway.backends.kubernetes.driver_pod import driver_pod_name, pod_belongs_to
from spark_gateway.domain.errors import (
    BadRequest,
    ConfigError,
    Conflict,
    GatewayError,
    Invalid,
    NotFound,
    Unavailable,
)
from spark_gateway.settings import ClusterConfig

GROUP, VERSION, PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"
DRIVER_CONTAINER = "spark-kubernetes-driver"
# kubeconfig entries whose values are paths, relative to the file that holds them
_FILE_KEYS = {
    "clusters": ("certificate-authority",),
    "contexts": (),
    "users": ("client-certificate", "client-key", "tokenFile"),
}
log = logging.getLogger(__name__)
_NO_LOG_YET = ("is waiting to start", "ContainerCreating", "PodInitializing")


class ResourceVersionExpired(Unavailable):
    """410 Gone/Expired: the resourceVersion is older than the server's history, so list again."""


@dataclass
class AppList:
    items: list[dict[str, Any]]
    resource_version: str


def error_from_status(code: int, status: Any, retry_after: str | None = None) -> GatewayError:
    """Map an API error (HTTP code plus `Status` body, if any) onto the gateway's exceptions."""
    status = status if isinstance(status, dict) else {}
    message = str(status.get("message") or f"HTTP {code}")
    reason = status.get("reason")
    if code == 410 or reason == "Expired":
        return ResourceVersionExpired(message)
    if code == 409:
        return Conflict(message)
    if code == 404:
        return NotFound(message)
    if code == 422:
        return Invalid(message)
    if code == 400:
        return BadRequest(message)
    if code in (401, 403):
        return Unavailable(f"the Kubernetes API refused the SparkManager's credentials ({code}): {message}")
    delay = int(retry_after) if retry_after and retry_after.isdigit() else 5
    return Unavailable(f"Kubernetes API error {code}: {message}", retry_after=delay)


def _load_kubeconfig() -> KubeConfig:
    """KUBECONFIG (a path list, first definition wins, as kubectl merges it) or ~/.kube/config."""
    env = os.environ.get("KUBECONFIG")
    paths = [Path(p).expanduser() for p in env.split(os.pathsep) if p] if env else []
    paths = paths or [Path("~/.kube/config").expanduser()]
    merged: dict[str, Any] = {"clusters": [], "contexts": [], "users": [], "current-context": None}
    seen: set[tuple[str, str]] = set()
    for path in [p for p in paths if p.is_file()]:
        data = yaml.safe_load(path.read_text()) or {}
        merged["current-context"] = merged["current-context"] or data.get("current-context")
        for section, files in _FILE_KEYS.items():
            for entry in data.get(section) or []:
                if (section, entry["name"]) in seen:
                    continue
                seen.add((section, entry["name"]))
                body = dict(entry.get(section[:-1]) or {})
                for key in [k for k in files if body.get(k)]:  # relative to its own file
                    body[key] = str(path.parent / Path(body[key]).expanduser())
                merged[section].append({"name": entry["name"], section[:-1]: body})
    if not seen:
        raise ConfigError(f"no kubeconfig found at {os.pathsep.join(map(str, paths))}")
    return KubeConfig.from_dict(merged)


def single_config(name: str, cluster: dict[str, Any], user: dict[str, Any]) -> SingleConfig:
    """One kubeconfig context from its `cluster` and `user` entries (kubeconfig spelling)."""
    conf = {
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }
    config = KubeConfig.from_dict(conf).get(name)
    assert config is not None
    return config


def load_cluster_config(cluster: ClusterConfig, auth_type: str = "kubeconfig") -> SingleConfig:
    """Connect as the reference gateway does: the kubeconfig context named like the cluster, or for
    `serviceaccount` the pod's own account (`certificateAuthorityB64File` empty or `incluster`) or an
    EKS token for `masterURL` (`insecure`, or the path of a file holding the base64 CA)."""
    try:
        if auth_type == "kubeconfig":
            config = _load_kubeconfig().get(context_name=cluster.name)
        elif (ca := (cluster.certificateAuthorityB64File or "").strip()).lower() in ("", "incluster"):
            config = KubeConfig.from_service_account().get()
        elif not cluster.masterURL:
            raise ConfigError(f"cluster '{cluster.name}': certificateAuthorityB64File needs masterURL")
        else:
            server: dict[str, Any] = {"server": cluster.masterURL}
            if ca.lower() == "insecure":
                server["insecure-skip-tls-verify"] = True
            else:
                server["certificate-authority-data"] = Path(ca).read_text().strip()
            # The Go gateway signs the EKS token in-process; the AWS CLI's exec plugin makes the same.
            args = ["eks", "get-token", "--cluster-name", cluster.name]
            exec_ = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": args}
            config = single_config(cluster.name, server, {"exec": exec_})
    except (LightkubeConfigError, OSError, KeyError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot configure access to cluster '{cluster.name}': {exc}") from exc
    assert config is not None
    return config


class K8sApi:
    """SparkApplications (`sparkoperator.k8s.io/v1beta2`) and driver pod logs, as plain dicts."""

    def __init__(self, client: httpx2.AsyncClient, *, server: str, timeout: float = 10.0) -> None:
        self._client = client
        self.server = server
        self._timeout = timeout

    @classmethod
    def from_config(cls, config: SingleConfig, *, timeout: float = 10.0) -> K8sApi:
        if config.user is None:  # lightkube's client needs a user entry, even an empty one
            config = config._replace(user=User())
        params = ConnectionParams(timeout=httpx2.Timeout(timeout))
        return cls(_authenticated_client(config, params), server=config.cluster.server, timeout=timeout)

    @classmethod
    def for_cluster(cls, cluster: ClusterConfig, auth_type: str = "kubeconfig", **kwargs: Any) -> K8sApi:
        return cls.from_config(load_cluster_config(cluster, auth_type), **kwargs)

    @classmethod
    def from_url(cls, url: str, *, token: str | None = None, timeout: float = 10.0) -> K8sApi:
        user = {"token": token} if token else {}
        return cls.from_config(single_config("direct", {"server": url}, user), timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> K8sApi:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # SparkApplications -------------------------------------------------------------------------------

    @staticmethod
    def _apps_path(namespace: str | None, name: str | None = None) -> str:
        path = f"apis/{GROUP}/{VERSION}/"
        path += f"namespaces/{quote(namespace, safe='')}/{PLURAL}" if namespace is not None else PLURAL
        return path + (f"/{quote(name, safe='')}" if name is not None else "")

    async def create_app(
        self, namespace: str, body: dict[str, Any], *, field_validation: str | None = "Strict"
    ) -> dict[str, Any]:
        """POST the object; with `Strict` an undeclared field is a 400 instead of silently dropped."""
        params = {"fieldValidation": field_validation} if field_validation else None
        return await self._json("POST", self._apps_path(namespace), params=params, body=body)

    async def get_app(self, namespace: str, name: str) -> dict[str, Any]:
        return await self._json("GET", self._apps_path(namespace, name))

    async def list_apps(self, namespace: str | None = None, label_selector: str | None = None) -> AppList:
        """One namespace, or all namespaces when `namespace` is None."""
        params = {"labelSelector": label_selector} if label_selector else None
        body = await self._json("GET", self._apps_path(namespace), params=params)
        return AppList(body.get("items") or [], str(body.get("metadata", {}).get("resourceVersion", "")))

    async def delete_app(self, namespace: str, name: str) -> None:
        await self._request("DELETE", self._apps_path(namespace, name))

    async def watch_apps(
        self,
        resource_version: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
        """Events after `resource_version` as (type, object), BOOKMARK included; ends when the server
        closes the stream. Raises ResourceVersionExpired (list again) or Unavailable (reconnect)."""
        params = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true"}
        params["timeoutSeconds"] = str(timeout_seconds)
        if label_selector:
            params["labelSelector"] = label_selector
        # A connection that dies silently is noticed once the server's own timeout has clearly passed.
        timeout = httpx2.Timeout(self._timeout, read=timeout_seconds + 30)
        try:
            async with self._client.stream(
                "GET", self._apps_path(namespace), params=params, timeout=timeout
            ) as resp:
                if resp.is_error:
                    await resp.aread()
                    raise self._error(resp)
                async for line in resp.aiter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":  # e.g. the 410 a real server sends inside a 200
                        status = event.get("object") or {}
                        raise error_from_status(int(status.get("code") or 500), status)
                    yield str(event["type"]), event["object"]
        except (httpx2.TransportError, LightkubeConfigError, OSError) as exc:  # OSError: exec plugin
            raise Unavailable(f"watch of {self.server} broke: {exc!r}") from exc
        except (ValueError, KeyError) as exc:
            raise Unavailable(f"watch of {self.server} sent an unreadable event: {exc!r}") from exc

    # Logs -------------------------------------------------------------------------------------------

    async def driver_log(self, app: dict[str, Any], tail_lines: int | None = None) -> list[str] | None:
        """The driver's last `tail_lines` log lines (all if None); None while there is no log yet, and
        when the pod the application names is not its own (`driver_pod.pod_belongs_to`)."""
        namespace, pod_name = app["metadata"]["namespace"], driver_pod_name(app)
        pod = await self.get_pod(namespace, pod_name)
        if pod is None:
            return None
        if not pod_belongs_to(pod, app):
            log.warning(
                "not reading pod %s/%s: it does not belong to SparkApplication %s",
                namespace,
                pod_name,
                app["metadata"].get("name"),
            )
            return None
        return await self.pod_log(namespace, pod_name, tail_lines=tail_lines)

    async def driver_pod(self, app: dict[str, Any]) -> dict[str, Any] | None:
        """The application's own driver pod (`driver_pod.pod_belongs_to`), or None."""
        pod = await self.get_pod(app["metadata"]["namespace"], driver_pod_name(app))
        return pod if pod is not None and pod_belongs_to(pod, app) else None

    async def pod_log_stream(
        self, namespace: str, pod: str, *, since_time: str | None, max_line_bytes: int
    ) -> AsyncGenerator[str, None]:
        """The driver container's log lines, kubelet-timestamped, from `since_time` (an RFC3339 second),
        read as a stream: memory holds one line, cut at `max_line_bytes`. Nothing while there is no log."""
        params = {"container": DRIVER_CONTAINER, "timestamps": "true"}
        if since_time is not None:
            params["sinceTime"] = since_time
        path = f"api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log"
        try:
            async with self._client.stream("GET", path, params=params) as resp:
                if resp.is_error:
                    await resp.aread()
                    error = self._error(resp)
                    if isinstance(error, NotFound):
                        return
                    if isinstance(error, BadRequest) and any(m in error.message for m in _NO_LOG_YET):
                        return
                    raise error
                pending, cutting = bytearray(), False  # cutting: dropping the rest of a long line
                async for chunk in resp.aiter_bytes():
                    pending += chunk
                    while True:
                        end = pending.find(b"\n")
                        if cutting:
                            if end < 0:
                                pending.clear()
                                break
                            del pending[: end + 1]
                            cutting = False
                        elif end >= 0:
                            yield pending[: min(end, max_line_bytes)].decode("utf-8", errors="replace")
                            del pending[: end + 1]
                        elif len(pending) > max_line_bytes:  # a line longer than the cap: keep its start
                            yield pending[:max_line_bytes].decode("utf-8", errors="replace")
                            pending.clear()
                            cutting = True
                        else:
                            break
                if pending and not cutting:
                    yield pending.decode("utf-8", errors="replace")
        except (httpx2.TransportError, LightkubeConfigError, OSError) as exc:
            raise Unavailable(f"reading a driver log from {self.server} failed: {exc!r}") from exc

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._json(
                "GET", f"api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}"
            )
        except NotFound:
            return None

    async def pod_log(
        self, namespace: str, pod: str, *, container: str = DRIVER_CONTAINER, tail_lines: int | None = None
    ) -> list[str] | None:
        params = {"container": container} | ({"tailLines": str(tail_lines)} if tail_lines is not None else {})
        path = f"api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log"
        try:
            resp = await self._request("GET", path, params=params)
        except NotFound:
            return None
        except BadRequest as exc:
            if any(marker in exc.message for marker in _NO_LOG_YET):
                return None
            raise
        return resp.text.splitlines()

    # Plumbing ---------------------------------------------------------------------------------------

    def _error(self, resp: httpx2.Response) -> GatewayError:
        try:
            status = resp.json()
        except ValueError:
            status = {"message": resp.text[:500] or resp.reason_phrase}
        return error_from_status(resp.status_code, status, resp.headers.get("Retry-After"))

    async def _request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, body: Any = None
    ) -> httpx2.Response:
        try:
            resp = await self._client.request(method, path, params=params, json=body)
        except (httpx2.TransportError, LightkubeConfigError, OSError) as exc:  # OSError: exec plugin
            raise Unavailable(f"cannot reach the Kubernetes API at {self.server}: {exc!r}") from exc
        if resp.is_error:
            raise self._error(resp)
        return resp

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = await self._request(method, path, **kwargs)
        try:
            body = resp.json()
        except ValueError as exc:
            raise Unavailable(f"the Kubernetes API at {self.server} sent invalid JSON") from exc
        if not isinstance(body, dict):
            raise Unavailable(f"the Kubernetes API at {self.server} sent an unexpected response")
        return body
