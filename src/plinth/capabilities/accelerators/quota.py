"""Quota accounting for queues in cohorts: nominal quota, borrowing and lending limits.

A team may use its nominal quota of a resource. Above it, it *borrows*: allowed while
its own borrowing stays within its borrowing limit and the cohort's total borrowing
stays within what the other members lend, i.e. the sum over members of
``min(lending limit, unused nominal)``. All figures are milli-devices.
"""

from __future__ import annotations

from collections.abc import Iterable

from plinth.capabilities.accelerators.model import MILLI, Queue
from plinth.core.errors import NotFound

__all__ = ["UNLIMITED", "QuotaBook"]

UNLIMITED = 1 << 62


def _milli(value: float | None) -> int:
    return UNLIMITED if value is None else round(value * MILLI)


class QuotaBook:
    """Usage per team and resource against the teams' queues; O(1) per check and change."""

    def __init__(self, queues: Iterable[Queue]) -> None:
        self.queues: dict[str, Queue] = {}
        self.used: dict[tuple[str, str], int] = {}
        self._nominal: dict[tuple[str, str], int] = {}
        self._borrow_limit: dict[tuple[str, str], int] = {}
        self._lend_limit: dict[tuple[str, str], int] = {}
        self._borrowed: dict[tuple[str, str], int] = {}  # (cohort, resource) -> sum borrowed
        self._lendable: dict[tuple[str, str], int] = {}  # (cohort, resource) -> sum lendable
        for queue in queues:
            self.queues[queue.team] = queue
            for resource, nominal in queue.nominal.items():
                key = (queue.team, resource)
                self._nominal[key] = _milli(nominal)
                self._borrow_limit[key] = _milli(queue.borrowing_limit.get(resource))
                self._lend_limit[key] = _milli(queue.lending_limit.get(resource))
                ck = (queue.cohort, resource)
                self._lendable[ck] = self._lendable.get(ck, 0) + self._lent(key, 0)

    def queue(self, team: str) -> Queue:
        """Return the team's queue or raise NotFound."""
        try:
            return self.queues[team]
        except KeyError:
            raise NotFound(f"team {team!r} has no queue") from None

    def nominal(self, team: str, resource: str) -> int:
        """Return the team's nominal quota of the resource (milli)."""
        return self._nominal.get((team, resource), 0)

    def usage(self, team: str, resource: str) -> int:
        """Return what the team uses of the resource now (milli)."""
        return self.used.get((team, resource), 0)

    def borrowed(self, team: str, resource: str) -> int:
        """Return how much of the resource the team uses above its nominal quota."""
        return max(0, self.usage(team, resource) - self.nominal(team, resource))

    def share(self, team: str) -> float:
        """Return the team's dominant share: max over resources of usage / nominal, / weight."""
        queue = self.queue(team)
        best = 0.0
        for resource in queue.nominal:
            used = self.used.get((team, resource), 0)
            best = max(best, used / max(self._nominal[(team, resource)], MILLI))
        return best / queue.weight

    def _lent(self, key: tuple[str, str], used: int) -> int:
        return min(self._lend_limit.get(key, 0), max(0, self._nominal.get(key, 0) - used))

    def admits(self, team: str, resource: str, milli: int, *, borrow: bool = True) -> bool:
        """Return True if the team may take ``milli`` more of the resource under quota."""
        key = (team, resource)
        used = self.used.get(key, 0)
        nominal = self._nominal.get(key, 0)
        after = used + milli
        if after <= nominal:
            return True
        if not borrow or team not in self.queues:
            return False
        extra = after - nominal
        if extra > self._borrow_limit.get(key, UNLIMITED):
            return False
        ck = (self.queues[team].cohort, resource)
        borrowed = self._borrowed.get(ck, 0) - max(0, used - nominal) + extra
        lendable = self._lendable.get(ck, 0) - self._lent(key, used)
        return borrowed <= lendable

    def take(self, team: str, resource: str, milli: int) -> None:
        """Record ``milli`` more usage (positive) or less (negative) for the team."""
        key = (team, resource)
        used = self.used.get(key, 0)
        cohort = self.queues[team].cohort if team in self.queues else ""
        ck = (cohort, resource)
        nominal = self._nominal.get(key, 0)
        self._borrowed[ck] = self._borrowed.get(ck, 0) - max(0, used - nominal)
        self._lendable[ck] = self._lendable.get(ck, 0) - self._lent(key, used)
        used += milli
        self.used[key] = used
        self._borrowed[ck] += max(0, used - nominal)
        self._lendable[ck] += self._lent(key, used)
