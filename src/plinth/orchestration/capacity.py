"""Capacity facts for the capacity gate: can each accelerator request in a plan run, and when.

For every resource the plan creates or changes whose spec asks for accelerators,
the stored pools, allocations and queue are loaded into a scheduler (the same one
the platform allocates with), the plan's requests are submitted, and:

- the request is refused (``impossible``) when no pool has its type, the gang is
  larger than the cluster, the count is malformed, or the team has no queue;
- it runs ``now`` when the scheduler admits it at once (``preempts`` lists what it
  would reclaim, with whether that work was borrowed);
- otherwise it is ``queued``: running work is played forward with its run-time
  estimates (``DEFAULT_ESTIMATE_S`` where none is known, marked ``assumed``) until
  the scheduler admits it, which gives ``expected_start``.

Nothing is written: this is a what-if on an in-memory copy.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from plinth.capabilities.accelerators.allocations import decide, load_engine, requests
from plinth.capabilities.accelerators.engine import Admit, Preempt, QueueingEngine
from plinth.capabilities.accelerators.model import Request
from plinth.capabilities.accelerators.pools import PoolSet, pool_set
from plinth.capabilities.accelerators.requests import ACCELERATOR_KEY, request_from_spec
from plinth.capabilities.inventory import service as inventory
from plinth.core.errors import Conflict, InvalidInput, NotFound

__all__ = ["DEFAULT_ESTIMATE_S", "MAX_STEPS", "capacity_facts", "play_forward", "stored_pools"]

DEFAULT_ESTIMATE_S = 3600.0
MAX_STEPS = 5000
_CHANGING = ("create", "update", "replace")


def stored_pools(session: Session) -> PoolSet:
    """Return the scheduler's view of every stored ``AcceleratorPool`` document."""
    page = inventory.list_documents(session, kind="AcceleratorPool", limit=500)
    return pool_set(record.body for record in page.items)


def _asks(changes: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        c
        for c in changes
        if c.get("kind") == "Resource"
        and c.get("action") in _CHANGING
        and isinstance(c.get("after"), Mapping)
        and ACCELERATOR_KEY in c["after"]
    ]


def capacity_facts(
    session: Session,
    changes: Iterable[Mapping[str, Any]],
    *,
    team: str,
    now: datetime,
    pools: PoolSet | None = None,
) -> dict[str, Any]:
    """Return ``{"requests": [...], "pools": [...], "notes": [...]}`` for ``PlanView.extra``."""
    asks = _asks(changes)
    if not asks:
        return {"requests": [], "pools": [], "notes": []}
    pools = pools if pools is not None else stored_pools(session)
    engine, notes = load_engine(session, pools)
    borrowed = {r.resource_id: r.borrowed for r in requests(session)}
    facts: dict[str, dict[str, Any]] = {}
    mine: list[Request] = []
    for change in asks:
        name = str(change["name"])
        fact: dict[str, Any] = {"resource": name, **_shape(change["after"][ACCELERATOR_KEY])}
        facts[f"plan:{name}"] = fact
        try:
            request = _request(change, team, now, pools)
            engine.submit(request, now.timestamp())
        except (InvalidInput, NotFound, Conflict) as exc:
            fact.update(verdict="impossible", can_run_now=False, reason=exc.detail)
            continue
        mine.append(request)
    play_forward(engine, mine, facts, borrowed, now)
    return {
        "requests": list(facts.values()),
        "pools": [p.name for p in pools.pools],
        "notes": [*pools.notes, *notes],
    }


def _shape(asked: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("type", "count", "kind", "nodes", "partition", "priority")
    return {k: asked.get(k) for k in keys}


def _request(change: Mapping[str, Any], team: str, now: datetime, pools: PoolSet) -> Request:
    if not pools.pools:
        raise NotFound("no AcceleratorPool is declared: there are no accelerators to run on")
    request = request_from_spec(
        f"plan:{change['name']}",
        team,
        change["after"],
        submit_s=now.timestamp(),
        priority_classes=pools.priority_classes,
    )
    if request is None:  # pragma: no cover - _asks only keeps specs that ask
        raise InvalidInput("the resource asks for no accelerators")
    return request


def _estimate(request: Request) -> tuple[float, bool]:
    if request.estimate_s:
        return request.estimate_s, False
    return DEFAULT_ESTIMATE_S, True


def play_forward(
    engine: QueueingEngine,
    mine: list[Request],
    facts: dict[str, dict[str, Any]],
    borrowed: Mapping[str, bool],
    now: datetime,
) -> None:
    """Play the scheduler forward until every plan request started (or steps run out)."""
    start = now.timestamp()
    waiting = {r.id for r in mine}
    assumed = False
    events: list[tuple[float, int, str, str]] = []  # (time, seq, "end"|"stop", request id)
    seq = 0

    def push(when: float, what: str, rid: str) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (when, seq, what, rid))

    for rid, run in engine.running.items():
        if run.stopping is not None:
            push(run.stopping, "stop", rid)
        else:
            length, guess = _estimate(run.request)
            assumed |= guess
            push(max(start, run.start + length), "end", rid)
    clock, steps = start, 0
    while True:
        for decision in decide(engine, clock):
            if isinstance(decision, Admit):
                length, guess = _estimate(decision.request)
                push(clock + length, "end", decision.request.id)
                if decision.request.id in waiting:
                    waiting.discard(decision.request.id)
                    assumed |= guess and clock > start
                    _started(facts[decision.request.id], clock, start, assumed)
            elif isinstance(decision, Preempt):
                push(decision.deadline, "stop", decision.request_id)
                if decision.by in facts and clock == start:
                    facts[decision.by].setdefault("preempts", []).append(
                        _victim(engine, decision, borrowed)
                    )
        if not waiting or not events or steps >= MAX_STEPS:
            break
        clock, _, what, rid = heapq.heappop(events)
        steps += 1
        if rid not in engine.running:
            continue
        run = engine.running[rid]
        if what == "end" and run.stopping is None:
            engine.finished(rid, clock)
        elif what == "stop":
            engine.stopped(rid, clock)
    for rid in waiting:
        facts[rid].update(
            verdict="queued",
            can_run_now=False,
            expected_start=None,
            reason="no start time could be estimated: the queue ahead does not drain",
        )


def _victim(
    engine: QueueingEngine, decision: Preempt, borrowed: Mapping[str, bool]
) -> dict[str, Any]:
    run = engine.running[decision.request_id]
    return {
        "resource": decision.request_id,
        "team": run.request.team,
        "devices": run.request.count,
        "borrowed": borrowed.get(decision.request_id, run.allocation.borrowed),
        "stop_by": datetime.fromtimestamp(decision.deadline, tz=UTC).isoformat(),
    }


def _started(fact: dict[str, Any], clock: float, start: float, assumed: bool) -> None:
    fact.setdefault("preempts", [])
    if clock <= start:
        fact.update(
            verdict="now",
            can_run_now=True,
            expected_start=None,
            expected_wait_s=0.0,
            reason="fits now",
        )
        return
    when = datetime.fromtimestamp(start, tz=UTC) + timedelta(seconds=clock - start)
    fact.update(
        verdict="queued",
        can_run_now=False,
        expected_start=when.isoformat(),
        expected_wait_s=round(clock - start, 1),
        estimate_basis="assumed" if assumed else "estimates",
        reason="waits for running work to finish",
    )
