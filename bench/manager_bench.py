"""The SparkManager bench: can one manager keep the database up to date with N live SparkApplications?

Issue 11's target: 10,000 live applications, status changes arriving at 200/s, the lag from the API
server's event to the database row p99 < 2 s, the manager's memory bounded. This runs a real
`spark-gateway manager` process against the fake Kubernetes API server (tests/fakes, real HTTP, in a
process of its own: bench/fake_cluster.py) and a fresh database:
  * N rows are stored as the gateway stores a v1 submission (state New), and the same N
    SparkApplications are put into the fake API server (as the gateway's create would), all RUNNING
    with their driver pods and logs (so the manager's running-log copies have N drivers to follow);
  * the manager starts, lists, watches, and settles (its `spark_manager_pending_updates` reaches 0);
  * the fake then writes statuses as the operator does (`/status`: new resourceVersion, a MODIFIED
    event to the watch) at the given rate, round-robin over the applications; the k-th change of an
    application sets `driverInfo.webUIPort` to 4040 + k (a tracked field) and adds a line to its
    driver's log, and the time each event is emitted is recorded;
  * once the run ends, the rows are read until each shows its application's last change; the lag of
    that change is the row's `updated_at` (stamped by the manager's write) minus the emission time.
Only an application's last change is measured (an earlier one may be coalesced into it, as the
manager's keyed queue intends), so a run of `seconds * rate <= N` measures every change.
The manager's RSS is read after it settled (start), its VmHWM (peak) and at the end; its CPU time and
the fake API server's are read over the run.

Usage: python bench/manager_bench.py [--quick] [--db postgresql|sqlite|both] [--apps N] [--rate R]
                                     [--seconds S] [--log-capture SECONDS] [--src DIR] [--lags FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from math import nan
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import insert, select

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))
from dataset import _recreate_pg_database  # noqa: E402
from fake_cluster import PORT_BASE, FakeCluster  # noqa: E402
from tests.e2e.conftest import free_port  # noqa: E402
from tests.fakes.k8s_server import sample_app  # noqa: E402

from spark_gateway.db import migrate  # noqa: E402
from spark_gateway.db.engine import Database  # noqa: E402
from spark_gateway.db.models import ApplicationRow  # noqa: E402
from spark_gateway.domain.ids import new_gateway_id  # noqa: E402
from spark_gateway.domain.sparkapp import SparkApplication, stamp  # noqa: E402

CLUSTER, CLUSTER_ID, NAMESPACE, NAMESPACE_ID = "fake-cluster", "c1", "default", "dflt"
NAMESPACES = [{"name": NAMESPACE, "id": NAMESPACE_ID}]
SELECTOR = ("spark-gateway/managed-by", "spark-gateway")
OWNERS = 100
PG_DATABASE = "bench_manager"
LOG_CAPTURE_SECONDS = 10.0  # sparkManager.logCaptureSeconds, the default


@dataclass
class Result:
    db: str
    apps: int
    rate_asked: float
    rate: float  # achieved by the fake
    changes: int
    measured: int  # applications whose last change reached the database
    missing: int  # ... and those whose last change never did
    lag_p50: float
    lag_p99: float
    lag_max: float
    rss_start: float
    rss_peak: float
    rss_end: float
    sync_s: float  # from start to settled (list, then N first writes)
    cpu_s: float  # the manager's CPU time while changes arrived and until the last one was stored
    wall_s: float  # ... and the wall-clock time of that
    fake_cpu_s: float = nan  # the fake API server's CPU time over the same time
    log_reads: int = 0  # driver log reads the manager made over the same time

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """Rows for scale_bench's table: (what, figure, ceiling / 1k figure, ratio, target)."""
        load = f"{self.apps:,} live apps, {self.rate:.0f} changes/s"
        missing = f", {self.missing} never arrived" if self.missing else ""
        return [
            (
                f"SparkManager status lag, {load} (p50 / max)",
                f"{self.lag_p99:.2f} s p99{missing}",
                f"{self.lag_p50:.2f} s / {self.lag_max:.2f} s",
                "",
                "p99 < 2 s",
            ),
            (
                f"SparkManager CPU per status change, {load} (share of a core)",
                f"{1000 * self.cpu_s / max(1, self.changes):.2f} ms",
                f"{100 * self.cpu_s / self.wall_s:.0f} %",
                "",
                "report",
            ),
            (
                f"SparkManager RSS, {load} (start / end)",
                f"{self.rss_peak:.0f} MB peak",
                f"{self.rss_start:.0f} MB / {self.rss_end:.0f} MB",
                f"{self.rss_end / self.rss_start:.2f}",
                "bounded",
            ),
        ]


def database_url(db: str, workdir: Path) -> str:
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'manager-bench.db'}"
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DATABASE}"


def application(gateway_id: str, owner: str) -> dict[str, Any]:
    app = SparkApplication.model_validate(sample_app("bench-app", NAMESPACE))
    stamped = stamp(
        app, gateway_id=gateway_id, cluster_name=CLUSTER, user=owner, proxy_user=owner, selector=SELECTOR
    )
    return stamped.to_k8s()


