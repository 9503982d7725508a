"""`spark-gateway batch|app …` in a real pseudo-terminal and in pipes, against a real gateway."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from spark_gateway.client import SparkGatewayClient
from tests.client.conftest import EXAMPLES, PASSWORDS, Gateway
from tests.client.terminal import ANSI, cli_env, run_in_terminal, run_piped
from tests.e2e.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
PI = str(EXAMPLES / "pi.py")
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


@pytest.fixture(scope="module")
def env(gateway: Gateway) -> dict[str, str]:
    return cli_env(gateway.url, SPARK_GATEWAY_USER="alice", SPARK_GATEWAY_PASSWORD=PASSWORDS["alice"])


def alice(gateway: Gateway) -> SparkGatewayClient:
    return SparkGatewayClient(gateway.url, user="alice", password=PASSWORDS["alice"])


def test_submit_wait_follow_on_real_spark_shows_progress_log_and_exits_0(env: dict[str, str]) -> None:
    session = run_in_terminal(
        ["batch", "submit", PI, "2", "--name", "cli-pi", "--wait", "--follow", "--poll", "0.3"],
        env,
        timeout=240,
    )
    assert session.code == 0, session.text
    text = session.text
    assert "Pi is roughly" in text
    # The live line (spinner, state, elapsed time, app id, Spark UI) was redrawn while the job ran ...
    frames = [ANSI.sub("", c) for _, c in session.chunks]
    live = [f for f in frames if any(s in f for s in SPINNER) and "running" in f]
    assert len(live) >= 2, text
    assert any("Spark UI http://" in f and "app local-" in f for f in live), text
    # ... and the last thing on the screen is the final state.
    last = text.rstrip().splitlines()[-1]
    assert last.startswith("batch ") and " success " in last and "app local-" in last
    assert "Traceback" not in text


def test_wait_exit_codes_follow_the_final_state(env: dict[str, str], gateway: Gateway) -> None:
    ok = run_in_terminal(["batch", "submit", PI, "lines=1", "-n", "quick", "--wait", "--poll", "0.2"], env)
    assert ok.code == 0 and " success " in ok.text, ok.text
    failed = run_in_terminal(["batch", "submit", PI, "exit=2", "-n", "quick", "--wait", "--poll", "0.2"], env)
    assert failed.code == 1 and " error " in failed.text, failed.text
    slow = ["batch", "submit", PI, "sleep=60", "-n", "quick", "--wait", "--poll", "0.2"]
    timed_out = run_in_terminal([*slow, "--timeout", "1"], env)
    assert timed_out.code == 5 and "still running after 1 s" in timed_out.text, timed_out.text

    def kill_when_running() -> None:
        with alice(gateway) as gw:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                running = [b for b in gw.batches.iter_all() if b.name == "to-kill" and b.state == "running"]
                if running:
                    gw.batches.kill(running[0].id)
                    return
                time.sleep(0.2)

    killer = threading.Thread(target=kill_when_running, name="kill-when-running")
    killer.start()
    killed = run_in_terminal([*slow, "--name", "to-kill"], env)
    killer.join()
    assert killed.code == 4 and "was deleted (killed)" in killed.text, killed.text


def test_logs_follow_prints_lines_as_they_come_and_ends_with_the_batch(
    env: dict[str, str], tmp_path: Path
) -> None:
    gate = tmp_path / "follower-attached"  # the batch prints its lines once the follower shows its start
    submit = ["batch", "submit", PI, "lines=10", "gap=0.6", f"gate={gate}", "-n", "quick"]
    submitted = run_piped(submit, env)
    assert submitted.returncode == 0, submitted.stderr
    batch_id = json.loads(submitted.stdout)["id"]

    def attached(printed: str) -> None:
        if "Submitted application: fake" in printed:
            gate.touch()

    follow = ["batch", "logs", str(batch_id), "-f", "--from", "0", "--poll", "0.2"]
    session = run_in_terminal(follow, env, on_output=attached)
    assert session.code == 0
    lines = [x for x in session.text.splitlines() if x.startswith("fake line")]
    assert lines == [f"fake line {i}" for i in range(1, 11)]
    first = next(t for t, c in session.chunks if "fake line" in c)
    last = max(t for t, c in session.chunks if "fake line 10" in c)
    assert last - first > 1.0, "lines arrived all at once, not as the batch wrote them"
    assert session.text.rstrip().endswith("fake driver exits with 0")


def test_piped_output_is_json_and_a_terminal_gets_a_table(env: dict[str, str]) -> None:
    submitted = run_piped(["batch", "submit", PI, "lines=0", "-n", "quick", "--name", "piped", "--wait"], env)
    assert submitted.returncode == 0, submitted.stderr
    batch = json.loads(submitted.stdout)
    assert batch["state"] == "success" and batch["name"] == "piped" and batch["owner"] == "alice"
    listed = json.loads(run_piped(["batch", "list", "--all", "--state", "success"], env).stdout)
    assert batch["id"] in [b["id"] for b in listed] and {b["state"] for b in listed} == {"success"}
    got = json.loads(run_piped(["batch", "get", str(batch["id"])], env).stdout)
    assert got["id"] == batch["id"]
    log = json.loads(run_piped(["batch", "logs", str(batch["id"]), "--size", "1"], env).stdout)
    assert log["log"] == ["fake driver exits with 0"]
    table = run_in_terminal(["batch", "list", "--limit", "3"], env)
    assert table.code == 0 and "┃ id" in table.text and "piped" in table.text
    assert not table.text.lstrip().startswith("[")


def test_native_applications_through_the_app_commands(env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "pi.yaml"
    manifest.write_text(
        "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata: {namespace: quick}\n"
        f"spec: {{type: Python, sparkVersion: 4.0.0, mainApplicationFile: {PI}, arguments: [lines=1]}}\n"
    )
    from_manifest = run_piped(["app", "submit", str(manifest), "--wait", "--poll", "0.2"], env)
    assert from_manifest.returncode == 0, from_manifest.stderr
    assert json.loads(from_manifest.stdout)["gatewayId"].startswith("quick-qk-")
    done = run_piped(["app", "submit", PI, "lines=2", "-n", "quick", "--wait", "--poll", "0.2"], env)
    assert done.returncode == 0, done.stderr
    app = json.loads(done.stdout)
    gateway_id = app["gatewayId"]
    assert app["sparkApplication"]["status"]["applicationState"]["state"] == "COMPLETED"
    listed = json.loads(run_piped(["app", "list", "-n", "quick", "--state", "COMPLETED"], env).stdout)
    assert gateway_id in [a["gatewayId"] for a in listed]
    logs = run_in_terminal(["app", "logs", gateway_id, "--lines", "2"], env)
    assert logs.code == 0 and "fake driver exits with 0" in logs.text
    followed = run_in_terminal(["app", "logs", gateway_id, "-f"], env)
    assert followed.code == 0 and "fake line 2" in followed.text
    failed = run_in_terminal(["app", "submit", PI, "exit=1", "-n", "quick", "--follow", "--poll", "0.2"], env)
    assert failed.code == 1 and "fake driver exits with 1" in failed.text
    assert run_piped(["app", "kill", gateway_id], env).returncode == 0
    assert run_piped(["app", "get", gateway_id], env).returncode == 6


def test_refusals_are_one_line_errors_with_exit_codes(env: dict[str, str], gateway: Gateway) -> None:
    missing = run_in_terminal(["batch", "get", "987654"], env)
    assert missing.code == 6
    assert missing.text.strip() == "spark-gateway: Session '987654' not found. (HTTP 404)"
    refused = run_in_terminal(["batch", "--password", "wrong", "list"], env)
    assert refused.code == 6 and refused.text.strip().endswith("(HTTP 401)")
    assert len(refused.text.strip().splitlines()) == 1
    outside = run_piped(["batch", "submit", "/etc/passwd"], env)
    assert outside.returncode == 6 and outside.stdout == "" and "/etc/passwd" in outside.stderr
    down = run_piped(["batch", "--url", f"http://127.0.0.1:{free_port()}", "list"], env)
    assert down.returncode == 7 and down.stderr.startswith("spark-gateway: cannot reach the gateway")
    for result in (outside, down):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
