"""WorkQueue: keyed, delayed, never concurrent per key; asserted on behaviour, not timings."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from plinth.orchestration.reconciler import Result
from plinth.orchestration.workers import WorkQueue
from tests.support import wait_until


class Recorder:
    """A handler that records calls and answers from a per-key script."""

    def __init__(self, script: Callable[[str, int], Result] | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.order: list[str] = []
        self.script = script or (lambda key, n: Result(None))
        self.lock = threading.Lock()

    def __call__(self, key: str) -> Result:
        with self.lock:
            self.calls[key] += 1
            self.order.append(key)
            n = self.calls[key]
        return self.script(key, n)


def make_queue(
    handler: Callable[[str], Result],
    *,
    sweep: Callable[[], list[str]] | None = None,
    dependents: Callable[[str], list[str]] | None = None,
    interval: float = 0.05,
    workers: int = 3,
) -> WorkQueue:
    """Return a queue around ``handler``."""
    return WorkQueue(
        handler=handler,
        sweep=sweep or (lambda: []),
        on_outputs_changed=dependents or (lambda key: []),
        interval=interval,
        workers=workers,
    )


@pytest.fixture
def started() -> Iterator[list[WorkQueue]]:
    """Queues a test starts; every one is stopped afterwards."""
    queues: list[WorkQueue] = []
    yield queues
    for queue in queues:
        queue.stop()


def run(queue: WorkQueue, started: list[WorkQueue]) -> WorkQueue:
    """Start ``queue`` and remember to stop it."""
    started.append(queue)
    queue.start()
    return queue


def test_duplicate_keys_collapse_into_one_run(started: list[WorkQueue]) -> None:
    handler = Recorder()
    queue = make_queue(handler)
    for _ in range(5):
        queue.enqueue("a")
        queue.enqueue("b", delay=0.01)
    queue.enqueue("a", delay=30)  # a later schedule never pushes an earlier one back
    run(queue, started)
    wait_until(lambda: handler.calls["a"] and handler.calls["b"], timeout=10, interval=0.01)
    wait_until(queue.idle, timeout=10, interval=0.01)
    time.sleep(0.1)
    assert handler.calls == Counter({"a": 1, "b": 1})


def test_an_earlier_schedule_replaces_a_later_one(started: list[WorkQueue]) -> None:
    handler = Recorder()
    queue = run(make_queue(handler), started)
    queue.enqueue("a", delay=60)
    queue.enqueue("a")
    wait_until(lambda: handler.calls["a"] == 1, timeout=10, interval=0.01)


def test_a_key_is_never_worked_on_concurrently(started: list[WorkQueue]) -> None:
    active: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    lock = threading.Lock()
    done = Counter[str]()

    def handler(key: str) -> Result:
        with lock:
            active[key] += 1
            peak[key] = max(peak[key], active[key])
        time.sleep(0.01)
        with lock:
            active[key] -= 1
            done[key] += 1
        return Result(None)

    queue = run(make_queue(handler, workers=4), started)

    def hammer() -> None:
        for _ in range(30):
            queue.enqueue("hot")
            queue.enqueue("cold")
            time.sleep(0.001)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(queue.idle, timeout=10, interval=0.01)
    assert peak["hot"] == 1 and peak["cold"] == 1
    assert done["hot"] >= 2  # enqueued while running: it runs again afterwards
    assert done["hot"] < 4 * 30  # but repeated requests collapsed


def test_enqueue_while_running_runs_once_more(started: list[WorkQueue]) -> None:
    release = threading.Event()
    entered = threading.Event()
    calls: list[str] = []

    def handler(key: str) -> Result:
        calls.append(key)
        if len(calls) == 1:
            entered.set()
            release.wait(10)
        return Result(None)

    queue = run(make_queue(handler), started)
    queue.enqueue("k")
    assert entered.wait(10)
    queue.enqueue("k")
    queue.enqueue("k")
    release.set()
    wait_until(lambda: len(calls) == 2, timeout=10, interval=0.01)
    wait_until(queue.idle, timeout=10, interval=0.01)
    time.sleep(0.1)
    assert calls == ["k", "k"]


def test_requeue_after_is_honoured(started: list[WorkQueue]) -> None:
    handler = Recorder(lambda key, n: Result(0.01 if n < 4 else None))
    queue = run(make_queue(handler), started)
    queue.enqueue("job")
    wait_until(lambda: handler.calls["job"] == 4, timeout=10, interval=0.01)
    wait_until(queue.idle, timeout=10, interval=0.01)
    time.sleep(0.1)
    assert handler.calls["job"] == 4


def test_a_long_requeue_delay_is_not_run_early(started: list[WorkQueue]) -> None:
    handler = Recorder(lambda key, n: Result(60.0))
    queue = run(make_queue(handler), started)
    queue.enqueue("slow")
    wait_until(lambda: handler.calls["slow"] == 1, timeout=10, interval=0.01)
    time.sleep(0.2)
    assert handler.calls["slow"] == 1
    assert queue.idle()  # nothing is due now


def test_changed_outputs_wake_dependents(started: list[WorkQueue]) -> None:
    handler = Recorder(lambda key, n: Result(None, outputs_changed=key == "db"))
    queue = run(make_queue(handler, dependents=lambda key: ["web", "worker"]), started)
    queue.enqueue("db")
    wait_until(lambda: handler.calls["web"] and handler.calls["worker"], timeout=10, interval=0.01)
    assert handler.order[0] == "db"


def test_a_crashing_handler_is_retried_and_does_not_kill_the_worker(
    started: list[WorkQueue],
) -> None:
    def script(key: str, n: int) -> Result:
        if key == "bad" and n == 1:
            raise RuntimeError("boom")
        return Result(None)

    handler = Recorder(script)
    queue = run(make_queue(handler, workers=1), started)
    queue.enqueue("bad")
    wait_until(lambda: handler.calls["bad"] == 2, timeout=10, interval=0.01)
    queue.enqueue("good")
    wait_until(lambda: handler.calls["good"] == 1, timeout=10, interval=0.01)


def test_sweep_visits_every_listed_key_periodically(started: list[WorkQueue]) -> None:
    handler = Recorder()
    failing = {"first": True}

    def sweep() -> list[str]:
        if failing["first"]:
            failing["first"] = False
            raise RuntimeError("store unavailable")
        return ["r1", "r2"]

    run(make_queue(handler, sweep=sweep, interval=0.02), started)
    wait_until(lambda: handler.calls["r1"] >= 2 and handler.calls["r2"] >= 2, timeout=10)


def test_stop_finishes_work_and_ends_every_thread() -> None:
    handler = Recorder()
    queue = make_queue(handler, workers=2)
    queue.start()
    queue.enqueue("a")
    wait_until(lambda: handler.calls["a"] == 1, timeout=10, interval=0.01)
    queue.stop()
    alive = [t.name for t in threading.enumerate() if t.name.startswith("plinth-")]
    assert alive == []
    queue.enqueue("b")
    time.sleep(0.1)
    assert handler.calls["b"] == 0
