"""One newest-first table of every application (Livy batches, sessions, v1), for the console.

Filters by state, cluster, namespace, owner and a name search; pages with a keyset cursor (the last
row's creation time and gateway id), so the thousandth page costs what the first does, and counts
matches only up to `COUNT_CAP` (the console shows "10000+" past it). Callers see exactly what the
API's lists would show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from spark_gateway.db import browsing as queries
from spark_gateway.domain.errors import BadRequest
from spark_gateway.domain.records import ApplicationRecord
from spark_gateway.domain.states import AppState
from spark_gateway.services.applications import Caller, with_urls
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.stored import application_record

COUNT_CAP = 10_000
MAX_PAGE_SIZE = 200
MAX_SEARCH_LENGTH = 253
CURSOR_SEPARATOR = "~"


@dataclass(frozen=True)
class BrowseQuery:
    states: tuple[AppState, ...] = ()  # empty: any state
    cluster: str | None = None  # name or id
    namespace: str | None = None
    owner: str | None = None
    search: str | None = None
    before: str | None = None  # the cursor a previous page handed out
    size: int = 50


@dataclass
class BrowsePage:
    records: list[ApplicationRecord]
    total: int  # matches, at most COUNT_CAP + 1
    next_cursor: str | None  # None on the last page

    @property
    def total_is_capped(self) -> bool:
        return self.total > COUNT_CAP


def encode_cursor(created_at: datetime, gateway_id: str) -> str:
    return f"{created_at.isoformat()}{CURSOR_SEPARATOR}{gateway_id}"


def parse_cursor(cursor: str) -> tuple[datetime, str]:
    created, sep, gateway_id = cursor.partition(CURSOR_SEPARATOR)
    try:
        if not sep or not gateway_id or len(cursor) > 200:
            raise ValueError(cursor)
        return datetime.fromisoformat(created), gateway_id
    except ValueError:
        raise BadRequest(f"invalid page cursor '{cursor[:80]}'") from None


def _filters(rt: GatewayRuntime, caller: Caller, query: BrowseQuery) -> queries.BrowseFilter:
    cluster_id = None
    if query.cluster:
        config = rt.settings.cluster_by_name(query.cluster) or rt.settings.cluster_by_id(query.cluster)
        if config is None:
            raise BadRequest(f"cluster '{query.cluster}' is not configured")
        cluster_id = config.id
    if query.search is not None and len(query.search) > MAX_SEARCH_LENGTH:
        raise BadRequest(f"search: longer than {MAX_SEARCH_LENGTH} characters")
    return queries.BrowseFilter(
        visible_to=rt.access.visible_owner_filter(caller.user),
        states=tuple(s.value for s in query.states) or None,
        cluster_id=cluster_id,
        namespace=query.namespace or None,
        owner=query.owner or None,
        search=query.search or None,
    )


async def browse_applications(rt: GatewayRuntime, caller: Caller, query: BrowseQuery) -> BrowsePage:
    filters = _filters(rt, caller, query)
    before = parse_cursor(query.before) if query.before else None
    size = min(max(query.size, 1), MAX_PAGE_SIZE)
    async with rt.db.transaction() as session:
        rows = await queries.browse_applications(session, filters, before=before, limit=size + 1)
        total = await queries.count_browsed(session, filters, cap=COUNT_CAP)
    more = len(rows) > size
    rows = rows[:size]
    records = [with_urls(rt, application_record(r.row, r.batch_id, r.session_id)) for r in rows]
    last = rows[-1].row if rows and more else None
    return BrowsePage(records, total, encode_cursor(last.created_at, last.gateway_id) if last else None)
