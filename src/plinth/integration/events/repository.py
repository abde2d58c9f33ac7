"""All SQL of the events outbox: subscriptions, fan-out, claiming and marking deliveries.

On PostgreSQL the dispatcher's reads lock the rows they take with ``FOR UPDATE
SKIP LOCKED``, so two dispatchers (say, an old leader that has not noticed it lost
the lease) never take the same row; SQLite serialises writers anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from plinth.core.errors import NotFound
from plinth.infrastructure.store.pagination import Page, paginate
from plinth.integration.events.delivery import Attempt, EventData
from plinth.integration.events.models import EventDelivery, OutboxEvent, WebhookSubscription
from plinth.integration.events.webhooks import matches

__all__ = [
    "BROKER",
    "STATUSES",
    "Claimed",
    "backlog",
    "claim_due",
    "delivery_as_dict",
    "fan_out",
    "get_subscription",
    "list_deliveries",
    "list_subscriptions",
    "prune",
    "record_attempt",
    "redeliver",
    "remove_subscription",
    "subscription_as_dict",
]

BROKER = "broker"
STATUSES = ("pending", "delivered", "failed")


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for one attempt, with what sending it needs."""

    delivery_id: int
    target: str
    attempt: int
    max_attempts: int
    url: str | None
    sealed_secret: str | None
    event: EventData


def get_subscription(session: Session, subscription_id: str) -> WebhookSubscription:
    """Return one subscription or raise NotFound."""
    row = session.get(WebhookSubscription, subscription_id)
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id!r}")
    return row


def list_subscriptions(
    session: Session, *, limit: int, page_token: str | None
) -> Page[WebhookSubscription]:
    """Return a page of subscriptions, oldest id first."""
    stmt = select(WebhookSubscription)
    return paginate(session, stmt, WebhookSubscription.id, limit=limit, page_token=page_token)


def remove_subscription(session: Session, subscription_id: str) -> WebhookSubscription:
    """Delete a subscription and its deliveries; return it."""
    row = get_subscription(session, subscription_id)
    session.execute(delete(EventDelivery).where(EventDelivery.target == subscription_id))
    session.delete(row)
    session.flush()
    return row


def list_deliveries(
    session: Session,
    *,
    target: str | None,
    status: str | None,
    limit: int,
    page_token: str | None,
) -> Page[EventDelivery]:
    """Return a page of deliveries (of one target and status when given), oldest first."""
    stmt = select(EventDelivery)
    if target is not None:
        stmt = stmt.where(EventDelivery.target == target)
    if status is not None:
        stmt = stmt.where(EventDelivery.status == status)
    return paginate(session, stmt, EventDelivery.id, limit=limit, page_token=page_token)


