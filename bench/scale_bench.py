"""The scale bench: reads against the framework's ceiling, lists and scrapes from 1k to 1M batches.

For each database (SQLite, PostgreSQL) it builds (once, then reuses) a small and a big stored history
(bench/dataset.py), then in the same run:
  * serves the bare FastAPI reference (bench/reference_app.py) and measures its req/s;
  * starts a real gateway process on the big history and measures every single-object read: req/s
    under `wrk -t2 -c32` (ratio to the reference) and the p50 of a lone request, timed by a raw-socket
    client (bench/load.py's `RawClient`) with the server's CPU per request, in blocks alternating with
    the reference's (kept running beside the gateway), so both see the same moments of a shared
    machine's load; the reference's lone p50 is also given alone, by `wrk -t1 -c1` and by the httpx
    client the bench used before (whose own Python added about half a millisecond to every figure);
  * measures first page, a deep page, /metrics and the v1 list alone on the small and on the big
    history (ratio big/small: 1.0 means flat in history size);
  * reports the gateway's RSS after the big run, and creates per second (a sleeping spark-submit);
  * lists as a non-admin user owning one batch in 100 (auth configured), at 1k and big, their totals;
  * a SparkManager following 10k live SparkApplications with status changes at 200/s (1k at 50/s with
    --quick; bench/manager_bench.py): status lag p99 and RSS.
and once, on SQLite with real Spark: POST /batches to `running` against bare spark-submit
(bench/livy_bench.py's measurement; `--no-spark` skips it).
Absolute figures depend on the machine and its load; the ratios are the point.

Usage: python bench/scale_bench.py [--quick] [--db sqlite|postgresql|both] [--big N] [--seconds S]
                                   [--no-spark] [--no-manager] [--only reads|owners]
(`--only reads`: the reference and the single-object reads alone, no lists, creates, manager or Spark;
`--only owners`: the non-admin user's lists alone, at 1k and big.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))
from dataset import EPOCH, LOG_EVERY, USERS, Target, build, ensure  # noqa: E402
from load import (  # noqa: E402
    WRK,
    Lone,
    cpu_ns,
    httpx_lone_ms,
    lone,
    lone_ms,
    lone_pair,
    throughput,
    wrk_lone_ms,
)
from tests.e2e.conftest import GatewayProcess, free_port  # noqa: E402

from spark_gateway.services.pages import encode_token  # noqa: E402

SMALL = 1_000
PAGE = 20


def gateway_id(g: int) -> str:
    return f"local-dflt-{g:08x}-0000-7000-8000-{g:012x}"


def env() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), environment.get("PYTHONPATH", "")])
    return environment


@contextmanager
def gateway(target: Target, workdir: Path, **extra: Any) -> Iterator[GatewayProcess]:
    conf = {"dataDir": str(workdir / target.label), "database": {"url": target.url}, **extra}
    conf_path = workdir / f"{target.label}.yaml"
    conf_path.write_text(yaml.safe_dump(conf))
    gw = GatewayProcess(conf_path, free_port(), workdir / f"{target.label}.log", env())
    gw.start(timeout=600)  # the first start on a big history runs the migrations (index builds)
    try:
        assert gw.proc is not None
        settle(target, gw.proc.pid)
        yield gw
    finally:
        gw.stop()


def settle(target: Target, pid: int, *, limit_s: float = 60.0) -> None:
    """Wait (at most `limit_s`) until the gateway's start-up work is over: re-attaching reads every
    non-terminal row of the cluster with a NOT IN, a scan of the whole table (seconds at 1M batches,
    on PostgreSQL in parallel workers), which would otherwise land on the first figures measured.
    Settled: the process uses under a tenth of a core and its database runs no statement."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = cpu_ns(pid)
        time.sleep(0.5)
        if (cpu_ns(pid) - before) < 0.05e9 and not asyncio.run(statements_running(target)):
            return


