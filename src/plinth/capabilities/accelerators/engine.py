"""The queueing machinery every policy shares: pending index, running set, admit, preempt.

A policy is a subclass that decides the *order* in which pending requests are tried,
whether quota applies, and when to preempt. Everything else (validation, placement,
quota accounting, requeueing preempted work) is here, once, so the platform and the
simulator drive the same code.

Pending requests are bucketed per team by shape (priority, type, size, gang, profile);
each bucket is a heap in submit order. A scheduling pass looks only at bucket heads, so
its cost grows with the number of distinct shapes, not with the number of pending jobs.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from plinth.capabilities.accelerators.model import (
    MILLI,
    Allocation,
    Pool,
    Queue,
    Request,
    quota_key,
)
from plinth.capabilities.accelerators.placement import Cluster
from plinth.capabilities.accelerators.quota import QuotaBook
from plinth.core.errors import Conflict, InvalidInput, NotFound

__all__ = ["Admit", "Decision", "Policy", "Preempt", "QueueingEngine", "Running", "Shape"]

Shape = tuple[int, str, int, int, str]


@dataclass(frozen=True)
class Admit:
    """The request starts now on this allocation."""

    request: Request
    allocation: Allocation


@dataclass(frozen=True)
class Preempt:
    """The running request must checkpoint and stop by ``deadline`` to make room for ``by``."""

    request_id: str
    by: str
    deadline: float


Decision = Admit | Preempt


class Policy(Protocol):
    """What the simulator and the platform drive: any scheduling policy."""

    name: str

    def submit(self, request: Request, now: float) -> None:
        """Queue a request; raise InvalidInput/NotFound (and keep nothing) if it is bad."""

    def finished(self, request_id: str, now: float) -> None:
        """A running request ended by itself: free its capacity."""

    def stopped(self, request_id: str, now: float) -> None:
        """A preempted request has stopped: free its capacity and queue it again."""

    def schedule(self, now: float) -> list[Decision]:
        """Admit what can run now and ask for preemptions; return the decisions."""


@dataclass
class Running:
    """A request holding an allocation."""

    request: Request
    allocation: Allocation
    start: float
    stopping: float | None = None
    nodes: tuple[int, ...] = field(default=())


def shape_of(request: Request) -> Shape:
    """Return the bucket key of a request: requests with equal shape are FIFO among themselves."""
    return (
        -request.priority,
        request.accelerator,
        request.milli,
        request.nodes or 0,
        request.partition or "",
    )


class QueueingEngine:
    """Shared state and mechanics of a policy; subclasses override ``schedule``."""

    name = "engine"

    def __init__(self, pools: Iterable[Pool], queues: Iterable[Queue], *, grace_s: float = 300.0):
        self.cluster = Cluster(pools)
        self.quota = QuotaBook(queues)
        self.grace_s = grace_s
        self.pending: dict[str, dict[Shape, list[tuple[float, int, Request]]]] = {}
        self.waiting: dict[str, Request] = {}
        self.running: dict[str, Running] = {}
        self.on_node: list[set[str]] = [set() for _ in self.cluster.nodes]
        self.reserved: dict[str, tuple[int, ...]] = {}  # request id -> nodes held for it
        self.awaiting: dict[str, tuple[str, ...]] = {}  # request id -> victims it waits for
        self.attained: dict[str, float] = {}  # request id -> device-seconds run before
        self._seq = 0

    # -- requests in and out ---------------------------------------------------------

    def validate(self, request: Request) -> None:
        """Raise a clear error if the request can never be admitted here."""
        if request.id in self.waiting or request.id in self.running:
            raise Conflict(f"request {request.id!r} is already queued or running")
        self.quota.queue(request.team)
        self.cluster.check(request)

    def submit(self, request: Request, now: float) -> None:
        """Queue a request after validating it."""
        self.validate(request)
        self._push(request)

    def _push(self, request: Request) -> None:
        self._seq += 1
        buckets = self.pending.setdefault(request.team, {})
        heapq.heappush(
            buckets.setdefault(shape_of(request), []), (request.submit_s, self._seq, request)
        )
        self.waiting[request.id] = request

    def cancel(self, request_id: str) -> Request:
        """Remove a pending request from its queue."""
        request = self.waiting.pop(request_id, None)
        if request is None:
            raise NotFound(f"request {request_id!r} is not pending")
        bucket = self.pending[request.team][shape_of(request)]
        bucket[:] = [e for e in bucket if e[2].id != request_id]
        heapq.heapify(bucket)
        if not bucket:
            del self.pending[request.team][shape_of(request)]
        self.reserved.pop(request_id, None)
        self.awaiting.pop(request_id, None)
        return request

    def finished(self, request_id: str, now: float) -> None:
        """Free the capacity of a request that ended."""
        self._release(request_id)
        self.attained.pop(request_id, None)

    def stopped(self, request_id: str, now: float) -> None:
        """Free the capacity of a preempted request and queue it again (work is not lost)."""
        run = self._release(request_id)
        notice = now if run.stopping is None else min(now, run.stopping - self.grace_s)
        gained = max(0.0, notice - run.start) * run.request.milli / MILLI
        self.attained[request_id] = self.attained.get(request_id, 0.0) + gained
        self._push(run.request)

    def _release(self, request_id: str) -> Running:
        run = self.running.pop(request_id, None)
        if run is None:
            raise NotFound(f"request {request_id!r} is not running")
        self.cluster.release(request_id)
        self.quota.take(run.request.team, quota_key(run.request), -run.request.milli)
        for index in run.nodes:
            self.on_node[index].discard(request_id)
        return run

    # -- helpers for policies ----------------------------------------------------------

    def service(self, request: Request, now: float) -> float:
        """Return the device-seconds the request has run so far (what the platform saw)."""
        done = self.attained.get(request.id, 0.0)
        run = self.running.get(request.id)
        if run is not None:
            done += max(0.0, now - run.start) * request.milli / MILLI
        return done

    def heads(self) -> Iterator[Request]:
        """Yield the first pending request of every (team, shape) bucket."""
        for buckets in self.pending.values():
            for bucket in buckets.values():
                yield bucket[0][2]

    def place(self, request: Request) -> Allocation | None:
        """Return an allocation for the request on free, unreserved capacity, or None."""
        avoid: set[int] = set()
        for owner, nodes in self.reserved.items():
            if owner != request.id:
                avoid.update(nodes)
        placements = self.cluster.find(request, avoid=avoid)
        if placements is None:
            return None
        borrowed = self.quota.usage(request.team, quota_key(request)) + request.milli > (
            self.quota.nominal(request.team, quota_key(request))
        )
        return Allocation(request.id, tuple(placements), borrowed)

    def admit(self, request: Request, allocation: Allocation, now: float) -> Admit:
        """Move a pending request to running on the allocation."""
        bucket = self.pending[request.team][shape_of(request)]
        if bucket[0][2].id != request.id:
            raise Conflict(f"request {request.id!r} is not at the head of its bucket")
        heapq.heappop(bucket)
        if not bucket:
            del self.pending[request.team][shape_of(request)]
        del self.waiting[request.id]
        self.reserved.pop(request.id, None)
        self.awaiting.pop(request.id, None)
        self.cluster.allocate(allocation)
        self.quota.take(request.team, quota_key(request), request.milli)
        nodes = tuple(self.cluster.by_name[p.node].index for p in allocation.placements)
        for index in nodes:
            self.on_node[index].add(request.id)
        self.running[request.id] = Running(request, allocation, now, nodes=nodes)
        return Admit(request, allocation)

    def greedy(
        self,
        now: float,
        key: Callable[[Request], tuple[float, ...]],
        *,
        admissible: Callable[[Request], bool],
        strict: bool = False,
    ) -> list[Decision]:
        """Admit heads in ``key`` order while any fits; ``strict`` stops at the first misfit."""
        out: list[Decision] = []
        while True:
            candidates = sorted(self.heads(), key=key)
            for request in candidates:
                allocation = self.place(request) if admissible(request) else None
                if allocation is not None:
                    out.append(self.admit(request, allocation, now))
                    break
                if strict:
                    return out
            else:
                return out

    def schedule(self, now: float) -> list[Decision]:
        """Admit in submit order, skipping what does not fit (policies override this)."""
        return self.greedy(
            now,
            lambda r: (r.submit_s,),
            admissible=lambda r: self.quota.admits(r.team, quota_key(r), r.milli),
        )

    def drop_stale_reservations(self) -> None:
        """Forget reservations whose victims have all stopped (the request had its chance)."""
        for owner in [o for o, v in self.awaiting.items() if not any(x in self.running for x in v)]:
            self.reserved.pop(owner, None)
            self.awaiting.pop(owner, None)

    def preempt(self, victim: str, by: str, now: float) -> Preempt:
        """Ask a running request to checkpoint and stop within the grace period."""
        run = self.running[victim]
        if run.stopping is not None:
            raise InvalidInput(f"request {victim!r} is already stopping")
        run.stopping = now + self.grace_s
        return Preempt(victim, by, run.stopping)
