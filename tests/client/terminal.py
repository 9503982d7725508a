"""Running `spark-gateway` as a user would: in a real pseudo-terminal, or with stdout in a pipe."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.e2e.conftest import REPO

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\r")


@dataclass
class Session:
    """What a command printed to its terminal (`raw`, with escapes), when, and how it exited."""

    code: int
    raw: str
    chunks: list[tuple[float, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw)


def cli_env(gateway_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_GATEWAY_")}
    env.pop("NO_COLOR", None)
    env.update(
        PYTHONPATH=str(REPO / "src"), SPARK_GATEWAY_URL=gateway_url, TERM="xterm-256color", COLUMNS="160"
    )
    env.update(extra)
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "spark_gateway", *args]


def run_in_terminal(
    args: list[str],
    env: dict[str, str],
    timeout: float = 120.0,
    on_output: Callable[[str], None] | None = None,
) -> Session:
    """Run `spark-gateway ARGS` with stdin, stdout and stderr on a 160x40 pseudo-terminal.

    `on_output` is called with everything printed so far, after each chunk the terminal receives.
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(command(*args), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO)
    os.close(slave)
    chunks: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal's other end has closed it
                break
            if not data:
                break
            chunks.append((time.monotonic(), data.decode("utf-8", errors="replace")))
            if on_output is not None:
                on_output("".join(c for _, c in chunks))
        else:
            proc.kill()
            raise AssertionError(f"{args} did not end in {timeout} s:\n{''.join(c for _, c in chunks)}")
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
    return Session(code, "".join(c for _, c in chunks), chunks)


def run_piped(
    args: list[str], env: dict[str, str], timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)
