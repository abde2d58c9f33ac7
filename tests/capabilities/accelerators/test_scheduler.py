"""Plinth's scheduler and the baselines on small clusters: admission, quotas, preemption."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from plinth.capabilities.accelerators import (
    Admit,
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

GPU = "H100"


def pool(nodes: int = 2, size: int = 8) -> Pool:
    """Return a pool of ``nodes`` nodes with ``size`` H100 each."""
    return Pool("p", tuple(Node(f"n{i}", GPU, size, 80.0) for i in range(nodes)))


def queues(a: float = 8, b: float = 8, **limits: dict[str, float]) -> list[Queue]:
    """Return queues for teams a and b in one cohort."""
    return [
        Queue(
            "a",
            {GPU: a},
            borrowing_limit=limits.get("a_borrow", {}),
            lending_limit=limits.get("a_lend", {}),
        ),
        Queue(
            "b",
            {GPU: b},
            borrowing_limit=limits.get("b_borrow", {}),
            lending_limit=limits.get("b_lend", {}),
        ),
    ]


def req(rid: str, team: str, count: float, **kw: object) -> Request:
    """Return a request for H100s."""
    return Request(rid, team, GPU, count, **kw)  # type: ignore[arg-type]


def admitted(decisions: Sequence[object]) -> list[str]:
    """Return the ids admitted by a pass."""
    return [d.request.id for d in decisions if isinstance(d, Admit)]


def test_gang_is_all_or_nothing_and_packs_whole_nodes() -> None:
    s = PlinthScheduler([pool()], queues(16, 0))
    s.submit(req("small", "a", 1), 0)
    assert admitted(s.schedule(0)) == ["small"]
    s.submit(req("gang", "a", 16), 1)
    assert admitted(s.schedule(1)) == []
    assert "gang" in s.waiting and "gang" not in s.cluster.allocations
    s.submit(req("seven", "a", 7), 2)
    decisions = s.schedule(2)
    # best fit: the 7 go next to the 1, keeping the other node whole
    assert admitted(decisions) == ["seven"]
    assert (
        s.running["seven"].allocation.placements[0].node
        == s.running["small"].allocation.placements[0].node
    )
    s.finished("small", 3)
    s.finished("seven", 3)
    assert admitted(s.schedule(3)) == ["gang"]
    assert len(s.running["gang"].allocation.placements) == 2


def test_fractions_share_one_device_and_set_visible_devices() -> None:
    s = PlinthScheduler([pool(1, 2)], queues(2, 0))
    for i in range(3):
        s.submit(req(f"nb{i}", "a", 0.25, kind="notebook"), 0)
    s.submit(req("whole", "a", 1), 0)
    assert sorted(admitted(s.schedule(0))) == ["nb0", "nb1", "nb2", "whole"]
    devices = {s.running[f"nb{i}"].allocation.visible_devices("n0") for i in range(3)}
    assert len(devices) == 1  # the three notebooks share one device
    assert s.running["whole"].allocation.visible_devices("n0") not in devices
    assert s.cluster.free_total[GPU] == 250


@pytest.mark.parametrize(
    ("request_", "error", "words"),
    [
        (Request("x", "a", "TPU", 1), NotFound, "no pool has 'TPU'"),
        (Request("x", "a", GPU, 64), InvalidInput, "larger than the cluster"),
        (Request("x", "a", GPU, -1), InvalidInput, "must be > 0"),
        (Request("x", "a", GPU, 0.5), InvalidInput, "cannot ask for a fraction"),
        (Request("x", "a", GPU, 1.5, kind="notebook"), InvalidInput, "whole number"),
        (Request("x", "a", GPU, 6, nodes=4), InvalidInput, "do not split"),
        (Request("x", "a", GPU, 9, nodes=1), InvalidInput, "larger than the cluster"),
        (Request("x", "nobody", GPU, 1), NotFound, "no queue"),
    ],
)
def test_bad_requests_are_refused_and_leave_nothing(
    request_: Request, error: type[Exception], words: str
) -> None:
    s = PlinthScheduler([pool()], queues())
    with pytest.raises(error, match=words):
        s.submit(request_, 0)
    assert not s.waiting and not s.running and s.cluster.free_total[GPU] == 16_000
    assert s.schedule(0) == []


def test_borrowing_and_lending_limits() -> None:
    s = PlinthScheduler([pool()], queues(b_borrow={GPU: 4}))
    for i in range(16):
        s.submit(req(f"b{i}", "b", 1), i)
    assert len(admitted(s.schedule(20))) == 12
    s2 = PlinthScheduler([pool()], queues(a_lend={GPU: 2}))
    for i in range(16):
        s2.submit(req(f"b{i}", "b", 1), i)
    assert len(admitted(s2.schedule(20))) == 10
    assert s2.quota.borrowed("b", GPU) == 2000


@pytest.mark.parametrize("policy", [PlinthScheduler, KueueLikePolicy])
def test_reclaim_preempts_borrowed_work_with_grace_and_requeues_it(
    policy: type[QueueingEngine],
) -> None:
    s = policy([pool()], queues(), grace_s=120)
    for i in range(16):
        s.submit(req(f"b{i}", "b", 1, submit_s=i), i)
    assert len(admitted(s.schedule(20))) == 16
    s.submit(req("a8", "a", 8, submit_s=30), 30)
    decisions = s.schedule(30)
    preempts = [d for d in decisions if isinstance(d, Preempt)]
    assert len(preempts) == 8 and {p.deadline for p in preempts} == {150}
    victims = {p.request_id for p in preempts}
    assert len({s.running[v].allocation.placements[0].node for v in victims}) == 1
    assert s.schedule(60) == []  # victims still in their grace: nothing new, nothing twice
    for victim in sorted(victims):
        s.stopped(victim, 150)
    assert admitted(s.schedule(150)) == ["a8"]
    assert victims <= set(s.waiting)  # requeued, not lost
    assert s.quota.usage("b", GPU) == 8000


def test_static_partitions_never_lend_and_fifo_blocks() -> None:
    s = StaticPartitionPolicy([pool()], queues())
    for i in range(10):
        s.submit(req(f"b{i}", "b", 1, submit_s=i), i)
    assert len(admitted(s.schedule(10))) == 8
    with pytest.raises(InvalidInput, match="partition"):
        s.submit(req("big", "a", 9), 11)
    f = FifoPolicy([pool()], queues())
    f.submit(req("one", "a", 1, submit_s=0), 0)
    f.submit(req("gang", "a", 16, submit_s=1), 1)
    f.submit(req("two", "b", 1, submit_s=2), 2)
    assert admitted(f.schedule(2)) == ["one"]  # the gang blocks "two" behind it


def test_fair_share_and_priority_order() -> None:
    s = PlinthScheduler([pool(1, 4)], queues(2, 2), time_slicing=False)
    s.submit(req("a0", "a", 1, submit_s=0), 0)
    assert admitted(s.schedule(0)) == ["a0"]
    for i in range(3):
        s.submit(req(f"a{i + 1}", "a", 1, submit_s=1), 1)
        s.submit(req(f"b{i}", "b", 1, submit_s=2), 2)
    s.submit(req("urgent", "a", 1, submit_s=3, priority=5), 3)
    order = admitted(s.schedule(3))
    assert order[0] == "urgent" and order[1:] == ["b0", "b1"]


def test_time_slicing_lets_a_new_job_run_before_a_long_one_of_the_same_team() -> None:
    s = PlinthScheduler(
        [pool(1, 8)], queues(8, 0), time_slicing=True, levels_h=(1.0,), min_run_s=600
    )
    s.submit(req("long", "a", 8), 0)
    assert admitted(s.schedule(0)) == ["long"]
    s.submit(req("short", "a", 4, submit_s=3600), 3600)
    preempts = [d for d in s.schedule(4000) if isinstance(d, Preempt)]
    assert [p.request_id for p in preempts] == ["long"]
    s.stopped("long", preempts[0].deadline)
    assert admitted(s.schedule(preempts[0].deadline)) == ["short"]
    assert s.service(s.waiting["long"], 5000) == pytest.approx(8 * 4000)


def test_explain_says_now_later_or_what_it_preempts() -> None:
    s = PlinthScheduler([pool()], queues())
    assert s.explain(req("q", "a", 4), now=0).can_run_now
    for i in range(16):
        s.submit(req(f"b{i}", "b", 1, estimate_s=7200), 0)
    s.schedule(0)
    plan = s.explain(req("q", "a", 8), now=10)
    assert not plan.can_run_now and len(plan.preempts) == 8 and plan.expected_start_s == 310
    later = s.explain(req("q", "b", 4), now=10)
    assert later.reason.startswith("over quota")
    s2 = PlinthScheduler([pool(1, 8)], queues(8, 8))
    s2.submit(req("r", "a", 8, estimate_s=7200), 0)
    s2.schedule(0)
    wait = s2.explain(req("q", "a", 2), now=100)
    assert wait.expected_start_s is None or wait.expected_start_s == 7200
    assert not s.explain(req("q", "a", 0.5, kind="notebook"), now=0).preempts
    with pytest.raises(NotFound):
        s.explain(Request("q", "a", "TPU", 1), now=0)
    assert "q" not in s.waiting


def test_partitions_are_counted_per_profile() -> None:
    node = Node("m0", GPU, 1, 80.0, partitions=(("1g.10gb", 7),))
    s = PlinthScheduler([Pool("mig", (node,))], [Queue("a", {f"{GPU}:1g.10gb": 7})])
    s.submit(req("p1", "a", 4, partition="1g.10gb"), 0)
    s.submit(req("p2", "a", 4, partition="1g.10gb"), 0)
    assert admitted(s.schedule(0)) == ["p1"]
    with pytest.raises(InvalidInput, match="partitions"):
        s.submit(req("p3", "a", 8, partition="1g.10gb"), 0)
