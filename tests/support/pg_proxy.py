"""A TCP proxy in front of PostgreSQL that can cut every connection or turn slow, on demand.

`cut()` is a database gone away: open connections are aborted and new ones refused until `start()`
(tests/e2e/test_faults.py). `delay` is a database that answers, but late (an overloaded server, a
saturated link; the fault harness's `slow_database`): while it is set, each chunk waits that long before
it is forwarded, in both directions and in order, so every round trip (a statement, a lease renewal, a
COMMIT) takes at least twice the delay, and nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.conftest import PG_HOST, PG_PORT
from tests.e2e.processes import free_port


class PgProxy:
    """Forwards 127.0.0.1:`port` to PostgreSQL; `delay` seconds (0: none) hold back every chunk."""

    def __init__(self) -> None:
        self.port = free_port()
        self.delay = 0.0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def url(self, db_url: str) -> str:
        """`db_url` with PostgreSQL's address replaced by the proxy's."""
        return db_url.replace(f"{PG_HOST}:{PG_PORT}", f"127.0.0.1:{self.port}")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        except OSError:
            writer.close()
            return
        pair = {writer, up_writer}
        self._writers |= pair
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= pair

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(65536):
                if self.delay > 0:
                    await asyncio.sleep(self.delay)
                dst.write(data)
                await dst.drain()
        dst.close()
