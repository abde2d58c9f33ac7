"""Baseline policies behind the same interface as Plinth's scheduler, for comparison.

- ``FifoPolicy``: one global queue in submit order; the head blocks everyone behind it.
- ``StaticPartitionPolicy``: each team may use only its nominal quota (no borrowing);
  FIFO within the team, skipping requests that do not fit. A request larger than its
  team's whole quota can never run and is refused at submit.
- ``KueueLikePolicy``: quota with borrowing in a cohort, like Kueue's ClusterQueue with
  ``BestEffortFIFO``: heads that need no borrowing first, then by priority and submit
  time; no fair-share ordering; preemption only reclaims borrowed capacity.
- ``DrfPolicy``: no quotas; teams ordered by dominant share (usage / cluster capacity,
  over weight); FIFO within the team, skipping requests that do not fit.
"""

from __future__ import annotations

from plinth.capabilities.accelerators.engine import Decision, QueueingEngine
from plinth.capabilities.accelerators.model import Request, quota_key
from plinth.capabilities.accelerators.preemption import reclaim
from plinth.core.errors import InvalidInput

__all__ = ["DrfPolicy", "FifoPolicy", "KueueLikePolicy", "StaticPartitionPolicy"]


def _always(_: Request) -> bool:
    return True


class FifoPolicy(QueueingEngine):
    """Strict global FIFO: head-of-line blocking, no quotas, no preemption."""

    name = "fifo"

    def schedule(self, now: float) -> list[Decision]:
        """Admit in submit order until the first request that does not fit."""
        return self.greedy(now, lambda r: (r.submit_s, 0.0), admissible=_always, strict=True)


class StaticPartitionPolicy(QueueingEngine):
    """Each team gets exactly its nominal quota; nothing is lent."""

    name = "static"

    def validate(self, request: Request) -> None:
        """Refuse requests that exceed the team's whole partition."""
        super().validate(request)
        if request.milli > self.quota.nominal(request.team, quota_key(request)):
            raise InvalidInput(
                f"request {request.id!r}: {request.count:g} {request.accelerator} exceeds "
                f"team {request.team!r}'s partition"
            )

    def schedule(self, now: float) -> list[Decision]:
        """Admit in submit order, skipping requests beyond their team's partition."""

        def fits(r: Request) -> bool:
            return self.quota.admits(r.team, quota_key(r), r.milli, borrow=False)

        return self.greedy(now, lambda r: (r.submit_s, 0.0), admissible=fits)


class KueueLikePolicy(QueueingEngine):
    """Quota + cohort borrowing, best-effort FIFO, reclaim of borrowed capacity only."""

    name = "kueue-like"

    def _borrows(self, r: Request) -> bool:
        return not self.quota.admits(r.team, quota_key(r), r.milli, borrow=False)

    def schedule(self, now: float) -> list[Decision]:
        """Reclaim for blocked in-quota heads, then admit non-borrowing heads first."""

        def fits(r: Request) -> bool:
            return self.quota.admits(r.team, quota_key(r), r.milli)

        def key(r: Request) -> tuple[float, ...]:
            return (float(self._borrows(r)), -r.priority, r.submit_s)

        out = self.greedy(now, key, admissible=fits)
        for request in sorted(self.heads(), key=key):
            if not self._borrows(request):
                out.extend(reclaim(self, request, now))
        out += self.greedy(now, key, admissible=fits)
        self.drop_stale_reservations()
        return out


class DrfPolicy(QueueingEngine):
    """Dominant resource fairness between teams, without quotas or preemption."""

    name = "drf"

    def schedule(self, now: float) -> list[Decision]:
        """Admit the head of the team with the lowest weighted dominant share first."""
        capacity = self.cluster.capacity

        def share(r: Request) -> tuple[float, ...]:
            queue = self.quota.queue(r.team)
            dominant = max(
                (self.quota.usage(r.team, t) / c for t, c in capacity.items() if c), default=0.0
            )
            return (dominant / queue.weight, r.submit_s)

        return self.greedy(now, share, admissible=_always)
