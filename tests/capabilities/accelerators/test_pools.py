"""AcceleratorPool documents → pools, merged queues, prices; what the schema cannot check."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from plinth.capabilities.accelerators.pools import pool_document_issues, pool_set


def doc(name: str, **spec: Any) -> dict[str, Any]:
    """Return a pool document."""
    return {
        "apiVersion": "plinth.dev/v1",
        "kind": "AcceleratorPool",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_pools_merge_queues_and_keep_the_smallest_grace() -> None:
    a = doc(
        "a",
        nodes=[
            {
                "name": "n1",
                "accelerators": {
                    "type": "H100",
                    "count": 8,
                    "partitions": [{"profile": "1g.10gb", "count": 7}],
                },
            }
        ],
        queues=[{"team": "ml", "nominal": {"H100": 4}, "weight": 2}],
        cost_per_hour={"H100": "3.50", "price_book": True},
        priority_classes={"high": 100},
        preemption={"grace_seconds": 600},
    )
    b = doc(
        "b",
        nodes=[{"name": "n2", "accelerators": {"type": "H100", "count": 8}}],
        queues=[{"team": "ml", "nominal": {"H100": 4}, "borrowing_limit": {"H100": 2}}],
        preemption={"grace_seconds": 120},
    )
    pools = pool_set([b, a])
    assert [p.name for p in pools.pools] == ["a", "b"]
    assert pools.pools[0].nodes[0].partitions == (("1g.10gb", 7),)
    (queue,) = pools.queues
    assert (queue.nominal, queue.borrowing_limit, queue.weight) == (
        {"H100": 8.0},
        {"H100": 2.0},
        2.0,
    )
    assert pools.grace_s == 120 and pools.priority_classes == {"high": 100}
    assert pools.cost_per_hour == {"H100": Decimal("3.50")}
    assert pools.types() == {"H100"}


def test_document_issues() -> None:
    bad = doc(
        "x",
        nodes=[
            {"name": "n", "accelerators": {"type": "L4", "count": 1}},
            {"name": "n", "accelerators": {"type": "L4", "count": 1}},
        ],
        queues=[{"team": "t", "nominal": {}}, {"team": "t", "nominal": {}}],
        cost_per_hour={"L4": "cheap"},
    )
    paths = [p for p, _ in pool_document_issues(bad)]
    assert paths == ["$.spec.nodes[1].name", "$.spec.queues[1].team", "$.spec.cost_per_hour.L4"]
    assert pool_document_issues(doc("empty")) == [
        ("$.spec.nodes", "a declared pool needs at least one node")
    ]
