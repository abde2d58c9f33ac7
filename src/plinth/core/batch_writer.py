"""One writer thread that commits queued items in order, many items a commit.

A hot path hands each item to :meth:`BatchWriter.submit` and moves on. The queue is
bounded: when it is full, ``submit`` blocks the caller (back-pressure) rather than drop
anything. The thread takes the first queued item, lingers ``linger_s`` so that more can
arrive, and commits everything taken (at most ``max_batch``) in one call of
:meth:`BatchWriter.write_batch`. A failed batch is retried with back-off, the same items in
the same order, until it succeeds; only while closing does it give up, after about ten
seconds of failures. ``close()`` drains the queue before it returns; ``flush()`` waits
until everything submitted so far is committed. Without a running thread, ``submit``
writes the item at once, on the caller's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

__all__ = ["BatchWriter"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class BatchWriter(ABC, Generic[T]):
    """Commits submitted items in submission order, in batches, on one thread.

    A subclass names its thread (``thread_name``) and what its log lines speak of
    (``label``). With ``sleep_linger`` the thread sleeps the whole linger, then takes what
    is queued (one wake-up); otherwise it takes items as they come until the linger ends
    or the batch is full.
    """

    thread_name = "plinth-writer"
    label = "the batch writer"
    sleep_linger = False

    def __init__(self, *, max_pending: int, max_batch: int, linger_s: float) -> None:
        """Set up a writer queueing at most ``max_pending`` items, ``max_batch`` a commit."""
        self.max_batch, self.linger_s = max_batch, linger_s
        self._queue: queue.Queue[T | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closing = False

    @abstractmethod
    def write_batch(self, items: list[T]) -> None:
        """Commit ``items`` in one transaction, or raise and commit none of them."""

    def committed(self, items: list[T]) -> None:
        """Called on the writer's thread after ``items`` were committed."""

    def write_inline(self, item: T) -> None:
        """Write ``item`` on the caller's thread (no thread running): retried like a batch."""
        self._commit([item])

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._closing = False
                thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread = thread
                thread.start()

    def submit(self, item: T) -> None:
        """Queue an item; blocks while the queue is full. Without a thread, writes it now."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            self.write_inline(item)
            return
        self._queue.put(item)

    def flush(self) -> None:
        """Wait until every item submitted so far is committed."""
        thread = self._thread
        if thread is not None and thread.is_alive():
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

    def _take(self) -> tuple[list[T], int, bool]:
        """Return the next batch, how many queue entries it used, and whether to stop."""
        first = self._queue.get()
        items: list[T] = [] if first is None else [first]
        taken, stop = 1, first is None
        if stop:
            return items, taken, stop
        deadline = time.monotonic() + self.linger_s
        if self.sleep_linger:
            time.sleep(self.linger_s)  # let more arrive: one wake-up and one commit for all
        while len(items) < self.max_batch and not stop:
            try:
                if self.sleep_linger:
                    item = self._queue.get_nowait()
                else:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            taken += 1
            if item is None:
                stop = True
            else:
                items.append(item)
        return items, taken, stop

    def _run(self) -> None:
        while True:
            items, taken, stop = self._take()
            self._commit(items)
            for _ in range(taken):
                self._queue.task_done()
            if stop:
                return

    def _commit(self, items: list[T]) -> None:
        delay = 0.05
        while items:
            try:
                self.write_batch(items)
            except Exception:
                log.exception("%s could not write %d records; retrying", self.label, len(items))
                if self._closing and delay > 5.0:
                    log.error("%s gave up on %d records at shutdown", self.label, len(items))
                    return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.committed(items)
            return
