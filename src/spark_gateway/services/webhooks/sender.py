"""The webhook sender: turns final-state events into deliveries and sends them, in one replica.

Events are written in the transaction that records an application's end (`services.transitions`), so none
is lost to a crash. The lease `webhooks` makes exactly one gateway process run this loop; a survivor
takes over when it dies. Each round expands new events into one delivery per target (the submission's
callback URL, every subscriber whose filters match), then sends what is due. A delivery is marked
delivered only after a 2xx answer; any other outcome is retried with exponential back-off until
`webhooks.maxAttempts`. So delivery is at least once: a crash between the answer and the commit sends
that one delivery again, with the same `X-Spark-Gateway-Delivery` id for receivers to spot it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from spark_gateway.db import webhooks as outbox
from spark_gateway.db.availability import describe, is_unavailable
from spark_gateway.db.models import ApplicationRow, WebhookDeliveryRow
from spark_gateway.db.repository import utcnow
from spark_gateway.domain.states import LivyDialect
from spark_gateway.services.applications import with_urls
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.stored import application_record
from spark_gateway.services.supervision.lease import LeaseGuard, LeaseTerm, configured_guard
from spark_gateway.services.webhooks.payload import (
    SIGNATURE_HEADER,
    application_view,
    build_body,
    event_of,
    signature,
)
from spark_gateway.services.webhooks.targets import TargetPolicy
from spark_gateway.webhook_settings import BodyFormat, Event

log = logging.getLogger(__name__)

LEASE_NAME = "webhooks"
EVENT_BATCH = 100
DELIVERY_BATCH = 50
PURGE_EVERY_SECONDS = 600.0
GIVE_UP_STATUSES = frozenset({410})  # the receiver says the hook is gone for good
USER_AGENT = "spark-gateway-webhooks/0.1"


@dataclass(frozen=True)
class Target:
    subscriber: str | None  # None: the submission's own callback URL
    url: str
    format: BodyFormat


@dataclass(frozen=True)
class Due:
    """What one attempt needs, copied out of the session."""

    id: int
    subscriber: str | None
    url: str
    event: str
    body: str
    attempts: int


class WebhookSender:
    def __init__(self, gateway: GatewayRuntime, *, http: httpx.AsyncClient | None = None) -> None:
        self.gateway = gateway
        self.config = gateway.settings.webhooks
        self.policy = TargetPolicy(self.config)
        self.dialect = LivyDialect(gateway.settings.livy.dialect)
        self.http = http or httpx.AsyncClient(
            timeout=self.config.timeoutSeconds, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )
        self._next_purge = 0.0

    async def close(self) -> None:
        await self.http.aclose()

    # Who is told ------------------------------------------------------------------------------------

    def targets(self, row: ApplicationRow, event: Event) -> list[Target]:
        found: list[Target] = []
        if row.callback_url:
            found.append(Target(None, row.callback_url, self.config.callbackFormat))
        for sub in self.config.subscribers:
            if event not in sub.events:
                continue
            if sub.clusters and not {row.cluster_name, row.cluster_id} & set(sub.clusters):
                continue
            if sub.namespaces and row.namespace not in sub.namespaces:
                continue
            if sub.owners and not {row.owner, row.proxy_user} & set(sub.owners):
                continue
            found.append(Target(sub.name, sub.url, sub.format))
        unique = {t.url: t for t in reversed(found)}  # one delivery per URL and event
        return [t for t in found if unique[t.url] is t]

    async def expand_events(self) -> int:
        """Turn the oldest recorded events into deliveries (one transaction); returns how many."""
        now = utcnow()
        async with self.gateway.db.transaction() as session:
            pending = await outbox.pending_events(session, EVENT_BATCH)
            rows: list[WebhookDeliveryRow] = []
            for item in pending:
                row = item.application
                if row is None:
                    continue
                event = event_of(row, item.event.state)
                urls = with_urls(self.gateway, application_record(row, item.batch_id)).urls
                view = application_view(row, item.event.state, item.batch_id, urls, self.dialect)
                for target in self.targets(row, event):
                    rows.append(
                        WebhookDeliveryRow(
                            event_id=item.event.id,
                            gateway_id=row.gateway_id,
                            subscriber=target.subscriber,
                            url=target.url,
                            event=event,
                            body=build_body(event, view, target.format, item.event.id),
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
            await outbox.add_deliveries(session, rows)
            await outbox.delete_events(session, [item.event.id for item in pending])
        return len(pending)

    # Sending ----------------------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Attempt every delivery that is due (a bounded batch, a bounded number at once)."""
        async with self.gateway.db.transaction() as session:
            due = [
                Due(d.id, d.subscriber, d.url, d.event, d.body, d.attempts)
                for d in await outbox.due_deliveries(session, utcnow(), DELIVERY_BATCH)
            ]
        limit = asyncio.Semaphore(self.config.maxConcurrentDeliveries)

        async def one(delivery: Due) -> None:
            async with limit:
                await self.attempt(delivery)

        await asyncio.gather(*(one(d) for d in due))
        return len(due)

    def backoff(self, attempts: int) -> timedelta:
        seconds = self.config.initialBackoffSeconds * 2 ** (attempts - 1)
        return timedelta(seconds=min(seconds, self.config.maxBackoffSeconds))

    async def attempt(self, delivery: Due) -> bool:
        attempts = delivery.attempts + 1
        error: str | None
        if problem := await self.policy.delivery_problem(delivery.url):
            ok, error, final = False, problem, True
        else:
            ok, error, final = await self._post(delivery)
        now = utcnow()
        retry_at: datetime | None = None
        if not ok and not final and attempts < self.config.maxAttempts:
            retry_at = now + self.backoff(attempts)
        async with self.gateway.db.transaction() as session:
            await outbox.record_attempt(
                session,
                delivery.id,
                attempts=attempts,
                now=now,
                delivered=ok,
                next_attempt_at=retry_at,
                error=error,
            )
        if not ok:
            outcome = f"retry at {retry_at:%H:%M:%S}" if retry_at else "given up"
            log.warning(
                "webhook %d (%s) to %s failed (attempt %d): %s; %s",
                delivery.id,
                delivery.event,
                delivery.url,
                attempts,
                error,
                outcome,
            )
        return ok

    async def _post(self, delivery: Due) -> tuple[bool, str | None, bool]:
        """(delivered, error, final): send the stored body, signed when a secret is configured."""
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "X-Spark-Gateway-Event": f"application.{delivery.event}",
            "X-Spark-Gateway-Delivery": str(delivery.id),
        }
        subscriber = self.config.subscriber(delivery.subscriber) if delivery.subscriber else None
        if secret := self.config.signing_secret(subscriber):
            headers[SIGNATURE_HEADER] = signature(secret, body)
        try:
            response = await self.http.post(delivery.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, False
        if response.is_success:
            return True, None, False
        return False, f"HTTP {response.status_code}", response.status_code in GIVE_UP_STATUSES

    # The loop ---------------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """One round: expand events, send what is due, now and then forget old deliveries."""
        expanded = await self.expand_events()
        sent = await self.deliver_due()
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
            before = utcnow() - timedelta(days=self.config.keepDays)
            async with self.gateway.db.transaction() as session:
                await outbox.purge_finished(session, before)
        return expanded + sent

    async def run(self, stop: asyncio.Event, *, max_rounds: int | None = None) -> None:
        rounds = 0
        while not stop.is_set() and (max_rounds is None or rounds < max_rounds):
            rounds += 1
            try:
                busy = await self.run_once()
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("webhooks: database unavailable: %s", describe(exc))
                else:
                    log.exception("webhooks: round failed")
                busy = 0
            if not busy:
                await _wait(stop, self.config.pollIntervalSeconds)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def webhook_guard(gateway: GatewayRuntime, holder: str) -> LeaseGuard:
    """The lease guard that runs the sender in exactly one gateway process."""

    async def work(term: LeaseTerm) -> None:
        sender = WebhookSender(gateway)
        try:
            await sender.run(term.stop)
        finally:
            await sender.close()

    return configured_guard(
        gateway.db, gateway.settings.lease, LEASE_NAME, work, holder=holder, work_name="webhooks"
    )
