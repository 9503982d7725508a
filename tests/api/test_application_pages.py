"""v1 list paging: a capped default page, then `limit` + `continue` walking every page exactly once."""

from __future__ import annotations

from datetime import timedelta

from spark_gateway.db import repository as repo
from tests.api.conftest import Gateway
from tests.db.test_repository import make_row


async def store(gateway: Gateway, count: int) -> list[str]:
    """`count` stored applications, newest first; pairs share a creation time (ties break by id)."""
    base = repo.utcnow()
    async with gateway.runtime.db.transaction() as session:
        for i in range(count):
            row = make_row(f"local-dflt-{i:08x}-0000-7000-8000-{i:012x}", owner=None)
            row.created_at = base + timedelta(seconds=i // 2)
            await repo.insert_application(session, row)
    return [f"local-dflt-{i:08x}-0000-7000-8000-{i:012x}" for i in reversed(range(count))]


async def test_unpaged_list_is_capped_and_names_the_next_page(gateway: Gateway) -> None:
    newest_first = await store(gateway, 105)
    response = await gateway.client.get("/api/v1/applications")
    assert [a["gatewayId"] for a in response.json()] == newest_first[:100]
    token = response.headers["X-Continue"]
    rest = await gateway.client.get("/api/v1/applications", params={"continue": token})
    assert [a["gatewayId"] for a in rest.json()["items"]] == newest_first[100:]
    assert rest.json()["metadata"] == {"continue": None}


async def test_limit_and_continue_walk_every_application_once(gateway: Gateway) -> None:
    newest_first = await store(gateway, 23)
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 5}
    while True:
        body = (await gateway.client.get("/api/v1/applications", params=params)).json()
        seen += [a["gatewayId"] for a in body["items"]]
        if body["metadata"]["continue"] is None:
            break
        params = {"limit": 5, "continue": body["metadata"]["continue"]}
    assert seen == newest_first


async def test_bad_paging_input_is_a_clear_400(gateway: Gateway) -> None:
    response = await gateway.client.get("/api/v1/applications", params={"continue": "not-a-token"})
    assert response.status_code == 400
    assert "continue token" in response.json()["error"]
    assert (await gateway.client.get("/api/v1/applications", params={"limit": 0})).status_code in (400, 422)
