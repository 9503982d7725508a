"""Small ASGI helpers shared by the security middlewares: paths, headers, and JSON error replies.

The middlewares answer some requests themselves (401, 403, 413, CSRF 400) before any route runs, so
they need to render errors the way routes do: `{"msg": ...}` under `/api/livy` (Livy's shape),
`{"error": ...}` everywhere else (the reference gateway's v1 shape). Keeping that here means every
guard picks the same shape for the same path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.types import Scope, Send

LIVY_PREFIX = "/api/livy"
STATE_KEY = "state"

#: Paths open without authentication unless `gateway.authorization.protect*` says otherwise.
HEALTH_PATHS = frozenset({"/health", "/ready"})  # liveness and readiness probes carry no credentials
#: Swagger UI's and ReDoc's scripts and styles, served by the gateway (see `spark_gateway.api.docs`).
DOCS_ASSETS_PREFIX = "/docs/assets/"
DOCS_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
DOCS_PATHS = frozenset(
    {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
    | {DOCS_ASSETS_PREFIX + name for name in DOCS_ASSETS}
)
METRICS_PATHS = frozenset({"/metrics"})


def app_path(scope: Scope) -> str:
    """The request path without the mount prefix (`root_path`), as routes see it."""
    path: str = scope.get("path", "") or "/"
    root: str = scope.get("root_path", "") or ""
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def is_livy_path(path: str) -> bool:
    return path == LIVY_PREFIX or path.startswith(LIVY_PREFIX + "/")


def error_body(path: str, message: str) -> dict[str, str]:
    """The error envelope for `path`: Livy's `msg` under /api/livy, `error` elsewhere."""
    return {"msg": message} if is_livy_path(path) else {"error": message}


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header `name` (lower-case bytes), or None when absent."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def header_values(scope: Scope, name: bytes) -> list[bytes]:
    return [bytes(value) for key, value in scope.get("headers", ()) if key == name]


def decode_header(value: bytes) -> str:
    """HTTP header bytes as text (latin-1 maps every byte, so nothing can fail here)."""
    return value.decode("latin-1")


def request_state(scope: Scope) -> dict[str, Any]:
    """`scope["state"]`, created if missing; Starlette's `request.state` reads and writes this dict."""
    state = scope.get(STATE_KEY)
    if not isinstance(state, dict):
        state = {}
        scope[STATE_KEY] = state
    return state


def client_address(scope: Scope) -> str | None:
    client = scope.get("client")
    if client:
        return str(client[0])
    return None


async def send_json(
    send: Send,
    status: int,
    body: Mapping[str, Any],
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode("ascii")),
        (b"cache-control", b"no-store"),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def send_error(
    scope: Scope,
    send: Send,
    status: int,
    message: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer the request with `status` and the path's error envelope."""
    await send_json(send, status, error_body(app_path(scope), message), headers)


def open_paths(*, protect_health: bool, protect_docs: bool, protect_metrics: bool) -> frozenset[str]:
    paths: set[str] = set()
    if not protect_health:
        paths |= HEALTH_PATHS
    if not protect_docs:
        paths |= DOCS_PATHS
    if not protect_metrics:
        paths |= METRICS_PATHS
    return frozenset(paths)
