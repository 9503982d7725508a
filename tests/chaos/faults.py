"""The faults the harness injects, one per round, and what "recovered" means after each.

Kinds: `none`; `kill_replica` / `kill_holder` (SIGKILL of a gateway replica that does not / does hold
the local cluster's supervisor lease; restarted afterwards); `kill_runner` (SIGKILL of a running local
job's process); `cut_database` (every connection to the database terminated by PostgreSQL);
`slow_database` (the proxy holds back every chunk for 50-300 ms, for 2-5 s); `kill_manager` (SIGKILL of
the SparkManager, restarted afterwards); `drop_watch` (the fake API server breaks the manager's watch,
abruptly or as a clean server-side end); `gone_410` (the watch history is compacted and the watch broken,
so the manager's resume gets `410 Gone` and it must list again). `restart_postgres` restarts the
machine's PostgreSQL, which everything on the machine notices, so it is drawn only when named.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from dataclasses import dataclass

from tests.chaos import cluster_local
from tests.chaos.system import System, pg_connect

FAULTS = (
    "none",
    "kill_replica",
    "kill_holder",
    "kill_runner",
    "cut_database",
    "slow_database",
    "kill_manager",
    "drop_watch",
    "gone_410",
)
OPT_IN_FAULTS = ("restart_postgres",)


@dataclass
class Injected:
    """What a fault did: when it ended, which job's runner it killed, what recovery must include."""

    ended: float
    killed_job: str | None = None
    since_request: int = 0  # the manager's watch must be newer than this many API-server requests
    relisted: bool = False  # ... and come after a fresh listing


async def inject(system: System, kind: str, rng: random.Random) -> Injected:
    since = system.kube.requests_seen()
    if kind in ("kill_replica", "kill_holder"):
        holder = await system.holder()
        pool = [gw for gw in system.alive() if (gw is holder) == (kind == "kill_holder")]
        if pool:
            victim = rng.choice(pool)
            assert victim.proc is not None
            os.kill(victim.proc.pid, signal.SIGKILL)
            await asyncio.to_thread(victim.proc.wait, 10)
    elif kind == "kill_runner":
        conn = await pg_connect(system.db_url)
        try:
            return Injected(time.monotonic(), killed_job=await cluster_local.kill_runner(conn, rng))
        finally:
            await conn.close()
    elif kind == "cut_database":
        conn = await pg_connect(system.db_url)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
    elif kind == "slow_database":
        system.proxy.delay = rng.uniform(0.05, 0.3)
        try:
            await asyncio.sleep(rng.uniform(2.0, 5.0))
        finally:
            system.proxy.delay = 0.0
    elif kind == "kill_manager":
        await asyncio.to_thread(system.kube.kill_manager)
    elif kind in ("drop_watch", "gone_410"):
        await system.kube.drop_watch(gone=kind == "gone_410", abrupt=rng.random() < 0.5)
        return Injected(time.monotonic(), since_request=since, relisted=kind == "gone_410")
    elif kind == "restart_postgres":
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
        proc = await asyncio.create_subprocess_exec(*command)
        await proc.wait()
    return Injected(time.monotonic())
