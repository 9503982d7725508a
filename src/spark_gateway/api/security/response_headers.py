"""Livy's security headers on every response, with a CSP that leaves the Swagger UI and ReDoc pages
(which start them with inline scripts) alone, and HSTS when served over HTTPS."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Receive, Scope, Send

from spark_gateway.api.errors import app_path
from spark_gateway.api.response_start import HttpMiddleware, editing_headers
from spark_gateway.api.security.scope_info import DOCS_PATHS

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("referrer-policy", "no-referrer"),
)
HSTS = ("strict-transport-security", "max-age=31536000")


class SecurityHeadersMiddleware(HttpMiddleware):
    """Adds the security headers to every HTTP response unless the route already set them."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = list(SECURITY_HEADERS)
        if app_path(scope) not in DOCS_PATHS:
            # Swagger UI's and ReDoc's pages start them with inline scripts.
            extra.append(("content-security-policy", CONTENT_SECURITY_POLICY))
        if scope.get("scheme") == "https":
            extra.append(HSTS)

        def add_missing(headers: MutableHeaders) -> None:
            for key, value in extra:
                if key not in headers:
                    headers.append(key, value)

        await self.app(scope, receive, editing_headers(send, add_missing))
