"""The ledger writer: usage batches written in arrival order, several per transaction.

Request threads price their batches concurrently, then hand the rows to one
writer thread and wait until they are committed: a caller is answered only
once its rows are durable. The writer takes every batch that is waiting into
one transaction (group commit), so concurrent senders share commits instead of
queueing for the store's write lock one by one, and a small batch never waits
behind more than the group in progress. If a group fails, each of its batches
is written alone, so one bad batch cannot fail the others.

The thread starts on the first write and ends after ``idle_s`` without work.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from plinth.capabilities.finops import metering
from plinth.infrastructure.store.db import Database

__all__ = ["LedgerWriter"]

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    rows: list[dict[str, Any]]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class LedgerWriter:
    """Writes ledger rows for many callers, in order, committing waiting batches together."""

    def __init__(self, db: Database, *, max_rows: int = 100_000, idle_s: float = 5.0) -> None:
        self.db, self.max_rows, self.idle_s = db, max_rows, idle_s
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def write(self, rows: list[dict[str, Any]]) -> int:
        """Write ``rows`` and return how many, once they are committed (or raise why not)."""
        if not rows:
            return 0
        pending = _Pending(rows)
        with self._lock:
            self._queue.put(pending)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="plinth-ledger-writer", daemon=True
                )
                self._thread.start()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return len(rows)

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle_s)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            group, count = [first], len(first.rows)
            while count < self.max_rows:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                group.append(more)
                count += len(more.rows)
            self._commit(group)

    def _commit(self, group: list[_Pending]) -> None:
        try:
            with self.db.transaction() as session:
                metering.record(session, [row for p in group for row in p.rows])
        except Exception:
            if len(group) == 1:
                self._alone(group[0])
                return
            log.warning("a group of %d usage batches failed; writing each alone", len(group))
            for pending in group:
                self._alone(pending)
            return
        for pending in group:
            pending.done.set()

    def _alone(self, pending: _Pending) -> None:
        try:
            with self.db.transaction() as session:
                metering.record(session, pending.rows)
        except BaseException as exc:
            pending.error = exc
        pending.done.set()
