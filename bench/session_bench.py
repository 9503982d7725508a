"""Livy session figures from one run: a real gateway process (embedded SQLite, local Spark) against a
bare `pyspark` process on the same machine.

Prints, for each, the session start time (request to `idle`; bare: process start to a ready
SparkSession) and the median round trip of `1+1` and of `spark.range(10).count()` (gateway: POST the
statement, poll until it is available; bare: the same code run in the process), and the ratios.

Usage: python bench/session_bench.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.e2e.conftest import GatewayProcess, free_port  # noqa: E402
from tests.support.livy_sessions import start_session, submit, wait_statement  # noqa: E402

STATEMENTS = ("1+1", "spark.range(10).count()")
BARE = """
import json, sys, time
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[*]").config("spark.ui.showConsoleProgress", "false").getOrCreate()
print("READY", flush=True)
runs = int(sys.argv[1])
figures = {}
for code in STATEMENTS_LITERAL:
    namespace = {"spark": spark}
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        eval(compile(code, "<stdin>", "eval"), namespace)
        times.append(time.perf_counter() - began)
    figures[code] = times
print("FIGURES " + json.dumps(figures), flush=True)
spark.stop()
""".replace("STATEMENTS_LITERAL", repr(STATEMENTS))


def bare(runs: int, env: dict[str, str]) -> tuple[float, dict[str, list[float]]]:
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE, str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    started = 0.0
    figures: dict[str, list[float]] = {}
    for line in proc.stdout:
        if line.startswith("READY"):
            started = time.perf_counter() - began
        elif line.startswith("FIGURES "):
            figures = json.loads(line.removeprefix("FIGURES "))
    proc.wait()
    return started, figures


def through_gateway(runs: int, env: dict[str, str]) -> tuple[float, dict[str, list[float]]]:
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "gateway.yaml"
        conf.write_text(f"dataDir: {Path(tmp) / 'data'}\n")
        gw = GatewayProcess(conf, free_port(), Path(tmp) / "gateway.log", env).start()
        try:
            with httpx.Client(base_url=gw.url, timeout=60) as client:
                began = time.perf_counter()
                sid = start_session(client)
                started = time.perf_counter() - began
                figures: dict[str, list[float]] = {}
                for code in STATEMENTS:
                    times = []
                    for _ in range(runs):
                        began = time.perf_counter()
                        body = wait_statement(client, sid, submit(client, sid, code))
                        times.append(time.perf_counter() - began)
                        assert body["output"]["status"] == "ok", body
                    figures[code] = times
                client.delete(f"/api/livy/sessions/{sid}")
        finally:
            gw.stop()
    return started, figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    bare_start, bare_figures = bare(args.runs, env)
    gw_start, gw_figures = through_gateway(args.runs, env)
    print(
        f"session start: gateway {gw_start:.2f} s, bare pyspark {bare_start:.2f} s, "
        f"ratio {gw_start / bare_start:.2f}"
    )
    for code in STATEMENTS:
        gw_ms = statistics.median(gw_figures[code]) * 1000
        bare_ms = statistics.median(bare_figures[code]) * 1000
        print(
            f"statement {code!r} (median of {args.runs}): gateway {gw_ms:.1f} ms, "
            f"bare pyspark {bare_ms:.3f} ms, ratio {gw_ms / bare_ms:.0f}"
        )


if __name__ == "__main__":
    main()
