"""Scheduler: replay the Philly trace through five policies on one simulator.

Question: does Plinth's scheduler close the utilisation gap and cut job completion time
against global FIFO, static per-team partitions, a Kueue-like quota+borrowing policy and
DRF, without giving up fairness between teams? And how long does one scheduling
decision take at 10,000 GPUs and 10,000 pending jobs?

The trace is ``benchmarks/data/philly-gavel-seed0.csv`` (15,264 jobs, 15 teams, 125
days; derived from the Microsoft Philly trace via the Gavel repository, MIT / CC BY 4.0).
The cluster is ``--nodes`` nodes of 8 V100 (default 48, load about 0.7),
with a sweep over ``--sweep`` node counts. Each team gets a queue whose nominal quota is
proportional to its share of the trace's GPU-hours, raised to the team's largest gang
where the cluster is large enough; all teams are in one cohort, weight 1, no limits.
Jobs of up to 8 GPUs run on one node; larger ones are gangs over whole nodes.

Goals: utilisation within 5% of the physical bound; Plinth mean JCT at most 0.5x FIFO
and below Kueue-like; Jain's index at least that of static partitions; no in-quota team
waits on borrowed capacity longer than the grace.

Run: ``.venv/bin/python benchmarks/scheduler.py [--nodes 48] [--sweep 32,40,48,56,64]
[--grace 300] [--jobs N] [--quick]``. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from plinth.capabilities.accelerators import (
    DrfPolicy,
    FifoPolicy,
    GraceWatch,
    KueueLikePolicy,
    Node,
    PlinthScheduler,
    Pool,
    Queue,
    QueueingEngine,
    Request,
    RunMetrics,
    Simulator,
    StaticPartitionPolicy,
    TraceJob,
    percentile,
    summarise,
)

__all__ = ["decision_time", "load_trace", "main", "make_queues", "simulate"]

REPO = Path(__file__).resolve().parent.parent
TRACE = REPO / "benchmarks" / "data" / "philly-gavel-seed0.csv"
GPU = "V100"
NODE_SIZE = 8
POLICIES: tuple[type[QueueingEngine], ...] = (
    FifoPolicy,
    StaticPartitionPolicy,
    KueueLikePolicy,
    DrfPolicy,
    PlinthScheduler,
)


def load_trace(path: Path, limit: int | None = None) -> list[TraceJob]:
    """Read the trace into requests (no estimates) and true durations."""
    jobs: list[TraceJob] = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            request = Request(
                id=row["job_id"],
                team=row["team"],
                accelerator=GPU,
                count=int(row["gpus"]),
                submit_s=float(row["submit_s"]),
            )
            jobs.append(TraceJob(request, float(row["duration_s"])))
            if limit is not None and len(jobs) >= limit:
                break
    return jobs


def make_queues(jobs: list[TraceJob], gpus: int) -> list[Queue]:
    """Quotas proportional to GPU-hours demanded, each at least the team's largest gang."""
    demand: dict[str, float] = {}
    largest: dict[str, int] = {}
    for job in jobs:
        team, count = job.request.team, int(job.request.count)
        demand[team] = demand.get(team, 0.0) + count * job.duration_s
        largest[team] = max(largest.get(team, 0), count)
    floors = largest if sum(largest.values()) <= gpus else dict.fromkeys(demand, 1)
    total = sum(demand.values())
    low, high = 0.0, float(gpus)
    for _ in range(100):  # water-fill: quota_i = max(floor_i, scale * share_i)
        scale = (low + high) / 2
        if sum(max(floors[t], scale * demand[t] / total) for t in demand) > gpus:
            high = scale
        else:
            low = scale
    raw = {t: max(floors[t], low * demand[t] / total) for t in demand}
    quota = {t: int(v) for t, v in raw.items()}
    for team in sorted(raw, key=lambda t: (quota[t] - raw[t], t))[: gpus - sum(quota.values())]:
        quota[team] += 1
    return [Queue(team=t, nominal={GPU: quota[t]}) for t in sorted(quota)]


def simulate(
    policy_type: type[QueueingEngine], jobs: list[TraceJob], nodes: int, grace_s: float
) -> tuple[RunMetrics, dict[str, Any]]:
    """Run one policy on one cluster size; return its metrics and extra figures."""
    gpus = nodes * NODE_SIZE
    pool = Pool("v100", tuple(Node(f"n{i:04d}", GPU, NODE_SIZE, 32.0) for i in range(nodes)))
    queues = make_queues(jobs, gpus)
    policy = policy_type([pool], queues, grace_s=grace_s)
    watch = GraceWatch(queues, {GPU: gpus * 1000}, grace_s=grace_s)
    sim = Simulator(policy, jobs, watch=watch)
    records = sim.run()
    extra = {
        "grace_violations": watch.violations,
        "longest_entitled_wait_s": round(watch.longest, 1),
        "decision_p99_ms": round(percentile(sim.decision_s, 99) * 1000, 3),
    }
    return summarise(policy.name, gpus, records), extra


