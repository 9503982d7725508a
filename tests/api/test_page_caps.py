"""Every list and log page is capped, so no request builds an unbounded response or query.

Livy accepts any `size`; the gateway clamps it silently (Livy clients read `total` and page on with
`from`). The SQLite case is the one that used to fail: more than 500 batches on a page made one
compound SELECT with more terms than SQLite allows, and the list was a 500.
"""

from __future__ import annotations

import pytest

from spark_gateway.db import repository as repo
from spark_gateway.services.applications import MAX_LOG_LINES, V1_LIST_LIMIT
from spark_gateway.services.livy import MAX_LIST_SIZE
from tests.api.conftest import Gateway, GatewayFactory
from tests.api.test_hostile_input import LIVY, PI, V1, spark_app

MANY = 510  # more than SQLite's 500 terms per compound SELECT


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_livy_page_of_600_with_more_than_500_batches_is_clamped_not_a_500(
    make_gateway: GatewayFactory,
) -> None:
    gw: Gateway = await make_gateway()
    for i in range(MANY):
        assert (await gw.client.post(LIVY, json={"file": PI, "name": f"b{i}"})).status_code == 201
    page = await gw.client.get(LIVY, params={"size": 600})
    assert page.status_code == 200, page.text
    body = page.json()
    assert (body["from"], body["total"], len(body["sessions"])) == (0, MANY, MAX_LIST_SIZE)
    assert [s["id"] for s in body["sessions"]] == list(range(MAX_LIST_SIZE))
    tail = (await gw.client.get(LIVY, params={"from": 500, "size": 600})).json()
    assert [s["id"] for s in tail["sessions"]] == list(range(500, MANY))

    # The v1 list answers the newest applications up to its cap and says there are more.
    listing = await gw.client.get(V1)
    assert listing.status_code == 200
    assert len(listing.json()) == V1_LIST_LIMIT
    assert listing.headers["X-Spark-Gateway-Truncated"] == "true"
    assert listing.json()[0]["metadata"]["annotations"]["applicationName"] == f"b{MANY - 1}"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_recent_logs_of_more_batches_than_sqlite_compounds(make_gateway: GatewayFactory) -> None:
    gw: Gateway = await make_gateway()
    ids = []
    for _ in range(3):
        ids.append((await gw.client.post(LIVY, json={"file": PI})).json()["appInfo"]["GatewayId"])
    async with gw.runtime.db.transaction() as session:
        await repo.append_log_lines(session, ids[2], ["one", "two"], keep=100)
        many = [*ids, *(f"missing-{i}" for i in range(600))]
        logs = await repo.recent_logs(session, many, 10)
    assert logs[ids[2]] == ["one", "two"] and logs[ids[0]] == [] and len(logs) == 603


async def test_short_lists_are_not_marked_truncated(make_gateway: GatewayFactory) -> None:
    gw: Gateway = await make_gateway()
    assert (await gw.client.post(V1, json=spark_app())).status_code == 201
    listing = await gw.client.get(V1)
    assert len(listing.json()) == 1 and "X-Spark-Gateway-Truncated" not in listing.headers


async def test_log_pages_are_capped(make_gateway: GatewayFactory) -> None:
    gw: Gateway = await make_gateway(retention={"logLines": MAX_LOG_LINES * 2})
    batch = (await gw.client.post(LIVY, json={"file": PI})).json()
    total = MAX_LOG_LINES + 500
    async with gw.runtime.db.transaction() as session:
        lines = [f"line {i}" for i in range(total)]
        await repo.append_log_lines(session, batch["appInfo"]["GatewayId"], lines, keep=total)
    log = f"{LIVY}/{batch['id']}/log"
    everything = (await gw.client.get(log, params={"size": -1})).json()
    assert (everything["total"], everything["size"]) == (total, MAX_LOG_LINES)
    assert everything["log"][-1] == f"line {total - 1}"  # the last lines, as without a cap
    paged = (await gw.client.get(log, params={"from": 0, "size": total})).json()
    assert (paged["from"], paged["size"], paged["log"][0]) == (0, MAX_LOG_LINES, "line 0")
    rest = (await gw.client.get(log, params={"from": MAX_LOG_LINES, "size": total})).json()
    assert rest["size"] == 500
    v1_log = await gw.client.get(f"{V1}/{batch['appInfo']['GatewayId']}/logs", params={"lines": total})
    assert v1_log.status_code == 200 and len(v1_log.json().split("\n")) == MAX_LOG_LINES