async def store_rows(url: str, db: str, bodies: dict[str, dict[str, Any]]) -> None:
    """A fresh database at head holding one New row per application, as the gateway inserts them."""
    if db == "postgresql":
        await _recreate_pg_database(PG_DATABASE)
    database = Database(url)
    await migrate.upgrade(database)
    now = datetime.now(UTC)
    rows = [
        {
            "gateway_id": gid,
            "cluster_id": CLUSTER_ID,
            "cluster_name": CLUSTER,
            "namespace": NAMESPACE,
            "owner": body["metadata"]["labels"].get("spark-gateway/user"),
            "proxy_user": body["metadata"]["labels"].get("spark-gateway/user"),
            "name": "bench-app",
            "source": "v1",
            "spec": body,
            "status": {"applicationState": {"state": ""}, "driverInfo": {}},
            "state": "",
            "backend_ref": {},
            "created_at": now,
            "updated_at": now,
        }
        for gid, body in bodies.items()
    ]
    async with database.engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(ApplicationRow), rows[start : start + 1000])
    await database.dispose()


def proc_status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def metric(text: str, name: str) -> float | None:
    match = re.search(rf"^{name}\{{[^}}]*\}} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def wait_settled(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the manager has listed and written every application it found (nothing pending)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the manager exited with {proc.returncode}")
        try:
            text = httpx.get(f"{url}/metrics", timeout=5).text
        except httpx.HTTPError:
            text = ""
        if (
            metric(text, "spark_manager_watch_synced") == 1
            and metric(text, "spark_manager_pending_updates") == 0
        ):
            return
        time.sleep(2.0)  # a scrape walks the manager's cache: not too often
    raise TimeoutError(f"the manager did not settle within {timeout:.0f} s")


@contextmanager
def manager_process(
    fake: FakeCluster, url: str, workdir: Path, log_capture: float, src: Path
) -> Iterator[Any]:
    kubeconfig = fake.write_kubeconfig(workdir / "kubeconfig", CLUSTER)
    port = free_port()
    conf = {
        "dataDir": str(workdir / "data"),
        "database": {"url": url},
        "clusters": [{"name": CLUSTER, "id": CLUSTER_ID, "type": "kubernetes", "namespaces": NAMESPACES}],
        "selectorKey": SELECTOR[0],
        "selectorValue": SELECTOR[1],
        "debugPorts": {CLUSTER: {"sparkManagerPort": port, "metricsPort": port}},
        "sparkManager": {"allowUnauthenticatedApi": True, "logCaptureSeconds": log_capture},
    }
    conf_path = workdir / "manager.yaml"
    conf_path.write_text(yaml.safe_dump(conf))
    environment = dict(os.environ, KUBECONFIG=str(kubeconfig))
    environment["PYTHONPATH"] = os.pathsep.join([str(src), environment.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "spark_gateway", "manager", "--cluster", CLUSTER]
    command += ["--conf", str(conf_path), "--log-level", "warning"]
    with (workdir / "manager.log").open("ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        try:
            yield proc, f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def marker(row: Any) -> int | None:
    driver = (row.status or {}).get("driverInfo") or {}
    port = driver.get("webUIPort")
    return int(port) - PORT_BASE if isinstance(port, int) else None


async def read_lags(
    url: str, ids: list[str], emitted: dict[int, tuple[int, float]], timeout: float
) -> dict[int, float]:
    """Seconds from each application's last event to its row's write (index -> lag); the applications
    whose last change never arrived are missing."""
    database = Database(url)
    index_of = {gid: i for i, gid in enumerate(ids)}
    lags: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    try:
        while True:
            async with database.engine.connect() as conn:
                columns = (ApplicationRow.gateway_id, ApplicationRow.status, ApplicationRow.updated_at)
                rows = (await conn.execute(select(*columns))).all()
            for row in rows:
                index = index_of.get(row.gateway_id)
                if index is None or index not in emitted or index in lags:
                    continue
                change, at = emitted[index]
                if marker(row) == change:
                    written = row.updated_at
                    if written.tzinfo is None:  # SQLite keeps naive UTC
                        written = written.replace(tzinfo=UTC)
                    lags[index] = written.timestamp() - at
            if len(lags) == len(emitted) or time.monotonic() > deadline:
                return lags
            await asyncio.sleep(1.0)
    finally:
        await database.dispose()


def write_lags(path: Path, emitted: dict[int, tuple[int, float]], lags: dict[int, float]) -> None:
    """`--lags`: one line per measured change, seconds since the first emission and its lag (to see
    when in a run the tail happens)."""
    start = min((at for _, at in emitted.values()), default=0.0)
    rows = sorted((emitted[i][1] - start, lag) for i, lag in lags.items())
    path.write_text("".join(f"{at:.3f}\t{lag:.3f}\n" for at, lag in rows))


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(fraction * len(values)))]


