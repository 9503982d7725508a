"""Real gateway processes for end-to-end tests: `spark-gateway serve` on a free port (tests/e2e/processes.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.processes import REPO, GatewayProcess, env_with_this_source, free_port

__all__ = ["REPO", "GatewayProcess", "GatewayStarter", "free_port", "start_gateway"]

GatewayStarter = Callable[..., GatewayProcess]


@pytest.fixture
def start_gateway(tmp_path: Path, spark_env: dict[str, str]) -> Iterator[GatewayStarter]:
    started: list[GatewayProcess] = []
    env = env_with_this_source(spark_env)

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
