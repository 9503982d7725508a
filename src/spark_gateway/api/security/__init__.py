"""Authentication, authorization inputs and hostile-input guards of the gateway, as pure ASGI middleware.

The app factory installs the whole chain with one call, `install_security(app, settings)`; all
configuration is validated right then, so a bad `gateway.middleware` entry stops start-up. Request
order, outermost first:

    SecurityHeaders -> Audit -> Authentication -> JsonBody (if authentication is configured)
        -> CSRF (if livy.csrfProtection) -> BodyLimit -> app

Modules: `auth_chain` runs the `gateway.middleware` entries, which live in `secret_auth` (htpasswd,
service tokens) and `name_auth` (allow/deny lists, a trusted proxy's header) on top of `identity`
(the trust rule) and `credentials` (parsing and secrets); `request_guards`, `response_headers` and
`audit` do not depend on who the caller is. Every refusal is a domain error rendered by `api.errors`.

Routes read the caller with `current_user(request)` (or `request.state.user`) and may add ids to the
audit line with `audit_note(request, gateway_id=..., batch_id=...)`. Services get their authorization
rules from `access_policy(settings)` (see `spark_gateway.domain.access`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from spark_gateway.api.security.audit import AUDIT_STATE_KEY, AuditLog, AuditMiddleware, check_writable
from spark_gateway.api.security.auth_chain import AuthenticationMiddleware, build_authenticators
from spark_gateway.api.security.identity import Authenticator
from spark_gateway.api.security.request_guards import BodyLimitMiddleware, CsrfMiddleware, JsonBodyMiddleware
from spark_gateway.api.security.response_headers import SecurityHeadersMiddleware
from spark_gateway.api.security.scope_info import open_paths
from spark_gateway.domain.access import AccessPolicy
from spark_gateway.settings import Settings

__all__ = [
    "SecurityChain",
    "SecurityMiddleware",
    "access_policy",
    "audit_note",
    "build_security",
    "check_security",
    "current_user",
    "install_security",
]

StarletteT = TypeVar("StarletteT", bound=Starlette)


@dataclass(frozen=True)
class SecurityChain:
    """Everything the middlewares need, validated from settings once, at start."""

    authenticators: tuple[Authenticator, ...]
    open_paths: frozenset[str]
    max_body_bytes: int
    csrf_protection: bool
    audit_log: AuditLog

    @classmethod
    def from_settings(
        cls, settings: Settings, extra_open_paths: frozenset[str] = frozenset()
    ) -> SecurityChain:
        """Reads the secrets and opens the audit file; ConfigError names the bad key (`gateway.middleware[i]
        .conf...`, `gateway.auditLogFile`). The entries themselves were validated by `Settings`."""
        authorization = settings.gateway.authorization
        return cls(
            authenticators=tuple(build_authenticators(settings.gateway.middleware)),
            open_paths=open_paths(
                protect_health=authorization.protectHealth,
                protect_docs=authorization.protectDocs,
                protect_metrics=authorization.protectMetrics,
            )
            | extra_open_paths,
            max_body_bytes=settings.gateway.maxRequestBodyBytes,
            csrf_protection=settings.livy.csrfProtection,
            audit_log=AuditLog(settings.audit_log_path()),
        )

    def wrap(self, app: ASGIApp) -> ASGIApp:
        inner: ASGIApp = BodyLimitMiddleware(app, self.max_body_bytes)
        if self.csrf_protection:
            inner = CsrfMiddleware(inner)
        if self.authenticators:
            inner = JsonBodyMiddleware(inner)
        inner = AuthenticationMiddleware(inner, self.authenticators, self.open_paths)
        inner = AuditMiddleware(inner, self.audit_log)
        return SecurityHeadersMiddleware(inner)


class SecurityMiddleware:
    """The whole chain as one middleware class, for `app.add_middleware(SecurityMiddleware, chain=...)`."""

    def __init__(self, app: ASGIApp, chain: SecurityChain) -> None:
        self.app = chain.wrap(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def install_security(
    app: StarletteT, settings: Settings, *, extra_open_paths: frozenset[str] = frozenset()
) -> StarletteT:
    """Validate the security settings now and add the chain to a Starlette/FastAPI app; returns `app`.

    Call it after the routes are set up and before any middleware that must run outside the auth
    (e.g. CORS, so that pre-flight requests are answered without credentials).
    """
    chain = SecurityChain.from_settings(settings, extra_open_paths)
    app.add_middleware(SecurityMiddleware, chain=chain)
    return app


def build_security(
    app: ASGIApp, settings: Settings, *, extra_open_paths: frozenset[str] = frozenset()
) -> ASGIApp:
    """Wrap any ASGI app with the chain (for apps that are not Starlette, and for tests)."""
    return SecurityChain.from_settings(settings, extra_open_paths).wrap(app)


def check_security(settings: Settings) -> None:
    """What `install_security` refuses, without changing anything (for `check-config`)."""
    build_authenticators(settings.gateway.middleware)
    check_writable(settings.audit_log_path(), create=False)


def current_user(conn: HTTPConnection) -> str | None:
    """The authenticated user; None in anonymous mode (no auth configured) and on open paths."""
    user = conn.scope.get("state", {}).get("user")
    return user if isinstance(user, str) else None


def audit_note(conn: HTTPConnection, **fields: Any) -> None:
    """Add fields (e.g. `gateway_id`, `batch_id`, `proxy_user`, `action`) to this request's audit line."""
    state = conn.scope.setdefault("state", {})
    notes = state.setdefault(AUDIT_STATE_KEY, {})
    notes.update(fields)


def access_policy(settings: Settings) -> AccessPolicy:
    """The authorization rules for this configuration (anonymous mode when no auth is configured)."""
    authorization = settings.gateway.authorization
    return AccessPolicy.build(
        auth_enabled=bool(settings.gateway.middleware),
        admins=authorization.admins,
        viewers=authorization.viewers,
    )