async def statements_running(target: Target) -> int:
    """Statements other than this one running on the target's PostgreSQL database (0 on SQLite)."""
    if target.db != "postgresql":
        return 0
    engine = create_async_engine(target.url)
    try:
        async with engine.connect() as conn:
            query = (
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            )
            return int((await conn.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


@contextmanager
def reference(workdir: Path) -> Iterator[tuple[str, int]]:
    """The bare FastAPI app, logging like the gateway (to a file, as the gateway's log goes): its URL
    and process id."""
    port = free_port()
    log = (workdir / "reference.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "reference_app.py"), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/api/livy/batches/1", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Report:
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([c if isinstance(c, str) else f"{c:.2f}" for c in cells])

    def render(self) -> str:
        header = ["db", "what", "figure", "ceiling / 1k figure", "ratio", "target"]
        table = [header, ["---"] * len(header), *self.rows]
        return "\n".join("| " + " | ".join(row) + " |" for row in table)


def lone_cell(alone: Lone) -> str:
    cpu = "" if alone.cpu_ms is None else f" ({alone.cpu_ms:.2f} ms CPU)"
    return f"{alone.p50_ms:.2f} ms{cpu}"


def single_reads(big: int) -> dict[str, str]:
    g = (big // 2) // LOG_EVERY * LOG_EVERY  # a batch in the middle of history, with a stored log
    gid = gateway_id(g)
    return {
        "GET /api/livy/batches/{id}": f"/api/livy/batches/{g}",
        "GET /api/livy/batches/{id}/state": f"/api/livy/batches/{g}/state",
        "GET /api/livy/batches/{id}/log?size=100": f"/api/livy/batches/{g}/log?size=100",
        "GET /api/v1/applications/{id}": f"/api/v1/applications/{gid}",
        "GET /api/v1/applications/{id}/status": f"/api/v1/applications/{gid}/status",
    }


def scaling_paths(batches: int) -> dict[str, str]:
    return {
        "GET /api/livy/batches (first page)": f"/api/livy/batches?size={PAGE}",
        "GET /api/livy/batches?from=N-1000 (deep page)": (
            f"/api/livy/batches?from={batches - 1000}&size={PAGE}"
        ),
        "GET /api/livy/batches?from=N/2 (middle page)": f"/api/livy/batches?from={batches // 2}&size={PAGE}",
        "GET /metrics": "/metrics",
        "GET /api/v1/applications (default page)": "/api/v1/applications",
    }


def bench_database(
    db: str, big: int, seconds: float, report: Report, workdir: Path, *, reads_only: bool = False
) -> None:
    small_target, big_target = Target(db, SMALL), Target(db, big)
    for target in (big_target,) if reads_only else (small_target, big_target):
        asyncio.run(ensure(target))
    with reference(workdir) as (ref_url, ref_pid):
        ref_path = f"{ref_url}/api/livy/batches/1"
        ceiling = throughput(ref_path, seconds)
        ceiling_lone = lone(ref_path, pid=ref_pid)
        wrk_ms = wrk_lone_ms(ref_path, seconds)
        httpx_ms = httpx_lone_ms(ref_path)
        rps = f"{ceiling.rps:.0f} req/s"
        report.add(db, f"bare FastAPI GET (reference, {ceiling.tool})", rps, "", "1.00", "")
        what = "bare FastAPI GET, lone p50 (raw socket; server CPU)"
        report.add(db, what, lone_cell(ceiling_lone), "", "", "")
        if wrk_ms is not None:
            report.add(db, "bare FastAPI GET, lone p50 (wrk -t1 -c1)", f"{wrk_ms:.2f} ms", "", "", "")
        what = "bare FastAPI GET, lone p50 (httpx client, the old method)"
        report.add(db, what, f"{httpx_ms:.2f} ms", "", "", "")
        # The reference keeps running (idle) beside the gateway: each read's lone requests alternate
        # with the reference's, so the two figures see the same moments of the machine's load.
        gateway_figures(db, big, seconds, report, workdir, ceiling.rps, (ref_path, ref_pid), reads_only)


def gateway_figures(
    db: str,
    big: int,
    seconds: float,
    report: Report,
    workdir: Path,
    ceiling_rps: float,
    ref: tuple[str, int],
    reads_only: bool,
) -> None:
    small_target, big_target = Target(db, SMALL), Target(db, big)
    small_ms: dict[str, float] = {}
    small_rss = float("nan")
    if not reads_only:
        with gateway(small_target, workdir) as gw:
            for what, path in scaling_paths(SMALL).items():
                small_ms[what] = lone_ms(gw.url + path)
            assert gw.proc is not None
            small_rss = rss_mb(gw.proc.pid)

    with gateway(big_target, workdir) as gw:
        health = throughput(f"{gw.url}/health", seconds)
        ratio = health.rps / ceiling_rps
        report.add(db, "GET /health", f"{health.rps:.0f} req/s", f"{ceiling_rps:.0f}", ratio, "")
        assert gw.proc is not None
        for what, path in single_reads(big).items():
            load = throughput(gw.url + path, seconds)
            alone, bare = lone_pair(gw.url + path, gw.proc.pid, *ref)
            errors = f" ({load.errors} errors)" if load.errors else ""
            ratio = load.rps / ceiling_rps
            report.add(db, what, f"{load.rps:.0f} req/s{errors}", f"{ceiling_rps:.0f}", ratio, "≥ 0.25")
            label = what + ", lone p50 (server CPU); beside it the bare endpoint, alternating"
            ratio = alone.p50_ms / bare.p50_ms
            report.add(db, label, lone_cell(alone), lone_cell(bare), ratio, "≤ 1.5 ms")
        if reads_only:
            return
        for what, path in scaling_paths(big).items():
            alone = lone_ms(gw.url + path, count=50, budget_s=seconds)
            ratio = alone / small_ms[what]
            label = f"{what} at {big:,}"
            report.add(db, label, f"{alone:.1f} ms", f"{small_ms[what]:.1f} ms", ratio, "≤ 1.5")
        assert gw.proc is not None
        rss = rss_mb(gw.proc.pid)
        what = f"gateway RSS after the {big:,} run (after the {SMALL:,} lists)"
        report.add(db, what, f"{rss:.0f} MB", f"{small_rss:.0f} MB", rss / small_rss, "flat")


OWNER = "user7"  # owns one batch in dataset.USERS (a non-admin: lists are filtered, totals are theirs)
OWNER_AUTH = {
    "middleware": [
        {
            "type": "HeaderAuthMiddleware",
            "conf": {"headers": [{"key": "X-Forwarded-User"}], "trustedProxies": ["127.0.0.1/32"]},
        }
    ]
}


DEFAULT_PAGE_AS_OWNER = f"GET /api/v1/applications as {OWNER} (default page: 10 rows at 1k, 100 big)"


def owned(batches: int) -> int:
    return len(range(int(OWNER.removeprefix("user")), batches, USERS))


def owner_paths(batches: int) -> dict[str, str]:
    """The user's pages, each as many rows at 1k as at `big` (the user owns 10 at 1k), so a ratio
    compares the same work; and the v1 default page as is (10 rows at 1k, 100 at `big`: reported
    beside the 1k figure, without a ratio, since the response is ten times the size)."""
    mine = owned(batches)
    first, deep = owned(SMALL), owned(SMALL) // 2
    # The continue token of a page ending at the owner's (mine/2)-th newest batch: a v1 page that deep.
    g = int(OWNER.removeprefix("user")) + USERS * (mine - mine // 2)
    created = datetime.fromisoformat(EPOCH).replace(tzinfo=UTC) + timedelta(seconds=g)
    token = encode_token(created, gateway_id(g))
    return {
        f"GET /api/livy/batches?size={first} as {OWNER} (first page)": f"/api/livy/batches?size={first}",
        f"GET /api/livy/batches?from=owned/2&size={deep} as {OWNER} (deep page)": (
            f"/api/livy/batches?from={mine // 2}&size={deep}"
        ),
        f"GET /api/v1/applications?limit={first} as {OWNER} (first page)": (
            f"/api/v1/applications?limit={first}"
        ),
        f"GET /api/v1/applications?limit={deep}&continue=owned/2 as {OWNER} (deep page)": (
            f"/api/v1/applications?limit={deep}&continue={token}"
        ),
        DEFAULT_PAGE_AS_OWNER: "/api/v1/applications",
    }


def bench_owner_lists(db: str, big: int, seconds: float, report: Report, workdir: Path) -> None:
    """Lists as a non-admin user who owns 1 batch in USERS, at 1k and at `big`: filtered by owner,
    `total` counting only theirs (checked), first and deep page."""
    headers = {"X-Forwarded-User": OWNER}
    small_ms: dict[str, float] = {}
    for batches in (SMALL, big):
        asyncio.run(ensure(Target(db, batches)))
        with gateway(Target(db, batches), workdir, gateway=OWNER_AUTH) as gw:
            first = httpx.get(f"{gw.url}/api/livy/batches?size={PAGE}", headers=headers, timeout=60).json()
            if first.get("total") != owned(batches) or any(b["owner"] != OWNER for b in first["sessions"]):
                raise RuntimeError(f"{OWNER}'s list at {batches:,} is wrong: total {first.get('total')}")
            for what, path in owner_paths(batches).items():
                alone = lone_ms(gw.url + path, count=50, budget_s=seconds, headers=headers)
                if batches == SMALL:
                    small_ms[what] = alone
                    continue
                label = f"{what} at {big:,} ({owned(big):,} theirs)"
                if what == DEFAULT_PAGE_AS_OWNER:  # not the same work at both sizes: no ratio
                    report.add(db, label, f"{alone:.1f} ms", f"{small_ms[what]:.1f} ms", "", "report")
                    continue
                ratio = alone / small_ms[what]
                report.add(db, label, f"{alone:.1f} ms", f"{small_ms[what]:.1f} ms", ratio, "≤ 1.5")


FAKE_SUBMIT = """#!/bin/sh
# A spark-submit that holds its slot without using the CPU: the creates bench measures the gateway.
exec sleep 600
"""


def livy_body(i: int) -> dict[str, object]:
    return {"file": str(REPO / "examples" / "pi.py"), "name": f"create-{i}", "args": ["1"]}


def v1_body(i: int) -> dict[str, object]:
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"namespace": "default", "name": f"create-{i}"},
        "spec": {
            "type": "Python",
            "mode": "cluster",
            "sparkVersion": "3.5.3",
            "mainApplicationFile": str(REPO / "examples" / "pi.py"),
        },
    }


async def create_rate(
    url: str, path: str, body: Any, keyed: bool, seconds: float
) -> tuple[float, Counter[int]]:
    """Creates/s over 32 connections for `seconds` (each with its own Idempotency-Key when keyed),
    and the answers that were not 201 by status code."""
    done = 0
    errors: Counter[int] = Counter()
    counter = iter(range(10**9))
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            i = next(counter)
            headers = {"Idempotency-Key": f"bench-{path}-{i}-{time.time_ns()}"} if keyed else {}
            response = await client.post(path, json=body(i), headers=headers)
            done += 1
            if response.status_code != 201:
                errors[response.status_code] += 1

    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        began = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(32)))
        return done / (time.monotonic() - began), errors


def bench_creates(db: str, seconds: float, report: Report, workdir: Path) -> None:
    """Creates per second on an empty history of its own (the big ones stay as generated)."""
    target = Target(db, 0)
    asyncio.run(build(target))
    submit = workdir / "fake-spark-submit"
    submit.write_text(FAKE_SUBMIT)
    submit.chmod(0o755)
    clusters = [
        {
            "name": "local",
            "id": "local",
            "type": "local",
            "namespaces": [{"name": "default", "id": "dflt"}],
            "local": {"sparkSubmit": str(submit)},
        }
    ]
    with gateway(target, workdir, clusters=clusters) as gw:
        for path, body in (("/api/livy/batches", livy_body), ("/api/v1/applications", v1_body)):
            for keyed in (False, True):
                rate, errors = asyncio.run(create_rate(gw.url, path, body, keyed, seconds))
                what = f"POST {path}" + (" with Idempotency-Key" if keyed else "")
                failed = "".join(f" ({n} answered {code})" for code, n in sorted(errors.items()))
                report.add(db, what, f"{rate:.0f} creates/s{failed}", "", "", "report")
    stop_jobs(workdir / target.label)


def stop_jobs(data_dir: Path) -> None:
    """End the (sleeping) jobs the creates launched: local jobs outlive their gateway by design."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            session = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3])
        except (OSError, ValueError, IndexError):
            continue
        if str(data_dir) in cmdline and session == int(entry.name):  # the job's session leader
            with contextlib.suppress(ProcessLookupError):
                os.killpg(session, signal.SIGTERM)


def bench_startup(runs: int, report: Report, workdir: Path) -> None:
    """POST /batches to `running` against bare spark-submit to "started" (real Spark, local mode)."""
    from livy_bench import bare_spark_submit_to_running, gateway_post_to_running

    spark_env = {**env(), "SPARK_LOCAL_IP": "127.0.0.1"}
    conf = workdir / "startup.yaml"
    conf.write_text(yaml.safe_dump({"dataDir": str(workdir / "startup")}))
    gw = GatewayProcess(conf, free_port(), workdir / "startup.log", spark_env).start()
    try:
        with httpx.Client(base_url=gw.url, timeout=60) as client:
            gateway_s = statistics.median(gateway_post_to_running(client) for _ in range(runs))
    finally:
        gw.stop()
    bare_s = statistics.median(bare_spark_submit_to_running(spark_env) for _ in range(runs))
    what = f"POST /api/livy/batches -> running (median of {runs}, SQLite)"
    report.add(
        "sqlite", what, f"{gateway_s:.2f} s", f"{bare_s:.2f} s", gateway_s / bare_s, "≈ 1 (no regression)"
    )


def bench_manager(db: str, quick: bool, report: Report, workdir: Path) -> None:
    """A SparkManager following N live SparkApplications on the fake API server (bench/manager_bench.py)."""
    from manager_bench import LOG_CAPTURE_SECONDS, run, sizes

    result = run(db, *sizes(quick), LOG_CAPTURE_SECONDS, workdir / f"manager-{db}")
    for row in result.rows():
        report.add(db, *row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20k batches instead of 1M, 3 s per load")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--big", type=int, help="batches in the big history (default 1M; 20k with --quick)")
    parser.add_argument("--seconds", type=float, help="seconds per throughput figure (default 10; 3 quick)")
    parser.add_argument("--no-spark", action="store_true", help="skip POST -> running (needs Java)")
    parser.add_argument("--no-manager", action="store_true", help="skip the SparkManager's status lag")
    parser.add_argument(
        "--only",
        choices=["reads", "owners"],
        help="reads: the reference and the single-object reads; owners: a non-admin user's lists",
    )
    args = parser.parse_args()
    reads_only = args.only == "reads"
    big = args.big or (20_000 if args.quick else 1_000_000)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    report = Report()
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        for db in databases:
            if args.only == "owners":
                bench_owner_lists(db, big, seconds, report, Path(tmp))
                continue
            bench_database(db, big, seconds, report, Path(tmp), reads_only=reads_only)
            if reads_only:
                continue
            bench_owner_lists(db, big, seconds, report, Path(tmp))
            if not args.no_manager:
                bench_manager(db, args.quick, report, Path(tmp))
            bench_creates(db, seconds, report, Path(tmp))
        if not (args.no_spark or args.only):
            bench_startup(1 if args.quick else 3, report, Path(tmp))
    tool = "wrk -t2 -c32" if WRK else "httpx fallback, 32 connections (install wrk for the issue's figures)"
    print(f"\nload: {tool}, {seconds:.0f} s per figure; lists and scrapes: lone requests, p50")
    print("lone: sequential GETs on one keep-alive connection by a raw-socket client; CPU: the server")
    print("process's, all threads, per request over the same requests (the database server's is not in it)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print(report.render())


if __name__ == "__main__":
    main()
