"""Process groups seen through /proc: is a job's group still there, and is it still the same group?

psutil is not a dependency, and `os.killpg(pgid, 0)` alone is not enough: it counts zombies (a dead
runner its parent has not reaped yet) and cannot tell our group from a later one that happens to get
the same id after a restart. So a group is identified by its leader's pid, pgid, start time and the
machine's boot id, all recorded when the job starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    pgid: int
    state: str
    start_time: int  # clock ticks after boot, /proc/<pid>/stat field 22


def boot_id() -> str | None:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def proc_info(pid: int) -> ProcInfo | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return ProcInfo(pid=pid, pgid=int(fields[2]), state=fields[0], start_time=int(fields[19]))
    except (IndexError, ValueError):
        return None


def snapshot() -> dict[int, list[ProcInfo]]:
    """Every live (not zombie) process on the machine, by process group."""
    groups: dict[int, list[ProcInfo]] = {}
    try:
        entries = os.listdir(PROC)
    except OSError:
        return groups
    for entry in entries:
        if not entry.isdigit():
            continue
        info = proc_info(int(entry))
        if info is not None and info.state not in ("Z", "X"):
            groups.setdefault(info.pgid, []).append(info)
    return groups


@dataclass(frozen=True)
class GroupIdentity:
    pgid: int
    leader_start_time: int | None
    boot_id: str | None

    def members(self, procs: dict[int, list[ProcInfo]] | None = None) -> list[ProcInfo]:
        """The live processes of this very group (empty when it is gone or the id was reused)."""
        if self.boot_id is not None and boot_id() not in (None, self.boot_id):
            return []  # the machine restarted since the job started
        found = (procs if procs is not None else snapshot()).get(self.pgid, [])
        leader = next((p for p in found if p.pid == self.pgid), None)
        if (
            leader is not None
            and self.leader_start_time is not None
            and leader.start_time != self.leader_start_time
        ):
            return []  # a different group that got the same id
        # Without its leader a group id cannot be reused (Linux keeps it reserved), so these are ours.
        return found

    def signal(self, sig: signal.Signals, procs: dict[int, list[ProcInfo]] | None = None) -> bool:
        """Send `sig` to the group if it is still ours; False when there was nothing to signal."""
        if not self.members(procs):
            return False
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            return False
        return True


def reap(pid: int) -> None:
    """Collect `pid` if it is an exited child of this process, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
