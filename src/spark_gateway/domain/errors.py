"""The one exception hierarchy of the gateway.

Every layer raises these (backends wrap third-party errors into them at their edge); `api.errors` maps
each class to an HTTP status in one place, so no route decides status codes on its own.
"""

from __future__ import annotations

RETRY_AFTER_SECONDS = 3  # what a 503 tells clients unless the failing dependency said otherwise


class GatewayError(Exception):
    """Base class: a failure the gateway can explain to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(GatewayError):
    """The request is malformed or names something that cannot be used (400)."""


class Unauthorized(GatewayError):
    """No or wrong credentials (401); `challenges` become the `WWW-Authenticate` headers."""

    def __init__(
        self, message: str, challenge: str | tuple[str, ...] = 'Basic realm="spark-gateway"'
    ) -> None:
        super().__init__(message)
        self.challenges = (challenge,) if isinstance(challenge, str) else challenge


class Forbidden(GatewayError):
    """Authenticated, but not allowed to do this (403)."""


class NotFound(GatewayError):
    """The named object does not exist, or not for this caller (404)."""


class Conflict(GatewayError):
    """The object exists already, or the change conflicts with its state (409)."""


class PayloadTooLarge(GatewayError):
    """The request body exceeds the configured limit (413)."""


class UnsupportedMediaType(GatewayError):
    """The request body is not in a media type the gateway accepts (415)."""


class Invalid(GatewayError):
    """Well-formed but semantically invalid, e.g. rejected by the CRD schema (422)."""


class Unavailable(GatewayError):
    """A dependency (database, cluster, SparkManager) cannot be reached now (503)."""

    def __init__(self, message: str, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unreachable(Unavailable):
    """The dependency could not even be connected to: nothing was sent, so another one may be tried."""


class ConfigError(Exception):
    """Invalid configuration; stops start-up with a message naming the bad key."""
