"""At most one lease holder at a time among contenders in separate processes, some killed with SIGKILL and
one frozen past its TTL: work intervals never overlap, fencing tokens only grow, takeover is bounded, and
the frozen holder's fenced writes after thawing are refused, never applied out of order."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from spark_gateway.db import migrate
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from tests.services.supervision.leases import RENEW, REPO, TTL, held

CONTENDER = """
import asyncio, os, signal, sys, time
from sqlalchemy import text
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.services.supervision.lease import LeaseGuard

async def main(url: str, out: str) -> None:
    db = Database(url)
    pid = os.getpid()
    log = open(out, "a", buffering=1)

    async def work(term):
        log.write(f"start {pid} {term.token} {time.monotonic():.6f}\\n")
        try:
            while not term.stop.is_set():
                async with db.transaction() as s:  # a fenced write: only lands while the term holds
                    await repo.limit_idle_transaction(s, 1.0)
                    if await repo.lease_is_held(s, term.name, term.holder, term.token, lock=True):
                        await s.execute(text("INSERT INTO beats (token) VALUES (:t)"), {"t": term.token})
                    else:
                        log.write(f"refused {pid} {term.token} {time.monotonic():.6f}\\n")
                log.write(f"beat {pid} {term.token} {time.monotonic():.6f}\\n")
                await asyncio.sleep(0.01)
        finally:
            log.write(f"end {pid} {term.token} {time.monotonic():.6f}\\n")

    guard = LeaseGuard(db, "contended", work, holder=f"p{pid}", ttl=%(ttl)s, renew_interval=%(renew)s)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await guard.run(stop)
    await db.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def parse_events(path: Path) -> list[tuple[str, int, int, float]]:
    events = []
    for line in path.read_text().splitlines():
        kind, pid, token, at = line.split()
        events.append((kind, int(pid), int(token), float(at)))
    return events


async def test_contenders_in_separate_processes_never_overlap(fresh_db: str, tmp_path: Path) -> None:
    """Three processes contend; the holder is SIGKILLed twice (a replacement starts each time) and
    frozen once past its TTL. Work intervals never overlap, tokens only grow, takeover is bounded, and
    the frozen holder's fenced writes after thawing are refused, never applied out of order."""
    db_url = fresh_db
    db = Database(db_url)
    await migrate.upgrade(db)
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE beats (id BIGSERIAL PRIMARY KEY, token INTEGER NOT NULL)"))
    script = tmp_path / "contender.py"
    script.write_text(CONTENDER % {"ttl": TTL, "renew": RENEW})
    out = tmp_path / "events.log"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    procs: list[subprocess.Popen[bytes]] = []

    def spawn() -> None:
        procs.append(subprocess.Popen([sys.executable, str(script), db_url, str(out)], env=env))

    async def current_holder() -> tuple[int, int]:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            state = await held(db, repo.get_lease, "contended")
            if state is not None and state.seconds_left > 0:
                return int(state.holder[1:]), state.fencing_token
            await asyncio.sleep(0.05)
        raise AssertionError("no process acquired the lease")

    async def next_start_after(token: int) -> float:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            starts = [e for e in parse_events(out) if e[0] == "start" and e[2] > token]
            if starts:
                return starts[0][3]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no term after token {token}")

    takeovers = []
    try:
        for _ in range(3):
            spawn()
        for _ in range(2):
            pid, token = await current_holder()
            await asyncio.sleep(0.5)
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            spawn()
            takeovers.append(await next_start_after(token) - killed_at)
        pid, token = await current_holder()
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGSTOP)  # frozen past its TTL, like a long GC pause or a stalled VM
        await next_start_after(token)
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGCONT)
        await asyncio.sleep(1.0)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    async with db.transaction() as session:
        beat_tokens = list((await session.execute(text("SELECT token FROM beats ORDER BY id"))).scalars())
    await db.dispose()

    events = parse_events(out)
    assert beat_tokens == sorted(beat_tokens), "a stale holder's fenced write landed after a takeover"
    assert len(set(beat_tokens)) >= 4
    # Work intervals (start .. last beat/end) of the terms that were not frozen must be disjoint.
    spans: dict[tuple[int, int], list[float]] = {}
    for kind, pid_, token_, at in events:
        if kind != "refused":
            spans.setdefault((pid_, token_), []).append(at)
    frozen = (pid, token)
    ordered = sorted((min(v), max(v), key) for key, v in spans.items() if key != frozen)
    for (_s1, end1, k1), (start2, _e2, k2) in itertools.pairwise(ordered):
        assert start2 > end1, f"terms {k1} and {k2} overlapped"
        assert k2[1] > k1[1], "fencing tokens must grow from term to term"
    assert all(t < TTL + RENEW + 0.5 for t in takeovers), takeovers
