"""Submitting, reading, and deleting applications: the logic shared by the Livy and native APIs.

A create is one transaction: the application row (and, for Livy, its batch id) is committed before the
caller hears 201. Clusters the gateway supervises itself (local) pick the stored application up from
the queue; clusters behind a SparkManager get it submitted before the response.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from spark_gateway.backends.base import StatusUpdate, SupervisedBackend
from spark_gateway.db import point_reads
from spark_gateway.db import repository as repo
from spark_gateway.db.models import ApplicationRow
from spark_gateway.domain.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GatewayError,
    NotFound,
    Unavailable,
    Unreachable,
)
from spark_gateway.domain.ids import new_gateway_id, parse_gateway_id
from spark_gateway.domain.records import ApplicationRecord, LogPage
from spark_gateway.domain.sparkapp import SparkApplication, metadata_problems, stamp
from spark_gateway.domain.states import AppState
from spark_gateway.domain.urls import render
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.session_launch import prepare_launch
from spark_gateway.services.spec_checks import enforce_spec_policy
from spark_gateway.services.stored import application_record, tracked_application
from spark_gateway.services.transitions import apply_update
from spark_gateway.services.webhooks.targets import TargetPolicy
from spark_gateway.settings import ClusterConfig

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

InsertHook = Callable[["AsyncSession", ApplicationRow, SparkApplication], Awaitable[SparkApplication]]

KILLED_MESSAGE = "killed by user"
# One log page (Livy `size`, v1 `lines`) never holds more lines than this; a larger size is clamped.
MAX_LOG_LINES = 10_000
# A v1 list page holds at most this many applications; `limit` + `continue` page past it
# (services/pages.py).
V1_LIST_LIMIT = 100
MAX_STORED_KEY = 300  # the size of the idempotency_key column


@dataclass(frozen=True)
class Caller:
    """Who is asking: the authenticated user (None when authentication is off)."""

    user: str | None = None


def scope_idempotency_key(user: str | None, source: str, key: str) -> str:
    """The stored form of an Idempotency-Key: per user and API, so nobody replays another's request;
    hashed when a long user name and key would not fit the column."""
    scoped = f"{user or ''}\x1f{source}\x1f{key}"
    if len(scoped) <= MAX_STORED_KEY:
        return scoped
    return "sha256:" + hashlib.sha256(scoped.encode("utf-8")).hexdigest()


def check_conf(gateway: GatewayRuntime, caller: Caller, app: SparkApplication) -> None:
    """The configuration rules of `domain.conf_policy`; only authenticated admins are privileged (with
    no authentication configured there are no admins)."""
    privileged = gateway.access.auth_enabled and gateway.access.is_admin(caller.user)
    gateway.conf_policy.check_application(app, privileged=privileged)


def check_callback(gateway: GatewayRuntime, url: str | None) -> None:
    """A submission's completion webhook must be allowed before the submission is accepted."""
    if url is None:
        return
    if not gateway.settings.webhooks.enable:
        raise BadRequest("completion webhooks are disabled on this gateway (webhooks.enable)")
    if problem := TargetPolicy(gateway.settings.webhooks).request_problem(url):
        raise BadRequest(problem)


def with_urls(gateway: GatewayRuntime, record: ApplicationRecord) -> ApplicationRecord:
    templates = gateway.settings.gateway.statusUrlTemplates
    app = record.spark_application()
    driver = record.status.get("driverInfo") or {}
    record.urls = {
        "sparkUI": render(templates.sparkUI, app) or driver.get("webUIAddress"),
        "sparkHistoryUI": render(templates.sparkHistoryUI, app),
        "logsUI": render(templates.logsUI, app),
    }
    return record


