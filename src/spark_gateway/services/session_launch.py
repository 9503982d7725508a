"""The secret a session's driver proves itself with, minted at each launch and never stored in clear.

Every launch of an application goes through `prepare_launch`. For a session's driver it draws a fresh
secret, stores its hash on the session, and hands the backend a copy of the application whose driver
environment carries the secret; the stored specification never holds it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from spark_gateway.db import session_repository as srepo
from spark_gateway.domain.sessions import with_secret_env
from spark_gateway.domain.sparkapp import SparkApplication
from spark_gateway.services.gateway import GatewayRuntime


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str, stored_hash: str | None) -> bool:
    return stored_hash is not None and hmac.compare_digest(hash_secret(secret), stored_hash)


async def prepare_launch(gateway: GatewayRuntime, app: SparkApplication) -> SparkApplication:
    """The application as the backend should launch it (sessions: with a new secret)."""
    gateway_id = app.metadata.name
    if not gateway_id:
        return app
    async with gateway.db.transaction() as session:
        row = await srepo.session_for_application(session, gateway_id)
        if row is None:
            return app
        secret = secrets.token_urlsafe(32)
        row.secret_hash = hash_secret(secret)
    return with_secret_env(app, secret)
