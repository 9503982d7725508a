"""Telling "the database is unavailable right now" from real errors, and waiting such outages out.

Why this exists: PostgreSQL gets restarted, fails over, runs out of connections or cancels a statement
at `statement_timeout`. None of that is a bug of the request that hit it, so the API answers 503 with
`Retry-After` (api.errors), background loops log, back off and retry, and start-up retries migrations
instead of crashing. The drivers report these failures in many shapes: asyncpg raises plain
`ConnectionRefusedError`/`TimeoutError` while connecting, its own exceptions with a SQLSTATE before
SQLAlchemy wraps them, `DBAPIError` afterwards (sometimes with `connection_invalidated`), the pool
raises its own `TimeoutError`, and SQLite says "database is locked". `is_unavailable` knows them all.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from spark_gateway.db import migrate
from spark_gateway.db.engine import Database
from spark_gateway.domain.backoff import Backoff

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 3  # what a 503 tells clients; a PostgreSQL restart takes a few seconds

# SQLSTATEs that mean "try again later": connection exceptions (08), insufficient resources (53),
# operator intervention (57: shutdown, cannot connect now, statement timeout), lock not available,
# serialization failures and deadlocks, system errors (58).
_TRANSIENT_PREFIXES = ("08", "53", "57", "58")
_TRANSIENT_CODES = frozenset({"55P03", "40001", "40P01"})
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EPIPE,
    }
)
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "unable to open", "disk i/o error")


def _sqlstate(exc: BaseException) -> str | None:
    for candidate in (exc, getattr(exc, "orig", None), exc.__cause__):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str) and code:
            return code
    return None


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot serve now (retry later), not that the query is wrong."""
    if isinstance(exc, PoolTimeout | DisconnectionError | TimeoutError | ConnectionError | socket.gaierror):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    code = _sqlstate(exc)
    if code is not None:
        return code in _TRANSIENT_CODES or code.startswith(_TRANSIENT_PREFIXES)
    if isinstance(exc, OperationalError):
        if "sqlite" in type(exc.orig).__module__:
            return any(marker in str(exc.orig).lower() for marker in _SQLITE_TRANSIENT)
        return True
    if isinstance(exc, OSError):
        return exc.errno in _NETWORK_ERRNOS or "connect call failed" in str(exc).lower()
    return False


class LogThrottle:
    """Say "still failing" at most once per `every` seconds, so an outage does not flood the log."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self._last = -float("inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            return True
        return False


async def upgrade_when_available(db: Database, *, timeout: float = 60.0) -> None:
    """Create or upgrade the schema, retrying with back-off while the database is unavailable.

    Start-up during a short outage (a restart, a replica coming up before the database) waits instead
    of crashing; after `timeout` seconds the last error is raised and start-up fails.
    """
    deadline = time.monotonic() + timeout
    backoff = Backoff(base=0.5, maximum=5.0)
    attempt = 0
    while True:
        attempt += 1
        try:
            await migrate.upgrade(db)
        except Exception as exc:
            if not is_unavailable(exc) or time.monotonic() >= deadline:
                raise
            delay = min(backoff.next(), max(deadline - time.monotonic(), 0.1))
            log.warning(
                "database unavailable at start-up (attempt %d: %s); retrying in %.1fs",
                attempt,
                describe(exc),
                delay,
            )
            await asyncio.sleep(delay)
        else:
            if attempt > 1:
                log.info("database schema ready after %d attempts", attempt)
            return


def describe(exc: BaseException) -> str:
    """One line naming the failure, without SQLAlchemy's multi-line background text."""
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}"
