"""The ASGI middleware that runs the configured authentication chain and publishes the user.

Routes never parse credentials: after this middleware `scope["state"]["user"]` (Starlette's
`request.state.user`) holds the authenticated name and `scope["state"]["auth_method"]` how it was
proven. With no `gateway.middleware` configured the gateway runs in anonymous mode, like Livy without
authentication: user `None`, method `"anonymous"`, nothing required. Otherwise every request outside
the open paths (health, docs, metrics unless protected) must end the chain with a user, or gets 401.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from spark_gateway.api.security.authenticators import (
    BASIC_CHALLENGE,
    Authenticator,
    HeaderAuth,
    Identified,
    RegexBasicAuthAllow,
    RegexBasicAuthDeny,
    Rejected,
)
from spark_gateway.api.security.common import app_path, client_address, request_state, send_error
from spark_gateway.api.security.credentials import RequestCredentials
from spark_gateway.api.security.secret_auth import BasicAuth, ServiceTokenAuth
from spark_gateway.domain.errors import ConfigError
from spark_gateway.settings import MiddlewareConfig

log = logging.getLogger("spark_gateway.security")

ANONYMOUS_METHOD = "anonymous"

REGISTRY: dict[str, Callable[[Mapping[str, Any], str], Authenticator]] = {
    cls.type_name: cls
    for cls in (RegexBasicAuthAllow, RegexBasicAuthDeny, HeaderAuth, ServiceTokenAuth, BasicAuth)
}


def build_authenticators(configs: Sequence[MiddlewareConfig]) -> list[Authenticator]:
    """Validate `gateway.middleware` and build the chain, in config order."""
    chain: list[Authenticator] = []
    for i, config in enumerate(configs):
        where = f"gateway.middleware[{i}]"
        factory = REGISTRY.get(config.type)
        if factory is None:
            known = ", ".join(sorted(REGISTRY))
            raise ConfigError(
                f"{where}.type: no builtin middleware with type [{config.type}] (known: {known})"
            )
        chain.append(factory(config.conf, where))
    types = {a.type_name for a in chain}
    if chain and not any(a.identifies for a in chain):
        log.warning("gateway.middleware has only deny lists: no request can authenticate")
    if RegexBasicAuthAllow.type_name in types and BasicAuth.type_name not in types:
        log.warning(
            "RegexBasicAuthAllowMiddleware trusts the Basic user name without checking the password; "
            "add a BasicAuthMiddleware before it unless a proxy verifies passwords"
        )
    return chain


class AuthenticationMiddleware:
    """Runs `authenticators` in order; later ones may overwrite the user an earlier one set."""

    def __init__(
        self, app: ASGIApp, authenticators: Sequence[Authenticator], open_paths: frozenset[str]
    ) -> None:
        self.app = app
        self.authenticators = list(authenticators)
        self.open_paths = open_paths
        challenges: list[str] = []
        for authenticator in self.authenticators:
            challenges += [c for c in authenticator.challenges if c not in challenges]
        self.challenges = challenges or [BASIC_CHALLENGE]

    @property
    def enabled(self) -> bool:
        return bool(self.authenticators)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = request_state(scope)
        state["user"] = None
        state["auth_method"] = None if self.enabled else ANONYMOUS_METHOD
        if not self.enabled or app_path(scope) in self.open_paths:
            await self.app(scope, receive, send)
            return

        creds = RequestCredentials(scope)
        user: str | None = None
        method: str | None = None
        for authenticator in self.authenticators:
            result = await authenticator.authenticate(creds, user)
            if isinstance(result, Rejected):
                self._log_failure(scope, authenticator, result)
                await self._reject(scope, send, result)
                return
            if isinstance(result, Identified):
                user, method = result.user, result.method

        if user is None:
            if creds.scheme == "basic":
                message = "invalid user name or password"
            elif creds.presented:
                message = "invalid credentials"
            else:
                message = "authentication required"
            rejection = Rejected(401, message)
            self._log_failure(scope, None, rejection)
            await self._reject(scope, send, rejection)
            return

        state["user"] = user
        state["auth_method"] = method
        await self.app(scope, receive, send)

    async def _reject(self, scope: Scope, send: Send, rejection: Rejected) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting makes the server refuse the handshake (HTTP 403).
            await send({"type": "websocket.close", "code": 1008, "reason": rejection.message[:120]})
            return
        headers: list[tuple[bytes, bytes]] = []
        if rejection.status == 401:
            challenges = [rejection.challenge] if rejection.challenge else self.challenges
            headers = [(b"www-authenticate", c.encode("latin-1")) for c in challenges]
        await send_error(scope, send, rejection.status, rejection.message, headers)

    @staticmethod
    def _log_failure(scope: Scope, authenticator: Authenticator | None, rejection: Rejected) -> None:
        # Only the public message (which never holds a secret), never the credentials themselves.
        log.info(
            "authentication failed: status=%s reason=%r by=%s client=%s path=%s",
            rejection.status,
            rejection.message,
            authenticator.where if authenticator else "chain",
            client_address(scope),
            app_path(scope)[:200],
        )
