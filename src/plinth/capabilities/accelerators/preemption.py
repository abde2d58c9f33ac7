"""Choosing victims: reclaim capacity that other teams borrowed, node by node.

A request whose team is within its nominal quota may take back capacity that other
teams borrowed. Victims are chosen per node so that the freed devices are where the
request can actually be placed: for each part of the gang, the node that needs the
least preempted work (lowest priority, then most recently started, first). A team is
only a victim while it is still above its nominal quota, so reclaiming never pushes a
lender below its own guarantee by more than one job.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from plinth.capabilities.accelerators.engine import Preempt, QueueingEngine, Running
from plinth.capabilities.accelerators.model import MILLI, Request, quota_key

__all__ = ["Reclaim", "plan_reclaim", "plan_victims", "reclaim"]


@dataclass(frozen=True)
class Reclaim:
    """Victims to stop and the nodes their stop frees for the request."""

    victims: tuple[str, ...]
    nodes: tuple[int, ...]


def _parts(engine: QueueingEngine, request: Request) -> list[int]:
    count, size = int(request.count), engine.cluster.node_size[request.accelerator]
    if request.nodes:
        return [count // request.nodes] * request.nodes
    return [size] * (count // size) + ([count % size] if count % size else [])


def _devices_on(run: Running, node: str) -> int:
    return sum(
        len(p.devices)
        for p in run.allocation.placements
        if p.node == node and p.milli_each == MILLI
    )


def plan_reclaim(engine: QueueingEngine, request: Request) -> Reclaim | None:
    """Return the cheapest set of borrowed allocations whose stop lets the request run."""
    if request.fractional or request.partition is not None:
        return None
    resource = quota_key(request)
    budget = {
        t: engine.quota.borrowed(t, resource) for t in engine.quota.queues if t != request.team
    }
    if sum(budget.values()) <= 0:
        return None
    lenders = {t for t, b in budget.items() if b > 0}
    nodes = {i for run in engine.running.values() if run.request.team in lenders for i in run.nodes}
    return plan_victims(
        engine,
        request,
        budget=budget,
        eligible=lambda r: r.request.team != request.team,
        order=lambda r: (r.request.priority, -r.start, r.request.id),
        nodes=nodes,
    )


def plan_victims(
    engine: QueueingEngine,
    request: Request,
    *,
    budget: dict[str, int],
    eligible: Callable[[Running], bool],
    order: Callable[[Running], tuple[Any, ...]],
    nodes: Collection[int] | None = None,
) -> Reclaim | None:
    """Return victims (within each team's ``budget``, milli) whose stop lets the request run.

    ``nodes`` limits the search to those node indices (fully free nodes are added).
    """
    if request.fractional or request.partition is not None:
        return None
    cluster = engine.cluster
    if nodes is None:
        states = cluster.nodes
    else:
        wanted = set(nodes).union(cluster.whole_nodes(request.accelerator))
        states = [cluster.nodes[i] for i in sorted(wanted)]
    held = {i for owner, nodes in engine.reserved.items() if owner != request.id for i in nodes}
    victims: list[str] = []
    chosen: list[int] = []

    def allowed(run: Running) -> bool:
        return (
            run.stopping is None
            and run.request.priority <= request.priority
            and budget.get(run.request.team, 0) > 0
            and eligible(run)
        )

    for need in _parts(engine, request):
        best: tuple[int, int, list[str]] | None = None
        for state in states:
            if state.accelerator != request.accelerator or state.size < need:
                continue
            if state.index in held or state.index in chosen:
                continue
            picked = _victims_on(engine, state.index, need, budget, victims, allowed, order)
            if picked is not None:
                cost = sum(engine.running[v].request.milli for v in picked)
                if best is None or (cost, state.index) < best[:2]:
                    best = (cost, state.index, picked)
                    if cost == 0:
                        break
        if best is None:
            return None
        chosen.append(best[1])
        for victim in best[2]:
            run = engine.running[victim]
            budget[run.request.team] -= run.request.milli
            victims.append(victim)
    return Reclaim(tuple(victims), tuple(chosen))


def _victims_on(
    engine: QueueingEngine,
    index: int,
    need: int,
    budget: dict[str, int],
    already: list[str],
    allowed: Callable[[Running], bool],
    order: Callable[[Running], tuple[Any, ...]],
) -> list[str] | None:
    """Return victims on one node that free ``need`` devices there, or None."""
    state = engine.cluster.nodes[index]
    free = state.whole_free
    for victim in already:
        free += _devices_on(engine.running[victim], state.name)
    if free >= need:
        return []
    runs = [engine.running[r] for r in engine.on_node[index] if r not in already]
    runs = sorted((r for r in runs if allowed(r)), key=order)
    spent: dict[str, int] = {}
    picked: list[str] = []
    for run in runs:
        team = run.request.team
        if budget[team] - spent.get(team, 0) <= 0:
            continue
        picked.append(run.request.id)
        spent[team] = spent.get(team, 0) + run.request.milli
        free += _devices_on(run, state.name)
        if free >= need:
            return picked
    return None


def reclaim(
    engine: QueueingEngine,
    request: Request,
    now: float,
    planner: Callable[[QueueingEngine, Request], Reclaim | None] = plan_reclaim,
) -> list[Preempt]:
    """Preempt work the planner picks for a blocked request, unless it awaits victims."""
    waiting_for = engine.awaiting.get(request.id, ())
    if any(v in engine.running for v in waiting_for):
        return []
    engine.reserved.pop(request.id, None)
    engine.awaiting.pop(request.id, None)
    plan = planner(engine, request)
    if plan is None or not plan.victims:
        return []
    engine.reserved[request.id] = plan.nodes
    engine.awaiting[request.id] = plan.victims
    return [engine.preempt(victim, request.id, now) for victim in plan.victims]