def decision_time(*, gpus: int = 10_000, pending: int = 10_000, seed: int = 7) -> dict[str, Any]:
    """Time Plinth's scheduling passes with ``pending`` queued jobs on ``gpus`` devices."""
    rng = random.Random(seed)
    nodes = gpus // NODE_SIZE
    pool = Pool("big", tuple(Node(f"b{i:05d}", GPU, NODE_SIZE) for i in range(nodes)))
    teams = [f"team{i:02d}" for i in range(20)]
    queues = [Queue(team=t, nominal={GPU: gpus // len(teams)}) for t in teams]
    policy = PlinthScheduler([pool], queues)
    sizes = (1, 1, 1, 1, 2, 4, 8, 8, 16, 32)
    serial = 0
    for _ in range(nodes * 2):  # fill the cluster with running jobs first
        serial += 1
        policy.submit(Request(f"r{serial}", rng.choice(teams), GPU, 4), 0.0)
    policy.schedule(0.0)
    for _ in range(pending):
        serial += 1
        policy.submit(
            Request(f"p{serial}", rng.choice(teams), GPU, rng.choice(sizes), submit_s=1.0), 1.0
        )
    timings: list[float] = []
    running = sorted(policy.running)
    for step in range(200):  # each step: one job ends, one scheduling pass
        victim = running[(step * 7919) % len(running)]
        if victim in policy.running and policy.running[victim].stopping is None:
            policy.finished(victim, 2.0 + step)
        started = time.perf_counter()
        decisions = policy.schedule(2.0 + step)
        timings.append(time.perf_counter() - started)
        running = sorted(policy.running)
        del decisions
    return {
        "gpus": gpus,
        "pending": len(policy.waiting),
        "passes": len(timings),
        "p50_ms": round(percentile(timings, 50) * 1000, 3),
        "p99_ms": round(percentile(timings, 99) * 1000, 3),
    }


def goals(results: dict[str, tuple[RunMetrics, dict[str, Any]]]) -> dict[str, bool]:
    """Check the issue's goals on one cluster size."""
    plinth, extra = results["plinth"]
    return {
        "utilisation_within_5pct_of_bound": plinth.utilisation >= 0.95 * plinth.bound_available,
        "jct_at_most_half_fifo": plinth.mean_jct_h <= 0.5 * results["fifo"][0].mean_jct_h,
        "jct_below_kueue_like": plinth.mean_jct_h < results["kueue-like"][0].mean_jct_h,
        "jain_at_least_static": plinth.jain >= results["static"][0].jain,
        "no_grace_violation": extra["grace_violations"] == 0,
    }


def row(nodes: int, m: RunMetrics, extra: dict[str, Any]) -> str:
    """Return one table row."""
    return (
        f"| {nodes} | {m.policy} | {m.utilisation:.3f} | {m.bound_available:.3f} / "
        f"{m.bound_load:.3f} | {m.mean_jct_h:.1f} | {m.median_jct_h:.1f} | "
        f"{m.p99_jct_h:.0f} | {m.mean_wait_h:.1f} | {m.p99_wait_h:.0f} | {m.jain:.3f} | "
        f"{m.lost_gpu_h:.0f} | {m.preemptions} | {extra['grace_violations']} | "
        f"{m.rejected} | {m.makespan_h / 24:.1f} / {m.makespan_lb_h / 24:.1f} |"
    )


HEADER = (
    "| nodes | policy | util | bound (avail / load) | JCT mean h | median h | p99 h | "
    "wait mean h | p99 h | Jain | lost GPU-h | preempt | grace viol | rejected | "
    "makespan / LB d |\n|" + "---|" * 15
)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trace", type=Path, default=TRACE)
    parser.add_argument("--nodes", type=int, default=48)
    parser.add_argument("--sweep", default="32,40,48,56,64")
    parser.add_argument("--grace", type=float, default=300.0)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--pending", type=int, default=10_000)
    args = parser.parse_args(argv)
    jobs = load_trace(args.trace, args.jobs)
    sizes = sorted({args.nodes, *(int(s) for s in args.sweep.split(",") if s)})
    results: dict[int, dict[str, tuple[RunMetrics, dict[str, Any]]]] = {}
    started = time.perf_counter()
    for nodes in sizes:
        results[nodes] = {}
        for policy_type in POLICIES:
            t0 = time.perf_counter()
            metrics, extra = simulate(policy_type, jobs, nodes, args.grace)
            extra["sim_s"] = round(time.perf_counter() - t0, 1)
            results[nodes][metrics.policy] = (metrics, extra)
            print(f"# {nodes} nodes, {metrics.policy}: {extra['sim_s']} s", flush=True)
    print(HEADER)
    for nodes in sizes:
        for metrics, extra in results[nodes].values():
            print(row(nodes, metrics, extra))
    main_run = results[args.nodes]
    print("\nPer-team mean queueing delay (h) at", args.nodes, "nodes:")
    for name, (metrics, _) in main_run.items():
        print(f"  {name:<11}", " ".join(f"{t}:{w:.0f}" for t, w in metrics.team_wait_h.items()))
    timing = decision_time(pending=args.pending)
    print(
        f"decision time at {timing['gpus']} GPUs, {timing['pending']} pending: "
        f"p50 {timing['p50_ms']} ms, p99 {timing['p99_ms']} ms"
    )
    checks = goals(main_run)
    sweep = {str(n): goals(r) for n, r in results.items()}
    figures = {
        "nodes": args.nodes,
        "gpus": args.nodes * NODE_SIZE,
        "policies": {
            name: {k: v for k, v in {**asdict(m), **e}.items() if k != "team_wait_h"}
            for name, (m, e) in main_run.items()
        },
        "sweep": {
            str(n): {
                name: {
                    "util": round(m.utilisation, 4),
                    "mean_jct_h": round(m.mean_jct_h, 1),
                    "jain": round(m.jain, 3),
                }
                for name, (m, _) in r.items()
            }
            for n, r in results.items()
        },
        "goals": checks,
        "sweep_goals": sweep,
        "decision_time": timing,
        "run_s": round(time.perf_counter() - started, 1),
        "goal_met": all(checks.values()),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
