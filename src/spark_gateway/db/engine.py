"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg).

SQLite gets WAL and a busy timeout so concurrent requests wait instead of failing; PostgreSQL gets a
statement timeout so a stuck query cannot hang a request forever. Single-object reads bypass both
engines through `direct` (see `db.direct`), with the same URL and connect options.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from spark_gateway.db.direct import DirectReads, direct_reads

log = logging.getLogger(__name__)
T = TypeVar("T")


class Database:
    """One engine and its session factory; `transaction()` is one unit of work."""

    def __init__(self, url: str, *, pool_size: int = 10, statement_timeout_s: float = 30.0) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(
                # A server restart leaves dead pooled connections; the ping replaces them silently.
                pool_pre_ping=True,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=10,
                connect_args={
                    "timeout": 5,
                    "command_timeout": statement_timeout_s + 5,
                    "server_settings": {"statement_timeout": str(int(statement_timeout_s * 1000))},
                },
            )
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            self.read_engine = self.engine
        else:
            # Reads on their own pool without the ping (a round trip per checkout): `read` retries
            # once on a fresh connection instead, which is safe because a read changes nothing.
            self.read_engine = create_async_engine(self.url, **{**kwargs, "pool_pre_ping": False})
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.dialect = self.engine.dialect.name
        self.direct: DirectReads = direct_reads(
            self.read_engine, self.url, kwargs.get("connect_args", {}), pool_size
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Commit on success, roll back on any exception."""
        async with self.sessions() as session, session.begin():
            yield session

    async def read(self, reads: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `reads` (statements that change nothing) on a connection outside any transaction: no
        ORM session, no BEGIN/COMMIT round trips (autocommit on PostgreSQL; SQLite's driver begins
        transactions only for writes). The hot path: single-object reads and list pages."""
        for attempt in (1, 2):
            try:
                async with self.read_engine.connect() as conn:
                    if not self.is_sqlite:
                        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    return await reads(conn)
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
                log.info("a pooled read connection was dead (%s); reading on a fresh one", exc.orig)
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        await self.direct.close()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
