"""Per-agent limits of the gateway: a token-bucket rate limit and a daily budget.

Both are kept in memory for speed (one dictionary lookup per call). The daily budget
is also written to the store (``gateway_usage``) by the audit writer, and an agent's
count for today is read back the first time it calls after a restart, so a restart
does not reset it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

__all__ = ["DailyBudget", "RateLimiter", "Spend", "UsageDelta", "usage_job"]


class RateLimiter:
    """A token bucket per key: ``burst`` calls at once, refilled at ``rate`` per second."""

    def __init__(
        self, *, rate: float, burst: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is free."""
        now = self._monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else float("inf")


@dataclass
class Spend:
    """What one agent spent on one day."""

    calls: int = 0
    cost: Decimal = Decimal(0)


class DailyBudget:
    """Calls (and optional cost) per agent per UTC day."""

    def __init__(self, *, calls_per_day: int | None, cost_per_day: Decimal | None) -> None:
        self.calls_per_day = calls_per_day
        self.cost_per_day = cost_per_day
        self._spent: dict[tuple[str, date], Spend] = {}
        self._lock = threading.Lock()

    def known(self, agent: str, day: date) -> bool:
        """True when today's spend of ``agent`` is in memory."""
        return (agent, day) in self._spent

    def load(self, agent: str, day: date, spend: Spend) -> None:
        """Seed the in-memory spend from the store (first call after a start)."""
        with self._lock:
            self._spent.setdefault((agent, day), spend)
            for key in [k for k in self._spent if k[1] < day]:
                del self._spent[key]

    def charge(self, agent: str, day: date, cost: Decimal) -> str:
        """Count one call; return "" when inside the budget, else why it is refused."""
        with self._lock:
            spend = self._spent.setdefault((agent, day), Spend())
            if self.calls_per_day is not None and spend.calls >= self.calls_per_day:
                return f"the daily budget of {self.calls_per_day} tool calls is spent"
            if self.cost_per_day is not None and spend.cost + cost > self.cost_per_day:
                return f"the daily tool budget of {self.cost_per_day} would be exceeded"
            spend.calls += 1
            spend.cost += cost
            return ""

    def spent(self, agent: str, day: date) -> Spend:
        """Return a copy of what ``agent`` spent on ``day`` (as far as this process knows)."""
        with self._lock:
            spend = self._spent.get((agent, day), Spend())
            return Spend(spend.calls, spend.cost)


@dataclass(frozen=True)
class UsageDelta:
    """Calls (and their cost) to add to an agent's stored usage of one day."""

    agent: str
    day: date
    calls: int
    cost: Decimal


def usage_job(agent: str, day: date, cost: Decimal) -> UsageDelta:
    """Return an audit-writer job adding one call (and its cost) to the stored usage."""
    return UsageDelta(agent=agent, day=day, calls=1, cost=cost)
