"""Background work: a keyed, delayed work queue that runs the reconciler.

One key per resource: enqueuing a key already queued keeps the earlier due
time, so periodic sweeps collapse into one job per resource; a key is never
worked on by two threads at once.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from plinth.orchestration.reconciler import Result

__all__ = ["WorkQueue"]

log = logging.getLogger(__name__)


class WorkQueue:
    """Runs ``handler(key)`` on worker threads; ``sweep()`` lists keys to visit periodically."""

    def __init__(
        self,
        *,
        handler: Callable[[str], Result],
        sweep: Callable[[], list[str]],
        on_outputs_changed: Callable[[str], list[str]],
        interval: float,
        workers: int = 2,
    ) -> None:
        self._handler, self._sweep, self._dependents = handler, sweep, on_outputs_changed
        self._interval, self._workers = interval, workers
        self._heap: list[tuple[float, int, str]] = []
        self._due: dict[str, float] = {}
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the worker threads and the periodic sweep."""
        self._stop.clear()
        for n in range(self._workers):
            t = threading.Thread(target=self._work, name=f"plinth-reconcile-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._sweep_loop, name="plinth-sweep", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Stop every thread (work in progress finishes first)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=30)
        self._threads.clear()

    def enqueue(self, key: str, delay: float = 0.0) -> None:
        """Schedule ``key``; an earlier schedule of the same key wins."""
        due = time.monotonic() + delay
        with self._cond:
            if key in self._running:
                self._again.add(key)
                return
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
            heapq.heappush(self._heap, (due, next(self._counter), key))
            self._cond.notify()

    def idle(self) -> bool:
        """True when nothing is queued for now and nothing runs."""
        with self._cond:
            now = time.monotonic()
            return not self._running and not any(d <= now for d in self._due.values())

    def _next(self) -> str | None:
        with self._cond:
            while not self._stop.is_set():
                now = time.monotonic()
                while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                    heapq.heappop(self._heap)
                if self._heap and self._heap[0][0] <= now:
                    _, _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    self._running.add(key)
                    return key
                timeout = self._heap[0][0] - now if self._heap else 1.0
                self._cond.wait(timeout=min(timeout, 1.0))
        return None

    def _work(self) -> None:
        while (key := self._next()) is not None:
            result = Result(self._interval)
            try:
                result = self._handler(key)
            except Exception:
                log.exception("reconciling %s crashed", key)
            finally:
                with self._cond:
                    self._running.discard(key)
                    again = key in self._again
                    self._again.discard(key)
            if again:
                self.enqueue(key)
            elif result.requeue_after is not None:
                self.enqueue(key, result.requeue_after)
            if result.outputs_changed:
                for dependent in self._safe(partial(self._dependents, key)):
                    self.enqueue(dependent)

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            for key in self._safe(self._sweep):
                self.enqueue(key)
            self._stop.wait(self._interval)

    @staticmethod
    def _safe(fn: Callable[[], list[str]]) -> list[str]:
        try:
            return fn()
        except Exception:
            log.exception("listing work failed")
            return []
