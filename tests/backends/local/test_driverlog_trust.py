"""What the gateway believes from a driver log: Spark's own lines, and only a UI the job listens on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from spark_gateway.backends.local import procs
from spark_gateway.backends.local.driverlog import MAX_UI_CANDIDATES, SparkFacts

TS = "26/11/30 20:14:36"


def scanned(*lines: str) -> SparkFacts:
    facts = SparkFacts()
    facts.scan(list(lines))
    return facts


def test_spark_s_own_lines_give_candidate_ports() -> None:
    facts = scanned(
        f"{TS} INFO SparkContext: Submitted application: PythonPi",
        f"{TS} INFO Utils: Successfully started service 'SparkUI' on port 4041.",
        f"{TS} INFO SparkUI: Bound SparkUI to 0.0.0.0, and started at http://gw-host:4042",
    )
    assert (facts.started, facts.ui_ports, facts.ui_url, facts.app_id) == (True, [4041, 4042], None, None)


@pytest.mark.parametrize(
    "line",
    [
        # A configuration key echoed inside Spark's warning (the reported attack).
        f"{TS} WARN SparkConf: Ignoring non-Spark config property: x Bound SparkUI to 0.0.0.0, "
        "and started at http://evil.example:80",
        f"{TS} WARN SparkSubmit: Ignoring non-Spark config property: "
        f"{TS} INFO Utils: Successfully started service 'SparkUI' on port 80.",
        # What a job prints without Spark's prefix.
        "Bound SparkUI to 0.0.0.0, and started at http://evil.example:80",
        "INFO Utils: Successfully started service 'SparkUI' on port 80.",
        f"  {TS} INFO Utils: Successfully started service 'SparkUI' on port 80.",
        f"{TS} INFO StandaloneSchedulerBackend: Connected to Spark cluster with app ID app-fake-0001",
        f"{TS} INFO Utils: Successfully started service 'SparkUI' on port 99999.",
    ],
)
def test_text_that_is_not_spark_s_own_line_is_not_believed(line: str) -> None:
    facts = scanned(line)
    assert (facts.ui_ports, facts.ui_url, facts.app_id) == ([], None, None)


def test_candidates_are_bounded() -> None:
    lines = [
        f"{TS} INFO Utils: Successfully started service 'SparkUI' on port {p}." for p in range(5000, 5100)
    ]
    assert len(scanned(*lines).ui_ports) == MAX_UI_CANDIDATES


@pytest.fixture
def foreign_listener() -> Iterator[int]:
    """A port another process listens on (as the test's 'evil' server would)."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "print(s.getsockname()[1], flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    port = int(child.stdout.readline())
    yield port
    child.kill()
    child.wait()


def test_listening_host_accepts_only_the_given_processes_sockets(foreign_listener: int) -> None:
    with socket.socket() as own, socket.socket() as wildcard, socket.socket() as idle:
        own.bind(("127.0.0.1", 0))
        own.listen()
        wildcard.bind(("0.0.0.0", 0))
        wildcard.listen()
        idle.bind(("127.0.0.1", 0))  # bound, not listening
        me = [os.getpid()]
        assert procs.listening_host(me, own.getsockname()[1]) == "127.0.0.1"
        assert procs.listening_host(me, wildcard.getsockname()[1]) == "127.0.0.1"
        assert procs.listening_host(me, idle.getsockname()[1]) is None
        assert procs.listening_host(me, foreign_listener) is None
        assert procs.listening_host([], own.getsockname()[1]) is None


def test_listening_host_brackets_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    with socket.socket(socket.AF_INET6) as own:
        try:
            own.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        own.listen()
        assert procs.listening_host([os.getpid()], own.getsockname()[1]) == "[::1]"
