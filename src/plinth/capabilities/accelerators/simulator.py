"""A deterministic discrete-event simulator that drives any policy with a job trace.

Events are job submissions, job ends and the ends of preemption grace periods; at equal
times ends come first, then grace expiries, then submissions, and the policy is asked to
schedule once after each instant. The true duration of a job is known only here: the
policy sees the ``Request`` (team, size, priority, submit time, a user estimate if any).

A preempted job keeps running during its grace period while it checkpoints: its progress
up to the preemption notice is kept; the GPU time of the grace is lost (unless the job
ends within the grace, then nothing is lost). Metrics are in ``simulator_metrics``.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from plinth.capabilities.accelerators.engine import Admit, Policy
from plinth.capabilities.accelerators.model import MILLI, Queue, Request, quota_key
from plinth.core.errors import InvalidInput, NotFound

__all__ = ["GraceWatch", "JobRecord", "Simulator", "TraceJob"]

_END, _STOP, _SUBMIT = 0, 1, 2


@dataclass(frozen=True)
class TraceJob:
    """A request and its true duration in seconds (known to the simulator only)."""

    request: Request
    duration_s: float


@dataclass
class JobRecord:
    """What happened to one job."""

    job: TraceJob
    remaining: float
    first_start: float | None = None
    finish: float | None = None
    run_start: float = 0.0
    notice: float | None = None
    token: int = 0
    preemptions: int = 0
    lost_gpu_s: float = 0.0
    rejected: str | None = None
    segments: list[tuple[float, float]] = field(default_factory=list)

    @property
    def gpus(self) -> float:
        """Return the devices the job holds while running."""
        return self.job.request.milli / MILLI


class GraceWatch:
    """Checks that no team within its nominal quota waits on borrowed capacity past the grace.

    For each (team, size) group of pending jobs, the oldest job is *entitled* while its
    team's usage plus its size fits the team's nominal quota and the capacity borrowed by
    other teams would cover what is missing from the free capacity. The longest such
    continuous wait (ended by the job's start or by the condition turning false) is kept.
    """

    def __init__(
        self, queues: Iterable[Queue], capacity: Mapping[str, int], *, grace_s: float
    ) -> None:
        self.nominal = {(q.team, r): round(v * MILLI) for q in queues for r, v in q.nominal.items()}
        self.capacity = dict(capacity)
        self.used: dict[tuple[str, str], int] = {}
        self.groups: dict[tuple[str, str, int], dict[str, None]] = {}
        self.since: dict[tuple[str, str, int], tuple[float, str]] = {}
        self.longest = 0.0
        self.violations = 0
        self.grace_s = grace_s

    def queued(self, request: Request) -> None:
        """Note a pending request."""
        self.groups.setdefault((request.team, quota_key(request), request.milli), {})[
            request.id
        ] = None

    def started(self, request: Request, now: float) -> None:
        """Note an admission."""
        key = (request.team, quota_key(request), request.milli)
        self.groups[key].pop(request.id, None)
        self.used[key[:2]] = self.used.get(key[:2], 0) + request.milli
        since = self.since.get(key)
        if since is not None and since[1] == request.id:
            self._close(key, now)

    def released(self, request: Request) -> None:
        """Note that a request gave back its capacity."""
        key = (request.team, quota_key(request))
        self.used[key] -= request.milli

    def _close(self, key: tuple[str, str, int], now: float) -> None:
        start, _ = self.since.pop(key)
        wait = now - start
        self.longest = max(self.longest, wait)
        if wait > self.grace_s + 1e-6:
            self.violations += 1

    def check(self, now: float) -> None:
        """Update entitled waits after the policy scheduled at ``now``."""
        borrowed: dict[str, int] = {}
        for (team, res), used in self.used.items():
            borrowed[res] = borrowed.get(res, 0) + max(0, used - self.nominal.get((team, res), 0))
        free = {
            r: c - sum(u for (_, rr), u in self.used.items() if rr == r)
            for r, c in self.capacity.items()
        }
        for key, members in self.groups.items():
            team, res, milli = key
            used = self.used.get((team, res), 0)
            nominal = self.nominal.get((team, res), 0)
            others = borrowed.get(res, 0) - max(0, used - nominal)
            entitled = (
                bool(members)
                and used + milli <= nominal
                and others > 0
                and (others >= milli - free.get(res, 0))
            )
            since = self.since.get(key)
            if entitled:
                oldest = next(iter(members))
                if since is None or since[1] != oldest:
                    self.since[key] = (now, oldest)
            elif since is not None:
                self._close(key, now)


class Simulator:
    """Replays jobs through a policy; ``run()`` returns one record per job."""

    def __init__(self, policy: Policy, jobs: Iterable[TraceJob], *, watch: GraceWatch) -> None:
        self.policy = policy
        self.records: dict[str, JobRecord] = {}
        self.events: list[tuple[float, int, int, str, int]] = []
        self.watch = watch
        self.decision_s: list[float] = []
        self._seq = 0
        for job in jobs:
            self.records[job.request.id] = JobRecord(job, job.duration_s)
            self._event(job.request.submit_s, _SUBMIT, job.request.id, 0)

    def _event(self, at: float, kind: int, job_id: str, token: int) -> None:
        self._seq += 1
        heapq.heappush(self.events, (at, kind, self._seq, job_id, token))

    def run(self) -> dict[str, JobRecord]:
        """Process every event; return the job records (unfinished jobs have no finish)."""
        events = self.events
        while events:
            now = events[0][0]
            while events and events[0][0] == now:
                _, kind, _, job_id, token = heapq.heappop(events)
                self._handle(kind, self.records[job_id], token, now)
            started = time.perf_counter()
            decisions = self.policy.schedule(now)
            self.decision_s.append(time.perf_counter() - started)
            for decision in decisions:
                if isinstance(decision, Admit):
                    self._start(self.records[decision.request.id], now)
                else:
                    self._notice(self.records[decision.request_id], now, decision.deadline)
            self.watch.check(now)
        return self.records

    def _handle(self, kind: int, record: JobRecord, token: int, now: float) -> None:
        request = record.job.request
        if kind == _SUBMIT:
            try:
                self.policy.submit(request, now)
            except (InvalidInput, NotFound) as error:
                record.rejected = error.detail
                return
            self.watch.queued(request)
            return
        if token != record.token:
            return  # a stale event from an earlier run of this job
        if kind == _END:
            record.finish = now
            record.segments.append((record.run_start, now))
            record.remaining = 0.0
            record.token += 1
            self.policy.finished(request.id, now)
            self.watch.released(request)
            return
        assert record.notice is not None
        done = record.notice - record.run_start
        record.segments.append((record.run_start, record.notice))
        record.remaining -= done
        record.lost_gpu_s += record.gpus * (now - record.notice)
        record.preemptions += 1
        record.notice = None
        record.token += 1
        self.policy.stopped(request.id, now)
        self.watch.released(request)
        self.watch.queued(request)

    def _start(self, record: JobRecord, now: float) -> None:
        if record.first_start is None:
            record.first_start = now
        record.run_start = now
        record.token += 1
        self._event(now + record.remaining, _END, record.job.request.id, record.token)
        self.watch.started(record.job.request, now)

    def _notice(self, record: JobRecord, now: float, deadline: float) -> None:
        if now + record.remaining <= deadline:
            return  # it ends within the grace; its end event frees the capacity
        record.notice = now
        self._event(deadline, _STOP, record.job.request.id, record.token)
