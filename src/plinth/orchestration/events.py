"""Events: webhook subscriptions (platform engineers only) and the dispatcher.

The dispatcher runs on the leader only: it fans new outbox events out to one
delivery per matching subscription (and the broker, when configured), then sends
due deliveries one by one. Delivery is at least once: an event can arrive twice
(after a crash between the POST and the mark, or a lost response), always with the
same id, so receivers deduplicate on ``webhook-id`` / the CloudEvent ``id``. Order
is by event within one pass, but a retried delivery can arrive after newer events:
receivers must not rely on order (use ``time`` or the audit sequence in the data).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from plinth.capabilities.audit import service as audit
from plinth.capabilities.identity.schemas import Actor, Role
from plinth.core import metrics
from plinth.core.clock import Clock
from plinth.core.errors import Forbidden, InvalidInput
from plinth.core.ids import IdFactory
from plinth.core.secrets import SecretBox
from plinth.infrastructure.store.db import Database
from plinth.integration.events import delivery, webhooks
from plinth.integration.events import repository as repo
from plinth.integration.events.models import WebhookSubscription

__all__ = ["Dispatcher", "Events", "Subscription"]

log = logging.getLogger(__name__)
_PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Subscription:
    """What a platform engineer asks for when adding a webhook."""

    url: str
    types: list[str]
    description: str = ""
    max_attempts: int = 8


class Events:
    """Webhook management and delivery records, for the API and the CLI."""

    def __init__(self, db: Database, *, box: SecretBox, clock: Clock, ids: IdFactory) -> None:
        self.db, self.box, self.clock, self.ids = db, box, clock, ids

    @staticmethod
    def _require(actor: Actor) -> None:
        if actor.kind == "agent" or not actor.has_role(Role.PLATFORM_ENGINEER):
            raise Forbidden("managing webhooks needs the platform-engineer role organisation-wide")

    def add(self, actor: Actor, request: Subscription) -> dict[str, Any]:
        """Add a subscription; the answer holds its signing secret (shown this once)."""
        self._require(actor)
        url = webhooks.check_url(request.url)
        types = webhooks.check_types(request.types)
        if not 1 <= request.max_attempts <= 50:
            raise InvalidInput(f"max_attempts: must be 1..50, got {request.max_attempts}")
        secret = webhooks.new_secret()
        now = self.clock.now()
        with self.db.transaction() as session:
            row = WebhookSubscription(
                id=self.ids.new("wh"),
                url=url,
                types=types,
                secret=self.box.seal(secret),
                description=request.description,
                max_attempts=request.max_attempts,
                created_by=actor.name,
                created_at=now,
            )
            session.add(row)
            session.flush()
            data = repo.subscription_as_dict(row)
            audit.append(
                session,
                actor=actor.name,
                action="webhook.added",
                subject=f"webhook/{row.id}",
                data={"url": url, "types": types},
                clock=self.clock,
            )
        return data | {"secret": secret}

    def subscriptions(self, actor: Actor, *, limit: int, page_token: str | None) -> dict[str, Any]:
        """Return a page of subscriptions (never their secrets)."""
        self._require(actor)
        with self.db.read() as session:
            page = repo.list_subscriptions(session, limit=limit, page_token=page_token)
            items = [repo.subscription_as_dict(r) for r in page.items]
        return {"items": items, "next_page_token": page.next_page_token}

    def remove(self, actor: Actor, subscription_id: str) -> dict[str, Any]:
        """Remove a subscription and its deliveries."""
        self._require(actor)
        with self.db.transaction() as session:
            row = repo.remove_subscription(session, subscription_id)
            audit.append(
                session,
                actor=actor.name,
                action="webhook.removed",
                subject=f"webhook/{row.id}",
                data={"url": row.url},
                clock=self.clock,
            )
            return repo.subscription_as_dict(row)

    def deliveries(
        self,
        actor: Actor,
        *,
        target: str | None,
        status: str | None,
        limit: int,
        page_token: str | None,
    ) -> dict[str, Any]:
        """Return a page of deliveries (``failed`` ones are the dead letters)."""
        self._require(actor)
        if status is not None and status not in repo.STATUSES:
            raise InvalidInput(f"status: must be one of {', '.join(repo.STATUSES)}, got {status!r}")
        with self.db.read() as session:
            page = repo.list_deliveries(
                session, target=target, status=status, limit=limit, page_token=page_token
            )
            items = [repo.delivery_as_dict(session, r) for r in page.items]
        return {"items": items, "next_page_token": page.next_page_token}

    def redeliver(self, actor: Actor, delivery_id: int) -> dict[str, Any]:
        """Send a delivery again with a fresh set of attempts."""
        self._require(actor)
        with self.db.transaction() as session:
            row = repo.redeliver(session, delivery_id, now=self.clock.now())
            return repo.delivery_as_dict(session, row)

    def backlog(self) -> tuple[int, int]:
        """Return (events and deliveries waiting, deliveries failed)."""
        with self.db.read() as session:
            return repo.backlog(session)


class Dispatcher:
    """Fans outbox events out and delivers them; ``run_once`` is one pass, ``start`` loops."""

    def __init__(
        self,
        db: Database,
        *,
        box: SecretBox,
        clock: Clock,
        broker_url: str | None = None,
        interval: float = 1.0,
        lease_s: float = 60.0,
        timeout_s: float = 10.0,
        batch: int = 50,
        retention: timedelta = timedelta(days=7),
        dead_retention: timedelta = timedelta(days=30),
    ) -> None:
        self.db, self.box, self.clock = db, box, clock
        self.retention = retention  # delivered events (and events nobody wanted) are kept this long
        self.dead_retention = dead_retention  # dead letters: this long after their last attempt
        self._pruned_at: datetime | None = None
        self.broker_url = webhooks.check_url(broker_url) if broker_url else None
        self.interval, self.lease_s, self.batch = interval, lease_s, batch
        self._timeout = timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop on a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="plinth-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop (an attempt in flight finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while not self._stop.is_set():
                try:
                    busy = self.run_once(client)
                except Exception:  # the loop outlives a bad pass; the next one retries
                    log.exception("event dispatch pass failed")
                    busy = 0
                if not busy:
                    self._stop.wait(self.interval)

    def run_once(self, client: httpx.Client) -> int:
        """Fan out new events and make one attempt at each due delivery; return the attempts."""
        now = self.clock.now()
        with self.db.transaction() as session:
            repo.fan_out(session, now=now, broker=self.broker_url is not None)
            if self._pruned_at is None or now - self._pruned_at >= _PRUNE_EVERY:
                repo.prune(
                    session, before=now - self.retention, dead_before=now - self.dead_retention
                )
                self._pruned_at = now
        with self.db.transaction() as session:
            claimed = repo.claim_due(
                session, now=self.clock.now(), lease_s=self.lease_s, limit=self.batch
            )
        for item in claimed:
            self._deliver(client, item)
        return len(claimed)

    def _deliver(self, client: httpx.Client, item: repo.Claimed) -> None:
        if item.url is None:
            message = delivery.binary(item.event)
            url, headers, kind = self.broker_url or "", dict(message.headers), "broker"
        else:
            message = delivery.structured(item.event)
            secret = self.box.open(item.sealed_secret or "")
            stamp = int(self.clock.now().timestamp())
            signed = webhooks.signed_headers(
                secret, msg_id=item.event.id, timestamp=stamp, body=message.body
            )
            url, headers, kind = item.url, dict(message.headers) | signed, "webhook"
        attempt = (
            delivery.post(client, url, headers=headers, body=message.body)
            if url
            else delivery.Attempt(False, None, "no broker is configured (events_broker_url)")
        )
        now = self.clock.now()
        retry_at = now + timedelta(seconds=delivery.backoff(item.attempt))
        with self.db.transaction() as session:
            status = repo.record_attempt(session, item, attempt, now=now, retry_at=retry_at)
        outcome = {"delivered": "delivered", "failed": "failed"}.get(status, "retry")
        metrics.DELIVERIES.labels(kind, outcome).inc()
        if outcome == "failed":
            log.warning(
                "event %s to %s failed after %d attempts: %s",
                item.event.id,
                item.target,
                item.attempt,
                attempt.error,
            )
