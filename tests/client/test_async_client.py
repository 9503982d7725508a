"""The asyncio client against a real gateway: a v1 application on real Spark, Livy calls on `quick`."""

from __future__ import annotations

import pytest

from spark_gateway.client import AsyncSparkGatewayClient, NotFound
from tests.client.conftest import EXAMPLES, PASSWORDS, Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.spark]


def application(file: str, namespace: str = "default") -> dict:
    return {
        "metadata": {"namespace": namespace},
        "spec": {
            "type": "Python",
            "sparkVersion": "4.0.0",
            "mainApplicationFile": str(EXAMPLES / file),
            "driver": {"memory": "512m"},
            "executor": {"instances": 1},
        },
    }


def client(gateway: Gateway) -> AsyncSparkGatewayClient:
    return AsyncSparkGatewayClient(gateway.url, user="alice", password=PASSWORDS["alice"])


@pytest.mark.long  # a failing batch on real Spark is also tests/e2e/test_local_spark.py (make test)
async def test_failing_application_on_real_spark_ends_failed_with_its_traceback(gateway: Gateway) -> None:
    async with client(gateway) as gw:
        app = await gw.applications.submit(application("fail.py"))
        assert app.gateway_id.startswith("local-dflt-") and app.user == "alice"
        followed = [line async for line in gw.applications.follow(app.gateway_id, poll=0.3)]
        assert any("RuntimeError: this batch fails on purpose" in line for line in followed)
        seen: list[str] = []
        final = await gw.applications.wait(
            app.gateway_id, timeout=60, on_update=lambda a: seen.append(a.state)
        )
        assert final == "FAILED" == seen[-1], gateway.log_tail()
        assert await gw.applications.state(app.gateway_id) == "FAILED"
        got = await gw.applications.get(app.gateway_id)
        assert got.is_final and got.cluster == "local" and got.namespace == "default"
        assert await gw.applications.logs(app.gateway_id, lines=3) == followed[-3:]
        listed = await gw.applications.list(namespace="default")
        assert app.gateway_id in [a.gateway_id for a in listed]
        assert [a.state for a in listed if a.gateway_id == app.gateway_id] == ["FAILED"]
        await gw.applications.kill(app.gateway_id)
        with pytest.raises(NotFound):
            await gw.applications.get(app.gateway_id)


async def test_livy_calls_through_the_async_client(gateway: Gateway) -> None:
    async with client(gateway) as gw:
        batch = await gw.batches.submit(str(EXAMPLES / "pi.py"), ["lines=4"], namespace="quick", name="aio")
        lines = [line async for line in gw.batches.follow(batch.id, poll=0.2)]
        assert [x for x in lines if x.startswith("fake line")] == [f"fake line {i}" for i in range(1, 5)]
        assert await gw.batches.wait(batch.id, timeout=30) == "success"
        assert await gw.batches.state(batch.id) == "success"
        assert (await gw.batches.get(batch.id)).gateway_id.startswith("quick-qk-")  # type: ignore[union-attr]
        assert (await gw.batches.logs(batch.id, size=2)).lines == lines[-2:]
        page = await gw.batches.list(size=1000)
        assert batch.id in [b.id for b in page.batches]
        assert batch.id in [b.id async for b in gw.batches.iter_all(page_size=2)]
        await gw.batches.kill(batch.id)
        with pytest.raises(NotFound) as gone:
            await gw.batches.state(batch.id)
        assert gone.value.status == 404
