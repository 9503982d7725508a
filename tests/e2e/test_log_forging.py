"""Request paths and header values cannot forge lines (or send terminal codes) in the application log.

The real gateway's log (its stderr, which the fixture writes to a file) holds uvicorn's access lines
(uvicorn quotes the path itself) and the gateway's own records, such as a refused login with its
decoded path: there a `%0a`, `%0d` or `%1b` must appear escaped, never as the raw character.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.auth_setup import basic, basic_auth, gateway_config
from tests.e2e.conftest import GatewayProcess, GatewayStarter

pytestmark = pytest.mark.e2e
FORGED = "FORGED INFO spark_gateway: user root logged in"


def wait_for_log(gw: GatewayProcess, marker: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = gw.log_path.read_text(errors="replace")
        if marker in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{marker!r} never reached the log:\n{gw.log_path.read_text()[-2000:]}")


def test_control_characters_in_paths_and_headers_are_escaped(
    start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    gw = start_gateway(gateway_config(tmp_path, [basic_auth(tmp_path)]))
    wrong = basic("alice", "wrong")  # a refused login logs the decoded path
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        for encoded in ("%0a", "%0d", "%0d%0a", "%1b[31m"):
            response = http.get(
                f"/api/livy/batches/marker{encoded}{FORGED.replace(' ', '%20')}", headers=wrong
            )
            assert response.status_code == 401
        http.get("/api/livy/batches/last-marker", headers=wrong)
    text = wait_for_log(gw, "path=/api/livy/batches/last-marker")
    assert "\x1b" not in text
    assert "\r" not in text
    for line in text.splitlines():
        assert not line.startswith("FORGED"), line
    # The requests are there, escaped.
    assert "marker\\n" + FORGED in text
    assert "marker\\r" + FORGED in text
    assert "marker\\r\\n" + FORGED in text
    assert "marker\\x1b[31m" + FORGED in text
