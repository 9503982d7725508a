"""The harness's local cluster: jobs run by a stand-in `spark-submit`, supervised by the lease holder.

The stand-in (tests/e2e/local_replicas.py) prints a start line, sleeps for its last argument and prints a
done line, so the harness can tell from its driver log whether and how often a job really ran. Here are
the cluster's configuration, the `kill_runner` fault (SIGKILL of a running job's process), and the local
invariants: a job ran at most once, its state matches what its driver did, its stored log is the
driver's, and no job directory or job process is unknown to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from tests.e2e.local_replicas import fake_spark_submit

NAME, NAMESPACE = "local", "default"


def cluster_config(root: Path) -> dict[str, Any]:
    local = {
        "sparkSubmit": fake_spark_submit(root),
        "allowedDirs": [str(root)],
        "pollIntervalSeconds": 0.2,
        "maxConcurrentJobs": 8,
    }
    namespaces = [{"name": NAMESPACE, "id": "dflt"}]
    return {"name": NAME, "id": NAME, "type": "local", "namespaces": namespaces, "local": local}


async def kill_runner(conn: asyncpg.Connection, rng: random.Random) -> str | None:
    """SIGKILL one running local job's process; returns its gateway id (None when none runs)."""
    rows = await conn.fetch(
        "SELECT gateway_id, backend_ref FROM applications WHERE state IN ('SUBMITTED', 'RUNNING')"
    )
    jobs = sorted(
        (r["gateway_id"], int(r["backend_ref"]["pid"]))
        for r in rows
        if isinstance(r["backend_ref"], dict) and "pid" in r["backend_ref"]
    )
    if not jobs:
        return None
    gateway_id, pid = rng.choice(jobs)
    with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
        os.kill(pid, signal.SIGKILL)
    return gateway_id


async def check(conn: asyncpg.Connection, root: Path, gateway_id: str, state: str, killed: bool) -> list[str]:
    """One local job's invariants (`killed`: its runner was killed, so its end need not be the driver's)."""
    problems = []
    log_file = root / "data" / "jobs" / gateway_id / "driver.log"
    ran = log_file.read_text(errors="replace") if log_file.exists() else ""
    if ran.count("fake driver starting") > 1:
        problems.append(f"ran {ran.count('fake driver starting')} times")
    finished = "fake driver done" in ran
    if (state == "COMPLETED") != finished and not killed:
        problems.append(f"is {state} but its driver finished={finished}")
    rows = await conn.fetch(
        "SELECT line FROM application_logs WHERE gateway_id = $1 ORDER BY seq", gateway_id
    )
    driver_lines = [r["line"] for r in rows if r["line"].startswith("fake driver")]
    if len(driver_lines) != len(set(driver_lines)):
        problems.append(f"has duplicated log lines: {driver_lines}")
    expected = [line for line in ran.splitlines() if line.startswith("fake driver")]
    if driver_lines != expected:
        problems.append(f"stored log {driver_lines} != driver's {expected}")
    return problems


def orphan_directories(root: Path, known: set[str]) -> list[str]:
    jobs_dir = root / "data" / "jobs"
    return sorted(
        job.name for job in (jobs_dir.iterdir() if jobs_dir.exists() else []) if job.name not in known
    )


def job_processes(root: Path) -> list[int]:
    """Stand-in spark-submit processes still running (their command line names the script)."""
    script = str(root / "fake-spark-submit")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if script in cmdline:
            found.append(int(entry.name))
    return found


async def gone_within(find: Callable[[], list[int]], seconds: float) -> list[int]:
    """What `find()` still returns after up to `seconds` of polling (processes exit asynchronously)."""
    deadline = time.monotonic() + seconds
    left: list[int] = find()
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        left = find()
    return left
