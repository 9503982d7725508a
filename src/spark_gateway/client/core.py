"""What the blocking and the asyncio client share: their options, connection and retry policy.

`SparkGatewayClient` and `AsyncSparkGatewayClient` take the same arguments (`transport` is an
`httpx.BaseTransport` for the one, an `httpx.AsyncBaseTransport` for the other) and differ only in the
httpx client they open and in how they perform a plan's steps.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from spark_gateway.client.calls import ApplicationCalls, Call, LivyCalls, Plan
from spark_gateway.client.config import Connection
from spark_gateway.client.steps import RetryPolicy, Stepper

T = TypeVar("T")
TransportT = TypeVar("TransportT")
USER_AGENT = "spark-gateway-client/0.1"


class ClientCore(Generic[TransportT]):
    """Base URL and credentials from the arguments, else `SPARK_GATEWAY_URL` / `_USER` / `_PASSWORD` /
    `_TOKEN`. Reads, deletes and creates are retried `retries` times on connection errors and 502/503/504
    (creates carry a generated `Idempotency-Key`, so a retry never submits twice)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        livy_prefix: str = "/api/livy",
        transport: TransportT | None = None,
    ) -> None:
        self.connection = Connection.resolve(url, user, password, token)
        self.retries = retries
        self.backoff = backoff
        http_options = {
            "base_url": self.connection.url,
            "auth": self.connection.auth(),
            "headers": {"User-Agent": USER_AGENT, **self.connection.headers()},
            "timeout": timeout,
            "transport": transport,
        }
        self._open(http_options, LivyCalls(livy_prefix), ApplicationCalls())

    def _open(self, http_options: dict[str, Any], livy: LivyCalls, apps: ApplicationCalls) -> None:
        """Create the httpx client and the `batches` and `applications` resources."""
        raise NotImplementedError

    def _stepper(self, plan: Plan[T] | Call[T]) -> Stepper[T]:
        return Stepper(plan, RetryPolicy(self.retries, self.backoff, self.connection.url))
