"""The gate tests stop the shared policy workers they started."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plinth.capabilities.policy import shared_pool


@pytest.fixture(autouse=True, scope="module")
def _stop_policy_workers() -> Iterator[None]:
    yield
    shared_pool().close()
