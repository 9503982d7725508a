"""One local job: its persisted reference, its in-memory tracking, and what a poll round observes.

`JobRef` is the `backend_ref` stored in the database; everything a later gateway process needs to find
the job again is in it. `observe` is the blocking half of a poll round (the /proc snapshot, the exit-code
file and the driver log), run in a worker thread so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from spark_gateway.backends.local import driverlog, procs
from spark_gateway.backends.local.driverlog import SparkFacts
from spark_gateway.domain.states import AppState

LOG_FILE = "driver.log"
EXIT_FILE = "exit_code"
REF_FILE = "job.json"  # the backend_ref at launch, so a repeated submit adopts the running job
KILLED_FILE = "killed"  # written by kill() before signalling, so every observer reports "killed by user"

DISAPPEARED = "job process disappeared (gateway restart or external kill)"
DISAPPEARED_REBOOT = "job process disappeared (the machine restarted)"
KILLED = "killed by user"


@dataclass
class JobRef:
    pid: int
    pgid: int
    start_time: int | None
    boot_id: str | None
    job_dir: str
    log_path: str
    exit_path: str
    log_offset: int = 0
    started: bool = False
    ui_url: str | None = None
    spark_app_id: str | None = None
    exit_code: int | None = None
    # Informational keys (command, master, ...) carried through unchanged.
    extra: dict[str, Any] = field(default_factory=dict)

    _INT_KEYS = ("pid", "pgid")
    _STR_KEYS = ("job_dir", "log_path", "exit_path")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> JobRef:
        """Parse a stored backend_ref; ValueError names what is missing or wrong."""
        if not data:
            raise ValueError("no backend reference was recorded")
        for key in cls._INT_KEYS:
            if not isinstance(data.get(key), int) or data[key] <= 0:
                raise ValueError(f"backend reference has no valid '{key}'")
        for key in cls._STR_KEYS:
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"backend reference has no valid '{key}'")
        offset = data.get("log_offset", 0)
        start_time = data.get("start_time")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(
            pid=data["pid"],
            pgid=data["pgid"],
            start_time=start_time if isinstance(start_time, int) else None,
            boot_id=data.get("boot_id") if isinstance(data.get("boot_id"), str) else None,
            job_dir=data["job_dir"],
            log_path=data["log_path"],
            exit_path=data["exit_path"],
            log_offset=offset if isinstance(offset, int) and offset >= 0 else 0,
            started=bool(data.get("started", False)),
            ui_url=data.get("ui_url") if isinstance(data.get("ui_url"), str) else None,
            spark_app_id=data.get("spark_app_id") if isinstance(data.get("spark_app_id"), str) else None,
            exit_code=data.get("exit_code") if isinstance(data.get("exit_code"), int) else None,
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data.update(
            kind="local",
            pid=self.pid,
            pgid=self.pgid,
            start_time=self.start_time,
            boot_id=self.boot_id,
            job_dir=self.job_dir,
            log_path=self.log_path,
            exit_path=self.exit_path,
            log_offset=self.log_offset,
            started=self.started,
            ui_url=self.ui_url,
            spark_app_id=self.spark_app_id,
            exit_code=self.exit_code,
        )
        return data

    def identity(self) -> procs.GroupIdentity:
        return procs.GroupIdentity(pgid=self.pgid, leader_start_time=self.start_time, boot_id=self.boot_id)

    @property
    def killed_path(self) -> Path:
        return Path(self.job_dir) / KILLED_FILE


@dataclass
class TrackedJob:
    """A job this backend instance watches, and what it has reported about it."""

    gateway_id: str
    ref: JobRef
    reported: AppState
    facts: SparkFacts
    persisted_offset: int
    last_checkpoint: float = field(default_factory=time.monotonic)
    last_lookup: float = 0.0
    started_seen_at: float | None = None
    verified_ui: str | None = None  # a UI address the job's own processes were seen listening on
    done: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_ref(cls, gateway_id: str, ref: JobRef, state: AppState) -> TrackedJob:
        facts = SparkFacts(started=ref.started, ui_url=ref.ui_url, app_id=ref.spark_app_id)
        port = urlsplit(ref.ui_url).port if ref.ui_url else None
        if port:
            facts.ui_ports.append(port)  # verified again before it is fetched
        return cls(gateway_id, ref, state, facts, persisted_offset=ref.log_offset)


@dataclass
class Observation:
    lines: list[str]
    new_offset: int
    ended: bool  # the job has ended and its log has been read to the end
    exit_code: int | None = None
    killed: bool = False
    rebooted: bool = False
    ended_at: datetime | None = None
    last_exception: str | None = None


def read_exit_code(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def observe(ref: JobRef, snapshot: dict[int, list[procs.ProcInfo]]) -> Observation:
    """What happened since `ref.log_offset`; `snapshot` must be taken before this is called."""
    # Order matters: liveness first, then the exit file (the runner writes it before it exits), then
    # the log, so an ended job's log is complete when it is read.
    alive = bool(ref.identity().members(snapshot))
    exit_path = Path(ref.exit_path)
    exit_code = read_exit_code(exit_path)
    process_ended = exit_code is not None or not alive
    chunk = driverlog.read_new_lines(Path(ref.log_path), ref.log_offset, final=process_ended)
    if chunk is None:
        chunk = driverlog.LogChunk([], ref.log_offset, True)
    obs = Observation(lines=chunk.lines, new_offset=chunk.new_offset, ended=process_ended and chunk.at_eof)
    if not obs.ended:
        return obs
    obs.exit_code = exit_code
    obs.killed = ref.killed_path.exists()
    current_boot = procs.boot_id()
    obs.rebooted = ref.boot_id is not None and current_boot is not None and current_boot != ref.boot_id
    obs.ended_at = datetime.now(UTC)
    with contextlib.suppress(OSError):
        obs.ended_at = datetime.fromtimestamp(exit_path.stat().st_mtime, UTC)
    if exit_code not in (None, 0):
        obs.last_exception = driverlog.last_exception(driverlog.tail_lines(Path(ref.log_path), 200) or [])
    return obs


def outcome_message(obs: Observation) -> str | None:
    """None for success, else the error message of the final FAILED state."""
    if obs.killed:
        return KILLED
    code = obs.exit_code
    if code is None:
        return DISAPPEARED_REBOOT if obs.rebooted else DISAPPEARED
    if code == 0:
        return None
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        message = f"spark-submit was killed by signal {name}"
    else:
        message = f"spark-submit exited with code {code}"
    return f"{message}: {obs.last_exception}" if obs.last_exception else message


def write_ref_file(ref: JobRef) -> None:
    path = Path(ref.job_dir) / REF_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(ref.to_dict(), indent=2))
    os.replace(tmp, path)


def write_killed_marker(ref: JobRef) -> None:
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(ref.killed_path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
