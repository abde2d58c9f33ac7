"""A small time-to-live cache for the portal's costly aggregates (DORA, denied decisions).

Dashboards may be a few seconds behind: these figures change with deployments, not
with every request, and computing them walks the platform's whole history.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["TtlCache"]

T = TypeVar("T")


class TtlCache:
    """Values by key, recomputed when older than their time to live."""

    def __init__(self) -> None:
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T], *, ttl_s: float) -> T:
        """Return the cached value of ``key``, computing it when absent or stale."""
        now = time.monotonic()
        with self._lock:
            found = self._values.get(key)
        if found is not None and now - found[0] < ttl_s:
            value: T = found[1]
            return value
        value = compute()
        with self._lock:
            self._values[key] = (time.monotonic(), value)
        return value

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._values.clear()
