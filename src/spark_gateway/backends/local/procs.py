"""Process groups seen through /proc: is a job's group still there, and is it still the same group?

psutil is not a dependency, and `os.killpg(pgid, 0)` alone is not enough: it counts zombies (a dead
runner its parent has not reaped yet) and cannot tell our group from a later one that happens to get
the same id after a restart. So a group is identified by its leader's pid, pgid, start time and the
machine's boot id, all recorded when the job starts.

`listening_host` tells whether a job's own processes listen on a port: the only proof the gateway
accepts that a UI address found in a driver log is the driver's, before it fetches anything there.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_TCP_LISTEN = "0A"


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


def _socket_inodes(pids: Iterable[int]) -> set[int]:
    inodes: set[int] = set()
    for pid in pids:
        fd_dir = PROC / str(pid) / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                target = os.readlink(fd_dir / fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def _address(hex_address: str) -> str:
    """/proc/net/tcp{,6} addresses are 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_address)
    data = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(data) == 4:
        return socket.inet_ntop(socket.AF_INET, data)
    address = ipaddress.IPv6Address(data)
    return str(address.ipv4_mapped) if address.ipv4_mapped else str(address)


def listening_host(pids: Iterable[int], port: int) -> str | None:
    """The host to reach `port` on if one of `pids` listens on it (so it is theirs), else None.

    A wildcard listener (0.0.0.0, ::) is reached through 127.0.0.1; IPv6 hosts come bracketed.
    """
    inodes = _socket_inodes(pids)
    if not inodes:
        return None
    for table in ("tcp", "tcp6"):
        try:
            rows = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 10 or fields[3] != _TCP_LISTEN:
                continue
            address, _, port_hex = fields[1].partition(":")
            if int(port_hex, 16) != port or int(fields[9]) not in inodes:
                continue
            host = _address(address)
            if host in ("0.0.0.0", "::"):
                return "127.0.0.1"
            return f"[{host}]" if ":" in host else host
    return None
