"""Guards against hostile or accidental input that do not depend on who the caller is.

* `BodyLimitMiddleware`: bodies above `gateway.maxRequestBodyBytes` get 413, checked on the declared
  Content-Length before anything is read AND on the bytes actually streamed (chunked uploads declare
  no length), so a route can never be made to buffer an unbounded body.
* `CsrfMiddleware`: Livy's `X-Requested-By` rule (`livy.csrfProtection`), for browsers that could be
  tricked into posting to the gateway.
* `SecurityHeadersMiddleware`: Livy's security headers on every response, with a CSP that leaves the
  Swagger UI and ReDoc pages (whose HTML starts them with inline scripts) alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spark_gateway.api.security.common import DOCS_PATHS, app_path, header, header_values, send_error
from spark_gateway.domain.errors import PayloadTooLarge

CSRF_HEADER = b"x-requested-by"
CSRF_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_MESSAGE = "Missing Required Header for CSRF protection."  # Livy's wording

CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"no-referrer"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")


class BodyTooLarge(PayloadTooLarge):
    """Raised from `receive` once the streamed body passes the limit; the middleware answers 413."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = f"request body exceeds the limit of {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = {value.strip() for value in header_values(scope, b"content-length")}
        if declared:
            value = next(iter(declared))
            if len(declared) > 1 or not value.isdigit():
                await send_error(scope, send, 400, "invalid Content-Length header")
                return
            if int(value) > self.max_bytes:
                await send_error(scope, send, 413, self.message)
                return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge(self.message)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge(self.message)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's own error reply for BodyTooLarge; ours replaces it below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await send_error(scope, send, 413, self.message)


class CsrfMiddleware:
    """Non-GET/HEAD/OPTIONS requests must carry `X-Requested-By` (any value, even empty), like Livy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in CSRF_SAFE_METHODS
            and header(scope, CSRF_HEADER) is None
        ):
            await send_error(scope, send, 400, CSRF_MESSAGE)
            return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response unless the route already set them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(SECURITY_HEADERS)
        if app_path(scope) not in DOCS_PATHS:
            # Swagger UI's and ReDoc's pages start them with inline scripts.
            extra.append((b"content-security-policy", CONTENT_SECURITY_POLICY))
        if scope.get("scheme") == "https":
            extra.append(HSTS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(key).lower() for key, _ in headers}
                headers += [(key, value) for key, value in extra if key not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
