"""The blocking client against a real gateway: every call, real Spark for one batch, auth, errors."""

from __future__ import annotations

import time

import httpx
import pytest

from spark_gateway.client import (
    BadRequest,
    GatewayUnreachable,
    NotFound,
    SparkGatewayClient,
    Unauthorized,
    WaitTimeout,
)
from tests.client.conftest import EXAMPLES, PASSWORDS, SERVICE_TOKENS, Gateway
from tests.e2e.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
PI = str(EXAMPLES / "pi.py")


def alice(gateway: Gateway, **kwargs: object) -> SparkGatewayClient:
    return SparkGatewayClient(gateway.url, user="alice", password=PASSWORDS["alice"], **kwargs)  # type: ignore[arg-type]


@pytest.mark.long  # make test drives this client on real Spark through the CLI (tests/client/test_cli.py)
def test_pi_batch_from_submit_to_success_with_its_log(gateway: Gateway) -> None:
    with alice(gateway) as gw:
        batch = gw.batches.submit(PI, ["2"], name="client-pi", conf={"spark.ui.enabled": "true"})
        assert batch.owner == "alice" and batch.name == "client-pi" and not batch.is_final
        seen: list[str] = []
        final = gw.batches.wait(batch.id, timeout=180, poll=0.3, on_update=lambda b: seen.append(b.state))
        assert final == "success", gateway.log_tail()
        assert "running" in seen and seen[-1] == "success"
        assert gw.batches.state(batch.id) == "success"
        done = gw.batches.get(batch.id)
        assert done.app_id and done.app_id.startswith("local-")
        assert done.gateway_id and done.gateway_id.startswith("local-dflt-") and done.cluster == "local"

        followed = list(gw.batches.follow(batch.id, poll=0.3))
        assert any("Pi is roughly" in line for line in followed)
        tail = gw.batches.logs(batch.id, size=5)
        assert tail.total == len(followed) and tail.lines == followed[-5:]
        head = gw.batches.logs(batch.id, offset=0, size=3)
        assert head.offset == 0 and head.lines == followed[:3]

        listed = [b.id for b in gw.batches.iter_all(page_size=1)]
        assert batch.id in listed
        page = gw.batches.list(offset=0, size=1)
        assert page.total == len(listed) and len(page.batches) == 1


def test_follow_yields_lines_while_the_batch_runs_and_ends_with_it(gateway: Gateway) -> None:
    with alice(gateway) as gw:
        batch = gw.batches.submit(PI, ["lines=8"], namespace="quick")
        states_at_lines = [
            (line, gw.batches.state(batch.id)) for line in gw.batches.follow(batch.id, poll=0.2)
        ]
        lines = [line for line, _ in states_at_lines]
        assert [f"fake line {i}" for i in range(1, 9)] == [x for x in lines if x.startswith("fake line")]
        # The log is read while the driver runs; the state may still say starting (under load the first
        # lines are stored before the driver's app id is seen), never yet the end.
        assert states_at_lines[0][1] in ("starting", "running"), (
            "the first line came only after the batch ended"
        )
        assert lines[-1] == "fake driver exits with 0"
        assert gw.batches.state(batch.id) == "success"


def test_wait_returns_error_for_a_failing_batch_and_times_out_on_a_slow_one(gateway: Gateway) -> None:
    with alice(gateway) as gw:
        failing = gw.batches.submit(PI, ["exit=3", "lines=1"], namespace="quick")
        assert gw.batches.wait(failing.id, timeout=60, poll=0.2) == "error"
        slow = gw.batches.submit(PI, ["sleep=30"], namespace="quick")
        started = time.monotonic()
        with pytest.raises(WaitTimeout) as caught:
            gw.batches.wait(slow.id, timeout=1, poll=0.2)
        assert time.monotonic() - started < 5
        assert caught.value.state in {"not_started", "starting", "running"}
        gw.batches.kill(slow.id)
        with pytest.raises(NotFound):
            gw.batches.get(slow.id)


