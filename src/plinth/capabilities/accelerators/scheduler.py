"""Plinth's accelerator scheduler: the one the platform and the simulator both run.

One pass, after every change (a submission, an end, a stop):

1. **Admit** pending requests, best effort (a request that does not fit is skipped, so
   it never blocks smaller ones behind it), in this order: requests that stay within
   their team's nominal quota before those that would borrow; higher priority first;
   then the team with the lowest weighted dominant share (usage / nominal, over weight:
   weighted fair sharing between teams); then, with time slicing on, the request that
   has run least so far (least attained service); then submit time. Placement is best
   fit, which packs small jobs onto busy nodes and keeps whole nodes free for gangs.
2. **Reclaim**: a request that fits its team's nominal quota but not the free capacity
   preempts work that other teams borrowed (lowest priority, most recently started
   first), on the nodes where that makes it fit; victims get the checkpoint grace.
   The nodes are held for the request until the victims have stopped.
3. **Time slicing** (optional, off by default): within a team, a request that has run
   less may preempt the team's own job that has run more than it, by a whole service
   level (levels are device-hours of attained service), and has run at least
   ``min_run_s`` since it last started. This approximates shortest-remaining-first
   without knowing durations, using only what the platform observed.

Durations are never used; ``estimate_s`` is read only by ``explain`` to predict a start.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from plinth.capabilities.accelerators.engine import Decision, QueueingEngine, Running
from plinth.capabilities.accelerators.model import Pool, Queue, Request, quota_key
from plinth.capabilities.accelerators.preemption import Reclaim, plan_reclaim, plan_victims, reclaim
from plinth.capabilities.accelerators.quota import UNLIMITED

__all__ = ["Explanation", "PlinthScheduler"]

HOUR = 3600.0


@dataclass(frozen=True)
class Explanation:
    """What the capacity gate tells a user about a request before it is submitted."""

    can_run_now: bool
    borrowing: bool
    expected_start_s: float | None
    preempts: tuple[str, ...]
    reason: str


class PlinthScheduler(QueueingEngine):
    """Quota + cohort borrowing, weighted fair share, reclaim with grace, time slicing."""

    name = "plinth"

    def __init__(
        self,
        pools: Iterable[Pool],
        queues: Iterable[Queue],
        *,
        grace_s: float = 300.0,
        time_slicing: bool = False,
        levels_h: tuple[float, ...] = (4.0, 64.0),
        min_run_s: float = 1800.0,
    ) -> None:
        super().__init__(pools, queues, grace_s=grace_s)
        self.time_slicing = time_slicing
        self.levels = tuple(h * HOUR for h in levels_h)
        self.min_run_s = min_run_s
        self._sliceable: dict[str, list[tuple[int, Running]]] = {}
        self._now = 0.0

    def level(self, request: Request, now: float) -> int:
        """Return the request's service level: 0 until it has run ``levels_h[0]`` device-hours."""
        if not self.time_slicing:
            return 0
        return bisect.bisect_right(self.levels, self.service(request, now))

    def borrows(self, request: Request) -> bool:
        """Return True when admitting the request would take its team above nominal quota."""
        return not self.quota.admits(request.team, quota_key(request), request.milli, borrow=False)

    def _key(self, request: Request) -> tuple[float, ...]:
        return (
            float(self.borrows(request)),
            -request.priority,
            self.quota.share(request.team),
            self.level(request, self._now),
            request.submit_s,
        )

    def _fits(self, request: Request) -> bool:
        return self.quota.admits(request.team, quota_key(request), request.milli)

    def schedule(self, now: float) -> list[Decision]:
        """Admit in fair-share order, reclaim borrowed capacity, slice long jobs; return all."""
        self._now = now
        out = self.greedy(now, self._key, admissible=self._fits)
        self._sliceable = self._collect_sliceable(now)
        sliced: set[str] = set()
        for request in sorted(self.heads(), key=self._key):
            if not self.borrows(request):
                out.extend(reclaim(self, request, now))
            if self._sliceable and request.id not in self.awaiting and request.team not in sliced:
                sliced.add(request.team)  # one slicing attempt per team and pass
                out.extend(reclaim(self, request, now, self._plan_slice))
        out += self.greedy(now, self._key, admissible=self._fits)
        self.drop_stale_reservations()
        return out

    def _collect_sliceable(self, now: float) -> dict[str, list[tuple[int, Running]]]:
        found: dict[str, list[tuple[int, Running]]] = {}
        if not self.time_slicing:
            return found
        for run in self.running.values():
            if run.stopping is None and now - run.start >= self.min_run_s:
                level = self.level(run.request, now)
                if level:
                    found.setdefault(run.request.team, []).append((level, run))
        return found

    def _plan_slice(self, engine: QueueingEngine, request: Request) -> Reclaim | None:
        now, mine = self._now, self.level(request, self._now)
        runs = [run for level, run in self._sliceable.get(request.team, ()) if level > mine]
        if not runs:
            return None
        ids = {run.request.id for run in runs}
        return plan_victims(
            self,
            request,
            budget={request.team: UNLIMITED},
            eligible=lambda r: r.request.id in ids,
            order=lambda r: (-self.service(r.request, now), r.request.id),
            nodes={i for run in runs for i in run.nodes},
        )

    def explain(
        self, request: Request, *, now: float, default_runtime_s: float = HOUR
    ) -> Explanation:
        """Say whether the request can run now, when it would start, and what it would preempt.

        Raises the same errors as ``submit`` for a bad request; changes nothing. The start
        is predicted from running jobs' expected ends (their ``estimate_s``, else
        ``default_runtime_s`` after their start), ignoring requests queued ahead.
        """
        self.validate(request)
        borrowing = self.borrows(request)
        if not self._fits(request):
            return Explanation(
                False,
                borrowing,
                None,
                (),
                "over quota: the team's quota and what the cohort can lend are in use",
            )
        if self.place(request) is not None:
            return Explanation(True, borrowing, now, (), "fits now")
        if not borrowing:
            plan = plan_reclaim(self, request)
            if plan is not None and plan.victims:
                return Explanation(
                    False,
                    False,
                    now + self.grace_s,
                    plan.victims,
                    "within quota: reclaims capacity other teams borrowed",
                )
        start = self._predict_start(request, now, default_runtime_s)
        return Explanation(False, borrowing, start, (), "waits for running jobs to end")

    def _predict_start(self, request: Request, now: float, default_s: float) -> float | None:
        ends: list[tuple[float, Running]] = []
        for run in self.running.values():
            runtime = run.request.estimate_s or default_s
            end = run.stopping if run.stopping is not None else max(now, run.start + runtime)
            ends.append((end, run))
        ends.sort(key=lambda item: (item[0], item[1].request.id))
        free = {
            s.index: s.whole_free
            for s in self.cluster.nodes
            if s.accelerator == request.accelerator
        }
        for end, run in ends:
            for placement in run.allocation.placements:
                index = self.cluster.by_name[placement.node].index
                if index in free and placement.milli_each == 1000:
                    free[index] += len(placement.devices)
            if _fits_counts(self, request, free):
                return end
        return None


def _fits_counts(engine: QueueingEngine, request: Request, free: dict[int, int]) -> bool:
    """Return True if the request's gang shape fits nodes with these free device counts."""
    if request.fractional or request.partition is not None:
        return any(count >= 1 for count in free.values())
    count, size = int(request.count), engine.cluster.node_size[request.accelerator]
    if request.nodes:
        parts = [count // request.nodes] * request.nodes
    else:
        parts = [size] * (count // size) + ([count % size] if count % size else [])
    available = sorted(free.values(), reverse=True)
    return len(available) >= len(parts) and all(
        a >= p for a, p in zip(available, sorted(parts, reverse=True), strict=False)
    )