def redeliver(session: Session, delivery_id: int, *, now: datetime) -> EventDelivery:
    """Queue a delivery again with a fresh set of attempts (a dead letter, or a delivered one)."""
    row = session.get(EventDelivery, delivery_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no event delivery {delivery_id}")
    row.status, row.attempts, row.next_attempt_at = "pending", 0, now
    row.last_error = None
    session.flush()
    return row


def fan_out(session: Session, *, now: datetime, broker: bool, limit: int = 200) -> int:
    """Turn undispatched events into one delivery per matching target; return events done."""
    events = list(
        session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.dispatched_at.is_(None))
            .order_by(OutboxEvent.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not events:
        return 0
    subscriptions = list(session.scalars(select(WebhookSubscription)))
    for event in events:
        targets = [(s.id, s.max_attempts) for s in subscriptions if matches(s.types, event.type)]
        if broker:
            targets.append((BROKER, 10))
        for target, attempts in targets:
            session.add(
                EventDelivery(
                    target=target,
                    event_seq=event.seq,
                    status="pending",
                    attempts=0,
                    max_attempts=attempts,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        event.dispatched_at = now
    session.flush()
    return len(events)


def claim_due(session: Session, *, now: datetime, lease_s: float, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due deliveries for one attempt each.

    Each is pushed ``lease_s`` into the future before the POST: if the dispatcher dies
    between sending and ``record_attempt``, the delivery comes due again after the
    lease and is sent again with the same event id (at least once).
    """
    rows = list(
        session.scalars(
            select(EventDelivery)
            .where(EventDelivery.status == "pending", EventDelivery.next_attempt_at <= now)
            .order_by(EventDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    claimed: list[Claimed] = []
    for row in rows:
        event = session.get(OutboxEvent, row.event_seq)
        subscription = (
            None if row.target == BROKER else session.get(WebhookSubscription, row.target)
        )
        if event is None or (row.target != BROKER and subscription is None):
            session.delete(row)  # its subscription or event is gone
            continue
        row.attempts += 1
        row.next_attempt_at = now + timedelta(seconds=lease_s)
        claimed.append(
            Claimed(
                delivery_id=row.id,
                target=row.target,
                attempt=row.attempts,
                max_attempts=row.max_attempts,
                url=subscription.url if subscription else None,
                sealed_secret=subscription.secret if subscription else None,
                event=_event_data(event),
            )
        )
    session.flush()
    return claimed


def _event_data(row: OutboxEvent) -> EventData:
    return EventData(
        id=row.id,
        type=row.type,
        source=row.source,
        subject=row.subject,
        time=row.time,
        data=dict(row.data),
        traceparent=row.traceparent,
    )


def record_attempt(
    session: Session, claimed: Claimed, attempt: Attempt, *, now: datetime, retry_at: datetime
) -> str:
    """Store an attempt's result; return the new status (delivered, pending or failed)."""
    row = session.get(EventDelivery, claimed.delivery_id, with_for_update=True)
    if row is None:
        return "gone"
    row.last_status, row.last_error = attempt.status, attempt.error
    if attempt.ok:
        row.status, row.delivered_at = "delivered", now
    elif row.attempts >= row.max_attempts:
        row.status = "failed"
    else:
        row.next_attempt_at = retry_at
    session.flush()
    return row.status


def backlog(session: Session) -> tuple[int, int]:
    """Return (events not fanned out + deliveries pending, deliveries failed)."""
    waiting = session.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
    )
    counts = dict(
        session.execute(
            select(EventDelivery.status, func.count()).group_by(EventDelivery.status)
        ).all()
    )
    return int(waiting or 0) + int(counts.get("pending", 0)), int(counts.get("failed", 0))


def prune(session: Session, *, before: datetime, dead_before: datetime) -> int:
    """Delete old deliveries (delivered, or dead letters), then events with nothing to send."""
    session.execute(
        delete(EventDelivery).where(
            EventDelivery.status == "delivered", EventDelivery.delivered_at < before
        )
    )
    session.execute(
        delete(EventDelivery).where(
            EventDelivery.status == "failed", EventDelivery.next_attempt_at < dead_before
        )
    )
    waiting = select(EventDelivery.event_seq)
    done = session.execute(
        delete(OutboxEvent).where(
            OutboxEvent.dispatched_at < before, OutboxEvent.seq.not_in(waiting)
        )
    )
    return int(getattr(done, "rowcount", 0) or 0)


def subscription_as_dict(row: WebhookSubscription) -> dict[str, Any]:
    """Return a subscription as API data (never its secret)."""
    return {
        "id": row.id,
        "url": row.url,
        "types": list(row.types),
        "description": row.description,
        "max_attempts": row.max_attempts,
        "created_by": row.created_by,
        "created_at": row.created_at,
    }


def delivery_as_dict(session: Session, row: EventDelivery) -> dict[str, Any]:
    """Return a delivery as API data, with its event's id and type."""
    event = session.get(OutboxEvent, row.event_seq)
    return {
        "id": row.id,
        "target": row.target,
        "event_id": event.id if event else None,
        "event_type": event.type if event else None,
        "subject": event.subject if event else None,
        "status": row.status,
        "attempts": row.attempts,
        "max_attempts": row.max_attempts,
        "next_attempt_at": row.next_attempt_at if row.status == "pending" else None,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "delivered_at": row.delivered_at,
    }
