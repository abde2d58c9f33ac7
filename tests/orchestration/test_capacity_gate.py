"""Capacity facts from the real store, judged by the capacity gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plinth.capabilities.accelerators import allocations
from plinth.capabilities.accelerators.model import Request
from plinth.capabilities.accelerators.pools import pool_set
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory import service as inventory
from plinth.core.clock import FrozenClock
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database
from plinth.orchestration.capacity import DEFAULT_ESTIMATE_S, capacity_facts
from plinth.orchestration.gates.base import GateContext, PlanView, VerdictKind
from plinth.orchestration.gates.capacity import CapacityGate

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ACTOR = Actor(id="u1", name="dana", kind="user", persona="ml-engineer")
POOL: dict[str, Any] = {
    "apiVersion": "plinth.dev/v1",
    "kind": "AcceleratorPool",
    "metadata": {"name": "lab"},
    "spec": {
        "nodes": [
            {"name": "gpu-a", "accelerators": {"type": "A100", "count": 4}},
            {"name": "gpu-b", "accelerators": {"type": "A100", "count": 4}},
        ],
        "queues": [
            {"team": "ml-research", "nominal": {"A100": 4}},
            {"team": "payments", "nominal": {"A100": 4}, "borrowing_limit": {"A100": 0}},
        ],
        "preemption": {"grace_seconds": 120},
    },
}


def change(name: str, **asked: Any) -> dict[str, Any]:
    """Return a plan change creating a job that asks for accelerators."""
    after = {"containers": {"main": {"image": "py:train"}}, "accelerators": asked}
    return {"kind": "Resource", "type": "job", "name": name, "action": "create", "after": after}


def judge(db: Database, changes: list[dict[str, Any]], team: str = "ml-research") -> Any:
    """Return (facts, verdict) for the changes."""
    with db.transaction() as s:
        facts = capacity_facts(s, changes, team=team, now=NOW)
    view = PlanView(
        "dev", "dev", False, "recommender", team, tuple(changes), extra={"capacity": facts}
    )
    return facts, CapacityGate().evaluate(view, ACTOR, GateContext())


@pytest.fixture
def db(database: Database) -> Database:
    """The store with the pool document saved as the planner's effects would."""
    with database.transaction() as s:
        inventory.put_document(
            s,
            kind="AcceleratorPool",
            name="lab",
            body=POOL,
            actor="pat",
            plan_digest="p",
            ids=SequentialIds(),
            clock=FrozenClock(NOW),
        )
    return database


def hold(db: Database, rid: str, team: str, count: int, estimate_s: float | None = None) -> None:
    """Make ``rid`` hold ``count`` A100 now."""
    with db.transaction() as s:
        out = allocations.request_allocation(
            s,
            Request(id=rid, team=team, accelerator="A100", count=count, estimate_s=estimate_s),
            pool_set([POOL]),
            now=NOW,
        )
    assert out.status == "running"


def test_no_accelerators_allowed(db: Database) -> None:
    plain = {
        "kind": "Resource",
        "type": "job",
        "name": "j",
        "action": "create",
        "after": {"containers": {}},
    }
    facts, verdict = judge(db, [plain])
    assert facts["requests"] == [] and verdict.verdict == VerdictKind.ALLOW


def test_fits_now(db: Database) -> None:
    facts, verdict = judge(db, [change("train", type="A100", count=2)])
    (fact,) = facts["requests"]
    assert fact["verdict"] == "now" and fact["can_run_now"] is True
    assert verdict.verdict == VerdictKind.ALLOW
    assert "can start now" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("asked", "words"),
    [
        ({"type": "H100", "count": 1}, "no pool has 'H100'"),
        ({"type": "A100", "count": 16}, "larger than the cluster"),
        ({"type": "A100", "count": -2}, "count must be > 0"),
        ({"type": "A100", "count": 1.5}, "must be a whole number"),
        ({"type": "A100", "count": 0.5, "kind": "training-job"}, "cannot ask for a fraction"),
    ],
)
def test_impossible_requests_are_denied_with_the_reason(
    db: Database, asked: dict[str, Any], words: str
) -> None:
    facts, verdict = judge(db, [change("bad", **asked)])
    assert facts["requests"][0]["verdict"] == "impossible"
    assert verdict.verdict == VerdictKind.DENY
    assert words in verdict.reasons[0]


def test_a_team_without_a_queue_is_denied(db: Database) -> None:
    _, verdict = judge(db, [change("x", type="A100", count=1)], team="platform")
    assert verdict.verdict == VerdictKind.DENY and "has no queue" in verdict.reasons[0]


def test_queued_request_warns_with_the_expected_start(db: Database) -> None:
    hold(db, "other", "payments", 4, estimate_s=7200)
    hold(db, "mine", "ml-research", 4)
    facts, verdict = judge(db, [change("next", type="A100", count=4)])
    (fact,) = facts["requests"]
    assert fact["verdict"] == "queued"
    # The earliest end is this team's own job, without an estimate: assumed 1 h.
    assert fact["expected_start"] == (NOW + timedelta(seconds=DEFAULT_ESTIMATE_S)).isoformat()
    assert fact["estimate_basis"] == "assumed"
    assert verdict.verdict == VerdictKind.WARN
    assert "expected to start at" in verdict.reasons[0]


def test_reclaiming_borrowed_work_warns_and_names_the_victim(db: Database) -> None:
    hold(db, "greedy", "ml-research", 8)  # borrows payments' 4
    facts, verdict = judge(db, [change("pay", type="A100", count=4)], team="payments")
    (fact,) = facts["requests"]
    assert [v["resource"] for v in fact["preempts"]] == ["greedy"]
    assert fact["preempts"][0]["borrowed"] is True
    assert fact["expected_start"] == (NOW + timedelta(seconds=120)).isoformat()
    assert verdict.verdict == VerdictKind.WARN
    assert any("preempts greedy of team ml-research" in r for r in verdict.reasons)


def test_facts_change_nothing_in_the_store(db: Database) -> None:
    judge(db, [change("a", type="A100", count=2), change("b", type="A100", count=8)])
    with db.transaction() as s:
        assert allocations.requests(s) == []
