"""Reading a job's `driver.log`: new complete lines from an offset, and what Spark says in them.

The offset always points just after the last complete line handed out, so a restarted gateway resumes
from a persisted offset without losing a half-written line or repeating one. The patterns below are
the driver's own log4j lines (Spark 3.5 and 4.x wording); they tell when the application started,
where its UI is, and, on a standalone master, its application id. A local master's id (`local-…`) is
never logged, so `query_app_id` asks the driver's UI for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx

MAX_READ_BYTES = 1 << 20  # per job per poll round; the rest is read in the following rounds
MAX_LINE_BYTES = 64 << 10  # a longer unterminated line is handed out in pieces

_STARTED = re.compile(
    r"SparkContext: Submitted application: |Bound SparkUI to |Successfully started service 'SparkUI'"
    r"|Connected to Spark cluster with app ID "
)
_UI_URL = re.compile(r"Bound SparkUI to \S+, and started at (https?://\S+)")
_UI_JETTY = re.compile(r"Start Jetty (\S+):(\d+) for SparkUI")
_UI_PORT = re.compile(r"Successfully started service 'SparkUI' on port (\d+)")
_STANDALONE_APP_ID = re.compile(r"Connected to Spark cluster with app ID (app-[\w-]+)")
_APP_ID = re.compile(r"^[\w.-]{1,200}$")
# The last line of a Python traceback or a JVM "Exception in thread" report; log4j lines start with a
# timestamp, so they never match.
_EXCEPTION = re.compile(
    r"^(?:Exception in thread \"[^\"]*\" )?"
    r"((?:[A-Za-z_][\w$]*\.)*[A-Za-z_][\w$]*(?:Error|Exception)(?::.*)?)$"
)


@dataclass
class LogChunk:
    lines: list[str]
    new_offset: int
    at_eof: bool


def read_new_lines(path: Path, offset: int, *, final: bool = False) -> LogChunk | None:
    """Complete lines after `offset` (with `final`, also a trailing unterminated one); None: no file."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            if offset > size:  # the file was replaced by a shorter one: nothing sensible to resume
                return LogChunk([], size, True)
            handle.seek(offset)
            data = handle.read(MAX_READ_BYTES)
    except FileNotFoundError:
        return None
    at_eof = offset + len(data) >= size
    end = data.rfind(b"\n") + 1
    if (final and at_eof) or (end == 0 and len(data) >= MAX_LINE_BYTES):
        end = len(data)
    text = data[:end].decode("utf-8", errors="replace")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if text.endswith("\n"):
        lines.pop()
    return LogChunk(lines=lines if text else [], new_offset=offset + end, at_eof=at_eof and end == len(data))


def tail_lines(path: Path, count: int, *, max_bytes: int = 4 << 20) -> list[str] | None:
    """The last `count` lines of the file (reading at most `max_bytes` from its end); None: no file."""
    if count <= 0:
        return [] if path.exists() else None
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            start = max(0, size - max_bytes)
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return None
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if start > 0 and lines:
        lines = lines[1:]  # the first one is probably cut
    return [line.removesuffix("\r") for line in lines[-count:]]


def last_exception(lines: list[str]) -> str | None:
    """The last exception summary line, e.g. 'RuntimeError: this batch fails on purpose'."""
    for line in reversed(lines):
        match = _EXCEPTION.match(line.strip())
        if match:
            text = match.group(1)
            return text if len(text) <= 500 else text[:497] + "..."
    return None


@dataclass
class SparkFacts:
    """What the driver log has revealed so far about one application."""

    started: bool = False
    ui_host: str | None = None
    ui_port: int | None = None
    ui_url: str | None = None
    app_id: str | None = None
    changed: bool = field(default=False, repr=False)

    def scan(self, lines: list[str]) -> None:
        for line in lines:
            if _STARTED.search(line):
                self._set("started", True)
            if "SparkUI" in line:
                if match := _UI_URL.search(line):
                    self._set("ui_url", match.group(1))
                elif match := _UI_JETTY.search(line):
                    # The port here is only the first one tried; the "started service" line has the real one.
                    self._set("ui_host", match.group(1))
                elif match := _UI_PORT.search(line):
                    self._set("ui_port", int(match.group(1)))
            if "app ID" in line and (match := _STANDALONE_APP_ID.search(line)):
                self._set("app_id", match.group(1))
        if self.ui_url is None and self.ui_port is not None:
            host = self.ui_host if self.ui_host not in (None, "0.0.0.0") else "127.0.0.1"
            self._set("ui_url", f"http://{host}:{self.ui_port}")

    def _set(self, name: str, value: object) -> None:
        if getattr(self, name) != value:
            setattr(self, name, value)
            self.changed = True


async def query_app_id(client: httpx.AsyncClient, ui_url: str) -> str | None:
    """The application id from the live UI's REST API; None until the application has registered."""
    try:
        response = await client.get(f"{ui_url}/api/v1/applications")
        response.raise_for_status()
        apps = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    if isinstance(apps, list) and apps and isinstance(apps[0], dict):
        app_id = apps[0].get("id")
        if isinstance(app_id, str) and _APP_ID.fullmatch(app_id):
            return app_id
    return None
