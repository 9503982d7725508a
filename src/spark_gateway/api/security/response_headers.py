"""Livy's security headers on every response, with a CSP that leaves the Swagger UI and ReDoc pages
(which start them with inline scripts) alone, and HSTS when served over HTTPS."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from spark_gateway.api.errors import app_path
from spark_gateway.api.response_start import HttpMiddleware
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


def _raw(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((key.encode("latin-1"), value.encode("latin-1")) for key, value in headers)


# The headers to add, by (docs page, HTTPS): encoded once, not per response.
_EXTRA = {
    (docs, https): _raw(
        SECURITY_HEADERS
        + (() if docs else (("content-security-policy", CONTENT_SECURITY_POLICY),))
        + ((HSTS,) if https else ())
    )
    for docs in (False, True)
    for https in (False, True)
}


class SecurityHeadersMiddleware(HttpMiddleware):
    """Adds the security headers to every HTTP response unless the route already set them."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Swagger UI's and ReDoc's pages start them with inline scripts: no CSP there.
        extra = _EXTRA[app_path(scope) in DOCS_PATHS, scope.get("scheme") == "https"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _ in headers}
                headers += [pair for pair in extra if pair[0] not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
