"""Figures of a simulated run, and the physical bounds they must respect.

Definitions (``T`` is the arrival window: from the first to the last submission):

- *utilisation*: useful GPU-seconds run inside ``[0, T]`` / (cluster GPUs x ``T``).
  Work redone after a preemption and the grace periods are not useful.
- *load*: GPU-seconds of all jobs / (cluster GPUs x ``T``); ``min(1, load)`` bounds the
  utilisation. A tighter bound: work that could physically run inside the window,
  ``sum(gpus x min(duration, T - submit))``, over GPUs x ``T`` (capped at 1).
- *JCT*: finish - submit. *Queueing delay*: JCT - duration (all time not running).
- *Jain's index* over teams of the *delivered share* ``x_i`` = GPU-hours delivered to team
  ``i`` / GPU-hours it held or waited for, i.e. ``sum(gpus x duration) / sum(gpus x JCT)``
  over its jobs (1 when the team never waits; divided by the team's weight when weights
  differ): ``(sum x)^2 / (n * sum x^2)``, 1 when every team got the same share.
- *Makespan lower bound*: ``max(max(submit + duration), first submit + work / GPUs)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from plinth.capabilities.accelerators.simulator import JobRecord

__all__ = ["RunMetrics", "jain", "percentile", "summarise"]


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0..100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def jain(values: list[float]) -> float:
    """Return Jain's fairness index of the values (1 = all equal)."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else 1.0


@dataclass(frozen=True)
class RunMetrics:
    """Figures of one simulated run; times in hours."""

    policy: str
    gpus: int
    jobs: int
    finished: int
    rejected: int
    utilisation: float
    load: float
    bound_load: float
    bound_available: float
    mean_duration_h: float
    mean_jct_h: float
    median_jct_h: float
    p99_jct_h: float
    mean_wait_h: float
    p99_wait_h: float
    team_wait_h: dict[str, float]
    jain: float
    lost_gpu_h: float
    preemptions: int
    makespan_h: float
    makespan_lb_h: float


def _inside(segments: list[tuple[float, float]], end: float) -> float:
    return sum(max(0.0, min(b, end) - a) for a, b in segments if a < end)


def summarise(policy: str, gpus: int, records: Mapping[str, JobRecord]) -> RunMetrics:
    """Compute the run's figures from the simulator's job records."""
    jobs = list(records.values())
    first = min(r.job.request.submit_s for r in jobs)
    window = max(r.job.request.submit_s for r in jobs) - first
    done = [r for r in jobs if r.finish is not None]
    jct = [r.finish - r.job.request.submit_s for r in done if r.finish is not None]
    waits = [j - r.job.duration_s for j, r in zip(jct, done, strict=True)]
    work = sum(r.gpus * r.job.duration_s for r in jobs)
    delivered: dict[str, float] = {}
    available: dict[str, float] = {}
    team_waits: dict[str, list[float]] = {}
    for r in jobs:
        team, end = r.job.request.team, first + window
        available[team] = available.get(team, 0.0) + r.gpus * max(
            0.0, min(r.job.duration_s, end - r.job.request.submit_s)
        )
        delivered[team] = delivered.get(team, 0.0) + r.gpus * _inside(r.segments, end)
    asked: dict[str, float] = {}
    got: dict[str, float] = {}
    for j, w, r in zip(jct, waits, done, strict=True):
        team = r.job.request.team
        team_waits.setdefault(team, []).append(w)
        asked[team] = asked.get(team, 0.0) + r.gpus * j
        got[team] = got.get(team, 0.0) + r.gpus * r.job.duration_s
    capacity_s = gpus * window
    hours = 3600.0
    return RunMetrics(
        policy=policy,
        gpus=gpus,
        jobs=len(jobs),
        finished=len(done),
        rejected=sum(1 for r in jobs if r.rejected),
        utilisation=sum(delivered.values()) / capacity_s,
        load=work / capacity_s,
        bound_load=min(1.0, work / capacity_s),
        bound_available=min(1.0, sum(available.values()) / capacity_s),
        mean_duration_h=sum(r.job.duration_s for r in jobs) / len(jobs) / hours,
        mean_jct_h=sum(jct) / max(1, len(jct)) / hours,
        median_jct_h=percentile(jct, 50) / hours,
        p99_jct_h=percentile(jct, 99) / hours,
        mean_wait_h=sum(waits) / max(1, len(waits)) / hours,
        p99_wait_h=percentile(waits, 99) / hours,
        team_wait_h={t: sum(w) / len(w) / hours for t, w in sorted(team_waits.items())},
        jain=jain([got[t] / asked[t] for t in asked if asked[t] > 0]),
        lost_gpu_h=sum(r.lost_gpu_s for r in jobs) / hours,
        preemptions=sum(r.preemptions for r in jobs),
        makespan_h=(max((r.finish for r in done if r.finish), default=first) - first) / hours,
        makespan_lb_h=max(
            max(r.job.request.submit_s + r.job.duration_s for r in jobs) - first,
            work / gpus,
        )
        / hours,
    )
