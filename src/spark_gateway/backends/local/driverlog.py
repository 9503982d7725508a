"""Reading a job's `driver.log`: new complete lines from an offset, and what Spark says in them.

The offset always points just after the last complete line handed out, so a restarted gateway resumes
from a persisted offset without losing a half-written line or repeating one. The patterns below are
the driver's own log4j lines (Spark 3.5 and 4.x wording); they tell when the application started and
on which port its UI may be. The application id is never taken from the log (a job can print any line
it likes): `query_app_id` asks the driver's UI for it, once the backend has verified that UI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx

MAX_READ_BYTES = 1 << 20  # per job per poll round; the rest is read in the following rounds
MAX_LINE_BYTES = 64 << 10  # a longer unterminated line is handed out in pieces

# Spark's own log4j lines: "26/11/30 20:14:36 INFO Utils: ...", matched from the start of the line, so
# text a job prints or Spark echoes inside another message (a configuration key in a warning) is no
# match. A job can still print a line that looks exactly like these: a port found here is only a
# candidate, used once the backend has seen the job's own processes listen on it.
_SPARK_INFO = r"^\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} INFO "
_STARTED = re.compile(
    _SPARK_INFO + r"(?:SparkContext: Submitted application: |SparkUI: Bound SparkUI to "
    r"|Utils: Successfully started service 'SparkUI' on port )"
)
_UI_PORT = re.compile(_SPARK_INFO + r"Utils: Successfully started service 'SparkUI' on port (\d{1,5})\.?$")
_UI_BOUND = re.compile(
    _SPARK_INFO + r"SparkUI: Bound SparkUI to [^\s,]+, and started at https?://[^\s/]+:(\d{1,5})/?$"
)
MAX_UI_CANDIDATES = 8
_APP_ID = re.compile(r"Connected to Spark cluster with app ID (app-[\w-]+)")
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
    """What the driver log has revealed so far about one application.

    `ui_ports` are candidates from the log; `ui_url` and `app_id` are set by the backend once it has
    checked that the job's own processes listen on the port and asked that UI for the id.
    """

    started: bool = False
    ui_ports: list[int] = field(default_factory=list)
    ui_port: int | None = None
    ui_url: str | None = None
    app_id: str | None = None
    changed: bool = field(default=False, repr=False)

    def scan(self, lines: list[str]) -> None:
        for line in lines:
            if "INFO" not in line:
                continue
            if not self.started and _STARTED.search(line):
                self._set("started", True)
            if "SparkUI" in line and (match := _UI_PORT.search(line) or _UI_BOUND.search(line)):
                port = int(match.group(1))
                if 0 < port < 65536 and port not in self.ui_ports and len(self.ui_ports) < MAX_UI_CANDIDATES:
                    self.ui_ports.append(port)

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
