"""Real gateway processes for end-to-end tests: `spark-gateway serve` on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class GatewayProcess:
    conf: Path
    port: int
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> GatewayProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "spark_gateway",
                "serve",
                "--conf",
                str(self.conf),
                "--port",
                str(self.port),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=REPO,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gateway did not start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self._log:
            self._log.close()


GatewayStarter = Callable[..., GatewayProcess]


@pytest.fixture
def start_gateway(tmp_path: Path, spark_env: dict[str, str]) -> Iterator[GatewayStarter]:
    started: list[GatewayProcess] = []
    env = dict(spark_env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)

    def start(
        config: dict[str, Any] | None = None, port: int | None = None, extra_env: dict[str, str] | None = None
    ) -> GatewayProcess:
        """`extra_env`: variables added to this gateway process's environment."""
        conf = {"dataDir": str(tmp_path / "data"), **(config or {})}
        conf_path = tmp_path / f"gateway-{len(started)}.yaml"
        conf_path.write_text(yaml.safe_dump(conf))
        log_path = tmp_path / f"gateway-{len(started)}.log"
        gw = GatewayProcess(conf_path, port or free_port(), log_path, {**env, **(extra_env or {})})
        started.append(gw)
        return gw.start()

    yield start
    for gw in started:
        gw.stop()


def wait_for_state(
    client: httpx.Client, batch_id: int, states: set[str], timeout: float = 180.0
) -> list[str]:
    """Poll until the batch reaches one of `states`; returns every state seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/livy/batches/{batch_id}/state").json()["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in states:
            return seen
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} never reached {states}; seen {seen}")


def session_processes(sid: int) -> list[int]:
    """Pids of live processes in session `sid` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def find_job_session(gateway_id: str) -> int | None:
    """The session id of the job launched for `gateway_id` (its command line names the job dir)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if gateway_id in cmdline:
            return int(stat.rsplit(")", 1)[1].split()[3])
    return None
