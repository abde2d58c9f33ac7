"""The allocation store on SQLite and PostgreSQL: admit, queue, preempt, release, roll back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from plinth.capabilities.accelerators import allocations
from plinth.capabilities.accelerators.model import Request
from plinth.capabilities.accelerators.pools import PoolSet, pool_set
from plinth.capabilities.accelerators.tables import AllocationRow, RequestRow
from plinth.core.errors import InvalidInput, NotFound
from plinth.infrastructure.store.db import Database

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def pool_doc(**spec: Any) -> dict[str, Any]:
    """Return an AcceleratorPool document: two nodes of 4 A100 each, two teams."""
    base: dict[str, Any] = {
        "nodes": [
            {"name": "gpu-a", "accelerators": {"type": "A100", "count": 4, "memory_gib": 80}},
            {"name": "gpu-b", "accelerators": {"type": "A100", "count": 4, "memory_gib": 80}},
        ],
        "queues": [
            {"team": "ml-research", "nominal": {"A100": 4}},
            {"team": "payments", "nominal": {"A100": 4}},
        ],
        "preemption": {"grace_seconds": 60},
    }
    base.update(spec)
    return {
        "apiVersion": "plinth.dev/v1",
        "kind": "AcceleratorPool",
        "metadata": {"name": "lab"},
        "spec": base,
    }


@pytest.fixture
def pools() -> PoolSet:
    """The pool set of ``pool_doc``."""
    return pool_set([pool_doc()])


def ask(rid: str, team: str, count: float, **kw: Any) -> Request:
    """Return a request for ``count`` A100."""
    return Request(id=rid, team=team, accelerator="A100", count=count, **kw)


def rows(db: Database) -> tuple[int, int]:
    """Return (request rows, allocation rows)."""
    with db.transaction() as s:
        return (
            s.scalar(select(func.count()).select_from(RequestRow)) or 0,
            s.scalar(select(func.count()).select_from(AllocationRow)) or 0,
        )


def test_admit_holds_devices_and_is_idempotent(database: Database, pools: PoolSet) -> None:
    with database.transaction() as s:
        out = allocations.request_allocation(s, ask("r1", "ml-research", 2), pools, now=NOW)
    assert out.status == "running" and out.allocation is not None
    (placement,) = out.allocation.placements
    assert len(placement.devices) == 2
    with database.transaction() as s:
        again = allocations.request_allocation(s, ask("r1", "ml-research", 2), pools, now=NOW)
    assert again.allocation == out.allocation
    assert rows(database) == (1, 2)


def test_queue_then_release_admits_the_waiting_one(database: Database, pools: PoolSet) -> None:
    with database.transaction() as s:
        big = allocations.request_allocation(s, ask("big", "ml-research", 8), pools, now=NOW)
        waiting = allocations.request_allocation(s, ask("w", "ml-research", 1), pools, now=NOW)
    assert big.status == "running"
    assert waiting.status == "pending" and waiting.position == 1 and waiting.allocation is None
    with database.transaction() as s:
        freed = allocations.release(s, "big", pools, now=NOW + timedelta(hours=1))
        assert freed.admitted == ("w",)
        assert allocations.held(s, "w") is not None
    assert rows(database) == (1, 1)


def test_gang_is_all_or_nothing(database: Database, pools: PoolSet) -> None:
    with database.transaction() as s:
        allocations.request_allocation(s, ask("one", "payments", 1), pools, now=NOW)
        gang = allocations.request_allocation(s, ask("gang", "ml-research", 8), pools, now=NOW)
    assert gang.status == "pending"
    assert rows(database) == (2, 1)  # the gang holds nothing while it waits


def test_fractions_share_one_device(database: Database, pools: PoolSet) -> None:
    with database.transaction() as s:
        a = allocations.request_allocation(
            s, ask("nb1", "payments", 0.5, kind="notebook"), pools, now=NOW
        )
        b = allocations.request_allocation(
            s, ask("nb2", "payments", 0.5, kind="notebook"), pools, now=NOW
        )
    assert a.allocation is not None and b.allocation is not None
    pa, pb = a.allocation.placements[0], b.allocation.placements[0]
    assert (pa.node, pa.devices, pa.milli_each) == (pb.node, pb.devices, 500)


def test_reclaiming_borrowed_capacity_preempts_then_requeues(
    database: Database, pools: PoolSet
) -> None:
    with database.transaction() as s:
        borrow = allocations.request_allocation(s, ask("borrow", "ml-research", 8), pools, now=NOW)
    assert borrow.status == "running"
    with database.transaction() as s:
        mine = allocations.request_allocation(s, ask("mine", "payments", 4), pools, now=NOW)
    assert mine.status == "pending"
    assert [(n.resource_id, n.by) for n in mine.preempt] == [("borrow", "mine")]
    assert mine.preempt[0].deadline == NOW + timedelta(seconds=60)
    later = NOW + timedelta(seconds=60)
    with database.transaction() as s:
        out = allocations.stopped(s, "borrow", pools, now=later)
        assert "mine" in out.admitted
        assert out.status == "pending"  # the victim is queued again, not lost
        row = s.get(RequestRow, "borrow")
        assert row is not None and row.attained_s == pytest.approx(8 * 60)


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (Request(id="x", team="payments", accelerator="H100", count=1), NotFound),
        (Request(id="x", team="payments", accelerator="A100", count=16), InvalidInput),
        (Request(id="x", team="payments", accelerator="A100", count=-1), InvalidInput),
        (Request(id="x", team="payments", accelerator="A100", count=1.5), InvalidInput),
        (Request(id="x", team="nobody", accelerator="A100", count=1), NotFound),
    ],
)
def test_impossible_requests_store_nothing(
    database: Database, pools: PoolSet, request_: Request, error: type[Exception]
) -> None:
    with pytest.raises(error), database.transaction() as s:
        allocations.request_allocation(s, request_, pools, now=NOW)
    assert rows(database) == (0, 0)


def test_an_error_after_allocating_rolls_everything_back(
    database: Database, pools: PoolSet
) -> None:
    with pytest.raises(RuntimeError), database.transaction() as s:
        out = allocations.request_allocation(s, ask("r1", "payments", 4), pools, now=NOW)
        assert out.status == "running"
        raise RuntimeError("the provider call failed")
    assert rows(database) == (0, 0)


def test_concurrent_requests_never_share_a_device(database: Database, pools: PoolSet) -> None:
    errors: list[BaseException] = []

    def take(i: int) -> None:
        try:
            with database.transaction() as s:
                allocations.request_allocation(s, ask(f"r{i}", "payments", 1), pools, now=NOW)
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with database.transaction() as s:
        parts = list(s.scalars(select(AllocationRow)))
        statuses = [r.status for r in s.scalars(select(RequestRow))]
    assert len({(p.node, p.device) for p in parts}) == len(parts) == 8
    assert statuses.count("pending") == 2
