"""A tiny parent for one `spark-submit`, so a job's outcome outlives the gateway process.

The gateway starts this wrapper as the leader of a new session; it starts spark-submit in the same
process group, forwards SIGTERM to the whole group (killing spark-submit alone would orphan the Python
driver), and when spark-submit ends stops whatever the job left behind in the group and writes the exit
code atomically to a file. Any later gateway process can then learn how the job ended, even if it was
not the job's parent.

It is also the job's child subreaper: processes orphaned inside the job (the Python driver when the JVM
dies first) are re-parented to it rather than to PID 1, and reaped here, because PID 1 of a container
often never reaps them and the zombies would keep the process group alive.

Standard library only (so it repeats the small /proc scan of `procs`): the backend runs it by file path
in isolated mode (`python -I runner.py`); `python -m spark_gateway.backends.local.runner` works too.

Exit-code file: one integer line, the child's return code (negative N: killed by signal N; 127: could
not be started).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from types import FrameType

EXIT_NOT_STARTED = 127
_PR_SET_CHILD_SUBREAPER = 36


def write_exit_code(path: str, code: int) -> None:
    """Write `code` so that readers see either no file or the complete file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        handle.write(f"{code}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        # Best effort: without it, orphaned grandchildren are re-parented to init and merely not reaped.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _other_members() -> list[int]:
    """Live (not zombie) processes of our process group, except ourselves."""
    me, group, found = os.getpid(), os.getpgrp(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] not in ("Z", "X") and int(fields[2]) == group:
            found.append(int(entry))
    return found


def _reap_orphans() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


class _GroupTerminator:
    """SIGTERM handler: pass SIGTERM on to the whole process group."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self.terminate_group()

    @staticmethod
    def terminate_group() -> None:
        # The group includes us: block SIGTERM and swallow our own copy instead of handling it again.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgrp(), signal.SIGTERM)
            signal.sigtimedwait({signal.SIGTERM}, 0)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _stop_leftovers(grace: float) -> None:
    """SIGTERM what the job left in the group, SIGKILL it after `grace` seconds, reap our orphans."""
    _GroupTerminator.terminate_group()
    for sig, seconds in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        if sig == signal.SIGKILL:
            for pid in _other_members():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + seconds
        while True:
            _reap_orphans()
            if not _other_members():
                _reap_orphans()  # those that became zombies (re-parented to us) since the call above
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)


def run(command: list[str], exit_file: str, grace: float = 5.0) -> int:
    _become_subreaper()
    terminator = _GroupTerminator()
    signal.signal(signal.SIGTERM, terminator)
    if terminator.requested:
        write_exit_code(exit_file, -signal.SIGTERM)
        return 128 + signal.SIGTERM
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"spark-gateway: cannot start {command[0]}: {exc}", file=sys.stderr, flush=True)
        write_exit_code(exit_file, EXIT_NOT_STARTED)
        return EXIT_NOT_STARTED
    if terminator.requested:
        # SIGTERM arrived while the child was being started: it may have missed the group signal.
        child.terminate()
    # Only the child's own status here: reaping others with waitpid(-1) now could steal it.
    code = child.wait()
    _stop_leftovers(grace)
    sys.stdout.flush()
    write_exit_code(exit_file, code)
    return code if code >= 0 else 128 - code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a command in this process group; record its exit.")
    parser.add_argument("--exit-file", required=True, help="where to write the child's exit code")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds leftovers get after SIGTERM")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- spark-submit ARGS...")
    args = parser.parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        parser.error("no command given")
    return run(command, args.exit_file, args.grace)


if __name__ == "__main__":
    sys.exit(main())
