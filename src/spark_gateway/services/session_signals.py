"""In-process wake-ups for runners long-polling for statements and cancels.

The database is the truth and long polls re-read it at a short interval; these events only make a
statement submitted through this process reach a runner polling this process at once.
"""

from __future__ import annotations

import asyncio
import contextlib


class SessionSignals:
    def __init__(self) -> None:
        self._events: dict[int, set[asyncio.Event]] = {}

    def notify(self, session_id: int) -> None:
        for event in self._events.get(session_id, ()):
            event.set()

    async def wait(self, session_id: int, timeout: float) -> None:
        """Return after `timeout` seconds or as soon as `notify(session_id)` is called."""
        event = asyncio.Event()
        waiting = self._events.setdefault(session_id, set())
        waiting.add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            waiting.discard(event)
            if not waiting:
                self._events.pop(session_id, None)


signals = SessionSignals()
