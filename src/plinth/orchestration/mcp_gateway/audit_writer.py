"""One writer thread that appends the gateway's records to the audit chain, in order.

A tool call must not wait for a database commit, so the gateway hands each record to
this writer and moves on. The queue is bounded: when it is full, ``submit`` blocks the
caller (back-pressure) rather than drop anything. The writer takes every queued job in
one short transaction (one commit for many records): the records go on the chain with
one bulk append (one head update, one multi-row INSERT) and the usage counters are
summed per agent and day. When calls come one at a time it lingers a few milliseconds
after the first job so that a transaction still carries several. A failed transaction is retried
with back-off, the same jobs in the same order, until it succeeds; only while closing
does it give up, after about ten seconds of failures, logging how many records it could
not write. ``close()`` drains the queue before it returns, so a clean shutdown with a
working store loses nothing. The window that remains is a process killed outright
(SIGKILL, power loss): records still in the queue (at most ``max_pending``, normally a
few milliseconds' worth) are not on the chain. ``flush()`` waits until everything
submitted so far is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.core.batch_writer import BatchWriter
from plinth.infrastructure.store.db import Database
from plinth.orchestration.mcp_gateway.limits import UsageDelta
from plinth.orchestration.mcp_gateway.models import GatewayUsage

__all__ = ["AuditWriter", "Job", "record_job"]

# An audit record, a usage count, or any other work to do in the writer's transaction.
Job = audit.Entry | UsageDelta | Callable[[Session], None]


def record_job(*, at: datetime, actor: str, action: str, subject: str, data: dict[str, Any]) -> Job:
    """Return a job appending one audit record stamped with ``at``."""
    return audit.Entry(at=at, actor=actor, action=action, subject=subject, data=data)


def _apply(session: Session, jobs: list[Job]) -> None:
    """Apply ``jobs`` in one transaction: records in order, usage summed per agent and day."""
    entries: list[audit.Entry] = []
    usage: dict[tuple[str, date], tuple[int, Decimal]] = {}
    for job in jobs:
        if isinstance(job, audit.Entry):
            entries.append(job)
        elif isinstance(job, UsageDelta):
            calls, cost = usage.get((job.agent, job.day), (0, Decimal(0)))
            usage[(job.agent, job.day)] = (calls + job.calls, cost + job.cost)
        else:  # keep the order of anything else relative to the records
            audit.append_many(session, entries)
            entries = []
            job(session)
    audit.append_many(session, entries)
    for (agent, day), (calls, cost) in usage.items():
        _add_usage(session, agent, day, calls, cost)


def _add_usage(session: Session, agent: str, day: date, calls: int, cost: Decimal) -> None:
    conn = session.connection()
    added = conn.execute(_ADD_USAGE, {"k_agent": agent, "k_day": day, "n": calls, "c": cost})
    if getattr(added, "rowcount", 0) == 0:
        conn.execute(_NEW_USAGE, {"agent": agent, "day": day, "calls": calls, "cost": cost})


_USAGE = cast(Table, GatewayUsage.__table__)
_ADD_USAGE = (
    update(_USAGE)
    .where((_USAGE.c.agent == bindparam("k_agent")) & (_USAGE.c.day == bindparam("k_day")))
    .values(calls=_USAGE.c.calls + bindparam("n"), cost=_USAGE.c.cost + bindparam("c"))
)
_NEW_USAGE = insert(_USAGE)


class AuditWriter(BatchWriter[Job]):
    """Applies jobs (audit appends, usage counters) in submission order on one thread."""

    thread_name = "plinth-gateway-audit"
    label = "the gateway's audit writer"

    def __init__(
        self,
        db: Database,
        *,
        max_pending: int = 10000,
        max_batch: int = 500,
        linger_s: float = 0.05,
    ) -> None:
        super().__init__(max_pending=max_pending, max_batch=max_batch, linger_s=linger_s)
        self.db = db

    def write_batch(self, items: list[Job]) -> None:
        """Apply ``items`` in one transaction."""
        with self.db.transaction() as session:
            _apply(session, items)

    def write_inline(self, item: Job) -> None:
        """Apply one job now, once: a failure reaches the caller."""
        self.write_batch([item])
