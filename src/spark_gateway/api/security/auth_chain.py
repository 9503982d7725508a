"""The authentication chain (`gateway.middleware`, in config order) as one pure ASGI middleware.

Routes never parse credentials: after this middleware `scope["state"]["user"]` (Starlette's
`request.state.user`) holds the established user and `scope["state"]["auth_method"]` how it was
proven. With no `gateway.middleware` configured the gateway runs in anonymous mode, like Livy without
authentication: user `None`, method `"anonymous"`, nothing required. Otherwise every request outside
the open paths (health, docs, metrics unless protected) needs a user that an entry verified or a
trusted proxy vouched for (see `identity`), or it gets 401; credentials nobody verified are a 401 too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from spark_gateway.api.errors import app_path, render_error, status_of
from spark_gateway.api.security.credentials import RequestCredentials
from spark_gateway.api.security.identity import (
    BAD_PASSWORD,
    BAD_SERVICE,
    BASIC_CHALLENGE,
    Authenticator,
    Identity,
)
from spark_gateway.api.security.name_auth import HeaderAuth, RegexBasicAuthAllow, RegexBasicAuthDeny
from spark_gateway.api.security.scope_info import request_state
from spark_gateway.api.security.secret_auth import SERVICE_HEADER, BasicAuth, ServiceTokenAuth
from spark_gateway.domain.errors import GatewayError, Unauthorized
from spark_gateway.middleware_settings import MiddlewareEntry

log = logging.getLogger("spark_gateway.security")

ANONYMOUS_METHOD = "anonymous"

REGISTRY: dict[str, Callable[..., Authenticator]] = {
    cls.type_name: cls
    for cls in (RegexBasicAuthAllow, RegexBasicAuthDeny, HeaderAuth, ServiceTokenAuth, BasicAuth)
}


def build_authenticators(entries: Sequence[MiddlewareEntry]) -> list[Authenticator]:
    """The chain, in config order (entries are validated by settings; this reads their secrets)."""
    return [REGISTRY[entry.type](entry.conf, f"gateway.middleware[{i}]") for i, entry in enumerate(entries)]


class AuthenticationMiddleware:
    """Establishes the user (first entry that does wins), then lets every entry filter it."""

    def __init__(
        self, app: ASGIApp, authenticators: Sequence[Authenticator], open_paths: frozenset[str]
    ) -> None:
        self.app = app
        self.authenticators = list(authenticators)
        self.open_paths = open_paths
        challenges: list[str] = []
        for authenticator in self.authenticators:
            challenges += [c for c in authenticator.challenges if c not in challenges]
        self.challenges = tuple(challenges or [BASIC_CHALLENGE])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = request_state(scope)
        state["user"] = None
        state["auth_method"] = None if self.authenticators else ANONYMOUS_METHOD
        if not self.authenticators or app_path(scope) in self.open_paths:
            await self.app(scope, receive, send)
            return
        try:
            identity = await self._authenticate(RequestCredentials(scope))
        except GatewayError as exc:
            await self._refuse(scope, receive, send, exc)
            return
        state["user"] = identity.user
        state["auth_method"] = identity.method
        await self.app(scope, receive, send)

    async def _authenticate(self, creds: RequestCredentials) -> Identity:
        identity: Identity | None = None
        for authenticator in self.authenticators:
            if identity is None:
                try:
                    identity = await authenticator.identify(creds)
                except GatewayError as exc:
                    self._log_failure(creds, authenticator.where, exc)
                    raise
        if identity is None:
            missing = Unauthorized(self._missing_message(creds))
            self._log_failure(creds, "chain", missing)
            raise missing
        for authenticator in self.authenticators:
            try:
                authenticator.check(identity)
            except GatewayError as exc:
                self._log_failure(creds, authenticator.where, exc)
                raise
        return identity

    @staticmethod
    def _missing_message(creds: RequestCredentials) -> str:
        if creds.header(SERVICE_HEADER):
            return BAD_SERVICE
        if creds.scheme == "basic":
            return BAD_PASSWORD
        if creds.scheme is not None:
            return "invalid credentials"
        return "authentication required"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: GatewayError) -> None:
        if isinstance(exc, Unauthorized):
            # Every 401 offers the chain's schemes, whichever entry refused: answers must not differ.
            exc.challenges = self.challenges
        if scope["type"] == "websocket":
            # Closing before accepting makes the server refuse the handshake (HTTP 403).
            await send({"type": "websocket.close", "code": 1008, "reason": exc.message[:120]})
            return
        await render_error(scope, exc)(scope, receive, send)

    @staticmethod
    def _log_failure(creds: RequestCredentials, where: str, exc: GatewayError) -> None:
        # Only the public message (which never holds a secret), never the credentials themselves.
        log.info(
            "authentication failed: status=%s reason=%r by=%s client=%s path=%s",
            status_of(exc),
            exc.message,
            where,
            creds.client,
            creds.path[:200],
        )
