"""What the security middlewares read from an ASGI scope besides headers: the caller's address, the
request state routes see as `request.state`, and which paths stay open without authentication."""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

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


def request_state(scope: Scope) -> dict[str, Any]:
    """`scope["state"]`, created if missing; Starlette's `request.state` reads and writes this dict."""
    state = scope.get(STATE_KEY)
    if not isinstance(state, dict):
        state = {}
        scope[STATE_KEY] = state
    return state


def client_address(scope: Scope) -> str | None:
    """The peer's address (uvicorn runs with proxy_headers off, so no client can choose it)."""
    client = scope.get("client")
    if client:
        return str(client[0])
    return None


def open_paths(*, protect_health: bool, protect_docs: bool, protect_metrics: bool) -> frozenset[str]:
    paths: set[str] = set()
    if not protect_health:
        paths |= HEALTH_PATHS
    if not protect_docs:
        paths |= DOCS_PATHS
    if not protect_metrics:
        paths |= METRICS_PATHS
    return frozenset(paths)
