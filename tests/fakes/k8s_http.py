"""The fake API server's HTTP layer: the API paths, query parameters and wire formats of Kubernetes.

Separate from the state (`k8s_store.py`) and from running the server (`k8s_server.py`): this is where
requests become store calls and errors become `Status` bodies, where a watch streams JSON lines (with
bookmarks, `timeoutSeconds`, and the 410 as an ERROR event as the real server sends it), and where
pod logs honour `container` and `tailLines`. Tests can also make it fail requests or require a token.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.k8s_store import (
    API_VERSION,
    CLOSE,
    DRIVER_CONTAINER,
    DROP,
    GROUP,
    KIND,
    PLURAL,
    K8sError,
    K8sStore,
    Watcher,
    not_found,
    parse_selector,
    rfc3339_nano,
    selector_matches,
)

_APPS = f"/apis/{API_VERSION}"
_GET_DELETE = ["GET", "DELETE"]
_FAILURE_REASONS = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


class _WatchDropped(Exception):
    """Raised inside a watch stream so uvicorn cuts the connection mid-body, like a dying API server."""


def _is_drop(exc: BaseException | None) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_is_drop(inner) for inner in exc.exceptions)
    return isinstance(exc, _WatchDropped)


class _HideDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _is_drop(record.exc_info[1]))


logging.getLogger("uvicorn.error").addFilter(_HideDrops())


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None


def _line(event_type: str, obj: dict[str, Any]) -> bytes:
    return (json.dumps({"type": event_type, "object": obj}) + "\n").encode()


async def _status_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, K8sError):
        code = getattr(exc, "status_code", 500)
        reason = {404: "NotFound", 405: "MethodNotAllowed"}.get(code, "InternalError")
        exc = K8sError(code, reason, "the server could not find the requested resource")
    return JSONResponse(exc.status(), status_code=exc.code)


class FakeApiServer(K8sStore):
    """The store behind an ASGI app (`asgi`) speaking the Kubernetes API."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.requests: list[RecordedRequest] = []
        self.log_requests: list[dict[str, str]] = []  # query and response size of every pod log read
        routes = [
            Route(f"{_APPS}/sparkapplications", self._collection, methods=["GET"]),
            Route(f"{_APPS}/namespaces/{{ns}}/sparkapplications", self._collection, methods=["GET", "POST"]),
            Route(f"{_APPS}/namespaces/{{ns}}/sparkapplications/{{name}}", self._item, methods=_GET_DELETE),
            Route("/api/v1/namespaces/{ns}/pods/{name}", self._pod, methods=_GET_DELETE),
            Route("/api/v1/namespaces/{ns}/pods/{name}/log", self._log, methods=["GET"]),
        ]
        handlers = {K8sError: _status_handler, 404: _status_handler, 405: _status_handler}
        self._app = Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]

    # HTTP handlers (on the server loop) -------------------------------------------------------------

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            query = dict(parse_qsl(scope["query_string"].decode()))
            auth = headers.get("authorization")
            self.requests.append(RecordedRequest(scope["method"], scope["path"], query, auth))
            error = None
            if self.token is not None and auth != f"Bearer {self.token}":
                error = K8sError(401, "Unauthorized", "Unauthorized")
            elif self.failures[0] > 0:
                count, code = self.failures
                self.failures = (count - 1, code)
                error = K8sError(code, _FAILURE_REASONS.get(code, "InternalError"), "injected failure")
            if error is not None:
                await JSONResponse(error.status(), status_code=error.code)(scope, receive, send)
                return
        await self._app(scope, receive, send)

    async def _collection(self, request: Request) -> Response:
        namespace = request.path_params.get("ns")
        params = request.query_params
        if request.method == "POST":
            try:
                body = json.loads(await request.body())
            except ValueError as exc:
                message = f"the body of the request was in an unknown format: {exc}"
                raise K8sError(400, "BadRequest", message) from None
            obj, warnings = self.create_app(namespace, body, strict=params.get("fieldValidation") == "Strict")
            if self.lost_creates > 0:  # stored, but the answer times out: the real server's 504
                self.lost_creates -= 1
                message = (
                    "Timeout: request did not complete within requested timeout - context deadline exceeded"
                )
                raise K8sError(504, "Timeout", message)
            response = JSONResponse(obj, status_code=201)
            for warning in warnings:
                response.headers.append("Warning", f"299 - {json.dumps(warning)}")
            return response
        selector = parse_selector(params.get("labelSelector", ""))
        if params.get("watch") in ("true", "1"):
            return self._watch(Watcher(namespace, selector), request)
        items = [
            copy.deepcopy(obj)
            for (ns, _), obj in sorted(self.apps.items())
            if namespace in (None, ns) and selector_matches(selector, obj["metadata"].get("labels") or {})
        ]
        meta = {"resourceVersion": str(self.rv)}
        body = {"apiVersion": API_VERSION, "kind": f"{KIND}List", "metadata": meta, "items": items}
        return JSONResponse(body)

    def _watch(self, watcher: Watcher, request: Request) -> Response:
        params = request.query_params
        since = params.get("resourceVersion", "")
        if since in ("", "0"):  # "get state and start at most recent": synthetic ADDED events first
            current = [obj for _, obj in sorted(self.apps.items())]
            backlog = [("ADDED", copy.deepcopy(obj)) for obj in current if watcher.matches(obj)]
        elif not since.isdigit():
            raise K8sError(400, "BadRequest", f'invalid resource version "{since}"')
        elif int(since) < self.compacted_rv:
            # Like the real API server: HTTP 200, then one ERROR event carrying the 410 Status.
            expired = K8sError(410, "Expired", f"too old resource version: {since} ({self.compacted_rv})")
            error_line = _line("ERROR", expired.status())
            return StreamingResponse(self._once(error_line), media_type="application/json")
        else:
            later = [(t, obj) for rv, t, obj in self.history if rv > int(since)]
            backlog = [(t, copy.deepcopy(obj)) for t, obj in later if watcher.matches(obj)]
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
        self.watchers.add(watcher)  # in the same step as the backlog, so no event falls between them
        stream = self._stream(watcher, backlog, bookmarks, timeout)
        return StreamingResponse(stream, media_type="application/json")

    @staticmethod
    async def _once(line: bytes) -> AsyncIterator[bytes]:
        yield line

    async def _stream(
        self, watcher: Watcher, backlog: list[tuple[str, Any]], bookmarks: bool, timeout: float | None
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            for event_type, obj in backlog:
                yield _line(event_type, obj)
            while True:
                waits = [self.bookmark_interval] if bookmarks else []
                waits += [] if deadline is None else [deadline - loop.time()]
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), min(waits) if waits else None)
                except TimeoutError:
                    if deadline is not None and loop.time() >= deadline:
                        return
                    meta = {"resourceVersion": str(self.rv)}
                    yield _line("BOOKMARK", {"kind": KIND, "apiVersion": API_VERSION, "metadata": meta})
                    continue
                if item is DROP:
                    raise _WatchDropped()
                if item is CLOSE:
                    return
                yield _line(*item)
        finally:
            self.watchers.discard(watcher)

    async def _item(self, request: Request) -> Response:
        key = (request.path_params["ns"], request.path_params["name"])
        if request.method == "DELETE":
            obj = self.remove_app(key)
            details = {"name": key[1], "group": GROUP, "kind": PLURAL, "uid": obj["metadata"]["uid"]}
            status = {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": details}
            return JSONResponse(status)
        if key not in self.apps:
            raise not_found(key[1])
        return JSONResponse(self.apps[key])

    async def _pod(self, request: Request) -> Response:
        key = (request.path_params["ns"], request.path_params["name"])
        if request.method == "DELETE":
            return JSONResponse(self.remove_pod(key))
        if key not in self.pods:
            raise not_found(key[1], "pods", "")
        return JSONResponse(self.pods[key])

    async def _log(self, request: Request) -> Response:
        ns, name = request.path_params["ns"], request.path_params["name"]
        pod = self.pods.get((ns, name))
        if pod is None:
            raise not_found(name, "pods", "")
        containers = [c["name"] for c in pod["spec"]["containers"]]
        container = request.query_params.get("container")
        if container is None and len(containers) > 1:
            choices = " ".join(containers)
            message = f"a container name must be specified for pod {name}, choose one of: [{choices}]"
            raise K8sError(400, "BadRequest", message)
        container = container or containers[0]
        if container not in containers:
            raise K8sError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        statuses = {s["name"]: s for s in pod.get("status", {}).get("containerStatuses", [])}
        state = statuses.get(container, {}).get("state") or {"waiting": {"reason": "ContainerCreating"}}
        if "waiting" in state:
            reason = state["waiting"].get("reason", "ContainerCreating")
            message = f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            raise K8sError(400, "BadRequest", message)
        # A copy: the body is streamed from a worker thread while the operator may append lines.
        lines = list(self.logs.get((ns, name), [])) if container == DRIVER_CONTAINER else []
        times = self._log_times((ns, name), len(lines))
        first = 0
        if (since := request.query_params.get("sinceTime")) is not None:
            try:
                moment = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            except ValueError:
                raise K8sError(400, "BadRequest", f'parsing time "{since}" as RFC3339 failed') from None
            first = bisect.bisect_left(times, int(moment.timestamp()) * 10**9)
        tail = request.query_params.get("tailLines")
        if tail is not None:
            if not tail.lstrip("-").isdigit():
                raise K8sError(400, "BadRequest", f'invalid tailLines "{tail}"')
            if int(tail) < 0:
                message = f'PodLogOptions "{name}" is invalid: tailLines: Invalid value: {tail}: must be >= 0'
                raise K8sError(422, "Invalid", message)
            first = max(first, len(lines) - int(tail))
        stamps = self._flag(request, "timestamps")
        limit = request.query_params.get("limitBytes")
        self.log_requests.append(dict(request.query_params))

        def body() -> Iterator[bytes]:  # lazily, as a kubelet streams it
            left = int(limit) if limit is not None else None
            for start in range(first, len(lines), 1000):
                end = min(start + 1000, len(lines))
                chunk = "".join(
                    f"{rfc3339_nano(times[i])} {lines[i]}\n" if stamps else f"{lines[i]}\n"
                    for i in range(start, end)
                ).encode()
                if left is not None:  # cut mid-line, as a kubelet does
                    chunk = chunk[:left]
                    left -= len(chunk)
                yield chunk
                if left == 0:
                    return

        return StreamingResponse(body(), media_type="text/plain")

    def _log_times(self, key: tuple[str, str], count: int) -> list[int]:
        """A time per line, given when a line is first served (a shorter log restarts the times)."""
        times = self.log_times.setdefault(key, [])
        if len(times) > count:
            times.clear()
        while len(times) < count:
            times.append(max(time.time_ns(), times[-1] + 1 if times else 0))
        return times

    @staticmethod
    def _flag(request: Request, name: str) -> bool:
        return request.query_params.get(name, "false").lower() == "true"
