"""The `webhooks:` section of the configuration (kept apart from `settings` to keep that module small).

Completion webhooks tell people and systems that an application ended: per submission (Livy header
`X-Spark-Gateway-Callback`, v1 field `callbackUrl`) and/or for every application an operator-wide
subscriber's filters match.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Event = Literal["completed", "failed", "killed"]
EVENTS: tuple[Event, ...] = ("completed", "failed", "killed")
BodyFormat = Literal["json", "slack"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Subscriber(_Strict):
    """Told about every application its filters match (an empty filter matches everything)."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")
    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)
    format: BodyFormat = "json"
    events: list[Event] = Field(default_factory=lambda: list(EVENTS))
    clusters: list[str] = Field(default_factory=list)  # cluster names or ids
    namespaces: list[str] = Field(default_factory=list)
    owners: list[str] = Field(default_factory=list)
    secret: str | None = None  # overrides webhooks.secret for this subscriber
    secretEnv: str | None = None


class WebhooksConfig(_Strict):
    enable: bool = True
    secret: str | None = None  # HMAC-SHA256 key for X-Spark-Gateway-Signature
    secretEnv: str | None = None  # ... or the name of an environment variable holding it
    callbackFormat: BodyFormat = "json"  # body sent to per-submission callback URLs
    allowPrivateNetworks: bool = False  # loopback, private, link-local, ... targets
    allowedHosts: list[str] = Field(default_factory=list)  # host names, addresses or CIDRs allowed anyway
    subscribers: list[Subscriber] = Field(default_factory=list)
    maxAttempts: int = Field(default=12, ge=1)
    initialBackoffSeconds: float = Field(default=1.0, gt=0)
    maxBackoffSeconds: float = Field(default=300.0, gt=0)
    timeoutSeconds: float = Field(default=10.0, gt=0)
    pollIntervalSeconds: float = Field(default=1.0, gt=0)
    maxConcurrentDeliveries: int = Field(default=8, ge=1)
    keepDays: float = Field(default=7.0, gt=0)  # delivered / given-up deliveries are kept this long

    @model_validator(mode="after")
    def _unique_names(self) -> WebhooksConfig:
        names = [s.name for s in self.subscribers]
        if len(set(names)) != len(names):
            raise ValueError("webhooks.subscribers: names must be unique")
        return self

    def signing_secret(self, subscriber: Subscriber | None = None) -> bytes | None:
        """The HMAC key: the subscriber's own, else the section's; None when none is configured."""
        sources = [(self.secret, self.secretEnv)]
        if subscriber is not None:
            sources.insert(0, (subscriber.secret, subscriber.secretEnv))
        for value, env in sources:
            secret = value or (os.environ.get(env) if env else None)
            if secret:
                return secret.encode()
        return None

    def subscriber(self, name: str) -> Subscriber | None:
        return next((s for s in self.subscribers if s.name == name), None)