def run(
    db: str,
    apps: int,
    rate: float,
    seconds: float,
    log_capture: float,
    workdir: Path,
    src: Path = REPO / "src",
    lags_file: Path | None = None,
) -> Result:
    workdir.mkdir(parents=True, exist_ok=True)
    url = database_url(db, workdir)
    ids = [new_gateway_id(CLUSTER_ID, NAMESPACE_ID) for _ in range(apps)]
    bodies = {gid: application(gid, f"user{i % OWNERS}") for i, gid in enumerate(ids)}
    asyncio.run(store_rows(url, db, bodies))
    fake = FakeCluster(history_limit=max(1000, int(rate * 120)))
    try:
        fake.populate([bodies[gid] for gid in ids])  # as the gateway's create would have, then running
        keys = [(NAMESPACE, gid) for gid in ids]
        began = time.monotonic()
        with manager_process(fake, url, workdir, log_capture, src) as (proc, manager_url):
            wait_settled(manager_url, proc, timeout=max(120.0, apps / 20))
            sync_s = time.monotonic() - began
            rss_start = proc_status_mb(proc.pid, "VmRSS")
            cpu_before, fake_before = cpu_seconds(proc.pid), cpu_seconds(fake.pid)
            reads_before = fake.log_reads()
            wall_before = time.monotonic()
            emitted, sent, elapsed = fake.emit(keys, rate, seconds)
            lags = asyncio.run(read_lags(url, ids, emitted, timeout=max(60.0, seconds)))
            cpu_s, wall_s = cpu_seconds(proc.pid) - cpu_before, time.monotonic() - wall_before
            fake_cpu_s = cpu_seconds(fake.pid) - fake_before
            log_reads = fake.log_reads() - reads_before
            rss_peak = proc_status_mb(proc.pid, "VmHWM")
            rss_end = proc_status_mb(proc.pid, "VmRSS")
        fake.assert_no_rejections()
    finally:
        fake.stop()
    if lags_file is not None:
        write_lags(lags_file, emitted, lags)
    values, missing = sorted(lags.values()), len(emitted) - len(lags)
    p50, p99 = (statistics.median(values), percentile(values, 0.99)) if values else (nan, nan)
    worst = values[-1] if values else nan
    rss = (rss_start, rss_peak, rss_end)
    return Result(
        db,
        apps,
        rate,
        sent / elapsed,
        sent,
        len(values),
        missing,
        p50,
        p99,
        worst,
        *rss,
        sync_s,
        cpu_s,
        wall_s,
        fake_cpu_s,
        log_reads,
    )


def describe(result: Result) -> str:
    r = result
    return (
        f"{r.db}: {r.apps:,} apps, {r.changes:,} changes at {r.rate:.0f}/s (asked {r.rate_asked:.0f}/s); "
        f"settled after {r.sync_s:.1f} s; lag of {r.measured:,} last changes p50 {r.lag_p50:.3f} s, "
        f"p99 {r.lag_p99:.3f} s, max {r.lag_max:.3f} s"
        + (f", {r.missing} never arrived" if r.missing else "")
        + f"; manager RSS start {r.rss_start:.0f} MB, peak {r.rss_peak:.0f} MB, end {r.rss_end:.0f} MB"
        + f"; manager CPU {r.cpu_s:.1f} s over {r.wall_s:.0f} s ({1000 * r.cpu_s / max(1, r.changes):.2f} ms"
        + f" per change); {r.log_reads / r.wall_s:.0f} driver log reads/s"
        + f"; fake API server CPU {r.fake_cpu_s:.1f} s"
        + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


def sizes(quick: bool) -> tuple[int, float, float]:
    """(apps, changes/s, seconds) of a full or a quick run."""
    return (1_000, 50.0, 20.0) if quick else (10_000, 200.0, 60.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 apps, 50 changes/s, 20 s")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="postgresql")
    for flag, kind, text in (
        ("--apps", int, "live SparkApplications (default 10,000)"),
        ("--rate", float, "status changes per second (default 200)"),
        ("--seconds", float, "how long changes arrive (default 60)"),
    ):
        parser.add_argument(flag, type=kind, help=text)
    parser.add_argument(
        "--log-capture", type=float, default=LOG_CAPTURE_SECONDS, help="sparkManager.logCaptureSeconds"
    )
    parser.add_argument(
        "--src", type=Path, default=REPO / "src", help="run the manager from this source tree (to compare)"
    )
    parser.add_argument("--lags", type=Path, help="write each measured change's emission time and lag here")
    args = parser.parse_args()
    apps, rate, seconds = sizes(args.quick)
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="manager-bench-") as tmp:
        for db in databases:
            result = run(
                db,
                args.apps or apps,
                args.rate or rate,
                args.seconds or seconds,
                args.log_capture,
                Path(tmp) / db,
                args.src,
                args.lags.with_suffix(f".{db}.tsv") if args.lags else None,
            )
            print(describe(result), flush=True)


if __name__ == "__main__":
    main()
