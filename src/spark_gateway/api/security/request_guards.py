"""Guards against hostile or accidental request bodies that do not depend on who the caller is.

* `BodyLimitMiddleware`: bodies above `gateway.maxRequestBodyBytes` get 413, checked on the declared
  Content-Length before anything is read AND on the bytes actually streamed (chunked uploads declare
  no length), so a route can never be made to buffer an unbounded body.
* `JsonBodyMiddleware` (on whenever authentication is configured): POST/PUT/PATCH must declare
  `Content-Type: application/json`, else 415. An HTML form on another site can only send
  `application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain`, so a browser holding the
  user's Basic credentials cannot be made to create or change anything. (`fetch` with JSON, DELETE or
  PUT needs a CORS preflight, which the gateway never grants: it sends no CORS headers.)
* `CsrfMiddleware`: Livy's `X-Requested-By` rule (`livy.csrfProtection`), for Livy compatibility.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spark_gateway.api.errors import render_error
from spark_gateway.domain.errors import BadRequest, GatewayError, PayloadTooLarge, UnsupportedMediaType

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON_MEDIA_TYPE = "application/json"
JSON_REQUIRED = (
    "request bodies must be JSON: send the header 'Content-Type: application/json' "
    "(got {got}; the gateway refuses other types to stop cross-site form posts)"
)
CSRF_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_MESSAGE = "Missing Required Header for CSRF protection."  # Livy's wording


async def refuse(scope: Scope, receive: Receive, send: Send, exc: GatewayError) -> None:
    await render_error(scope, exc)(scope, receive, send)


class BodyTooLarge(PayloadTooLarge):
    """Raised from `receive` once the streamed body passes the limit; the middleware answers 413."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = f"request body exceeds the limit of {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _has_no_body(scope):
            await self.app(scope, receive, send)
            return
        declared = {value.strip() for value in Headers(scope=scope).getlist("content-length")}
        if declared:
            value = next(iter(declared))
            if len(declared) > 1 or not value.isdigit():
                await refuse(scope, receive, send, BadRequest("invalid Content-Length header"))
                return
            if int(value) > self.max_bytes:
                await refuse(scope, receive, send, PayloadTooLarge(self.message))
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
            await refuse(scope, receive, send, PayloadTooLarge(self.message))


def _has_no_body(scope: Scope) -> bool:
    """An HTTP/1.x request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112
    6.3): nothing to limit, so most GETs skip the wrapping. (HTTP/2 frames a body without either.)"""
    if scope.get("http_version") not in ("1.0", "1.1"):
        return False
    return not any(name in _BODY_HEADERS for name, _ in scope["headers"])


_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


class JsonBodyMiddleware:
    """POST/PUT/PATCH need `Content-Type: application/json` (parameters such as charset allowed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in BODY_METHODS:
            declared = Headers(scope=scope).get("content-type")
            media_type = (declared or "").split(";", 1)[0].strip().lower()
            if media_type != JSON_MEDIA_TYPE:
                got = f"'{declared[:100]}'" if declared else "no Content-Type"
                await refuse(scope, receive, send, UnsupportedMediaType(JSON_REQUIRED.format(got=got)))
                return
        await self.app(scope, receive, send)


class CsrfMiddleware:
    """Non-GET/HEAD/OPTIONS requests must carry `X-Requested-By` (any value, even empty), like Livy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in CSRF_SAFE_METHODS
            and "x-requested-by" not in Headers(scope=scope)
        ):
            await refuse(scope, receive, send, BadRequest(CSRF_MESSAGE))
            return
        await self.app(scope, receive, send)
