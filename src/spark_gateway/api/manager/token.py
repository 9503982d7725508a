"""The SparkManager API's bearer token: every request but /health and /ready must carry it.

Why: a SparkManager creates and deletes SparkApplications and serves driver logs of every user, and pods
in its cluster can reach it; only the gateway, which has authorized the caller already, may call it. The
token is shared through `sparkManager.apiTokenFile` or SPARK_MANAGER_API_TOKEN (`Settings.manager_api_token`);
a manager without one refuses to start unless `sparkManager.allowUnauthenticatedApi` is true. Liveness and
readiness stay open (kubelet probes and the gateway's routing use them; they reveal nothing but the
cluster's name); the metrics need the token like the API.
"""

from __future__ import annotations

import hmac
import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from spark_gateway.domain.errors import ConfigError
from spark_gateway.settings import MANAGER_TOKEN_ENV, Settings

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/ready"})
CHALLENGE = 'Bearer realm="spark-manager"'


def required_token(settings: Settings) -> str | None:
    """The token a manager must require; None only when `allowUnauthenticatedApi` says so."""
    token = settings.manager_api_token()
    if token is None and not settings.sparkManager.allowUnauthenticatedApi:
        raise ConfigError(
            "the SparkManager API needs a token: set sparkManager.apiTokenFile (a file holding it) or the "
            f"environment variable {MANAGER_TOKEN_ENV}, or sparkManager.allowUnauthenticatedApi: true "
            "to run without one"
        )
    if token is None:
        log.warning("the SparkManager API is unauthenticated (sparkManager.allowUnauthenticatedApi)")
    return token


class BearerTokenGuard:
    """ASGI middleware: 401 with a JSON body unless `Authorization: Bearer <token>` matches."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if hmac.compare_digest(presented, self.expected):
            await self.app(scope, receive, send)
            return
        message = "missing SparkManager API token" if not presented else "wrong SparkManager API token"
        response = JSONResponse({"error": message}, status_code=401, headers={"WWW-Authenticate": CHALLENGE})
        await response(scope, receive, send)
