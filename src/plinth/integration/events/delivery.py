"""Sending one event over HTTP: CloudEvents messages, the POST, and the retry delay.

Webhooks get structured mode (the whole event as ``application/cloudevents+json``,
signed); a broker gets binary mode (``ce-*`` headers, the data as the body), which is
what a Knative broker's ingress takes. Any 2xx is success; anything else, a timeout
or a network error is a failure the dispatcher retries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from cloudevents.core.bindings.http import HTTPMessage, to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

__all__ = ["Attempt", "EventData", "backoff", "binary", "cloud_event", "post", "structured"]

_RNG = random.Random()


@dataclass(frozen=True)
class EventData:
    """An outbox event's attributes and data, read out of its transaction."""

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: dict[str, Any]
    traceparent: str | None


@dataclass(frozen=True)
class Attempt:
    """What one POST gave: success, the status code (if any) and the error text."""

    ok: bool
    status: int | None
    error: str | None


def cloud_event(event: EventData) -> CloudEvent:
    """Return the CloudEvent (v1.0) of an outbox event, with ``traceparent`` when traced."""
    attributes: dict[str, Any] = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": event.time,
        "datacontenttype": "application/json",
    }
    if event.traceparent:
        attributes["traceparent"] = event.traceparent
    return CloudEvent(attributes=attributes, data=event.data)


def structured(event: EventData) -> HTTPMessage:
    """Return the event in structured mode (``application/cloudevents+json``)."""
    return to_structured_event(cloud_event(event))


def binary(event: EventData) -> HTTPMessage:
    """Return the event in binary mode (``ce-*`` headers, JSON data as the body)."""
    return to_binary_event(cloud_event(event))


def post(client: httpx.Client, url: str, *, headers: dict[str, str], body: bytes) -> Attempt:
    """POST one message; never raise for HTTP or network failures."""
    try:
        response = client.post(url, headers=headers, content=body)
    except httpx.TimeoutException:
        return Attempt(False, None, f"timed out after {client.timeout.read}s")
    except httpx.HTTPError as exc:
        return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:500])
    if response.is_success:
        return Attempt(True, response.status_code, None)
    reason = response.text.strip()[:200]
    return Attempt(False, response.status_code, f"HTTP {response.status_code} {reason}".strip())


def backoff(
    attempt: int, *, base: float = 2.0, cap: float = 900.0, rng: random.Random | None = None
) -> float:
    """Return seconds to wait after failed ``attempt`` (1-based): doubling, capped, jittered."""
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + (rng or _RNG).uniform(0, ceiling / 2)
