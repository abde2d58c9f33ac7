"""The outbox: each audit record also becomes a CloudEvent row, in the same transaction.

The audit log's ``append`` and ``append_many`` call ``stage`` with the records they
wrote, so a change and its event commit (or roll back) together: there is no dual
write. High-volume usage records (MCP tool calls, LLM requests) are metered, not
announced, and produce no event.

Event types are ``dev.plinth.`` + the audit action (``plan.created`` becomes
``dev.plinth.plan.created``), except ``plan.decision`` which is
``dev.plinth.decision.recorded``. The event's subject is the audit subject.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from plinth.core import tracing
from plinth.integration.events.models import OutboxEvent

__all__ = ["PREFIX", "Fact", "event_type", "is_announced", "set_source", "source", "stage"]

PREFIX = "dev.plinth."
_RENAMED = {"plan.decision": "decision.recorded"}
_QUIET = ("gateway.tool_call", "gateway.rejected", "llm.")
_TABLE = cast(Table, OutboxEvent.__table__)
_source = f"/plinth/{socket.gethostname() or 'localhost'}"


@dataclass(frozen=True)
class Fact:
    """One audit record, as the outbox needs it."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any]


def set_source(name: str) -> None:
    """Name this installation in every event's ``source`` (``/plinth/<name>``)."""
    global _source
    _source = f"/plinth/{name}"


def source() -> str:
    """Return the ``source`` of the events this installation writes."""
    return _source


def event_type(action: str) -> str:
    """Return the CloudEvents type of an audit action."""
    return PREFIX + _RENAMED.get(action, action)


def is_announced(action: str) -> bool:
    """True when records with ``action`` produce an event (usage records do not)."""
    return not action.startswith(_QUIET)


def stage(session: Session, facts: Sequence[Fact]) -> int:
    """Insert one event per announced fact inside the caller's transaction; return how many."""
    rows = [_row(f) for f in facts if is_announced(f.action)]
    if rows:
        session.execute(insert(_TABLE), rows)
    return len(rows)


def _row(fact: Fact) -> dict[str, Any]:
    attributes = {"plinth.action": fact.action, "plinth.subject": fact.subject}
    with tracing.span("plinth.record", attributes):
        traceparent = tracing.current_traceparent()
    return {
        "id": str(uuid.uuid4()),
        "type": event_type(fact.action),
        "source": _source,
        "subject": fact.subject,
        "time": fact.at,
        "data": {
            "actor": fact.actor,
            "action": fact.action,
            "audit_seq": fact.seq,
            "data": fact.data,
        },
        "traceparent": traceparent,
        "dispatched_at": None,
    }
