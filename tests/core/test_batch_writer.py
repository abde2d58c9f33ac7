"""The batched writer thread: order, batches, flush, drain on close, retries, inline writes."""

from __future__ import annotations

import threading

import pytest

from plinth.core.batch_writer import BatchWriter


class Recorder(BatchWriter[int]):
    """Keeps every committed batch; fails the first ``failures`` attempts."""

    thread_name = "test-writer"

    def __init__(self, *, sleep_linger: bool, failures: int = 0, max_batch: int = 500) -> None:
        super().__init__(max_pending=1000, max_batch=max_batch, linger_s=0.01)
        self.sleep_linger = sleep_linger
        self.batches: list[list[int]] = []
        self.committed_batches: list[list[int]] = []
        self.failures = failures
        self.threads: set[str] = set()

    def write_batch(self, items: list[int]) -> None:
        """Record ``items`` unless a failure is still due."""
        self.threads.add(threading.current_thread().name)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("store down")
        self.batches.append(list(items))

    def committed(self, items: list[int]) -> None:
        """Remember what was committed."""
        self.committed_batches.append(list(items))


@pytest.mark.parametrize("sleep_linger", [False, True])
def test_items_are_committed_in_order_in_batches(sleep_linger: bool) -> None:
    writer = Recorder(sleep_linger=sleep_linger, max_batch=7)
    writer.start()
    try:
        for i in range(100):
            writer.submit(i)
        writer.flush()
        assert [i for batch in writer.batches for i in batch] == list(range(100))
        assert all(1 <= len(batch) <= 7 for batch in writer.batches)
        assert writer.committed_batches == writer.batches
        assert writer.threads == {"test-writer"}
    finally:
        writer.close()


def test_close_drains_the_queue_and_start_again_works() -> None:
    writer = Recorder(sleep_linger=False)
    writer.start()
    writer.start()  # idempotent
    for i in range(50):
        writer.submit(i)
    writer.close()
    assert [i for batch in writer.batches for i in batch] == list(range(50))
    writer.start()
    writer.submit(50)
    writer.close()
    assert writer.batches[-1] == [50]


def test_a_failed_batch_is_retried_with_the_same_items() -> None:
    writer = Recorder(sleep_linger=True, failures=2)
    writer.start()
    try:
        writer.submit(1)
        writer.flush()
        assert writer.batches == [[1]]
        assert writer.committed_batches == [[1]]
    finally:
        writer.close()


def test_without_a_thread_submit_writes_at_once_on_the_caller() -> None:
    writer = Recorder(sleep_linger=False)
    writer.submit(7)
    writer.flush()  # nothing to wait for
    writer.close()  # nothing to stop
    assert writer.batches == [[7]]
    assert writer.threads == {threading.current_thread().name}
