"""Livy batches on top of applications: batch ids, Livy's request fields, and Livy log paging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from spark_gateway.db import lists, point_reads
from spark_gateway.db import repository as repo
from spark_gateway.domain.errors import BadRequest, NotFound
from spark_gateway.domain.livy import LivyBatchRequest, to_spark_application
from spark_gateway.domain.records import ApplicationRecord, LogPage
from spark_gateway.domain.sparkapp import namespace_problem
from spark_gateway.domain.states import AppState
from spark_gateway.services import applications
from spark_gateway.services.applications import MAX_LOG_LINES, Caller
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.livy_common import (
    MAX_NAME_LENGTH,
    MAX_PAGE,
    check_length,
    check_name,
    default_spark_version,
    find,
    log_page,
    not_found,
    page_offset,
    ref_number,
    validated,
)
from spark_gateway.services.stored import application_record

# A list page never holds more batches than this: a larger `size` is clamped (Livy accepts any size;
# `total` still counts every batch, so a client pages on with `from`). Livy's default page is 100 too.
MAX_LIST_SIZE = 100


@dataclass
class BatchPage:
    offset: int
    total: int
    batches: list[ApplicationRecord]


def parse_request(payload: object) -> LivyBatchRequest:
    request = validated(LivyBatchRequest, payload)
    if not request.file:
        raise BadRequest("File is required.")
    check_name(request.name)
    if request.name is not None and len(request.name) > MAX_NAME_LENGTH:
        raise BadRequest(f"Rejected, Reason: session name longer than {MAX_NAME_LENGTH} characters")
    check_length("proxyUser", request.proxyUser)
    return request


async def create_batch(
    gateway: GatewayRuntime,
    caller: Caller,
    payload: object,
    *,
    namespace: str | None,
    idempotency_key: str | None = None,
    callback_url: str | None = None,
) -> ApplicationRecord:
    request = parse_request(payload)
    if not namespace:
        namespace = gateway.settings.livy.defaultNamespace
        if not gateway.settings.offers_namespace(namespace):
            raise BadRequest(
                f"no namespace given and livy.defaultNamespace '{namespace}' is offered by no cluster: "
                "send the X-Spark-Gateway-Livy-Namespace header"
            )
    if problem := namespace_problem(namespace):
        raise BadRequest(problem)
    app = to_spark_application(
        request,
        namespace=namespace,
        spark_version=gateway.settings.livy.sparkVersion or default_spark_version(),
    )
    return await applications.create_application(
        gateway,
        caller,
        app,
        source="livy",
        livy=True,
        idempotency_key=idempotency_key,
        callback_url=callback_url,
    )


RECENT_LOG_LINES = 10  # Livy's batch view shows the last 10 log lines


async def _resolve(
    gateway: GatewayRuntime, session: repo.Reader, caller: Caller, batch_ref: str, *, recent_lines: int = 0
) -> tuple[ApplicationRecord, list[str] | None]:
    """A batch by id, or (as Livy allows) by name when the reference is not all digits; with
    `recent_lines`, a batch found by id comes with its last log lines (None: not read)."""
    batch_id, row = await find(
        gateway,
        caller,
        batch_ref,
        lambda number: repo.get_batch(session, number, recent_lines=recent_lines),
        lambda name, owner: repo.get_batch_by_name(session, name, owner),
    )
    by_id = ref_number(batch_ref) is not None
    return application_record(row, batch_id), repo.recent_log_of(row) if by_id and recent_lines else None


async def get_batch(
    gateway: GatewayRuntime, caller: Caller, batch_ref: str, *, with_log: bool = True
) -> ApplicationRecord:
    """One batch (and its last log lines): by id, one statement on the driver (`point_reads`)."""
    lines = RECENT_LOG_LINES if with_log else 0
    number = ref_number(batch_ref)
    if number is not None:
        row = await point_reads.batch(gateway.db, number, recent_lines=lines)
        if row is None:
            raise not_found(batch_ref)
        record = _visible_record(gateway, caller, batch_ref, row)
        if with_log:
            record.recent_log = point_reads.lines_of(row.recent_log)
        return applications.with_urls(gateway, record)

    async def reads(conn: AsyncConnection) -> ApplicationRecord:
        record, _ = await _resolve(gateway, conn, caller, batch_ref)
        record = _visible_record(gateway, caller, batch_ref, record)
        if with_log:  # found by name: one more statement
            logs = await repo.recent_logs(conn, [record.gateway_id], RECENT_LOG_LINES)
            record.recent_log = logs[record.gateway_id]
        return record

    return applications.with_urls(gateway, await gateway.db.read(reads))


def _visible_record(gateway: GatewayRuntime, caller: Caller, batch_ref: str, found: Any) -> ApplicationRecord:
    """The record of a batch (a row or a record) the caller may see; another user's batch is a 404."""
    record = found if isinstance(found, ApplicationRecord) else application_record(found, found.batch_id)
    _ensure_visible(gateway, caller, batch_ref, record)
    return record


