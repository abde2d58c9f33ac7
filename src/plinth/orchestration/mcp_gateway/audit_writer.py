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

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.infrastructure.store.db import Database
from plinth.orchestration.mcp_gateway.limits import UsageDelta
from plinth.orchestration.mcp_gateway.models import GatewayUsage

__all__ = ["AuditWriter", "Job", "record_job"]

log = logging.getLogger(__name__)

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


class AuditWriter:
    """Applies jobs (audit appends, usage counters) in submission order on one thread."""

    def __init__(
        self,
        db: Database,
        *,
        max_pending: int = 10000,
        max_batch: int = 500,
        linger_s: float = 0.05,
    ) -> None:
        self.db = db
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closing = False
        self._taken = 0

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._closing = False
                self._thread = threading.Thread(
                    target=self._run, name="plinth-gateway-audit", daemon=True
                )
                self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue a job; blocks while the queue is full. Without a thread, runs it now."""
        if self._thread is None or not self._thread.is_alive():
            with self.db.transaction() as session:
                _apply(session, [job])
            return
        self._queue.put(job)

    def flush(self) -> None:
        """Wait until every job submitted so far is committed."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.join()

    def close(self) -> None:
        """Drain the queue, commit everything and stop the thread."""
        with self._lock:
            thread, self._closing = self._thread, True
        if thread is None:
            return
        self._queue.put(None)
        thread.join()
        with self._lock:
            self._thread = None

    def _take(self) -> tuple[list[Job], bool]:
        first = self._queue.get()
        jobs: list[Job] = [] if first is None else [first]
        stop = first is None
        taken = 1
        deadline = time.monotonic() + self.linger_s
        while len(jobs) < self.max_batch and not stop:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            taken += 1
            if job is None:
                stop = True
            else:
                jobs.append(job)
        self._taken = taken
        return jobs, stop

    def _run(self) -> None:
        while True:
            jobs, stop = self._take()
            self._commit(jobs)
            for _ in range(self._taken):
                self._queue.task_done()
            if stop:
                return

    def _commit(self, jobs: list[Job]) -> None:
        delay = 0.05
        while jobs:
            try:
                with self.db.transaction() as session:
                    _apply(session, jobs)
                return
            except Exception:
                log.exception("the gateway could not write %d audit records; retrying", len(jobs))
                if self._closing and delay > 5.0:
                    log.error("giving up on %d audit records at shutdown", len(jobs))
                    return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
