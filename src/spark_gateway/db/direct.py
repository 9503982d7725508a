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
* PostgreSQL: asyncpg connections of its own (see `PostgresReads`) that keep their prepared statements:
  a read is one round trip. A connection the server dropped is replaced and the read retried once.

Nothing is cached: every read is a statement on the database and sees every write committed before
it, by any process or replica.
"""

from __future__ import annotations

import asyncio
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
from sqlalchemy.exc import OperationalError
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
            try:
                row: Sequence[Any] | None = self._connection().execute(sql, args).fetchone()
                return row
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            return await asyncio.to_thread(self._waiting_fetch, sql, args)
        except sqlite3.OperationalError as exc:
            # Wrapped as the engine wraps it, so that "unable to open" or "locked" is told apart from
            # a bug (`db.availability`) and answered 503 like on every other path.
            raise OperationalError(sql, args, exc) from exc

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


# Errors after which a connection is gone (a server restart, a terminated backend): retry once.
_DROPPED = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a protocol left mid-operation by the server's goodbye
    asyncpg.AdminShutdownError,
    OSError,
)


class PostgresReads(DirectReads):
    """Point reads on asyncpg connections of their own: a stack of idle ones (the last used is reused
    first), at most `max_size` in use. Lighter than an `asyncpg.Pool`, whose release runs in a task of
    its own and resets a connection these reads leave as they found it (no transaction, no session
    state)."""

    def __init__(self, dialect: Dialect, connect: dict[str, Any], max_size: int) -> None:
        super().__init__(dialect)
        self._connect = connect
        self._max_size = max_size
        self._idle: list[asyncpg.Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._generation = 0  # bumped by close(): connections of an older one are not kept

    async def _open(self) -> asyncpg.Connection:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(**self._connect)
            await _json_codecs(conn)
            return conn
        except BaseException as exc:
            if conn is not None:
                conn.terminate()
            if isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError):
                # A server going down or coming up can drop a connection mid-handshake.
                raise ConnectionError(f"cannot connect to the database: {exc}") from exc
            raise

    async def _fetch_first(self, sql: str, args: tuple[Any, ...]) -> Sequence[Any] | None:
        self._slots = self._slots or asyncio.Semaphore(self._max_size)
        async with self._slots:
            for attempt in (1, 2):
                generation = self._generation
                conn = self._take_idle() or await self._open()
                try:
                    row: Sequence[Any] | None = await conn.fetchrow(sql, *args)
                except _DROPPED as exc:
                    conn.terminate()
                    self._drop_idle()  # they most likely died with it (a server restart)
                    if attempt == 2:
                        # A fresh connection dropped too: the server is going away (503, not a 500).
                        raise ConnectionResetError(f"database connection lost twice: {exc}") from exc
                    log.info("a direct-read connection was dead (%s); reading on a fresh one", exc)
                    continue
                except BaseException:
                    conn.terminate()  # cancelled or failed mid-statement: its state is unknown
                    raise
                if generation == self._generation:
                    self._idle.append(conn)
                else:
                    conn.terminate()
                return row
        raise AssertionError("unreachable")

    def _take_idle(self) -> asyncpg.Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():  # closed while idle: asyncpg saw the server hang up
                return conn
        return None

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.terminate()

    async def close(self) -> None:
        self._generation += 1
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=5)
            except Exception:
                conn.terminate()


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
