"""Fixtures of the policy tests: a worker pool of their own, stopped after each module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plinth.capabilities.policy import WorkerPool


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    """Policy workers for one test module (every process stopped at the end)."""
    workers = WorkerPool(size=1)
    yield workers
    workers.close()
