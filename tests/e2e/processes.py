"""Real processes that end-to-end tests start: one class, so starting, readiness and stopping agree.

`StartedProcess` runs a command with its output in a log file, waits until a readiness check passes
(failing with the log's tail if the process exits or never gets ready) and stops it with a signal,
killing it if it does not exit in time. `GatewayProcess` (`spark-gateway serve`, ready on /health) and
`ManagerProcess` (`spark-gateway manager`, ready on /ready) add their command line and URL; the Spark
standalone master and worker use it with a log line as their readiness check.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_contains(path: Path, marker: str) -> Callable[[], bool]:
    """A readiness check: `marker` appears in the log file at `path`."""
    return lambda: path.exists() and marker in path.read_text(errors="replace")


def answers_200(url: str) -> Callable[[], bool]:
    """A readiness check: GET `url` answers 200."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return check


class StartedProcess:
    """A process started for a test: its output goes to `log_path`; `ready()` says when it serves."""

    name = "process"

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str],
        ready: Callable[[], bool],
        *,
        new_session: bool = False,
    ) -> None:
        self.argv, self.log_path, self.env, self.ready = list(argv), log_path, env, ready
        self.new_session = new_session
        self.proc: subprocess.Popen[bytes] | None = None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def start(self, timeout: float = 60.0) -> StartedProcess:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO,
                start_new_session=self.new_session,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            if self.ready():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Signal the process (its whole session if it has one) and wait; returns its exit status."""
        if self.proc is None:
            return None
        if self.new_session:  # also what the leader left behind in its session
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
        elif self.proc.poll() is None:
            self.proc.send_signal(sig)
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


class GatewayProcess(StartedProcess):
    """`spark-gateway serve --conf conf --port port`, ready once /health answers."""

    name = "gateway"

    def __init__(self, conf: Path, port: int, log_path: Path, env: dict[str, str]) -> None:
        self.conf, self.port = conf, port
        argv = [sys.executable, "-m", "spark_gateway", "serve", "--conf", str(conf), "--port", str(port)]
        super().__init__(argv, log_path, env, answers_200(f"{self.url}/health"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> GatewayProcess:
        super().start(timeout)
        return self


class ManagerProcess(StartedProcess):
    """`spark-gateway manager --conf conf --cluster cluster` serving on `port`, ready once /ready answers."""

    name = "manager"

    def __init__(self, conf: Path, cluster: str, port: int, log_path: Path, env: dict[str, str]) -> None:
        self.conf, self.cluster, self.port = conf, cluster, port
        argv = [sys.executable, "-m", "spark_gateway", "manager", "--conf", str(conf), "--cluster", cluster]
        super().__init__(argv, log_path, env, answers_200(f"{self.url}/ready"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ManagerProcess:
        super().start(timeout)
        return self


def env_with_this_source(env: dict[str, str]) -> dict[str, str]:
    """`env` with this checkout's src/ first on PYTHONPATH, so started processes run the code under test."""
    paths = [str(REPO / "src"), env.get("PYTHONPATH", "")]
    return dict(env, PYTHONPATH=os.pathsep.join(paths).rstrip(os.pathsep))
