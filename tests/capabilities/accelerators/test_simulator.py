"""The simulator on small traces and on the head of the real Philly trace."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from plinth.capabilities.accelerators import (
    FifoPolicy,
    GraceWatch,
    KueueLikePolicy,
    Node,
    PlinthScheduler,
    Pool,
    Queue,
    QueueingEngine,
    Request,
    Simulator,
    TraceJob,
    jain,
    percentile,
    summarise,
)
from plinth.capabilities.accelerators.policies import DrfPolicy, StaticPartitionPolicy

GPU = "V100"
REPO = Path(__file__).resolve().parents[3]
TRACE = REPO / "benchmarks" / "data" / "philly-gavel-seed0.csv"
POLICIES = [FifoPolicy, StaticPartitionPolicy, KueueLikePolicy, DrfPolicy, PlinthScheduler]


def bench() -> ModuleType:
    """Import benchmarks/scheduler.py as a module."""
    spec = importlib.util.spec_from_file_location(
        "bench_scheduler", REPO / "benchmarks" / "scheduler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scheduler"] = module
    spec.loader.exec_module(module)
    return module


def run(
    policy: type[QueueingEngine], jobs: list[TraceJob], queues: list[Queue], nodes: int = 2
) -> tuple[Simulator, GraceWatch]:
    """Simulate jobs on ``nodes`` 8-GPU nodes."""
    pool = Pool("p", tuple(Node(f"n{i}", GPU, 8) for i in range(nodes)))
    engine = policy([pool], queues, grace_s=60)
    watch = GraceWatch(queues, {GPU: nodes * 8000}, grace_s=60)
    sim = Simulator(engine, jobs, watch=watch)
    sim.run()
    return sim, watch


def job(rid: str, team: str, gpus: int, at: float, duration: float) -> TraceJob:
    """Return a trace job."""
    return TraceJob(Request(rid, team, GPU, gpus, submit_s=at), duration)


QUEUES = [Queue("a", {GPU: 8}), Queue("b", {GPU: 8})]


def test_backfill_beats_head_of_line_blocking() -> None:
    jobs = [job("long", "a", 8, 0, 1000), job("gang", "b", 16, 1, 100)]
    jobs += [job(f"s{i}", "b", 1, 2 + i, 50) for i in range(8)]
    fifo, _ = run(FifoPolicy, jobs, QUEUES)
    plinth, _ = run(PlinthScheduler, jobs, QUEUES)
    f, p = summarise("fifo", 16, fifo.records), summarise("plinth", 16, plinth.records)
    assert f.finished == p.finished == len(jobs)
    assert fifo.records["s0"].first_start == 1100.0  # after the long job and the gang
    assert plinth.records["s0"].first_start == 2.0
    assert p.mean_jct_h < f.mean_jct_h


def test_reclaim_within_grace_and_work_is_not_lost() -> None:
    jobs = [job(f"b{i}", "b", 1, 0, 5000) for i in range(16)]
    jobs.append(job("a8", "a", 8, 100, 10))
    sim, watch = run(KueueLikePolicy, jobs, QUEUES)
    assert sim.records["a8"].first_start == 160.0
    assert watch.violations == 0 and watch.longest == pytest.approx(60.0)
    preempted = [r for r in sim.records.values() if r.preemptions]
    assert len(preempted) == 8
    for record in sim.records.values():
        useful = sum(b - a for a, b in record.segments)
        assert useful == pytest.approx(record.job.duration_s)
    metrics = summarise("k", 16, sim.records)
    assert metrics.lost_gpu_h == pytest.approx(8 * 60 / 3600)
    assert metrics.preemptions == 8


def test_fifo_breaks_the_grace_promise_and_the_watch_sees_it() -> None:
    jobs = [job(f"b{i}", "b", 1, 0, 5000) for i in range(16)]
    jobs.append(job("a8", "a", 8, 100, 10))
    _, watch = run(FifoPolicy, jobs, QUEUES)
    assert watch.violations == 1 and watch.longest == pytest.approx(4900.0)


@pytest.mark.parametrize("policy", POLICIES)
def test_real_trace_head_respects_physical_bounds_and_is_deterministic(
    policy: type[QueueingEngine],
) -> None:
    module = bench()
    jobs = module.load_trace(TRACE, 300)
    first, extra = module.simulate(policy, jobs, 4, 300.0)
    second, _ = module.simulate(policy, jobs, 4, 300.0)
    assert first == second
    assert first.finished + first.rejected == 300
    assert first.utilisation <= first.bound_available + 1e-9 <= first.bound_load + 2e-9
    assert first.mean_jct_h >= first.mean_duration_h - 1e-9 or first.rejected
    assert first.makespan_h >= first.makespan_lb_h - 1e-9 or first.rejected
    assert 0 < first.jain <= 1 and extra["decision_p99_ms"] >= 0


def test_quotas_are_proportional_and_hold_the_largest_gang() -> None:
    module = bench()
    jobs = module.load_trace(TRACE, 2000)
    queues = module.make_queues(jobs, 384)
    assert sum(q.nominal[GPU] for q in queues) == 384
    largest: dict[str, float] = {}
    for j in jobs:
        largest[j.request.team] = max(largest.get(j.request.team, 0), j.request.count)
    assert all(q.nominal[GPU] >= largest[q.team] for q in queues)


def test_statistics_helpers() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert jain([1.0, 1.0]) == 1.0
    assert jain([1.0, 0.0]) == pytest.approx(0.5)
