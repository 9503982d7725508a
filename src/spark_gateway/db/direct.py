"""Point reads straight on the database driver, beside SQLAlchemy: the status-poll hot path.

A Livy status poll is one indexed statement that the database answers in microseconds. Through
SQLAlchemy's async layer it cost many times that in the gateway's own CPU (a greenlet switch per
call, pool and result bookkeeping) and, on SQLite, two hops to aiosqlite's thread and back per
statement. `DirectReads.first` runs a SQLAlchemy Core `select` (compiled once per statement, so the
SQL stays written once in `repository`) on the driver itself and returns a named tuple of its
columns, typed as SQLAlchemy would have typed them:

* SQLite: a plain `sqlite3` connection per thread (the event loop's), in autocommit and `query_only`.
  A WAL reader never waits for a writer; in the rare moment the file is locked (a checkpoint, a
  recovery) the read is redone in a worker thread that may wait, so the loop never blocks on a lock.
* PostgreSQL: an asyncpg pool of its own whose connections keep their prepared statements and skip
  asyncpg's reset round trip on release (these reads set no session state and run outside any
  transaction). A connection the server dropped is replaced and the read retried once.

Nothing is cached: every read is a statement on the database and sees every write committed before
it, by any process or replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Select
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

SQLITE_WAIT_S = 30.0  # how long the worker-thread retry of a locked SQLite read may wait
# Options of SQLAlchemy's asyncpg dialect that asyncpg's connect does not know.
_DIALECT_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback")


@dataclass(frozen=True)
class Prepared:
    """A statement compiled for one dialect: positional SQL, its parameters, its row type."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    row: Callable[..., Any]
    processors: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def compile(cls, stmt: Select[Any], dialect: Dialect) -> Prepared:
        compiled = stmt.compile(dialect=dialect)
        columns = list(stmt.selected_columns)
        return cls(
            sql=compiled.string,
            names=tuple(compiled.positiontup or ()),
            defaults=dict(compiled.params),
            row=namedtuple("DirectRow", [c.key for c in columns]),  # type: ignore[misc]
            processors=tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns),
        )

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(params[name] if name in params else self.defaults[name] for name in self.names)

    def make(self, raw: Sequence[Any]) -> Any:
        return self.row(*[p(v) if p else v for p, v in zip(self.processors, raw, strict=True)])


class DirectReads:
    """Runs read-only Core statements on the driver; `first` returns a named tuple or None."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._prepared: dict[Select[Any], Prepared] = {}

    def prepare(self, stmt: Select[Any]) -> Prepared:
        prepared = self._prepared.get(stmt)
        if prepared is None:
            prepared = self._prepared[stmt] = Prepared.compile(stmt, self.dialect)
        return prepared

    async def first(self, stmt: Select[Any], params: Mapping[str, Any]) -> Any | None:
        prepared = self.prepare(stmt)
        raw = await self._fetch_first(prepared.sql, prepared.args(params))
        return None if raw is None else prepared.make(raw)

    async def _fetch_first(self, sql: str, args: tuple[Any, ...]) -> Sequence[Any] | None:
        raise NotImplementedError

    async def close(self) -> None:
        """Close the connections (new ones open if a read comes after)."""


class SqliteReads(DirectReads):
    def __init__(self, dialect: Dialect, path: str) -> None:
        super().__init__(dialect)
        self.path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connect(self, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        return conn

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect(timeout=0)  # locked: raise at once, never wait here
            with self._lock:
                self._opened.append(conn)
        return conn

    async def _fetch_first(self, sql: str, args: tuple[Any, ...]) -> Sequence[Any] | None:
        try:
            row: Sequence[Any] | None = self._connection().execute(sql, args).fetchone()
            return row
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        return await asyncio.to_thread(self._waiting_fetch, sql, args)

    def _waiting_fetch(self, sql: str, args: tuple[Any, ...]) -> Sequence[Any] | None:
        conn = self._connect(timeout=SQLITE_WAIT_S)
        try:
            row: Sequence[Any] | None = conn.execute(sql, args).fetchone()
            return row
        finally:
            conn.close()

    async def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
            self._local = threading.local()
        for conn in opened:
            conn.close()


async def _json_codecs(conn: asyncpg.Connection) -> None:
    """Decode json/jsonb as SQLAlchemy's asyncpg dialect does, so rows come out alike."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, schema="pg_catalog", encoder=json.dumps, decoder=json.loads, format="text"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's reset statement: these reads leave no session state behind."""


# Errors after which a pooled connection is gone (a server restart, a terminated backend): retry once.
_DROPPED = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a protocol left mid-operation by the server's goodbye
    asyncpg.AdminShutdownError,
    OSError,
)


class PostgresReads(DirectReads):
    def __init__(self, dialect: Dialect, connect: dict[str, Any], max_size: int) -> None:
        super().__init__(dialect)
        self._connect = connect
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._creating: asyncio.Lock | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._creating = self._creating or asyncio.Lock()
            async with self._creating:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        **self._connect,
                        min_size=0,
                        max_size=self._max_size,
                        init=_json_codecs,
                        reset=_keep_session,
                    )
        return self._pool

    async def _fetch_first(self, sql: str, args: tuple[Any, ...]) -> Sequence[Any] | None:
        pool = await self._get_pool()
        for attempt in (1, 2):
            async with pool.acquire() as conn:
                try:
                    row: Sequence[Any] | None = await conn.fetchrow(sql, *args)
                    return row
                except _DROPPED as exc:
                    # Our release skips asyncpg's reset, which would have found the connection dead:
                    # end it here, so that the pool opens a new one. A connection lost mid-query has
                    # already gone back to the pool, and its proxy refuses every call.
                    with contextlib.suppress(asyncpg.InterfaceError):
                        conn.terminate()
                    if attempt == 2:  # a fresh connection dropped too: the server is going away
                        raise ConnectionResetError(f"database connection lost twice: {exc}") from exc
                    log.info("a pooled direct-read connection was dead (%s); reading on a fresh one", exc)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


class EngineReads(DirectReads):
    """The same reads through the engine, for a SQLite database that is no plain file (in memory)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine.dialect)
        self.engine = engine

    async def _fetch_first(self, sql: str, args: tuple[Any, ...]) -> Sequence[Any] | None:
        async with self.engine.connect() as conn:
            return (await conn.exec_driver_sql(sql, args)).first()


def direct_reads(
    engine: AsyncEngine, url: URL, connect_args: Mapping[str, Any], pool_size: int
) -> DirectReads:
    """The driver-level reader for the database behind `engine` (same URL, same connect options)."""
    dialect = engine.dialect
    if dialect.name == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:") or url.query:
            return EngineReads(engine)
        return SqliteReads(dialect, database)
    _, opts = dialect.create_connect_args(url)
    connect = {k: v for k, v in opts.items() if k not in _DIALECT_ONLY}
    connect.update(connect_args)
    return PostgresReads(dialect, connect, max_size=pool_size)