def _ensure_visible(gateway: GatewayRuntime, caller: Caller, batch_ref: str, found: Any) -> None:
    """Another user's batch (a row with `owner` and `proxy_user`, or a record) is a 404, as if it did
    not exist (`applications.ensure_can_view`)."""
    if not gateway.access.can_view(caller.user, found.owner, found.proxy_user):
        raise not_found(batch_ref)


async def batch_state(gateway: GatewayRuntime, caller: Caller, batch_ref: str) -> tuple[int | None, AppState]:
    """A batch's id and state; by id, one statement that reads neither of its JSON documents."""
    number = ref_number(batch_ref)
    if number is None:
        record = await get_batch(gateway, caller, batch_ref, with_log=False)
        return record.batch_id, record.state
    row = await point_reads.batch_state(gateway.db, number)
    if row is None:
        raise not_found(batch_ref)
    _ensure_visible(gateway, caller, batch_ref, row)
    return row.batch_id, AppState.parse(row.state)


async def list_batches(gateway: GatewayRuntime, caller: Caller, *, offset: int, size: int) -> BatchPage:
    owner = gateway.access.visible_owner_filter(caller.user)

    async def reads(conn: AsyncConnection) -> tuple[list[tuple[int, Row[Any]]], int, dict[str, list[str]]]:
        rows, total = await lists.list_batches(
            conn, offset=page_offset(offset), limit=min(size, MAX_LIST_SIZE), owner=owner
        )
        logs = await repo.recent_logs(conn, [r.gateway_id for _, r in rows], RECENT_LOG_LINES)
        return rows, total, logs

    rows, total, logs = await gateway.db.read(reads)
    records = [application_record(r, b) for b, r in rows]
    for record in records:
        record.recent_log = logs[record.gateway_id]
    return BatchPage(offset, total, [applications.with_urls(gateway, r) for r in records])


async def batch_log(
    gateway: GatewayRuntime, caller: Caller, batch_ref: str, *, offset: int | None, size: int
) -> tuple[int | None, LogPage]:
    """The batch's id and a page of its log, with Livy's semantics over the stored log
    (`livy_common.log_page`); by id, the batch and its page are one statement."""
    number = ref_number(batch_ref)
    if number is None:
        record = await get_batch(gateway, caller, batch_ref, with_log=False)
        return record.batch_id, await log_page(gateway, record.gateway_id, offset=offset, size=size)
    if offset is not None:
        offset = min(offset, MAX_PAGE)
    size = min(size, MAX_PAGE)
    from_end = offset is None or offset < 0
    # The page never exceeds the log, so `size` < 0 (all of it) reads at most MAX_LOG_LINES.
    lines = MAX_LOG_LINES if size < 0 else min(size, MAX_LOG_LINES)
    row = await point_reads.batch_log(gateway.db, number, offset=None if from_end else offset, lines=lines)
    if row is None:
        raise not_found(batch_ref)
    _ensure_visible(gateway, caller, batch_ref, row)
    page_lines = point_reads.lines_of(row.log_lines)
    total = 0 if row.log_low is None else row.log_high - row.log_low + 1
    start = max(0, total - len(page_lines)) if offset is None or offset < 0 else offset
    return row.batch_id, LogPage(offset=start, total=total, lines=page_lines)


async def delete_batch(gateway: GatewayRuntime, caller: Caller, batch_ref: str) -> None:
    async with gateway.db.transaction() as session:
        record, _ = await _resolve(gateway, session, caller, batch_ref)
    try:
        await applications.delete_application(gateway, caller, record.gateway_id)
    except NotFound:
        raise not_found(batch_ref) from None