async def create_application(
    gateway: GatewayRuntime,
    caller: Caller,
    app: SparkApplication,
    *,
    source: str = "v1",
    livy: bool = False,
    idempotency_key: str | None = None,
    callback_url: str | None = None,
    on_insert: InsertHook | None = None,
) -> ApplicationRecord:
    """`on_insert` runs in the creating transaction (e.g. to add a session row) and may change the
    application before it is stored and submitted; its exceptions roll the creation back."""
    namespace = app.metadata.namespace
    if not namespace:
        raise BadRequest("submitted SparkApplication must have a Namespace")
    if problems := metadata_problems(app):
        raise BadRequest("; ".join(problems))
    # The spec policy first: where both refuse a key, its message names the Livy field (`conf.<key>`).
    enforce_spec_policy(gateway, caller.user, app, livy=livy)
    check_conf(gateway, caller, app)
    check_callback(gateway, callback_url)
    proxy_user = gateway.access.resolve_proxy_user(caller.user, app.spec.proxyUser)
    scoped_key = scope_idempotency_key(caller.user, source, idempotency_key) if idempotency_key else None
    if scoped_key and (original := await _original(gateway, scoped_key)) is not None:
        if await _unanswered(gateway, original):
            return await _resubmit(gateway, original)
        return original

    unreachable: frozenset[str] = frozenset()
    while True:
        cluster = await gateway.routing.choose(namespace, unreachable)
        try:
            return await _place(
                gateway, caller, app, cluster, source, livy, proxy_user, scoped_key, callback_url, on_insert
            )
        except Unreachable as exc:
            # Nothing reached that cluster's SparkManager (it died within healthCacheSeconds): the
            # stored attempt is withdrawn, and another cluster offering the namespace is tried.
            gateway.routing.mark_down(cluster)
            unreachable |= {cluster.id}
            if all(c.id in unreachable for c in gateway.routing.candidates(namespace)):
                raise
            log.warning("cluster %s unreachable (%s): trying another one", cluster.name, exc)