def test_refusals_raise_with_status_and_the_gateways_message(gateway: Gateway) -> None:
    with alice(gateway) as gw:
        with pytest.raises(NotFound) as missing:
            gw.batches.get(987654)
        assert missing.value.status == 404 and missing.value.message == "Session '987654' not found."
        with pytest.raises(BadRequest) as bad:
            gw.batches.submit("/etc/passwd")
        assert bad.value.status == 400 and "/etc/passwd" in bad.value.message
        with pytest.raises(NotFound) as app_missing:
            gw.applications.get("local-dflt-01900000-0000-7000-8000-000000000000")
        assert app_missing.value.status == 404 and app_missing.value.message
    with SparkGatewayClient(gateway.url, user="alice", password="wrong") as gw:
        with pytest.raises(Unauthorized) as refused:
            gw.batches.list()
        assert refused.value.status == 401
    with SparkGatewayClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.05) as gw:
        with pytest.raises(GatewayUnreachable) as unreachable:
            gw.batches.list()
        assert unreachable.value.status is None and "cannot reach the gateway" in str(unreachable.value)


def test_service_token_and_environment_credentials(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    token = SERVICE_TOKENS["svc-ci"]
    with SparkGatewayClient(gateway.url, user="svc-ci", token=token) as gw:
        assert gw.batches.submit(PI, ["lines=0"], namespace="quick").owner == "svc-ci"
    # A bearer token alone names no service here (it is for gateways behind an OAuth proxy)
    with SparkGatewayClient(gateway.url, token=token) as gw, pytest.raises(Unauthorized):
        gw.batches.list()
    monkeypatch.setenv("SPARK_GATEWAY_URL", gateway.url)
    monkeypatch.setenv("SPARK_GATEWAY_USER", "bob")
    monkeypatch.setenv("SPARK_GATEWAY_PASSWORD", PASSWORDS["bob"])
    with SparkGatewayClient() as gw:
        batch = gw.batches.submit(PI, ["lines=0"], namespace="quick")
        assert batch.owner == "bob"
        assert {b.owner for b in gw.batches.iter_all()} == {"bob"}


class LosingTransport(httpx.HTTPTransport):
    """Sends each request for real; the answers to the first `lose` matching ones never arrive."""

    def __init__(self, method: str, lose: int) -> None:
        super().__init__()
        self.method, self.lose, self.sent = method, lose, []  # type: list[httpx.Request]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == self.method:
            self.sent.append(request)
            if self.lose > 0:
                self.lose -= 1
                response.close()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response


def test_a_create_whose_answers_are_lost_is_retried_and_makes_one_batch(gateway: Gateway) -> None:
    transport = LosingTransport("POST", lose=2)
    with alice(gateway, transport=transport, backoff=0.05) as gw:
        before = gw.batches.list(size=0).total
        batch = gw.batches.submit(PI, ["lines=0"], namespace="quick", name="lost-answers")
        assert len(transport.sent) == 3
        keys = {r.headers["Idempotency-Key"] for r in transport.sent}
        assert len(keys) == 1
        after = list(gw.batches.iter_all())
        assert len(after) == before + 1
        assert [b.id for b in after if b.name == "lost-answers"] == [batch.id]


def test_reads_and_kills_whose_answers_are_lost_are_retried(gateway: Gateway) -> None:
    with alice(gateway) as gw:
        batch = gw.batches.submit(PI, ["sleep=30"], namespace="quick")
    reads = LosingTransport("GET", lose=1)
    with alice(gateway, transport=reads, backoff=0.05) as gw:
        assert gw.batches.get(batch.id).id == batch.id
        assert len(reads.sent) == 2
    kills = LosingTransport("DELETE", lose=1)
    with alice(gateway, transport=kills, backoff=0.05) as gw:
        gw.batches.kill(batch.id)  # the retry finds it gone: the first attempt did the work
        assert len(kills.sent) == 2
        with pytest.raises(NotFound):
            gw.batches.get(batch.id)
