"""Where the gateway is and who the caller is: from arguments, else from the environment.

`SPARK_GATEWAY_URL`, `SPARK_GATEWAY_USER`, `SPARK_GATEWAY_PASSWORD` or `SPARK_GATEWAY_TOKEN`: a user with a
password is Basic auth, a user with a token is the gateway's service-token auth (`X-Spark-Gateway-User` +
`X-Spark-Gateway-Token`), a token alone is `Authorization: Bearer`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
ENV_URL = "SPARK_GATEWAY_URL"
ENV_USER = "SPARK_GATEWAY_USER"
ENV_PASSWORD = "SPARK_GATEWAY_PASSWORD"
ENV_TOKEN = "SPARK_GATEWAY_TOKEN"


@dataclass(frozen=True)
class Connection:
    url: str
    user: str | None = None
    password: str | None = None
    token: str | None = None

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Connection:
        """Arguments win over the environment; credentials come as a whole from one source."""
        env = os.environ if env is None else env
        if user is None and password is None and token is None:
            user, password, token = env.get(ENV_USER), env.get(ENV_PASSWORD), env.get(ENV_TOKEN)
        if password and token:
            raise ValueError("give a password or a token, not both")
        if password and not user:
            raise ValueError(f"a password needs a user name ({ENV_USER} or user=...)")
        base = (url or env.get(ENV_URL) or DEFAULT_URL).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"gateway URL must start with http:// or https://, got {base!r}")
        return cls(base, user or None, password or None, token or None)

    def auth(self) -> httpx.Auth | None:
        if self.user and self.password:
            return httpx.BasicAuth(self.user, self.password)
        return None

    def headers(self) -> dict[str, str]:
        if self.token and self.user:
            return {"X-Spark-Gateway-User": self.user, "X-Spark-Gateway-Token": self.token}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}
