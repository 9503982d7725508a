"""Which database failures mean "unavailable" (503 + Retry-After, the caller retries) and which are bugs.

Connection refusals, timeouts, a full pool, PostgreSQL starting up or cutting sessions, and SQLite's lock
are outages; constraint violations, bad SQL and anything else are bugs that must not be disguised as one.
"""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from spark_gateway.db.availability import is_unavailable


class _Orig(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _sqlite_error(message: str) -> OperationalError:
    import sqlite3

    return OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"), True),
        (TimeoutError(), True),  # asyncpg's connect and command timeouts
        (PoolTimeout("QueuePool limit reached"), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.TooManyConnectionsError("too many clients"), True),
        (DBAPIError("SELECT 1", {}, _Orig("statement timeout", "57014")), True),
        (DBAPIError("SELECT 1", {}, _Orig("terminating connection", "57P01")), True),
        (DBAPIError("SELECT 1", {}, _Orig("closed in the middle", "08003")), True),
        (_sqlite_error("database is locked"), True),
        (_sqlite_error("no such table: applications"), False),
        (IntegrityError("INSERT", {}, _Orig("duplicate key", "23505")), False),
        (DBAPIError("SELECT 1", {}, _Orig("syntax error", "42601")), False),
        (FileNotFoundError(2, "No such file"), False),
        (ValueError("bug"), False),
    ],
)
def test_unavailable_database_failures_are_told_from_bugs(exc: BaseException, unavailable: bool) -> None:
    assert is_unavailable(exc) is unavailable
