"""Several real gateway processes against one fresh PostgreSQL database.

Concurrent creates through all replicas get unique, gap-free, increasing batch ids; a batch is visible
through every replica at once; concurrent duplicates with one Idempotency-Key make one batch; and a
`kill -9` of the lease holder during a stream of submissions loses nothing, leaves nothing
non-terminal, and a survivor takes over within the default bound (< 15 s).

Jobs here use a stand-in `spark-submit` (tests/e2e/local_replicas.py), so the leader's admission, detached
jobs, re-attachment and takeover are real while the machine's two cores stay free; real Spark runs in
test_faults.py and test_local_spark.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import GatewayProcess, GatewayStarter
from tests.e2e.local_replicas import (
    batch_body,
    fenced_refusals,
    lease_holder,
    replica_config,
    wait_for_holder,
    wait_terminal,
    wait_until_one_launched,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


async def test_concurrent_creates_across_replicas_get_unique_increasing_ids(
    fresh_db: str, start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    config = replica_config(fresh_db, tmp_path, maxConcurrentJobs=1)
    gateways = [start_gateway(config) for _ in range(3)]
    clients_n, per_client = 20, 10
    results: list[list[int]] = []

    async def client(index: int) -> None:
        ids = []
        async with httpx.AsyncClient(base_url=gateways[index % 3].url, timeout=60) as http:
            for _ in range(per_client):
                response = await http.post("/api/livy/batches", json=batch_body(0))
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
        results.append(ids)

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients_n)))
    elapsed = time.monotonic() - started
    all_ids = [i for ids in results for i in ids]
    print(f"\n{len(all_ids)} creates through 3 replicas in {elapsed:.1f}s")
    assert len(all_ids) == clients_n * per_client
    assert sorted(all_ids) == list(range(len(all_ids))), "ids must be unique, from 0, without gaps"
    for ids in results:
        assert ids == sorted(ids), "one client's sequential creates must get increasing ids"
    for gw in gateways:
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
            pages = [
                (await http.get("/api/livy/batches", params={"from": start, "size": 100})).json()
                for start in range(0, len(all_ids), 100)  # 100: the list cap
            ]
        assert all(page["total"] == len(all_ids) for page in pages)
        assert [s["id"] for page in pages for s in page["sessions"]] == sorted(all_ids)


async def test_a_batch_is_visible_through_every_replica_at_once(
    fresh_db: str, start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    gateways = [start_gateway(replica_config(fresh_db, tmp_path)) for _ in range(3)]
    clients = [httpx.AsyncClient(base_url=gw.url, timeout=30) for gw in gateways]
    try:
        for creator in range(3):
            created = await clients[creator].post(
                "/api/livy/batches", json=batch_body(1, name=f"vis{creator}")
            )
            assert created.status_code == 201, created.text
            batch = created.json()
            gateway_id = batch["appInfo"]["GatewayId"]
            for reader in clients:  # immediately, no waiting
                seen = (await reader.get(f"/api/livy/batches/{batch['id']}")).json()
                assert (seen["id"], seen["name"], seen["appInfo"]["GatewayId"]) == (
                    batch["id"],
                    f"vis{creator}",
                    gateway_id,
                )
                native = await reader.get(f"/api/v1/applications/{gateway_id}")
                assert native.status_code == 200 and native.json()["gatewayId"] == gateway_id
            states = await wait_terminal(clients[(creator + 1) % 3], [batch["id"]], 60)
            assert states[batch["id"]] == "success"
            finals = {
                (await c.get(f"/api/livy/batches/{batch['id']}/state")).json()["state"] for c in clients
            }
            assert finals == {"success"}
        deleted = await clients[1].delete(f"/api/livy/batches/{batch['id']}")
        assert deleted.status_code == 200
        for reader in clients:
            assert (await reader.get(f"/api/livy/batches/{batch['id']}")).status_code == 404
    finally:
        for client in clients:
            await client.aclose()


async def test_concurrent_duplicates_with_one_idempotency_key_make_one_batch(
    fresh_db: str, start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    gateways = [start_gateway(replica_config(fresh_db, tmp_path)) for _ in range(3)]

    async def create(gw: GatewayProcess, key: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=gw.url, timeout=60) as http:
            return await http.post("/api/livy/batches", json=batch_body(0), headers={"Idempotency-Key": key})

    for key in ("retry-1", "retry-2"):
        responses = await asyncio.gather(*(create(gateways[i % 3], key) for i in range(15)))
        assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
    async with httpx.AsyncClient(base_url=gateways[0].url, timeout=30) as http:
        assert (await http.get("/api/livy/batches")).json()["total"] == 2


@pytest.mark.long  # make test kills lease holders under submissions in tests/chaos (kill_holder rounds)
async def test_kill_9_of_the_lease_holder_during_submissions_loses_nothing(
    fresh_db: str, start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    """Default lease settings (ttl 10 s, renew 3 s): the takeover must come in under 15 s."""
    gateways = [start_gateway(replica_config(fresh_db, tmp_path, maxConcurrentJobs=3)) for _ in range(3)]
    holder = await wait_for_holder(fresh_db, gateways)
    before = await lease_holder(fresh_db)
    assert before is not None
    acknowledged: list[int] = []
    stop_at = time.monotonic() + 3600.0

    async def stream(gw: GatewayProcess, index: int) -> None:
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                try:
                    response = await http.post("/api/livy/batches", json=batch_body(0.5 + (n + index) % 2))
                except httpx.TransportError:
                    if gw is holder:
                        return  # killed: its unanswered requests were never acknowledged
                    raise
                assert response.status_code == 201, response.text
                acknowledged.append(response.json()["id"])
                await asyncio.sleep(0.6)

    streams = [asyncio.create_task(stream(gw, i)) for i, gw in enumerate(gateways)]
    async with httpx.AsyncClient(base_url=holder.url, timeout=30) as http:
        await wait_until_one_launched(http, acknowledged)  # jobs run under the holder when it dies
    assert holder.proc is not None
    os.kill(holder.proc.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    takeover = None
    while time.monotonic() - killed_at < 30:
        state = await lease_holder(fresh_db)
        if state is not None and state[2] and state[1] > before[1]:
            takeover = time.monotonic() - killed_at
            break
        await asyncio.sleep(0.05)
    stop_at = time.monotonic() + 2.0
    await asyncio.gather(*streams)
    print(f"\ntakeover after kill -9 of the holder: {takeover:.2f}s; {len(acknowledged)} acknowledged")
    assert takeover is not None and takeover < 15.0, f"takeover took {takeover}"

    survivors = [gw for gw in gateways if gw is not holder]
    async with httpx.AsyncClient(base_url=survivors[0].url, timeout=30) as http:
        states = await wait_terminal(http, acknowledged, timeout=120)
        listing = (await http.get("/api/livy/batches", params={"size": 1000})).json()
        assert {s["id"] for s in listing["sessions"]} >= set(acknowledged), "an acknowledged batch was lost"
        failed = [i for i, s in states.items() if s != "success"]
        for batch_id in failed:  # anything that did not succeed must say why in its log
            log = (await http.get(f"/api/livy/batches/{batch_id}/log", params={"size": -1})).json()["log"]
            assert any("spark-gateway" in line for line in log), (batch_id, log)
    assert len(failed) <= 1, f"batches failed around the takeover: {failed}"
    assert fenced_refusals(gateways) == 0