async def _place(
    gateway: GatewayRuntime,
    caller: Caller,
    app: SparkApplication,
    cluster: ClusterConfig,
    source: str,
    livy: bool,
    proxy_user: str | None,
    scoped_key: str | None,
    callback_url: str | None,
    on_insert: InsertHook | None,
) -> ApplicationRecord:
    """Store the application for `cluster`, then queue it (self-run cluster) or hand it over now."""
    namespace = app.metadata.namespace or ""
    ns_config = cluster.namespace_by_name(namespace)
    assert ns_config is not None  # the router only offers clusters with this namespace
    backend = gateway.backend(cluster.id)
    gateway_id = new_gateway_id(cluster.id, ns_config.id)

    def stamped(batch_id: int | None) -> SparkApplication:
        return stamp(
            app,
            gateway_id=gateway_id,
            cluster_name=cluster.name,
            user=caller.user,
            proxy_user=proxy_user,
            selector=gateway.settings.selector(),
            livy_batch_id=batch_id,
        )

    final = stamped(None)
    backend.validate(final)
    now = repo.utcnow()
    try:
        async with gateway.db.transaction() as session:
            row = ApplicationRow(
                gateway_id=gateway_id,
                cluster_id=cluster.id,
                cluster_name=cluster.name,
                namespace=namespace,
                owner=caller.user,
                proxy_user=proxy_user,
                name=app.metadata.name,
                source=source,
                spec=final.to_k8s(),
                status={"applicationState": {"state": ""}, "driverInfo": {}},
                state="",
                backend_ref={},
                created_at=now,
                updated_at=now,
                idempotency_key=scoped_key,
                callback_url=callback_url,
            )
            await repo.insert_application(session, row)
            batch_id = None
            if livy:
                batch_id = await repo.allocate_batch_id(session, gateway_id)
                final = stamped(batch_id)
                row.spec = final.to_k8s()
                await session.flush()
            if on_insert is not None:
                final = await on_insert(session, row, final)
                row.spec = final.to_k8s()
                await session.flush()
            record = application_record(row, batch_id)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key committed first (the unique key refused
        # this one): answer with the original, exactly as for a sequential retry.
        if scoped_key is None or (original := await _original(gateway, scoped_key)) is None:
            raise
        return original

    if isinstance(backend, SupervisedBackend):
        gateway.wake(cluster.id)
        return with_urls(gateway, record)
    return with_urls(gateway, await _submit_now(gateway, record, final))


async def _original(gateway: GatewayRuntime, scoped_key: str) -> ApplicationRecord | None:
    """The application an earlier request with this scoped Idempotency-Key created, if any."""
    async with gateway.db.transaction() as session:
        existing = await repo.get_by_idempotency_key(session, scoped_key)
        if existing is None:
            return None
        return with_urls(
            gateway, application_record(existing, await repo.batch_id_for(session, existing.gateway_id))
        )


async def _submit_now(
    gateway: GatewayRuntime, record: ApplicationRecord, app: SparkApplication, *, again: bool = False
) -> ApplicationRecord:
    """Hand the stored application to its SparkManager; a refusal removes it again. `again`: an
    earlier hand-over got no answer, so an unreachable SparkManager withdraws nothing."""
    backend = gateway.backend(record.cluster_id)
    try:
        result = await backend.submit(await prepare_launch(gateway, app))
    except Unreachable:
        if again:
            raise
        # Nothing was sent: withdraw the attempt without an end of its own (no webhook, and a retry
        # with the same Idempotency-Key starts afresh); the caller may try another cluster.
        async with gateway.db.transaction() as session:
            row = await repo.get_application(session, record.gateway_id, for_update=True)
            if row is not None:
                row.idempotency_key = None
                await repo.mark_deleted(session, record.gateway_id)
        raise
    except Unavailable:
        # Sent, but no answer (the SparkManager died, the API server timed out): the SparkApplication
        # may exist. The attempt stays as it is, New with its Idempotency-Key: the SparkManager records
        # it if it was created, and a retry with the key submits it again (see `_resubmit`).
        raise
    except GatewayError as exc:
        if isinstance(exc, Conflict):
            # Named by its (unique) gateway id, so it exists because another hand-over of this same
            # application (a retry of an unanswered one) created it: the watch records its progress.
            return record
        async with gateway.db.transaction() as session:
            row = await repo.get_application(session, record.gateway_id, for_update=True)
            if row is not None:
                await apply_update(
                    session,
                    row,
                    StatusUpdate(
                        record.gateway_id, AppState.FAILED, error_message=f"submission failed: {exc}"
                    ),
                )
                await repo.mark_deleted(session, record.gateway_id)
        raise
    async with gateway.db.transaction() as session:
        row = await repo.get_application(session, record.gateway_id, include_deleted=True, for_update=True)
        assert row is not None
        result.update.backend_ref = result.backend_ref
        if result.update.state == AppState.NEW and AppState.parse(row.state) != AppState.NEW:
            # The SparkManager's watch has recorded progress already: keep it, add the reference.
            await repo.save(session, row, backend_ref={**(row.backend_ref or {}), **result.backend_ref})
        else:
            await apply_update(session, row, result.update)
        return application_record(row, record.batch_id)


async def _unanswered(gateway: GatewayRuntime, record: ApplicationRecord) -> bool:
    """Whether `record`'s hand-over to its SparkManager got no answer (still New, no backend reference)."""
    if record.state != AppState.NEW or isinstance(gateway.backend(record.cluster_id), SupervisedBackend):
        return False
    async with gateway.db.transaction() as session:
        row = await repo.get_application(session, record.gateway_id)
        return row is not None and not row.backend_ref


async def _resubmit(gateway: GatewayRuntime, original: ApplicationRecord) -> ApplicationRecord:
    """A retry of a submission whose hand-over got no answer: send it again. The SparkApplication is
    named by its gateway id, so one that was created after all is refused as a duplicate (409, taken
    as success by `_submit_now`), and the SparkManager's watch records its progress."""
    return await _submit_now(gateway, original, SparkApplication.model_validate(original.spec), again=True)


async def _load(gateway: GatewayRuntime, gateway_id: str) -> ApplicationRecord:
    parsed = parse_gateway_id(gateway_id)
    gateway.cluster(parsed.cluster_id)
    row = await point_reads.application(gateway.db, gateway_id)
    if row is None:
        raise NotFound(f"application '{gateway_id}' not found")
    return application_record(row, row.batch_id)


def ensure_can_view(gateway: GatewayRuntime, caller: Caller, record: ApplicationRecord) -> None:
    """Another user's application does not exist for the caller: the same 404 as a missing one."""
    if not gateway.access.can_view(caller.user, record.owner, record.proxy_user):
        raise NotFound(f"application '{record.gateway_id}' not found")


def ensure_can_modify(gateway: GatewayRuntime, caller: Caller, record: ApplicationRecord) -> None:
    ensure_can_view(gateway, caller, record)
    if not gateway.access.can_modify(caller.user, record.owner, record.proxy_user):
        raise Forbidden(f"User '{caller.user}' is not allowed to modify '{record.gateway_id}'.")


async def get_application(gateway: GatewayRuntime, caller: Caller, gateway_id: str) -> ApplicationRecord:
    record = await _load(gateway, gateway_id)
    ensure_can_view(gateway, caller, record)
    return with_urls(gateway, record)


async def application_logs(gateway: GatewayRuntime, caller: Caller, gateway_id: str, lines: int) -> list[str]:
    """The last `lines` driver log lines: live from the cluster while running, else as stored."""
    if lines < 0:
        raise BadRequest("lines must be greater than or equal to 0")
    lines = min(lines, MAX_LOG_LINES)
    record = await _load(gateway, gateway_id)
    ensure_can_view(gateway, caller, record)
    backend = gateway.backend(record.cluster_id)
    if (
        not record.state.is_terminal
        and record.state != AppState.NEW
        and not isinstance(backend, SupervisedBackend)
    ):
        async with gateway.db.transaction() as session:
            row = await repo.get_application(session, gateway_id)
            tracked = tracked_application(row) if row is not None else None
        live = None
        if tracked is not None:
            try:
                live = await backend.logs(tracked, lines)
            except GatewayError as exc:
                log.info("live logs of %s unavailable (%s); serving stored log", gateway_id, exc)
        if live is not None:
            return live
    page = await read_log_page(gateway, gateway_id, offset=None, size=lines)
    return page.lines


async def read_log_page(
    gateway: GatewayRuntime, gateway_id: str, *, offset: int | None, size: int
) -> LogPage:
    """Livy log semantics over the stored log: no offset (or < 0) means the last `size` lines; a
    negative size means all of them; at most `MAX_LOG_LINES` either way."""

    async def reads(conn: AsyncConnection) -> LogPage:
        bounds = await repo.log_bounds(conn, gateway_id)
        total = 0 if bounds is None else bounds[1] - bounds[0] + 1
        page_size = min(total if size < 0 else size, MAX_LOG_LINES)
        start = max(0, total - page_size) if offset is None or offset < 0 else offset
        lines = await repo.read_log(conn, gateway_id, offset=start, size=page_size, bounds=bounds)
        return LogPage(offset=start, total=total, lines=lines)

    return await gateway.db.read(reads)


async def delete_application(gateway: GatewayRuntime, caller: Caller, gateway_id: str) -> None:
    """Kill the application (and everything it started), then remove it from view."""
    record = await _load(gateway, gateway_id)
    ensure_can_modify(gateway, caller, record)
    async with gateway.db.transaction() as session:
        row = await repo.get_application(session, gateway_id, for_update=True)
        if row is None:
            raise NotFound(f"application '{gateway_id}' not found")
        tracked = tracked_application(row)
        launched = tracked.state != AppState.NEW and not tracked.state.is_terminal
    backend = gateway.backend(record.cluster_id)
    # Behind a SparkManager the object exists from the submission on, whatever its state: delete it.
    if launched or not isinstance(backend, SupervisedBackend):
        await backend.kill(tracked)
    async with gateway.db.transaction() as session:
        row = await repo.get_application(session, gateway_id, include_deleted=True, for_update=True)
        if row is None:
            return
        if not AppState.parse(row.state).is_terminal:
            await apply_update(
                session, row, StatusUpdate(gateway_id, AppState.FAILED, error_message=KILLED_MESSAGE)
            )
            await repo.append_log_lines(
                session,
                gateway_id,
                [f"spark-gateway: {KILLED_MESSAGE}"],
                keep=gateway.settings.retention.log_lines,
            )
        await repo.mark_deleted(session, gateway_id)
