"""Property-based tests of the scheduler's invariants under random operation sequences."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from plinth.capabilities.accelerators import (
    MILLI,
    Admit,
    DrfPolicy,
    FifoPolicy,
    KueueLikePolicy,
    Node,
    PlinthScheduler,
    Pool,
    Preempt,
    Queue,
    QueueingEngine,
    Request,
    StaticPartitionPolicy,
)
from plinth.core.errors import InvalidInput, NotFound

GPU = "A100"
POLICIES: list[type[QueueingEngine]] = [
    FifoPolicy,
    StaticPartitionPolicy,
    KueueLikePolicy,
    DrfPolicy,
    PlinthScheduler,
]
COUNTS = st.sampled_from([0.25, 0.5, 1, 1, 2, 3, 4, 8, 12, 16, -1, 0, 1.5, 40])
OPS = st.lists(
    st.tuples(
        st.sampled_from(["submit", "finish", "stop", "schedule"]),
        st.sampled_from(["a", "b", "c", "ghost"]),
        COUNTS,
        st.sampled_from(["training-job", "notebook"]),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=60,
)


def check_invariants(engine: QueueingEngine, submitted: set[str], done: set[str]) -> None:
    """Assert every invariant the scheduler promises."""
    used: dict[tuple[str, int], int] = {}
    for run in engine.running.values():
        placed = 0
        for p in run.allocation.placements:
            for device in p.devices:
                used[(p.node, device)] = used.get((p.node, device), 0) + p.milli_each
            placed += p.milli_each * len(p.devices)
        assert placed == run.request.milli  # a gang holds all of its devices, or nothing
    for state in engine.cluster.nodes:
        for device, free in enumerate(state.free):
            assert 0 <= free <= MILLI  # never over-allocate a device or a fraction
            assert free + used.get((state.name, device), 0) == MILLI
    for request_id in engine.waiting:
        assert request_id not in engine.cluster.allocations  # pending holds nothing
    for team, queue in engine.quota.queues.items():
        usage = sum(r.request.milli for r in engine.running.values() if r.request.team == team)
        assert usage == engine.quota.usage(team, GPU)
        if isinstance(engine, StaticPartitionPolicy):
            assert usage <= queue.nominal[GPU] * MILLI
        limit = queue.borrowing_limit.get(GPU)
        if limit is not None and not isinstance(engine, (FifoPolicy, DrfPolicy)):
            assert usage <= (queue.nominal[GPU] + limit) * MILLI
    # preempted work is requeued, never lost
    assert submitted == set(engine.waiting) | set(engine.running) | done


@settings(max_examples=60, deadline=None)
@given(policy=st.sampled_from(POLICIES), ops=OPS, nodes=st.integers(1, 3))
def test_invariants_hold_under_any_sequence(
    policy: type[QueueingEngine], ops: list[tuple[str, str, float, str, int]], nodes: int
) -> None:
    pool = Pool("p", tuple(Node(f"n{i}", GPU, 8) for i in range(nodes)))
    queues = [
        Queue("a", {GPU: 4}, borrowing_limit={GPU: 6}),
        Queue("b", {GPU: 8}),
        Queue("c", {GPU: 4}, lending_limit={GPU: 2}),
    ]
    engine = policy([pool], queues, grace_s=10)
    submitted: set[str] = set()
    done: set[str] = set()
    now = 0.0
    for step, (op, team, count, kind, priority) in enumerate(ops):
        now += 1
        if op == "submit":
            request = Request(
                f"r{step}",
                team,
                GPU,
                count,
                kind=kind,  # type: ignore[arg-type]
                priority=priority,
                submit_s=now,
            )
            before = (dict(engine.waiting), engine.cluster.free_total[GPU])
            try:
                engine.submit(request, now)
                submitted.add(request.id)
            except (InvalidInput, NotFound):
                assert (dict(engine.waiting), engine.cluster.free_total[GPU]) == before
        elif op in ("finish", "stop") and engine.running:
            victim = sorted(engine.running)[step % len(engine.running)]
            if op == "finish":
                engine.finished(victim, now)
                done.add(victim)
            else:
                engine.stopped(victim, now)
        else:
            for decision in engine.schedule(now):
                if isinstance(decision, Preempt):
                    assert decision.deadline == now + 10
                    assert engine.running[decision.request_id].stopping == decision.deadline
                else:
                    assert isinstance(decision, Admit)
                    assert decision.request.id in engine.running
        check_invariants(engine, submitted, done)
